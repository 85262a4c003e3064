"""LipaChatNotifier as a human-in-the-loop notifier: the approver's message carries the required-actions link.

A real run: ``airflow dags test`` in its own process, against the emulator. The HITL task then waits for
an answer that ``dag.test()`` never gives itself, so once the message has reached the emulator the run is
stopped. Airflow 3.1+ only (HITL operators are new there).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_lipachat.emulator import Emulator
from tests.support import AIRFLOW_RELEASE, DAGS_FOLDER, connection_json

pytestmark = pytest.mark.skipif(
    AIRFLOW_RELEASE < (3, 1), reason="human-in-the-loop operators (and their notifiers) need Airflow 3.1+"
)

APPROVER = "254711000010"
DAG = """
import pendulum
from airflow.sdk import DAG
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow_provider_lipachat.notifications.lipachat import LipaChatNotifier

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    ApprovalOperator(
        task_id="approve",
        subject="Send the board report for {{ ds }}?",
        notifiers=[LipaChatNotifier(to="APPROVER", message="{{ ds }}: please answer at {{ hitl_link }}")],
    )
"""


def test_the_approver_s_message_carries_the_required_actions_link(
    airflow_db: Path, lipachat_emulator: Emulator
) -> None:
    dag_id = "hitl_link_notifier"
    path = DAGS_FOLDER / f"{dag_id}.py"
    path.write_text(DAG.replace("DAG_ID", dag_id).replace("APPROVER", APPROVER))
    env = {
        **os.environ,
        "AIRFLOW_CONN_LIPACHAT_DEFAULT": connection_json(lipachat_emulator.base_url, lipachat_emulator.api_key),
        "AIRFLOW__API__BASE_URL": "http://127.0.0.1:28080",
    }
    run = subprocess.Popen(
        [sys.executable, "-m", "airflow", "dags", "test", dag_id, "2024-03-04"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not lipachat_emulator.deliveries() and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.5)
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        try:
            output = run.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:  # dag.test() keeps waiting for the answer: stop its whole group
            os.killpg(run.pid, signal.SIGKILL)
            output = run.communicate(timeout=30)[0]
        path.unlink(missing_ok=True)
    log = output.decode(errors="replace")
    [message] = lipachat_emulator.deliveries()
    assert (message["route"], message["to"]) == ("text", APPROVER), log[-3000:]
    assert re.fullmatch(
        rf"2024-03-04: please answer at http://127\.0\.0\.1:28080/dags/{dag_id}/runs/[^/]+/tasks/approve/"
        r"required_actions\?map_index=-1",
        message["payload"]["message"],
    ), message["payload"]["message"]
    assert "Waiting for response" in log  # the operator wrote its request, then called the notifier
