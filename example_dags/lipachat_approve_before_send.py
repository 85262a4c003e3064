"""Approve before it goes out: the approver answers on WhatsApp whether the board gets the report.

The report is built, its link goes to the approver with two reply buttons, Approve and Reject,
and the reply sensor waits for the answer in the triggerer (``deferrable=True``), for at most a
day. On Approve the board gets the report as a template message with the document as its header
(a template, since board members may not have written to the business in the last 24 hours); on
Reject the report's author is told. A typed "approve" counts as the button.

The buttons message is free-form: it reaches the approver only inside their 24-hour window, as
for anyone who works with the business number during the day. The report is served from
``https://reports.example.com`` unless the Airflow Variable ``lipachat_reports_base_url`` says
otherwise, as in ``lipachat_report_delivery``.
"""

from __future__ import annotations

# --8<-- [start:imports]
from datetime import timedelta
from typing import Any

import pendulum

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_lipachat.operators.lipachat import (
    SendWhatsAppButtonsOperator,
    SendWhatsAppTemplateOperator,
    SendWhatsAppTextOperator,
)
from airflow_provider_lipachat.sensors.lipachat import WhatsAppReplySensor

# --8<-- [end:imports]

#: The reports' host, rendered at execute time: the Variable when set, else the public default.
REPORTS_BASE_URL = "{{ var.value.get('lipachat_reports_base_url', 'https://reports.example.com') }}"
REPORT_URL = REPORTS_BASE_URL + "{{ ti.xcom_pull(task_ids='build_report') }}"

with DAG(
    dag_id="lipachat_approve_before_send",
    schedule="@weekly",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"approver": "254711000010", "author": "254711000011", "board": ["254711000001", "254711000002"]},
    tags=["lipachat", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def build_report(ds: str | None = None) -> str:
        """Stands in for building the report; returns its path under the reports' host."""
        return f"/weekly/{ds}/board.pdf"

    report = build_report()
    # --8<-- [start:ask_and_wait]
    ask = SendWhatsAppButtonsOperator(
        task_id="ask_approver",
        to="{{ params.approver }}",
        message="The board report for {{ ds }} is ready: " + REPORT_URL + "\nSend it to the board?",
        buttons=[{"id": "approve", "title": "Approve"}, {"id": "reject", "title": "Reject"}],
    )
    answer = WhatsAppReplySensor(
        task_id="wait_for_answer",
        wa_ids=ask.output,
        options=["Approve", "Reject"],
        deferrable=True,
        poke_interval=60,
        timeout=timedelta(days=1).total_seconds(),
    )

    @task.branch
    def decide(answers: dict[str, Any]) -> str:
        """Send on Approve, tell the author on Reject."""
        [reply] = answers.values()
        return "send_to_board" if reply["answer"] == "Approve" else "tell_author"

    # --8<-- [end:ask_and_wait]

    # --8<-- [start:template]
    send_to_board = SendWhatsAppTemplateOperator(
        task_id="send_to_board",
        to="{{ params.board }}",
        template_name="board_report",
        header_media_url=REPORT_URL,
        header_media_type="DOCUMENT",
        body_placeholders=["{{ ds }}"],
    )
    # --8<-- [end:template]
    tell_author = SendWhatsAppTextOperator(
        task_id="tell_author",
        to="{{ params.author }}",
        message="The board report for {{ ds }} was not approved; it has not been sent.",
    )
    report >> ask
    decide(answer.output) >> [send_to_board, tell_author]
