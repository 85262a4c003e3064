"""Reading the gateway's answers: the success envelope, and every known failure shape as a typed error.

Pure functions of (HTTP status, body text, path), so each answer shape in lipachat-api.md is a
unit test. The client decides about retries before it calls these.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from airflow_provider_lipachat.exceptions import (
    LipaChatAuthError,
    LipaChatRequestError,
    LipaChatResponseError,
    LipaChatSessionClosedError,
    LipaChatThroughputError,
)
from airflow_provider_lipachat.gateway.messages import SendResult
from airflow_provider_lipachat.gateway.redaction import mask_phone
from airflow_provider_lipachat.gateway.timestamps import parse_gateway_timestamp

SNIPPET_LENGTH = 200
#: How much older than the send an answer's timestamp must be before the send counts as replayed:
#: room for clock skew between the worker and the gateway, and for a slow first attempt.
REPLAY_TOLERANCE = datetime.timedelta(seconds=60)
SESSION_WINDOW_MARKERS = ("24-hour", "24 hour")
SESSION_CLOSED_ADVICE = (
    "WhatsApp accepts free-form messages (media, text) only within 24 hours of the recipient's "
    "last message to the business. Send an approved template message instead; it is always "
    "accepted, and once the recipient replies the window opens again."
)

#: WhatsApp Cloud API's "Rate limit hit": the sender number sent more messages per second than it may.
THROUGHPUT_ERROR_CODE = 130429
THROUGHPUT_ADVICE = (
    "Slow the sends from this number down: set the LipaChat connection's rate_limit extra (messages per "
    "second) to the number's limit or below (WhatsApp allows 80 per second by default, 20 for a number also "
    "used in the WhatsApp Business app), and share it across workers by setting rate_limit_store_conn_id to "
    "a Redis connection every worker reaches, so every task sending from this number counts against one budget."
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


def _error_codes(body: dict[str, Any]) -> set[str]:
    """The error codes an answer carries, as text: in ``errors`` (a list or one object), Meta's ``error``, ``code``."""
    errors = body.get("errors")
    items = [*(errors if isinstance(errors, list) else [errors]), body.get("error"), body]
    return {str(item.get("code")) for item in items if isinstance(item, dict) and item.get("code") is not None}


def is_throughput_answer(text: str) -> bool:
    """Whether an answer is WhatsApp's throughput refusal (130429), whatever its HTTP status.

    How LipaChat passes 130429 on is not documented, so any JSON answer carrying the code counts:
    in its ``errors``, in Meta's own ``error`` object, as ``code``, or in the ``message`` text
    (Meta's wording is "(#130429) Rate limit hit").
    """
    code = str(THROUGHPUT_ERROR_CODE)
    if code not in text:  # every answer is asked, so the common one is spared a second parse
        return False
    try:
        body = json.loads(text)
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    return code in _error_codes(body) or code in str(body.get("message") or "")


def throughput_error(
    what: str, sender: str | None, http_status: int | None, attempts: int | None = None
) -> LipaChatThroughputError:
    """The error for a send refused over the sender number's throughput limit; the number is masked."""
    number = "the sender number" if not sender else f"sender number {mask_phone(sender)}"
    tries = "" if attempts is None else f" after {attempts} attempt(s)"
    return LipaChatThroughputError(
        f"{what} failed{tries}: the throughput limit of {number} was reached "
        f"(WhatsApp error {THROUGHPUT_ERROR_CODE}: more messages per second than WhatsApp allows from that "
        f"number). {THROUGHPUT_ADVICE}",
        http_status=http_status,
    )


def read_envelope(status_code: int, text: str, path: str) -> dict[str, Any]:
    """Return the envelope of a successful answer, or raise the error the answer describes."""
    body = _load_json(status_code, text, path)
    if is_throughput_answer(text):
        raise throughput_error(path, None, status_code)
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


def answered_as_already_sent(
    answered_at: datetime.datetime | None,
    first_sent_at: datetime.datetime | None,
    tolerance: datetime.timedelta = REPLAY_TOLERANCE,
) -> bool:
    """Whether an answer is the gateway's first answer to this ``messageId``, replayed: nothing new was sent.

    An ASSUMPTION, since LipaChat does not document what a repeated ``messageId`` gets back: the
    gateway is taken to deduplicate by answering with the stored first answer, timestamp and all,
    so an answer whose ``timestamp`` is older than the moment this request was first sent (before
    any client retry) by more than ``tolerance`` is a replay. A retry of the same request whose
    first attempt got through is not one: its answer is no older than the first attempt.

    The timestamp carries no zone and is read as UTC (``parse_gateway_timestamp``). A gateway clock
    east of UTC, such as Kenya's (UTC+3), makes every answer look hours newer: a fresh send is never
    taken for a replay, but a replay less than that many hours old goes unnoticed. A gateway clock
    west of UTC would make fresh sends look older and be reported as replayed. Either way the result
    only chooses what the task logs and pushes, never whether it fails. No timestamp: False.
    """
    if answered_at is None or first_sent_at is None:
        return False
    # Compared as points in time: subtracting a pendulum DateTime builds an Interval, costly on every send.
    return answered_at < first_sent_at - tolerance


def read_send_result(
    status_code: int, text: str, path: str, message_id: str, first_sent_at: datetime.datetime | None = None
) -> SendResult:
    """A send succeeded only when the answer carries ``data.waId``.

    ``first_sent_at`` (aware) is when this request's first attempt left; with it the result says
    whether the gateway answered as already sent (``answered_as_already_sent``).
    """
    body = read_envelope(status_code, text, path)
    data = body["data"]
    wa_id = data.get("waId") if isinstance(data, dict) else None
    if not isinstance(wa_id, str) or not wa_id:
        raise LipaChatResponseError(
            f"gateway answered without data.waId, so the send is not confirmed: {snippet(text)!r}",
            http_status=status_code,
        )
    answered_at = parse_gateway_timestamp(body.get("timestamp"))
    return SendResult(
        message_id=str(data.get("messageId") or message_id),
        wa_id=wa_id,
        status=data.get("status"),
        status_desc=data.get("statusDesc"),
        timestamp=answered_at,
        replayed=answered_as_already_sent(answered_at, first_sent_at),
    )
