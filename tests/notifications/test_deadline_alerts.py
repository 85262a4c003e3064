"""LipaChatNotifier as a deadline alert's callback, through the code Airflow itself runs it with.

A deadline alert's context has no task instance: ``dag_run`` (the REST API's payload) and
``deadline``. The triggerer (``AsyncCallback``; 3.1's ``DeadlineCallbackTrigger``, 3.2+'s
``CallbackTrigger``) and the executor (``SyncCallback``, 3.2+) build the notifier from the alert's
kwargs plus that context, then await or call it. The same run under a real scheduler and triggerer
is in tests/e2e/test_deadline_alerts.py.
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import uuid
from typing import Any

import pytest

from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.notifications.lipachat import LipaChatNotifier
from airflow_provider_lipachat.utils.deadline import deadline_event, normalize_deadline_context
from airflow_provider_lipachat.utils.message_ids import callback_message_id
from tests.support import AIRFLOW_RELEASE

NOTIFIER_PATH = f"{LipaChatNotifier.__module__}.{LipaChatNotifier.__qualname__}"
DUE = datetime.datetime(2026, 12, 3, 6, 30, tzinfo=datetime.UTC)
TEXT = "{{ dag_run.dag_id }} run {{ dag_run.run_id }} missed {{ deadline.deadline_time.strftime('%H:%M') }} UTC"
KWARGS = {"to": "254711222333", "message": TEXT}

needs_deadline_alerts = pytest.mark.skipif(AIRFLOW_RELEASE < (3, 1), reason="deadline alerts came with Airflow 3.1")
needs_sync_callbacks = pytest.mark.skipif(
    AIRFLOW_RELEASE < (3, 2), reason="the executor runs SyncCallback from Airflow 3.2 (3.1 refuses it)"
)


def deadline_context(deadline_time: object = DUE, run_id: str = "scheduled__2026-12-03T06:00:00+00:00") -> Any:
    """What the scheduler puts in a deadline callback's kwargs (``Deadline.handle_miss``), abridged."""
    return {
        "dag_run": {
            "dag_run_id": run_id,
            "dag_id": "morning_report",
            "dag_display_name": "morning_report",
            "logical_date": "2026-12-03T06:00:00Z",
            "queued_at": "2026-12-03T06:00:01.250000Z",
            "start_date": "2026-12-03T06:00:02.500000Z",
            "end_date": None,
            "state": "running",
            "run_type": "scheduled",
            "conf": {},
        },
        "deadline": {"id": uuid.UUID("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"), "deadline_time": deadline_time},
    }


EXPECTED = "morning_report run scheduled__2026-12-03T06:00:00+00:00 missed 06:30 UTC"


def run_trigger(trigger: Any) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def state_of(event: dict[str, Any]) -> str:
    """An event's callback state: an enum of str (3.1's ``DeadlineCallbackState``, 3.2+'s ``CallbackState``)."""
    return str(getattr(event["state"], "value", event["state"]))


def callback_trigger(kwargs: dict[str, Any]) -> Any:
    """The trigger the scheduler creates for an ``AsyncCallback`` of a missed deadline."""
    if AIRFLOW_RELEASE < (3, 2):
        from airflow.triggers.deadline import DeadlineCallbackTrigger  # type: ignore[import-not-found]

        return DeadlineCallbackTrigger(callback_path=NOTIFIER_PATH, callback_kwargs=kwargs)
    from airflow.triggers.callback import CallbackTrigger

    return CallbackTrigger(callback_path=NOTIFIER_PATH, callback_kwargs=kwargs)


def test_the_notifier_takes_the_context_airflow_passes_a_deadline_callback() -> None:
    """Airflow passes ``context=`` only to a callable whose signature names it (3.2+); 3.1 always passes it."""
    assert "context" in inspect.signature(LipaChatNotifier).parameters


@needs_deadline_alerts
def test_in_the_triggerer_the_alert_renders_from_the_deadline_and_sends_once(
    lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    events = run_trigger(callback_trigger({**KWARGS, "context": deadline_context()}))
    assert state_of(events[-1]) == "success", events
    [delivery] = lipachat_emulator.deliveries()
    assert delivery["payload"]["message"] == EXPECTED
    # The same missed deadline once more (a triggerer restarted mid-callback): the same message id.
    run_trigger(callback_trigger({**KWARGS, "context": deadline_context()}))
    assert [r["outcome"] for r in lipachat_emulator.requests()] == ["delivered", "replayed"]


@needs_deadline_alerts
def test_a_failed_send_fails_the_callback(lipachat_emulator: Emulator, lipachat_conn: str) -> None:
    events = run_trigger(callback_trigger({**KWARGS, "to": "0711222333", "context": deadline_context()}))
    assert state_of(events[-1]) == "failed", events
    assert "looks like a national number" in str(events[-1]["body"])
    assert lipachat_emulator.requests() == []


@needs_sync_callbacks
def test_through_the_executor_a_sync_callback_renders_and_sends_once(
    lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    import structlog

    log = structlog.get_logger()

    def run_callback() -> tuple[bool, str | None]:
        kwargs = {**KWARGS, "context": deadline_context()}
        if AIRFLOW_RELEASE < (3, 3):
            from airflow.executors.workloads.callback import CallbackDTO, execute_callback_workload

            data = {"path": NOTIFIER_PATH, "kwargs": kwargs}
            dto = CallbackDTO(id=str(uuid.uuid4()), fetch_method="import_path", data=data)
            return execute_callback_workload(dto, log)
        from airflow.sdk.execution_time.callback_supervisor import execute_callback

        return execute_callback(NOTIFIER_PATH, kwargs, "", None, log)

    assert run_callback() == (True, None)
    assert run_callback() == (True, None)
    assert [d["payload"]["message"] for d in lipachat_emulator.deliveries()] == [EXPECTED]
    assert [r["outcome"] for r in lipachat_emulator.requests()] == ["delivered", "replayed"]


@needs_deadline_alerts
def test_awaiting_the_notifier_built_with_the_context_sends(lipachat_emulator: Emulator, lipachat_conn: str) -> None:
    """What both triggers do in the end: ``await LipaChatNotifier(**kwargs, context=context)``."""

    async def alert() -> None:
        await LipaChatNotifier(**KWARGS, context=deadline_context())

    asyncio.run(alert())
    assert [d["payload"]["message"] for d in lipachat_emulator.deliveries()] == [EXPECTED]


@pytest.mark.parametrize("deadline_time", [DUE, "2026-12-03T06:30:00+00:00", "2026-12-03T06:30:00Z"])
def test_the_deadline_time_reads_the_same_as_a_datetime_or_as_text(deadline_time: object) -> None:
    context = deadline_context(deadline_time)
    assert deadline_event(context) == (
        "morning_report",
        "scheduled__2026-12-03T06:00:00+00:00",
        "2026-12-03T06:30:00+00:00",
    )
    assert callback_message_id(context, "254711222333", "x") == callback_message_id(
        deadline_context(), "254711222333", "x"
    )
    normalize_deadline_context(context)
    assert context["deadline"]["deadline_time"] == DUE
    assert context["deadline"]["id"] == "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    assert context["dag_run"]["run_id"] == context["dag_run"]["dag_run_id"]


def test_another_deadline_or_run_is_another_message_id() -> None:
    one = callback_message_id(deadline_context(), "254711222333", "x")
    assert one == callback_message_id(deadline_context(), "254711222333", "x")
    assert one != callback_message_id(deadline_context(DUE + datetime.timedelta(hours=1)), "254711222333", "x")
    assert one != callback_message_id(deadline_context(run_id="manual__1"), "254711222333", "x")
    assert one != callback_message_id(deadline_context(), "254711222444", "x")


def test_a_task_callback_s_context_is_left_alone() -> None:
    context: dict[str, Any] = {"dag_run": object(), "ti": object()}
    normalize_deadline_context(context)
    assert deadline_event(context) is None
    assert set(context) == {"dag_run", "ti"}
