"""Sensors on sent messages, in poke, reschedule or deferred mode: delivered (or read), and answered.

DAG files import this module, so it stays cheap: the hook is imported when the sensor runs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence, Set
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from airflow_provider_lipachat.compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    default_deferrable,
)
from airflow_provider_lipachat.exceptions import LipaChatError, LipaChatValidationError
from airflow_provider_lipachat.gateway.message_list import (
    LIST_SCAN_MAX_PAGES,
    TARGETS,
    InboundMessage,
    MessageStatus,
    Target,
)
from airflow_provider_lipachat.limits import whole_number
from airflow_provider_lipachat.utils.delivery import (
    UNSEEN_WARN_AFTER,
    Decision,
    decide,
    describe_unseen,
    describe_waiting,
    label_for_people,
    merge_seen,
    outcome_message,
    parse_wa_ids,
    statuses_from_event,
)
from airflow_provider_lipachat.utils.message_ids import default_message_id, question_token
from airflow_provider_lipachat.utils.replies import (
    ANSWERS_FROM,
    TYPED_FOR_BUTTONS,
    AnswersFrom,
    Ignored,
    ReplyDecision,
    decide_replies,
    describe_answers,
    ignored_line,
    parse_options,
    reply_outcome,
    reply_senders,
    reprompt_text,
    to_reprompt,
    unrelated_lines,
)
from airflow_provider_lipachat.utils.task_outcome import WHATSAPP_GREEN, raise_as_task_failure

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_lipachat.hooks.lipachat import LipaChatHook

__all__ = ["WhatsAppDeliverySensor", "WhatsAppReplySensor"]

MAX_PAGES_LIMIT = 10_000
MAX_REPROMPTS = 10


class _Decided(Protocol):
    """What the sensors' decisions (``Decision``, ``ReplyDecision``) share: the results in the returned shape."""

    @property
    def final(self) -> dict[str, dict[str, Any]]: ...


#: How long the base sensor ran, from its timeout message (each Airflow release words the rest its own way).
RUN_DURATION = re.compile(r"run duration of (?P<seconds>[0-9]+(?:\.[0-9]+)?) seconds")


def timeout_message(pending: str, base_message: str, timeout: float) -> str:
    """Poke and reschedule modes' timeout in one sentence: who is pending (as a trigger's timeout says), how long."""
    ran = RUN_DURATION.search(base_message)
    took = f" {float(ran['seconds']):.1f} s," if ran else ""
    return f"{pending} (the sensor ran{took} past its timeout of {timeout:g} s)"


class _MessageListSensor(BaseSensorOperator):
    """What the delivery and reply sensors share: each try starts afresh; poke and reschedule modes name who
    is pending on a timeout; the deferred path looks once before deferring; and the results known are pushed
    before the task fails or skips, so a downstream task (``trigger_rule="one_failed"``) still reads them.

    A subclass reads the list and decides in ``poke`` (keeping the decision in ``_decision``) and fills
    the hooks: ``_reset_try``, ``_resume`` (what an event hands the next look), ``_still_waiting``,
    ``_defer``, and the nouns of the "Pushed ..." log line and of a trigger's event without a message.
    """

    ui_color = WHATSAPP_GREEN
    deferrable: bool
    lipachat_conn_id: str
    #: This try's last look's decision (set before a failed wait raises), None before any look completed.
    _decision: _Decided | None
    #: What the results pushed before a fail or skip are called in the log, with ``%d`` for their number.
    pushed_noun = "%d result(s)"
    #: How an event without a message names the trigger: "delivery trigger ended with 'error'".
    trigger_noun = "message list"

    def _reset_try(self) -> None:
        """Forget what an earlier try read: each try reads its rendered arguments and the list afresh."""
        raise NotImplementedError

    @cached_property
    def hook(self) -> LipaChatHook:
        """One hook for this task instance (its connection read once, one HTTP session), built at the first look."""
        from airflow_provider_lipachat.hooks.lipachat import LipaChatHook

        return LipaChatHook(self.lipachat_conn_id)

    def poke(self, context: Context) -> PokeReturnValue:
        """One look at the message list: done (with the results), or not yet; a failed wait raises."""
        raise NotImplementedError

    def _resume(self, event: dict[str, Any]) -> None:
        """After ``_reset_try``, on an event: take over what the trigger saw that the next look builds on."""

    def _known(self) -> dict[str, dict[str, Any]]:
        """The results known from this try's last look, in the shape the task returns; empty before any look."""
        return {} if self._decision is None else self._decision.final

    def _still_waiting(self, context: Context) -> str:
        """Who is still pending, for the timeout of poke and reschedule modes (whose own message names no one)."""
        raise NotImplementedError

    def _defer(self, deadline: float) -> None:
        """Hand the wait to the trigger until ``deadline`` (epoch seconds), resuming in ``execute_complete``."""
        raise NotImplementedError

    def execute(self, context: Context) -> Any:
        self._reset_try()
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as err:  # the base class's timeout names no one: say who is pending
                pending = self._still_waiting(context)
                self._push_known(context)
                raise AirflowSensorTimeout(timeout_message(pending, str(err), float(self.timeout))) from err
            except (AirflowFailException, AirflowSkipException):
                self._push_known(context)
                raise
        first = self._look(context)  # no deferral when the wait is already over
        if first.is_done:
            return first.xcom_value
        self._defer(time.time() + float(self.timeout))

    def _look(self, context: Context) -> PokeReturnValue:
        """One poke outside the base class's loop: a failed wait pushes what is known, and skips with soft_fail."""
        try:
            return self.poke(context)
        except AirflowFailException as err:
            self._push_known(context)
            if self.soft_fail:
                raise AirflowSkipException(f"soft_fail: {err}") from err
            raise

    def _push_known(self, context: Context) -> None:
        """Before the task fails or skips: push the results known from this try's last look, as the success
        value would be.

        Airflow pushes ``return_value`` only on success; like a send's partial fan-out, the sensor pushes
        it itself so that a downstream task learns what is known.
        """
        final = self._known()
        if final:
            context["ti"].xcom_push(key="return_value", value=final)
            self.log.info("Pushed %s to XCom return_value", self.pushed_noun % len(final))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Turn the trigger's event into the task's outcome.

        The triggers' events carry no phone numbers (Airflow logs each event whole), so what the task
        returns comes from one more look here, on the worker: on ``success`` it returns it (a look that
        finds the wait not over after all, and a reply trigger's ``reprompt``, go on waiting in the
        triggerer with the same deadline); on ``failed`` or ``timeout`` it pushes it before failing.
        """
        status = event.get("status")
        if status in ("success", "reprompt"):
            self._reset_try()
            self._resume(event)
            look = self._look(context)
            if look.is_done:
                return look.xcom_value
            self._defer(float(event["deadline"]))
        message = str(event.get("message") or f"{self.trigger_noun} trigger ended with {status!r}")
        if status in ("timeout", "failed"):
            self._last_look(context, event)
        self._end(status, message)

    def _last_look(self, context: Context, event: dict[str, Any]) -> None:
        """Before failing: one more look, to push what is known; a look that cannot read the list only leaves it out."""
        self._reset_try()
        self._resume(event)
        before = self._decision
        try:
            self.poke(context)
        except Exception as err:  # the wait's own failure is what the task reports
            if self._decision is before:  # a failed wait raises too, having decided: nothing to warn about then
                self.log.warning("Could not read what is known before failing: %s: %s", type(err).__name__, err)
        self._push_known(context)

    def _end(self, status: object, message: str) -> NoReturn:
        """The task's end when the trigger's wait did not succeed: a skip with soft_fail, else a timeout or failure."""
        if self.soft_fail:
            raise AirflowSkipException(f"soft_fail: {message}")
        if status == "timeout":
            raise AirflowSensorTimeout(message)
        raise AirflowFailException(message)


class WhatsAppDeliverySensor(_MessageListSensor):
    """Wait until the messages a send task returned reached ``wait_for`` ("delivered", which READ
    also satisfies, or "read").

    ``wa_ids`` (templated) is whatever a send handed over: one waId, the ``{recipient: waId}``
    mapping of a fan-out, or a list of them such as ``send.output`` of a mapped send (Airflow's lazy
    sequence, read once when the sensor runs; mappings are merged, ``None`` results of skipped map
    indexes left out), as a value or as the text a template renders. A FAILED message fails the task
    naming the masked recipient, the status and WhatsApp's error code, unless at most ``max_failed``
    messages failed (a count). ``deferrable=True`` waits in the triggerer, one trigger for all messages.

    XCom ``return_value`` is every message's final status,
    ``{name: {"wa_id", "status", "recipient", "error_code", "updated_at"}}``, named by the recipient
    the send gave, else by the recipient the message list reports for the waId once a poll found it,
    else by the waId; ``status`` is None for a message never found on the list. It is returned on
    success and, like a send's partial fan-out, pushed before the task fails (a FAILED message over
    ``max_failed``, or a timeout, in every mode) or skips (``soft_fail``), so a downstream task with
    ``trigger_rule="one_failed"`` can read who failed and who was delivered.

    :param wa_ids: what the send task returned (see above), usually ``send.output``.
    :param wait_for: "delivered" (READ also counts) or "read".
    :param max_failed: how many FAILED messages are accepted before the wait fails.
    :param max_pages: the most message-list pages (of 100) one look reads.
    :param lipachat_conn_id: the LipaChat connection whose message list is read.
    :param deferrable: wait in the triggerer instead of a worker slot; default Airflow's
        ``[operators] default_deferrable`` (False unless configured).
    """

    template_fields: Sequence[str] = ("wa_ids",)
    pushed_noun = "the last known status of %d message(s)"
    trigger_noun = "delivery"

    def __init__(
        self,
        *,
        wa_ids: Any,
        wait_for: str = "delivered",
        max_failed: int = 0,
        max_pages: int = LIST_SCAN_MAX_PAGES,
        lipachat_conn_id: str = "lipachat_default",
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if wait_for not in TARGETS:
            raise LipaChatValidationError("wait_for", wait_for, f"expected one of {', '.join(map(repr, TARGETS))}")
        self.wa_ids = wa_ids
        self.wait_for: Target = wait_for  # type: ignore[assignment]  # checked just above
        self.max_failed = whole_number(max_failed, "max_failed", 0, 1_000_000)
        self.max_pages = whole_number(max_pages, "max_pages", 1, MAX_PAGES_LIMIT)
        self.lipachat_conn_id = lipachat_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self._reset_try()

    def _reset_try(self) -> None:
        """Forget what an earlier try read: this try reads what it rendered (at its first poke) and looks afresh."""
        self._awaited_ids: dict[str, str] | None = None
        self._seen: dict[str, MessageStatus] = {}
        self._decision: Decision | None = None
        self._looks = 0

    def _awaited(self) -> dict[str, str]:
        """``{label: waId}`` from the rendered ``wa_ids``, read once: a mapped send's results are fetched here."""
        if self._awaited_ids is None:
            try:
                self._awaited_ids = parse_wa_ids(self.wa_ids, notice=self.log.info)
            except LipaChatError as err:
                raise_as_task_failure(err)
        return self._awaited_ids

    def poke(self, context: Context) -> PokeReturnValue:
        awaited = self._awaited()
        try:
            found = self.hook.statuses(awaited.values(), max_pages=self.max_pages)
        except LipaChatError as err:
            raise_as_task_failure(err, "could not read delivery status")
        merge_seen(self._seen, found)
        decision = self._decision = decide(awaited, self.wait_for, self._seen, self.max_failed)
        self._looks += 1
        if decision.state == "failed":
            raise AirflowFailException(outcome_message("failed", decision, self.wait_for, self.max_pages))
        if self._looks == UNSEEN_WARN_AFTER and decision.unseen:
            self.log.warning("After %d looks, %s", self._looks, describe_unseen(decision.unseen, self.max_pages))
        if decision.done:
            self._log_done(decision.final, len(decision.failed))
        else:
            self.log.info("Waiting for %s from %s", self.wait_for, describe_waiting(decision.waiting))
        return PokeReturnValue(is_done=decision.done, xcom_value=decision.final if decision.done else None)

    def _defer(self, deadline: float) -> None:
        from airflow_provider_lipachat.triggers.lipachat import WhatsAppDeliveryTrigger

        self.defer(
            trigger=WhatsAppDeliveryTrigger(
                wa_ids=self._awaited(),
                wait_for=self.wait_for,
                deadline=deadline,
                lipachat_conn_id=self.lipachat_conn_id,
                poll_interval=float(self.poke_interval),
                max_failed=self.max_failed,
                max_pages=self.max_pages,
            ),
            method_name="execute_complete",
        )

    def _still_waiting(self, context: Context) -> str:
        """Who has not reached the target and at which status, from this try's last look, or one more look."""
        if self._decision is None:
            try:
                self.poke(context)
            except Exception as err:  # the timeout is the failure to report; a failed last look only annotates it
                return f"timed out waiting, who is pending not known: {type(err).__name__}: {err}"
        if self._decision is None:  # a look that raised nothing always decides; this only satisfies the type
            return "timed out waiting, who is pending not known"
        return outcome_message("timeout", self._decision, self.wait_for, self.max_pages)

    def _resume(self, event: dict[str, Any]) -> None:
        """Start from the statuses the trigger saw (by waId; the event names no recipient): the look on the
        worker never moves a message back from them, and names each by recipient as a poke does. Until
        that look succeeds, they are what is known (a message the list alone names is named by its waId).
        """
        self._seen.update(statuses_from_event(event.get("statuses")))
        if self._seen:
            try:
                awaited = self._awaited()
            except Exception:  # the look that follows fails the same way, and says so
                return
            self._decision = decide(awaited, self.wait_for, self._seen, self.max_failed)

    def _log_done(self, final: dict[str, Any], failed: int) -> None:
        accepted = f" ({failed} failed, accepted by max_failed={self.max_failed})" if failed else ""
        self.log.info("All %d message(s) reached %s%s", len(final) - failed, self.wait_for, accepted)


class WhatsAppReplySensor(_MessageListSensor):
    """Wait until the recipients of a question answer: a button pressed, or a text typed.

    ``wa_ids`` (templated) is what the send task returned, as for ``WhatsAppDeliverySensor``: one
    waId, a ``{recipient: waId}`` mapping, or a list of them. An answer is a message from the
    question's recipient that arrived after the question, read from the message list in the same
    scan that reads the questions' statuses. ``options`` (templated) are the answers that count:
    button ids or titles, or texts, compared ignoring case and surrounding spaces; anything else is
    logged and ignored, or, with ``reprompt=True``, answered with a polite text asking to choose one
    of the options (at most ``max_reprompts`` times per recipient). Without ``options`` any answer
    counts. A ``SendWhatsAppButtonsOperator`` question upstream is answered only by a press on its
    own buttons (the sensor reads their ids from that task's XCom ``message_id``): a press on
    another question's buttons answers that question, and a typed text answers neither, so one
    answer never settles two questions to one person. A text question takes typed answers.
    ``answers_from`` says whose answers end the wait: "all" (every recipient), "any" (at least
    one; all answers known then are returned) or "first" (only the earliest). A question that
    failed to arrive cannot be answered: with "all" it fails the task, otherwise only when every
    question failed.

    Returns and pushes ``{recipient: {"answer", "text", "received_at"}}``: ``answer`` as ``options``
    spell it (else what was sent), ``text`` what was pressed or typed. On timeout the task fails
    naming (masked) who has not answered, after pushing the answers known. ``deferrable=True`` waits
    in the triggerer.

    :param wa_ids: what the send task returned (see above), usually ``ask.output``.
    :param options: the answers that count, such as ``["Approve", "Reject"]``; unset takes any answer.
    :param answers_from: "all", "any" or "first": whose answers end the wait.
    :param reprompt: answer a message matching no option with a text asking to choose one of them.
    :param max_reprompts: the most reprompts one recipient gets for this question (1 to 10); later
        answers matching no option are only logged.
    :param max_pages: the most message-list pages (of 100) one look reads.
    :param lipachat_conn_id: the LipaChat connection whose message list is read (and reprompts are sent through).
    :param deferrable: wait in the triggerer instead of a worker slot; default Airflow's
        ``[operators] default_deferrable`` (False unless configured).
    """

    template_fields: Sequence[str] = ("wa_ids", "options")
    pushed_noun = "the %d answer(s) known"
    trigger_noun = "reply"

    def __init__(
        self,
        *,
        wa_ids: Any,
        options: Any = None,
        answers_from: str = "all",
        reprompt: bool = False,
        max_reprompts: int = 1,
        max_pages: int = LIST_SCAN_MAX_PAGES,
        lipachat_conn_id: str = "lipachat_default",
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if answers_from not in ANSWERS_FROM:
            raise LipaChatValidationError(
                "answers_from", answers_from, f"expected one of {', '.join(map(repr, ANSWERS_FROM))}"
            )
        if not isinstance(reprompt, bool):
            raise LipaChatValidationError("reprompt", reprompt, "expected True or False")
        self.wa_ids = wa_ids
        self.options = options
        self.answers_from: AnswersFrom = answers_from  # type: ignore[assignment]  # checked just above
        self.reprompt = reprompt
        self.max_reprompts = whole_number(max_reprompts, "max_reprompts", 1, MAX_REPROMPTS)
        self.max_pages = whole_number(max_pages, "max_pages", 1, MAX_PAGES_LIMIT)
        self.lipachat_conn_id = lipachat_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self._reset_try()

    def _reset_try(self) -> None:
        """Forget what an earlier try read: each try reads its rendered arguments and the list afresh."""
        self._awaited_ids: dict[str, str] | None = None
        self._options: tuple[str, ...] | None = None
        self._seen: dict[str, MessageStatus] = {}
        self._inbound: dict[str, InboundMessage] = {}
        self._tokens: dict[str, str] | None = None
        #: Messages already reprompted (or logged, when no reprompt is due), by waId.
        self._handled: set[str] = set()
        #: Presses on other questions and messages from numbers not asked, logged once each, by waId.
        self._noted: set[str] = set()
        #: Epoch seconds before which no reprompt is sent again, after one could not be sent.
        self._reprompt_after: float | None = None
        self._decision: ReplyDecision | None = None

    def _question_tokens(self, context: Context) -> dict[str, str]:
        """``{waId: token}`` of the questions' buttons, read once from the upstream send tasks' XCom.

        A buttons send (``asks_with_buttons``) pushes ``message_id`` beside what it returns
        (``{recipient: id}`` beside ``{recipient: waId}``, or one of each), and a question's token
        derives from its message id; no other task's XCom is read.
        """
        if self._tokens is None:
            ti = context["ti"]
            self._tokens = {}
            for task_id in sorted(self.upstream_task_ids):
                if not getattr(self.dag.get_task(task_id), "asks_with_buttons", False):
                    continue
                message_ids = ti.xcom_pull(task_ids=[task_id], key="message_id")
                wa_ids = ti.xcom_pull(task_ids=[task_id], key="return_value")
                for wa_id, message_id in _sent_pairs(wa_ids, message_ids):
                    self._tokens[wa_id] = question_token(message_id)
        return self._tokens

    def _read_arguments(self) -> dict[str, str]:
        """``{label: waId}`` and the options from the rendered fields, checked once, before any request."""
        if self._awaited_ids is None:
            try:
                options = parse_options(self.options)
                if self.reprompt and options is None:
                    raise LipaChatValidationError(
                        "options", self.options, "is unset, but reprompt=True needs the answers to ask for"
                    )
                self._awaited_ids = parse_wa_ids(self.wa_ids, notice=self.log.info)
                self._options = options
            except LipaChatError as err:
                raise_as_task_failure(err)
        return self._awaited_ids

    def poke(self, context: Context) -> PokeReturnValue:
        awaited = self._read_arguments()
        tokens = self._question_tokens(context)
        hook = self.hook
        try:
            scan = hook.replies(awaited.values(), reply_senders(awaited), max_pages=self.max_pages)
        except LipaChatError as err:
            raise_as_task_failure(err, "could not read the message list")
        merge_seen(self._seen, scan.found)
        self._inbound.update((m.wa_id, m) for m in (*scan.inbound, *scan.strangers))
        decision = self._decision = decide_replies(
            awaited, self._seen, self._inbound.values(), self._options, self.answers_from, tokens
        )
        self._note_unrelated(decision)
        self._answer_ignored(context, hook, decision.ignored, scan.sent_to_senders)
        if decision.state == "failed":
            raise AirflowFailException(reply_outcome("failed", decision, self.answers_from))
        if decision.done:
            self.log.info("Answered: %s", describe_answers(decision.answers))
        else:
            self.log.info("Waiting for answers from %s", describe_waiting(decision.waiting))
        return PokeReturnValue(is_done=decision.done, xcom_value=decision.final if decision.done else None)

    def _note_unrelated(self, decision: ReplyDecision) -> None:
        """Log once each message that answers no question of this wait (``unrelated_lines``)."""
        for line in unrelated_lines(decision, self._noted):
            self.log.info("%s", line)

    def _answer_ignored(self, context: Context, hook: Any, ignored: Sequence[Ignored], already_sent: Set[str]) -> None:
        """Log each answer matching no option once; with ``reprompt``, send the polite text to each
        recipient's first ``max_reprompts`` of them.

        The text's message id is stable per task instance and answer, and the answers chosen are the
        same on every look, so another look, a reschedule or a retry sends nothing new (the gateway
        deduplicates; a text found on the list already is logged as asked before). A text that cannot
        be sent is logged and tried again after ``poke_interval``; the wait goes on.
        """
        due = {item.message.wa_id for item in to_reprompt(ignored, self.max_reprompts)} if self.reprompt else set()
        for item in ignored:
            if item.message.wa_id in self._handled:
                continue
            who = label_for_people(item.recipient)
            if item.message.wa_id not in due or self._options is None:
                self._handled.add(item.message.wa_id)
                self.log.info("%s", ignored_line(item, self.reprompt))
                continue
            if self._reprompt_after is not None and time.time() < self._reprompt_after:
                continue
            ti = context["ti"]
            message_id = default_message_id(
                ti.dag_id,
                ti.task_id,
                ti.run_id,
                ti.map_index if ti.map_index is not None else -1,
                item.recipient,
                key=f"reprompt:{item.message.wa_id}",
            )
            text = reprompt_text(self._options, buttons=item.why == TYPED_FOR_BUTTONS)
            try:
                result = hook.send_text(item.recipient, text, message_id=message_id)
            except LipaChatError as err:
                self._reprompt_after = time.time() + float(self.poke_interval)
                self.log.warning(
                    "Could not ask %s to choose again (%s: %s); trying again in %g s, still waiting for answers",
                    who,
                    type(err).__name__,
                    err,
                    float(self.poke_interval),
                )
                continue
            self._handled.add(item.message.wa_id)
            self._reprompt_after = None
            if result.wa_id in already_sent or result.replayed:
                self.log.info("Already asked %s to choose one of the options again", who)
            else:
                self.log.info("Asked %s to choose one of the options again", who)

    def _defer(self, deadline: float) -> None:
        from airflow_provider_lipachat.triggers.lipachat import WhatsAppReplyTrigger

        self.defer(
            trigger=WhatsAppReplyTrigger(
                wa_ids=self._read_arguments(),
                options=None if self._options is None else list(self._options),
                answers_from=self.answers_from,
                deadline=deadline,
                lipachat_conn_id=self.lipachat_conn_id,
                poll_interval=float(self.poke_interval),
                max_pages=self.max_pages,
                reprompt=self.reprompt,
                max_reprompts=self.max_reprompts,
                handled=sorted(self._handled),
                tokens=self._tokens or {},
                reprompt_after=self._reprompt_after,
            ),
            method_name="execute_complete",
        )

    def _still_waiting(self, context: Context) -> str:
        """Who has not answered, from this try's last look."""
        if self._decision is None:
            return "timed out waiting before any look at the message list completed"
        return reply_outcome("timeout", self._decision, self.answers_from)

    def _resume(self, event: dict[str, Any]) -> None:
        """The answers already reprompted, which the look on the worker must not reprompt again."""
        self._handled = set(event.get("handled") or [])
        self._reprompt_after = event.get("reprompt_after")


def _as_list(pulled: object) -> list[object]:
    """What ``xcom_pull`` of one task gave, one item per map index (a list, or one value on some releases)."""
    if isinstance(pulled, str | Mapping) or not isinstance(pulled, Iterable):
        return [pulled]
    return list(pulled)


def _sent_pairs(wa_ids: object, message_ids: object) -> list[tuple[str, str]]:
    """``(waId, message id)`` of each message a send task sent, from its two XComs side by side."""
    pairs: list[tuple[str, str]] = []
    returned, pushed = _as_list(wa_ids), _as_list(message_ids)
    if len(returned) != len(pushed):  # map indexes that cannot be paired: no token is known for them
        return pairs
    for wa_id, message_id in zip(returned, pushed, strict=True):
        if isinstance(wa_id, str) and isinstance(message_id, str):
            pairs.append((wa_id, message_id))
        elif isinstance(wa_id, Mapping) and isinstance(message_id, Mapping):
            pairs.extend((w, message_id[r]) for r, w in wa_id.items() if isinstance(w, str) and r in message_id)
    return pairs
