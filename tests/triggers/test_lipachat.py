"""WhatsAppDeliveryTrigger on its own event loop against the emulator: events, never exceptions."""

from __future__ import annotations

import asyncio
import json
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
    assert {wa_id: seen["status"] for wa_id, seen in event["statuses"].items()} == {
        ids["254700000001"]: "DELIVERED",
        ids["254700000002"]: "DELIVERED",
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


ALICE, BOB = "254711222333", "254722444555"


def hidden_digits(number: str) -> str:
    """The digits ``mask_phone`` hides ('254711222333' -> '112223'): none may show in an event."""
    return number[4:-2]


@pytest.mark.parametrize(
    ("lifecycle", "deadline_in", "status"),
    [("delivered", 20.0, "success"), ("failed", 20.0, "failed"), ("never_delivered", -1.0, "timeout")],
)
def test_no_event_carries_a_recipient_number_since_airflow_logs_events_whole(
    lipachat_emulator: Emulator, lipachat_conn: str, lifecycle: str, deadline_in: float, status: str
) -> None:
    lipachat_emulator.script_status(lifecycle, delivered_after=0, code=131026)
    ids = sent_to(lipachat_emulator, ALICE, BOB)
    event = first_event(
        WhatsAppDeliveryTrigger(wa_ids=ids, wait_for="delivered", deadline=time.time() + deadline_in, poll_interval=0.1)
    )
    assert event["status"] == status
    text = json.dumps(event)
    for number in (ALICE, BOB):
        assert number not in text and hidden_digits(number) not in text, text
    # What the sensor needs to name each message by recipient on the worker: the statuses by waId.
    expected = {"success": "DELIVERED", "failed": "FAILED", "timeout": "SENT"}[status]
    assert {wa_id: seen["status"] for wa_id, seen in event["statuses"].items()} == dict.fromkeys(ids.values(), expected)
    if status != "success":
        assert "2547******33" in event["message"]  # who failed or is pending, masked
