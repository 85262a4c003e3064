"""A fan-out faster than the sender number's throughput limit slows down instead of failing: real DAG runs."""

from __future__ import annotations

from collections.abc import Callable

from airflow_provider_lipachat.emulator import Emulator, busiest_window
from tests.support import SANDBOX_SENDER, DagRunOutcome

RunDag = Callable[..., DagRunOutcome]
THIRTY = [f"2547000001{n:02d}" for n in range(30)]
PER_SECOND = 10

TEXT_FAN_OUT_DAG = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    SendWhatsAppTextOperator(task_id="announce", to=RECIPIENTS, message="Quarterly results are out", retries=0)
"""


def test_every_recipient_gets_one_message_at_the_pace_whatsapp_allows(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    lipachat_emulator.set_throughput(PER_SECOND)  # no rate_limit on the connection: the client goes as fast as it can

    outcome = run_dag(TEXT_FAN_OUT_DAG.replace("RECIPIENTS", repr(THIRTY)))

    assert outcome.task_states == {"announce": "success"}
    assert outcome.try_numbers == {"announce": 1}  # the client waited the refusals out; Airflow never retried
    deliveries = lipachat_emulator.deliveries()
    assert sorted(d["to"] for d in deliveries) == THIRTY
    assert outcome.xcom("announce") == {d["to"]: d["waId"] for d in deliveries}
    assert lipachat_emulator.throttled_count(SANDBOX_SENDER) > 0  # the limit was met, and answered 130429
    accepted = [a.at for a in lipachat_emulator.arrivals(SANDBOX_SENDER) if a.accepted]
    assert len(accepted) == len(THIRTY)
    assert busiest_window(accepted) <= PER_SECOND
    assert max(accepted) - min(accepted) >= 2.0  # 30 at 10 per second: slowed down, not refused
