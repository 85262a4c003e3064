"""SendWhatsAppMediaOperator: send one media message from a DAG, exactly once per task instance.

DAG files import this module, so it stays cheap: the hook (and with it ``requests``) is
imported inside ``execute``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_lipachat.compat import AirflowFailException, BaseOperator
from airflow_provider_lipachat.exceptions import LipaChatError
from airflow_provider_lipachat.messages import mask_phone, normalize_phone

if TYPE_CHECKING:
    from airflow.sdk import Context

MESSAGE_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://gateway.lipachat.com/airflow-provider-lipachat")
STATE_KEY_PREFIX = "lipachat_sent:"


def default_message_id(dag_id: str, task_id: str, run_id: str, map_index: int, recipient: str) -> str:
    """UUID5 of the task instance and recipient: the same on every try, different per run and recipient."""
    name = "\x1f".join((dag_id, task_id, run_id, str(map_index), recipient))
    return str(uuid.uuid5(MESSAGE_ID_NAMESPACE, name))


class SendWhatsAppMediaOperator(BaseOperator):
    """Send an image, video, audio clip, document or sticker to one WhatsApp number.

    Every argument is templated. The message id defaults to a UUID5 of (dag_id, task_id,
    run_id, map_index, recipient), so Airflow retries and cleared tasks re-send the same id
    and the gateway delivers once. Returns the gateway's ``waId``; pushes ``message_id``.
    Permanent failures (bad input, bad key, closed 24-hour window, rejected request) fail the
    task without using its retries; transient ones are raised for Airflow to retry.
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
        to: str,
        media_url: str,
        media_type: str | None = None,
        caption: str | None = None,
        filename: str | None = None,
        from_number: str | None = None,
        message_id: str | None = None,
        lipachat_conn_id: str = "lipachat_default",
        max_retries: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.media_url = media_url
        self.media_type = media_type
        self.caption = caption
        self.filename = filename
        self.from_number = from_number
        self.message_id = message_id
        self.lipachat_conn_id = lipachat_conn_id
        self.max_retries = max_retries

    def execute(self, context: Context) -> str:
        from airflow_provider_lipachat.hooks.lipachat import LipaChatHook

        try:
            recipient = normalize_phone(self.to, "to")
        except LipaChatError as err:
            raise AirflowFailException(str(err)) from err
        ti = context["ti"]
        message_id = self.message_id or default_message_id(
            ti.dag_id, ti.task_id, ti.run_id, ti.map_index if ti.map_index is not None else -1, recipient
        )
        # Airflow >= 3.3 keeps a per-task-instance store across tries; earlier releases rely on dedup alone.
        state_store = context.get("task_state_store")
        state_key = STATE_KEY_PREFIX + message_id
        recorded = state_store.get(state_key) if state_store is not None else None
        if recorded:
            self.log.info(
                "Already delivered to %s on an earlier try (message id %s, waId %s); not sending again",
                mask_phone(recipient),
                message_id,
                recorded,
            )
            ti.xcom_push(key="message_id", value=message_id)
            return str(recorded)

        hook = LipaChatHook(lipachat_conn_id=self.lipachat_conn_id, max_retries=self.max_retries)
        try:
            result = hook.send_media(
                to=recipient,
                media_url=self.media_url,
                media_type=self.media_type,
                caption=self.caption,
                filename=self.filename,
                from_number=self.from_number,
                message_id=message_id,
            )
        except LipaChatError as err:
            if err.retryable:
                raise
            raise AirflowFailException(f"not sent to {mask_phone(recipient)}: {err}") from err
        if state_store is not None:
            state_store.set(state_key, result.wa_id)
        ti.xcom_push(key="message_id", value=result.message_id)
        self.log.info("Delivered to %s: message id %s, waId %s", mask_phone(recipient), result.message_id, result.wa_id)
        return result.wa_id
