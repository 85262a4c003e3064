"""The triggers that watch sent messages in the triggerer, one list scan per poll: delivery, and answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_lipachat.exceptions import LipaChatError
from airflow_provider_lipachat.gateway.async_reader import AsyncMessageList
from airflow_provider_lipachat.gateway.message_list import (
    LIST_SCAN_MAX_PAGES,
    TARGETS,
    InboundMessage,
    ListScan,
    MessageStatus,
    Target,
)
from airflow_provider_lipachat.gateway.retry import RetryPolicy
from airflow_provider_lipachat.utils.delivery import (
    UNSEEN_WARN_AFTER,
    decide,
    describe_failures,
    describe_unseen,
    describe_waiting,
    merge_seen,
    outcome_message,
)
from airflow_provider_lipachat.utils.replies import (
    ANSWERS_FROM,
    AnswersFrom,
    ReplyDecision,
    decide_replies,
    describe_answers,
    ignored_line,
    reply_outcome,
    reply_senders,
    to_reprompt,
    unrelated_lines,
)

WAIT_ERROR_BACKOFF_CAP = 60.0
#: Most messages are delivered within seconds: the first polls come sooner, doubling up to poll_interval.
FIRST_POLL_AFTER = 5.0


class MessageListTrigger(BaseTrigger):
    """What the message-list triggers share: the async reader, polls that speed down to ``poll_interval``,
    a pause after every transient error, and the absolute ``deadline``.

    A subclass looks once per poll (``look``: an event ends the wait, None polls again) and says what
    a timeout reports (``timeout_event``). ``run()`` never raises: every outcome is a ``TriggerEvent``.
    """

    deadline: float
    lipachat_conn_id: str
    poll_interval: float

    def _start(self, deadline: float, lipachat_conn_id: str, poll_interval: float) -> None:
        self.deadline = float(deadline)
        self.lipachat_conn_id = lipachat_conn_id
        self.poll_interval = float(poll_interval)
        #: After a transient failure to read the list: back off from poll_interval, doubling, up to a minute.
        self._error_backoff = RetryPolicy(backoff_base=self.poll_interval, backoff_cap=WAIT_ERROR_BACKOFF_CAP)

    async def look(self, reader: AsyncMessageList, looks: int) -> dict[str, Any] | None:
        """One look at the list: the final event, or None to poll again."""
        raise NotImplementedError

    def timeout_event(self) -> dict[str, Any]:
        """The event when the deadline passed, from what the looks so far saw."""
        raise NotImplementedError

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            event = await self._watch()
        except Exception as err:  # run() never raises: the sensor turns this into a task failure
            event = {"status": "error", "message": f"{type(err).__name__}: {err}"}
        yield TriggerEvent(event)  # type: ignore[no-untyped-call]

    async def _watch(self) -> dict[str, Any]:
        from airflow_provider_lipachat.hooks.lipachat import LipaChatHook

        reader = await LipaChatHook(self.lipachat_conn_id).amessage_list()
        try:
            return await self._poll(reader)
        finally:
            await reader.aclose()

    async def _poll(self, reader: AsyncMessageList) -> dict[str, Any]:
        errors = polls = looks = 0
        while True:
            polls += 1
            try:
                event = await self.look(reader, looks + 1)
            except LipaChatError as err:
                if not err.retryable:
                    return {"status": "error", "message": str(err)}
                errors += 1
                self.log.warning("Message list unavailable (%s); polling again after a pause", err)
                wait = max(self.poll_interval, self._error_backoff.backoff(errors))
            else:
                errors = 0
                looks += 1
                if event is not None:
                    return event
                wait = min(self.poll_interval, FIRST_POLL_AFTER * 2 ** (polls - 1))
            remaining = self.deadline - time.time()
            if remaining <= 0:
                return self.timeout_event()
            await asyncio.sleep(min(wait, remaining))


class WhatsAppDeliveryTrigger(MessageListTrigger):
    """Polls the message list (after 5 s, 10 s, ... doubling up to every ``poll_interval`` seconds)
    until every awaited message reached ``wait_for``, too many failed, or the absolute ``deadline``
    (epoch seconds) passed.

    Never raises out of ``run()``: every outcome is a ``TriggerEvent`` whose ``status`` is
    ``success``, ``failed``, ``timeout`` or ``error``. Events hold no phone number (Airflow logs them
    whole; recipients appear masked in ``message``): besides ``status`` and ``message`` they carry the
    ``deadline`` and ``statuses``, each awaited message's last status by waId, from which the sensor,
    in one more look on the worker, builds its return value named by recipient.

    :param wa_ids: ``{label: waId}`` of the messages to wait on (labels are recipients where known).
    :param wait_for: "delivered" (READ also counts) or "read".
    :param deadline: when to give up, in epoch seconds: absolute, so a restarted triggerer keeps it.
    :param lipachat_conn_id: the connection whose message list is read (through the async API).
    :param poll_interval: the most seconds between two polls once the first quick ones are done.
    :param max_failed: how many FAILED messages are accepted before the wait fails.
    :param max_pages: the most message-list pages (of 100) one poll reads.
    """

    def __init__(
        self,
        *,
        wa_ids: dict[str, str],
        wait_for: Target,
        deadline: float,
        lipachat_conn_id: str = "lipachat_default",
        poll_interval: float = 30.0,
        max_failed: int = 0,
        max_pages: int = LIST_SCAN_MAX_PAGES,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow leaves it untyped
        if not wa_ids or not all(isinstance(k, str) and isinstance(v, str) for k, v in wa_ids.items()):
            raise ValueError(f"wa_ids={wa_ids!r}: expected a non-empty {{label: waId}} mapping of strings")
        if wait_for not in TARGETS:
            raise ValueError(f"wait_for={wait_for!r}: expected one of {', '.join(TARGETS)}")
        self.wa_ids = dict(wa_ids)
        self.wait_for: Target = wait_for
        self.max_failed = int(max_failed)
        self.max_pages = int(max_pages)
        self._start(deadline, lipachat_conn_id, poll_interval)
        self._seen: dict[str, MessageStatus] = {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "wa_ids": self.wa_ids,
                "wait_for": self.wait_for,
                "deadline": self.deadline,
                "lipachat_conn_id": self.lipachat_conn_id,
                "poll_interval": self.poll_interval,
                "max_failed": self.max_failed,
                "max_pages": self.max_pages,
            },
        )

    async def look(self, reader: AsyncMessageList, looks: int) -> dict[str, Any] | None:
        found, scan = await reader.statuses(self.wa_ids.values(), max_pages=self.max_pages)
        merge_seen(self._seen, found)
        decision = decide(self.wa_ids, self.wait_for, self._seen, self.max_failed)
        if decision.state != "waiting":
            if not decision.done:
                message = outcome_message(decision.state, decision, self.wait_for, self.max_pages)
            elif decision.failed:
                message = f"reached {self.wait_for}, failures accepted: {describe_failures(decision.failed)}"
            else:
                message = f"every message reached {self.wait_for}"
            return self._event("success" if decision.done else "failed", message)
        if scan.bounded:
            self.log.warning(
                "Read max_pages=%d page(s); %d message(s) not found yet",
                self.max_pages,
                len(scan.awaited) - len(scan.found),
            )
        elif looks == UNSEEN_WARN_AFTER and decision.unseen:
            self.log.warning("After %d looks, %s", looks, describe_unseen(decision.unseen, self.max_pages))
        self.log.info("Waiting for %s from %s", self.wait_for, describe_waiting(decision.waiting))
        return None

    def timeout_event(self) -> dict[str, Any]:
        decision = decide(self.wa_ids, self.wait_for, self._seen, self.max_failed)
        return self._event("timeout", outcome_message("timeout", decision, self.wait_for, self.max_pages))

    def _event(self, status: str, message: str) -> dict[str, Any]:
        """An event with no phone number in it (Airflow logs events whole): the statuses seen by waId, no recipient."""
        statuses = {
            wa_id: {"status": seen.status, "error_code": seen.error_code, "updated_at": seen.updated_at}
            for wa_id, seen in self._seen.items()
        }
        return {"status": status, "message": message, "deadline": self.deadline, "statuses": statuses}


class WhatsAppReplyTrigger(MessageListTrigger):
    """Polls the message list (after 5 s, 10 s, ... doubling up to every ``poll_interval`` seconds) until
    the recipients of the questions ``wa_ids`` answered (``answers_from``: all, any, or the first one),
    a question failed so it cannot be answered, or the absolute ``deadline`` (epoch seconds) passed.

    Each poll is one scan for the questions' statuses and the answers together. With ``reprompt`` an
    answer matching no option that is among its sender's first ``max_reprompts`` ends the trigger with
    a ``reprompt`` event (the sensor sends the polite text and defers again, with that answer in
    ``handled``; after a text that could not be sent, not before ``reprompt_after``). Every other
    outcome is a ``success``, ``failed``, ``timeout`` or ``error`` event; ``run()`` never raises.
    Events hold no phone number (Airflow logs them whole; recipients appear masked in ``message``):
    the sensor reads the answers in one more look on the worker.

    :param wa_ids: ``{label: waId}`` of the questions (labels are recipients where known).
    :param options: the answers that count (compared ignoring case and surrounding spaces), or None for any.
    :param answers_from: "all", "any" or "first": whose answers end the wait.
    :param deadline: when to give up, in epoch seconds: absolute, so a restarted triggerer keeps it.
    :param lipachat_conn_id: the connection whose message list is read (through the async API).
    :param poll_interval: the most seconds between two polls once the first quick ones are done.
    :param max_pages: the most message-list pages (of 100) one poll reads.
    :param reprompt: end with a ``reprompt`` event when an answer matches no option.
    :param max_reprompts: the most reprompts one recipient gets; later answers matching no option are only logged.
    :param handled: waIds of answers already reprompted (or logged), not to report again.
    :param tokens: ``{waId: token}``, the tokens the questions' buttons were sent with: only a press on them answers.
    :param reprompt_after: epoch seconds before which no ``reprompt`` event is sent (a text failed to send).
    """

    def __init__(
        self,
        *,
        wa_ids: dict[str, str],
        options: list[str] | None,
        answers_from: AnswersFrom,
        deadline: float,
        lipachat_conn_id: str = "lipachat_default",
        poll_interval: float = 30.0,
        max_pages: int = LIST_SCAN_MAX_PAGES,
        reprompt: bool = False,
        max_reprompts: int = 1,
        handled: list[str] | None = None,
        tokens: dict[str, str] | None = None,
        reprompt_after: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow leaves it untyped
        if not wa_ids or not all(isinstance(k, str) and isinstance(v, str) for k, v in wa_ids.items()):
            raise ValueError(f"wa_ids={wa_ids!r}: expected a non-empty {{label: waId}} mapping of strings")
        if options is not None and (not options or not all(isinstance(o, str) for o in options)):
            raise ValueError(f"options={options!r}: expected a non-empty list of strings, or None for any answer")
        if answers_from not in ANSWERS_FROM:
            raise ValueError(f"answers_from={answers_from!r}: expected one of {', '.join(ANSWERS_FROM)}")
        if reprompt and options is None:
            raise ValueError("reprompt=True needs options: the answers to ask for")
        self.wa_ids = dict(wa_ids)
        self.options = None if options is None else list(options)
        self.answers_from: AnswersFrom = answers_from
        self.max_pages = int(max_pages)
        self.reprompt = bool(reprompt)
        self.max_reprompts = int(max_reprompts)
        self.handled = list(handled or [])
        self.tokens = dict(tokens or {})
        self.reprompt_after = None if reprompt_after is None else float(reprompt_after)
        self._noted: set[str] = set()
        self._start(deadline, lipachat_conn_id, poll_interval)
        self._seen: dict[str, MessageStatus] = {}
        self._inbound: dict[str, InboundMessage] = {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "wa_ids": self.wa_ids,
                "options": self.options,
                "answers_from": self.answers_from,
                "deadline": self.deadline,
                "lipachat_conn_id": self.lipachat_conn_id,
                "poll_interval": self.poll_interval,
                "max_pages": self.max_pages,
                "reprompt": self.reprompt,
                "max_reprompts": self.max_reprompts,
                "handled": self.handled,
                "tokens": self.tokens,
                "reprompt_after": self.reprompt_after,
            },
        )

    def _decide(self) -> ReplyDecision:
        options = None if self.options is None else tuple(self.options)
        inbound = self._inbound.values()
        return decide_replies(self.wa_ids, self._seen, inbound, options, self.answers_from, self.tokens)

    async def look(self, reader: AsyncMessageList, looks: int) -> dict[str, Any] | None:
        scan = ListScan(
            frozenset(self.wa_ids.values()),
            max_pages=self.max_pages,
            replies=True,
            reply_senders=reply_senders(self.wa_ids),
        )
        await reader.scan(scan)
        merge_seen(self._seen, scan.found)
        self._inbound.update((m.wa_id, m) for m in (*scan.inbound, *scan.strangers))
        decision = self._decide()
        if decision.state == "failed":
            return self._event("failed", reply_outcome("failed", decision, self.answers_from))
        if decision.done:
            return self._event("success", describe_answers(decision.answers))
        self._note_unrelated(decision)
        fresh = [i for i in decision.ignored if i.message.wa_id not in self.handled]
        due = {i.message.wa_id for i in to_reprompt(decision.ignored, self.max_reprompts)} if self.reprompt else set()
        may_reprompt = self.reprompt_after is None or time.time() >= self.reprompt_after
        if may_reprompt and any(i.message.wa_id in due for i in fresh):
            return self._event("reprompt", f"{len(fresh)} answer(s) matching none of the options")
        for item in fresh:
            if item.message.wa_id not in due:
                self.log.info("%s", ignored_line(item, self.reprompt))
                self.handled.append(item.message.wa_id)  # logged once
        if looks == UNSEEN_WARN_AFTER and decision.unseen:
            self.log.warning("After %d looks, %s", looks, reply_outcome("timeout", decision, self.answers_from))
        self.log.info("Waiting for answers from %s", describe_waiting(decision.waiting))
        return None

    def _note_unrelated(self, decision: ReplyDecision) -> None:
        """Log once each message that answers no question of this wait (``unrelated_lines``)."""
        for line in unrelated_lines(decision, self._noted):
            self.log.info("%s", line)

    def timeout_event(self) -> dict[str, Any]:
        return self._event("timeout", reply_outcome("timeout", self._decide(), self.answers_from))

    def _event(self, status: str, message: str) -> dict[str, Any]:
        """An event with no phone number in it: Airflow logs events whole. The sensor reads the answers itself."""
        return {
            "status": status,
            "message": message,
            "deadline": self.deadline,
            "handled": self.handled,
            "reprompt_after": self.reprompt_after,
        }
