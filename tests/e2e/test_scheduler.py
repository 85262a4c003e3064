"""End to end under a real scheduler: api-server, scheduler and dag-processor on loopback.

Backfills three partitions of ``lipachat_partition_backfill`` (one fan-out task per partition),
clears one and lets the scheduler run it again, then checks the emulator holds exactly one
delivery per partition and recipient, and that the API key appears in none of the task logs the
workers wrote. On Airflow >= 3.3 the re-run answers from the task state store without a request;
before 3.3 it sends again with the same message ids and the gateway's deduplication replays the
original answers.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from airflow_provider_lipachat.emulator import Emulator
from tests.e2e.airflow_on_loopback import AirflowOnLoopback
from tests.support import AIRFLOW_V3, HAS_TASK_STATE_STORE, REPO_ROOT

pytestmark = [
    pytest.mark.scheduler,
    pytest.mark.skipif(
        not AIRFLOW_V3,
        reason="Airflow 3 only: the scheduler-driven backfill, api-server and dag-processor it runs are Airflow 3's",
    ),
]

DAG_ID = "lipachat_partition_backfill"
RECIPIENTS = ["254711000004", "254711000005"]
PARTITIONS = ["2024-01-01", "2024-01-02", "2024-01-03"]
POOL = "whatsapp_sends"


def task_states(airflow: AirflowOnLoopback) -> dict[str, tuple[str | None, int]]:
    """Partition -> (state, try number) of its send task instance."""
    rows = airflow.query(
        "SELECT dr.logical_date, ti.state, ti.try_number FROM task_instance ti "
        "JOIN dag_run dr ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id WHERE ti.dag_id = ?",
        DAG_ID,
    )
    return {str(logical)[:10]: (state, tries) for logical, state, tries in rows}


def all_succeeded(airflow: AirflowOnLoopback, expected_tries: Callable[[str], int]) -> bool:
    """True once every task instance succeeded on its expected try; fails at once on a failed one."""
    states = task_states(airflow)
    failed = {key: value for key, value in states.items() if value[0] in ("failed", "upstream_failed")}
    assert not failed, f"task instances failed: {failed}\n{airflow.output()}"
    return bool(states) and all(
        state == "success" and tries == expected_tries(day) for day, (state, tries) in states.items()
    )


@pytest.fixture
def airflow_on_loopback(tmp_path: Path, lipachat_emulator: Emulator) -> Iterator[AirflowOnLoopback]:
    (tmp_path / "dags").mkdir()
    shutil.copy(REPO_ROOT / "example_dags" / f"{DAG_ID}.py", tmp_path / "dags")
    airflow = AirflowOnLoopback(tmp_path, lipachat_emulator)
    airflow.cli("db", "migrate")
    airflow.cli("pools", "set", POOL, "4", "send tasks of one LipaChat sender number")
    try:
        airflow.start_api_server()
        airflow.start("scheduler", "--skip-serve-logs")  # the log server would listen beyond loopback
        airflow.start("dag-processor")
        yield airflow
    finally:
        airflow.stop()


def test_backfill_and_a_cleared_partition_deliver_once_per_partition_and_recipient(
    airflow_on_loopback: AirflowOnLoopback, lipachat_emulator: Emulator
) -> None:
    airflow = airflow_on_loopback
    airflow.wait_for("the DAG to be parsed", lambda: bool(airflow.query("SELECT 1 FROM dag WHERE dag_id = ?", DAG_ID)))

    airflow.cli("backfill", "create", "--dag-id", DAG_ID, "--from-date", PARTITIONS[0], "--to-date", PARTITIONS[-1])

    expected = set(PARTITIONS)
    # Every partition's run must exist first: a backfill creates its runs a few at a time.
    airflow.wait_for(
        "the backfill to succeed",
        lambda: set(task_states(airflow)) == expected and all_succeeded(airflow, lambda day: 1),
    )
    assert len(lipachat_emulator.deliveries()) == 6

    cleared = PARTITIONS[1]
    airflow.cli("tasks", "clear", DAG_ID, "--start-date", cleared, "--end-date", cleared, "--yes")
    airflow.wait_for(
        "the cleared partition to run again", lambda: all_succeeded(airflow, lambda day: 2 if day == cleared else 1)
    )

    deliveries = lipachat_emulator.deliveries()
    by_partition = sorted((d["payload"]["message"].split(":")[0], d["to"]) for d in deliveries)
    assert by_partition == sorted((f"Partition {day} is ready", to) for day in PARTITIONS for to in RECIPIENTS)
    assert len({d["messageId"] for d in deliveries}) == 6
    outcomes = [(r["outcome"], r["messageId"]) for r in lipachat_emulator.requests()]
    assert sorted(outcomes[:6]) == sorted(("delivered", d["messageId"]) for d in deliveries)
    if HAS_TASK_STATE_STORE:  # the re-run finds its waId in the task state store and makes no request at all
        assert outcomes[6:] == []
    else:  # no store before 3.3: the re-run sends the same message ids again and the gateway replays its answers
        cleared_ids = {
            d["messageId"] for d in deliveries if d["payload"]["message"].startswith(f"Partition {cleared} is ready")
        }
        assert sorted(outcomes[6:]) == sorted(("replayed", message_id) for message_id in cleared_ids)
    rerun_xcoms = airflow.query(
        "SELECT value FROM xcom WHERE dag_id = ? AND run_id LIKE ? AND key = 'return_value'",
        DAG_ID,
        f"backfill__{cleared}%",
    )
    wa_ids = {d["to"]: d["waId"] for d in deliveries if d["payload"]["message"].startswith(f"Partition {cleared} ")}
    assert [json.loads(value) for (value,) in rerun_xcoms] == [wa_ids]

    task_logs = [p for p in (airflow.home / "logs").rglob("*") if p.is_file() and DAG_ID in str(p)]
    assert len(task_logs) >= 4  # three first tries and the re-run
    text = "\n".join(p.read_text(errors="replace") for p in task_logs)
    assert "Delivered to all 2 recipient(s)" in text
    assert lipachat_emulator.api_key not in text
