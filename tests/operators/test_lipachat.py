"""SendWhatsAppMediaOperator in real DAG runs (``dag.test()``) against the emulator over HTTP."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator, default_message_id
from tests.support import (
    DAG_TEST_AT_DEBUG_LOGS_SECRETS,
    DAG_TEST_LOGS_SECRETS,
    DAGS_FOLDER,
    HAS_TASK_STATE_STORE,
    SANDBOX_SENDER,
    DagRunOutcome,
    airflow_defect,
    connection_json,
    printed,
)

RunDag = Callable[..., DagRunOutcome]

REPORT_DAG = """
import pendulum
from airflow.sdk import DAG, task
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         params={"recipient": "+254 711-222-333"}) as dag:
    send = SendWhatsAppMediaOperator(
        task_id="send_report",
        to="{{ params.recipient }}",
        media_url="https://reports.example.com/daily/{{ ds }}/summary.pdf",
        filename="summary-{{ ds }}.pdf",
        caption="Daily summary for {{ ds }}",
    )

    @task
    def confirm(wa_id):
        return "confirmed " + wa_id

    confirm(send.output)
"""


def test_templated_document_is_delivered_and_the_wa_id_flows_downstream(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    outcome = run_dag(REPORT_DAG, logical_date="2024-03-05T00:00:00+00:00")

    assert outcome.task_states == {"send_report": "success", "confirm": "success"}
    [delivery] = lipachat_emulator.deliveries()
    expected_id = default_message_id(outcome.dag_id, "send_report", outcome.run_id, -1, "254711222333")
    assert delivery["payload"] == {
        "messageId": expected_id,
        "mediaType": "DOCUMENT",
        "mediaUrl": "https://reports.example.com/daily/2024-03-05/summary.pdf",
        "caption": "Daily summary for 2024-03-05",
        "filename": "summary-2024-03-05.pdf",
        "from": SANDBOX_SENDER,
        "to": "254711222333",
    }
    assert outcome.xcom("send_report") == delivery["waId"]
    assert outcome.xcom("send_report", key="message_id") == expected_id
    assert outcome.xcom("confirm") == "confirmed " + delivery["waId"]
    rendered = outcome.rendered_fields("send_report")
    assert rendered["caption"] == "Daily summary for 2024-03-05"
    assert rendered["to"] == "+254 711-222-333"


def test_media_type_is_inferred_and_the_url_can_come_from_upstream_xcom(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    outcome = run_dag(
        """
        import pendulum
        from airflow.sdk import DAG, task
        from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

        with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
            @task
            def make_chart():
                return "https://charts.example.com/run/{{ not templated here }}/chart.PNG"

            chart = make_chart()
            send = SendWhatsAppMediaOperator(
                task_id="send_chart",
                to="254711222333",
                media_url="{{ ti.xcom_pull(task_ids='make_chart') }}",
                caption="Chart of the day",
            )
            chart >> send
        """
    )
    assert outcome.task_states == {"make_chart": "success", "send_chart": "success"}
    [delivery] = lipachat_emulator.deliveries()
    assert delivery["payload"]["mediaType"] == "IMAGE"
    # Not rendered again, and encoded as a browser would send it.
    assert (
        delivery["payload"]["mediaUrl"]
        == "https://charts.example.com/run/%7B%7B%20not%20templated%20here%20%7D%7D/chart.PNG"
    )


def test_mapped_over_recipients_sends_one_message_each_with_its_own_id(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    outcome = run_dag(
        """
        import pendulum
        from airflow.sdk import DAG
        from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

        with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
            SendWhatsAppMediaOperator.partial(
                task_id="fan_out", media_url="https://x.example/clip.mp4", caption="Run {{ run_id }}"
            ).expand(to=["254700000001", "254700000002", "+254 700 000 003"])
        """
    )
    assert outcome.task_states == {"fan_out[0]": "success", "fan_out[1]": "success", "fan_out[2]": "success"}
    deliveries = lipachat_emulator.deliveries()
    assert sorted(d["to"] for d in deliveries) == ["254700000001", "254700000002", "254700000003"]
    assert {d["payload"]["caption"] for d in deliveries} == {f"Run {outcome.run_id}"}
    ids = {d["to"]: d["messageId"] for d in deliveries}
    for map_index, number in enumerate(["254700000001", "254700000002", "254700000003"]):
        assert ids[number] == default_message_id(outcome.dag_id, "fan_out", outcome.run_id, map_index, number)
        assert outcome.xcom("fan_out", map_index=map_index) == next(d["waId"] for d in deliveries if d["to"] == number)


def test_invalid_credentials_quirk_fails_the_task_without_retries_or_xcom(
    run_dag: RunDag, lipachat_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LIPACHAT_DEFAULT", connection_json(lipachat_emulator.base_url, "wrong-key"))
    outcome = run_dag(
        """
        import pendulum
        from datetime import timedelta
        from airflow.sdk import DAG
        from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

        with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
            SendWhatsAppMediaOperator(
                task_id="send", to="254711222333", media_url="https://x.example/a.png",
                retries=2, retry_delay=timedelta(seconds=0),
            )
        """
    )
    assert outcome.task_states == {"send": "failed"}
    assert outcome.try_numbers == {"send": 1}
    assert outcome.xcom("send") is None
    assert outcome.xcom("send", key="message_id") is None
    assert len(lipachat_emulator.sends()) == 1
    assert lipachat_emulator.deliveries() == []
    output = printed(capfd)
    assert "LipaChatAuthError" in output
    assert "gateway refused the API key" in output


@airflow_defect(
    DAG_TEST_LOGS_SECRETS,
    "Airflow 3.0: dag.test() logs each MaskSecret request, the API key in it, at its default level",
)
def test_the_api_key_never_appears_in_task_logs_xcom_or_rendered_fields(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    key = lipachat_emulator.api_key
    # A proxy that echoes request headers in its error page: the text reaches the exception and the log.
    echo = f"<html>bad request; headers: apiKey={key}</html>"
    lipachat_emulator.add_fault("html", status=400, body=echo, to="254700000009")
    outcome = run_dag(
        """
        import pendulum
        from airflow.sdk import DAG
        from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

        with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
            SendWhatsAppMediaOperator(task_id="ok", to="254711222333", media_url="https://x.example/a.png")
            SendWhatsAppMediaOperator(task_id="echoed", to="254700000009", media_url="https://x.example/a.png")
        """
    )
    assert outcome.task_states == {"ok": "success", "echoed": "failed"}
    logs = capfd.readouterr()
    output = logs.out + logs.err
    assert "Delivered to 2547******33" in output  # the logs were captured, with the recipient masked
    assert "bad request; headers: apiKey=***" in output  # the echo reached the log, redacted
    assert key not in output
    for task_id in ("ok", "echoed"):
        assert key not in str(outcome.rendered_fields(task_id))
        assert key not in str(outcome.xcom(task_id)) + str(outcome.xcom(task_id, key="message_id"))


DEBUG_DAG_TEST = """
import pendulum
try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

with DAG("lipachat_debug_logging", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    SendWhatsAppTextOperator(task_id="send", to="254711222333", message="hi")

if __name__ == "__main__":
    dag.test()
"""


@airflow_defect(
    DAG_TEST_AT_DEBUG_LOGS_SECRETS,
    "at DEBUG, dag.test() logs each MaskSecret request with the secret before masking it",
)
def test_at_debug_level_the_api_key_stays_out_of_dag_test_output(
    airflow_db: Path, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    dag_file = DAGS_FOLDER / "lipachat_debug_logging.py"
    dag_file.write_text(DEBUG_DAG_TEST)
    try:
        done = subprocess.run(  # a process of its own: Airflow reads the log level once, when it configures logging
            [sys.executable, str(dag_file)],
            env={**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG"},
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        dag_file.unlink()
    output = done.stdout + done.stderr
    assert [d["to"] for d in lipachat_emulator.deliveries()] == ["254711222333"], output[-3000:]
    assert re.search(r"\[debug\s*\]| DEBUG - ", output), "debug logging was on"
    assert lipachat_emulator.api_key not in output


def test_a_retry_after_a_successful_send_returns_the_recorded_wa_id_without_calling_the_gateway(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    outcome = run_dag(
        """
        import pendulum
        from datetime import timedelta
        from airflow.sdk import DAG
        from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

        class CrashAfterSend(SendWhatsAppMediaOperator):
            def execute(self, context):
                wa_id = super().execute(context)
                if context["ti"].try_number == 1:
                    raise RuntimeError("worker lost after the send")
                return wa_id

        with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
            CrashAfterSend(task_id="send", to="254711222333", media_url="https://x.example/a.png",
                           retries=1, retry_delay=timedelta(seconds=0))
        """
    )
    assert outcome.task_states == {"send": "success"}
    assert outcome.try_numbers == {"send": 2}
    [delivery] = lipachat_emulator.deliveries()
    if HAS_TASK_STATE_STORE:  # try 2 finds the waId in the task state store and makes no request
        assert [r["outcome"] for r in lipachat_emulator.sends()] == ["delivered"]
    else:  # try 2 re-sends the same message id, and the gateway answers the original result
        assert [r["outcome"] for r in lipachat_emulator.sends()] == ["delivered", "replayed"]
    assert outcome.xcom("send") == delivery["waId"]


def test_operator_templates_every_message_argument_and_the_connection() -> None:
    assert SendWhatsAppMediaOperator.template_fields == (
        "to",
        "media_url",
        "media_type",
        "caption",
        "filename",
        "from_number",
        "message_id",
        "idempotency_key",
        "lipachat_conn_id",
        "fallback_template",
        "fallback_language_code",
        "fallback_body_placeholders",
        "preflight",
    )


def test_default_message_id_is_stable_and_distinct_per_run_index_and_recipient() -> None:
    base = ("dag", "task", "scheduled__2024-01-01", -1, "254711222333")
    assert default_message_id(*base) == default_message_id(*base)
    variants = [
        ("dag2", *base[1:]),
        (base[0], "task2", *base[2:]),
        (*base[:2], "scheduled__2024-01-02", *base[3:]),
        (*base[:3], 0, base[4]),
        (*base[:4], "254711222334"),
    ]
    assert len({default_message_id(*v) for v in variants} | {default_message_id(*base)}) == 6


def test_a_missing_connection_fails_at_once_saying_how_to_create_it(
    run_dag: Callable[..., DagRunOutcome], lipachat_emulator: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    outcome = run_dag(
        """
        import pendulum
        from datetime import timedelta
        from airflow.sdk import DAG
        from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

        with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
            SendWhatsAppTextOperator(task_id="alert", to="254711000001", message="hi",
                                     lipachat_conn_id="lipachat_reports", retries=2, retry_delay=timedelta(0))
        """
    )
    assert outcome.task_states == {"alert": "failed"}
    assert outcome.try_numbers == {"alert": 1}  # no retries spent on a connection that is not there
    assert lipachat_emulator.requests() == []
    log = printed(capfd)
    assert "lipachat_conn_id='lipachat_reports': names no connection" in log
    assert "AIRFLOW_CONN_LIPACHAT_REPORTS" in log
