"""Report on request: a manager texts "report" to the business number and gets today's report back.

An ``AssetWatcher`` runs ``WhatsAppInboundTrigger`` in the triggerer (Airflow 3.0+): each inbound
message from one of the managers' numbers whose text is "report" (any case) becomes an asset event,
and the asset's events start runs of this DAG (one run takes every event queued before it was
created). The run reads who asked from its events' ``extra`` (the trigger's payload: ``sender``,
``text``, ``wa_id``, ``button_id``, ``received_at``) and texts the report back to each of them. A
message from another number, or with another text, starts nothing.

A run started by hand (or on Airflow 2.11, which has no asset watchers) sends the report to the
number in the ``requester`` param.
"""

from __future__ import annotations

# --8<-- [start:imports]
from typing import Any

import pendulum

from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

try:
    from airflow.sdk import DAG, Asset, AssetWatcher, get_current_context, task

    from airflow_provider_lipachat.triggers.inbound import WhatsAppInboundTrigger
except ImportError:  # Airflow 2.11: no asset watchers; the DAG runs by hand only
    from airflow import DAG
    from airflow.decorators import task
    from airflow.operators.python import get_current_context

    Asset = None

# --8<-- [end:imports]

MANAGERS = ["254711000001", "254711000002"]

schedule: Any = None
if Asset is not None:
    # --8<-- [start:watcher]
    report_requests = Asset(
        "whatsapp_report_requests",
        watchers=[
            AssetWatcher(
                name="report_requests",
                trigger=WhatsAppInboundTrigger(senders=MANAGERS, keyword="report", poll_interval=30),
            )
        ],
    )
    schedule = [report_requests]
    # --8<-- [end:watcher]

with DAG(
    dag_id="lipachat_report_on_request",
    schedule=schedule,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"requester": MANAGERS[0]},
    tags=["lipachat", "example"],
    doc_md=__doc__,
) as dag:
    # --8<-- [start:reply]
    @task
    def who_asked() -> list[str]:
        """Every number whose message started this run, or the ``requester`` param for a run started by hand.

        One run can take several asset events (requests queued together): each sender is answered.
        """
        context = get_current_context()
        senders = [
            str(event.extra["payload"]["sender"])  # a trigger's event is kept as {"from_trigger": True, "payload": ...}
            for events in (context.get("triggering_asset_events") or {}).values()
            for event in events
        ]
        return list(dict.fromkeys(senders)) or [str(context["params"]["requester"])]

    @task
    def build_report() -> str:
        """Stands in for the report's queries; returns the text the manager gets."""
        context = get_current_context()
        # A run started by an asset event has no logical date on Airflow 3; it runs after the request came.
        day = context.get("logical_date") or context["dag_run"].run_after
        return f"Report for {day:%Y-%m-%d}: 1,284 orders, 97.6 % shipped on time."

    SendWhatsAppTextOperator(task_id="send_report", to=who_asked(), message=build_report())
    # --8<-- [end:reply]
