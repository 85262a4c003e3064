"""Signing object-storage paths into media links, at the seam where no local server can sign.

GCS signing needs a service-account key (the GCS emulator cannot sign), so a GCS filesystem is
stood in for here by one that records what it was asked; S3 is proven end to end against moto
in tests/operators/test_object_storage.py.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from fsspec import AbstractFileSystem

from airflow_provider_lipachat.compat import AIRFLOW_V3, object_storage_path_class
from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.limits import MAX_MEDIA_URL_EXPIRY, capped_expiry, parse_expiry
from airflow_provider_lipachat.media.storage import is_storage_path, media_link
from tests.s3_server import clear_object_store_cache

LOG = logging.getLogger(__name__)


class RecordingGCS(AbstractFileSystem):  # type: ignore[misc]
    """Stands in for gcsfs: knows one object and signs as gcsfs does (kwargs go to blob.generate_signed_url)."""

    protocol = ("gs", "gcs")
    signed: ClassVar[list[tuple[str, int, dict[str, Any]]]] = []

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        if path.rstrip("/").endswith("missing.pdf"):
            raise FileNotFoundError(path)
        return {"name": path, "size": 1234, "type": "file"}

    def sign(self, path: str, expiration: int = 100, **kwargs: Any) -> str:
        self.signed.append((path, expiration, kwargs))
        return f"https://storage.googleapis.com/{path}?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Signature=abc123"


@pytest.fixture
def gcs() -> Iterator[type[RecordingGCS]]:
    if AIRFLOW_V3:
        from airflow.sdk.io import attach
    else:
        from airflow.io.store import attach
    clear_object_store_cache()
    RecordingGCS.signed = []
    attach("gs", fs=RecordingGCS())
    yield RecordingGCS
    clear_object_store_cache()


def test_a_gcs_path_is_signed_v4_for_the_expiry_with_the_documents_content_type(gcs: type[RecordingGCS]) -> None:
    link = media_link("gs://reports/2024-03-05/summary.pdf", "media_url", None, None, expiry=3600, log=LOG)

    assert link.url.endswith("X-Goog-Signature=abc123")
    assert (link.media_type, link.filename, link.shown) == (
        "DOCUMENT",
        "summary.pdf",
        "gs://reports/2024-03-05/summary.pdf",
    )
    [(path, expiration, options)] = gcs.signed
    assert path.endswith("reports/2024-03-05/summary.pdf") and expiration == 3600
    assert options == {"version": "v4", "response_type": "application/pdf"}


def test_an_object_storage_path_object_is_signed_like_its_text(gcs: type[RecordingGCS]) -> None:
    path = object_storage_path_class()("gs://reports/chart.png")
    link = media_link(path, "header_media_url", None, None, log=LOG)
    assert link.media_type == "IMAGE" and link.filename is None
    assert gcs.signed[0][2]["response_type"] == "image/png"
    assert gcs.signed[0][1] == 24 * 60 * 60


def test_a_missing_gcs_object_is_named_and_nothing_is_signed(gcs: type[RecordingGCS]) -> None:
    with pytest.raises(LipaChatValidationError, match="names an object that does not exist") as caught:
        media_link("gs://reports/missing.pdf", "media_url", None, None, log=LOG)
    assert caught.value.field == "media_url"
    assert "bucket 'reports' has no 'missing.pdf'" in str(caught.value)
    assert gcs.signed == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://files.example.com/a.pdf", False),
        ("HTTP://files.example.com/a.pdf", False),
        ("s3://aws_default@bucket/a.pdf", True),
        ("gs://bucket/a.pdf", True),
        ("/tmp/report.pdf", True),
        ("file:///tmp/report.pdf", True),
        ("report.pdf", False),  # neither a URL nor a path: the URL check refuses it, naming https
    ],
)
def test_what_counts_as_a_storage_path(value: str, expected: bool) -> None:
    assert is_storage_path(value) is expected


def test_an_https_url_passes_through_untouched_and_unsigned() -> None:
    link = media_link("https://files.example.com/a.pdf?token=x", "media_url", "DOCUMENT", "a.pdf", log=LOG)
    assert (link.url, link.media_type, link.filename, link.expiry) == (
        "https://files.example.com/a.pdf?token=x",
        "DOCUMENT",
        "a.pdf",
        None,
    )


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(3600, 3600), ("7200", 7200), (datetime.timedelta(hours=2), 7200), (datetime.timedelta(days=30), 2592000)],
)
def test_an_expiry_is_seconds_or_a_timedelta(value: object, seconds: int) -> None:
    assert parse_expiry(value) == seconds


def test_an_expiry_over_seven_days_is_capped_with_a_warning_and_seven_days_is_not() -> None:
    assert MAX_MEDIA_URL_EXPIRY == 7 * 24 * 60 * 60
    assert capped_expiry(MAX_MEDIA_URL_EXPIRY) == (MAX_MEDIA_URL_EXPIRY, None)
    assert capped_expiry(MAX_MEDIA_URL_EXPIRY + 1)[0] == MAX_MEDIA_URL_EXPIRY
    assert capped_expiry(2592000) == (
        604800,
        "media_url_expiry is 2592000 s (30 days), over the 7-day limit of signed links (S3 SigV4, GCS V4); "
        "the link is signed for 604800 s, so it expires sooner than asked",
    )


def test_a_gcs_link_asked_for_thirty_days_is_signed_for_seven_with_a_warning(
    gcs: type[RecordingGCS], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=__name__):
        link = media_link("gs://reports/chart.png", "media_url", None, None, expiry=2592000, log=LOG)
    assert link.expiry == gcs.signed[0][1] == MAX_MEDIA_URL_EXPIRY
    assert [r.getMessage() for r in caplog.records] == [capped_expiry(2592000)[1]]


@pytest.mark.parametrize("value", [0, -5, "a day", None, True])
def test_an_expiry_that_is_not_a_positive_duration_is_refused_naming_the_field(value: object) -> None:
    with pytest.raises(LipaChatValidationError) as caught:
        parse_expiry(value)
    assert caught.value.field == "media_url_expiry"


def test_a_scheme_no_store_knows_is_left_to_the_url_check_which_asks_for_https() -> None:
    link = media_link("ftp://x.example/a.png", "media_url", None, None, log=LOG)
    assert (link.url, link.expiry) == ("ftp://x.example/a.png", None)
