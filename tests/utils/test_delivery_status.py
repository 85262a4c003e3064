"""Looking up delivery status over HTTP against the emulator: the sync client and the httpx reader."""

from __future__ import annotations

import asyncio
import time
import tracemalloc

import pytest

from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.exceptions import LipaChatAuthError, LipaChatRequestError, LipaChatTransientError
from airflow_provider_lipachat.gateway.async_reader import AsyncMessageList
from airflow_provider_lipachat.gateway.client import LipaChatClient
from airflow_provider_lipachat.utils.delivery import poll_pages_bound

TEN_THOUSAND = 10_000


def accept(emulator: Emulator, count: int, **script: object) -> list[str]:
    """Have the emulator accept ``count`` messages (without HTTP, to keep set-up fast); their waIds."""
    if script:
        emulator.script_status(**script)  # type: ignore[arg-type]
    for n in range(count):
        payload = {"messageId": f"m{n}", "to": f"2547{n:08d}", "from": "254110090747", "message": "hi"}
        emulator.state.deliver_once("text", payload, "Message sent successfully")
    return [d["waId"] for d in emulator.deliveries()]


def list_requests(emulator: Emulator) -> list[str]:
    return [r["path"] for r in emulator.requests() if r["path"].startswith("/api/v1/whatsapp/message?")]


def test_ten_thousand_awaited_ids_take_one_pass_of_a_hundred_pages_in_bounded_memory() -> None:
    with Emulator() as emulator:
        wa_ids = accept(emulator, TEN_THOUSAND, lifecycle="delivered", delivered_after=0.0)
        client = LipaChatClient(emulator.base_url, emulator.api_key)
        tracemalloc.start()
        found = client.statuses(wa_ids, max_pages=150)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(found) == TEN_THOUSAND and {s.status for s in found.values()} == {"DELIVERED"}
        assert len(list_requests(emulator)) == poll_pages_bound(TEN_THOUSAND) == 100
        assert peak < 64 * 1024 * 1024


def test_the_scan_stops_at_the_page_holding_the_last_awaited_id() -> None:
    with Emulator() as emulator:
        wa_ids = accept(emulator, 1000)
        newest_150 = wa_ids[-150:]
        LipaChatClient(emulator.base_url, emulator.api_key).statuses(newest_150)
        assert list_requests(emulator) == [f"/api/v1/whatsapp/message?page={p}&size=100" for p in (0, 1)]


def test_max_pages_bounds_a_scan_for_ids_the_list_does_not_hold() -> None:
    with Emulator() as emulator:
        accept(emulator, 500)
        found = LipaChatClient(emulator.base_url, emulator.api_key).statuses(["wamid.unknown"], max_pages=3)
        assert found == {} and len(list_requests(emulator)) == 3
        emulator.reset()
        accept(emulator, 150)
        LipaChatClient(emulator.base_url, emulator.api_key).statuses(["wamid.unknown"], max_pages=9)
        assert len(list_requests(emulator)) == 2  # the list's end (totalPages) comes first


def test_the_async_reader_finds_the_same_statuses_retrying_a_503() -> None:
    with Emulator() as emulator:
        wa_ids = accept(emulator, 250)
        emulator.add_fault("status", status=503, retry_after="0")
        found, scan = asyncio.run(AsyncMessageList(emulator.base_url, emulator.api_key).statuses(wa_ids))
        assert found == LipaChatClient(emulator.base_url, emulator.api_key).statuses(wa_ids)
        assert scan.pages_read == 3
        assert [r["outcome"] for r in emulator.requests()][:2] == ["fault:status", "listed"]


def test_a_list_that_stays_unavailable_is_a_transient_error_after_the_retries() -> None:
    with Emulator() as emulator:
        emulator.add_fault("status", status=502, count=5, retry_after="0")
        reader = AsyncMessageList(emulator.base_url, emulator.api_key, max_retries=2)
        with pytest.raises(LipaChatTransientError, match="after 3 attempt"):
            asyncio.run(reader.statuses(["wamid.A"]))


@pytest.mark.parametrize("reader", ["sync", "async"])
def test_the_invalid_credentials_quirk_is_an_auth_error_and_the_key_never_shows(reader: str) -> None:
    with Emulator() as emulator:
        wrong = "wrong-key-123"
        with pytest.raises(LipaChatAuthError) as refused:
            if reader == "sync":
                LipaChatClient(emulator.base_url, wrong).statuses(["wamid.A"])
            else:
                asyncio.run(AsyncMessageList(emulator.base_url, wrong).statuses(["wamid.A"]))
        assert wrong not in str(refused.value)


def test_the_emulator_lists_newest_first_with_total_pages_and_statuses_over_time() -> None:
    with Emulator() as emulator:
        wa_ids = accept(emulator, 3, lifecycle="read", delivered_after=0.2, read_after=0.4)
        first = emulator.state.message_page(0, 2)
        assert first["totalPages"] == 2
        assert [m["waMessageId"] for m in first["data"]] == wa_ids[::-1][:2]
        later = emulator.state.message_page(0, 2, now=time.time() + 0.3)
        final = emulator.state.message_page(0, 2, now=time.time() + 0.5)
        assert [m["status"] for m in (first["data"][0], later["data"][0], final["data"][0])] == [
            "SENT",
            "DELIVERED",
            "READ",
        ]


@pytest.mark.parametrize("reader", ["sync", "async"])
def test_https_to_a_plain_http_server_is_refused_at_once_with_the_fix(reader: str) -> None:
    with Emulator() as emulator:
        server = emulator.base_url.removeprefix("http://")
        with pytest.raises(LipaChatRequestError, match=f"set the host to http://{server}") as refused:
            if reader == "sync":
                LipaChatClient(f"https://{server}", emulator.api_key, max_retries=3).statuses(["wamid.A"])
            else:
                asyncio.run(
                    AsyncMessageList(f"https://{server}", emulator.api_key, max_retries=3).statuses(["wamid.A"])
                )
        assert not refused.value.retryable
        assert emulator.requests() == []  # the TLS handshake failed: no request ever reached it
