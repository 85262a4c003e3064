"""Make the daily report in the DAG, keep it in S3, send it to a list, and confirm WhatsApp delivered it.

``write_report`` writes the day's CSV to object storage and returns its path; the media operator
signs that path into a temporary https link (valid a day), checks the link once (preflight), and
sends it to everyone in ``params.recipients``; the sensor waits until each message is delivered.
Needs ``airflow-provider-lipachat[s3]`` and an ``aws_default`` connection (or change
``params.report_store``).
"""

from __future__ import annotations

# --8<-- [start:imports]
from datetime import timedelta

import pendulum

try:
    from airflow.sdk import DAG, ObjectStoragePath, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task
    from airflow.io.path import ObjectStoragePath

from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator
from airflow_provider_lipachat.sensors.lipachat import WhatsAppDeliverySensor

# --8<-- [end:imports]

with DAG(
    dag_id="lipachat_report_from_object_storage",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"recipients": ["254711000001", "254711000002"], "report_store": "s3://aws_default@reports/daily"},
    tags=["lipachat", "example"],
    doc_md=__doc__,
) as dag:
    # --8<-- [start:write_and_send]
    @task
    def write_report(ds: str | None = None, params: dict | None = None) -> str:
        """The day's figures as CSV, written to object storage; returns the path (never a signed link)."""
        rows = [("region", "orders"), ("north", "120"), ("south", "97")]
        path = ObjectStoragePath(f"{(params or {})['report_store']}/{ds}.csv")
        path.write_bytes("\n".join(",".join(row) for row in rows).encode() + b"\n")
        return str(path)

    # --8<-- [start:send]
    send = SendWhatsAppMediaOperator(
        task_id="send_report",
        to="{{ params.recipients }}",
        media_url="{{ ti.xcom_pull(task_ids='write_report') }}",
        caption="Orders by region, {{ ds }}",
    )
    # --8<-- [end:send]
    # --8<-- [end:write_and_send]
    delivered = WhatsAppDeliverySensor(
        task_id="wait_until_delivered",
        wa_ids="{{ ti.xcom_pull(task_ids='send_report') }}",
        wait_for="delivered",
        mode="reschedule",
        poke_interval=60,
        timeout=timedelta(hours=2).total_seconds(),
    )
    write_report() >> send >> delivered
