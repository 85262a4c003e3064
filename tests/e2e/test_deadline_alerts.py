"""End to end under a real scheduler and triggerer: a DAG run that misses its deadline alerts once, on time none.

The example DAG ``lipachat_deadline_alert`` runs as written but for its numbers: the alert after a few
seconds instead of 30 minutes, a run scheduled at once, and, for a late run, a report that takes 15 s.
The scheduler sees the deadline pass and hands ``LipaChatNotifier`` to the triggerer (``AsyncCallback``,
Airflow 3.1+) or to the executor (``SyncCallback``, 3.3; 3.2 accepts one but never runs it), which
renders the text from the deadline's context and sends it: exactly one message. A run that finishes
in time has its deadline pruned and sends none. Airflow 2.11 and 3.0 have no deadline alerts; there
these tests skip, saying so.

Marked ``every_leg``: CI runs these few on legs where the rest of the scheduler tier is left out.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_lipachat.compat import AIRFLOW_VERSION
from airflow_provider_lipachat.emulator import Emulator
from tests.e2e.airflow_on_loopback import AirflowOnLoopback
from tests.support import AIRFLOW_RELEASE
from tests.test_example_dags import example_source

pytestmark = [pytest.mark.scheduler, pytest.mark.every_leg]

#: Deadline alerts came with Airflow 3.1 (AsyncCallback only); 3.2 added SyncCallback, run by the executor.
HAS_DEADLINE_ALERTS = AIRFLOW_RELEASE >= (3, 1)
HAS_SYNC_CALLBACKS = AIRFLOW_RELEASE >= (3, 2)
#: Airflow 3.2's scheduler never runs a deadline's SyncCallback: ``Deadline.handle_miss`` adds the context and
#: ``dag_run_id`` to the callback's stored data in place, which SQLAlchemy does not save, so every scheduler loop
#: then skips the callback ("missing required 'dag_run_id'"); and under load its scheduler was seen to die
#: loading that callback's row ("'str' object has no attribute 'hex'"), taking the other deadline tests with it.
#: So 3.2 gets no SyncCallback DAG at all; 3.3 assigns new data and runs it.
SYNC_CALLBACK_BROKEN = AIRFLOW_RELEASE == (3, 2)

ON_CALL = "254711000005"
#: A late run's deadline: a few seconds after it was queued; its report takes 15 s.
LATE_DEADLINE_S = 5
REPORT_TAKES_S = 15
#: An on-time run's deadline: far enough for two quick tasks on a busy 2-core machine.
ON_TIME_DEADLINE_S = 30

LATE_ASYNC = "deadline_late_async"
LATE_SYNC = "deadline_late_sync"
ON_TIME = "deadline_on_time"


def replaced(source: str, old: str, new: str) -> str:
    assert source.count(old) >= 1, f"the example no longer contains {old!r}"
    return source.replace(old, new)


def dag_source(dag_id: str, *, deadline_s: int, late: bool, callback: str = "AsyncCallback") -> str:
    """The example DAG with its own id, scheduled at once, its alert after ``deadline_s`` seconds."""
    source = replaced(example_source("lipachat_deadline_alert"), 'dag_id="DAG_ID"', f'dag_id="{dag_id}"')
    source = replaced(source, "schedule=None", 'schedule="@once"')
    source = replaced(source, "LATE_AFTER = timedelta(minutes=30)", f"LATE_AFTER = timedelta(seconds={deadline_s})")
    if late:
        source = replaced(
            source,
            '        return f"Morning report',
            f'        import time\n\n        time.sleep({REPORT_TAKES_S})\n        return f"Morning report',
        )
    if callback != "AsyncCallback":
        source = replaced(source, "AsyncCallback", callback)
    return source


@pytest.fixture(scope="module")
def airflow_with_deadlines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AirflowOnLoopback, Emulator]]:
    """One Airflow (api-server, dag-processor, scheduler, triggerer) running every deadline DAG at once."""
    if not HAS_DEADLINE_ALERTS:
        pytest.skip(f"Airflow {AIRFLOW_VERSION} has no deadline alerts (they came with 3.1): nothing can alert")
    home = tmp_path_factory.mktemp("deadline-airflow")
    dags = home / "dags"
    dags.mkdir()
    (dags / f"{LATE_ASYNC}.py").write_text(dag_source(LATE_ASYNC, deadline_s=LATE_DEADLINE_S, late=True))
    (dags / f"{ON_TIME}.py").write_text(dag_source(ON_TIME, deadline_s=ON_TIME_DEADLINE_S, late=False))
    if HAS_SYNC_CALLBACKS and not SYNC_CALLBACK_BROKEN:
        source = dag_source(LATE_SYNC, deadline_s=LATE_DEADLINE_S, late=True, callback="SyncCallback")
        (dags / f"{LATE_SYNC}.py").write_text(source)
    with Emulator() as emulator:
        airflow = AirflowOnLoopback(home, emulator)
        # The DAGs are scheduled "@once": the scheduler creates each run as soon as the DAG is parsed.
        airflow.env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "True"
        with airflow.running(triggerer=True):
            yield airflow, emulator


def run_of(airflow: AirflowOnLoopback, dag_id: str) -> tuple[str, str, str] | None:
    """``(run_id, state, queued_at)`` of the DAG's one run, once the scheduler created it."""
    rows = airflow.query("SELECT run_id, state, queued_at FROM dag_run WHERE dag_id = ?", dag_id)
    return rows[0] if rows else None


def deadlines_of(airflow: AirflowOnLoopback, dag_id: str) -> list[tuple[str, str | None]]:
    """``(deadline_time, callback state)`` of each deadline row of the DAG's runs (3.1 keeps the state on the row)."""
    columns = {row[1] for row in airflow.query("PRAGMA table_info(deadline)")}
    if "callback_state" in columns:  # Airflow 3.1
        sql = (
            "SELECT d.deadline_time, d.callback_state FROM deadline d JOIN dag_run r ON d.dagrun_id = r.id "
            "WHERE r.dag_id = ?"
        )
    else:  # 3.2+: the callback is a row of its own
        sql = (
            "SELECT d.deadline_time, c.state FROM deadline d JOIN dag_run r ON d.dagrun_id = r.id "
            "LEFT JOIN callback c ON d.callback_id = c.id WHERE r.dag_id = ?"
        )
    return airflow.query(sql, dag_id)


def alerts_for(emulator: Emulator, dag_id: str) -> list[dict[str, Any]]:
    """The messages the gateway delivered to the on-call number about ``dag_id``."""
    return [d for d in emulator.deliveries() if d["to"] == ON_CALL and dag_id in d["payload"]["message"]]


def utc(text: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def assert_one_alert_for_a_late_run(airflow: AirflowOnLoopback, emulator: Emulator, dag_id: str) -> None:
    airflow.wait_for(
        f"{dag_id}'s deadline callback to succeed", lambda: [s for _, s in deadlines_of(airflow, dag_id)] == ["success"]
    )
    airflow.wait_for(f"{dag_id}'s run to finish", lambda: (run_of(airflow, dag_id) or ("", ""))[1] == "success")
    run_id, _, _ = run_of(airflow, dag_id) or ("", "", "")
    [(deadline_time, _)] = deadlines_of(airflow, dag_id)
    expected = f"{dag_id} is late: run {run_id} had not finished by {utc(deadline_time):%H:%M:%S} UTC, its deadline."
    alerts = alerts_for(emulator, dag_id)
    assert [a["payload"]["message"] for a in alerts] == [expected]
    # One request too: the callback ran once (a second run would have been answered "replayed").
    assert [r["outcome"] for r in emulator.requests() if r.get("messageId") == alerts[0]["messageId"]] == ["delivered"]


def test_a_run_that_misses_its_deadline_sends_one_alert_from_the_triggerer(
    airflow_with_deadlines: tuple[AirflowOnLoopback, Emulator],
) -> None:
    airflow, emulator = airflow_with_deadlines
    assert_one_alert_for_a_late_run(airflow, emulator, LATE_ASYNC)
    # The callback ran in the triggerer, as a trigger: its process logged the send (masked number).
    assert "2547******05" in (airflow.home / "triggerer.out").read_text(errors="replace") or any(
        "2547******05" in p.read_text(errors="replace") for p in (airflow.home / "logs").rglob("*") if p.is_file()
    )
    assert emulator.api_key not in airflow.output()


def test_a_sync_callback_sends_one_alert_through_the_executor(
    airflow_with_deadlines: tuple[AirflowOnLoopback, Emulator],
) -> None:
    if not HAS_SYNC_CALLBACKS:
        pytest.skip(f"Airflow {AIRFLOW_VERSION}'s DeadlineAlert takes an AsyncCallback only (SyncCallback: 3.2+)")
    if SYNC_CALLBACK_BROKEN:
        pytest.skip(f"Airflow {AIRFLOW_VERSION}'s scheduler never runs a deadline's SyncCallback (and can die on one)")
    airflow, emulator = airflow_with_deadlines
    airflow.wait_for(
        f"{LATE_SYNC}'s callback to run", lambda: [s for _, s in deadlines_of(airflow, LATE_SYNC)] == ["success"]
    )
    assert_one_alert_for_a_late_run(airflow, emulator, LATE_SYNC)


def test_a_run_that_finishes_in_time_sends_no_alert(airflow_with_deadlines: tuple[AirflowOnLoopback, Emulator]) -> None:
    airflow, emulator = airflow_with_deadlines
    airflow.wait_for(f"{ON_TIME}'s run to finish", lambda: (run_of(airflow, ON_TIME) or ("", ""))[1] == "success")
    [(queued_at, end_date)] = airflow.query("SELECT queued_at, end_date FROM dag_run WHERE dag_id = ?", ON_TIME)
    deadline = utc(queued_at) + datetime.timedelta(seconds=ON_TIME_DEADLINE_S)
    assert utc(end_date) < deadline, f"the run took {utc(end_date) - utc(queued_at)}: the machine is too slow"
    assert deadlines_of(airflow, ON_TIME) == []  # finished before it: the scheduler deleted the deadline
    # Past the deadline, and a few scheduler loops more: still nothing.
    time.sleep(max(0.0, (deadline - datetime.datetime.now(datetime.UTC)).total_seconds()) + 5)
    assert deadlines_of(airflow, ON_TIME) == []
    assert alerts_for(emulator, ON_TIME) == []
