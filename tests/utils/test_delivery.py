"""The delivery rules: status ranking, reading list items, the wait decision, and what wa_ids accepts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.gateway.message_list import ListScan, MessageStatus, read_list_item
from airflow_provider_lipachat.utils.delivery import (
    decide,
    merge_seen,
    outcome_message,
    parse_wa_ids,
    statuses_from_event,
)


def status(value: str, wa_id: str = "w1", code: int | None = None) -> MessageStatus:
    return MessageStatus(wa_id=wa_id, status=value, error_code=code)


@pytest.mark.parametrize(
    ("before", "update", "after"),
    [
        ("SENT", "DELIVERED", "DELIVERED"),
        ("DELIVERED", "READ", "READ"),
        ("READ", "DELIVERED", "READ"),  # out of order: never back
        ("PENDING", "SENT", "SENT"),
        ("SENT", "FAILED", "FAILED"),
        ("DELIVERED", "FAILED", "DELIVERED"),  # delivered is a fact; a late failure does not undo it
        ("FAILED", "READ", "READ"),
    ],
)
def test_statuses_only_move_up_the_ladder(before: str, update: str, after: str) -> None:
    assert status(before).later(status(update)).status == after


def test_read_implies_delivered_and_failed_reaches_nothing() -> None:
    assert status("READ").reached("delivered")
    assert not status("DELIVERED").reached("read")
    assert not status("FAILED").reached("delivered")


def test_a_list_item_with_lower_case_status_and_a_code_in_its_metadata_string() -> None:
    item = {
        "waMessageId": "w1",
        "status": "failed",
        "contact": {"phoneNumber": "254700000001"},
        "metadata": json.dumps({"errors": [{"code": 131053}]}),
        "updatedAt": "2025-06-24T08:25:09Z",
    }
    assert read_list_item(item) == MessageStatus("w1", "FAILED", "254700000001", 131053, "2025-06-24T08:25:09Z")
    assert read_list_item({**item, "metadata": "not json", "errorCode": "131026"}).error_code == 131026  # type: ignore[union-attr]
    assert read_list_item({**item, "status": "pending"}).status == "PENDING"  # type: ignore[union-attr]


@pytest.mark.parametrize("item", [{"waMessageId": "w1", "status": ""}, {"status": "SENT"}, "text"])
def test_items_without_an_outbound_status_or_id_are_not_statuses(item: object) -> None:
    assert read_list_item(item) is None


def test_the_decision_names_who_failed_and_who_is_still_waiting() -> None:
    awaited = {"a": "w1", "b": "w2", "c": "w3"}
    seen = {"w1": status("DELIVERED", "w1"), "w2": status("SENT", "w2")}
    waiting = decide(awaited, "delivered", seen)
    assert (waiting.state, waiting.waiting) == ("waiting", ["b", "c"])
    seen["w3"] = status("FAILED", "w3", 131026)
    failed = decide(awaited, "delivered", seen)
    assert failed.state == "failed" and list(failed.failed) == ["c"]
    seen["w2"] = status("READ", "w2")
    accepted = decide(awaited, "delivered", seen, max_failed=1)
    assert accepted.state == "done" and accepted.final["c"]["error_code"] == 131026


def test_a_scan_stops_once_every_id_is_found_and_at_the_page_bound() -> None:
    scan = ListScan(frozenset({"w1"}), max_pages=3)
    assert scan.next_page() == 0
    scan.take({"data": [{"waMessageId": "w1", "status": "SENT"}], "totalPages": 9})
    assert scan.next_page() is None and not scan.bounded
    bounded = ListScan(frozenset({"missing"}), max_pages=2)
    while (page := bounded.next_page()) is not None:
        bounded.take({"data": [{"waMessageId": f"x{page}", "status": "SENT"}], "totalPages": 9})
    assert bounded.pages_read == 2 and bounded.bounded


def test_the_first_sighting_wins_since_the_list_is_newest_first() -> None:
    scan = ListScan(frozenset({"w1"}))
    scan.take({"data": [{"waMessageId": "w1", "status": "READ"}, {"waMessageId": "w1", "status": "SENT"}]})
    assert scan.found["w1"].status == "READ"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("wamid.A", {"wamid.A": "wamid.A"}),
        ({"254700000001": "wamid.A"}, {"254700000001": "wamid.A"}),
        (
            "{'254700000001': 'wamid.A', '254700000002': 'wamid.B'}",
            {"254700000001": "wamid.A", "254700000002": "wamid.B"},
        ),
        ('{"254700000001": "wamid.A"}', {"254700000001": "wamid.A"}),
        (["wamid.A", "wamid.B"], {"wamid.A": "wamid.A", "wamid.B": "wamid.B"}),
        ("['wamid.A']", {"wamid.A": "wamid.A"}),
    ],
)
def test_wa_ids_takes_what_the_send_operators_return(value: object, expected: dict[str, str]) -> None:
    assert parse_wa_ids(value) == expected


@pytest.mark.parametrize("value", ["", None, {}, {"254700000001": None}, "{'a': ", 42])
def test_anything_else_is_refused_naming_the_field(value: object) -> None:
    with pytest.raises(LipaChatValidationError, match="wa_ids.*expected the waId a send returned"):
        parse_wa_ids(value)


def test_recipients_written_by_hand_are_labelled_as_the_send_operators_write_them() -> None:
    found = parse_wa_ids({"+254 711-222-333": "wamid.A", 254711000002: "wamid.B", "ops team": "wamid.C"})
    assert found == {"254711222333": "wamid.A", "254711000002": "wamid.B", "ops team": "wamid.C"}


def test_a_refused_mapping_shows_its_numbers_masked() -> None:
    with pytest.raises(LipaChatValidationError) as refused:
        parse_wa_ids({"254711222333": None})
    assert "254711222333" not in str(refused.value)
    assert "2547******33" in str(refused.value)


class Results(Sequence[object]):
    """A sequence that is not a list, as Airflow's lazy sequence of a mapped task's results is."""

    def __init__(self, *items: object) -> None:
        self._items = list(items)

    def __getitem__(self, index: Any) -> Any:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return "Results(<unevaluated length>)"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Results("wamid.A", "wamid.B"), {"wamid.A": "wamid.A", "wamid.B": "wamid.B"}),
        (("wamid.A",), {"wamid.A": "wamid.A"}),
        ((w for w in ["wamid.A"]), {"wamid.A": "wamid.A"}),
        (
            Results({"254700000001": "wamid.A", "254700000002": "wamid.B"}, {"254700000003": "wamid.C"}),
            {"254700000001": "wamid.A", "254700000002": "wamid.B", "254700000003": "wamid.C"},
        ),
        ("[{'254700000001': 'wamid.A'}, None, 'wamid.B']", {"254700000001": "wamid.A", "wamid.B": "wamid.B"}),
        ('[{"254700000001": "wamid.A"}, null]', {"254700000001": "wamid.A"}),
    ],
    ids=["sequence", "tuple", "generator", "mappings-merged", "rendered-list", "rendered-json"],
)
def test_wa_ids_takes_any_iterable_of_send_results(value: object, expected: dict[str, str]) -> None:
    assert parse_wa_ids(value) == expected


def test_none_results_are_left_out_and_told() -> None:
    told: list[str] = []
    assert parse_wa_ids(Results(None, "wamid.B", None), notice=told.append) == {"wamid.B": "wamid.B"}
    assert told == ["Left out 2 of 3 send result(s) holding no waId (None: a mapped send skipped)"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (Results(None, None), "holds no waId: its 2 item(s) are all None (sends that were skipped)"),
        (Results(), "holds no waId: it is empty"),
        ([], "holds no waId: it is empty"),
        (Results("wamid.A", 42), "holds int 42, neither a waId nor a {recipient: waId} mapping"),
    ],
)
def test_results_without_waids_are_refused_saying_what_they_held(value: object, problem: str) -> None:
    with pytest.raises(LipaChatValidationError) as refused:
        parse_wa_ids(value)
    message = str(refused.value)
    assert "wa_ids" in message and problem in message and "expected the waId a send returned" in message
    assert "unevaluated length" not in message  # shown as read, not as the lazy sequence's repr


def test_one_recipient_sent_to_twice_keeps_both_messages() -> None:
    found = parse_wa_ids(Results({"254700000001": "wamid.A"}, {"254700000001": "wamid.B"}, {"254700000001": "wamid.A"}))
    assert found == {"254700000001": "wamid.A", "wamid.B": "wamid.B"}


def test_a_lone_waid_is_named_by_the_recipient_the_list_reports_once_seen() -> None:
    awaited = {"wamid.A": "wamid.A", "wamid.B": "wamid.B", "254700000001": "wamid.C"}
    seen = {
        "wamid.A": MessageStatus("wamid.A", "DELIVERED", "+254 700 000 002"),
        "wamid.C": MessageStatus("wamid.C", "SENT", "254700000001"),
    }
    decision = decide(awaited, "delivered", seen)
    assert list(decision.final) == ["254700000002", "wamid.B", "254700000001"]
    assert decision.waiting == ["wamid.B", "254700000001"]
    assert decision.final["wamid.B"] == {
        "wa_id": "wamid.B",
        "status": None,
        "recipient": None,
        "error_code": None,
        "updated_at": None,
    }
    # A recipient already naming another message leaves the waId as the name.
    seen["wamid.B"] = MessageStatus("wamid.B", "SENT", "254700000001")
    assert list(decide(awaited, "delivered", seen).final) == ["254700000002", "wamid.B", "254700000001"]


def test_a_timeout_gives_each_pending_messages_last_status_and_why_some_may_be_missing() -> None:
    awaited = {"254700000001": "wamid.A", "254700000002": "wamid.B", "254700000003": "wamid.C"}
    seen = {
        "wamid.A": MessageStatus("wamid.A", "DELIVERED", "254700000001"),
        "wamid.B": MessageStatus("wamid.B", "READ", "254700000002"),
    }
    decision = decide(awaited, "read", seen)
    assert decision.unseen == ["254700000003"]
    message = outcome_message("timeout", decision, "read", max_pages=3)
    assert message.startswith(
        "timed out waiting for read from 2 message(s): 2547******01: DELIVERED, not yet READ; "
        "2547******03: never seen on the message list. 1 message(s) never seen on the message list (2547******03): "
    )
    assert "max_pages=3 page(s) (300 messages)" in message
    assert "254700000001" not in message and "254700000003" not in message


@pytest.mark.parametrize("text", ["LazySelectSequence([2 items])", "LazyXComSequence(<unevaluated length>)"])
def test_the_text_of_a_lazy_sequence_is_refused_saying_what_to_write_instead(text: str) -> None:
    with pytest.raises(LipaChatValidationError, match=r"wa_ids.*lazy sequence.*send\.output.*\| list"):
        parse_wa_ids(text)


def test_a_status_kept_from_a_trigger_s_event_gets_its_recipient_from_the_next_look() -> None:
    seen = statuses_from_event({"w1": {"status": "READ", "error_code": None, "updated_at": "t2"}})
    merge_seen(seen, {"w1": MessageStatus(wa_id="w1", status="DELIVERED", recipient="254700000001", updated_at="t1")})
    assert seen["w1"] == MessageStatus(wa_id="w1", status="READ", recipient="254700000001", updated_at="t2")


def test_an_event_s_statuses_that_cannot_be_read_are_left_out() -> None:
    event = {
        "w1": {"status": "failed", "error_code": 131026},
        "w2": {"status": "LOST"},
        "w3": "READ",
        "w4": {"status": "SENT", "error_code": True, "updated_at": 5},
    }
    assert statuses_from_event(event) == {
        "w1": MessageStatus(wa_id="w1", status="FAILED", error_code=131026),
        "w4": MessageStatus(wa_id="w4", status="SENT"),
    }
    assert statuses_from_event(None) == {}
