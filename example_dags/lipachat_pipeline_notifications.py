"""Pipeline notification: an upstream task renders a chart, and its URL is sent as an image via XCom."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

with DAG(
    dag_id="lipachat_pipeline_notifications",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"on_call": "254711000003"},
    tags=["lipachat", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def render_chart(ds: str | None = None) -> str:
        """Stands in for a task that renders a chart and uploads it; returns its public https URL."""
        return f"https://charts.example.com/pipeline/{ds}/row-counts.png"

    chart_url = render_chart()
    send_chart = SendWhatsAppMediaOperator(
        task_id="send_chart",
        to="{{ params.on_call }}",
        media_url="{{ ti.xcom_pull(task_ids='render_chart') }}",
        caption="Row counts for {{ ds }}: pipeline finished",
    )
    chart_url >> send_chart
