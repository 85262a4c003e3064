"""Per-partition delivery: each daily partition's extract goes to every recipient, once.

Backfill it (``airflow backfill create --dag-id lipachat_partition_backfill --from-date ... --to-date ...``):
every run has its own run id, so every partition is a distinct message per recipient, and
re-running a partition does not message anyone twice.
"""

from __future__ import annotations

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

RECIPIENTS = ["254711000004", "254711000005"]

with DAG(
    dag_id="lipachat_partition_backfill",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=3,
    tags=["lipachat", "example"],
    doc_md=__doc__,
) as dag:
    SendWhatsAppMediaOperator.partial(
        task_id="send_partition",
        media_url="https://exports.example.com/partitions/dt={{ ds }}/extract.csv",
        filename="extract-{{ ds_nodash }}.csv",
        caption="Partition {{ ds }} is ready",
        retries=2,
    ).expand(to=RECIPIENTS)
