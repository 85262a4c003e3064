"""A send the gateway answers as already sent is visible, and changed content can be sent again on purpose.

Real DAG runs against the emulator, which answers a repeated messageId with its stored first answer,
timestamp and all. Under a key the task tells a replay from the message list, not from that timestamp:
the tests move the stored answers' timestamps (``backdate_gateway_answers``) between runs to show a
re-run the next day, at once, and against a gateway clock hours ahead are all told alike.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from airflow_provider_lipachat.compat import AIRFLOW_V3
from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.utils.message_ids import default_message_id
from tests.support import (
    DAG_TEST_LOGS_THROUGH_STDLIB,
    HAS_TASK_STATE_STORE,
    DagRunOutcome,
    backdate_gateway_answers,
    connection_json,
    flat,
    printed,
)

RunDag = Callable[..., DagRunOutcome]
RECIPIENTS = ["254711000951", "254711000952", "254711000953"]
A_DAY = 24 * 3600
REPLAY_WARNING = "3 of 3 recipient(s) were answered as already sent under idempotency_key '2024-05-01'"

MEDIA_DAG = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         params={"report_day": "2024-05-01"}) as dag:
    SendWhatsAppMediaOperator(
        task_id="send", to=RECIPIENTS, media_url="https://x.example/report.pdf", caption=CAPTION,
        idempotency_key="{{ params.report_day }}", preflight=False, RESEND
    )
"""


def media_dag(caption: str, *, resend_if_changed: bool = False) -> str:
    return (
        MEDIA_DAG.replace("RECIPIENTS", repr(RECIPIENTS))
        .replace("CAPTION", repr(caption))
        .replace("RESEND", f"resend_if_changed={resend_if_changed}")
    )


LEVEL_MARK = re.compile(r"\[\s*(debug|info|warning|error|critical)\s*\]")  # Airflow 3: ... [warning  ] message


@dataclass
class TaskLog:
    """What the DAG runs since the last look printed, and the log records among it as (level, message)."""

    text: str
    records: list[tuple[str, str]]

    def saying(self, text: str) -> list[tuple[str, str]]:
        """The records whose message contains ``text``."""
        return [(level, message) for level, message in self.records if text in message]


@pytest.fixture
def task_log(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Callable[[], TaskLog]:
    """Read what was logged since the last call: the text, and each record once with its level.

    Airflow 3.1+'s ``dag.test()`` prints structlog lines, read here from what the test printed (``capfd``),
    a record running from its level mark to the next one; pytest's log capture does not see them.
    Airflow 2's and 3.0's go through standard logging, which pytest's log capture sees once per record. Its
    ``dag.test()`` also adds a handler on ``sys.stdout`` the first time it runs in a session, so ``capfd``
    is not used there: a handler left on a test's closed ``capfd`` stream fails every later test's logging.
    """
    capfd = request.getfixturevalue("capfd") if AIRFLOW_V3 else None

    def read() -> TaskLog:
        shown = printed(capfd) if capfd is not None else ""
        if DAG_TEST_LOGS_THROUGH_STDLIB:  # records in caplog; on 3.0 a task's failure is printed beside them
            text = f"{flat(caplog.text)} {shown}"
            records = [(record.levelname.lower(), record.getMessage()) for record in caplog.records]
        else:
            text = shown
            marks = list(LEVEL_MARK.finditer(text))
            ends = [mark.start() for mark in marks[1:]] + [len(text)]
            records = [(mark.group(1), text[mark.end() : end].strip()) for mark, end in zip(marks, ends, strict=True)]
        caplog.clear()
        return TaskLog(text, records)

    return read


def captions_delivered(emulator: Emulator) -> list[tuple[str, str]]:
    return sorted((d["to"], d["payload"].get("caption")) for d in emulator.deliveries())


#: When the re-run comes, as the gateway's stored answers' timestamps tell it: a replay is told by the
#: message list, never by those clocks, so a re-run at once and a gateway clock hours ahead (answers
#: that look newer than the send) are told as surely as a re-run the next day.
RERUN_AFTER = pytest.mark.parametrize(
    "answers_aged", [A_DAY, 0, -3 * 3600], ids=["a-day-later", "at-once", "gateway-clock-3h-ahead"]
)


@RERUN_AFTER
def test_a_rerun_with_the_same_key_and_a_changed_caption_warns_once_and_lists_the_replayed(
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    task_log: Callable[[], TaskLog],
    answers_aged: float,
) -> None:
    first = run_dag(media_dag("Sales, first draft"))
    task_log()  # the first run's log, left behind
    backdate_gateway_answers(lipachat_emulator, answers_aged)
    second = run_dag(media_dag("Sales, corrected"), again=first)
    log = task_log()
    output = log.text

    assert first.task_states == second.task_states == {"send": "success"}
    assert [r["outcome"] for r in lipachat_emulator.sends()] == ["delivered"] * 3 + ["replayed"] * 3
    assert captions_delivered(lipachat_emulator) == [(r, "Sales, first draft") for r in RECIPIENTS]
    assert first.xcom("send", key="replayed") == []
    assert second.xcom("send", key="replayed") == RECIPIENTS
    [(level, warning)] = log.saying("answered as already sent under")
    assert level == "warning", warning
    assert REPLAY_WARNING in warning
    assert "the gateway kept the first message and sent nothing new" in warning
    assert "use a new key (such as '{{ ds }}-v2') or set resend_if_changed=True" in warning
    assert "Delivered to all 3 recipient(s), 3 of them answered as already sent" in output
    assert [level for level, _ in log.saying("answered as already sent")] == ["info", "warning"]
    assert "254711000951" not in output  # recipients stay masked in the log


def test_resend_if_changed_sends_changed_content_once_and_the_same_content_never_again(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, task_log: Callable[[], TaskLog]
) -> None:
    first = run_dag(media_dag("Sales, first draft", resend_if_changed=True))
    backdate_gateway_answers(lipachat_emulator, A_DAY)
    second = run_dag(media_dag("Sales, corrected", resend_if_changed=True), again=first)
    backdate_gateway_answers(lipachat_emulator, A_DAY)
    task_log()
    third = run_dag(media_dag("Sales, corrected", resend_if_changed=True), again=first)
    log = task_log()

    assert first.task_states == second.task_states == third.task_states == {"send": "success"}
    outcomes = [r["outcome"] for r in lipachat_emulator.sends()]
    assert outcomes == ["delivered"] * 6 + ["replayed"] * 3
    assert captions_delivered(lipachat_emulator) == sorted(
        [(r, "Sales, first draft") for r in RECIPIENTS] + [(r, "Sales, corrected") for r in RECIPIENTS]
    )
    ids = [run.xcom("send", key="message_id") for run in (first, second, third)]
    assert all(ids[0][r] != ids[1][r] == ids[2][r] for r in RECIPIENTS)
    assert [run.xcom("send", key="replayed") for run in (first, second, third)] == [[], [], RECIPIENTS]
    # The third run's replays are the same content under the same key: exactly once, said at info.
    [(level, line)] = log.saying("answered as already sent under idempotency_key '2024-05-01' with this same")
    assert level == "info", line
    assert [level for level, _ in log.saying("answered as already sent")] == ["info", "info"]


def test_resend_if_changed_ignores_a_signature_that_changes_on_every_run(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    source = media_dag("Sales", resend_if_changed=True).replace(
        "https://x.example/report.pdf", "https://x.example/report.pdf?X-Amz-Signature={{ run_id | replace(':', '') }}"
    )
    first = run_dag(source)
    backdate_gateway_answers(lipachat_emulator, A_DAY)
    second = run_dag(source, again=first)

    assert [r["outcome"] for r in lipachat_emulator.sends()] == ["delivered"] * 3 + ["replayed"] * 3
    signed = {d["payload"]["mediaUrl"] for d in lipachat_emulator.deliveries()}
    assert len(signed) == 1 and "X-Amz-Signature=" in signed.pop()  # the link was sent signed, as given
    assert second.xcom("send", key="message_id") == first.xcom("send", key="message_id")
    assert second.xcom("send", key="replayed") == RECIPIENTS


ONE_RECIPIENT_DAG = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         params={"day": "2024-05-01"}) as dag:
    SendWhatsAppTextOperator(
        task_id="send", to="254711000961", message=MESSAGE, idempotency_key="{{ params.day }}", RESEND
    )
"""


def one_recipient_dag(message: str, *, resend_if_changed: bool = False) -> str:
    return ONE_RECIPIENT_DAG.replace("MESSAGE", repr(message)).replace(
        "RESEND", f"resend_if_changed={resend_if_changed}"
    )


@RERUN_AFTER
def test_one_recipient_answered_as_already_sent_warns_and_lists_it(
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    task_log: Callable[[], TaskLog],
    answers_aged: float,
) -> None:
    first = run_dag(one_recipient_dag("Stock is low"))
    backdate_gateway_answers(lipachat_emulator, answers_aged)
    task_log()
    second = run_dag(one_recipient_dag("Stock is low: reorder 40 units"), again=first)
    log = task_log()

    assert first.task_states == second.task_states == {"send": "success"}
    [delivery] = lipachat_emulator.deliveries()
    assert delivery["payload"]["message"] == "Stock is low"
    assert second.xcom("send") == first.xcom("send") == delivery["waId"]
    assert (first.xcom("send", key="replayed"), second.xcom("send", key="replayed")) == ([], ["254711000961"])
    [(level, warning)] = log.saying("answered as already sent under")
    assert level == "warning", warning
    assert "1 of 1 recipient(s) were answered as already sent under idempotency_key '2024-05-01'" in warning

    third = run_dag(one_recipient_dag("Stock is low: reorder 40 units", resend_if_changed=True), again=first)

    assert third.task_states == {"send": "success"}
    assert [d["payload"]["message"] for d in lipachat_emulator.deliveries()] == [
        "Stock is low",
        "Stock is low: reorder 40 units",
    ]
    assert third.xcom("send", key="replayed") == []
    assert third.xcom("send", key="message_id") == default_message_id(
        first.dag_id,
        "send",
        "ignored",
        -1,
        "254711000961",
        key="2024-05-01",
        content=("text", "Stock is low: reorder 40 units"),
    )


def test_resend_if_changed_beside_message_id_is_refused_before_any_request(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, task_log: Callable[[], TaskLog]
) -> None:
    source = one_recipient_dag("Stock is low", resend_if_changed=True).replace(
        'idempotency_key="{{ params.day }}"', 'message_id="stock-{{ params.day }}"'
    )
    outcome = run_dag(source)

    assert outcome.task_states == {"send": "failed"}
    assert lipachat_emulator.requests() == []
    assert "resend_if_changed=True: was given with message_id 'stock-2024-05-01'" in task_log().text


RETRIED_DAG = """
import pendulum
from datetime import timedelta
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    SendWhatsAppMediaOperator(
        task_id="send", to="254711000971", media_url="https://x.example/report.pdf", preflight=False,
        retries=1, retry_delay=timedelta(seconds=0),
    )
"""


@pytest.fixture
def backdate_after_first_delivery(lipachat_emulator: Emulator) -> Iterator[None]:
    """Once the first message is delivered, age its stored answer five minutes, Airflow's default retry_delay.

    The task's retry comes seconds later here; in production it comes after ``retry_delay``.
    """
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if lipachat_emulator.deliveries():
                backdate_gateway_answers(lipachat_emulator, 300)
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, name="backdate-after-first-delivery", daemon=True)
    watcher.start()
    yield
    stop.set()
    watcher.join(timeout=5)


def test_a_plain_airflow_retry_whose_first_try_got_through_logs_no_warning(
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    backdate_after_first_delivery: None,
    task_log: Callable[[], TaskLog],
) -> None:
    value = connection_json(lipachat_emulator.base_url, lipachat_emulator.api_key, timeout=0.5, max_retries=1)
    monkeypatch.setenv("AIRFLOW_CONN_LIPACHAT_DEFAULT", value)
    # Try 1 is delivered, but neither of its two attempts gets an answer in time: it fails, and Airflow retries.
    lipachat_emulator.add_fault("deliver_then_delay", delay=1.5, count=2)

    outcome = run_dag(RETRIED_DAG)
    log = task_log()

    assert outcome.task_states == {"send": "success"}
    assert outcome.try_numbers == {"send": 2}
    assert [r["outcome"] for r in lipachat_emulator.sends()] == ["delivered", "replayed", "replayed"]
    [delivery] = lipachat_emulator.deliveries()
    assert outcome.xcom("send") == delivery["waId"]
    assert outcome.xcom("send", key="replayed") == ["254711000971"]
    [(level, line)] = log.saying("were answered as already sent: an earlier try of this run got through")
    assert level == "info", line
    assert "1 of 1 recipient(s)" in line
    assert [level for level, _ in log.saying("answered as already sent")] == ["info", "info"]
    assert not log.saying("idempotency_key")


FAILS_AFTER_SENDING_DAG = """
import pendulum
from datetime import timedelta
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator


class FailsOnceAfterSending(SendWhatsAppMediaOperator):
    def post_execute(self, context, result=None):
        if context["ti"].try_number == 1:
            raise RuntimeError("the worker failed after the sends")


with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    FailsOnceAfterSending(
        task_id="send", to=RECIPIENTS, media_url="https://x.example/report.pdf", preflight=False,
        retries=1, retry_delay=timedelta(seconds=0),
    )
"""


def test_a_retry_with_everyone_delivered_says_there_is_nothing_to_send(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, task_log: Callable[[], TaskLog]
) -> None:
    outcome = run_dag(FAILS_AFTER_SENDING_DAG.replace("RECIPIENTS", repr(RECIPIENTS)))
    log = task_log()
    output = log.text

    assert outcome.task_states == {"send": "success"}
    assert outcome.try_numbers == {"send": 2}
    assert len(lipachat_emulator.deliveries()) == 3
    assert outcome.xcom("send", key="replayed") == []  # seconds apart: within the tolerance
    if HAS_TASK_STATE_STORE:  # the checkpoint knows all three were delivered: no request at all
        assert len(lipachat_emulator.sends()) == 3
        assert "All 3 recipient(s) were delivered on an earlier try; nothing to send" in output
        assert "Sending to 0 of" not in output
    else:  # re-sent with the same ids and answered from the gateway's dedup
        assert [r["outcome"] for r in lipachat_emulator.sends()] == ["delivered"] * 3 + ["replayed"] * 3
        assert "Sending to 3 of 3 recipient(s)" in output
