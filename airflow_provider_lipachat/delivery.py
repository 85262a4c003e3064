"""Delivery status: ranking, one message's status, reading the message list, and the wait decision.

Pure values and functions, no Airflow and no HTTP: the sensor's poke and its trigger share them.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.messages import mask_phone, normalize_phone

FAILED = "FAILED"
#: FAILED aside, a status only moves up this ladder; READ implies DELIVERED.
STATUS_RANK = {"PENDING": 0, "SENT": 0, "DELIVERED": 1, "READ": 2}
TARGETS: dict[str, int] = {"delivered": STATUS_RANK["DELIVERED"], "read": STATUS_RANK["READ"]}
Target = Literal["delivered", "read"]
WHATSAPP_ERRORS = {
    131026: "undeliverable: the number is not on WhatsApp or its app is too old",
    131047: "outside the 24-hour window: only a template message reaches this recipient",
    131049: "not delivered by Meta's choice",
    131053: "media could not be fetched or processed: check the link (403/404), type and size",
    130429: "over the throughput limit",
    131056: "too many messages to this recipient",
}
WA_IDS_ACCEPTED = "expected the waId a send returned, a {recipient: waId} mapping of a fan-out, or a list of waIds"
PAGE_SIZE = 100
DEFAULT_MAX_PAGES = 200


def normalise_status(value: object) -> str | None:
    """The upper-case status, or None for an empty or unknown one (inbound messages carry none)."""
    status = str(value or "").strip().upper()
    return status if status == FAILED or status in STATUS_RANK else None


def describe_code(code: int | None) -> str:
    if code is None:
        return "no WhatsApp error code given"
    meaning = WHATSAPP_ERRORS.get(code)
    return f"WhatsApp error {code}" + (f" ({meaning})" if meaning else "")


@dataclass(frozen=True)
class MessageStatus:
    """What the gateway last said about one sent message."""

    wa_id: str
    status: str
    recipient: str | None = None
    error_code: int | None = None
    updated_at: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def reached(self, target: Target) -> bool:
        return not self.failed and STATUS_RANK[self.status] >= TARGETS[target]

    def later(self, update: MessageStatus) -> MessageStatus:
        """This status after ``update``: never back down the ladder; FAILED wins unless already delivered."""
        if update.failed:
            return self if not self.failed and STATUS_RANK[self.status] >= TARGETS["delivered"] else update
        if self.failed or STATUS_RANK[update.status] >= STATUS_RANK[self.status]:
            return update
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "wa_id": self.wa_id,
            "status": self.status,
            "recipient": self.recipient,
            "error_code": self.error_code,
            "updated_at": self.updated_at,
        }


def _error_code_in(document: object) -> int | None:
    """A WhatsApp error code wherever the item could carry one: ``errorCode``, ``error.code``, ``errors[0].code``."""
    if not isinstance(document, Mapping):
        return None
    candidates: list[object] = [document.get("errorCode"), document.get("error_code")]
    error = document.get("error")
    candidates.append(error.get("code") if isinstance(error, Mapping) else error)
    errors = document.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        candidates.append(errors[0].get("code"))
    for candidate in candidates:
        if isinstance(candidate, int) and not isinstance(candidate, bool):
            return candidate
        if isinstance(candidate, str) and candidate.strip().isdigit():
            return int(candidate)
    return None


def read_list_item(item: object) -> MessageStatus | None:
    """One message-list item as a status, or None when it has no waId or no outbound status.

    Where a failure's code lives is undocumented: the item itself and its ``metadata`` (a JSON
    string) are both searched.
    """
    if not isinstance(item, Mapping):
        return None
    wa_id = item.get("waMessageId")
    status = normalise_status(item.get("status"))
    if not isinstance(wa_id, str) or not wa_id or status is None:
        return None
    code = _error_code_in(item)
    if code is None and isinstance(item.get("metadata"), str):
        try:
            code = _error_code_in(json.loads(item["metadata"]))
        except ValueError:
            code = None
    contact = item.get("contact")
    phone = contact.get("phoneNumber") if isinstance(contact, Mapping) else None
    updated = item.get("updatedAt")
    return MessageStatus(
        wa_id=wa_id,
        status=status,
        recipient=str(phone) if phone else None,
        error_code=code if status == FAILED else None,
        updated_at=str(updated) if updated else None,
    )


@dataclass
class ListScan:
    """One pass over the message list looking for ``awaited`` waIds, page by page, at most ``max_pages``.

    Drive it with ``next_page()`` / ``take(body)``; it stops as soon as every awaited id was seen,
    at the last page, or at ``max_pages`` (then ``bounded`` is True and the rest count as not seen yet).
    """

    awaited: frozenset[str]
    max_pages: int = DEFAULT_MAX_PAGES
    found: dict[str, MessageStatus] = field(default_factory=dict)
    pages_read: int = 0
    total_pages: int | None = None

    def next_page(self) -> int | None:
        """The page to request next, or None when the scan is over."""
        if len(self.found) == len(self.awaited) or self.pages_read >= self.max_pages:
            return None
        if self.total_pages is not None and self.pages_read >= self.total_pages:
            return None
        return self.pages_read

    @property
    def bounded(self) -> bool:
        """True when the page bound, not the list's end, stopped the scan with ids still unseen."""
        unseen = len(self.found) < len(self.awaited)
        return unseen and self.pages_read >= self.max_pages and self.pages_read != self.total_pages

    def take(self, body: Mapping[str, Any]) -> None:
        """Record one page's answer (the envelope with ``data`` and ``totalPages``)."""
        self.pages_read += 1
        total = body.get("totalPages")
        if isinstance(total, int) and not isinstance(total, bool):
            self.total_pages = total
        items = body.get("data")
        if not isinstance(items, list) or not items:
            self.total_pages = self.pages_read  # an empty page ends the list, whatever totalPages said
            return
        for item in items:
            wa_id = item.get("waMessageId") if isinstance(item, Mapping) else None
            if wa_id in self.awaited and wa_id not in self.found:  # newest first: the first sighting is latest
                status = read_list_item(item)
                if status is not None:
                    self.found[wa_id] = status


class StatusSource(Protocol):
    """Where delivery status comes from: today the message list, later perhaps a webhook-fed store."""

    def statuses(self, wa_ids: Iterable[str]) -> dict[str, MessageStatus]:
        """The latest known status of each of ``wa_ids`` found; ids not found are left out."""
        ...


@dataclass(frozen=True)
class Decision:
    """The outcome of one look at the awaited messages."""

    done: bool
    failed: dict[str, MessageStatus]
    waiting: list[str]
    final: dict[str, dict[str, Any]]

    @property
    def state(self) -> Literal["done", "failed", "waiting"]:
        return "done" if self.done else "waiting" if self.waiting else "failed"


def decide(
    awaited: Mapping[str, str],
    target: Target,
    seen: Mapping[str, MessageStatus],
    max_failed: int = 0,
) -> Decision:
    """Given ``{label: waId}``, the target and the statuses seen: done, failed, or still waiting on whom.

    ``max_failed`` is how many FAILED messages are accepted (a count, not a fraction); one more
    fails the whole wait at once, without waiting for the others.
    """
    failed = {label: seen[wa_id] for label, wa_id in awaited.items() if wa_id in seen and seen[wa_id].failed}
    waiting = [
        label
        for label, wa_id in awaited.items()
        if label not in failed and (wa_id not in seen or not seen[wa_id].reached(target))
    ]
    final = {
        label: seen[wa_id].to_json() if wa_id in seen else {"wa_id": wa_id, "status": None}
        for label, wa_id in awaited.items()
    }
    if len(failed) > max_failed:
        return Decision(done=False, failed=failed, waiting=[], final=final)
    return Decision(done=not waiting, failed=failed, waiting=waiting, final=final)


def label_for_people(label: str) -> str:
    """A recipient masked for logs; a waId (no recipient known) as is."""
    return mask_phone(label) if label.isdigit() else label


def describe_failures(failed: Mapping[str, MessageStatus], limit: int = 10) -> str:
    parts = [
        f"{label_for_people(status.recipient or label)}: {status.status}, {describe_code(status.error_code)}"
        for label, status in list(failed.items())[:limit]
    ]
    more = f" and {len(failed) - limit} more" if len(failed) > limit else ""
    return "; ".join(parts) + more


def describe_waiting(waiting: list[str], limit: int = 10) -> str:
    more = f" and {len(waiting) - limit} more" if len(waiting) > limit else ""
    return ", ".join(label_for_people(label) for label in waiting[:limit]) + more


def _recipient_label(key: object) -> str:
    """A mapping key as the send operators write recipients (digits only) when it is a phone number."""
    try:
        return normalize_phone(key, "wa_ids")
    except LipaChatValidationError:
        return str(key).strip()


def parse_wa_ids(value: object, field_name: str = "wa_ids") -> dict[str, str]:
    """``{label: waId}`` from what the send operators return: one waId, a ``{recipient: waId}`` mapping,
    a list of waIds, or the text a template renders of any of them. A lone waId labels itself.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("{", "[")):
            try:
                value = json.loads(text)
            except ValueError:
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    raise LipaChatValidationError(
                        field_name,
                        value,
                        f"looks like a mapping or list but cannot be read as one; {WA_IDS_ACCEPTED}",
                        shown=mask_phone(repr(value)),
                    ) from None
        elif text:
            value = [text]
    if isinstance(value, Mapping):
        pairs = [(_recipient_label(k), v) for k, v in value.items()]
    elif isinstance(value, list | tuple):
        pairs = [(str(v).strip() if isinstance(v, str) else "", v) for v in value]
    else:
        pairs = []
    ids = {label: wa_id.strip() for label, wa_id in pairs if isinstance(wa_id, str) and wa_id.strip() and label}
    if not pairs or len(ids) != len(pairs):
        raise LipaChatValidationError(field_name, value, WA_IDS_ACCEPTED, shown=mask_phone(repr(value)))
    return ids


def poll_pages_bound(awaited: int, page_size: int = PAGE_SIZE) -> int:
    """Pages one poll needs at least to see ``awaited`` messages, for choosing ``max_pages``."""
    return max(1, math.ceil(awaited / page_size))
