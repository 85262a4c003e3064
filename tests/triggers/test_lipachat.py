"""WhatsAppDeliveryTrigger on its own event loop against the emulator: events, never exceptions."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.triggers.lipachat import WhatsAppDeliveryTrigger
from tests.support import connection_json


def first_event(trigger: WhatsAppDeliveryTrigger) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(run(), timeout=30))


def sent_to(emulator: Emulator, *recipients: str) -> dict[str, str]:
    for to in recipients:
        emulator.state.deliver_once("text", {"messageId": to, "to": to, "from": "254110090747"}, "sent")
    return {d["to"]: d["waId"] for d in emulator.deliveries()}


def test_it_serializes_only_what_re_creates_it_with_an_absolute_deadline() -> None:
    trigger = WhatsAppDeliveryTrigger(wa_ids={"254700000001": "wamid.A"}, wait_for="read", deadline=1_900_000_000.0)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_lipachat.triggers.lipachat.WhatsAppDeliveryTrigger"
    assert WhatsAppDeliveryTrigger(**kwargs).serialize() == (path, kwargs)
    assert kwargs["deadline"] == 1_900_000_000.0


def test_delivered_after_polls_through_a_503(lipachat_emulator: Emulator, lipachat_conn: str) -> None:
    lipachat_emulator.script_status("delivered", delivered_after=0.3)
    ids = sent_to(lipachat_emulator, "254700000001", "254700000002")
    lipachat_emulator.add_fault("status", status=503, count=4, retry_after="0")
    event = first_event(
        WhatsAppDeliveryTrigger(wa_ids=ids, wait_for="delivered", deadline=time.time() + 20, poll_interval=0.1)
    )
    assert event["status"] == "success"
    assert {k: v["status"] for k, v in event["final"].items()} == {
        "254700000001": "DELIVERED",
        "254700000002": "DELIVERED",
    }


def test_a_deadline_in_the_past_ends_with_a_timeout_naming_who_is_pending(
    lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    lipachat_emulator.script_status("never_delivered")
    ids = sent_to(lipachat_emulator, "254700000001")
    event = first_event(WhatsAppDeliveryTrigger(wa_ids=ids, wait_for="delivered", deadline=time.time() - 1))
    assert event["status"] == "timeout" and "2547******01" in event["message"]


def test_a_refused_key_is_an_error_event_not_an_exception(
    lipachat_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LIPACHAT_DEFAULT", connection_json(lipachat_emulator.base_url, "wrong-key-123"))
    event = first_event(WhatsAppDeliveryTrigger(wa_ids={"a": "wamid.A"}, wait_for="read", deadline=time.time() + 20))
    assert event["status"] == "error" and "refused the API key" in event["message"]
    assert "wrong-key-123" not in event["message"]


def test_a_missing_connection_is_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_LIPACHAT_DEFAULT", raising=False)
    event = first_event(
        WhatsAppDeliveryTrigger(
            wa_ids={"a": "wamid.A"}, wait_for="read", deadline=time.time() + 5, lipachat_conn_id="nope"
        )
    )
    assert event["status"] == "error" and "nope" in event["message"]
