"""A buttons message as a value: WhatsApp's reply-button rules checked before any request, and its payload."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.gateway.messages import Button, ButtonsMessage, parse_buttons, split_button_id
from airflow_provider_lipachat.utils.message_ids import question_token

SENDER, ALICE = "254110090747", "254711000001"


def question(buttons: Any = ("Approve", "Reject"), text: str = "Send it?") -> ButtonsMessage:
    return ButtonsMessage(to="+" + ALICE, text=text, buttons=buttons, from_number=SENDER, message_id="q-1")


def test_the_payload_is_lipachat_s_sample_request_shape() -> None:
    assert question([{"id": "ok", "title": "Approve"}, "Reject"]).to_payload() == {
        "messageId": "q-1",
        "text": "Send it?",
        "buttons": [{"id": "ok", "title": "Approve"}, {"id": "Reject", "title": "Reject"}],
        "from": SENDER,
        "to": ALICE,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["Yes", "No"], (Button("Yes", "Yes"), Button("No", "No"))),
        ("['Yes', 'No']", (Button("Yes", "Yes"), Button("No", "No"))),
        ([{"id": " a ", "title": " Yes "}], (Button("a", "Yes"),)),
        ([{"id": 7, "title": "Seven"}], (Button("7", "Seven"),)),
        ((Button("y", "Yes"),), (Button("y", "Yes"),)),
    ],
)
def test_buttons_are_read_from_titles_mappings_or_a_rendered_list(value: object, expected: tuple[Button, ...]) -> None:
    assert parse_buttons(value) == expected


@pytest.mark.parametrize(
    ("buttons", "problem"),
    [
        ([], "holds 0 buttons; expected 1 to 3 buttons"),
        (["a", "b", "c", "d"], "holds 4 buttons"),
        (["A very long button title"], "button 1's title is 24 characters; WhatsApp shows at most 20"),
        ([{"id": "x" * 245, "title": "Yes"}], "button 1's id is 245 characters; at most 244"),
        (["Yes", "yes "], "repeats a button id (case ignored)"),
        ([{"id": "a", "title": "Yes"}, {"id": "b", "title": "YES"}], "repeats a button title"),
        ([{"id": "a"}], "button 1 is neither a title nor {id, title}"),
        (["Yes", ""], "button 2 has no title"),
        ("Approve", "is text that is no list"),
        ({"id": "a", "title": "b"}, "expected 1 to 3 buttons"),
    ],
)
def test_whatsapp_s_rules_are_checked_naming_the_field_and_what_is_accepted(buttons: object, problem: str) -> None:
    with pytest.raises(LipaChatValidationError) as refused:
        question(buttons)
    assert refused.value.field == "buttons"
    assert problem in str(refused.value)


def test_the_text_is_at_most_1024_characters() -> None:
    question(text="x" * 1024)
    with pytest.raises(
        LipaChatValidationError, match="message.*1025 characters; a buttons message's text takes at most 1024"
    ):
        question(text="x" * 1025)
    with pytest.raises(LipaChatValidationError, match="message"):
        question(text="  ")


def test_a_question_token_goes_with_every_button_id_and_a_press_reads_it_back() -> None:
    token = question_token("q-1")
    tagged = ButtonsMessage(
        to=ALICE, text="Send it?", buttons=["Approve", "Reject"], from_number=SENDER, question_token=token
    )
    sent = [b["id"] for b in tagged.to_payload()["buttons"]]
    assert sent == [f"Approve~q{token}", f"Reject~q{token}"]
    assert [split_button_id(s) for s in sent] == [("Approve", token), ("Reject", token)]
    assert split_button_id("Approve") == ("Approve", None)  # a button sent without a token
    assert split_button_id("odd~qNOTATOKEN") == ("odd~qNOTATOKEN", None)


def test_question_tokens_are_stable_and_differ_per_question() -> None:
    assert question_token("q-1") == question_token("q-1")
    assert question_token("q-1") != question_token("q-2")
    assert len(question_token("q-1")) == 10


def test_a_malformed_question_token_is_refused() -> None:
    with pytest.raises(LipaChatValidationError, match="question_token=.*expected 10 lower-case base32 letters"):
        ButtonsMessage(to=ALICE, text="Send it?", buttons=["Yes"], from_number=SENDER, question_token="Bad!")
