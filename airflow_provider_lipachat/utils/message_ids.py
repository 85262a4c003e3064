"""Stable message ids: what makes a retry, a re-run or a callback send the same message only once.

Shared by the operators and the notifier; no Airflow imports.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

MESSAGE_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://gateway.lipachat.com/airflow-provider-lipachat")


def _uuid5(*parts: str) -> str:
    return str(uuid.uuid5(MESSAGE_ID_NAMESPACE, "\x1f".join(parts)))


def default_message_id(
    dag_id: str, task_id: str, run_id: str, map_index: int, recipient: str, *, key: str | None = None
) -> str:
    """UUID5 of the task instance and recipient: the same on every try, different per run and recipient.

    A user's idempotency ``key`` (such as the logical date) takes the run's place, so every run
    with that key names the same messages; it is prefixed so no key can equal a run id.
    """
    return _uuid5(dag_id, task_id, run_id if key is None else f"key:{key}", str(map_index), recipient)


def derived_message_id(message_id: str, purpose: str) -> str:
    """A second stable id tied to a first one, e.g. for the template sent when media could not be."""
    return _uuid5(message_id, purpose)


def callback_message_id(context: Mapping[str, Any], recipient: str, content: str) -> str:
    """Stable for one callback of one task try (or one DAG run) and one recipient and content.

    A callback that runs again for the same event re-sends the same id, which the gateway
    deduplicates; a new try, a new run or different content is a new message.
    """
    ti = context.get("ti") or context.get("task_instance")
    run = context.get("dag_run")
    event: tuple[str, ...]
    if ti is not None:
        event = (ti.dag_id, ti.run_id, ti.task_id, str(ti.map_index), str(ti.try_number))
    elif run is not None:
        event = (run.dag_id, run.run_id, "dag", str(run.state))
    else:
        event = ("no-context",)
    digest = hashlib.sha256(content.encode()).hexdigest()[:16]
    return _uuid5(*event, recipient, digest)
