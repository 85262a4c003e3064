"""Pipeline notifications: a chart sent as an image via XCom, and WhatsApp callbacks on failure and success.

The chart goes to the on-call engineer with ``SendWhatsAppMediaOperator``; ``LipaChatNotifier``
sends a text if the load task fails (task callback) and when the whole run succeeds (DAG callback).
"""

from __future__ import annotations

# --8<-- [start:notifier]
import pendulum

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_lipachat.notifications.lipachat import LipaChatNotifier
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

ON_CALL = "254711000003"

with DAG(
    dag_id="lipachat_pipeline_notifications",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"on_call": ON_CALL},
    tags=["lipachat", "example"],
    doc_md=__doc__,
    on_success_callback=LipaChatNotifier(
        to=ON_CALL, message="{{ dag.dag_id }} finished for {{ ds }}: all tasks succeeded."
    ),
) as dag:

    @task(
        on_failure_callback=LipaChatNotifier(
            to=ON_CALL, message="{{ ti.task_id }} failed in {{ dag.dag_id }} ({{ ds }}), try {{ ti.try_number }}."
        )
    )
    def load_rows(ds: str | None = None) -> int:
        """Stands in for the pipeline's load step; a failure here messages the on-call engineer."""
        return 1234

    # --8<-- [end:notifier]

    @task
    def render_chart(ds: str | None = None) -> str:
        """Stands in for a task that renders a chart and uploads it; returns its public https URL."""
        return f"https://charts.example.com/pipeline/{ds}/row-counts.png"

    chart_url = render_chart()
    load_rows() >> chart_url
    send_chart = SendWhatsAppMediaOperator(
        task_id="send_chart",
        to="{{ params.on_call }}",
        media_url="{{ ti.xcom_pull(task_ids='render_chart') }}",
        caption="Row counts for {{ ds }}: pipeline finished",
    )
    chart_url >> send_chart
