"""The example DAGs parse without network, and run against the emulator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from airflow_provider_lipachat.emulator import Emulator
from tests.conftest import REPO_ROOT, DagRunOutcome

EXAMPLES = REPO_ROOT / "example_dags"


def example_source(name: str) -> str:
    return (EXAMPLES / f"{name}.py").read_text().replace(f'dag_id="{name}"', 'dag_id="DAG_ID"')


def test_every_example_parses_without_errors(airflow_db: Path) -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # before Airflow 3.2
        from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {
        "lipachat_report_delivery",
        "lipachat_pipeline_notifications",
        "lipachat_partition_backfill",
        "lipachat_delivery_confirmation",
    }


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
