"""``idempotency_key``: a list sent once per recipient per key across runs; the default sends again per run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.utils.message_ids import default_message_id
from tests.support import DagRunOutcome, printed

RunDag = Callable[..., DagRunOutcome]
RECIPIENTS = ["254711000941", "254711000942", "254711000943"]

REPORT_DAG = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         params={"report_day": "2024-05-01"}) as dag:
    SendWhatsAppMediaOperator(task_id="send", to=RECIPIENTS, media_url="https://x.example/report.pdf"KEY)
"""


def report_dag(key: str = "") -> str:
    return REPORT_DAG.replace("RECIPIENTS", repr(RECIPIENTS)).replace("KEY", key)


def test_runs_with_the_same_key_send_each_recipient_once(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    source = report_dag(', idempotency_key="{{ params.report_day }}"')
    first = run_dag(source)
    second = run_dag(source, again=first)  # the same DAG, a second run with a new run id

    assert first.task_states == second.task_states == {"send": "success"}
    assert len(lipachat_emulator.deliveries()) == len(RECIPIENTS)
    outcomes = [r["outcome"] for r in lipachat_emulator.sends()]
    assert outcomes == ["delivered"] * 3 + ["replayed"] * 3
    assert first.xcom("send") == second.xcom("send")
    assert first.xcom("send", key="message_id") == second.xcom("send", key="message_id")
    assert first.xcom("send", key="message_id") == {
        r: default_message_id(first.dag_id, "send", "ignored", -1, r, key="2024-05-01") for r in RECIPIENTS
    }


def test_without_a_key_each_run_sends_again(run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str) -> None:
    first = run_dag(report_dag())
    second = run_dag(report_dag(), again=first)

    assert first.run_id != second.run_id
    assert first.task_states == second.task_states == {"send": "success"}
    assert [r["outcome"] for r in lipachat_emulator.sends()] == ["delivered"] * 6
    assert len(lipachat_emulator.deliveries()) == 2 * len(RECIPIENTS)


def test_a_different_key_is_a_different_message(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    first = run_dag(report_dag(', idempotency_key="{{ params.report_day }}"'))
    run_dag(report_dag(', idempotency_key="{{ params.report_day }}", params={"report_day": "2024-05-02"}'), again=first)

    assert [r["outcome"] for r in lipachat_emulator.sends()] == ["delivered"] * 6


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (
            ', idempotency_key="{{ params.report_day }}", params={"report_day": ""}',
            "expected non-empty text such as '{{ ds }}'",
        ),
        (
            ', to="254711000941", message_id="m-1", idempotency_key="k"',
            "idempotency_key='k': was given with message_id",
        ),
    ],
)
def test_a_blank_key_or_a_key_beside_message_id_is_refused_before_any_request(
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    capfd: pytest.CaptureFixture[str],
    arguments: str,
    complaint: str,
) -> None:
    source = report_dag(arguments)
    if "message_id" in arguments:
        source = source.replace(f"to={RECIPIENTS!r}, ", "")
    outcome = run_dag(source)

    assert outcome.task_states == {"send": "failed"}
    assert lipachat_emulator.requests() == []
    assert complaint in printed(capfd)
