"""SendWhatsAppMediaOperator: send media from a DAG to one or many recipients, exactly once each.

DAG files import this module, so it stays cheap: the hook (and with it ``requests``) is
imported inside ``execute``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow_provider_lipachat.compat import AirflowFailException, BaseOperator
from airflow_provider_lipachat.exceptions import LipaChatError, LipaChatFanOutError, LipaChatValidationError
from airflow_provider_lipachat.messages import mask_phone, parse_recipients

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_lipachat.hooks.lipachat import LipaChatHook

MESSAGE_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://gateway.lipachat.com/airflow-provider-lipachat")
STATE_KEY = "lipachat_sent"
FAILURES_IN_MESSAGE = 20
MAX_CONCURRENCY_LIMIT = 64


def default_message_id(dag_id: str, task_id: str, run_id: str, map_index: int, recipient: str) -> str:
    """UUID5 of the task instance and recipient: the same on every try, different per run and recipient."""
    name = "\x1f".join((dag_id, task_id, run_id, str(map_index), recipient))
    return str(uuid.uuid5(MESSAGE_ID_NAMESPACE, name))


def raise_as_task_failure(err: LipaChatError, context: str = "") -> NoReturn:
    """Permanent errors fail the task without Airflow retries; transient ones are raised for Airflow to retry."""
    if err.retryable:
        raise err
    raise AirflowFailException(f"{context}: {err}" if context else str(err)) from err


class SendWhatsAppMediaOperator(BaseOperator):
    """Send an image, video, audio clip, document or sticker to one WhatsApp number or many.

    ``to`` is one number, a list, or a string of numbers separated by commas, newlines or
    spaces. Every message argument is templated. Each recipient's message id is a UUID5 of
    (dag_id, task_id, run_id, map_index, recipient), so retries and cleared tasks re-send the
    same id and the gateway delivers once. One recipient: returns its ``waId``. Several:
    returns ``{recipient: waId}``, sending ``max_concurrency`` at a time, at most ``rate_limit``
    per second; every recipient is attempted and the task fails afterwards listing the ones
    that failed. Permanent failures fail the task without using its retries.
    """

    template_fields: Sequence[str] = (
        "to",
        "media_url",
        "media_type",
        "caption",
        "filename",
        "from_number",
        "message_id",
        "lipachat_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"caption": "md"}
    ui_color = "#25D366"

    def __init__(
        self,
        *,
        to: str | list[str],
        media_url: str,
        media_type: str | None = None,
        caption: str | None = None,
        filename: str | None = None,
        from_number: str | None = None,
        message_id: str | None = None,
        lipachat_conn_id: str = "lipachat_default",
        max_retries: int | None = None,
        max_concurrency: int = 8,
        rate_limit: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 1 <= max_concurrency <= MAX_CONCURRENCY_LIMIT:
            raise LipaChatValidationError(
                "max_concurrency", max_concurrency, f"expected a whole number from 1 to {MAX_CONCURRENCY_LIMIT}"
            )
        self.to = to
        self.media_url = media_url
        self.media_type = media_type
        self.caption = caption
        self.filename = filename
        self.from_number = from_number
        self.message_id = message_id
        self.lipachat_conn_id = lipachat_conn_id
        self.max_retries = max_retries
        self.max_concurrency = max_concurrency
        self.rate_limit = rate_limit

    def execute(self, context: Context) -> str | dict[str, str]:
        from airflow_provider_lipachat.hooks.lipachat import LipaChatHook

        try:
            recipients, many = parse_recipients(self.to)
            if many and self.message_id:
                raise LipaChatValidationError(
                    "message_id", self.message_id, "applies to one recipient; leave it unset for a list of recipients"
                )
        except LipaChatError as err:
            raise_as_task_failure(err)
        ti = context["ti"]
        map_index = ti.map_index if ti.map_index is not None else -1

        def message_id_for(recipient: str) -> str:
            return self.message_id or default_message_id(ti.dag_id, ti.task_id, ti.run_id, map_index, recipient)

        # Airflow >= 3.3 keeps a per-task-instance store across tries; earlier releases rely on dedup alone.
        store = context.get("task_state_store")
        recorded: dict[str, str] = dict(store.get(STATE_KEY) or {}) if store is not None else {}
        hook = LipaChatHook(
            lipachat_conn_id=self.lipachat_conn_id,
            max_retries=self.max_retries,
            rate_limit=self.rate_limit,
            pool_size=self.max_concurrency,
        )

        def send_one(recipient: str) -> str:
            message_id = message_id_for(recipient)
            if message_id in recorded:
                return recorded[message_id]
            return hook.send_media(
                to=recipient,
                media_url=self.media_url,
                media_type=self.media_type,
                caption=self.caption,
                filename=self.filename,
                from_number=self.from_number,
                message_id=message_id,
            ).wa_id

        def remember(delivered: dict[str, str]) -> None:
            if store is not None:
                store.set(STATE_KEY, {**recorded, **{message_id_for(r): wa for r, wa in delivered.items()}})

        if many:
            return self._send_to_many(context, hook, recipients, send_one, message_id_for, remember)
        return self._send_to_one(context, recipients[0], send_one, message_id_for(recipients[0]), recorded, remember)

    def _send_to_one(
        self,
        context: Context,
        recipient: str,
        send_one: Callable[[str], str],
        message_id: str,
        recorded: dict[str, str],
        remember: Callable[[dict[str, str]], None],
    ) -> str:
        if message_id in recorded:
            self.log.info(
                "Already delivered to %s on an earlier try (message id %s, waId %s); not sending again",
                mask_phone(recipient),
                message_id,
                recorded[message_id],
            )
        try:
            wa_id = send_one(recipient)
        except LipaChatError as err:
            raise_as_task_failure(err, f"not sent to {mask_phone(recipient)}")
        remember({recipient: wa_id})
        context["ti"].xcom_push(key="message_id", value=message_id)
        self.log.info("Delivered to %s: message id %s, waId %s", mask_phone(recipient), message_id, wa_id)
        return wa_id

    def _send_to_many(
        self,
        context: Context,
        hook: LipaChatHook,
        recipients: list[str],
        send_one: Callable[[str], str],
        message_id_for: Callable[[str], str],
        remember: Callable[[dict[str, str]], None],
    ) -> dict[str, str]:
        from airflow_provider_lipachat.fanout import send_to_all

        try:  # the message itself is checked once, before any request
            hook.media_message(
                recipients[0], self.media_url, self.media_type, self.caption, self.filename, self.from_number
            )
        except LipaChatError as err:
            raise_as_task_failure(err)
        self.log.info(
            "Sending to %d recipient(s), %d at a time%s",
            len(recipients),
            self.max_concurrency,
            "" if hook.client.rate_limiter is None else f", at most {hook.client.rate_limiter.per_second}/s",
        )
        result = send_to_all(
            recipients,
            len(recipients),
            send_one,
            max_concurrency=self.max_concurrency,
            log=self.log,
            on_progress=remember,
        )
        remember(result.delivered)
        ti = context["ti"]
        ti.xcom_push(key="message_id", value={r: message_id_for(r) for r in recipients})
        if not result.failed:
            self.log.info("Delivered to all %d recipient(s)", len(result.delivered))
            return result.delivered
        ti.xcom_push(key="return_value", value=result.delivered)
        lines = [f"{mask_phone(r)}: {err}" for r, err in result.failed.items()]
        for line in lines:
            self.log.error("Not sent to %s", line)
        shown = "\n".join(lines[:FAILURES_IN_MESSAGE])
        more = len(lines) - FAILURES_IN_MESSAGE
        failure = LipaChatFanOutError(
            f"{len(result.failed)} of {len(recipients)} recipient(s) not sent to "
            f"({len(result.delivered)} delivered, pushed to XCom):\n{shown}"
            + (f"\n... and {more} more" if more > 0 else ""),
            result.failed,
        )
        raise_as_task_failure(failure)
