"""Which inbound requests a run answers: its own events, and the asset's recent events no other run of its DAG took.

The context is built as Airflow 3's task SDK gives it: ``triggering_asset_events`` keyed by the asset, and
``inlet_events[asset]`` either a list of every event (3.0, 3.1) or an accessor the API server filters (3.2+).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.utils.inbound_requests import DEFAULT_LOOK_BACK, requests_to_answer
from airflow_provider_lipachat.utils.message_ids import reply_message_id

ASSET = "whatsapp_report_requests"
DAG_ID, RUN_ID = "lipachat_report_on_request", "asset_triggered__2024-05-01T10:00:00"
QUEUED = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
MANAGER, OTHER_MANAGER = "254711000001", "254711000002"


def run(run_id: str = RUN_ID, state: str = "running", dag_id: str = DAG_ID) -> SimpleNamespace:
    return SimpleNamespace(dag_id=dag_id, run_id=run_id, state=state)


def event(wa_id: str, sender: str, seconds: float, *taken_by: SimpleNamespace) -> SimpleNamespace:
    """An asset event the inbound trigger fired ``seconds`` after the run was queued (negative: before)."""
    payload = {"sender": sender, "text": "report", "wa_id": wa_id, "button_id": None, "received_at": "..."}
    return SimpleNamespace(
        timestamp=QUEUED + timedelta(seconds=seconds),
        extra={"from_trigger": True, "payload": payload},
        created_dagruns=list(taken_by),
    )


class ApiAccessor:
    """Airflow 3.2+'s ``inlet_events[asset]``: the API server filters by time and limits; the calls are recorded."""

    def __init__(self, events: list[SimpleNamespace]) -> None:
        self.events = events
        self.asked: dict[str, Any] = {}

    def after(self, after: str) -> ApiAccessor:
        self.asked["after"] = after
        return self

    def ascending(self, ascending: bool = True) -> ApiAccessor:
        self.asked["ascending"] = ascending
        return self

    def limit(self, limit: int) -> ApiAccessor:
        self.asked["limit"] = limit
        return self

    def __iter__(self) -> Any:
        since = datetime.fromisoformat(self.asked["after"])
        chosen = sorted((e for e in self.events if e.timestamp >= since), key=lambda e: e.timestamp)
        return iter(list(reversed(chosen))[: self.asked["limit"]])


def context(own: list[SimpleNamespace], inlet: Any) -> dict[str, Any]:
    return {
        "dag_run": SimpleNamespace(dag_id=DAG_ID, run_id=RUN_ID, run_after=QUEUED),
        "triggering_asset_events": {ASSET: own} if own else {},
        "inlet_events": {ASSET: inlet},
    }


def wa_ids(requests: list[dict[str, Any]]) -> list[str]:
    return [r["wa_id"] for r in requests]


@pytest.mark.parametrize("airflow", ["3.0 and 3.1", "3.2+"])
def test_a_run_answers_its_own_requests_and_those_stored_since_that_no_run_took(airflow: str) -> None:
    mine = [event("wa-1", MANAGER, -2, run()), event("wa-2", OTHER_MANAGER, -1, run())]
    left_behind = event("wa-3", OTHER_MANAGER, 0.2)  # stored while this run was being created: no run took it
    later = event("wa-4", MANAGER, 30)
    every_event = [*mine, left_behind, later]
    inlet = every_event if airflow == "3.0 and 3.1" else ApiAccessor(every_event)

    requests = requests_to_answer(context(mine, inlet), ASSET)

    assert wa_ids(requests) == ["wa-1", "wa-2", "wa-3", "wa-4"]  # oldest first, each once
    assert [r["sender"] for r in requests] == [MANAGER, OTHER_MANAGER, OTHER_MANAGER, MANAGER]


def test_a_request_another_run_took_is_left_to_it_unless_that_run_failed() -> None:
    mine = [event("wa-1", MANAGER, -1, run())]
    other_events = [
        event("wa-2", MANAGER, 5, run("asset_triggered__later")),  # the next run answers it
        event("wa-3", MANAGER, -600, run("asset_triggered__earlier", state="failed")),  # nobody answered it
        event("wa-4", MANAGER, 6, run("other", dag_id="another_dag")),  # another DAG's run answers nothing here
    ]

    requests = requests_to_answer(context(mine, [*mine, *other_events]), ASSET)

    assert wa_ids(requests) == ["wa-3", "wa-1", "wa-4"]


def test_the_read_is_bounded_by_time_before_the_run_and_by_count() -> None:
    too_old = event("wa-old", MANAGER, -DEFAULT_LOOK_BACK.total_seconds() - 1)
    recent = [event(f"wa-{n}", MANAGER, n) for n in range(5)]
    api = ApiAccessor([too_old, *recent])

    requests = requests_to_answer(context([], api), ASSET, max_events=3)

    assert api.asked == {"after": (QUEUED - DEFAULT_LOOK_BACK).isoformat(), "ascending": False, "limit": 3}
    assert wa_ids(requests) == ["wa-2", "wa-3", "wa-4"]  # the newest three, oldest first
    as_a_list = requests_to_answer(context([], [too_old, *recent]), ASSET, max_events=3)  # Airflow 3.0 and 3.1
    assert wa_ids(as_a_list) == ["wa-2", "wa-3", "wa-4"]


def test_a_run_s_own_request_is_answered_however_old() -> None:
    # The scheduler was down for a day: the run's own event is older than the look-back, and still its to answer.
    mine = [event("wa-1", MANAGER, -86_400, run())]
    assert wa_ids(requests_to_answer(context(mine, mine), ASSET)) == ["wa-1"]


def test_events_that_are_not_the_inbound_trigger_s_are_skipped() -> None:
    posted = SimpleNamespace(timestamp=QUEUED, extra={"note": "posted through the REST API"}, created_dagruns=[])
    empty = SimpleNamespace(timestamp=QUEUED, extra=None, created_dagruns=[])
    assert requests_to_answer(context([], [posted, empty, event("wa-1", MANAGER, 1)]), ASSET) == [
        {"sender": MANAGER, "text": "report", "wa_id": "wa-1", "button_id": None, "received_at": "..."}
    ]


def test_a_task_without_the_asset_in_its_inlets_is_told_so() -> None:
    ctx = context([], [])
    ctx["inlet_events"] = {}
    with pytest.raises(LipaChatValidationError, match=r"^inlets=.*needs the asset in its inlets=\[\.\.\.\]"):
        requests_to_answer(ctx, ASSET)


@pytest.mark.parametrize(("argument", "value"), [("look_back", 3600), ("max_events", 0), ("max_events", True)])
def test_bad_bounds_are_refused_naming_the_argument(argument: str, value: Any) -> None:
    with pytest.raises(LipaChatValidationError, match=f"^{argument}="):
        requests_to_answer(context([], []), ASSET, **{argument: value})


def test_the_log_line_counts_the_requests_and_masks_the_numbers(caplog: pytest.LogCaptureFixture) -> None:
    mine = [event("wa-1", MANAGER, -1, run())]
    with caplog.at_level(logging.INFO, logger="airflow_provider_lipachat.utils.inbound_requests"):
        requests_to_answer(context(mine, [*mine, event("wa-2", OTHER_MANAGER, 1)]), ASSET)
    assert "2 request(s) to answer: 1 from this run's events, 1 stored since" in caplog.text
    assert "2547******01, 2547******02" in caplog.text
    assert MANAGER not in caplog.text and OTHER_MANAGER not in caplog.text


def test_a_reply_id_is_the_same_for_every_run_and_its_own_per_request_and_purpose() -> None:
    first = reply_message_id("wamid.1", "report")
    assert first == reply_message_id("wamid.1", "report")
    assert len({first, reply_message_id("wamid.2", "report"), reply_message_id("wamid.1", "receipt")}) == 3
    with pytest.raises(LipaChatValidationError, match="^request_wa_id="):
        reply_message_id("", "report")
    with pytest.raises(LipaChatValidationError, match="^purpose="):
        reply_message_id("wamid.1", " ")
