"""Reading the gateway's answers: the success envelope, and every known failure shape as a typed error.

Pure functions of (HTTP status, body text, path), so each answer shape in lipachat-api.md is a
unit test. The client decides about retries before it calls these.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_lipachat.exceptions import (
    LipaChatAuthError,
    LipaChatRequestError,
    LipaChatResponseError,
    LipaChatSessionClosedError,
)
from airflow_provider_lipachat.gateway.messages import SendResult, parse_gateway_timestamp

SNIPPET_LENGTH = 200
SESSION_WINDOW_MARKERS = ("24-hour", "24 hour")
SESSION_CLOSED_ADVICE = (
    "WhatsApp accepts free-form messages (media, text) only within 24 hours of the recipient's "
    "last message to the business. Send an approved template message instead; it is always "
    "accepted, and once the recipient replies the window opens again."
)


def snippet(text: str) -> str:
    """The start of a body, on one line, for error messages."""
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_LENGTH else flat[:SNIPPET_LENGTH] + "..."


def _load_json(status_code: int, text: str, path: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    if status_code in (401, 403):
        raise LipaChatAuthError(f"gateway refused the API key (HTTP {status_code} from {path}): {snippet(text)!r}")
    if status_code >= 400:
        raise LipaChatRequestError(f"HTTP {status_code} from {path}: {snippet(text)!r}", http_status=status_code)
    raise LipaChatResponseError(
        f"HTTP {status_code} from {path} is not the gateway's JSON envelope: {snippet(text)!r}",
        http_status=status_code,
    )


def read_envelope(status_code: int, text: str, path: str) -> dict[str, Any]:
    """Return the envelope of a successful answer, or raise the error the answer describes."""
    body = _load_json(status_code, text, path)
    if isinstance(body.get("status"), int) and "error" in body:
        raise LipaChatRequestError(
            f"gateway rejected the request as malformed: HTTP {body['status']} {body.get('error')} "
            f"at {body.get('path', path)}",
            http_status=status_code,
        )
    message = str(body.get("message") or "")
    is_error = body.get("status") == "error"
    if is_error and any(marker in message.lower() for marker in SESSION_WINDOW_MARKERS):
        raise LipaChatSessionClosedError(
            f"24-hour window closed: the gateway said {message!r}. {SESSION_CLOSED_ADVICE}",
            http_status=status_code,
        )
    if "invalid credentials" in message.lower() or status_code in (401, 403):
        raise LipaChatAuthError(
            f"gateway refused the API key: {message or f'HTTP {status_code}'!r} "
            "(check the password of the LipaChat connection)"
        )
    if is_error:
        errors = body.get("errors")
        detail = f"; errors: {errors}" if errors else ""
        raise LipaChatRequestError(
            f"gateway rejected the message (HTTP {status_code}): {message or 'no reason given'!r}{detail}",
            http_status=status_code,
        )
    if status_code >= 400:
        raise LipaChatRequestError(f"HTTP {status_code} from {path}: {snippet(text)!r}", http_status=status_code)
    if body.get("data") is None:
        raise LipaChatResponseError(
            f"gateway answered status={body.get('status')!r} with no data (message {message!r}); nothing was sent",
            http_status=status_code,
        )
    return body


def read_send_result(status_code: int, text: str, path: str, message_id: str) -> SendResult:
    """A send succeeded only when the answer carries ``data.waId``."""
    body = read_envelope(status_code, text, path)
    data = body["data"]
    wa_id = data.get("waId") if isinstance(data, dict) else None
    if not isinstance(wa_id, str) or not wa_id:
        raise LipaChatResponseError(
            f"gateway answered without data.waId, so the send is not confirmed: {snippet(text)!r}",
            http_status=status_code,
        )
    return SendResult(
        message_id=str(data.get("messageId") or message_id),
        wa_id=wa_id,
        status=data.get("status"),
        status_desc=data.get("statusDesc"),
        timestamp=parse_gateway_timestamp(body.get("timestamp")),
    )
