"""Report on request: a manager texts "report" to the business number and gets today's report back.

An ``AssetWatcher`` runs ``WhatsAppInboundTrigger`` in the triggerer (Airflow 3.0+): each inbound
message from one of the managers' numbers whose text is "report" (any case) becomes an asset event,
and the asset's events start runs of this DAG. Airflow hands a run only the events queued before it
was created, so a request stored while a run is being created would wait for the next request: the
run answers its own events and every recent event of the asset that no other run of this DAG took
(``requests_to_answer``), each with a reply id derived from the request's own id
(``reply_message_id``), so that a request two runs answer gets one message. Each payload holds
``sender``, ``text``, ``wa_id``, ``button_id`` and ``received_at``. A message from another number, or
with another text, starts nothing.

A run started by hand (or on Airflow 2.11, which has no asset watchers) sends the report to the
number in the ``requester`` param.
"""

from __future__ import annotations

# --8<-- [start:imports]
from typing import Any

import pendulum

from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator
from airflow_provider_lipachat.utils.inbound_requests import requests_to_answer
from airflow_provider_lipachat.utils.message_ids import reply_message_id

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
report_requests: Any = None
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
    @task(inlets=[report_requests] if report_requests is not None else [])
    def answers() -> list[dict[str, str | None]]:
        """One send per request to answer: to its sender, under a message id derived from the request's id.

        The asset is the task's inlet, so the task can read its recent events, not only this run's.
        """
        context = get_current_context()
        if not context.get("triggering_asset_events"):  # started by hand: no request to read
            return [{"to": str(context["params"]["requester"]), "message_id": None}]
        return [
            {"to": request["sender"], "message_id": reply_message_id(request["wa_id"], "report")}
            for request in requests_to_answer(context, report_requests)
        ]

    @task
    def build_report() -> str:
        """Stands in for the report's queries; returns the text the manager gets."""
        context = get_current_context()
        # A run started by an asset event has no logical date on Airflow 3; it runs after the request came.
        day = context.get("logical_date") or context["dag_run"].run_after
        return f"Report for {day:%Y-%m-%d}: 1,284 orders, 97.6 % shipped on time."

    SendWhatsAppTextOperator.partial(task_id="send_report", message=build_report()).expand_kwargs(answers())
    # --8<-- [end:reply]
