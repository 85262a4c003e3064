"""Recipients checked against each country's numbering plan, in real DAG runs: what is refused, sent, and read."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from airflow_provider_lipachat.emulator import Emulator
from tests.gateway.test_recipients import IDS_BEFORE_THE_PLAN, VALID_ABROAD
from tests.support import DagRunOutcome, connection_json, printed

RunDag = Callable[..., DagRunOutcome]

SEND_DAG = """
import pendulum
from datetime import timedelta
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    SendWhatsAppTextOperator(task_id="send", to=TO, message="Report ready", retries=2,
                             retry_delay=timedelta(seconds=0)EXTRA)
"""


def send_dag(to: object, extra: str = "") -> str:
    return SEND_DAG.replace("TO", repr(to)).replace("EXTRA", extra)


@pytest.mark.parametrize(
    ("typo", "shown", "digits"),
    [("+25471100092", "+2547*****92", 8), ("+2547110009210", "+2547*******10", 10)],
    ids=["a-digit-missing", "a-digit-too-many"],
)
def test_a_typo_in_one_number_fails_the_task_before_any_request_and_without_retries(
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    capfd: pytest.CaptureFixture[str],
    typo: str,
    shown: str,
    digits: int,
) -> None:
    outcome = run_dag(send_dag(["+254711000921", typo, "+254110090747"]))

    assert outcome.task_states == {"send": "failed"}
    assert outcome.try_numbers == {"send": 1}
    assert lipachat_emulator.requests() == []
    output = printed(capfd)
    assert f"to='{shown}': cannot exist in Kenya (+254): it has {digits} digits after +254" in output
    assert "(mobiles 9, such as +254 712 123456)" in output
    assert "check_numbering_plan=False" in output and "upgrade phonenumbers (installed: " in output
    assert typo.removeprefix("+") not in output


def test_numbers_from_ten_countries_are_sent_as_the_digits_the_release_before_sent(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    outcome = run_dag(send_dag(list(VALID_ABROAD.values())))

    assert outcome.task_states == {"send": "success"}
    assert sorted(d["to"] for d in lipachat_emulator.deliveries()) == sorted(IDS_BEFORE_THE_PLAN)
    assert set(outcome.xcom("send")) == set(IDS_BEFORE_THE_PLAN)


def test_a_national_number_is_sent_in_the_connections_default_region(
    run_dag: RunDag, lipachat_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = connection_json(lipachat_emulator.base_url, lipachat_emulator.api_key, default_region="KE")
    monkeypatch.setenv("AIRFLOW_CONN_LIPACHAT_DEFAULT", value)

    outcome = run_dag(send_dag(["0711 000 921", "+255 621 234 567"]))

    assert outcome.task_states == {"send": "success"}
    assert sorted(d["to"] for d in lipachat_emulator.deliveries()) == ["254711000921", "255621234567"]


def test_without_a_default_region_a_national_number_is_refused_naming_the_extra(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    outcome = run_dag(send_dag(["+254711000921", "0711 000 922"]))

    assert outcome.task_states == {"send": "failed"}
    assert lipachat_emulator.requests() == []
    output = printed(capfd)
    assert "to='0711 *** *22': looks like a national number (leading 0) with no country code" in output
    assert "set the connection's default_region extra to their country's ISO code (such as 'KE')" in output


def test_a_default_region_that_is_no_country_fails_the_task_naming_the_extra(
    run_dag: RunDag, lipachat_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    value = connection_json(lipachat_emulator.base_url, lipachat_emulator.api_key, default_region="Kenya")
    monkeypatch.setenv("AIRFLOW_CONN_LIPACHAT_DEFAULT", value)

    outcome = run_dag(send_dag("0711 000 921"))

    assert outcome.task_states == {"send": "failed"}
    assert lipachat_emulator.requests() == []
    assert "default_region='Kenya': expected a two-letter ISO 3166 country code" in printed(capfd)


def test_a_number_the_plan_does_not_know_is_sent_with_the_check_off(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    unknown = "+1 555 010 9999"  # unassigned in the plan, as a range is until phonenumbers adds it
    refused = run_dag(send_dag([unknown, "+254711000921"]))
    assert refused.task_states == {"send": "failed"}
    assert lipachat_emulator.requests() == []

    sent = run_dag(send_dag([unknown, "+254711000921"], ", check_numbering_plan=False"))

    assert sent.task_states == {"send": "success"}
    assert sorted(d["to"] for d in lipachat_emulator.deliveries()) == ["15550109999", "254711000921"]
