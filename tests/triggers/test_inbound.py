"""WhatsAppInboundTrigger on its own event loop against the emulator: one event per matching message, once.

The asset state store here is an in-memory stand-in with the same two async calls (``aget``, ``aset``)
as Airflow 3.3's ``AssetStateStoreAccessors``: outside a triggerer there is no supervisor to carry them.
tests/e2e/test_inbound_trigger.py runs the trigger in a real triggerer with the real store.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from airflow_provider_lipachat.compat import AIRFLOW_V3, AIRFLOW_VERSION
from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.triggers.inbound import CURSOR_KEY, WhatsAppInboundTrigger
from tests.support import connection_json, printed

needs_asset_watchers = pytest.mark.skipif(
    not AIRFLOW_V3, reason=f"Airflow {AIRFLOW_VERSION} has no asset watchers (3.0+)"
)

MANAGER = "254711000001"
OTHER_MANAGER = "254711000002"
STRANGER = "254799000009"
#: Polls this often here; the trigger refuses less than 5 s from a user, the tests set it after construction.
FAST_POLL = 0.05


class MemoryStore:
    """What the trigger calls on Airflow 3.3's asset state store, kept in a dict; ``failing`` writes refused."""

    def __init__(self, failing: int = 0) -> None:
        self.values: dict[str, Any] = {}
        self.failing = failing

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        if self.failing:
            self.failing -= 1
            raise RuntimeError("the supervisor did not answer")
        self.values[key] = value


def trigger(store: MemoryStore | None = None, **kwargs: Any) -> WhatsAppInboundTrigger:
    made = WhatsAppInboundTrigger(**{"senders": [MANAGER, OTHER_MANAGER], "keyword": "report", **kwargs})
    made.poll_interval = FAST_POLL
    made.asset_state_store = store
    return made


def watching(
    made: WhatsAppInboundTrigger, steps: Callable[[list[dict[str, Any]]], Coroutine[Any, Any, None]]
) -> list[dict[str, Any]]:
    """Run the trigger while ``steps`` injects messages and waits; every event fired, in order."""
    fired: list[dict[str, Any]] = []

    async def collect() -> None:
        async for event in made.run():
            fired.append(dict(event.payload))

    async def main() -> None:
        task = asyncio.create_task(collect())
        try:
            await asyncio.wait_for(steps(fired), timeout=30)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert not task.done() or task.cancelled(), "the watch ended on its own"

    asyncio.run(main())
    return fired


async def until(condition: Callable[[], bool], seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("gave up waiting")


def one_request(emulator: Emulator) -> Callable[[list[dict[str, Any]]], Coroutine[Any, Any, None]]:
    """Steps: once the watch has read the list, a manager asks for the report; over when it fired."""

    async def steps(fired: list[dict[str, Any]]) -> None:
        await until(lambda: list_reads(emulator) >= 1)
        emulator.receive(MANAGER, "report")
        await until(lambda: len(fired) == 1)

    return steps


async def settle() -> None:
    """Long enough for several polls: what has not fired by then does not fire."""
    await asyncio.sleep(FAST_POLL * 10)


def list_reads(emulator: Emulator) -> int:
    return sum(1 for r in emulator.requests() if r.get("path", "").startswith("/api/v1/whatsapp/message"))


@needs_asset_watchers
class TestFires:
    def test_each_matching_message_once_with_the_sender_text_and_id(
        self, lipachat_emulator: Emulator, lipachat_conn: str
    ) -> None:
        async def steps(fired: list[dict[str, Any]]) -> None:
            await until(lambda: list_reads(lipachat_emulator) >= 1)
            lipachat_emulator.receive(MANAGER, " Report ")
            await until(lambda: len(fired) == 1)
            lipachat_emulator.receive(OTHER_MANAGER, "REPORT")
            await until(lambda: len(fired) == 2)
            await settle()

        fired = watching(trigger(), steps)
        assert [(e["sender"], e["text"]) for e in fired] == [(MANAGER, " Report "), (OTHER_MANAGER, "REPORT")]
        assert all(e["wa_id"].startswith("wamid.") and e["received_at"] for e in fired)
        assert len({e["wa_id"] for e in fired}) == 2

    def test_nothing_listed_before_the_first_start_is_replayed(
        self, lipachat_emulator: Emulator, lipachat_conn: str
    ) -> None:
        lipachat_emulator.receive(MANAGER, "report")

        async def steps(fired: list[dict[str, Any]]) -> None:
            await until(lambda: list_reads(lipachat_emulator) >= 3)
            await settle()

        assert watching(trigger(), steps) == []

    def test_other_numbers_and_other_texts_start_nothing_and_log_one_masked_line_each(
        self, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
    ) -> None:
        async def steps(fired: list[dict[str, Any]]) -> None:
            await until(lambda: list_reads(lipachat_emulator) >= 1)
            lipachat_emulator.receive(STRANGER, "report")
            lipachat_emulator.receive(MANAGER, "hello, the secret code is 4242")
            await settle()
            lipachat_emulator.receive(MANAGER, "report")
            await until(lambda: len(fired) == 1)
            await settle()

        fired = watching(trigger(), steps)
        assert [e["sender"] for e in fired] == [MANAGER]
        log = printed(capfd)
        ignored = re.findall(r"Ignored a message: [^\[\n]*?(?= \[|$)", log, flags=re.M)
        assert ignored == [
            "Ignored a message: 2547******09 is not an allowed sender",
            "Ignored a message: the message from 2547******01 is not the keyword",
        ]
        assert STRANGER not in log and "4242" not in log

    def test_a_pattern_and_a_button_press_count_like_typed_text(
        self, lipachat_emulator: Emulator, lipachat_conn: str
    ) -> None:
        async def steps(fired: list[dict[str, Any]]) -> None:
            await until(lambda: list_reads(lipachat_emulator) >= 1)
            lipachat_emulator.receive(STRANGER, "report for Nairobi please")
            lipachat_emulator.receive(MANAGER, button={"id": "report_nbo", "title": "Nairobi report"})
            lipachat_emulator.receive(MANAGER, "weather")
            await until(lambda: len(fired) == 2)
            await settle()

        fired = watching(trigger(senders=None, anyone=True, keyword=None, pattern=r"\breport\b"), steps)
        assert [(e["sender"], e["text"], e["button_id"]) for e in fired] == [
            (STRANGER, "report for Nairobi please", None),
            (MANAGER, "Nairobi report", "report_nbo"),
        ]

    def test_a_failing_message_list_is_read_again_after_a_pause_and_nothing_is_lost(
        self, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
    ) -> None:
        async def steps(fired: list[dict[str, Any]]) -> None:
            await until(lambda: list_reads(lipachat_emulator) >= 1)
            lipachat_emulator.add_fault("status", status=503, count=8, retry_after="0")
            lipachat_emulator.receive(MANAGER, "report")
            await until(lambda: len(fired) == 1)
            await settle()

        fired = watching(trigger(), steps)
        assert [e["sender"] for e in fired] == [MANAGER]
        log = printed(capfd)
        assert "Could not read the message list" in log
        assert lipachat_emulator.api_key not in log

    def test_a_first_start_after_a_busy_minute_replays_nothing_from_beyond_the_first_page(
        self, lipachat_emulator: Emulator, lipachat_conn: str
    ) -> None:
        for _ in range(150):  # more than one page of 100, all within the last minute
            lipachat_emulator.receive(MANAGER, "report")

        async def steps(fired: list[dict[str, Any]]) -> None:
            await until(lambda: list_reads(lipachat_emulator) >= 4)
            lipachat_emulator.receive(OTHER_MANAGER, "report")
            await until(lambda: len(fired) >= 1)
            await settle()

        assert [e["sender"] for e in watching(trigger(), steps)] == [OTHER_MANAGER]

    def test_a_missing_connection_is_logged_and_read_again_until_it_appears(
        self, lipachat_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.delenv("AIRFLOW_CONN_LIPACHAT_DEFAULT", raising=False)

        async def steps(fired: list[dict[str, Any]]) -> None:
            await asyncio.sleep(FAST_POLL * 4)
            assert list_reads(lipachat_emulator) == 0
            monkeypatch.setenv(
                "AIRFLOW_CONN_LIPACHAT_DEFAULT", connection_json(lipachat_emulator.base_url, lipachat_emulator.api_key)
            )
            await until(lambda: list_reads(lipachat_emulator) >= 1)
            lipachat_emulator.receive(MANAGER, "report")
            await until(lambda: len(fired) == 1)

        assert [e["sender"] for e in watching(trigger(), steps)] == [MANAGER]
        assert "Could not read the message list (AirflowNotFoundException" in printed(capfd)


@needs_asset_watchers
class TestRestart:
    def test_with_the_store_messages_that_came_while_it_was_down_fire_once_and_none_twice(
        self, lipachat_emulator: Emulator, lipachat_conn: str
    ) -> None:
        store = MemoryStore()

        assert len(watching(trigger(store), one_request(lipachat_emulator))) == 1
        assert [key.split(":")[0] for key in store.values] == [CURSOR_KEY]
        lipachat_emulator.receive(OTHER_MANAGER, "report")  # while no trigger runs

        async def second(fired: list[dict[str, Any]]) -> None:
            await until(lambda: len(fired) == 1)
            lipachat_emulator.receive(MANAGER, "report")
            await until(lambda: len(fired) == 2)
            await settle()

        fired = watching(trigger(store), second)
        assert [e["sender"] for e in fired] == [OTHER_MANAGER, MANAGER]

    def test_a_store_that_refuses_a_write_is_tried_again_and_the_watch_goes_on(
        self, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
    ) -> None:
        store = MemoryStore(failing=2)

        async def first(fired: list[dict[str, Any]]) -> None:
            await until(lambda: list_reads(lipachat_emulator) >= 1)
            lipachat_emulator.receive(MANAGER, "report")
            await until(lambda: len(fired) == 1)
            await settle()

        assert len(watching(trigger(store), first)) == 1
        assert "Could not keep the cursor (RuntimeError: the supervisor did not answer)" in printed(capfd)

        async def second(fired: list[dict[str, Any]]) -> None:
            await until(lambda: list_reads(lipachat_emulator) >= 8)
            await settle()

        assert watching(trigger(store), second) == []  # the cursor was kept once the store answered

    def test_two_watchers_on_one_asset_keep_cursors_of_their_own(self) -> None:
        reports, approvals = trigger(), trigger(keyword="approve")
        assert reports._cursor_key() != approvals._cursor_key()
        assert reports._cursor_key() == trigger()._cursor_key()  # the same watcher after a restart

    def test_without_a_store_it_starts_afresh_and_what_came_while_it_was_down_is_not_fired(
        self, lipachat_emulator: Emulator, lipachat_conn: str
    ) -> None:
        """Airflow 3.0 to 3.2: no asset state store in the triggerer, so a restart is a first start."""

        assert len(watching(trigger(), one_request(lipachat_emulator))) == 1
        lipachat_emulator.receive(OTHER_MANAGER, "report")
        reads = list_reads(lipachat_emulator)

        async def second(fired: list[dict[str, Any]]) -> None:
            await until(lambda: list_reads(lipachat_emulator) >= reads + 3)
            await settle()

        assert watching(trigger(), second) == []


@needs_asset_watchers
class TestRefuses:
    @pytest.mark.parametrize(
        ("kwargs", "says"),
        [
            ({"senders": []}, "senders=[]: expected the phone numbers allowed to start a run"),
            ({"senders": None}, "to let any number start one, pass anyone=True instead"),
            ({"senders": "254711000001"}, "expected the phone numbers allowed"),
            ({"anyone": True}, "pass the allowed numbers or anyone=True, not both"),
            ({"senders": ["07"]}, "senders="),
            ({"keyword": None, "pattern": "report("}, "pattern='report(': is not a regular expression Python can"),
            ({"pattern": "report"}, "pass one of them, not both"),
            ({"keyword": "  "}, "keyword='  ': expected a non-empty text"),
            ({"poll_interval": 1}, "poll_interval=1: is below 5 s"),
            ({"poll_interval": "soon"}, "poll_interval='soon'"),
        ],
    )
    def test_bad_arguments_when_the_dag_file_is_parsed(self, kwargs: dict[str, Any], says: str) -> None:
        with pytest.raises(LipaChatValidationError) as raised:
            WhatsAppInboundTrigger(**{"senders": [MANAGER], "keyword": "report", **kwargs})
        assert says in str(raised.value)

    def test_it_serializes_what_re_creates_it_the_same(self) -> None:
        made = WhatsAppInboundTrigger(senders=["+254 711 000 002", MANAGER], keyword="report", poll_interval=10)
        path, kwargs = made.serialize()
        assert path == "airflow_provider_lipachat.triggers.inbound.WhatsAppInboundTrigger"
        assert kwargs["senders"] == [MANAGER, OTHER_MANAGER]
        assert WhatsAppInboundTrigger(**kwargs).serialize() == (path, kwargs)


@pytest.mark.skipif(AIRFLOW_V3, reason="Airflow 3 has asset watchers")
def test_on_airflow_2_it_refuses_to_be_built_saying_why() -> None:
    with pytest.raises(RuntimeError, match="needs Airflow 3.0 or later: AssetWatcher came with Airflow 3"):
        WhatsAppInboundTrigger(senders=[MANAGER], keyword="report")
