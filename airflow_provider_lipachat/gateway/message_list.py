"""The gateway's message list: one message's status, its ranking, inbound messages, and one pass over the pages.

Pure values and functions, no Airflow and no HTTP: the sync client and the async reader drive a
``ListScan``; what waits on the statuses (the sensors, their triggers) decides with ``utils.delivery``
and ``utils.replies``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from airflow_provider_lipachat.gateway.messages import split_button_id
from airflow_provider_lipachat.gateway.timestamps import parse_gateway_timestamp

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
PAGE_SIZE = 100
LIST_SCAN_MAX_PAGES = 200


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
    created_at: str | None = None

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
    updated, created = item.get("updatedAt"), item.get("createdAt")
    return MessageStatus(
        wa_id=wa_id,
        status=status,
        recipient=_contact_number(item),
        error_code=code if status == FAILED else None,
        updated_at=str(updated) if updated else None,
        created_at=str(created) if created else None,
    )


def _contact_number(item: Mapping[str, Any]) -> str | None:
    """The item's ``contact.phoneNumber`` as digits (a leading ``+`` dropped), or None."""
    contact = item.get("contact")
    phone = contact.get("phoneNumber") if isinstance(contact, Mapping) else None
    digits = str(phone).strip().lstrip("+") if phone else ""
    return digits or None


INBOUND = "INBOUND"


@dataclass(frozen=True)
class InboundMessage:
    """One message a number sent to the business, as the message list shows it: a text or a button reply."""

    wa_id: str
    sender: str
    text: str | None = None
    button_id: str | None = None
    button_title: str | None = None
    received_at: str | None = None

    @property
    def shown(self) -> str:
        """What the sender chose or wrote: a button's title, else the text (empty for media without caption)."""
        return self.button_title or self.text or ""

    @property
    def answer_id(self) -> str | None:
        """The pressed button's id as the DAG gave it: without the question's token it was sent with."""
        return None if self.button_id is None else split_button_id(self.button_id)[0]

    @property
    def question_token(self) -> str | None:
        """The token of the question whose button was pressed; None for a typed text or an untagged button."""
        return None if self.button_id is None else split_button_id(self.button_id)[1]

    @property
    def said(self) -> list[str]:
        """Everything an answer or a keyword is compared with: the button's id and title, and the text typed."""
        return [s for s in (self.answer_id, self.button_title, self.text) if s and s.strip()]


def normalise_answer(text: str) -> str:
    """A text as answers and keywords compare it: case and surrounding spaces ignored."""
    return text.strip().casefold()


def _button_reply(metadata: object) -> tuple[str | None, str | None]:
    """A button reply's (id, title) from an inbound item's ``metadata``, or (None, None).

    ASSUMED, not in LipaChat's public reference: the button sits in ``metadata`` (a JSON string) in
    Meta's webhook shape, ``{"interactive": {"type": "button_reply", "button_reply": {"id", "title"}}}``.
    This is the one place that reads it, so a confirmed shape is a change here only.
    """
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            return None, None
    interactive = metadata.get("interactive") if isinstance(metadata, Mapping) else None
    reply = interactive.get("button_reply") if isinstance(interactive, Mapping) else None
    if not isinstance(reply, Mapping):
        return None, None
    button_id, title = reply.get("id"), reply.get("title")
    return (str(button_id) if button_id is not None else None, str(title) if title is not None else None)


def read_inbound_item(item: object) -> InboundMessage | None:
    """One message-list item as an inbound message, or None when it is not one (outbound, or no sender).

    As lipachat-api.md describes: ``direction: INBOUND``, the sender in ``contact.phoneNumber``, the
    text in ``text``; a button reply's button is read by ``_button_reply`` (an assumed shape).
    """
    if not isinstance(item, Mapping) or str(item.get("direction") or "").strip().upper() != INBOUND:
        return None
    wa_id, sender = item.get("waMessageId") or item.get("id"), _contact_number(item)
    if wa_id is None or sender is None:
        return None
    text = item.get("text")
    button_id, button_title = _button_reply(item.get("metadata"))
    created = item.get("createdAt")
    return InboundMessage(
        wa_id=str(wa_id),
        sender=sender,
        text=text if isinstance(text, str) else None,
        button_id=button_id,
        button_title=button_title,
        received_at=str(created) if created else None,
    )


@dataclass
class ListScan:
    """One pass over the message list looking for ``awaited`` waIds, page by page, at most ``max_pages``.

    Drive it with ``next_page()`` / ``take(body)``; it stops as soon as every awaited id was seen,
    at the last page, or at ``max_pages`` (then ``bounded`` is True and the rest count as not seen yet).

    With ``replies`` it also keeps, in the same pass, the inbound messages from ``reply_senders``
    (from anyone when None), and apart from them, in ``strangers``, those from anyone else; and the
    waIds of the other messages sent to those senders (``sent_to_senders``: a reprompt sent earlier).
    The list is read newest first (as the delivery lookup assumes too), so once the awaited messages
    (the questions) are found every answer newer than them has been seen.

    With ``mark`` (``list_mark``: the newest item before some sends) the awaited waIds are the sends'
    answers, and the scan stops at the mark too: an awaited waId not found above it names a message
    that was on the list before the sends, answered again, not sent anew (``older_than_mark``).

    With ``since`` (and no ``awaited``) it watches for inbound messages instead: it reads pages until
    one holds an item created before ``since``, so every message newer than that has been seen, and
    notes the ``newest`` item's time (where a first watch starts).
    """

    awaited: frozenset[str]
    max_pages: int = LIST_SCAN_MAX_PAGES
    replies: bool = False
    reply_senders: frozenset[str] | None = None
    since: datetime | None = None
    found: dict[str, MessageStatus] = field(default_factory=dict)
    inbound: list[InboundMessage] = field(default_factory=list)
    strangers: list[InboundMessage] = field(default_factory=list)
    sent_to_senders: set[str] = field(default_factory=set)
    pages_read: int = 0
    total_pages: int | None = None
    reached_since: bool = False
    newest: datetime | None = None
    mark: str | None = None
    reached_mark: bool = False

    def next_page(self) -> int | None:
        """The page to request next, or None when the scan is over."""
        if self.pages_read >= self.max_pages or self.reached_since or self.reached_mark:
            return None
        if self.since is None and len(self.found) == len(self.awaited):
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
            if self.mark is not None and isinstance(item, Mapping) and list_item_key(item) == self.mark:
                self.reached_mark = True  # newest first: everything below the mark was listed before it
                return
            if self.since is not None and isinstance(item, Mapping):
                created = parse_gateway_timestamp(item.get("createdAt"))
                if created is not None:
                    self.reached_since |= created < self.since
                    self.newest = created if self.newest is None else max(self.newest, created)
            wa_id = item.get("waMessageId") if isinstance(item, Mapping) else None
            if wa_id in self.awaited and wa_id not in self.found:  # newest first: the first sighting is latest
                status = read_list_item(item)
                if status is not None:
                    self.found[wa_id] = status
            elif self.replies and (inbound := read_inbound_item(item)) is not None:
                (self.inbound if self._wanted(inbound) else self.strangers).append(inbound)
            elif self.replies and isinstance(wa_id, str) and (sent := read_list_item(item)) is not None:
                self._note_sent(wa_id, sent)

    def older_than_mark(self, empty_before: bool = False) -> frozenset[str] | None:
        """The awaited waIds listed below the mark (answers replayed), or None when the scan cannot tell
        (it stopped at ``max_pages``, or the list ended without the mark). ``empty_before``: there was no
        mark to meet, the list being empty before the sends, so all of it is new."""
        missing = self.awaited - self.found.keys()
        if not missing:
            return frozenset()
        ended = self.total_pages is not None and self.pages_read >= self.total_pages
        return frozenset(missing) if self.reached_mark or (empty_before and ended) else None

    def _note_sent(self, wa_id: str, sent: MessageStatus) -> None:
        if self.reply_senders is None or sent.recipient in self.reply_senders:
            self.sent_to_senders.add(wa_id)

    def _wanted(self, inbound: InboundMessage) -> bool:
        return self.reply_senders is None or inbound.sender in self.reply_senders


def list_item_key(item: Mapping[str, Any]) -> str | None:
    """What names one message-list item: its ``waMessageId``, else the gateway's own ``id``."""
    key = item.get("waMessageId") or item.get("id")
    return None if key is None else str(key)


def list_mark(first_page: Mapping[str, Any]) -> str | None:
    """The newest item's key on the list's first page (``list_item_key``), None for an empty list."""
    items = first_page.get("data")
    first = items[0] if isinstance(items, list) and items else None
    return list_item_key(first) if isinstance(first, Mapping) else None


class StatusSource(Protocol):
    """Where delivery status comes from: today the message list, later perhaps a webhook-fed store."""

    def statuses(self, wa_ids: Iterable[str]) -> dict[str, MessageStatus]:
        """The latest known status of each of ``wa_ids`` found; ids not found are left out."""
        ...
