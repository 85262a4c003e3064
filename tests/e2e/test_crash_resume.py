"""A fan-out whose task process is SIGKILLed, or told to stop with SIGTERM, mid-send, retried by a real
scheduler, delivers each message once.

The DAG sends one report to 1,500 recipients at 200 per second (the operator's defaults, only the rate
set), the gateway answering each send 200 to 600 ms after it arrives, checkpointing every second. Once
the emulator has seen a good part of the sends (and, on Airflow >= 3.3, the task state store
holds a checkpoint), the test kills the task process with SIGKILL, as the OOM killer or a lost
node would. The scheduler's retry must finish the job:

- Airflow >= 3.3: the retry reads the checkpoint and sends no request for a recipient it holds;
  the few sends that were in flight, or done after the last checkpoint, are re-sent with the
  same message id and answered by the gateway's deduplication.
- Airflow 2.11 (no task state store): the retry re-sends to everyone with the same ids, and the
  gateway's deduplication keeps each recipient at one message.

SIGTERM is how Airflow stops a task it no longer wants running (marked failed or success, a worker
shutting down, a pod evicted): it calls the task's ``on_kill`` and, on Airflow 3, SIGKILLs it 5 s
later. The fan-out must stop sending at once, not for those 5 s, and on 3.3 checkpoint what it was
answered for, so its retry re-sends only what was cancelled in flight.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_lipachat.emulator import Emulator
from tests.e2e.airflow_on_loopback import AirflowOnLoopback
from tests.support import HAS_TASK_STATE_STORE, KILLED_TASK_NOT_RETRIED, airflow_defect

pytestmark = pytest.mark.scheduler

DAG_ID = "lipachat_crash_resume"
STOPPED_DAG_ID = "lipachat_stopped_mid_send"
COUNT = 1500
KILL_AFTER = 400  # deliveries seen by the emulator before the task process is killed
#: From the SIGTERM to the last send the gateway sees, at most: the signal's delivery and one pass of the event loop
#: (3 ms on a quiet machine), with room for a loaded one; unstopped, sends go on until the SIGKILL 5 s later.
STOP_GRACE = 2.0


def dag_source(dag_id: str, retry_delay: int) -> str:
    return DAG_TEMPLATE.replace("DAG_ID", dag_id).replace("RETRY_DELAY", str(retry_delay))


DAG_TEMPLATE = f'''
import os
from datetime import timedelta
from pathlib import Path

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

PID_FILE = Path(__file__).with_name("DAG_ID.pid")


def record_pid(context):
    """The process that runs execute(): the one a crash takes down."""
    PID_FILE.write_text(str(os.getpid()))


with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False) as dag:
    SendWhatsAppMediaOperator(
        task_id="send",
        to=[f"2547{{n:08d}}" for n in range({COUNT})],
        media_url="https://reports.example.com/weekly.pdf",
        preflight=False,  # the link is not on loopback: no DNS query may leave the machine
        rate_limit=200,
        checkpoint_interval=1.0,
        retries=1,
        retry_delay=timedelta(seconds=RETRY_DELAY),
        pre_execute=record_pid,
    )
'''


@pytest.fixture
def airflow_on_loopback(tmp_path: Path, lipachat_emulator: Emulator) -> Iterator[AirflowOnLoopback]:
    lipachat_emulator.set_latency((0.2, 0.6))  # a real gateway's distance: about 80 sends in flight at 200/s
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / f"{DAG_ID}.py").write_text(dag_source(DAG_ID, retry_delay=2))
    # Long enough to read the stopped try's end before the retry starts.
    (tmp_path / "dags" / f"{STOPPED_DAG_ID}.py").write_text(dag_source(STOPPED_DAG_ID, retry_delay=5))
    with AirflowOnLoopback(tmp_path, lipachat_emulator).running() as airflow:
        yield airflow


def send_state(airflow: AirflowOnLoopback, dag_id: str = DAG_ID) -> tuple[str | None, int] | None:
    rows = airflow.query("SELECT state, try_number FROM task_instance WHERE dag_id = ? AND task_id = 'send'", dag_id)
    return rows[0] if rows else None


def checkpointed_message_ids(airflow: AirflowOnLoopback, dag_id: str = DAG_ID) -> set[str]:
    """The message ids the task state store holds for the send task (empty before Airflow 3.3)."""
    if not HAS_TASK_STATE_STORE:
        return set()
    rows = airflow.query("SELECT key, value FROM task_state_store WHERE dag_id = ? AND task_id = 'send'", dag_id)
    stored = {key: json.loads(value) for key, value in rows}
    chunks = stored.get("lipachat_sent", {}).get("chunks", 0)
    return {message_id for n in range(chunks) for message_id in stored.get(f"lipachat_sent.{n}", {})}


@airflow_defect(
    KILLED_TASK_NOT_RETRIED,
    "Airflow 3.0: its supervisor marks a task whose process was killed failed, ignoring retries",
)
def test_a_fan_out_killed_mid_send_is_finished_by_the_retry_with_one_message_per_recipient(
    airflow_on_loopback: AirflowOnLoopback, lipachat_emulator: Emulator
) -> None:
    airflow = airflow_on_loopback
    pid_file = airflow.home / "dags" / f"{DAG_ID}.pid"
    airflow.wait_for("the DAG to be parsed", lambda: bool(airflow.query("SELECT 1 FROM dag WHERE dag_id = ?", DAG_ID)))
    airflow.cli("dags", "trigger", DAG_ID)

    def mid_send_after_a_checkpoint() -> bool:
        delivered = len(lipachat_emulator.deliveries())
        assert delivered < COUNT, "the send finished before it could be killed"
        return (
            delivered >= KILL_AFTER
            and pid_file.exists()
            and (not HAS_TASK_STATE_STORE or bool(checkpointed_message_ids(airflow)))
        )

    airflow.wait_for("the fan-out to be under way, past a checkpoint", mid_send_after_a_checkpoint)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    time.sleep(1)  # let the emulator finish recording what was in flight; the retry waits 2 s or more
    checkpointed = checkpointed_message_ids(airflow)  # what try 1 saved before it died
    requests_before_retry = len(lipachat_emulator.requests())
    assert send_state(airflow) in (("running", 1), ("up_for_retry", 1))

    def retried_to_success() -> bool:
        state = send_state(airflow)
        assert state is None or state[0] != "failed", f"the task failed instead of retrying:\n{airflow.output()}"
        return state == ("success", 2)

    airflow.wait_for("the scheduler's retry to succeed", retried_to_success)

    deliveries = lipachat_emulator.deliveries()
    recipients = [f"2547{n:08d}" for n in range(COUNT)]
    assert Counter(d["to"] for d in deliveries) == Counter(recipients)  # each recipient exactly one message
    retry_requests = lipachat_emulator.requests()[requests_before_retry:]
    retried_ids = {r["messageId"] for r in retry_requests}
    assert not retried_ids & checkpointed  # nothing the checkpoint holds is requested again
    replayed = [r for r in retry_requests if r["outcome"] == "replayed"]
    assert all(r["outcome"] in ("delivered", "replayed") for r in retry_requests)
    if HAS_TASK_STATE_STORE:
        assert len(checkpointed) >= KILL_AFTER / 2
        assert len(retry_requests) == COUNT - len(checkpointed)
        assert len(replayed) < COUNT / 4  # only what was sent after the last checkpoint
    else:
        assert len(retry_requests) == COUNT  # no store: everyone again, with the same ids
        assert len(replayed) >= KILL_AFTER
    xcom = airflow.query(
        "SELECT value FROM xcom WHERE dag_id = ? AND task_id = 'send' AND key = 'return_value'", DAG_ID
    )
    assert json.loads(xcom[0][0]) == {d["to"]: d["waId"] for d in deliveries}


def arrived(request: dict[str, object]) -> float:
    """When the gateway took a request, as a Unix time (its ``received_at`` is UTC without a zone)."""
    text = str(request["received_at"])[:26]  # microseconds: what datetime reads
    return datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.timezone.utc).timestamp()


def test_a_fan_out_told_to_stop_sends_nothing_more_and_its_retry_re_sends_only_what_was_in_flight(
    airflow_on_loopback: AirflowOnLoopback, lipachat_emulator: Emulator
) -> None:
    airflow = airflow_on_loopback
    pid_file = airflow.home / "dags" / f"{STOPPED_DAG_ID}.pid"
    airflow.wait_for(
        "the DAG to be parsed", lambda: bool(airflow.query("SELECT 1 FROM dag WHERE dag_id = ?", STOPPED_DAG_ID))
    )
    airflow.cli("dags", "trigger", STOPPED_DAG_ID)

    def under_way() -> bool:
        delivered = len(lipachat_emulator.deliveries())
        assert delivered < COUNT, "the send finished before it could be stopped"
        return delivered >= KILL_AFTER and pid_file.exists()

    airflow.wait_for("the fan-out to be under way", under_way)
    pid = int(pid_file.read_text())
    stopped_at = time.time()
    os.kill(pid, signal.SIGTERM)

    def first_try_over() -> bool:
        state = send_state(airflow, STOPPED_DAG_ID)
        assert state is not None and state[1] == 1, f"the stopped try was not seen ending: {state}"
        return state[0] == "up_for_retry"

    airflow.wait_for("the stopped try to end", first_try_over, interval=0.2)
    ended_after = time.time() - stopped_at
    first_try = lipachat_emulator.requests()
    checkpointed = checkpointed_message_ids(airflow, STOPPED_DAG_ID)

    def retried_to_success() -> bool:
        state = send_state(airflow, STOPPED_DAG_ID)
        assert state is None or state[0] != "failed", f"the task failed instead of retrying:\n{airflow.output()}"
        return state == ("success", 2)

    airflow.wait_for("the scheduler's retry to succeed", retried_to_success)
    last_send = max(arrived(r) for r in first_try) - stopped_at
    delivered_before = {r["messageId"] for r in first_try if r["outcome"] == "delivered"}
    retry_requests = lipachat_emulator.requests()[len(first_try) :]
    replayed = {r["messageId"] for r in retry_requests if r["outcome"] == "replayed"}
    print(
        f"SIGTERM after {len(delivered_before)} delivered: last send {last_send * 1000:.0f} ms after it, try over "
        f"{ended_after:.1f} s after it; checkpointed {len(checkpointed)}; the retry sent {len(retry_requests)}, "
        f"{len(replayed)} answered as already sent"
    )
    assert last_send < STOP_GRACE  # not the 5 s until Airflow's SIGKILL
    deliveries = lipachat_emulator.deliveries()
    assert Counter(d["to"] for d in deliveries) == Counter(f"2547{n:08d}" for n in range(COUNT))
    if HAS_TASK_STATE_STORE:
        # Everything answered before the stop was checkpointed; only the sends cancelled in flight are re-sent
        # (the gateway had them: answered as already sent).
        assert replayed == delivered_before - checkpointed
        assert len(replayed) <= 200  # at most about rate x latency (200/s x 0.2-0.6 s) were in flight
        assert len(retry_requests) == COUNT - len(checkpointed)
    else:
        assert len(retry_requests) == COUNT and replayed == delivered_before
