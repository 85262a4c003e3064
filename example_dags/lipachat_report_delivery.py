"""Daily report delivery: send each day's PDF summary to the people listed in ``params.recipients``.

The document's URL, file name and caption are templated from the run's date (``ds``), and each
recipient gets one message per day: retries and re-runs of a day reuse the same message id.

The reports are served from ``https://reports.example.com`` unless the Airflow Variable
``lipachat_reports_base_url`` says otherwise (an https base URL, no trailing slash). One
setting per deployment, read when the task runs: ``make demo`` points it at a local HTTPS host
(``AIRFLOW_VAR_LIPACHAT_REPORTS_BASE_URL``) so the media preflight fetches a real file.
"""

from __future__ import annotations

# --8<-- [start:first_dag]
import pendulum

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

#: The reports' host, rendered at execute time: the Variable when set, else the public default.
REPORTS_BASE_URL = "{{ var.value.get('lipachat_reports_base_url', 'https://reports.example.com') }}"

with DAG(
    dag_id="lipachat_report_delivery",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"recipients": ["254711000001", "254711000002"]},
    tags=["lipachat", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def recipients(params: dict | None = None) -> list[str]:
        """The day's recipients, from the DAG's params (override them when triggering)."""
        return list((params or {})["recipients"])

    SendWhatsAppMediaOperator.partial(
        task_id="send_daily_report",
        media_url=REPORTS_BASE_URL + "/daily/{{ ds }}/summary.pdf",
        media_type="DOCUMENT",
        filename="daily-summary-{{ ds }}.pdf",
        caption="Daily summary for {{ ds }}",
    ).expand(to=recipients())
# --8<-- [end:first_dag]
