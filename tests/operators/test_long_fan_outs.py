"""Fan-outs that outlast the checkpoint interval, through the operator in real DAG runs.

A list send checkpoints what it delivered every ``checkpoint_interval`` seconds (10 by default).
These runs cross that interval many times, at a rate limit, and check that everyone gets one
message, XCom holds every waId, and (Airflow >= 3.3) each checkpoint stored only what was new.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from datetime import datetime

import pytest

from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.utils.checkpoint import CHUNK_KEY, INDEX_KEY, MAX_CHUNK_BYTES
from tests.support import HAS_TASK_STATE_STORE, DagRunOutcome, connection_json, printed

RunDag = Callable[..., DagRunOutcome]

LONG_DAG = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    SendWhatsAppMediaOperator(
        task_id="send", to=[f"2547{n:08d}" for n in range(COUNT)],
        media_url="https://cdn.example.org/weekly.pdf", OPTIONS
    )
"""


def long_dag(count: int, **options: object) -> str:
    rendered = ", ".join(f"{name}={value!r}" for name, value in options.items())
    return LONG_DAG.replace("COUNT", str(count)).replace("OPTIONS", rendered)


def progress_lines(output: str) -> list[str]:
    return re.findall(r"LipaChat fan-out: \d+/\d+ done .*", output)


def test_a_few_thousand_recipients_cross_many_checkpoints_and_each_gets_one_message(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    count = 3000
    outcome = run_dag(long_dag(count, max_concurrency=16, rate_limit=400.0, checkpoint_interval=1.0))

    assert outcome.task_states == {"send": "success"}
    deliveries = lipachat_emulator.deliveries()
    assert len(deliveries) == count
    assert len({d["to"] for d in deliveries}) == count
    assert outcome.xcom("send") == {d["to"]: d["waId"] for d in deliveries}
    assert len(outcome.xcom("send", key="message_id")) == count
    output = capfd.readouterr()
    lines = progress_lines(output.out + output.err)
    checkpoints = [line for line in lines if "checkpoint saved" in line]
    assert len(checkpoints) >= 4, lines  # 3000 at 400/s is 7.6 s or more: a save every second
    if HAS_TASK_STATE_STORE:
        state = outcome.task_state("send")
        chunks = [state[CHUNK_KEY.format(number=n)] for n in range(state[INDEX_KEY]["chunks"])]
        assert len(chunks) >= 5
        stored = [message_id for chunk in chunks for message_id in chunk]
        # Every delivery stored once, none rewritten: a checkpoint holds only what is new since the last.
        assert len(stored) == len(set(stored)) == count
        assert max(len(chunk) for chunk in chunks) < count / 2
        assert max(len(json.dumps(chunk)) for chunk in chunks) <= MAX_CHUNK_BYTES  # the store's size policy
        assert sorted(wa_id for chunk in chunks for wa_id, _ in chunk.values()) == sorted(d["waId"] for d in deliveries)


def test_a_fractional_rate_limit_across_the_default_checkpoint_interval(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    # 30 starts at 2.5/s take about 12 s: the first progress checkpoint (at 10 s) happens mid-send.
    outcome = run_dag(long_dag(30, rate_limit=2.5))

    assert outcome.task_states == {"send": "success"}
    received = sorted(datetime.fromisoformat(r["received_at"][:26]).timestamp() for r in lipachat_emulator.requests())
    assert len(received) == 30
    assert received[-1] - received[0] >= 29 / 2.5
    assert min(b - a for a, b in itertools.pairwise(received)) > 1 / 2.5 - 0.05
    if HAS_TASK_STATE_STORE:
        assert outcome.task_state("send")[INDEX_KEY]["chunks"] >= 2  # mid-send and at the end


def test_a_refused_key_over_many_recipients_is_summarised_in_one_line_per_cause(
    run_dag: RunDag, lipachat_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LIPACHAT_DEFAULT", connection_json(lipachat_emulator.base_url, "wrong-key"))
    outcome = run_dag(long_dag(500, max_concurrency=4))

    assert outcome.task_states == {"send": "failed"}
    assert outcome.try_numbers == {"send": 1}  # a refused key is permanent
    assert len(lipachat_emulator.requests()) <= 8  # the rest are not attempted
    output = capfd.readouterr()
    text = output.out + output.err
    causes = re.findall(r"Not sent to (\d+) recipient\(s\) \((2547\*+\d\d(?:, 2547\*+\d\d)*)", text)
    assert 1 <= len(causes) <= 2
    assert sum(int(n) for n, _ in causes) == 500
    assert "LipaChatAuthError" in text
    failed = outcome.xcom("send", key="failed")
    assert len(failed) == 500 and all("LipaChatAuthError" in cause for cause in failed.values())


@pytest.mark.parametrize(
    ("value", "problem"),
    [(0, "greater than 0"), (-1, "greater than 0"), (float("nan"), "greater than 0"), ("fast", "greater than 0")],
)
def test_a_rate_limit_that_is_not_a_positive_number_is_refused_when_the_dag_is_parsed(
    value: object, problem: str
) -> None:
    from airflow_provider_lipachat.exceptions import LipaChatValidationError
    from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

    with pytest.raises(LipaChatValidationError, match=problem) as refused:
        SendWhatsAppMediaOperator(
            task_id="send", to="254711000001", media_url="https://x.example/a.pdf", rate_limit=value
        )
    assert refused.value.field == "rate_limit"
    assert "such as 80 or 0.5" in str(refused.value)


@pytest.mark.parametrize("value", [0, -5, 2001, 2.5, "many", True])
def test_a_max_concurrency_outside_1_to_2000_is_refused_when_the_dag_is_parsed(value: object) -> None:
    from airflow_provider_lipachat.exceptions import LipaChatValidationError
    from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

    with pytest.raises(LipaChatValidationError) as refused:
        SendWhatsAppTextOperator(task_id="send", to="254711000001", message="hi", max_concurrency=value)
    assert refused.value.field == "max_concurrency"
    assert "expected a whole number from 1 to 2000" in str(refused.value)


def test_a_connection_rate_limit_of_zero_fails_the_task_before_any_request(
    run_dag: RunDag, lipachat_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_LIPACHAT_DEFAULT",
        connection_json(lipachat_emulator.base_url, lipachat_emulator.api_key, rate_limit=0),
    )
    outcome = run_dag(long_dag(200))

    assert outcome.task_states == {"send": "failed"}
    assert outcome.try_numbers == {"send": 1}  # bad input: no retry
    assert lipachat_emulator.requests() == []
    log = printed(capfd)
    assert "rate_limit=0: expected messages per second: a number greater than 0" in log, log[-3000:]
