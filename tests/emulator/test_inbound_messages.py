"""The emulator's inbound messages: injected or scripted answers, listed as INBOUND items, opening the window."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from airflow_provider_lipachat.emulator import Emulator

SENDER = "254110090747"
ALICE = "254711000001"
BUTTONS = "/api/v1/whatsapp/interactive/buttons"


def post(emulator: Emulator, path: str, body: Any) -> requests.Response:
    return requests.post(emulator.base_url + path, json=body, headers={"apiKey": emulator.api_key}, timeout=5)


def listed(emulator: Emulator) -> list[dict[str, Any]]:
    answer = requests.get(
        emulator.base_url + "/api/v1/whatsapp/message?page=0&size=100", headers={"apiKey": emulator.api_key}, timeout=5
    )
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def ask(emulator: Emulator, to: str = ALICE, message_id: str = "q-1") -> requests.Response:
    body = {
        "messageId": message_id,
        "text": "Send the report to the board?",
        "buttons": [{"id": "approve", "title": "Approve"}, {"id": "reject", "title": "Reject"}],
        "from": SENDER,
        "to": to,
    }
    return post(emulator, BUTTONS, body)


def test_an_injected_text_is_listed_as_an_inbound_item_newest_first(lipachat_emulator: Emulator) -> None:
    post(
        lipachat_emulator,
        "/api/v1/whatsapp/message/text",
        {"messageId": "m", "message": "hi", "from": SENDER, "to": ALICE},
    )
    answer = post(lipachat_emulator, "/_emulator/inbound", {"from": "+" + ALICE, "text": "Thanks!"})
    assert answer.status_code == 201
    newest, older = listed(lipachat_emulator)
    assert newest["direction"] == "INBOUND" and older["direction"] == "OUTBOUND"
    assert newest["contact"]["phoneNumber"] == ALICE
    assert (newest["type"], newest["text"], newest["status"]) == ("TEXT", "Thanks!", "")
    assert newest["waMessageId"].startswith("wamid.") and newest["id"] != older["id"]


def test_a_button_reply_carries_the_button_in_metadata_in_the_assumed_shape(lipachat_emulator: Emulator) -> None:
    lipachat_emulator.receive(ALICE, button={"id": "approve", "title": "Approve"})
    [item] = listed(lipachat_emulator)
    assert (item["type"], item["text"]) == ("INTERACTIVE", None)
    assert json.loads(item["metadata"]) == {
        "interactive": {"type": "button_reply", "button_reply": {"id": "approve", "title": "Approve"}}
    }


def test_a_message_due_later_is_not_listed_before_its_time(lipachat_emulator: Emulator) -> None:
    lipachat_emulator.receive(ALICE, "later", after=0.4)
    assert listed(lipachat_emulator) == []
    time.sleep(0.5)
    assert [i["text"] for i in listed(lipachat_emulator)] == ["later"]


def test_a_scripted_press_answers_a_buttons_message_after_it_reached_the_number(lipachat_emulator: Emulator) -> None:
    lipachat_emulator.script_status("delivered", delivered_after=0.2)
    answer = post(lipachat_emulator, "/_emulator/replies", {"to": ALICE, "press": "APPROVE ", "after": 0.2})
    assert answer.status_code == 201
    assert ask(lipachat_emulator).json()["status"] == "success"
    assert [i["direction"] for i in listed(lipachat_emulator)] == ["OUTBOUND"]
    time.sleep(0.6)
    reply = listed(lipachat_emulator)[0]
    assert json.loads(reply["metadata"])["interactive"]["button_reply"] == {"id": "approve", "title": "Approve"}
    [inbound] = lipachat_emulator.inbound()
    assert inbound.from_number == ALICE


def test_no_answer_to_a_message_that_never_arrives_or_has_no_such_button(lipachat_emulator: Emulator) -> None:
    lipachat_emulator.script_status("never_delivered", to="254711000002")
    lipachat_emulator.script_status("delivered", delivered_after=0)
    lipachat_emulator.script_reply(press="Maybe", to=ALICE, after=0)
    lipachat_emulator.script_reply(press="Approve", to="254711000002", after=0)
    ask(lipachat_emulator, ALICE, "q-1")
    ask(lipachat_emulator, "254711000002", "q-2")
    time.sleep(0.1)
    assert lipachat_emulator.inbound() == []


def test_a_scripted_text_answers_any_message_and_times_limits_it(lipachat_emulator: Emulator) -> None:
    lipachat_emulator.script_status("delivered", delivered_after=0)
    lipachat_emulator.script_reply(text="ok", after=0, times=1)
    ask(lipachat_emulator, ALICE, "q-1")
    ask(lipachat_emulator, ALICE, "q-2")
    time.sleep(0.05)
    assert [m.text for m in lipachat_emulator.inbound()] == ["ok"]


def test_an_inbound_message_opens_the_number_s_24_hour_window() -> None:
    with Emulator(enforce_session_window=True) as emulator:
        assert ask(emulator).json()["message"].startswith("Message not sent")
        emulator.receive(ALICE, "join")
        assert ask(emulator, message_id="q-2").json()["status"] == "success"


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"buttons": []}, "buttons must be a list of 1 to 3"),
        ({"buttons": [{"id": str(n), "title": str(n)} for n in range(4)]}, "buttons must be a list of 1 to 3"),
        ({"buttons": [{"id": "a", "title": "x" * 21}]}, "title must be text of 1 to 20"),
        ({"buttons": [{"id": "a", "title": "A"}, {"id": "a", "title": "B"}]}, "id must be unique"),
        ({"text": "x" * 1025}, "text must be text of 1 to 1024"),
    ],
)
def test_the_buttons_route_refuses_what_whatsapp_refuses(
    lipachat_emulator: Emulator, change: dict[str, Any], complaint: str
) -> None:
    body = {"messageId": "q", "text": "Ok?", "buttons": [{"id": "y", "title": "Yes"}], "from": SENDER, "to": ALICE}
    answer = post(lipachat_emulator, BUTTONS, {**body, **change})
    assert answer.status_code == 400 and complaint in answer.json()["message"]


@pytest.mark.parametrize(
    ("path", "spec", "complaint"),
    [
        ("/_emulator/inbound", {"from": "0711000001", "text": "x"}, "from="),
        ("/_emulator/inbound", {"from": ALICE}, "exactly one of 'text' or 'button'"),
        ("/_emulator/replies", {"press": "a", "text": "b"}, "exactly one of 'press'"),
        ("/_emulator/replies", {"press": "a", "after": -1}, "after="),
    ],
)
def test_control_specs_the_emulator_cannot_follow_are_refused(
    lipachat_emulator: Emulator, path: str, spec: dict[str, Any], complaint: str
) -> None:
    answer = post(lipachat_emulator, path, spec)
    assert answer.status_code == 400 and complaint in answer.json()["error"]


def test_reset_forgets_inbound_messages_and_scripts(lipachat_emulator: Emulator) -> None:
    lipachat_emulator.receive(ALICE, "hi")
    lipachat_emulator.script_reply(text="ok", after=0)
    lipachat_emulator.reset()
    assert lipachat_emulator.inbound() == [] and lipachat_emulator.state.reply_scripts == []
    assert requests.get(lipachat_emulator.base_url + "/_emulator/inbound", timeout=5).json() == []
