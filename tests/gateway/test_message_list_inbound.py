"""Inbound items on the message list, read in the same one-pass scan as the statuses of sent messages."""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_lipachat.gateway.message_list import InboundMessage, ListScan, read_inbound_item

ALICE, BOB = "254700000001", "254700000002"


def inbound(sender: str, text: str | None = "ok", wa_id: str = "wamid.IN", **extra: Any) -> dict[str, Any]:
    return {
        "id": 9,
        "waMessageId": wa_id,
        "direction": "INBOUND",
        "contact": {"phoneNumber": sender, "name": "A"},
        "type": "TEXT",
        "text": text,
        "metadata": "{}",
        "status": "",
        "createdAt": "2025-06-24T08:25:02.508+00:00",
        **extra,
    }


def outbound(wa_id: str, to: str) -> dict[str, Any]:
    return {"waMessageId": wa_id, "direction": "OUTBOUND", "contact": {"phoneNumber": to}, "status": "DELIVERED",
            "createdAt": "2025-06-24T08:25:00.000+00:00"}  # fmt: skip


def test_a_text_from_a_number_is_read_with_its_sender_as_digits() -> None:
    assert read_inbound_item(inbound("+" + ALICE, "Approve")) == InboundMessage(
        wa_id="wamid.IN", sender=ALICE, text="Approve", received_at="2025-06-24T08:25:02.508+00:00"
    )


def test_a_button_reply_is_read_from_the_assumed_metadata_shape() -> None:
    metadata = json.dumps({"interactive": {"type": "button_reply", "button_reply": {"id": "ok", "title": "Approve"}}})
    message = read_inbound_item(inbound(ALICE, None, type="INTERACTIVE", metadata=metadata))
    assert message is not None
    assert (message.button_id, message.button_title, message.text, message.shown) == ("ok", "Approve", None, "Approve")


def test_outbound_items_and_items_without_a_sender_are_no_inbound_messages() -> None:
    assert read_inbound_item(outbound("wamid.Q", ALICE)) is None
    assert read_inbound_item({**inbound(ALICE), "contact": None}) is None
    assert read_inbound_item({**inbound(ALICE), "metadata": "not json"}) is not None


def test_one_pass_finds_the_questions_and_keeps_the_answers_of_the_wanted_senders() -> None:
    scan = ListScan(frozenset({"wamid.Q1"}), replies=True, reply_senders=frozenset({ALICE}))
    assert scan.next_page() == 0
    scan.take({"data": [inbound(ALICE, wa_id="wamid.A"), inbound(BOB, wa_id="wamid.B")], "totalPages": 3})
    assert scan.next_page() == 1
    scan.take({"data": [outbound("wamid.Q1", ALICE), inbound(ALICE, wa_id="wamid.OLD")], "totalPages": 3})
    assert scan.next_page() is None  # the question is found: every newer answer was on the pages read
    assert [m.wa_id for m in scan.inbound] == ["wamid.A", "wamid.OLD"]
    assert scan.found["wamid.Q1"].created_at == "2025-06-24T08:25:00.000+00:00"


def test_the_delivery_scan_keeps_no_inbound_messages_and_none_senders_means_anyone() -> None:
    delivery = ListScan(frozenset({"wamid.Q1"}))
    delivery.take({"data": [inbound(ALICE)], "totalPages": 1})
    assert delivery.inbound == []
    anyone = ListScan(frozenset({"wamid.Q1"}), replies=True)
    anyone.take({"data": [inbound(ALICE, wa_id="a"), inbound(BOB, wa_id="b")], "totalPages": 1})
    assert [m.sender for m in anyone.inbound] == [ALICE, BOB]


class TestWatchSince:
    """A watch for new inbound messages reads newest first and stops at the first page reaching back to ``since``."""

    @staticmethod
    def page(*items: dict[str, Any]) -> dict[str, Any]:
        return {"data": list(items), "totalPages": 50}

    def test_it_stops_after_the_page_holding_an_item_older_than_since(self) -> None:
        from datetime import UTC, datetime

        scan = ListScan(frozenset(), max_pages=10, replies=True, since=datetime(2025, 6, 24, 8, 25, 1, tzinfo=UTC))
        assert scan.next_page() == 0
        scan.take(self.page(inbound(ALICE, "new", createdAt="2025-06-24T08:25:09.000+00:00")))
        assert scan.next_page() == 1  # nothing older yet: there may be more new messages
        scan.take(
            self.page(inbound(BOB, "also new", wa_id="wamid.B", createdAt="2025-06-24T08:25:05"), outbound("x", BOB))
        )
        assert scan.next_page() is None and scan.reached_since
        assert [m.text for m in scan.inbound] == ["new", "also new"]
        assert scan.newest is not None and scan.newest.isoformat() == "2025-06-24T08:25:09+00:00"

    def test_it_never_reads_past_max_pages(self) -> None:
        from datetime import UTC, datetime

        scan = ListScan(frozenset(), max_pages=2, replies=True, since=datetime(2020, 1, 1, tzinfo=UTC))
        for _ in range(2):
            scan.take(self.page(inbound(ALICE)))
        assert scan.next_page() is None and not scan.reached_since

    def test_without_since_an_empty_awaited_set_reads_nothing_as_before(self) -> None:
        assert ListScan(frozenset(), replies=True).next_page() is None
