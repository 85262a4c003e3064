"""Watching for inbound messages: which ones start a DAG run, and the cursor that keeps each one from firing twice.

Pure values and functions, no Airflow and no HTTP: the inbound trigger reads the message list with a
``ListScan`` and decides here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.gateway.message_list import InboundMessage, normalise_answer
from airflow_provider_lipachat.gateway.recipients import international_digits
from airflow_provider_lipachat.gateway.redaction import mask_phone
from airflow_provider_lipachat.gateway.timestamps import parse_gateway_timestamp

#: Messages this much older than the newest one handled are still compared by id: the gateway may list a
#: message a little after a newer one (two arriving within the same second, or its clock's order).
OVERLAP = timedelta(seconds=60)
#: Before the first message: every listed message is newer.
BEGINNING = datetime(1970, 1, 1, tzinfo=timezone.utc)
SENDERS_ACCEPTED = (
    "expected the phone numbers allowed to start a run, with their country code (such as ['254711000001']); "
    "to let any number start one, pass anyone=True instead"
)


@dataclass(frozen=True)
class InboundRule:
    """Which inbound messages count: from ``senders`` (or ``anyone``), and whose text is ``keyword``
    (ignoring case and surrounding spaces) or matches ``pattern`` (``re.search``, case ignored); any text
    when neither is given. A button reply counts by its title or id as a typed text would.
    """

    senders: frozenset[str] | None
    keyword: str | None = None
    pattern: re.Pattern[str] | None = None

    @classmethod
    def parse(
        cls, senders: Sequence[str] | None, anyone: bool, keyword: str | None, pattern: str | None
    ) -> InboundRule:
        """The rule from a trigger's arguments, each checked: a clear error names the field and what is accepted."""
        if not isinstance(anyone, bool):
            raise LipaChatValidationError("anyone", anyone, "expected True or False")
        if anyone and senders:
            raise LipaChatValidationError(
                "senders", senders, "is given with anyone=True: pass the allowed numbers or anyone=True, not both"
            )
        allowed: frozenset[str] | None = None
        if not anyone:
            if isinstance(senders, str) or not isinstance(senders, list | tuple | set | frozenset) or not senders:
                raise LipaChatValidationError("senders", senders, SENDERS_ACCEPTED)
            allowed = frozenset(international_digits(number, "senders") for number in senders)
        if keyword is not None and pattern is not None:
            raise LipaChatValidationError("pattern", pattern, "is given with keyword: pass one of them, not both")
        if keyword is not None and (not isinstance(keyword, str) or not keyword.strip()):
            raise LipaChatValidationError("keyword", keyword, "expected a non-empty text, such as 'report'")
        compiled = None
        if pattern is not None:
            if not isinstance(pattern, str) or not pattern:
                raise LipaChatValidationError("pattern", pattern, "expected a regular expression, such as '^report\\b'")
            try:
                compiled = re.compile(pattern, re.IGNORECASE)
            except re.error as err:
                raise LipaChatValidationError(
                    "pattern", pattern, f"is not a regular expression Python can compile ({err})"
                ) from None
        return cls(allowed, None if keyword is None else normalise_answer(keyword), compiled)

    def refusal(self, message: InboundMessage) -> str | None:
        """Why ``message`` starts no run (masked, no text quoted), or None when it does."""
        if self.senders is not None and message.sender not in self.senders:
            return f"{mask_phone(message.sender)} is not an allowed sender"
        if self.keyword is not None and self.keyword not in {normalise_answer(s) for s in message.said}:
            return f"the message from {mask_phone(message.sender)} is not the keyword"
        if self.pattern is not None and not any(self.pattern.search(s) for s in message.said):
            return f"the message from {mask_phone(message.sender)} does not match the pattern"
        return None


def event_payload(message: InboundMessage) -> dict[str, Any]:
    """What the asset event's ``extra`` holds: enough for the triggered DAG to answer the sender."""
    return {
        "sender": message.sender,
        "text": message.shown,
        "wa_id": message.wa_id,
        "button_id": message.answer_id,
        "received_at": message.received_at,
    }


@dataclass(frozen=True)
class InboundCursor:
    """How far the watch has read, by the gateway's clock: the newest item seen on the list (``since``), the
    watch's first look (``floor``: nothing created at or before it is ever new, so nothing is replayed),
    and the ids handled within ``OVERLAP`` before ``since``, so a message listed late is still fired once.
    """

    since: datetime
    floor: datetime
    recent: Mapping[str, datetime] = field(default_factory=dict)

    @classmethod
    def start(cls, newest: datetime | None) -> InboundCursor:
        """The cursor on a first start, from the newest item listed now: nothing listed before is replayed."""
        at = newest or BEGINNING
        return cls(since=at, floor=at)

    def scan_since(self) -> datetime:
        """Where a scan may stop: items older than this cannot be new."""
        return max(self.since - OVERLAP, self.floor)

    def new(self, inbound: Sequence[InboundMessage]) -> list[InboundMessage]:
        """The messages not handled yet, oldest first, from a scan's list order (newest first, which breaks
        ties in time); one listed on two pages counts once; one without a readable time is left out."""
        lower = self.scan_since()
        fresh: dict[str, tuple[datetime, InboundMessage]] = {}
        for message in reversed(inbound):
            at = parse_gateway_timestamp(message.received_at)
            if at is None or at <= self.floor or at < lower or message.wa_id in self.recent:
                continue
            fresh.setdefault(message.wa_id, (at, message))
        return [message for _, message in sorted(fresh.values(), key=lambda pair: pair[0])]

    def after(self, handled: Sequence[InboundMessage]) -> InboundCursor:
        """The cursor once ``handled`` are done."""
        times = {m.wa_id: t for m in handled if (t := parse_gateway_timestamp(m.received_at)) is not None}
        return self._moved(max([self.since, *times.values()]), {**self.recent, **times})

    def read_up_to(self, newest: datetime | None) -> InboundCursor:
        """The cursor once a scan read back past it, its newest item at ``newest`` (sent or received)."""
        return self if newest is None or newest <= self.since else self._moved(newest, dict(self.recent))

    def _moved(self, since: datetime, recent: dict[str, datetime]) -> InboundCursor:
        """Ids older than the overlap before ``since`` are forgotten: the scan never looks that far back."""
        return InboundCursor(since, self.floor, {i: t for i, t in recent.items() if t >= since - OVERLAP})

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "floor": self.floor.isoformat(),
            "recent": {i: t.isoformat() for i, t in self.recent.items()},
        }

    @classmethod
    def from_json(cls, value: object) -> InboundCursor | None:
        """A stored cursor, or None when there is none (or it is unreadable: then the watch starts afresh)."""
        if not isinstance(value, Mapping):
            return None
        since, floor, recent = _instant(value.get("since")), _instant(value.get("floor")), value.get("recent")
        if since is None or floor is None or not isinstance(recent, Mapping):
            return None
        times = {str(i): t for i, raw in recent.items() if (t := _instant(raw)) is not None}
        return cls(since, floor, times)


def undated(inbound: Sequence[InboundMessage]) -> list[InboundMessage]:
    """The messages whose time cannot be read: they cannot be ordered against the cursor, so none is fired."""
    return [m for m in inbound if parse_gateway_timestamp(m.received_at) is None]


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)
