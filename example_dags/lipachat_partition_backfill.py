"""Per-partition delivery from one sender number: each daily partition's notice goes to every recipient, once.

Backfill it (``airflow backfill create --dag-id lipachat_partition_backfill --from-date ... --to-date ...``):
every run has its own run id, so every partition is a distinct message per recipient, and
re-running a partition does not message anyone twice.

Each partition is one task that fans out to the whole list from the connection's ``from_number``,
at most the connection's ``rate_limit`` messages per second. That number has one throughput
budget, however many partitions run at once on however many workers: give the connection the
extra ``rate_limit_store_conn_id`` naming a Redis connection that every worker reaches, and the
limit is shared by all of them (without it, each task paces itself alone and together they can
exceed it). The ``whatsapp_sends`` pool bounds how many send tasks run at once, so a long backfill
leaves worker slots for other DAGs; create it first:
``airflow pools set whatsapp_sends 4 "send tasks of one LipaChat sender number"``.
"""

from __future__ import annotations

# --8<-- [start:imports]
from datetime import timedelta

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

# --8<-- [end:imports]

RECIPIENTS = ["254711000004", "254711000005"]

with DAG(
    dag_id="lipachat_partition_backfill",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=4,
    tags=["lipachat", "example"],
    doc_md=__doc__,
) as dag:
    # --8<-- [start:backfill]
    SendWhatsAppTextOperator(
        task_id="send_partition",
        to=RECIPIENTS,
        message="Partition {{ ds }} is ready: https://exports.example.com/partitions/dt={{ ds }}/extract.csv",
        lipachat_conn_id="lipachat_default",  # its from_number sends, at most its rate_limit per second
        pool="whatsapp_sends",
        retries=3,
        retry_delay=timedelta(minutes=1),
    )
    # --8<-- [end:backfill]
