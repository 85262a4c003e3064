"""WhatsAppReplyTrigger on its own event loop against the emulator: answers, timeouts, reprompts, as events."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.triggers.lipachat import WhatsAppReplyTrigger

ALICE, BOB = "254700000001", "254700000002"
BUTTONS = [{"id": "approve", "title": "Approve"}, {"id": "reject", "title": "Reject"}]


def first_event(trigger: WhatsAppReplyTrigger) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(run(), timeout=30))


def asked(emulator: Emulator, *recipients: str) -> dict[str, str]:
    for to in recipients:
        payload = {"messageId": to, "to": to, "from": "254110090747", "text": "Ok?", "buttons": BUTTONS}
        emulator.state.deliver_once("buttons", payload, "sent")
    return {d["to"]: d["waId"] for d in emulator.deliveries()}


def trigger(ids: dict[str, str], **overrides: Any) -> WhatsAppReplyTrigger:
    arguments: dict[str, Any] = {
        "wa_ids": ids, "options": ["Approve", "Reject"], "answers_from": "all", "deadline": time.time() + 20,
        "poll_interval": 0.1, **overrides,
    }  # fmt: skip
    return WhatsAppReplyTrigger(**arguments)


def test_it_serializes_only_what_re_creates_it_with_an_absolute_deadline() -> None:
    made = trigger({ALICE: "wamid.A"}, deadline=1_900_000_000.0, reprompt=True, handled=["wamid.IN"])
    path, kwargs = made.serialize()
    assert path == "airflow_provider_lipachat.triggers.lipachat.WhatsAppReplyTrigger"
    assert WhatsAppReplyTrigger(**kwargs).serialize() == (path, kwargs)
    assert kwargs["deadline"] == 1_900_000_000.0 and kwargs["handled"] == ["wamid.IN"]


def test_answers_through_a_503_end_with_a_success_event(lipachat_emulator: Emulator, lipachat_conn: str) -> None:
    lipachat_emulator.script_status("delivered", delivered_after=0)
    lipachat_emulator.script_reply(press="reject", after=0.3)
    ids = asked(lipachat_emulator, ALICE, BOB)
    lipachat_emulator.add_fault("status", status=503, count=3, retry_after="0")
    event = first_event(trigger(ids))
    assert event["status"] == "success"
    assert event["message"] == "2547******01: Reject, 2547******02: Reject"
    assert ALICE not in json.dumps(event) and BOB not in json.dumps(event)  # Airflow logs events whole


def test_a_passed_deadline_is_a_timeout_naming_who_has_not_answered(
    lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    lipachat_emulator.script_status("delivered", delivered_after=0)
    lipachat_emulator.script_reply(to=ALICE, press="Approve", after=0)
    ids = asked(lipachat_emulator, ALICE, BOB)
    event = first_event(trigger(ids, deadline=time.time() - 1))
    assert event["status"] == "timeout"
    assert "have not answered: 2547******02" in event["message"] and BOB not in json.dumps(event)


def test_an_answer_matching_no_option_is_a_reprompt_event_once(lipachat_emulator: Emulator, lipachat_conn: str) -> None:
    lipachat_emulator.script_status("delivered", delivered_after=0)
    ids = asked(lipachat_emulator, ALICE)
    reply = lipachat_emulator.receive(ALICE, "tomorrow?")
    event = first_event(trigger(ids, reprompt=True))
    assert event["status"] == "reprompt" and ALICE not in json.dumps(event)
    again = first_event(trigger(ids, reprompt=True, handled=[reply.wa_id], deadline=time.time() + 0.5))
    assert again["status"] == "timeout"
