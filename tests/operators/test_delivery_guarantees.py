"""Exactly-once delivery through faults, retries and bad input, in real DAG runs against the emulator.

Each fault is scripted in the emulator; each test counts the requests it received, checks they
all carried the one message id, that exactly one message was delivered, and how the task ended.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.operators.lipachat import default_message_id
from tests.support import DAG_TEST_LOGS_SECRETS, DagRunOutcome, airflow_defect, connection_json, flat, printed

RunDag = Callable[..., DagRunOutcome]
RECIPIENT = "254711222333"

ONE_SEND = """
import pendulum
from datetime import timedelta
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    SendWhatsAppMediaOperator(
        task_id="send", to="254711222333", media_url="https://x.example/report.pdf",
        retries=2, retry_delay=timedelta(seconds=0),
    )
"""


@pytest.fixture
def fast_conn(lipachat_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection with a short timeout and four client retries, so faults resolve in seconds."""
    value = connection_json(lipachat_emulator.base_url, lipachat_emulator.api_key, timeout=0.5, max_retries=4)
    monkeypatch.setenv("AIRFLOW_CONN_LIPACHAT_DEFAULT", value)


def settled_requests(emulator: Emulator, expected: int) -> list[dict[str, Any]]:
    """The request log once ``expected`` requests are in (a delayed request lands late), within 10 s."""
    deadline = time.monotonic() + 10
    while len(emulator.requests()) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return emulator.requests()


FAULTS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "503 twice": [("status", {"status": 503, "count": 2})],
    "429 with Retry-After": [("status", {"status": 429, "retry_after": "1"})],
    "connection reset": [("reset", {})],
    "HTML 502 page from a proxy": [("html", {"status": 502})],
    "answer slower than the timeout": [("delay", {"delay": 1.5})],
    "delivered, then the answer times out": [("deliver_then_delay", {"delay": 1.5})],
    "mixed: 503, reset, HTML 504, 429": [
        ("status", {"status": 503}),
        ("reset", {}),
        ("html", {"status": 504}),
        ("status", {"status": 429, "retry_after": "0"}),
    ],
}
EXPECTED_REQUESTS = {
    "503 twice": 3,
    "429 with Retry-After": 2,
    "connection reset": 2,
    "HTML 502 page from a proxy": 2,
    "answer slower than the timeout": 2,
    "delivered, then the answer times out": 2,
    "mixed: 503, reset, HTML 504, 429": 5,
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_client_retries_ride_out_the_fault_with_one_delivery(
    name: str, run_dag: RunDag, lipachat_emulator: Emulator, fast_conn: None
) -> None:
    for action, options in FAULTS[name]:
        lipachat_emulator.add_fault(action, **options)

    outcome = run_dag(ONE_SEND)

    requests = settled_requests(lipachat_emulator, EXPECTED_REQUESTS[name])
    assert len(requests) == EXPECTED_REQUESTS[name]
    message_id = default_message_id(outcome.dag_id, "send", outcome.run_id, -1, RECIPIENT)
    assert {r["messageId"] for r in requests} == {message_id}
    [delivery] = lipachat_emulator.deliveries()
    assert outcome.task_states == {"send": "success"}
    assert outcome.try_numbers == {"send": 1}
    assert outcome.xcom("send") == delivery["waId"]  # the original waId, even when the answer was lost


def test_faults_outlasting_the_client_retries_are_left_to_airflow_retries(
    run_dag: RunDag, lipachat_emulator: Emulator, fast_conn: None
) -> None:
    lipachat_emulator.add_fault("status", status=503, count=5)  # all five attempts of try 1

    outcome = run_dag(ONE_SEND)

    requests = lipachat_emulator.requests()
    assert [r["outcome"] for r in requests] == ["fault:status"] * 5 + ["delivered"]
    assert len({r["messageId"] for r in requests}) == 1
    assert len(lipachat_emulator.deliveries()) == 1
    assert outcome.task_states == {"send": "success"}
    assert outcome.try_numbers == {"send": 2}


@pytest.fixture
def emulator_with_window() -> Iterator[Emulator]:
    with Emulator(enforce_session_window=True) as emulator:
        yield emulator


@pytest.mark.parametrize("failure", ["invalid credentials", "closed 24-hour window", "gateway rejects (422)"])
def test_permanent_errors_make_one_request_and_spend_no_retries(
    failure: str,
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    emulator_with_window: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    emulator, key, reason = lipachat_emulator, lipachat_emulator.api_key, ""
    if failure == "invalid credentials":
        key, reason = "wrong-key", "gateway refused the API key"
    elif failure == "closed 24-hour window":
        emulator, key, reason = emulator_with_window, emulator_with_window.api_key, "approved template message"
    else:
        emulator.add_fault("status", status=422)
        reason = "HTTP 422"
    monkeypatch.setenv("AIRFLOW_CONN_LIPACHAT_DEFAULT", connection_json(emulator.base_url, key, max_retries=4))

    outcome = run_dag(ONE_SEND)

    assert outcome.task_states == {"send": "failed"}
    assert outcome.try_numbers == {"send": 1}
    assert len(emulator.requests()) == 1
    assert emulator.deliveries() == []
    assert outcome.xcom("send") is None
    output = printed(capfd)
    assert reason in output


BAD_INPUTS = """
import pendulum
from datetime import timedelta
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

BAD = {
    "local_number": dict(to="{{ params.local }}", media_url="https://x.example/a.png"),
    "letters_in_number": dict(to="{{ params.letters }}", media_url="https://x.example/a.png"),
    "plain_http_url": dict(to="254711222333", media_url="http://x.example/{{ ds }}/a.png"),
    "ftp_url": dict(to="254711222333", media_url="ftp://x.example/a.png"),
    "unknown_type": dict(to="254711222333", media_url="https://x.example/a.png", media_type="{{ params.gif }}"),
    "uninferable_type": dict(to="254711222333", media_url="https://x.example/download?id={{ ds }}"),
    "long_caption": dict(to="254711222333", media_url="https://x.example/a.png", caption="{{ 'x' * 1025 }}"),
    "caption_on_audio": dict(to="254711222333", media_url="https://x.example/a.ogg", caption="{{ ds }}"),
    "caption_on_sticker": dict(to="254711222333", media_url="https://x.example/a.webp", caption="{{ ds }}"),
    "filename_on_image": dict(to="254711222333", media_url="https://x.example/a.png", filename="{{ ds }}.png"),
}

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         params={"local": "0712345678", "letters": "+254-7II-222-333", "gif": "gif"}) as dag:
    for task_id, arguments in BAD.items():
        SendWhatsAppMediaOperator(task_id=task_id, retries=2, retry_delay=timedelta(seconds=0), **arguments)
"""

EXPECTED_ERRORS = {
    "local_number": "to='0712****78': looks like a national number (leading 0) with no country code",
    "letters_in_number": "to='+254-7II-***-*33': has characters other than digits",
    "plain_http_url": "media_url='http://x.example/2024-05-01/a.png': is not https",
    "ftp_url": "media_url='ftp://x.example/a.png': is not https",
    "unknown_type": "media_type='gif': is unknown; expected one of IMAGE, VIDEO, AUDIO, DOCUMENT, STICKER",
    "uninferable_type": "media_type=None: was not given and cannot be inferred",
    "long_caption": "is 1025 characters; at most 1024 are accepted",
    "caption_on_audio": "caption='2024-05-01': is not allowed on AUDIO",
    "caption_on_sticker": "caption='2024-05-01': is not allowed on STICKER",
    "filename_on_image": "filename='2024-05-01.png': is not allowed on IMAGE",
}


def test_bad_input_from_templates_fails_clearly_before_any_request_without_retries(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    outcome = run_dag(BAD_INPUTS, logical_date="2024-05-01T00:00:00+00:00")

    assert lipachat_emulator.requests() == []
    assert outcome.task_states == dict.fromkeys(EXPECTED_ERRORS, "failed")
    assert outcome.try_numbers == dict.fromkeys(EXPECTED_ERRORS, 1)
    output = printed(capfd)
    for task_id, error in EXPECTED_ERRORS.items():
        assert error in output, task_id
    assert "0712345678" not in output  # a refused number is personal too: shown masked


@airflow_defect(
    DAG_TEST_LOGS_SECRETS,
    "Airflow 3.0: dag.test() prints the rendered fields and each traceback frame's locals, unmasked",
)
def test_a_refused_number_appears_nowhere_in_what_dag_test_prints(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    outcome = run_dag(ONE_SEND.replace('to="254711222333"', 'to="0712345678"'))

    assert outcome.task_states == {"send": "failed"}
    captured = capfd.readouterr()
    output = captured.out + captured.err
    assert EXPECTED_ERRORS["local_number"] in flat(output)
    assert "0712345678" not in output


def test_a_host_without_scheme_aimed_at_plain_http_fails_once_saying_to_write_http(
    run_dag: RunDag, lipachat_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    server = lipachat_emulator.base_url.removeprefix("http://")  # a host as people type it: no scheme
    monkeypatch.setenv("AIRFLOW_CONN_LIPACHAT_DEFAULT", connection_json(server, lipachat_emulator.api_key, timeout=5))
    outcome = run_dag(ONE_SEND)

    assert outcome.task_states == {"send": "failed"}
    assert outcome.try_numbers == {"send": 1}  # retrying cannot make the server speak TLS
    output = printed(capfd)
    assert f"{server} answered plain HTTP to an https:// request" in output
    assert f"set the host to http://{server}" in output
    assert output.count("retrying in") == 0
