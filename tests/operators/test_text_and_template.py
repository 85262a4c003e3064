"""Text and template operators, and the media operator's fallback when the 24-hour window is closed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.operators.lipachat import default_message_id, derived_message_id
from tests.support import AIRFLOW_V3, SANDBOX_SENDER, DagRunOutcome, printed

RunDag = Callable[..., DagRunOutcome]
RECIPIENT = "254711222333"


def test_text_operator_sends_templated_text(run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str) -> None:
    outcome = run_dag(
        """
        import pendulum
        from airflow.sdk import DAG
        from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

        with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
            SendWhatsAppTextOperator(task_id="alert", to="+254 711 222 333", message="Loaded rows for {{ ds }}")
        """,
        logical_date="2024-06-01T00:00:00+00:00",
    )
    assert outcome.task_states == {"alert": "success"}
    [delivery] = lipachat_emulator.deliveries()
    assert delivery["route"] == "text"
    assert delivery["payload"] == {
        "messageId": default_message_id(outcome.dag_id, "alert", outcome.run_id, -1, RECIPIENT),
        "message": "Loaded rows for 2024-06-01",
        "from": SANDBOX_SENDER,
        "to": RECIPIENT,
    }
    assert outcome.xcom("alert") == delivery["waId"]


def test_template_operator_with_header_and_placeholders_to_a_list(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    outcome = run_dag(
        """
        import pendulum
        from airflow.sdk import DAG
        from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTemplateOperator

        with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
            SendWhatsAppTemplateOperator(
                task_id="report",
                to="254700000001, 254700000002",
                template_name="daily_report",
                language_code="en",
                header_media_url="https://reports.example.com/{{ ds }}/summary.pdf",
                body_placeholders=["{{ ds }}", "{{ dag.dag_id }}"],
            )
        """,
        logical_date="2024-06-01T00:00:00+00:00",
    )
    assert outcome.task_states == {"report": "success"}
    deliveries = lipachat_emulator.deliveries()
    assert sorted(d["to"] for d in deliveries) == ["254700000001", "254700000002"]
    for delivery in deliveries:
        assert delivery["route"] == "template"
        assert delivery["payload"]["template"] == {
            "name": "daily_report",
            "languageCode": "en",
            "components": {
                "header": {"type": "DOCUMENT", "mediaUrl": "https://reports.example.com/2024-06-01/summary.pdf"},
                "body": {"placeholders": ["2024-06-01", outcome.dag_id]},
            },
        }
    assert outcome.xcom("report") == {d["to"]: d["waId"] for d in deliveries}


FALLBACK_DAG = """
import pendulum
from datetime import timedelta
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    SendWhatsAppMediaOperator(
        task_id="send", to=TO, media_url="https://charts.example.com/{{ ds }}/chart.png", caption="Chart",
        retries=2, retry_delay=timedelta(seconds=0), FALLBACK
    )
"""


def fallback_dag(to: str, fallback: str) -> str:
    return FALLBACK_DAG.replace("TO", to).replace("FALLBACK", fallback)


def test_closed_window_falls_back_to_the_template_with_the_media_as_header(
    run_dag: RunDag, windowed_emulator: Emulator
) -> None:
    outcome = run_dag(
        fallback_dag(f'"{RECIPIENT}"', 'fallback_template="chart_ready", fallback_body_placeholders=["{{ ds }}"]'),
        logical_date="2024-06-01T00:00:00+00:00",
    )
    assert outcome.task_states == {"send": "success"}
    assert [r["outcome"] for r in windowed_emulator.requests()] == ["session_closed", "delivered"]
    [delivery] = windowed_emulator.deliveries()
    media_id = default_message_id(outcome.dag_id, "send", outcome.run_id, -1, RECIPIENT)
    assert delivery["route"] == "template"
    assert delivery["messageId"] == derived_message_id(media_id, "fallback_template")
    assert delivery["payload"]["template"]["components"] == {
        "header": {"type": "IMAGE", "mediaUrl": "https://charts.example.com/2024-06-01/chart.png"},
        "body": {"placeholders": ["2024-06-01"]},
    }
    assert outcome.xcom("send") == delivery["waId"]
    assert outcome.xcom("send", key="delivery_path") == "template"
    # XCom names the message that was delivered: the template's id, not the refused media message's.
    assert outcome.xcom("send", key="message_id") == delivery["messageId"]


def test_inside_a_list_only_recipients_with_a_closed_window_get_the_template(
    run_dag: RunDag, windowed_emulator: Emulator
) -> None:
    windowed_emulator.open_session("254700000002")
    outcome = run_dag(
        fallback_dag('["254700000001", "254700000002", "254700000003"]', 'fallback_template="chart_ready"')
    )
    assert outcome.task_states == {"send": "success"}
    routes = {d["to"]: d["route"] for d in windowed_emulator.deliveries()}
    assert routes == {"254700000001": "template", "254700000002": "media", "254700000003": "template"}
    assert outcome.xcom("send", key="delivery_path") == {
        "254700000001": "template",
        "254700000002": "media",
        "254700000003": "template",
    }
    assert outcome.xcom("send", key="message_id") == {d["to"]: d["messageId"] for d in windowed_emulator.deliveries()}


def test_a_fallback_template_that_renders_empty_pushes_no_delivery_path(
    run_dag: RunDag, windowed_emulator: Emulator
) -> None:
    windowed_emulator.open_session(RECIPIENT)
    outcome = run_dag(fallback_dag(f'"{RECIPIENT}"', "fallback_template=\"{{ params.get('fb', '') }}\""))
    assert outcome.task_states == {"send": "success"}
    assert [d["route"] for d in windowed_emulator.deliveries()] == ["media"]
    if AIRFLOW_V3:  # Airflow 2 keeps the unrendered text of a field that renders empty
        assert outcome.xcom("send", key="delivery_path") is None


def test_without_a_fallback_the_closed_window_fails_once_saying_how_to_configure_one(
    run_dag: RunDag, windowed_emulator: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    outcome = run_dag(fallback_dag(f'"{RECIPIENT}"', ""))
    assert outcome.task_states == {"send": "failed"}
    assert outcome.try_numbers == {"send": 1}
    assert [r["outcome"] for r in windowed_emulator.requests()] == ["session_closed"]
    output = printed(capfd)
    assert "set fallback_template='<approved template name>'" in output


def test_a_fallback_for_audio_is_refused_before_any_request(
    run_dag: RunDag, windowed_emulator: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    source = fallback_dag(f'"{RECIPIENT}"', 'fallback_template="voice_note"').replace("chart.png", "note.ogg")
    outcome = run_dag(source.replace('caption="Chart",', ""))
    assert outcome.task_states == {"send": "failed"}
    assert windowed_emulator.requests() == []
    output = printed(capfd)
    assert "fallback_template='voice_note': cannot carry this AUDIO media" in output
    assert "leave fallback_template unset for AUDIO" in output
    assert "header_media_type" not in output
