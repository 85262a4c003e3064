"""The delivery rules: status ranking, reading list items, the wait decision, and what wa_ids accepts."""

from __future__ import annotations

import json

import pytest

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.gateway.message_list import ListScan, MessageStatus, read_list_item
from airflow_provider_lipachat.utils.delivery import decide, parse_wa_ids


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
