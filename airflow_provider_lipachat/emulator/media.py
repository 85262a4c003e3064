"""The emulator's stand-in for WhatsApp's media fetch: after a send is accepted, fetch its media link.

Only loopback links are fetched (the emulator never reaches out); the file is judged by the
preflight's rules (one home for WhatsApp's media rules), and a link that fails or holds what
the media type does not allow fails the message with WhatsApp's error 131053.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_lipachat.gateway.net import is_loopback
from airflow_provider_lipachat.gateway.redaction import mask_url
from airflow_provider_lipachat.media.preflight import MEDIA_RULES, inspect_media

MEDIA_FETCH_FAILED = 131053


@dataclass(frozen=True)
class MediaFetch:
    """One fetch of a sent message's media: what was read, and why it failed (None when it did not)."""

    wa_id: str
    url: str  # masked: the query string of a signed link is a credential
    media_type: str
    body: bytes
    failure: str | None


def media_link(kind: str, payload: dict[str, Any]) -> tuple[str, str] | None:
    """(URL, media type) of a send's media, for media messages and template headers; None without media."""
    if kind == "media":
        url, media_type = payload.get("mediaUrl"), payload.get("mediaType")
    elif kind == "template":
        template = payload.get("template")
        components = template.get("components") if isinstance(template, dict) else None
        header = components.get("header") if isinstance(components, dict) else None
        if not isinstance(header, dict):
            return None
        url, media_type = header.get("mediaUrl"), header.get("type")
    else:
        return None
    if not isinstance(url, str) or media_type not in MEDIA_RULES:
        return None
    return url, str(media_type)


def fetchable(url: str) -> bool:
    """Whether the emulator may fetch ``url``: loopback hosts only."""
    return is_loopback(urlsplit(url).hostname)


def fetch_media(wa_id: str, url: str, media_type: str) -> MediaFetch:
    """Fetch the whole file (at most one byte over the type's limit) and judge it as WhatsApp would."""
    limit = MEDIA_RULES[media_type].max_bytes
    verdict = inspect_media(url, media_type, read_at_most=limit + 1, ranged=False)
    body = verdict.head.first_bytes if verdict.head is not None else b""
    failure = verdict.problem or verdict.unreachable
    if failure is None and len(body) > limit:
        failure = f"is over the {media_type} limit of {limit} bytes"
    return MediaFetch(wa_id, mask_url(url), media_type, body, failure)
