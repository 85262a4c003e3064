"""Stable message ids: what makes a retry, a re-run or a callback send the same message only once.

Shared by the operators and the notifier; no Airflow imports.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.gateway.messages import QUESTION_TOKEN_LENGTH
from airflow_provider_lipachat.utils.deadline import deadline_event

MESSAGE_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://gateway.lipachat.com/airflow-provider-lipachat")


def _uuid5(*parts: str) -> str:
    return str(uuid.uuid5(MESSAGE_ID_NAMESPACE, "\x1f".join(parts)))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def content_fingerprint(content: Sequence[object]) -> str:
    """A short digest of a message's content (text, None, numbers and lists of them), equal for equal content."""
    return _digest(json.dumps(list(content), ensure_ascii=False, default=str))


def default_message_id(
    dag_id: str,
    task_id: str,
    run_id: str,
    map_index: int,
    recipient: str,
    *,
    key: str | None = None,
    content: Sequence[object] | None = None,
) -> str:
    """UUID5 of the task instance and recipient: the same on every try, different per run and recipient.

    A user's idempotency ``key`` (such as the logical date) takes the run's place, so every run
    with that key names the same messages; it is prefixed so no key can equal a run id.
    ``content`` (what the recipient sees, for ``resend_if_changed``; links without their query
    string, which a signature changes on every try) adds its fingerprint: the same content keeps
    the id, changed content makes a new one. Without it the id is what it always was.
    """
    place = run_id if key is None else f"key:{key}"
    if content is None:
        return _uuid5(dag_id, task_id, place, str(map_index), recipient)
    return _uuid5(dag_id, task_id, place, str(map_index), recipient, f"content:{content_fingerprint(content)}")


def question_token(question_id: str) -> str:
    """The token a question's buttons are sent with (``gateway.messages.tag_button_id``), from the question's id.

    ``question_id`` names the question whatever its recipient: a send task's ``default_message_id`` with
    an empty recipient, or the ``message_id`` given. A press carrying it answers that question only.
    """
    digest = hashlib.sha256(f"question\x1f{question_id}".encode()).digest()
    return base64.b32encode(digest).decode().lower()[:QUESTION_TOKEN_LENGTH]


def derived_message_id(message_id: str, purpose: str) -> str:
    """A second stable id tied to a first one, e.g. for the template sent when media could not be."""
    return _uuid5(message_id, purpose)


def reply_message_id(request_wa_id: str, purpose: str) -> str:
    """The id of the reply to one inbound message (its ``wa_id``): every run that answers it sends that one message.

    ``purpose`` names the reply (such as ``"report"``): two different replies to one message need two purposes.
    """
    if not isinstance(request_wa_id, str) or not request_wa_id.strip():
        raise LipaChatValidationError("request_wa_id", request_wa_id, "expected the inbound message's wa_id, a text")
    if not isinstance(purpose, str) or not purpose.strip():
        raise LipaChatValidationError("purpose", purpose, "expected a text naming the reply, such as 'report'")
    return _uuid5("reply", request_wa_id, purpose)


def callback_message_id(context: Mapping[str, Any], recipient: str, content: str) -> str:
    """Stable for one callback of one task try (or one DAG run, or one missed deadline) and one recipient and content.

    A callback that runs again for the same event re-sends the same id, which the gateway
    deduplicates; a new try, a new run or different content is a new message. A deadline alert's
    context has no task instance: its event is the run and the deadline's time.
    """
    ti = context.get("ti") or context.get("task_instance")
    run = context.get("dag_run")
    deadline = deadline_event(context)
    event: tuple[str, ...]
    if deadline is not None:
        dag_id, run_id, deadline_time = deadline
        event = (dag_id, run_id, "deadline", deadline_time)
    elif ti is not None:
        event = (ti.dag_id, ti.run_id, ti.task_id, str(ti.map_index), str(ti.try_number))
    elif run is not None:
        event = (run.dag_id, run.run_id, "dag", str(run.state))
    else:
        event = ("no-context",)
    return _uuid5(*event, recipient, _digest(content))
