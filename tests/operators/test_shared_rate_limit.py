"""A fan-out drawing from the sender number's shared budget in Redis, through the operator in real DAG runs."""

from __future__ import annotations

import datetime
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from airflow_provider_lipachat.emulator import Emulator, busiest_window
from tests.redis_server import RedisServer
from tests.support import DagRunOutcome, connection_json, printed

RunDag = Callable[..., DagRunOutcome]
STORE_CONN = "lipachat_rate_store"

FAN_OUT = """
import pendulum
from datetime import timedelta
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    SendWhatsAppTextOperator(
        task_id="send", to=[f"2547{n:08d}" for n in range(COUNT)], message="Partition ready",
        max_concurrency=8, retries=RETRIES, retry_delay=timedelta(seconds=RETRY_DELAY),
    )
"""


def fan_out(count: int, retries: int = 0, retry_delay: float = 0) -> str:
    return (
        FAN_OUT.replace("COUNT", str(count)).replace("RETRIES", str(retries)).replace("RETRY_DELAY", str(retry_delay))
    )


@pytest.fixture
def shared_conn(lipachat_emulator: Emulator, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """``lipachat_default`` at 20 messages/s, shared through the Redis connection ``lipachat_rate_store``."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{STORE_CONN.upper()}", redis_server.url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_LIPACHAT_DEFAULT",
        connection_json(
            lipachat_emulator.base_url,
            lipachat_emulator.api_key,
            timeout=5,
            rate_limit=20,
            rate_limit_store_conn_id=STORE_CONN,
        ),
    )
    return "lipachat_default"


def delivered_arrivals(emulator: Emulator) -> list[float]:
    return [
        datetime.datetime.fromisoformat(r["received_at"][:26]).timestamp()
        for r in emulator.requests()
        if r["outcome"] == "delivered"
    ]


def test_a_fan_out_keeps_to_the_shared_budget_and_says_so(
    run_dag: RunDag, lipachat_emulator: Emulator, shared_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    outcome = run_dag(fan_out(40))

    assert outcome.task_states == {"send": "success"}
    assert Counter(d["to"] for d in lipachat_emulator.deliveries()) == {f"2547{n:08d}": 1 for n in range(40)}
    arrivals = delivered_arrivals(lipachat_emulator)
    assert busiest_window(arrivals) <= 20
    assert "at most 20/s (20/s shared by every task sending from this number, through 'lipachat_rate_store')" in (
        printed(capfd)
    )


def test_the_task_s_own_lower_rate_limit_applies_on_top_of_the_shared_one(
    run_dag: RunDag, lipachat_emulator: Emulator, shared_conn: str
) -> None:
    source = fan_out(12).replace('message="Partition ready",', 'message="Partition ready", rate_limit=5,')
    outcome = run_dag(source)

    assert outcome.task_states == {"send": "success"}
    assert busiest_window(delivered_arrivals(lipachat_emulator)) <= 5


@pytest.fixture
def store_down_for_a_while(
    redis_server: RedisServer, lipachat_emulator: Emulator
) -> Iterator[Callable[[int, float], None]]:
    """Stop the store once the emulator has ``after`` deliveries, and start it again (same port) ``for_`` s later."""
    threads: list[threading.Thread] = []

    def schedule(after: int, for_: float) -> None:
        def outage() -> None:
            deadline = time.monotonic() + 120
            while len(lipachat_emulator.deliveries()) < after and time.monotonic() < deadline:
                time.sleep(0.01)
            redis_server.stop()
            time.sleep(for_)
            redis_server.start()

        threads.append(threading.Thread(target=outage, daemon=True))
        threads[-1].start()

    yield schedule
    for thread in threads:
        thread.join(timeout=30)


def test_a_store_outage_fails_the_try_as_transient_and_the_retry_delivers_the_rest_exactly_once(
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    shared_conn: str,
    store_down_for_a_while: Callable[[int, float], None],
    capfd: pytest.CaptureFixture[str],
) -> None:
    count = 60  # three seconds at 20/s: the store goes away after 20 deliveries, for two; the retry waits four
    store_down_for_a_while(20, 2.0)
    outcome = run_dag(fan_out(count, retries=2, retry_delay=4))

    assert outcome.task_states == {"send": "success"}
    assert outcome.try_numbers == {"send": 2}
    sends = Counter(d["to"] for d in lipachat_emulator.deliveries())
    assert sends == {f"2547{n:08d}": 1 for n in range(count)}
    output = printed(capfd)
    assert "the shared rate limit's store (connection 'lipachat_rate_store') did not answer" in output
    assert busiest_window(delivered_arrivals(lipachat_emulator)) <= 20
