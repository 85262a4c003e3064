"""The media preflight against a real HTTPS host on loopback: what it asks, reads and concludes."""

from __future__ import annotations

import socket

import pytest

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.media import preflight
from airflow_provider_lipachat.media.preflight import (
    MAX_REDIRECTS,
    PREFLIGHT_BYTES,
    MediaHead,
    inspect_media,
    preflight_media,
    problem_with,
)
from tests.media_host import JPEG, MP4, PDF, PNG, WEBP, MediaHost

MB = 1024 * 1024


@pytest.mark.parametrize(
    ("media_type", "body", "content_type"),
    [
        ("IMAGE", PNG, "image/png"),
        ("IMAGE", JPEG, "image/jpeg; charset=binary"),
        ("VIDEO", MP4, "video/mp4"),
        ("DOCUMENT", PDF, "application/pdf"),
        ("DOCUMENT", b"plain text report", "text/plain; charset=utf-8"),
        ("STICKER", WEBP, "image/webp"),
        ("AUDIO", b"OggS" + b"\x00" * 100, "audio/ogg"),
    ],
)
def test_a_link_that_answers_as_whatsapp_needs_passes(
    media_type: str, body: bytes, content_type: str, media_host: MediaHost
) -> None:
    url = media_host.put("/media/file", body, content_type)
    assert preflight_media(url, media_type, "media_url") is None


def test_it_asks_for_the_first_bytes_only_even_of_a_large_file(media_host: MediaHost) -> None:
    url = media_host.put("/big.pdf", PDF + b"x" * (20 * MB), "application/pdf")
    verdict = inspect_media(url, "DOCUMENT")
    assert verdict.problem is None and verdict.unreachable is None
    assert verdict.head is not None and len(verdict.head.first_bytes) == PREFLIGHT_BYTES
    assert verdict.head.total_size == len(PDF) + 20 * MB
    assert media_host.requests == [("GET", "/big.pdf", f"bytes=0-{PREFLIGHT_BYTES - 1}")]


def test_a_server_that_ignores_range_is_read_no_further_than_the_first_bytes(media_host: MediaHost) -> None:
    url = media_host.put("/video.mp4", MP4 + b"\x00" * (20 * MB), "video/mp4", honours_range=False)
    verdict = inspect_media(url, "VIDEO")
    assert verdict.head is not None and len(verdict.head.first_bytes) == PREFLIGHT_BYTES
    assert verdict.problem == (
        "is 20 MB, over the 16 MB limit; WhatsApp accepts VIDEO as video/mp4, video/3gpp, up to 16 MB"
    )


@pytest.mark.parametrize(
    ("media_type", "hosted", "says"),
    [
        ("IMAGE", None, "answered HTTP 404"),
        ("IMAGE", (PNG, "image/png", 403), "answered HTTP 403"),
        ("IMAGE", (PNG, "image/png", 410), "answered HTTP 410"),
        ("IMAGE", (WEBP, "image/webp", 200), "answered Content-Type image/webp (the file looks like WebP)"),
        ("IMAGE", (PNG, None, 200), "answered no Content-Type"),
        ("IMAGE", (PNG, "binary/octet-stream", 200), "answered Content-Type binary/octet-stream"),
        ("IMAGE", (PNG + b"\x00" * (6 * MB), "image/png", 200), "is 6 MB, over the 5 MB limit"),
        ("IMAGE", (b"<!DOCTYPE html><html>sign in</html>", "image/png", 200), "first bytes are those of HTML, not PNG"),
        ("DOCUMENT", (b"\x00\x01garbage", "application/pdf", 200), "first bytes are 00 01 67 61 72 62 61 67, not PDF"),
        ("STICKER", (WEBP + b"\x00" * (200 * 1024), "image/webp", 200), "over the 100 KB limit"),
    ],
)
def test_a_definite_problem_names_the_field_what_the_link_answered_and_what_whatsapp_accepts(
    media_type: str, hosted: tuple[bytes, str | None, int] | None, says: str, media_host: MediaHost
) -> None:
    url = media_host.base_url + "/reports/file?X-Amz-Signature=secret-signature"
    if hosted is not None:
        body, content_type, status = hosted
        media_host.put("/reports/file", body, content_type, status=status)

    with pytest.raises(LipaChatValidationError) as caught:
        preflight_media(url, media_type, "header_media_url")

    assert caught.value.field == "header_media_url"
    assert says in caught.value.problem
    assert f"WhatsApp accepts {media_type}" in caught.value.problem or "HTTP" in caught.value.problem
    assert "secret-signature" not in str(caught.value)
    assert caught.value.value == media_host.base_url + "/reports/file?***"


def test_an_animated_sticker_may_be_larger_than_a_static_one() -> None:
    animated = b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x00" * 4 + b"\x02" + b"\x00" * 100
    head = MediaHead(200, "image/webp", 300 * 1024, animated)
    assert problem_with("STICKER", head) is None
    assert problem_with("STICKER", MediaHead(200, "image/webp", 300 * 1024, WEBP)) is not None


def test_redirects_are_followed_but_bounded(media_host: MediaHost) -> None:
    media_host.put("/final.png", PNG, "image/png")
    media_host.put("/short-link", b"", None, status=302, location="/final.png")
    media_host.put("/loop", b"", None, status=307, location="/loop")

    assert preflight_media(media_host.base_url + "/short-link", "IMAGE", "media_url") is None
    with pytest.raises(LipaChatValidationError, match=f"redirects more than {MAX_REDIRECTS} times"):
        preflight_media(media_host.base_url + "/loop", "IMAGE", "media_url")
    assert len(media_host.requests_for("/loop")) == MAX_REDIRECTS + 1


def test_an_unreachable_link_is_a_warning_not_a_failure() -> None:
    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    warning = preflight_media(f"https://127.0.0.1:{port}/a.png?token=secret", "IMAGE", "media_url")
    assert warning is not None
    assert warning.startswith(f"media_url https://127.0.0.1:{port}/a.png?*** could not be reached (ConnectionError)")
    assert "secret" not in warning


def test_a_server_error_is_a_warning_too(media_host: MediaHost) -> None:
    url = media_host.put("/busy.png", PNG, "image/png", status=503)
    warning = preflight_media(url, "IMAGE", "media_url")
    assert warning is not None and "answered HTTP 503, a temporary failure" in warning


def test_a_link_whose_certificate_the_worker_does_not_trust_is_a_warning(
    media_host: MediaHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = media_host.put("/a.png", PNG, "image/png")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")  # the worker's usual CAs do not know the test certificate
    warning = preflight_media(url, "IMAGE", "media_url")
    assert warning is not None and "could not be reached (SSLError)" in warning


def test_a_link_that_never_answers_is_a_warning_after_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "TIMEOUT", (0.5, 0.5))
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        warning = preflight_media(f"https://127.0.0.1:{silent.getsockname()[1]}/a.png", "IMAGE", "media_url")
    assert warning is not None and "could not be reached (ReadTimeout)" in warning
