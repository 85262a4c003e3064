"""Shift handover: the day's pipeline summary as a WhatsApp text to the engineers on call.

Free-form text reaches only people who wrote to the business number in the last 24 hours, as
the on-call engineers do during their shift. If the text cannot be sent (someone's window is
closed, say), ``LipaChatNotifier`` sends the team lead an approved template, which WhatsApp
delivers outside the window too.
"""

from __future__ import annotations

# --8<-- [start:imports]
import pendulum

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_lipachat.notifications.lipachat import LipaChatNotifier
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

# --8<-- [end:imports]

with DAG(
    dag_id="lipachat_shift_handover",
    schedule="0 18 * * *",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"on_call": ["254711000006", "254711000007"], "team_lead": "254711000008"},
    tags=["lipachat", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def summarise(ds: str | None = None) -> str:
        """Stands in for a query over the day's runs; returns the handover text."""
        return f"Handover {ds}: 42 runs, 41 succeeded, 1 retried and succeeded. No open incidents."

    summary = summarise()
    # --8<-- [start:text]
    send_handover = SendWhatsAppTextOperator(
        task_id="send_handover",
        to="{{ params.on_call }}",
        message="{{ ti.xcom_pull(task_ids='summarise') }}",
        on_failure_callback=LipaChatNotifier(
            to="{{ params.team_lead }}",
            template_name="handover_not_sent",
            body_placeholders=["{{ ds }}"],
        ),
    )
    # --8<-- [end:text]
    summary >> send_handover
