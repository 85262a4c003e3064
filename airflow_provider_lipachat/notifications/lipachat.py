"""LipaChatNotifier: a WhatsApp text, media or template message from a DAG or task callback, or a deadline alert.

DAG files import this module, so the hook (and ``requests``) is imported inside ``notify``.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_lipachat.compat import AirflowNotFoundException, BaseNotifier
from airflow_provider_lipachat.exceptions import LipaChatError, LipaChatFanOutError, LipaChatValidationError
from airflow_provider_lipachat.gateway.messages import Message
from airflow_provider_lipachat.gateway.recipients import array_as_list, check_literal_recipients, read_recipients
from airflow_provider_lipachat.gateway.redaction import mask_phone
from airflow_provider_lipachat.limits import DEFAULT_MEDIA_URL_EXPIRY, parse_expiry
from airflow_provider_lipachat.utils.deadline import DeadlineContext, normalize_deadline_context
from airflow_provider_lipachat.utils.message_ids import callback_message_id

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_lipachat.hooks.lipachat import LipaChatHook


class LipaChatNotifier(BaseNotifier):
    """Send a WhatsApp message when a DAG or task callback fires, or when a DAG run misses a deadline.

    Exactly one of ``message`` (free-form text), ``media_url`` (media, with optional
    ``media_type`` and ``caption``) or ``template_name`` (an approved template, with
    ``body_placeholders``) says what to send. Every text field is templated from the callback
    context, e.g. ``message="{{ ti.task_id }} failed in {{ dag.dag_id }}"``. ``to`` takes one
    number or several, like the operators; each is checked on its own, so an invalid number
    does not keep the others from being notified (a literal list holding a value that is no number
    at all is refused when the DAG is parsed; numbers meet their country's numbering plan when the
    notifier runs, national ones read in the connection's ``default_region``). Free-form text and
    media reach only recipients who wrote in the last 24 hours; a template reaches anyone. A media
    link is checked once before any send (``preflight``, on by default), as the media operator does; ``media_url`` may
    be an object-storage path, signed for ``media_url_expiry`` seconds as the media operator does.
    In a human-in-the-loop operator's ``notifiers`` (Airflow 3.1+), the templates also see
    ``hitl_link``, the link to the task's required-actions page.

    As a deadline alert's callback (Airflow 3.1+), ``AsyncCallback(LipaChatNotifier, kwargs={...})``
    runs it in the triggerer and, from 3.3, ``SyncCallback(LipaChatNotifier, kwargs={...})`` through
    the executor. Airflow then constructs it with the alert's ``context`` (a ``DeadlineContext``:
    ``dag_run`` and ``deadline``, no task instance), e.g. ``message="{{ dag_run.dag_id }} run
    {{ dag_run.run_id }} missed its deadline of {{ deadline.deadline_time }}"``; its message id is
    stable for the run and the deadline, so a callback that runs twice sends once.

    :param to: one number or several, as the operators take them. Templated.
    :param message: free-form text. Templated.
    :param media_url: media: an https URL or an object-storage path. Templated.
    :param media_type: the media's type; inferred when absent. Templated.
    :param caption: text under the media. Templated.
    :param template_name: an approved template, which reaches anyone. Templated.
    :param language_code: the template's language (default "en"). Templated.
    :param body_placeholders: the template's {{1}}, {{2}}, ... values. Templated.
    :param from_number: the sender; default the connection's ``from_number`` extra. Templated.
    :param lipachat_conn_id: the ``lipachat`` connection to send through. Templated.
    :param preflight: check a media link against WhatsApp's media rules once before any send. Templated.
    :param media_url_expiry: seconds (or a timedelta) a signed storage link stays valid; at most seven days.
    :param context: what a deadline alert's callback receives; Airflow passes it, a DAG file never does.
    :param check_numbering_plan: default True: each recipient must be a number that can exist in its
        country's numbering plan; False notifies a number the installed plan does not know yet (a new range).
    """

    template_fields: Sequence[str] = (
        "to",
        "message",
        "media_url",
        "media_type",
        "caption",
        "template_name",
        "language_code",
        "body_placeholders",
        "from_number",
        "lipachat_conn_id",
        "preflight",
    )

    def __init__(
        self,
        *,
        to: str | int | Iterable[Any],
        message: str | None = None,
        media_url: str | ObjectStoragePath | None = None,
        media_type: str | None = None,
        caption: str | None = None,
        template_name: str | None = None,
        language_code: str = "en",
        body_placeholders: Sequence[str] | str | None = None,
        from_number: str | None = None,
        lipachat_conn_id: str = "lipachat_default",
        preflight: bool | str = True,
        media_url_expiry: float | datetime.timedelta = DEFAULT_MEDIA_URL_EXPIRY,
        context: DeadlineContext | None = None,
        check_numbering_plan: bool = True,
    ) -> None:
        # Airflow 3.1+ keeps a deadline alert's context on the notifier for awaiting it; earlier
        # releases' BaseNotifier takes no argument (and have no deadline alerts to pass one).
        super().__init__(**({"context": cast("Context", context)} if context is not None else {}))
        self.preflight = preflight
        self.media_url_expiry = parse_expiry(media_url_expiry)
        self.to = to
        check_literal_recipients(self.to)  # a literal list, no template in it: no rendering can change it
        self.message = message
        self.media_url = media_url
        self.media_type = media_type
        self.caption = caption
        self.template_name = template_name
        self.language_code = language_code
        self.body_placeholders = body_placeholders
        self.from_number = from_number
        self.lipachat_conn_id = lipachat_conn_id
        if not isinstance(check_numbering_plan, bool):
            raise LipaChatValidationError("check_numbering_plan", check_numbering_plan, "expected True or False")
        self.check_numbering_plan = check_numbering_plan

    def get_template_env(self, dag: Any = None) -> jinja2.Environment:
        # dag.test() hands DAG-level callbacks a SerializedDAG, which cannot build a Jinja
        # environment; Airflow's plain sandboxed one renders the callback instead of failing it.
        if dag is not None and not hasattr(dag, "get_template_env"):
            dag = None
        return super().get_template_env(dag=dag)

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        """Render the fields as Airflow does, with ``to`` first made a plain list if it is an array or Series.

        Before Airflow 3.3 a notifier's rendering tests each field's truth, which an array of several
        values refuses with a ValueError: no one would be notified.

        A deadline alert's context is first read into one shape on every release (``DeadlineContext``).

        :param context: the callback's context.
        :param jinja_env: the Jinja environment to render with, else the DAG's.
        """
        normalize_deadline_context(cast("MutableMapping[str, Any]", context))
        self.to = array_as_list(self.to)
        super().render_template_fields(self._with_hitl_link(context), jinja_env)

    def _with_hitl_link(self, context: Context) -> Context:
        """The context, with ``hitl_link`` when a human-in-the-loop operator calls this notifier (Airflow 3.1+).

        ``hitl_link`` is the task's required-actions page (``HITLOperator.generate_link_to_ui_from_context``),
        for the message to carry: ``message="Please answer: {{ hitl_link }}"``. It needs ``[api] base_url``;
        without it the link is left out with a warning and a template using it renders it empty.
        """
        task = context.get("task")
        make_link = getattr(type(task), "generate_link_to_ui_from_context", None)
        if not callable(make_link):
            return context
        try:
            link = make_link(context=context)
        except ValueError as err:
            self.log.warning("No required-actions link for the message: %s (set [api] base_url)", err)
            return context
        return {**context, "hitl_link": link}  # type: ignore[typeddict-unknown-key]

    def notify(self, context: Context) -> None:
        """Send to every valid recipient; then, if any was refused or not sent to, fail naming each (masked) and why."""
        self._notify(context, None)

    def _notify(self, context: Context, hook: LipaChatHook | None) -> None:
        """What ``notify`` does, through ``hook`` when one was made (and its connection read) already."""
        from airflow_provider_lipachat.utils.fanout import failure_summary

        self._check_one_kind()
        if hook is None:
            from airflow_provider_lipachat.hooks.lipachat import LipaChatHook

            hook = LipaChatHook(lipachat_conn_id=self.lipachat_conn_id)
        found = read_recipients(self.to, plan=hook.settings.numbering_plan(self.check_numbering_plan))
        recipients = found.valid
        failed: dict[str, Exception] = dict(found.refused)
        for value, refusal in found.refused.items():
            self.log.error("Not notified %s: %s: %s", mask_phone(value), type(refusal).__name__, refusal)
        if not recipients and not failed:
            self.log.warning("Nobody to notify: 'to' is an empty list, so nothing was sent")
            return
        if recipients:
            self._send_to_each(recipients, failed, context, hook)
        if failed:
            raise LipaChatFanOutError(
                f"{len(failed)} of {len(recipients) + len(found.refused)} recipient(s) not notified: "
                + failure_summary(failed, separator="; "),
                failed,
            )

    def _send_to_each(
        self, recipients: list[str], failed: dict[str, Exception], context: Context, hook: LipaChatHook
    ) -> None:
        """Send to each valid recipient, logging each outcome; what failed is added to ``failed``."""
        try:
            message: Message | LipaChatError = self._build_message(hook, recipients[0])
        except LipaChatError as err:
            if self.media_url:
                raise  # a media link is checked once, before any send: its problem fails the callback
            message = err  # text and templates: each recipient is told it, as when each was sent alone
        content = repr((self.message, self.media_url, self.caption, self.template_name, self.body_placeholders))
        for recipient in recipients:
            try:
                if isinstance(message, LipaChatError):
                    raise message
                wa_id = hook.send(message.addressed(recipient, callback_message_id(context, recipient, content))).wa_id
            except LipaChatError as err:
                failed[recipient] = err
                self.log.error("Not notified %s: %s: %s", mask_phone(recipient), type(err).__name__, err)
                continue
            self.log.info("Notified %s: waId %s", mask_phone(recipient), wa_id)

    def _build_message(self, hook: LipaChatHook, recipient: str) -> Message:
        """The one message every recipient gets a copy of, checked once; a media link is signed and preflighted."""
        if self.message:
            return hook.text_message(recipient, self.message, self.from_number)
        if self.media_url:
            from airflow_provider_lipachat.media.source import MediaSource

            source = MediaSource(
                "media_url", self.media_url, self.media_type, None, self.media_url_expiry, self.preflight
            )
            link = source.resolve(self.log)
            media = hook.media_message(recipient, link.url, link.media_type, self.caption, from_number=self.from_number)
            source.check(media.media_url, str(media.media_type), self.log)
            return media
        return hook.template_message(
            recipient,
            template_name=str(self.template_name),
            language_code=self.language_code,
            body_placeholders=self.body_placeholders or (),
            from_number=self.from_number,
        )

    def _check_one_kind(self) -> None:
        """Exactly one of text, media or template, judged on the rendered values (empty counts as absent)."""
        given = {"message": self.message, "media_url": self.media_url, "template_name": self.template_name}
        kinds = [name for name, value in given.items() if value not in (None, "")]
        if len(kinds) != 1:
            raise LipaChatValidationError(
                "message/media_url/template_name",
                kinds or None,
                "expected exactly one of them after rendering: text, media, or an approved template",
            )

    async def async_notify(self, context: Context) -> None:
        """Send as ``notify`` does, without blocking the event loop: the way the triggerer runs a deadline alert.

        The connection is read through Airflow's async API; the sends (blocking HTTP with retries)
        run in a worker thread from which Airflow's synchronous calls still reach the triggerer.

        :param context: the callback's context (for a deadline alert, a ``DeadlineContext``).
        """
        from asgiref.sync import sync_to_async

        hook = await self._hook_with_connection_read()
        await sync_to_async(self._notify, thread_sensitive=False)(context, hook)

    async def _hook_with_connection_read(self) -> LipaChatHook:
        """A hook whose connection was read without blocking the event loop (left to the hook when not found)."""
        from airflow_provider_lipachat.hooks.lipachat import LipaChatHook

        hook = LipaChatHook(lipachat_conn_id=self.lipachat_conn_id)
        with contextlib.suppress(AirflowNotFoundException):  # read again in the send thread: the hook explains it
            await hook.asettings()
        return hook


send_lipachat_notification = LipaChatNotifier
