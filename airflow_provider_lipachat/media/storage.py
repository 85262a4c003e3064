"""Media links from object storage: a path such as ``s3://aws_default@bucket/report.pdf`` signed at execute.

WhatsApp fetches media from a public https URL, so a file a DAG wrote to S3 or GCS is sent as a
temporary signed link. The link is a credential: it is registered with Airflow's secret masker
and never shown; what users see (logs, errors, rendered fields) is the path. Operators and the
notifier import this module inside ``execute``/``notify``; it imports Airflow's object storage
only when a path needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_lipachat.compat import mask_secret, object_storage_path_class
from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.gateway.messages import infer_media_type
from airflow_provider_lipachat.gateway.redaction import mask_url
from airflow_provider_lipachat.limits import DEFAULT_MEDIA_URL_EXPIRY, capped_expiry
from airflow_provider_lipachat.media.preflight import MIME_TYPE_BY_EXTENSION, Log

#: The optional dependency that registers each scheme's filesystem.
EXTRA_BY_SCHEME = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}
#: The signing argument that makes the link answer with a given Content-Type, by scheme.
CONTENT_TYPE_ARGUMENT = {"s3": "ResponseContentType", "s3a": "ResponseContentType", "gs": "response_type",
                         "gcs": "response_type"}  # fmt: skip
SIGNATURE_PARAMETERS = frozenset({"x-amz-signature", "signature", "x-goog-signature"})
LOCAL_SCHEMES = frozenset({"", "file", "local"})
WEB_SCHEMES = frozenset({"http", "https"})
LOCAL_FILE_PROBLEM = (
    "is a local file, which WhatsApp's servers cannot fetch; write it to object storage instead "
    "(e.g. ObjectStoragePath('s3://aws_default@bucket/reports/file.pdf').write_bytes(...)) and pass "
    "that path, or pass a public https:// URL"
)


@dataclass(frozen=True)
class MediaLink:
    """A media link ready to send: ``url`` (signed when from storage: never show it), and what the path said."""

    url: str
    media_type: str | None
    filename: str | None
    shown: str
    expiry: int | None = None


def is_storage_path(value: object) -> bool:
    """True for an object-storage path (or a local one): anything but an http(s) URL."""
    if isinstance(value, str):
        text = value.strip()
        scheme = urlsplit(text).scheme.lower()
        return scheme not in WEB_SCHEMES and (scheme != "" or text.startswith(("/", "~", "./", "../")))
    return hasattr(value, "sign") and hasattr(value, "protocol")


def media_link(
    value: Any,
    field: str,
    media_type: str | None,
    filename: str | None,
    expiry: int = DEFAULT_MEDIA_URL_EXPIRY,
    *,
    log: Log,
) -> MediaLink:
    """``value`` as a sendable link: an https URL as it is, a storage path signed for ``expiry`` seconds.

    :param log: the task's or notifier's logger; it gets a warning when ``expiry`` is over the
        longest a store can sign for, and the link is signed for that instead.
    """
    path = _object_storage_path(value, field) if is_storage_path(value) else None
    if path is None:  # a URL (or an unknown scheme), judged as one by the message's own checks
        return MediaLink(value, media_type, filename, mask_url(value) if isinstance(value, str) else repr(value))
    shown = str(value).strip() if isinstance(value, str) else str(path)
    name = path.name
    media_type = media_type or infer_media_type("/" + name)
    if media_type == "DOCUMENT" and not filename:
        filename = name
    try:
        path.stat()
    except FileNotFoundError:
        raise LipaChatValidationError(field, shown, _not_found(path)) from None
    except PermissionError as err:
        raise LipaChatValidationError(
            field, shown, f"cannot be read with its connection's credentials ({err}); check them, or the path"
        ) from None
    expiry, warning = capped_expiry(expiry)
    if warning is not None:
        log.warning("%s", warning)
    url = _sign(path, field, shown, expiry)
    return MediaLink(url, media_type, filename, shown, expiry)


def _not_found(path: Any) -> str:
    """Why a path's object was not found: its bucket is missing (named), or the object in it is."""
    bucket, _, key = str(path.path).partition("/")  # the store's own path, "bucket/key", on every Airflow
    if bucket and key:
        try:
            bucket_found = bool(path.fs.exists(bucket))
        except OSError:  # allowed to read objects, not to ask about the bucket: say what is known
            bucket_found = True
        if not bucket_found:
            return (
                f"names bucket {bucket!r}, which does not exist or cannot be reached with this connection; "
                "check the bucket's name and the connection's endpoint_url and region"
            )
        return f"names an object that does not exist in the store: bucket {bucket!r} has no {key!r}"
    return "names an object that does not exist in the store"


def _object_storage_path(value: Any, field: str) -> Any:
    """The store's path for ``value``; None for text whose scheme no installed filesystem or extra knows."""
    scheme = (urlsplit(value.strip()).scheme if isinstance(value, str) else str(value.protocol)).lower()
    if scheme in LOCAL_SCHEMES:
        raise LipaChatValidationError(field, str(value), LOCAL_FILE_PROBLEM)
    extra = EXTRA_BY_SCHEME.get(scheme)
    install = (
        f"install airflow-provider-lipachat[{extra}]"
        if extra
        else "install the Airflow provider that registers that scheme"
    )
    try:
        path = object_storage_path_class()(value.strip()) if isinstance(value, str) else value
        path.fs  # noqa: B018 - resolving the filesystem is what fails when its provider is missing
    except (ImportError, ValueError) as err:
        if extra is None and isinstance(value, str):
            return None
        raise LipaChatValidationError(
            field, str(value), f"needs a {scheme}:// filesystem that is not available ({err}); {install}"
        ) from None
    return path


def _sign(path: Any, field: str, shown: str, expiry: int) -> str:
    scheme = str(path.protocol).lower()
    mime = MIME_TYPE_BY_EXTENSION.get(path.suffix.lstrip(".").lower())
    options: dict[str, str] = {"version": "v4"} if scheme in ("gs", "gcs") else {}  # GCS signs V2 by default
    if mime and scheme in CONTENT_TYPE_ARGUMENT:
        options[CONTENT_TYPE_ARGUMENT[scheme]] = mime
    try:
        url = str(path.sign(expiration=expiry, **options))
    except NotImplementedError:
        raise LipaChatValidationError(
            field,
            shown,
            f"is on a store that cannot sign links ({scheme}://); put the file on S3 or GCS, "
            "or pass a public https:// URL",
        ) from None
    mask_secret(url)
    parts = urlsplit(url)
    if parts.scheme.lower() != "https":
        raise LipaChatValidationError(
            field, shown, f"was signed as a {parts.scheme}:// link, and WhatsApp fetches only https:// links"
        )
    if not SIGNATURE_PARAMETERS & {key.lower() for key in parse_qs(parts.query)}:
        raise LipaChatValidationError(
            field,
            shown,
            "was given an unsigned link (an anonymous filesystem?), which the store will refuse to WhatsApp; "
            "give the store's connection credentials that can sign",
        )
    return url
