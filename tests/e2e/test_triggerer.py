"""End to end under a real scheduler and triggerer: the delivery and reply sensors defer, the triggerer resumes them.

One DAG run whose messages are delivered succeeds; one whose message fails fails naming the
masked recipient and WhatsApp's code. Both waits pass through the triggerer process. On Airflow 3
the scheduler runs beside an api-server and a dag-processor; on Airflow 2.11 the scheduler parses
DAGs itself and runs tasks with the SequentialExecutor, the one Airflow 2 allows on SQLite.

The example "approve before it goes out" runs on Airflow 3.3 only (one more stack of Airflow
processes per leg does not fit CI's hour; its DAG runs on every leg under ``dag.test()``): the
approver's scripted answer arrives while the reply sensor is deferred, and the triggerer resumes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_lipachat.emulator import Emulator
from tests.e2e.airflow_on_loopback import AirflowOnLoopback
from tests.support import AIRFLOW_RELEASE, REPO_ROOT

pytestmark = pytest.mark.scheduler

DAGS = """
import pendulum
try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator
from airflow_provider_lipachat.sensors.lipachat import WhatsAppDeliverySensor

for dag_id, to in (("e2e_delivered", ["254711000021", "254711000022"]), ("e2e_failed", ["254711000031"])):
    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
        SendWhatsAppTextOperator(task_id="send", to=to, message="Report ready") >> WhatsAppDeliverySensor(
            task_id="wait", wa_ids="{{ ti.xcom_pull('send') }}", deferrable=True, poke_interval=1, timeout=120
        )
    globals()[dag_id] = dag
"""


def state_of(airflow: AirflowOnLoopback, dag_id: str, task_id: str) -> str | None:
    rows = airflow.query("SELECT state FROM task_instance WHERE dag_id = ? AND task_id = ?", dag_id, task_id)
    return rows[0][0] if rows else None


@pytest.fixture
def airflow_with_triggerer(tmp_path: Path, lipachat_emulator: Emulator) -> Iterator[AirflowOnLoopback]:
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "delivery_e2e.py").write_text(DAGS)
    approval = REPO_ROOT / "example_dags" / "lipachat_approve_before_send.py"
    (tmp_path / "dags" / approval.name).write_text(approval.read_text())
    with AirflowOnLoopback(tmp_path, lipachat_emulator).running(triggerer=True) as airflow:
        yield airflow


def test_the_sensor_defers_and_the_triggerer_resumes_it_to_success_or_failure(
    airflow_with_triggerer: AirflowOnLoopback, lipachat_emulator: Emulator
) -> None:
    airflow = airflow_with_triggerer
    # Resumes well after the deferring worker exited: a trigger that fires within a second or two of the
    # deferral can race the executor's report of that exit under load (Airflow then fails the requeued task).
    # And settles well after both sensors have started: Airflow 2.11's SequentialExecutor runs one task at a time,
    # so under load the second sensor can start many seconds after its send; a status already settled at its
    # first look would succeed or fail without deferring.
    lipachat_emulator.script_status("delivered", delivered_after=30)
    lipachat_emulator.script_status("failed", to="254711000031", code=131026, delivered_after=30)
    airflow.wait_for(
        "both DAGs to be parsed", lambda: len(airflow.query("SELECT 1 FROM dag WHERE dag_id LIKE 'e2e_%'")) == 2
    )
    for dag_id in ("e2e_delivered", "e2e_failed"):
        airflow.cli("dags", "unpause", dag_id)
        airflow.cli("dags", "trigger", dag_id)

    def finished() -> bool:
        return all(state_of(airflow, d, "wait") in ("success", "failed") for d in ("e2e_delivered", "e2e_failed"))

    airflow.wait_for("both sensors to finish", finished)
    assert state_of(airflow, "e2e_delivered", "wait") == "success"
    assert state_of(airflow, "e2e_failed", "wait") == "failed"
    triggerer_log = (airflow.home / "triggerer.out").read_text(errors="replace")
    trigger_logs = [p for p in (airflow.home / "logs").rglob("*.trigger.*.log") if "task_id=wait" in str(p)]
    assert len(trigger_logs) == 2  # each sensor deferred once and its trigger ran in the triggerer
    # Airflow 3 logs "Trigger fired event"; Airflow 2.11 "Trigger ... fired: TriggerEvent<...>".
    assert all(re.search(r"Trigger fired event|fired: TriggerEvent", p.read_text()) for p in trigger_logs)
    task_logs = "\n".join(
        p.read_text(errors="replace")
        for p in (airflow.home / "logs").rglob("*")
        if p.is_file() and "e2e_failed" in str(p)
    )
    assert "2547******31: FAILED, WhatsApp error 131026" in task_logs
    assert lipachat_emulator.api_key not in task_logs + triggerer_log
    # The triggerer logs each event whole: they name no recipient; the sensors' XComs do, from the worker's look.
    trigger_text = "\n".join(p.read_text(errors="replace") for p in trigger_logs) + triggerer_log
    for number in ("254711000021", "254711000022", "254711000031"):
        assert number not in trigger_text
    assert "2547******31" in trigger_text  # the failure, masked


APPROVAL = "lipachat_approve_before_send"
APPROVER = "254711000010"


@pytest.mark.skipif(
    AIRFLOW_RELEASE < (3, 3),
    reason="the approval example runs under a real scheduler and triggerer on Airflow 3.3 only (CI's time budget); "
    "every leg runs it under dag.test()",
)
def test_the_approval_example_waits_in_the_triggerer_for_the_approver_s_answer(
    airflow_with_triggerer: AirflowOnLoopback, lipachat_emulator: Emulator
) -> None:
    airflow = airflow_with_triggerer
    # Pressed well after the sensor deferred: under load the worker can take many seconds to start it.
    lipachat_emulator.script_status("delivered", delivered_after=1)
    lipachat_emulator.script_reply(to=APPROVER, press="Approve", after=30)
    airflow.wait_for(
        "the example to be parsed", lambda: bool(airflow.query("SELECT 1 FROM dag WHERE dag_id = ?", APPROVAL))
    )
    airflow.cli("dags", "unpause", APPROVAL)
    airflow.cli("dags", "trigger", APPROVAL, "--logical-date", "2024-03-04T00:00:00+00:00")

    def settled() -> bool:
        states = dict(airflow.query("SELECT task_id, state FROM task_instance WHERE dag_id = ?", APPROVAL))
        return "failed" in states.values() or states.get("send_to_board") in ("success", "skipped")

    airflow.wait_for("the answer and the branch after it", settled)
    assert state_of(airflow, APPROVAL, "wait_for_answer") == "success"
    assert state_of(airflow, APPROVAL, "send_to_board") == "success"
    assert state_of(airflow, APPROVAL, "tell_author") == "skipped"
    trigger_logs = [p for p in (airflow.home / "logs").rglob("*.trigger.*.log") if "task_id=wait_for_answer" in str(p)]
    assert len(trigger_logs) == 1  # the sensor deferred once and its trigger ran in the triggerer
    assert "Trigger fired event" in trigger_logs[0].read_text()
    routes = [(d["route"], d["to"]) for d in lipachat_emulator.deliveries()]
    assert routes[0] == ("buttons", APPROVER)
    assert sorted(routes[1:]) == [("template", "254711000001"), ("template", "254711000002")]
    logs = "\n".join(p.read_text(errors="replace") for p in (airflow.home / "logs").rglob("*") if p.is_file())
    assert APPROVER not in logs and lipachat_emulator.api_key not in logs
