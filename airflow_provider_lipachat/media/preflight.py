"""Media preflight: WhatsApp's media rules, and one small ranged GET that checks a link against them.

WhatsApp fetches a message's media after the gateway has accepted the send, so a bad link
shows up only later as error 131053. Asking the link first (status, declared type, size and
first bytes) catches the definite problems before anything is sent. No Airflow here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin

import requests

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.gateway.redaction import mask_url
from airflow_provider_lipachat.limits import parse_flag

#: Bytes the preflight asks for and reads at most: enough for every signature below.
PREFLIGHT_BYTES = 4096
MAX_REDIRECTS = 5
#: (connect, read) seconds.
TIMEOUT = (5.0, 10.0)
#: Answers that say the server is struggling, not that the link is wrong.
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
KB = 1024
MB = 1024 * KB

OOXML = "application/vnd.openxmlformats-officedocument"


class Log(Protocol):
    """The part of a logger the preflight uses (stdlib and Airflow's structured loggers both have it)."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...

    def warning(self, msg: Any, /, *args: Any) -> Any: ...


@dataclass(frozen=True)
class MediaRule:
    """What WhatsApp accepts for one media type: the declared MIME types and the largest file."""

    mime_types: tuple[str, ...]
    max_bytes: int

    def describe(self, media_type: str) -> str:
        return f"WhatsApp accepts {media_type} as {', '.join(self.mime_types)}, up to {_size(self.max_bytes)}"


MEDIA_RULES: dict[str, MediaRule] = {
    "IMAGE": MediaRule(("image/jpeg", "image/png"), 5 * MB),
    "VIDEO": MediaRule(("video/mp4", "video/3gpp"), 16 * MB),
    "AUDIO": MediaRule(("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"), 16 * MB),
    "DOCUMENT": MediaRule(
        (
            "text/plain",
            "application/pdf",
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            f"{OOXML}.wordprocessingml.document",
            f"{OOXML}.spreadsheetml.sheet",
            f"{OOXML}.presentationml.presentation",
        ),
        100 * MB,
    ),
    "STICKER": MediaRule(("image/webp",), 500 * KB),
}
STATIC_STICKER_MAX_BYTES = 100 * KB
#: The MIME type a store should declare for a file, by extension (each one WhatsApp accepts).
MIME_TYPE_BY_EXTENSION: dict[str, str] = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "mp4": "video/mp4",
    "3gp": "video/3gpp",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "amr": "audio/amr",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "pdf": "application/pdf",
    "txt": "text/plain",
    "csv": "text/plain",  # WhatsApp has no text/csv; its document rule takes text/plain
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
    "docx": f"{OOXML}.wordprocessingml.document",
    "xlsx": f"{OOXML}.spreadsheetml.sheet",
    "pptx": f"{OOXML}.presentationml.presentation",
    "webp": "image/webp",
}


def _is_webp(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def _is_mpeg_audio(head: bytes) -> bool:
    return head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xF0 == 0xF0)


@dataclass(frozen=True)
class FileFormat:
    """A file format recognised by its first bytes, and the MIME types that declare it."""

    name: str
    mime_types: tuple[str, ...]
    matches: Callable[[bytes], bool]


FILE_FORMATS: tuple[FileFormat, ...] = (
    FileFormat("JPEG", ("image/jpeg",), lambda h: h[:3] == b"\xff\xd8\xff"),
    FileFormat("PNG", ("image/png",), lambda h: h[:8] == b"\x89PNG\r\n\x1a\n"),
    FileFormat("WebP", ("image/webp",), _is_webp),
    FileFormat("GIF", ("image/gif",), lambda h: h[:6] in (b"GIF87a", b"GIF89a")),
    FileFormat("MP4/3GPP", ("video/mp4", "video/3gpp", "audio/mp4"), lambda h: h[4:8] == b"ftyp"),
    FileFormat("Ogg", ("audio/ogg",), lambda h: h[:4] == b"OggS"),
    FileFormat("AMR", ("audio/amr",), lambda h: h[:5] == b"#!AMR"),
    FileFormat("MPEG audio", ("audio/mpeg", "audio/aac"), _is_mpeg_audio),
    FileFormat("PDF", ("application/pdf",), lambda h: h[:4] == b"%PDF"),
    FileFormat(
        "OOXML (zip)",
        tuple(m for m in MEDIA_RULES["DOCUMENT"].mime_types if m.startswith(OOXML)),
        lambda h: h[:4] == b"PK\x03\x04",
    ),
    FileFormat(
        "old Office",
        ("application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint"),
        lambda h: h[:4] == b"\xd0\xcf\x11\xe0",
    ),
    FileFormat("HTML", ("text/html",), lambda h: h.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html"))),
)


def sniff(head: bytes) -> str | None:
    """The name of the format ``head`` starts like, or None when none of the known ones."""
    return next((f.name for f in FILE_FORMATS if f.matches(head)), None)


@dataclass(frozen=True)
class MediaHead:
    """What a media link answered: status, declared type, total size when known, and its first bytes."""

    status: int
    content_type: str | None
    total_size: int | None
    first_bytes: bytes
    redirects: int = 0


class MediaUnreachableError(Exception):
    """The link could not be asked at all (DNS, connection, timeout, TLS) or its server is struggling."""


def fetch_head(
    url: str,
    *,
    read_at_most: int = PREFLIGHT_BYTES,
    ranged: bool = True,
    session: requests.Session | None = None,
) -> MediaHead:
    """GET ``url`` (``Range: bytes=0-N`` when ``ranged``), following at most MAX_REDIRECTS redirects.

    Reads at most ``read_at_most`` bytes of the body and closes the connection; never HEAD,
    which presigned GET URLs refuse.
    """
    http = session or requests.Session()
    headers = {"Accept-Encoding": "identity"}
    if ranged:
        headers["Range"] = f"bytes=0-{read_at_most - 1}"
    try:
        for redirects in range(MAX_REDIRECTS + 1):
            with http.get(url, headers=headers, stream=True, timeout=TIMEOUT, allow_redirects=False) as response:
                if response.is_redirect and "Location" in response.headers:
                    url = urljoin(url, response.headers["Location"])
                    continue
                body = _read_up_to(response, read_at_most) if response.status_code < 300 else b""
                return MediaHead(response.status_code, _mime(response.headers), _total_size(response), body, redirects)
        return MediaHead(response.status_code, None, None, b"", MAX_REDIRECTS + 1)
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
        raise MediaUnreachableError(type(err).__name__) from None
    finally:
        if session is None:
            http.close()


def _read_up_to(response: requests.Response, limit: int) -> bytes:
    body = bytearray()
    for chunk in response.iter_content(chunk_size=min(limit, 64 * KB)):
        body += chunk
        if len(body) >= limit:
            break
    return bytes(body[:limit])


def _mime(headers: requests.structures.CaseInsensitiveDict[str]) -> str | None:
    value = headers.get("Content-Type")
    return value.split(";", 1)[0].strip().lower() or None if value else None


_CONTENT_RANGE_TOTAL = re.compile(r"/\s*(\d+)\s*$")


def _total_size(response: requests.Response) -> int | None:
    """The file's full size: Content-Range's total on a 206, Content-Length on a 200."""
    if response.status_code == 206:
        match = _CONTENT_RANGE_TOTAL.search(response.headers.get("Content-Range", ""))
        return int(match.group(1)) if match else None
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isdigit() else None


def problem_with(media_type: str, head: MediaHead) -> str | None:
    """Why WhatsApp would refuse this answer as ``media_type``, or None when nothing definite is wrong."""
    rule = MEDIA_RULES[media_type]
    accepted = rule.describe(media_type)
    if 300 <= head.status < 400:
        return f"redirects more than {MAX_REDIRECTS} times; WhatsApp needs a link that answers with the file itself"
    if head.status >= 400:
        return f"answered HTTP {head.status}; WhatsApp needs a link that answers with the file (HTTP 200)"
    if head.content_type not in rule.mime_types:
        found = sniff(head.first_bytes)
        declared = f"Content-Type {head.content_type}" if head.content_type else "no Content-Type"
        return f"answered {declared}{f' (the file looks like {found})' if found else ''}; {accepted}"
    limit = rule.max_bytes
    if media_type == "STICKER" and _is_static_webp(head.first_bytes):
        limit = STATIC_STICKER_MAX_BYTES
    if head.total_size is not None and head.total_size > limit:
        return f"is {_size(head.total_size)}, over the {_size(limit)} limit; {accepted}"
    formats = [f for f in FILE_FORMATS if head.content_type in f.mime_types]
    if formats and not any(f.matches(head.first_bytes) for f in formats):
        found = sniff(head.first_bytes)
        seen = f"those of {found}" if found else f"{head.first_bytes[:8].hex(' ') or 'empty'}"
        expected = " or ".join(f.name for f in formats)
        return f"declares {head.content_type} but its first bytes are {seen}, not {expected}; {accepted}"
    return None


def _is_static_webp(head: bytes) -> bool:
    """A WebP without the VP8X animation flag; animated stickers may be larger."""
    return _is_webp(head) and not (head[12:16] == b"VP8X" and len(head) > 20 and head[20] & 0x02)


@dataclass(frozen=True)
class MediaVerdict:
    """The preflight's conclusion: a definite ``problem``, an ``unreachable`` link, or neither."""

    problem: str | None = None
    unreachable: str | None = None
    head: MediaHead | None = None


def inspect_media(
    url: str, media_type: str, *, read_at_most: int = PREFLIGHT_BYTES, ranged: bool = True
) -> MediaVerdict:
    """Fetch the start of ``url`` and judge it against WhatsApp's rules for ``media_type``."""
    try:
        head = fetch_head(url, read_at_most=read_at_most, ranged=ranged)
    except MediaUnreachableError as err:
        return MediaVerdict(unreachable=f"could not be reached ({err})")
    if head.status in TRANSIENT_STATUS:
        return MediaVerdict(unreachable=f"answered HTTP {head.status}, a temporary failure", head=head)
    return MediaVerdict(problem=problem_with(media_type, head), head=head)


def preflight_media(url: str, media_type: str, field: str) -> str | None:
    """Raise ``LipaChatValidationError`` naming ``field`` if WhatsApp would refuse the link.

    Returns a warning to log when the link could not be checked (a worker behind a firewall
    may not reach what WhatsApp can), else None. The URL's query string never appears.
    """
    verdict = inspect_media(url, media_type)
    if verdict.problem is not None:
        raise LipaChatValidationError(field, mask_url(url), verdict.problem)
    if verdict.unreachable is not None:
        return f"{field} {mask_url(url)} {verdict.unreachable}; sending anyway, WhatsApp may still reach it"
    return None


def preflight_if_enabled(enabled: object, url: str, media_type: str, field: str, log: Log) -> None:
    """The preflight as operators and notifiers run it: once, unless ``enabled`` is false; warnings logged."""
    if not parse_flag(enabled, "preflight"):
        return
    warning = preflight_media(url, media_type, field)
    if warning is not None:
        log.warning("Preflight: %s", warning)
    else:
        log.info("Preflight: %s %s answers as WhatsApp needs for %s", field, mask_url(url), media_type)


def _size(size: int) -> str:
    for unit, factor in (("MB", MB), ("KB", KB)):
        if size >= factor:
            return f"{size / factor:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"
