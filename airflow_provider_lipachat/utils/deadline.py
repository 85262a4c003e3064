"""What a deadline alert's callback receives (Airflow 3.1+), typed, and read the same way on every release.

When a DAG run misses a ``DeadlineAlert``, the scheduler hands its callback a small context of two
entries, not a task instance's: ``dag_run``, the DAG run as the REST API returns it (JSON values:
``dag_id``, ``dag_run_id``, ``state``, dates as ISO 8601 text, ...), and ``deadline``, the missed
deadline's ``id`` and ``deadline_time``. A ``DeadlineAlert`` callback (``AsyncCallback`` in the
triggerer, ``SyncCallback`` through the executor from 3.3) gets it as its ``context`` keyword.

Releases differ in the details (3.1 and 3.2 build it with the deadline id as a UUID, 3.3 as text; the time
arrives as a datetime, or as text where the context went through JSON), so this module reads
it into one shape. No Airflow imports.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, MutableMapping
from typing import Any, TypedDict


class _DagRunPayload(TypedDict):
    """The keys every release with deadline alerts (3.1+) puts in the DAG run's payload."""

    dag_id: str
    dag_run_id: str
    dag_display_name: str
    state: str
    run_type: str
    logical_date: str | None
    queued_at: str | None
    start_date: str | None
    end_date: str | None
    run_after: str
    data_interval_start: str | None
    data_interval_end: str | None
    duration: float | None
    conf: dict[str, Any] | None
    note: str | None
    triggered_by: str | None
    triggering_user_name: str | None
    bundle_version: str | None
    last_scheduling_decision: str | None
    dag_versions: list[dict[str, Any]]


class DeadlineDagRun(_DagRunPayload, total=False):
    """The DAG run that missed its deadline, as Airflow's REST API returns a DAG run (JSON values).

    ``run_id`` is not in Airflow's payload (which names it ``dag_run_id``); the notifier adds it so a
    template written for task callbacks (``{{ dag_run.run_id }}``) renders here too.
    """

    run_id: str
    partition_key: str | None  # 3.2+
    partition_date: str | None  # 3.3+


class MissedDeadline(TypedDict):
    """The deadline that was missed: its row's id (text) and the time it fell due (an aware UTC datetime)."""

    id: str
    deadline_time: datetime.datetime


class DeadlineContext(TypedDict):
    """The whole context a deadline alert's callback receives (``context=`` keyword of the callback)."""

    dag_run: DeadlineDagRun
    deadline: MissedDeadline


def is_deadline_context(context: Mapping[str, Any]) -> bool:
    """True for a deadline alert's context: a ``deadline`` entry with its time and a ``dag_run`` mapping."""
    deadline = context.get("deadline")
    return isinstance(deadline, Mapping) and "deadline_time" in deadline and isinstance(context.get("dag_run"), Mapping)


def as_utc_datetime(value: object) -> datetime.datetime:
    """A deadline time as an aware UTC datetime, whether it came as a datetime or as ISO 8601 text."""
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, str):
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        raise TypeError(f"deadline_time={value!r}: expected a datetime or ISO 8601 text")
    if moment.tzinfo is None:  # Airflow keeps UTC throughout
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def normalize_deadline_context(context: MutableMapping[str, Any]) -> None:
    """Read a deadline alert's context, in place, into the shape ``DeadlineContext`` describes.

    The deadline's id becomes text and its time an aware UTC datetime (so ``{{ deadline.deadline_time
    .strftime('%H:%M') }}`` works on every release); the run gains ``run_id``, a copy of ``dag_run_id``.
    Anything else is left as Airflow gave it. A context of another kind is not touched.
    """
    if not is_deadline_context(context):
        return
    deadline = dict(context["deadline"])
    deadline["id"] = str(deadline.get("id", ""))
    deadline["deadline_time"] = as_utc_datetime(deadline["deadline_time"])
    context["deadline"] = deadline
    dag_run = dict(context["dag_run"])
    if "dag_run_id" in dag_run:
        dag_run.setdefault("run_id", dag_run["dag_run_id"])
    context["dag_run"] = dag_run


def deadline_event(context: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """``(dag_id, run_id, deadline time in ISO 8601 UTC)`` of a deadline alert's context, else None.

    The same missed deadline gives the same three on every try of its callback; another run, or
    another deadline of the same run, gives others.
    """
    if not is_deadline_context(context):
        return None
    run = context["dag_run"]
    run_id = run.get("dag_run_id") or run.get("run_id")
    moment = as_utc_datetime(context["deadline"]["deadline_time"])
    return str(run.get("dag_id")), str(run_id), moment.isoformat()
