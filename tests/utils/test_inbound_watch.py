"""The inbound watch's cursor and rule, as values: which listed messages are new, and which start a run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.gateway.message_list import InboundMessage
from airflow_provider_lipachat.utils.inbound_watch import OVERLAP, InboundCursor, InboundRule, undated

START = datetime(2026, 12, 3, 9, 0, 0, tzinfo=UTC)
ALICE = "254711000001"


def message(wa_id: str, seconds: float, text: str = "report", sender: str = ALICE) -> InboundMessage:
    at = (START + timedelta(seconds=seconds)).isoformat()
    return InboundMessage(wa_id=wa_id, sender=sender, text=text, received_at=at)


def newest_first(*messages: InboundMessage) -> list[InboundMessage]:
    return sorted(messages, key=lambda m: m.received_at or "", reverse=True)


class TestCursor:
    def test_nothing_created_at_or_before_the_first_look_is_ever_new_even_far_down_the_list(self) -> None:
        cursor = InboundCursor.start(START)
        listed = newest_first(message("old", -30), message("at-start", 0), message("fresh", 2))
        assert [m.wa_id for m in cursor.new(listed)] == ["fresh"]

    def test_new_messages_come_oldest_first_and_once_though_listed_on_two_pages(self) -> None:
        cursor = InboundCursor.start(START)
        listed = [message("b", 5), message("a", 3), message("b", 5)]  # b shifted onto the next page
        assert [m.wa_id for m in cursor.new(listed)] == ["a", "b"]

    def test_a_message_listed_late_within_the_overlap_fires_once(self) -> None:
        cursor = InboundCursor.start(START).after([message("later", 40)])
        late = message("late", 20)  # created before "later", listed after it was handled
        assert cursor.new(newest_first(message("later", 40), late)) == [late]
        assert cursor.after([late]).new(newest_first(message("later", 40), late)) == []

    def test_ids_older_than_the_overlap_are_forgotten_and_such_messages_are_not_new(self) -> None:
        cursor = InboundCursor.start(START).after([message("a", 1)]).after([message("b", 1 + OVERLAP.seconds + 5)])
        assert set(cursor.recent) == {"b"}
        assert cursor.new([message("a", 1)]) == []

    def test_a_scan_s_newest_item_moves_the_cursor_so_the_next_scan_stops_sooner(self) -> None:
        cursor = InboundCursor.start(None)  # an empty list at the first look
        moved = cursor.read_up_to(START + timedelta(minutes=5))
        assert moved.since == START + timedelta(minutes=5) and moved.scan_since() == moved.since - OVERLAP
        assert moved.read_up_to(START) is moved  # never back

    def test_it_survives_the_store_as_json_and_anything_unreadable_starts_afresh(self) -> None:
        cursor = InboundCursor.start(START).after([message("a", 3)])
        assert InboundCursor.from_json(cursor.to_json()) == cursor
        for stored in (None, "x", {"since": "yesterday", "floor": START.isoformat(), "recent": {}}, {"since": 1}):
            assert InboundCursor.from_json(stored) is None

    def test_a_message_without_a_readable_time_is_never_new_and_is_named(self) -> None:
        no_time = InboundMessage(wa_id="x", sender=ALICE, text="report", received_at=None)
        assert InboundCursor.start(START).new([no_time]) == []
        assert undated([no_time, message("a", 1)]) == [no_time]


class TestRule:
    def test_a_keyword_ignores_case_and_spaces_and_a_button_counts_like_text(self) -> None:
        rule = InboundRule.parse([ALICE], anyone=False, keyword="Report", pattern=None)
        assert rule.refusal(message("a", 1, " REPORT ")) is None
        pressed = InboundMessage(wa_id="b", sender=ALICE, button_id="report", button_title="Get it")
        assert rule.refusal(pressed) is None
        assert rule.refusal(message("c", 1, "report please")) == "the message from 2547******01 is not the keyword"

    def test_senders_are_read_as_phone_numbers(self) -> None:
        rule = InboundRule.parse(["+254 711-000-001"], anyone=False, keyword=None, pattern=None)
        assert rule.senders == frozenset({ALICE})

    def test_anyone_must_be_true_or_false(self) -> None:
        with pytest.raises(LipaChatValidationError, match="anyone='yes': expected True or False"):
            InboundRule.parse(None, anyone="yes", keyword=None, pattern=None)  # type: ignore[arg-type]
