"""Answering inbound messages in the DAG they start: which requests a run answers, read from the asset's events.

Airflow gives an asset-triggered run only the events stored before the run was queued; one stored while the
run is being created waits for the asset's next event. A task that answers every request therefore also
reads the asset's recent events (``inlet_events``) and answers those no other run of its DAG took.
No Airflow import: the task's context is read as a mapping.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.gateway.redaction import mask_phone

log = logging.getLogger(__name__)

#: How far before its run was queued a task looks for requests no run of its DAG took (or only failed runs took).
DEFAULT_LOOK_BACK = timedelta(hours=1)
#: The most recent asset events one task reads (newest first); Airflow 3.0 and 3.1 send every event, then cut here.
DEFAULT_MAX_EVENTS = 100
#: A run in this state answered nothing for sure: its requests are answered again (the reply's id keeps it once).
FAILED = "failed"


def requests_to_answer(
    context: Mapping[str, Any],
    asset: Any,
    *,
    look_back: timedelta = DEFAULT_LOOK_BACK,
    max_events: int = DEFAULT_MAX_EVENTS,
) -> list[dict[str, Any]]:
    """The inbound requests this run answers: the payloads (``sender``, ``wa_id``, ...) of ``WhatsAppInboundTrigger``
    events on ``asset``, oldest first, one per message.

    They are the run's own events, and every event stored from ``look_back`` before the run was queued
    that no other run of this DAG took, or only runs that failed took. The task needs ``inlets=[asset]``
    (Airflow 3). Reply with ``reply_message_id(request["wa_id"], ...)``, so that a request two runs
    answer gets one message. Events that are not the trigger's (no ``sender`` or ``wa_id``) are skipped.
    """
    if not isinstance(look_back, timedelta) or look_back < timedelta(0):
        raise LipaChatValidationError("look_back", look_back, "expected a timedelta of zero or more")
    if isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 1:
        raise LipaChatValidationError("max_events", max_events, "expected a whole number of events, 1 or more")
    run = context["dag_run"]
    triggering = context.get("triggering_asset_events") or {}
    own = list(triggering.get(asset, ()))
    try:
        inlet = context["inlet_events"][asset]
    except KeyError:
        raise LipaChatValidationError(
            "inlets", asset, "the task that calls requests_to_answer needs the asset in its inlets=[...]"
        ) from None
    since = run.run_after - look_back
    left = [e for e in _newest(inlet, since, max_events) if not _taken_by_another_run(e, run.dag_id, run.run_id)]
    requests, own_count = _requests([*own, *left]), len(_requests(own))
    log.info(
        "%d request(s) to answer: %d from this run's events, %d stored since %s that no other run answers (%s)",
        len(requests),
        own_count,
        len(requests) - own_count,
        since.isoformat(timespec="seconds"),
        ", ".join(mask_phone(str(r["sender"])) for r in requests) or "none",
    )
    return requests


def _newest(inlet: Any, since: datetime, max_events: int) -> list[Any]:
    """The asset's events stored at ``since`` or later, at most ``max_events``, newest first."""
    if hasattr(inlet, "after"):  # Airflow 3.2+: the API server filters and limits
        return list(inlet.after(since.isoformat()).ascending(False).limit(max_events))
    # Airflow 3.0 and 3.1: a list of every event the asset ever had, oldest first
    return [e for e in inlet if e.timestamp >= since][-max_events:][::-1]


def _taken_by_another_run(event: Any, dag_id: str, run_id: str) -> bool:
    """Whether another run of this DAG took ``event`` and has not failed: that run answers it."""
    return any(
        run.dag_id == dag_id and run.run_id != run_id and getattr(run.state, "value", run.state) != FAILED
        for run in getattr(event, "created_dagruns", None) or ()
    )


def _requests(events: Iterable[Any]) -> list[dict[str, Any]]:
    """The trigger's payloads, one per ``wa_id`` (the first seen), oldest first by the event's time."""
    found: dict[str, tuple[datetime, dict[str, Any]]] = {}
    for event in events:
        payload = (event.extra or {}).get("payload")
        if not isinstance(payload, Mapping) or not payload.get("sender") or not payload.get("wa_id"):
            continue
        found.setdefault(str(payload["wa_id"]), (event.timestamp, dict(payload)))
    return [payload for _, payload in sorted(found.values(), key=lambda pair: pair[0])]
