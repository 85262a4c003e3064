"""A WhatsApp message starts a DAG run: the event trigger an ``AssetWatcher`` runs in the triggerer (Airflow 3.0+)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_lipachat.compat import AIRFLOW_V3, mask_secret
from airflow_provider_lipachat.exceptions import LipaChatError, LipaChatValidationError
from airflow_provider_lipachat.gateway.message_list import InboundMessage, ListScan
from airflow_provider_lipachat.gateway.redaction import mask_phone
from airflow_provider_lipachat.gateway.retry import RetryPolicy
from airflow_provider_lipachat.limits import positive_number, whole_number
from airflow_provider_lipachat.utils.inbound_watch import BEGINNING, InboundCursor, InboundRule, event_payload, undated

if TYPE_CHECKING or AIRFLOW_V3:
    from airflow.triggers.base import BaseEventTrigger, TriggerEvent
else:  # Airflow 2.11 has no event-driven scheduling; constructing the trigger says so
    from airflow.triggers.base import BaseTrigger as BaseEventTrigger
    from airflow.triggers.base import TriggerEvent

if TYPE_CHECKING:
    from airflow_provider_lipachat.gateway.async_reader import AsyncMessageList

__all__ = ["WhatsAppInboundTrigger"]

#: The gateway's message list is shared by every reader of the number: no watcher polls it more often.
MIN_POLL_INTERVAL = 5.0
#: Pages one poll reads at most; at 100 messages a page, a poll every 5 s keeps up with 200 messages a second.
INBOUND_POLL_MAX_PAGES = 10
#: After failures to read the list, the pause doubles from ``poll_interval`` up to this.
WATCH_ERROR_BACKOFF_CAP = 300.0
CURSOR_KEY = "lipachat_inbound_cursor"


class WhatsAppInboundTrigger(BaseEventTrigger):
    """Fires one event for each inbound WhatsApp message that matches, for an ``AssetWatcher``.

    Every ``poll_interval`` seconds it reads the newest pages of the message list, in the same one-pass
    reader as the delivery and reply sensors, and fires, oldest first, each message not seen before that
    comes from one of ``senders`` (or from anyone, with ``anyone=True``) and whose text is ``keyword``
    (case and surrounding spaces ignored) or matches ``pattern`` (``re.search``, case ignored); without
    either, any message. The event's payload (the asset event's ``extra``) is
    ``{"sender", "text", "wa_id", "button_id", "received_at"}``, so the DAG it starts can answer. Each
    message that does not match logs one line, with the number masked and the text left out.

    On its first start it fires nothing for messages already listed. On Airflow 3.3 the cursor (the
    newest item read, the first start, and the ids just handled) is kept in the asset's state store,
    under a key of this watcher's own, after every event, so a restarted triggerer goes on where it
    stopped, firing messages that arrived while it was down and none twice. Before 3.3 there is no
    store: after a restart it starts afresh, and messages that arrived while it was down are not fired.
    Any failure (reading the list, the connection, the store) is logged and retried after a pause that
    grows to five minutes; the watch never ends on its own.

    :param senders: the phone numbers (with country code) whose messages may start a run.
    :param anyone: let any number start a run instead of ``senders``; must be said explicitly.
    :param keyword: the text a message must be (case and surrounding spaces ignored), such as "report".
    :param pattern: a regular expression the text must match (``re.search``, case ignored), instead of ``keyword``.
    :param lipachat_conn_id: the LipaChat connection whose message list is read.
    :param poll_interval: seconds between two reads of the message list, at least 5.
    :param max_pages: the most message-list pages (of 100) one read takes.
    """

    def __init__(
        self,
        *,
        senders: Sequence[str] | None = None,
        anyone: bool = False,
        keyword: str | None = None,
        pattern: str | None = None,
        lipachat_conn_id: str = "lipachat_default",
        poll_interval: float = 30.0,
        max_pages: int = INBOUND_POLL_MAX_PAGES,
    ) -> None:
        if not AIRFLOW_V3:
            raise RuntimeError("WhatsAppInboundTrigger needs Airflow 3.0 or later: AssetWatcher came with Airflow 3")
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow leaves it untyped
        self.rule = InboundRule.parse(senders, anyone, keyword, pattern)
        interval = positive_number(poll_interval, "poll_interval", f"expected at least {MIN_POLL_INTERVAL:g} seconds")
        if interval < MIN_POLL_INTERVAL:
            raise LipaChatValidationError(
                "poll_interval",
                poll_interval,
                f"is below {MIN_POLL_INTERVAL:g} s: the message list is shared by every reader of the number",
            )
        self.senders = None if senders is None else sorted(self.rule.senders or ())
        self.anyone = anyone
        self.keyword = keyword
        self.pattern = pattern
        self.lipachat_conn_id = lipachat_conn_id
        self.poll_interval = interval
        self.max_pages = whole_number(max_pages, "max_pages", 1, 1_000)
        self._masked: set[str] = set()
        self._undated: set[str] = set()
        self._no_store = False

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "senders": self.senders,
                "anyone": self.anyone,
                "keyword": self.keyword,
                "pattern": self.pattern,
                "lipachat_conn_id": self.lipachat_conn_id,
                "poll_interval": self.poll_interval,
                "max_pages": self.max_pages,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from asgiref.sync import sync_to_async

        from airflow_provider_lipachat.hooks.lipachat import LipaChatHook

        reader: AsyncMessageList | None = None
        cursor: InboundCursor | None = None
        stored: InboundCursor | None = None
        new: list[InboundMessage] = []
        newest: datetime | None = None
        backoff, failures = RetryPolicy(backoff_base=self.poll_interval, backoff_cap=WATCH_ERROR_BACKOFF_CAP), 0
        try:
            while True:
                try:
                    if reader is None:
                        reader = await LipaChatHook(self.lipachat_conn_id).amessage_list()
                    if cursor is None:
                        cursor = stored = await self._stored_cursor()
                    if cursor is None:
                        cursor, new, complete = await self._first_look(reader), [], False
                    else:
                        new, newest, complete = await self._look(reader, cursor)
                except Exception as err:  # the watch never ends on its own: each failure is logged, then retried
                    failures += 1
                    wait = max(self.poll_interval, backoff.backoff(failures))
                    transient = isinstance(err, LipaChatError) and err.retryable
                    (self.log.warning if transient else self.log.error)(
                        "Could not read the message list (%s: %s); reading it again in %.0f s",
                        type(err).__name__,
                        err,
                        wait,
                    )
                    await asyncio.sleep(wait)
                    continue
                failures = 0
                for message in new:
                    cursor = cursor.after([message])
                    refusal = self.rule.refusal(message)
                    if refusal is not None:
                        self.log.info("Ignored a message: %s", refusal)
                        continue
                    if message.sender not in self._masked:  # the triggerer logs each event whole
                        await sync_to_async(mask_secret)(message.sender)
                        self._masked.add(message.sender)
                    yield TriggerEvent(event_payload(message))  # type: ignore[no-untyped-call]
                    stored = await self._store(cursor, stored)  # at once: a restart from here never fires it again
                if complete:
                    cursor = cursor.read_up_to(newest)
                stored = await self._store(cursor, stored)
                await asyncio.sleep(self.poll_interval)
        finally:
            if reader is not None:
                await reader.aclose()

    async def _first_look(self, reader: AsyncMessageList) -> InboundCursor:
        """Where a new watch starts: after the newest item listed now, so nothing listed before is replayed."""
        scan = await reader.scan(ListScan(frozenset(), max_pages=1, replies=True, since=BEGINNING))
        cursor = InboundCursor.start(scan.newest)
        self.log.info("Watching for messages listed after %s", cursor.since.isoformat())
        return cursor

    async def _look(
        self, reader: AsyncMessageList, cursor: InboundCursor
    ) -> tuple[list[InboundMessage], datetime | None, bool]:
        """The new messages, the newest item's time, and whether the scan read back to the cursor or the list's end."""
        scan = await reader.scan(
            ListScan(frozenset(), max_pages=self.max_pages, replies=True, since=cursor.scan_since())
        )
        complete = scan.reached_since or scan.total_pages == scan.pages_read
        if not complete:
            self.log.warning(
                "Read max_pages=%d page(s) without reaching the last message handled: older new messages are missed",
                self.max_pages,
            )
        for message in undated(scan.inbound):
            if message.wa_id not in self._undated:
                self._undated.add(message.wa_id)
                self.log.warning(
                    "A message from %s has no readable time on the list: it cannot be ordered, so it starts nothing",
                    mask_phone(message.sender),
                )
        return cursor.new(scan.inbound), scan.newest, complete

    def _cursor_key(self) -> str:
        """Where this watch keeps its cursor: one key per trigger, so two watchers on one asset keep their own."""
        digest = hashlib.sha256(json.dumps(self.serialize()[1], sort_keys=True).encode()).hexdigest()[:16]
        return f"{CURSOR_KEY}:{digest}"

    async def _stored_cursor(self) -> InboundCursor | None:
        """The cursor a previous run of this watch left in the asset's state store (Airflow 3.3+), or None."""
        store = getattr(self, "asset_state_store", None)
        if store is None or self._no_store:
            return None
        try:
            cursor = InboundCursor.from_json(await store.aget(self._cursor_key()))
        except ValueError as err:  # more than one asset watched by this one trigger: no single place to keep it
            self._no_store = True
            self.log.warning("No cursor kept across restarts: %s", err)
            return None
        if cursor is not None:
            self.log.info("Going on from the messages listed after %s", cursor.since.isoformat())
        return cursor

    async def _store(self, cursor: InboundCursor, stored: InboundCursor | None) -> InboundCursor | None:
        """Keep ``cursor`` in the asset state store if it moved; what the store holds now.

        A store that fails is logged and tried again after the next message or poll: the watch goes on.
        """
        store = getattr(self, "asset_state_store", None)
        if store is None or self._no_store or cursor == stored:
            return stored
        try:
            await store.aset(self._cursor_key(), cursor.to_json())
        except Exception as err:  # the cursor stays in memory; a restart before the next try may fire again
            self.log.warning(
                "Could not keep the cursor (%s: %s); trying again after the next poll", type(err).__name__, err
            )
            return stored
        return cursor
