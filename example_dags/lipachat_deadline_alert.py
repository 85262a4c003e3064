"""Deadline alert: the on-call engineer gets a WhatsApp text when the morning report runs late.

The report must reach the managers within 30 minutes of its run being queued. A ``DeadlineAlert``
(Airflow 3.1+) watches that: if the run has not finished by then, the scheduler hands
``LipaChatNotifier`` to the triggerer (``AsyncCallback``), which texts the on-call engineer, once,
while the run is still going. A run that finishes in time sends no alert.

A deadline alert's callback gets no task instance: its template sees ``dag_run`` (the DAG run as
the REST API shows it, plus ``run_id``) and ``deadline`` (``deadline_time``, an aware UTC datetime).
On Airflow 2.11 and 3.0, which have no deadline alerts, the DAG runs without one.
"""

from __future__ import annotations

# --8<-- [start:deadline]
from datetime import timedelta
from typing import Any

import pendulum

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_lipachat.notifications.lipachat import LipaChatNotifier
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

try:  # Airflow 3.1+
    from airflow.sdk.definitions.deadline import AsyncCallback, DeadlineAlert, DeadlineReference
except ImportError:  # Airflow 2.11 and 3.0: no deadline alerts
    DeadlineAlert = None

ON_CALL = "254711000005"
MANAGERS = ["254711000001", "254711000002"]
LATE_AFTER = timedelta(minutes=30)

late_alert: dict[str, Any] = {}
if DeadlineAlert is not None:
    late_alert["deadline"] = DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=LATE_AFTER,
        callback=AsyncCallback(
            LipaChatNotifier,
            kwargs={
                "to": ON_CALL,
                "message": "{{ dag_run.dag_id }} is late: run {{ dag_run.run_id }} had not finished by "
                "{{ deadline.deadline_time.strftime('%H:%M:%S') }} UTC, its deadline.",
            },
        ),
    )

with DAG(
    dag_id="lipachat_deadline_alert",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"managers": MANAGERS},
    tags=["lipachat", "example"],
    doc_md=__doc__,
    **late_alert,
) as dag:
    # --8<-- [end:deadline]

    @task
    def build_report(ds: str | None = None) -> str:
        """Stands in for the report's queries; returns the text the managers get."""
        return f"Morning report {ds}: 1,284 orders, 97.6 % shipped on time."

    report = build_report()
    send_report = SendWhatsAppTextOperator(
        task_id="send_report", to="{{ params.managers }}", message="{{ ti.xcom_pull(task_ids='build_report') }}"
    )
    report >> send_report
