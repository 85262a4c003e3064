"""Operators that send WhatsApp media, text, template and buttons messages, exactly once per recipient.

DAG files import this module, so it stays cheap: the hook (and with it ``requests``) is
imported inside ``execute``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_lipachat.compat import AirflowSkipException, BaseOperator
from airflow_provider_lipachat.exceptions import (
    LipaChatError,
    LipaChatFanOutError,
    LipaChatSessionClosedError,
    LipaChatValidationError,
)
from airflow_provider_lipachat.gateway.messages import TEMPLATE_HEADER_TYPES, ButtonsMessage, Message, TemplateMessage
from airflow_provider_lipachat.gateway.recipients import check_literal_recipients, parse_recipients
from airflow_provider_lipachat.gateway.redaction import mask_phone
from airflow_provider_lipachat.gateway.rendered import all_plain_text
from airflow_provider_lipachat.limits import (
    DEFAULT_MEDIA_URL_EXPIRY,
    MAX_IN_FLIGHT,
    PROGRESS_INTERVAL,
    parse_expiry,
    parse_rate_limit,
    positive_number,
    whole_number,
)
from airflow_provider_lipachat.utils.checkpoint import Checkpoint, Sent
from airflow_provider_lipachat.utils.message_ids import default_message_id, derived_message_id, question_token
from airflow_provider_lipachat.utils.task_outcome import WHATSAPP_GREEN, raise_as_task_failure

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_lipachat.gateway.async_sender import AsyncSender
    from airflow_provider_lipachat.gateway.messages import SendResult
    from airflow_provider_lipachat.hooks.lipachat import LipaChatHook
    from airflow_provider_lipachat.utils.fanout import FanOutResult, StopRequest

__all__ = [
    "SendWhatsAppButtonsOperator",
    "SendWhatsAppMediaOperator",
    "SendWhatsAppTemplateOperator",
    "SendWhatsAppTextOperator",
    "WhatsAppSendOperator",
    "default_message_id",
    "derived_message_id",
]

FALLBACK_PURPOSE = "fallback_template"
REPLAYS_FROM_TIMESTAMPS = (
    "Could not tell from the message list which sends were answered as already sent (so changed content "
    "did not reach them); telling them by the answers' timestamps instead, which misses replays younger "
    "than a minute"
)


@dataclass(frozen=True)
class Outgoing:
    """A task's message, built and checked once from its rendered fields; each recipient gets an addressed copy.

    ``content`` is what a recipient sees (links as shown), the fingerprint's input for ``resend_if_changed``;
    ``fallback`` is the template a media message is replaced with when the 24-hour window is closed.
    """

    message: Message
    content: tuple[object, ...]
    fallback: TemplateMessage | None = None


@dataclass(frozen=True)
class ListMark:
    """The message list's newest item before a send (``LipaChatHook.list_mark``); ``key`` None: it was empty."""

    key: str | None


class WhatsAppSendOperator(BaseOperator):
    """What the send operators share: recipients, message ids, exactly-once, fan-out and XCom.

    A subclass builds its message once, before any request (``build_message``); each recipient
    gets a copy addressed to it (``send_one``). One recipient: returns its ``waId``. Several:
    returns ``{recipient: waId}``, sending on an event loop with as many in flight as the rate and
    the gateway's latency need, at most ``rate_limit`` per second (any positive number), and
    checkpointing what was delivered every
    ``checkpoint_interval`` seconds; every recipient is attempted, then the task fails
    summarising by cause those that were not sent to. Permanent failures fail the task without
    using its retries. An empty list of recipients skips the task, as Airflow skips a task
    mapped over an empty list. ``to`` may also be a numpy array or a pandas Series or Index; any
    invalid number in it fails the task before any request, and in a literal list (no template
    in it) already when the DAG is parsed.

    Message ids are stable per task instance and recipient, so retries never send twice; a new
    run (a manual re-run for the same date too) sends again. XCom ``replayed`` lists the
    recipients whose send the gateway answered as already sent (empty when none).

    :param to: one number, a list, a string of numbers (commas, newlines or spaces), or a numpy
        array / pandas Series of them; each with its country code. Templated.
    :param from_number: the sender; default the connection's ``from_number`` extra. Templated.
    :param message_id: the gateway's ``messageId`` for one recipient, replacing the stable one
        derived from the task instance. Templated.
    :param idempotency_key: templated, e.g. ``"{{ ds }}"``; replaces the run in message ids, so
        every run with the same key sends each recipient the message once, as far as the gateway
        deduplicates. A later run with that key whose content changed sends nothing new: the gateway
        answers with the first answer. The task then logs one warning naming the key and how many
        recipients were answered as already sent, and XCom ``replayed`` lists them. To send changed
        content, use a new key (such as ``"{{ ds }}-v2"``) or set ``resend_if_changed=True``. A replay
        is told by the message list, whatever the delay and the clocks: the task notes the list's
        newest item before sending, and an answer naming a message listed below it was sent before
        (one page read before sending, and after it the pages the new sends take). When the list
        cannot be read, an answer whose timestamp is more than a minute older than the send counts;
        see ``gateway.answers.answered_as_already_sent``. It only changes what is logged and pushed,
        never whether the task fails.
    :param resend_if_changed: not templated, default False. When True the message id also covers a
        fingerprint of the rendered content (media: the storage path or URL without its query
        string, type, caption, filename; text: the message; template: name, language, placeholders,
        header link without its query string and type): the same content keeps its id and is sent
        once, changed content gets a new id and is sent once more. Not with ``message_id``.
    :param lipachat_conn_id: the ``lipachat`` connection to send through. Templated.
    :param max_retries: retries of one request on transient failures (0-10); default the connection's.
    :param max_concurrency: the most sends in flight at once for a list (1-2000). Unset, it follows from the rate
        limit and the latency the task observes (rate x latency, with headroom), or 64 without a rate limit.
    :param rate_limit: messages per second this task starts at most; the connection's limit (the sender
        number's, shared by every task when it names a store) applies too, and the lower wins.
    :param checkpoint_interval: seconds between a fan-out's progress lines and checkpoints.
    :param check_numbering_plan: not templated, default True: every recipient must be a number that can
        exist in its country's numbering plan (the ``phonenumbers`` package). False sends to a number the
        installed plan does not know yet (a new range); it must still start with a country code that exists.
    """

    template_fields: Sequence[str] = ("to", "from_number", "message_id", "idempotency_key", "lipachat_conn_id")
    ui_color = WHATSAPP_GREEN
    #: The running fan-out's stop request, for ``on_kill``; None outside a fan-out.
    _stop: StopRequest | None = None

    def __init__(
        self,
        *,
        to: str | int | Iterable[Any],
        from_number: str | None = None,
        message_id: str | None = None,
        idempotency_key: str | None = None,
        lipachat_conn_id: str = "lipachat_default",
        max_retries: int | None = None,
        max_concurrency: int | None = None,
        rate_limit: float | None = None,
        checkpoint_interval: float = PROGRESS_INTERVAL,
        resend_if_changed: bool = False,
        check_numbering_plan: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        check_literal_recipients(self.to)  # a literal list, no template in it: no rendering can change it
        self.from_number = from_number
        self.message_id = message_id
        self.idempotency_key = idempotency_key
        self.lipachat_conn_id = lipachat_conn_id
        self.max_retries = max_retries
        # Not templated, so checked here, when the DAG is parsed.
        self.max_concurrency = (
            None if max_concurrency is None else whole_number(max_concurrency, "max_concurrency", 1, MAX_IN_FLIGHT)
        )
        self.rate_limit = parse_rate_limit(rate_limit)
        self.checkpoint_interval = positive_number(
            checkpoint_interval, "checkpoint_interval", "expected seconds between checkpoints, a number above 0"
        )
        if not isinstance(resend_if_changed, bool):
            raise LipaChatValidationError("resend_if_changed", resend_if_changed, "expected True or False")
        self.resend_if_changed = resend_if_changed
        if not isinstance(check_numbering_plan, bool):
            raise LipaChatValidationError("check_numbering_plan", check_numbering_plan, "expected True or False")
        self.check_numbering_plan = check_numbering_plan

    def render_template(
        self,
        content: Any,
        context: Context,
        jinja_env: jinja2.Environment | None = None,
        seen_oids: set[int] | None = None,
    ) -> Any:
        """Airflow's rendering, except that a list of plain text (a recipient list with no template in it) is kept as
        it is: Airflow compiles a template per item, about 0.4 ms each, 40 CPU seconds for 100,000 recipients.

        :param content: the value to render.
        :param context: the task's template context.
        :param jinja_env: the DAG's Jinja environment.
        :param seen_oids: what was rendered already (Airflow's guard against cycles).
        """
        if isinstance(content, list) and len(content) > 1:
            import jinja2.nativetypes

            env = jinja_env or self.get_template_env()
            markers = tuple(
                marker
                for marker in (
                    env.variable_start_string,
                    env.block_start_string,
                    env.comment_start_string,
                    env.line_statement_prefix,
                    env.line_comment_prefix,
                )
                if marker
            )
            native = isinstance(env, jinja2.nativetypes.NativeEnvironment)  # would read "2547..." as a number
            if not native and all_plain_text(content, markers, tuple(self.template_ext)):
                return list(content)
        return super().render_template(content, context, jinja_env, seen_oids)

    def build_message(self, hook: LipaChatHook, recipient: str) -> Outgoing:
        """The message from the rendered fields, checked: once per try, before any request.

        Raises ``LipaChatValidationError`` if it is invalid; ``recipient`` (the first) addresses it meanwhile.
        """
        raise NotImplementedError

    def addressed(self, outgoing: Outgoing, recipient: str, message_id: str) -> Message:
        """The task's message as one recipient gets it, under its id."""
        return outgoing.message.addressed(recipient, message_id)

    def instead(
        self, outgoing: Outgoing, closed: LipaChatSessionClosedError, recipient: str, message_id: str
    ) -> Message:
        """What to send when the 24-hour window is closed for ``recipient``; raises ``closed`` when nothing can be."""
        raise closed

    def send_one(self, hook: LipaChatHook, outgoing: Outgoing, recipient: str, message_id: str) -> Sent:
        """Send the message to one recipient under its id, from the task's own thread."""
        message = self.addressed(outgoing, recipient, message_id)
        try:
            return _sent(message, hook.send(message))
        except LipaChatSessionClosedError as closed:
            message = self.instead(outgoing, closed, recipient, message_id)
        return _sent(message, hook.send(message))

    async def asend_one(self, sender: AsyncSender, outgoing: Outgoing, recipient: str, message_id: str) -> Sent:
        """``send_one`` for a fan-out: the same message and fallback, sent on the fan-out's event loop."""
        message = self.addressed(outgoing, recipient, message_id)
        try:
            return _sent(message, await sender.send(message))
        except LipaChatSessionClosedError as closed:
            message = self.instead(outgoing, closed, recipient, message_id)
        return _sent(message, await sender.send(message))

    @property
    def pushes_delivery_path(self) -> bool:
        """Whether XCom ``delivery_path`` says which kind of message reached each recipient."""
        return False

    def delivered_message_id(self, message_id: str, sent: Sent) -> str:
        """The id of the message that was delivered under ``message_id`` (another one after a fallback)."""
        return message_id

    def execute(self, context: Context) -> str | dict[str, str]:
        from airflow_provider_lipachat.hooks.lipachat import LipaChatHook

        hook = LipaChatHook(
            lipachat_conn_id=self.lipachat_conn_id,
            max_retries=self.max_retries,
            rate_limit=self.rate_limit,
        )
        try:
            recipients, many = parse_recipients(self.to, plan=hook.settings.numbering_plan(self.check_numbering_plan))
            key = self._idempotency_key()
            if many and self.message_id:
                raise LipaChatValidationError(
                    "message_id",
                    self.message_id,
                    "applies to one recipient; for a list leave it unset, or set idempotency_key to send "
                    "once per recipient per key (such as '{{ ds }}')",
                )
            if self.resend_if_changed and self.message_id:
                raise LipaChatValidationError(
                    "resend_if_changed",
                    True,
                    f"was given with message_id {self.message_id!r}, which names one message whatever its "
                    "content; give one of them (set a new message_id to send changed content)",
                )
            outgoing = self.build_message(hook, recipients[0]) if recipients else None
        except LipaChatError as err:
            raise_as_task_failure(err)
        if not recipients or outgoing is None:
            raise AirflowSkipException("'to' is an empty list: no recipient, so nothing was sent")
        ti = context["ti"]
        map_index = ti.map_index if ti.map_index is not None else -1
        id_content = outgoing.content if self.resend_if_changed else None
        # One id string per recipient, shared by the checkpoint, the sends and XCom.
        message_ids = {
            recipient: self.message_id
            or default_message_id(ti.dag_id, ti.task_id, ti.run_id, map_index, recipient, key=key, content=id_content)
            for recipient in recipients
        }
        # Airflow >= 3.3 keeps a per-task-instance store across tries; earlier releases rely on dedup alone.
        checkpoint = Checkpoint.load(context.get("task_state_store"))
        return self._send_to_all(context, hook, outgoing, message_ids, many, checkpoint, key)

    def _list_mark(self, hook: LipaChatHook, key: str | None) -> ListMark | None:
        """Where the message list stood before sending, when a send answered as already sent would hide
        changed content (an ``idempotency_key`` or a ``message_id`` is given, and the content is not in the
        id as ``resend_if_changed`` puts it); else None, nothing read."""
        if (key is None and not self.message_id) or self.resend_if_changed:
            return None
        try:
            return ListMark(hook.list_mark())
        except LipaChatError as err:
            self.log.warning("%s: %s: %s", REPLAYS_FROM_TIMESTAMPS, type(err).__name__, err)
            return None

    def _replayed(self, hook: LipaChatHook, mark: ListMark | None, sent: dict[str, Sent]) -> list[str]:
        """The recipients whose send the gateway answered with a message it had before: nothing new was sent.

        With a ``mark`` the message list says it, whatever the delay since that first message and
        whatever the clocks: an answer's waId listed below the mark was there before this send. Without
        one (or when the list cannot tell), each answer's timestamp does (``SendResult.replayed``).
        """
        by_timestamp = [recipient for recipient, s in sent.items() if s.replayed]
        if mark is None or not sent:
            return by_timestamp
        try:
            older = hook.replayed_since(mark.key, [s.wa_id for s in sent.values()])
        except LipaChatError as err:
            self.log.warning("%s: %s: %s", REPLAYS_FROM_TIMESTAMPS, type(err).__name__, err)
            return by_timestamp
        if older is None:
            self.log.warning("%s: the sends were not all found within max_pages", REPLAYS_FROM_TIMESTAMPS)
            return by_timestamp
        return [recipient for recipient, s in sent.items() if s.wa_id in older]

    def _idempotency_key(self) -> str | None:
        """The rendered key that replaces the run in message ids, or None when unset."""
        key: object = self.idempotency_key  # rendered: native rendering may make it a number
        if key is None:
            return None
        if self.message_id:
            raise LipaChatValidationError(
                "idempotency_key", key, "was given with message_id; give one of them (message_id names one message)"
            )
        if isinstance(key, bool) or not isinstance(key, str | int) or not str(key).strip():
            raise LipaChatValidationError(
                "idempotency_key", key, "expected non-empty text such as '{{ ds }}', or leave it unset"
            )
        if "{{" in str(key):  # Airflow 2 leaves a template that rendered empty as its source text
            raise LipaChatValidationError(
                "idempotency_key",
                key,
                "still holds a template after rendering (it rendered empty); expected "
                "non-empty text such as '{{ ds }}', or leave it unset",
            )
        return str(key).strip()

    def _report_replays(self, context: Context, replayed: list[str], total: int, key: str | None) -> None:
        """Push XCom ``replayed`` (always; [] when none) and log once how many the gateway answered as already sent.

        Under an idempotency key or a given message_id that is a warning, since content changed since
        the first send did not reach anyone; without either it is an earlier try of this run that got
        through, exactly once as promised, and with ``resend_if_changed`` the content is the same: info.
        """
        context["ti"].xcom_push(key="replayed", value=replayed)
        if not replayed:
            return
        count = f"{len(replayed)} of {total} recipient(s)"
        if self.message_id:
            under, remedy = f"message_id {self.message_id!r}", "set a new message_id"
        elif key is not None:
            under = f"idempotency_key {key!r}"
            remedy = "use a new key (such as '{{ ds }}-v2') or set resend_if_changed=True"
        else:
            self.log.info(
                "%s were answered as already sent: an earlier try of this run got through, so nothing was "
                "sent twice (XCom 'replayed' lists them)",
                count,
            )
            return
        if self.resend_if_changed:
            self.log.info(
                "%s were answered as already sent under %s with this same content, so nothing new was sent "
                "(XCom 'replayed' lists them)",
                count,
                under,
            )
            return
        self.log.warning(
            "%s were answered as already sent under %s: the gateway kept the first message and sent nothing "
            "new, so content changed since then did not reach them (XCom 'replayed' lists them); to send "
            "changed content, %s",
            count,
            under,
            remedy,
        )

    def _push(self, context: Context, message_ids: Any, paths: Any) -> None:
        context["ti"].xcom_push(key="message_id", value=message_ids)
        if self.pushes_delivery_path:
            context["ti"].xcom_push(key="delivery_path", value=paths)

    def _send_to_all(
        self,
        context: Context,
        hook: LipaChatHook,
        outgoing: Outgoing,
        message_ids: dict[str, str],
        many: bool,
        checkpoint: Checkpoint,
        key: str | None,
    ) -> str | dict[str, str]:
        """The one send path, for one recipient or many: checkpoints, sends, XCom, replays and logs.

        Only the shape differs: one recipient returns its waId (and a failure is that send's own error),
        several return ``{recipient: waId}`` (every one attempted, then failures summarised by cause).
        """
        from airflow_provider_lipachat.utils.fanout import cause_lines, failure_summary, failures_by_cause

        recipients = list(message_ids)
        earlier = {r: sent for r in recipients if (sent := checkpoint.get(message_ids[r])) is not None}
        to_send = [r for r in recipients if r not in earlier]
        mark = None
        if not to_send and many:
            self.log.info("All %d recipient(s) were delivered on an earlier try; nothing to send", len(recipients))
        elif not to_send:
            self.log.info("Already delivered to %s on an earlier try; not sending again", mask_phone(recipients[0]))
        else:
            mark = self._list_mark(hook, key)
        result = self._send_each(hook, outgoing, to_send, message_ids, many, len(earlier), checkpoint)
        delivered = {**earlier, **result.delivered} if earlier else result.delivered
        wa_ids = {r: delivered[r].wa_id for r in recipients if r in delivered}
        delivered_ids = {
            r: self.delivered_message_id(mid, delivered[r]) if r in delivered else mid for r, mid in message_ids.items()
        }
        if many:
            paths = {r: delivered[r].path for r in recipients if r in delivered} if self.pushes_delivery_path else None
            self._push(context, delivered_ids, paths)
        else:
            self._push(context, delivered_ids[recipients[0]], delivered[recipients[0]].path)
        older = set(self._replayed(hook, mark, result.delivered))
        replayed = [r for r in recipients if r in older]
        if not many:
            sent = delivered[recipients[0]]
            self.log.info(
                "Delivered to %s: message id %s, waId %s%s%s",
                mask_phone(recipients[0]),
                delivered_ids[recipients[0]],
                sent.wa_id,
                f" (as {sent.path})" if self.pushes_delivery_path else "",
                " (answered as already sent)" if replayed else "",
            )
        elif not result.failed:
            self.log.info(
                "Delivered to all %d recipient(s)%s",
                len(wa_ids),
                f", {len(replayed)} of them answered as already sent" if replayed else "",
            )
        self._report_replays(context, replayed, len(recipients), key)
        if not many:
            return wa_ids[recipients[0]]
        if not result.failed:
            return wa_ids
        context["ti"].xcom_push(key="return_value", value=wa_ids)
        causes = failures_by_cause(result.failed)
        context["ti"].xcom_push(key="failed", value={r: cause for cause, failed in causes for r in failed})
        for line in cause_lines(result.failed):
            self.log.error("Not sent to %s", line)
        failure = LipaChatFanOutError(
            f"{len(result.failed)} of {len(recipients)} recipient(s) not sent to "
            f"({len(wa_ids)} delivered, pushed to XCom; each failure's cause is in XCom 'failed'):\n"
            + failure_summary(result.failed),
            result.failed,
        )
        raise_as_task_failure(failure)

    def _send_each(
        self,
        hook: LipaChatHook,
        outgoing: Outgoing,
        to_send: list[str],
        message_ids: dict[str, str],
        many: bool,
        earlier: int,
        checkpoint: Checkpoint,
    ) -> FanOutResult[Sent]:
        """Send to each of ``to_send``, checkpointing what was delivered; one recipient's failure fails the task."""
        from airflow_provider_lipachat.utils.fanout import FanOutResult, StopRequest

        def save(delivered: dict[str, Sent]) -> str:
            added, written = checkpoint.save({message_ids[r]: sent for r, sent in delivered.items()})
            return f"checkpoint saved {added} new ({written} bytes; {len(checkpoint.recorded)} in all)"

        result: FanOutResult[Sent] = FanOutResult()
        if many and to_send:
            self.log.info(
                "Sending to %d of %d recipient(s)%s%s",
                len(to_send),
                len(message_ids),
                f" ({earlier} already delivered on an earlier try)" if earlier else "",
                hook.pacing(),
            )
            import asyncio

            self._stop = StopRequest()
            try:
                result = asyncio.run(self._fan_out(hook, outgoing, to_send, message_ids, save, self._stop))
            finally:
                self._stop = None
        for recipient in to_send if not many else ():
            try:
                result.delivered[recipient] = self.send_one(hook, outgoing, recipient, message_ids[recipient])
            except LipaChatError as err:
                raise_as_task_failure(err, f"not sent to {mask_phone(recipient)}")
        save(result.delivered)
        return result

    async def _fan_out(
        self,
        hook: LipaChatHook,
        outgoing: Outgoing,
        to_send: list[str],
        message_ids: dict[str, str],
        save: Callable[[dict[str, Sent]], str],
        stop: StopRequest,
    ) -> FanOutResult[Sent]:
        """The sends of a list on one event loop: as many in flight as the limit and the observed latency need."""
        from airflow_provider_lipachat.gateway.pacing import in_flight
        from airflow_provider_lipachat.utils.collector import steady_collection
        from airflow_provider_lipachat.utils.fanout import send_to_all

        async with hook.async_sender(self.max_concurrency) as sender:

            async def send(recipient: str) -> Sent:
                return await self.asend_one(sender, outgoing, recipient, message_ids[recipient])

            def window() -> int:
                return in_flight(sender.pacer.rate, sender.latency.seconds, sender.connections)

            def describe() -> str:
                late = f", {sender.pacer.skipped} slot(s) given up as late" if sender.pacer.skipped else ""
                return f"up to {window()} in flight at {sender.latency.seconds * 1000:.0f} ms per send{late}"

            async with steady_collection():
                return await send_to_all(
                    to_send,
                    len(to_send),
                    send,
                    in_flight=window,
                    log=self.log,
                    on_progress=save,
                    progress_interval=self.checkpoint_interval,
                    describe=describe,
                    stop=stop,
                )

    def on_kill(self) -> None:
        """Airflow is killing the task (SIGTERM): end a fan-out now instead of sending until the SIGKILL.

        No further send starts and those in flight are cancelled; what was delivered is checkpointed and
        pushed, and the task fails as transient, so a retry sends only to the rest (Airflow 3; on 2.11 the
        task stops at once anyway and a retry re-sends under the same message ids).
        """
        stop = self._stop
        if stop is not None:
            stop.request("the task was killed (SIGTERM) mid fan-out")


def _sent(message: Message, result: SendResult) -> Sent:
    """What the checkpoint and XCom keep of one send: its waId, and which kind of message carried it."""
    return Sent(result.wa_id, message.kind, result.replayed)


class SendWhatsAppMediaOperator(WhatsAppSendOperator):
    """Send an image, video, audio clip, document or sticker to one WhatsApp number or many.

    ``to`` is one number, a list, or a string of numbers separated by commas, newlines or
    spaces; every argument is templated. ``media_type`` is inferred from the URL when absent.
    ``media_url`` may also be an object-storage path (an ``ObjectStoragePath`` or text such as
    ``s3://aws_default@bucket/reports/{{ ds }}.pdf``): it is signed at execute into a temporary
    https link valid ``media_url_expiry`` seconds (default one day, at most seven), which is
    never shown; media type and document filename come from the path when not given.
    With ``preflight`` (the default) the link is checked once, before any send, against
    WhatsApp's media rules: a definite problem fails the task, an unreachable link is a warning.
    With ``fallback_template``, a recipient whose 24-hour window is closed gets that approved
    template instead, with the media as its header; XCom ``delivery_path`` says which was sent.

    :param media_url: an https URL, an ``ObjectStoragePath``, or a path's text. Templated.
    :param media_type: IMAGE, VIDEO, AUDIO, DOCUMENT or STICKER; inferred when absent. Templated.
    :param caption: text under an image, video or document (at most 1024 characters). Templated.
    :param filename: the name a document is shown with. Templated.
    :param fallback_template: an approved template sent instead when the 24-hour window is closed. Templated.
    :param fallback_language_code: the fallback template's language (default "en"). Templated.
    :param fallback_body_placeholders: the fallback template's {{1}}, {{2}}, ... values. Templated.
    :param preflight: check the link against WhatsApp's media rules once before any send. Templated.
    :param media_url_expiry: seconds (or a timedelta) a signed storage link stays valid; at most seven days.
    """

    template_fields: Sequence[str] = (
        "to",
        "media_url",
        "media_type",
        "caption",
        "filename",
        "from_number",
        "message_id",
        "idempotency_key",
        "lipachat_conn_id",
        "fallback_template",
        "fallback_language_code",
        "fallback_body_placeholders",
        "preflight",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"caption": "md"}

    def __init__(
        self,
        *,
        media_url: str | ObjectStoragePath,
        media_type: str | None = None,
        caption: str | None = None,
        filename: str | None = None,
        fallback_template: str | None = None,
        fallback_language_code: str = "en",
        fallback_body_placeholders: Sequence[str] | str = (),
        preflight: bool | str = True,
        media_url_expiry: float | datetime.timedelta = DEFAULT_MEDIA_URL_EXPIRY,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.preflight = preflight
        self.media_url_expiry = parse_expiry(media_url_expiry)  # not templated: checked at parse time
        self.media_url = media_url
        self.media_type = media_type
        self.caption = caption
        self.filename = filename
        self.fallback_template = fallback_template
        self.fallback_language_code = fallback_language_code
        self.fallback_body_placeholders = fallback_body_placeholders

    @property
    def pushes_delivery_path(self) -> bool:
        return bool(self.fallback_template)  # read at execute time, once the field is rendered

    def delivered_message_id(self, message_id: str, sent: Sent) -> str:
        return derived_message_id(message_id, FALLBACK_PURPOSE) if sent.path == "template" else message_id

    def build_message(self, hook: LipaChatHook, recipient: str) -> Outgoing:
        from airflow_provider_lipachat.media.source import MediaSource

        source = MediaSource(
            "media_url", self.media_url, self.media_type, self.filename, self.media_url_expiry, self.preflight
        )
        # Resolved afresh for each try: a signed link must not outlive its expiry.
        link = source.resolve(self.log)
        media = hook.media_message(recipient, link.url, link.media_type, self.caption, link.filename, self.from_number)
        fallback = None
        if self.fallback_template:
            if media.media_type not in TEMPLATE_HEADER_TYPES:
                raise LipaChatValidationError(
                    "fallback_template",
                    self.fallback_template,
                    f"cannot carry this {media.media_type} media: a template's header takes only "
                    f"{', '.join(TEMPLATE_HEADER_TYPES)}; leave fallback_template unset for {media.media_type}",
                )
            fallback = hook.template_message(
                recipient,
                self.fallback_template,
                self.fallback_language_code,
                media.media_url,
                media.media_type,
                self.fallback_body_placeholders,
                self.from_number,
            )
        source.check(media.media_url, str(media.media_type), self.log)
        return Outgoing(media, media.content(link.shown), fallback)

    def instead(
        self, outgoing: Outgoing, closed: LipaChatSessionClosedError, recipient: str, message_id: str
    ) -> Message:
        """The fallback template under an id of its own, when one is set; else ``closed``, saying how to set one."""
        if outgoing.fallback is None:
            raise LipaChatSessionClosedError(
                f"{closed} To do that here, set fallback_template='<approved template name>' "
                f"(and fallback_body_placeholders) on {type(self).__name__}.",
                http_status=closed.http_status,
            ) from closed
        self.log.info(
            "24-hour window closed for %s; sending template %r", mask_phone(recipient), self.fallback_template
        )
        return outgoing.fallback.addressed(recipient, derived_message_id(message_id, FALLBACK_PURPOSE))


class SendWhatsAppTextOperator(WhatsAppSendOperator):
    """Send free-form text (at most 4096 characters) to one WhatsApp number or many.

    WhatsApp delivers free-form text only within 24 hours of the recipient's last message; for
    anyone else use ``SendWhatsAppTemplateOperator``.

    :param message: the text, at most 4096 characters. Templated.
    """

    template_fields: Sequence[str] = (
        "to",
        "message",
        "from_number",
        "message_id",
        "idempotency_key",
        "lipachat_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"message": "md"}

    def __init__(self, *, message: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message

    def build_message(self, hook: LipaChatHook, recipient: str) -> Outgoing:
        message = hook.text_message(recipient, self.message, self.from_number)
        return Outgoing(message, message.content())


class SendWhatsAppButtonsOperator(WhatsAppSendOperator):
    """Ask a question: text with 1 to 3 reply buttons, to one WhatsApp number or many.

    ``buttons`` is a list of titles (``["Approve", "Reject"]``, each title also its id) or of
    ``{"id": ..., "title": ...}`` mappings. WhatsApp's rules are checked on the rendered values
    before any request: text at most 1024 characters, 1 to 3 buttons, titles at most 20
    characters, ids at most 244, ids and titles each unique (case ignored). Like text, it is a
    free-form message: it reaches only recipients who wrote within the last 24 hours. Wait for the
    answers with ``WhatsAppReplySensor`` on what this task returns.

    Each question's buttons are its own: every id is sent with a suffix derived from the message id
    (``~q`` and ten letters; the person sees only the titles), so a press answers the question it was
    pressed on, never another one open to the same person. ``WhatsAppReplySensor`` learns the
    suffixes from this task's XCom ``message_id`` and matches the ids as given here.

    :param message: the question above the buttons, at most 1024 characters. Templated.
    :param buttons: 1 to 3 titles or ``{"id", "title"}`` mappings (or a list's text). Templated.
    """

    template_fields: Sequence[str] = (
        "to",
        "message",
        "buttons",
        "from_number",
        "message_id",
        "idempotency_key",
        "lipachat_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"message": "md"}
    #: What ``WhatsAppReplySensor`` looks for upstream: each question's buttons carry a token of their own.
    asks_with_buttons: ClassVar[bool] = True

    def __init__(self, *, message: str, buttons: Sequence[Any] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message
        self.buttons = buttons

    def build_message(self, hook: LipaChatHook, recipient: str) -> Outgoing:
        message = hook.buttons_message(recipient, self.message, self.buttons, self.from_number)
        return Outgoing(message, message.content())

    def addressed(self, outgoing: Outgoing, recipient: str, message_id: str) -> Message:
        """The question to one recipient, its buttons' ids carrying the token of this message id."""
        message = outgoing.message
        assert isinstance(message, ButtonsMessage)
        return message.addressed(recipient, message_id, question_token(message_id))


class SendWhatsAppTemplateOperator(WhatsAppSendOperator):
    """Send an approved template message to one WhatsApp number or many, inside or outside the 24-hour window.

    ``body_placeholders`` fill the template's {{1}}, {{2}}, ... in order; an optional media
    header (IMAGE, VIDEO or DOCUMENT) comes from ``header_media_url`` (a URL or an object-storage
    path, signed as the media operator does), checked once before any send unless ``preflight`` is False.

    :param template_name: the approved template's name. Templated.
    :param language_code: the template's language, such as "en" or "en_US". Templated.
    :param header_media_url: the header's media: an https URL or an object-storage path. Templated.
    :param header_media_type: IMAGE, VIDEO or DOCUMENT; inferred when absent. Templated.
    :param body_placeholders: the values of {{1}}, {{2}}, ... in order. Templated.
    :param preflight: check the header link against WhatsApp's media rules once before any send. Templated.
    :param media_url_expiry: seconds (or a timedelta) a signed storage link stays valid; at most seven days.
    """

    template_fields: Sequence[str] = (
        "to",
        "template_name",
        "language_code",
        "header_media_url",
        "header_media_type",
        "body_placeholders",
        "from_number",
        "message_id",
        "idempotency_key",
        "lipachat_conn_id",
        "preflight",
    )

    def __init__(
        self,
        *,
        template_name: str,
        language_code: str = "en",
        header_media_url: str | ObjectStoragePath | None = None,
        header_media_type: str | None = None,
        body_placeholders: Sequence[str] | str = (),
        preflight: bool | str = True,
        media_url_expiry: float | datetime.timedelta = DEFAULT_MEDIA_URL_EXPIRY,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.preflight = preflight
        self.media_url_expiry = parse_expiry(media_url_expiry)  # not templated: checked at parse time
        self.template_name = template_name
        self.language_code = language_code
        self.header_media_url = header_media_url
        self.header_media_type = header_media_type
        self.body_placeholders = body_placeholders

    def build_message(self, hook: LipaChatHook, recipient: str) -> Outgoing:
        from airflow_provider_lipachat.media.source import MediaSource

        source = MediaSource(
            "header_media_url",
            self.header_media_url,
            self.header_media_type,
            None,
            self.media_url_expiry,
            self.preflight,
        )
        header = None if self.header_media_url in (None, "") else source.resolve(self.log)
        message = hook.template_message(
            recipient,
            template_name=self.template_name,
            language_code=self.language_code,
            header_media_url=None if header is None else header.url,
            header_media_type=self.header_media_type if header is None else header.media_type,
            body_placeholders=self.body_placeholders,
            from_number=self.from_number,
        )
        if message.header_media_url is not None:
            source.check(message.header_media_url, str(message.header_media_type), self.log)
        return Outgoing(message, message.content(None if header is None else header.shown))
