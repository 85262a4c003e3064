"""Send the weekly report to the board, wait until WhatsApp delivered it, and escalate when it did not.

The sensor waits in the triggerer (``deferrable=True``), for at most two hours; if any message
failed or is still undelivered then, the operations lead gets a template message naming the
report (a template, since they may not have written to the business in the last 24 hours).

The report is served from ``https://reports.example.com`` unless the Airflow Variable
``lipachat_reports_base_url`` says otherwise (an https base URL, no trailing slash), as in
``lipachat_report_delivery``; ``make demo`` points it at a local HTTPS host.
"""

from __future__ import annotations

# --8<-- [start:imports]
from datetime import timedelta

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator, SendWhatsAppTemplateOperator
from airflow_provider_lipachat.sensors.lipachat import WhatsAppDeliverySensor

# --8<-- [end:imports]

#: The reports' host, rendered at execute time: the Variable when set, else the public default.
REPORTS_BASE_URL = "{{ var.value.get('lipachat_reports_base_url', 'https://reports.example.com') }}"

with DAG(
    dag_id="lipachat_delivery_confirmation",
    schedule="@weekly",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"board": ["254711000001", "254711000002"], "escalate_to": "254711000009"},
    tags=["lipachat", "example"],
    doc_md=__doc__,
) as dag:
    # --8<-- [start:confirm]
    # --8<-- [start:send]
    send = SendWhatsAppMediaOperator(
        task_id="send_report",
        to="{{ params.board }}",
        media_url=REPORTS_BASE_URL + "/weekly/{{ ds }}/board.pdf",
        media_type="DOCUMENT",
        filename="board-report-{{ ds }}.pdf",
        caption="Weekly board report, {{ ds }}",
    )
    # --8<-- [end:send]
    delivered = WhatsAppDeliverySensor(
        task_id="wait_until_delivered",
        wa_ids="{{ ti.xcom_pull(task_ids='send_report') }}",
        wait_for="delivered",
        deferrable=True,
        poke_interval=60,
        timeout=timedelta(hours=2).total_seconds(),
    )
    escalate = SendWhatsAppTemplateOperator(
        task_id="escalate",
        to="{{ params.escalate_to }}",
        template_name="report_not_delivered",
        body_placeholders=["Weekly board report {{ ds }}"],
        trigger_rule="one_failed",
    )
    send >> delivered >> escalate
    # --8<-- [end:confirm]
