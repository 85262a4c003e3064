"""The example DAGs parse without network, show every public class, and each runs against the emulator."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.notifications.lipachat import LipaChatNotifier
from airflow_provider_lipachat.operators.lipachat import (
    SendWhatsAppButtonsOperator,
    SendWhatsAppMediaOperator,
    SendWhatsAppTemplateOperator,
    SendWhatsAppTextOperator,
)
from airflow_provider_lipachat.sensors.lipachat import WhatsAppDeliverySensor
from tests.media_host import PDF, MediaHost
from tests.s3_server import S3Server
from tests.support import AIRFLOW_RELEASE, REPO_ROOT, DagRunOutcome, airflow_defect, printed
from tests.test_provider_checks import load_example

EXAMPLES = REPO_ROOT / "example_dags"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.py"))
#: How the deadline-alert example passes its alert to the DAG.
DEADLINE_ARGUMENT = "    **late_alert,\n"
#: The gateway route each send operator posts to.
ROUTES = {
    SendWhatsAppMediaOperator.__name__: "media",
    SendWhatsAppTextOperator.__name__: "text",
    SendWhatsAppTemplateOperator.__name__: "template",
    SendWhatsAppButtonsOperator.__name__: "buttons",
}


def example_source(name: str) -> str:
    return (EXAMPLES / f"{name}.py").read_text().replace(f'dag_id="{name}"', 'dag_id="DAG_ID"')


def test_every_example_parses_without_errors(airflow_db: Path) -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # before Airflow 3.2
        from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {path.stem for path in EXAMPLE_FILES}


def callbacks(owner: Any, kind: str) -> list[Any]:
    found = getattr(owner, kind, None) or []
    return list(found) if isinstance(found, list | tuple) else [found]


def test_the_examples_show_every_operator_the_sensor_and_the_notifier_as_a_failure_callback() -> None:
    dags = [load_example(path).dag for path in EXAMPLE_FILES]
    tasks = [task for dag in dags for task in dag.tasks]
    used = {task.task_type for task in tasks}
    assert {*ROUTES, WhatsAppDeliverySensor.__name__} <= used
    failure_callbacks = [c for task in tasks for c in callbacks(task, "on_failure_callback")]
    assert any(isinstance(c, LipaChatNotifier) for c in failure_callbacks)


def sent_ids(outcome: DagRunOutcome, task_name: str) -> list[str]:
    """The message ids one send task instance pushed: one id, or one per recipient."""
    match = re.fullmatch(r"(.+)\[(\d+)\]", task_name)
    task_id, map_index = (match[1], int(match[2])) if match else (task_name, -1)
    ids = outcome.xcom(task_id, key="message_id", map_index=map_index)
    return sorted(ids.values()) if isinstance(ids, dict) else [ids]


#: Airflow 3.0's dag.test() refuses a task whose inlets name an asset no DAG processor has registered.
INLET_ASSETS_REFUSED = airflow_defect(
    AIRFLOW_RELEASE == (3, 0),
    "Airflow 3.0's dag.test() fails a task whose inlets name an asset no DAG processor registered "
    "(AirflowInactiveAssetInInletOrOutletException); under a scheduler the example runs on 3.0 "
    "(tests/e2e/test_inbound_trigger.py)",
)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(path, marks=INLET_ASSETS_REFUSED) if path.stem == "lipachat_report_on_request" else path
        for path in EXAMPLE_FILES
    ],
    ids=lambda path: path.stem,
)
def test_every_example_runs_and_the_gateway_receives_each_task_s_messages(
    path: Path,
    run_dag: Callable[..., DagRunOutcome],
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    s3_server: S3Server,
) -> None:
    """Messages are delivered at once here, so a sensor's first poke already sees them; S3 is moto on loopback."""
    lipachat_emulator.script_status("read", delivered_after=0, read_after=0)
    lipachat_emulator.script_reply(press="Approve", after=0)  # whoever is asked approves at once
    dag = load_example(path).dag
    source = example_source(path.stem).replace("s3://aws_default@", f"s3://{s3_server.conn_id}@")
    # dag.test() fails any DAG with a deadline alert on Airflow 3.1-3.3 (3.1 evaluates it before the run
    # exists; 3.2 and 3.3 look its alerts up by id in the DAG as parsed, not as stored): run it without one
    # here; tests/e2e/test_deadline_alerts.py runs it, alert included, under a scheduler and triggerer.
    source = source.replace(DEADLINE_ARGUMENT, "")
    outcome = run_dag(source, logical_date="2024-03-04T00:00:00+00:00")
    assert outcome.state == "success"
    assert set(outcome.task_states.values()) <= {"success", "skipped"}
    received = {d["messageId"]: d["route"] for d in lipachat_emulator.deliveries()}
    sends = 0
    for name, state in outcome.task_states.items():
        route = ROUTES.get(dag.get_task(name.split("[")[0]).task_type)
        if route is None or state != "success":
            continue
        sends += 1
        assert {received.get(message_id) for message_id in sent_ids(outcome, name)} == {route}, name
    assert sends > 0


def test_report_delivery_sends_the_dated_document_to_each_recipient(
    run_dag: Callable[..., DagRunOutcome], lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    outcome = run_dag(example_source("lipachat_report_delivery"), logical_date="2024-02-29T00:00:00+00:00")
    assert set(outcome.task_states.values()) == {"success"}
    deliveries = lipachat_emulator.deliveries()
    assert sorted(d["to"] for d in deliveries) == ["254711000001", "254711000002"]
    for delivery in deliveries:
        payload = delivery["payload"]
        assert payload["mediaType"] == "DOCUMENT"
        assert payload["mediaUrl"] == "https://reports.example.com/daily/2024-02-29/summary.pdf"
        assert payload["filename"] == "daily-summary-2024-02-29.pdf"
        assert payload["caption"] == "Daily summary for 2024-02-29"


def test_report_delivery_takes_the_reports_host_from_its_variable_and_the_preflight_fetches_the_file(
    run_dag: Callable[..., DagRunOutcome],
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    media_host: MediaHost,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """What ``make demo`` does: the Variable points the DAG at an HTTPS host on loopback that serves the PDF."""
    url = media_host.put("/daily/2024-02-29/summary.pdf", PDF, "application/pdf")
    monkeypatch.setenv("AIRFLOW_VAR_LIPACHAT_REPORTS_BASE_URL", media_host.base_url)

    outcome = run_dag(example_source("lipachat_report_delivery"), logical_date="2024-02-29T00:00:00+00:00")

    assert set(outcome.task_states.values()) == {"success"}
    assert [d["payload"]["mediaUrl"] for d in lipachat_emulator.deliveries()] == [url, url]
    assert len(media_host.ranged_requests_for("/daily/2024-02-29/summary.pdf")) == 2  # one preflight per task
    assert printed(capfd).count(f"Preflight: media_url {url} answers as WhatsApp needs for DOCUMENT") == 2
    fetches = lipachat_emulator.media_fetches(wait_for=2)
    assert [(f.body, f.failure) for f in fetches] == [(PDF, None), (PDF, None)]


def test_pipeline_notifications_send_the_chart_from_xcom_and_a_success_text(
    run_dag: Callable[..., DagRunOutcome], lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    outcome = run_dag(example_source("lipachat_pipeline_notifications"), logical_date="2024-02-29T00:00:00+00:00")
    assert outcome.task_states == {"load_rows": "success", "render_chart": "success", "send_chart": "success"}
    chart, success_text = lipachat_emulator.deliveries()
    assert chart["payload"]["mediaUrl"] == "https://charts.example.com/pipeline/2024-02-29/row-counts.png"
    assert chart["payload"]["mediaType"] == "IMAGE"
    assert outcome.xcom("send_chart") == chart["waId"]
    assert success_text["route"] == "text"
    assert success_text["payload"]["message"] == f"{outcome.dag_id} finished for 2024-02-29: all tasks succeeded."


def test_shift_handover_texts_the_day_s_summary_to_everyone_on_call(
    run_dag: Callable[..., DagRunOutcome], windowed_emulator: Emulator
) -> None:
    for number in ("254711000006", "254711000007"):
        windowed_emulator.open_session(number)
    outcome = run_dag(example_source("lipachat_shift_handover"), logical_date="2024-03-04T18:00:00+00:00")
    assert outcome.task_states == {"summarise": "success", "send_handover": "success"}
    deliveries = windowed_emulator.deliveries()
    assert sorted(d["to"] for d in deliveries) == ["254711000006", "254711000007"]
    for delivery in deliveries:
        assert delivery["route"] == "text"
        assert delivery["payload"]["message"].startswith("Handover 2024-03-04: 42 runs")


def test_shift_handover_sends_the_team_lead_a_template_when_a_window_is_closed(
    run_dag: Callable[..., DagRunOutcome], windowed_emulator: Emulator
) -> None:
    windowed_emulator.open_session("254711000006")
    outcome = run_dag(example_source("lipachat_shift_handover"), logical_date="2024-03-04T18:00:00+00:00")
    assert outcome.task_states["send_handover"] == "failed"
    text, escalation = windowed_emulator.deliveries()
    assert text["to"] == "254711000006" and text["route"] == "text"
    assert escalation["route"] == "template" and escalation["to"] == "254711000008"
    assert escalation["payload"]["template"]["name"] == "handover_not_sent"
    assert escalation["payload"]["template"]["components"]["body"]["placeholders"] == ["2024-03-04"]


def test_pipeline_notifications_text_the_on_call_engineer_when_the_load_fails(
    run_dag: Callable[..., DagRunOutcome], lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    source = example_source("lipachat_pipeline_notifications").replace(
        "return 1234", 'raise RuntimeError("warehouse unreachable")'
    )
    outcome = run_dag(source, logical_date="2024-02-29T00:00:00+00:00")
    assert outcome.task_states["load_rows"] == "failed"
    [alert] = lipachat_emulator.deliveries()
    assert alert["route"] == "text" and alert["to"] == "254711000003"
    assert alert["payload"]["message"] == f"load_rows failed in {outcome.dag_id} (2024-02-29), try 1."


@pytest.mark.parametrize(
    ("press", "sent", "skipped"),
    [("Approve", "send_to_board", "tell_author"), ("Reject", "tell_author", "send_to_board")],
)
def test_approve_before_send_sends_to_the_board_only_on_approve(
    run_dag: Callable[..., DagRunOutcome],
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    press: str,
    sent: str,
    skipped: str,
) -> None:
    """The approver answers some seconds after the question reached them: the sensor defers, and resumes on it."""
    lipachat_emulator.script_status("delivered", delivered_after=0.5)
    lipachat_emulator.script_reply(to="254711000010", press=press, after=6)
    outcome = run_dag(example_source("lipachat_approve_before_send"), logical_date="2024-03-04T00:00:00+00:00")
    assert outcome.state == "success"
    assert (outcome.task_states[sent], outcome.task_states[skipped]) == ("success", "skipped")
    assert outcome.xcom("wait_for_answer")["254711000010"]["answer"] == press
    question, *after = lipachat_emulator.deliveries()
    assert question["route"] == "buttons" and question["to"] == "254711000010"
    assert question["payload"]["text"] == (
        "The board report for 2024-03-04 is ready: https://reports.example.com/weekly/2024-03-04/board.pdf"
        "\nSend it to the board?"
    )
    if press == "Approve":
        assert sorted(d["to"] for d in after) == ["254711000001", "254711000002"]
        assert {d["payload"]["template"]["components"]["header"]["mediaUrl"] for d in after} == {
            "https://reports.example.com/weekly/2024-03-04/board.pdf"
        }
    else:
        [told] = after
        assert (told["route"], told["to"]) == ("text", "254711000011")
