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
answered for, so its retry re-sends only what was cancelled in flight. On Airflow 3 a user marking the
running task failed (the REST API, as the UI does) reaches it the same way: the supervisor's next
heartbeat is refused and it sends SIGTERM; cleared, the task's next try delivers the rest once.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from airflow_provider_lipachat.emulator import Emulator
from tests.e2e.airflow_on_loopback import AirflowOnLoopback
from tests.support import AIRFLOW_V3, HAS_TASK_STATE_STORE, KILLED_TASK_NOT_RETRIED, airflow_defect

pytestmark = pytest.mark.scheduler

DAG_ID = "lipachat_crash_resume"
STOPPED_DAG_ID = "lipachat_stopped_mid_send"
MARKED_DAG_ID = "lipachat_marked_failed_mid_send"
COUNT = 1500
KILL_AFTER = 400  # deliveries seen by the emulator before the task process is killed
#: From the SIGTERM to the last send the gateway sees, at most: the signal's delivery and one pass of the event loop
#: (3 ms on a quiet machine), with room for a loaded one; unstopped, sends go on until the SIGKILL 5 s later.
STOP_GRACE = 2.0
#: Airflow 3's supervisor heartbeats this often here ([workers] min_heartbeat_interval, 5 s by default): a task
#: marked failed is told at the next one.
HEARTBEAT_INTERVAL = 1


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
    if AIRFLOW_V3:
        (tmp_path / "dags" / f"{MARKED_DAG_ID}.py").write_text(dag_source(MARKED_DAG_ID, retry_delay=5))
    airflow = AirflowOnLoopback(tmp_path, lipachat_emulator)
    airflow.env["AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL"] = str(HEARTBEAT_INTERVAL)
    with airflow.running():
        yield airflow


def trigger_until_under_way(
    airflow: AirflowOnLoopback, emulator: Emulator, dag_id: str, ready: Callable[[], bool] = lambda: True
) -> None:
    """Trigger ``dag_id`` once parsed; return when the gateway has seen ``KILL_AFTER`` deliveries and ``ready()``
    holds (fails if the fan-out finished first: it could no longer be interrupted)."""
    airflow.wait_for("the DAG to be parsed", lambda: bool(airflow.query("SELECT 1 FROM dag WHERE dag_id = ?", dag_id)))
    airflow.cli("dags", "trigger", dag_id)

    def under_way() -> bool:
        delivered = len(emulator.deliveries())
        assert delivered < COUNT, "the send finished before it could be interrupted"
        return delivered >= KILL_AFTER and ready()

    airflow.wait_for("the fan-out to be under way", under_way)


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
    trigger_until_under_way(
        airflow,
        lipachat_emulator,
        DAG_ID,
        lambda: pid_file.exists() and (not HAS_TASK_STATE_STORE or bool(checkpointed_message_ids(airflow))),
    )
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
    trigger_until_under_way(airflow, lipachat_emulator, STOPPED_DAG_ID, pid_file.exists)
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


def api(airflow: AirflowOnLoopback, method: str, path: str, body: dict[str, object]) -> dict[str, object]:
    """One call to Airflow 3's REST API (the stack's simple auth manager makes every caller an admin)."""
    url, headers = f"{airflow.base_url}/api/v2{path}", {"Content-Type": "application/json"}
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method=method)
    with urllib.request.urlopen(request, timeout=30) as answer:
        document: dict[str, object] = json.load(answer)
        return document


@pytest.mark.skipif(not AIRFLOW_V3, reason="marks the task failed through Airflow 3's REST API (2.11: no webserver)")
def test_a_fan_out_marked_failed_by_a_user_stops_sending_and_once_cleared_delivers_the_rest_once(
    airflow_on_loopback: AirflowOnLoopback, lipachat_emulator: Emulator
) -> None:
    airflow = airflow_on_loopback
    recipients = Counter(f"2547{n:08d}" for n in range(COUNT))
    trigger_until_under_way(airflow, lipachat_emulator, MARKED_DAG_ID)
    (run_id,) = airflow.query("SELECT run_id FROM dag_run WHERE dag_id = ?", MARKED_DAG_ID)[0]
    path = f"/dags/{MARKED_DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances/send"
    marked_at = time.time()
    api(airflow, "PATCH", path, {"new_state": "failed"})

    # The supervisor learns of it at its next heartbeat; unstopped, sends would go on through this wait.
    time.sleep(HEARTBEAT_INTERVAL + STOP_GRACE + 3.0)
    first_try = lipachat_emulator.requests()
    last_send = max(arrived(r) for r in first_try) - marked_at
    delivered_before = Counter(r["to"] for r in first_try if r["outcome"] == "delivered")
    checkpointed = checkpointed_message_ids(airflow, MARKED_DAG_ID)
    assert send_state(airflow, MARKED_DAG_ID) == ("failed", 1)  # the stopped task's own failure asks no retry
    print(
        f"marked failed after {KILL_AFTER}+ delivered: last send {last_send:.1f} s after it, "
        f"{sum(delivered_before.values())} delivered; checkpointed {len(checkpointed)}"
    )
    # Unstopped it would send for another (1,500 - 400) / 200 = 5.5 s; stopped, within a heartbeat and the grace.
    assert last_send < HEARTBEAT_INTERVAL + STOP_GRACE
    assert sum(delivered_before.values()) < COUNT and max(delivered_before.values()) == 1

    airflow.cli("tasks", "clear", MARKED_DAG_ID, "--yes")
    airflow.wait_for(
        "the cleared task to succeed", lambda: send_state(airflow, MARKED_DAG_ID) == ("success", 2), timeout=120
    )
    rerun = lipachat_emulator.requests()[len(first_try) :]
    replayed = {r["messageId"] for r in rerun if r["outcome"] == "replayed"}
    print(f"cleared: the next try sent {len(rerun)}, {len(replayed)} answered as already sent")
    assert Counter(d["to"] for d in lipachat_emulator.deliveries()) == recipients  # each recipient exactly once
    delivered_ids = {r["messageId"] for r in first_try if r["outcome"] == "delivered"}
    if HAS_TASK_STATE_STORE:  # what was answered before the stop is kept; only the sends cancelled in flight again
        assert checkpointed and len(rerun) == COUNT - len(checkpointed)
        assert replayed == delivered_ids - checkpointed
        assert len(replayed) <= 200  # at most about rate x latency (200/s x 0.2-0.6 s) were in flight
    else:
        assert len(rerun) == COUNT and replayed == delivered_ids
