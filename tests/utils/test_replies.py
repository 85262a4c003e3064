"""Which inbound message answers which question: options, timing, and whose answers end the wait."""

from __future__ import annotations

import pytest

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.gateway.message_list import InboundMessage, MessageStatus
from airflow_provider_lipachat.utils.replies import decide_replies, parse_options, reply_outcome

ALICE, BOB = "254700000001", "254700000002"
OPTIONS = ("Approve", "Reject")
ASKED = "2025-06-24T08:00:00.000+00:00"


def question(wa_id: str, to: str, status: str = "DELIVERED") -> MessageStatus:
    return MessageStatus(
        wa_id=wa_id, status=status, recipient=to, created_at=ASKED, error_code=131026 if status == "FAILED" else None
    )


def said(sender: str, minute: int, text: str | None = None, button: str | None = None) -> InboundMessage:
    at = f"2025-06-24T08:{minute:02d}:00.000+00:00"
    button_id = button.lower() if button else None
    return InboundMessage(f"in-{sender}-{minute}", sender, text, button_id, button, received_at=at)


QUESTIONS = {"q1": question("q1", ALICE), "q2": question("q2", BOB)}
AWAITED = {ALICE: "q1", BOB: "q2"}


def test_a_pressed_button_and_a_typed_title_answer_alike_and_the_options_spelling_is_returned() -> None:
    decision = decide_replies(
        AWAITED, QUESTIONS, [said(ALICE, 1, button="Approve"), said(BOB, 2, text=" reject ")], OPTIONS, "all"
    )
    assert decision.done
    assert decision.final == {
        ALICE: {"answer": "Approve", "text": "Approve", "received_at": "2025-06-24T08:01:00.000+00:00"},
        BOB: {"answer": "Reject", "text": " reject ", "received_at": "2025-06-24T08:02:00.000+00:00"},
    }


def test_earlier_messages_do_not_count_and_unmatched_ones_are_ignored_until_one_matches() -> None:
    inbound = [said(ALICE, 3, text="Approve"), said(ALICE, 5, text="hmm"), said(ALICE, 7, text="reject")]
    old = InboundMessage("old", ALICE, text="Approve", received_at="2025-06-23T08:00:00.000+00:00")
    decision = decide_replies({ALICE: "q1"}, QUESTIONS, [old, *inbound[1:]], OPTIONS, "all")
    assert decision.answers[ALICE].answer == "Reject"
    assert [i.message.text for i in decision.ignored] == ["hmm"]


def test_any_returns_every_answer_known_and_first_only_the_earliest() -> None:
    inbound = [said(BOB, 2, button="Reject"), said(ALICE, 4, button="Approve")]
    assert set(decide_replies(AWAITED, QUESTIONS, inbound, OPTIONS, "any").answers) == {ALICE, BOB}
    assert set(decide_replies(AWAITED, QUESTIONS, inbound, OPTIONS, "first").answers) == {BOB}
    waiting = decide_replies(AWAITED, QUESTIONS, inbound[:1], OPTIONS, "all")
    assert not waiting.done and waiting.waiting == [ALICE]


def test_without_options_any_answer_counts_as_sent() -> None:
    decision = decide_replies({ALICE: "q1"}, QUESTIONS, [said(ALICE, 1, text=" On my way ")], None, "all")
    assert decision.answers[ALICE].answer == "On my way"


def test_a_failed_question_fails_all_at_once_and_any_only_when_every_question_failed() -> None:
    failed = {"q1": question("q1", ALICE, "FAILED"), "q2": question("q2", BOB)}
    assert decide_replies(AWAITED, failed, [], OPTIONS, "all").state == "failed"
    assert decide_replies(AWAITED, failed, [], OPTIONS, "any").state == "waiting"
    both = {"q1": question("q1", ALICE, "FAILED"), "q2": question("q2", BOB, "FAILED")}
    decision = decide_replies(AWAITED, both, [], OPTIONS, "any")
    assert decision.state == "failed"
    assert "2547******01: FAILED, WhatsApp error 131026" in reply_outcome("failed", decision, "any")


def test_a_question_never_seen_keeps_its_recipient_waiting_and_the_timeout_says_so() -> None:
    decision = decide_replies({"wamid.X": "wamid.X"}, {}, [said(ALICE, 1, text="Approve")], OPTIONS, "all")
    assert decision.waiting == ["wamid.X"] and decision.unseen == ["wamid.X"]
    assert "never seen on the message list" in reply_outcome("timeout", decision, "all")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("Approve", ("Approve",)), ("['Yes', ' no ', 'YES']", ("Yes", "no")), ([1, 2], ("1", "2"))],
)
def test_options_are_read_from_a_list_its_text_or_one_text(value: object, expected: object) -> None:
    assert parse_options(value) == expected


@pytest.mark.parametrize(
    ("value", "problem"), [([], "names no answer"), ([""], "which is no answer"), ({"a": 1}, "expected the answers")]
)
def test_options_that_name_no_answer_are_refused(value: object, problem: str) -> None:
    with pytest.raises(LipaChatValidationError, match=problem):
        parse_options(value)
