"""The shared rate limit: one budget per gateway host and sender number, kept in a real Redis, across processes."""

from __future__ import annotations

import multiprocessing
import time

import pytest
import redis

from airflow_provider_lipachat.emulator import busiest_window
from airflow_provider_lipachat.exceptions import LipaChatRateLimitStoreError
from airflow_provider_lipachat.gateway.ratelimit import SPACING_MARGIN
from airflow_provider_lipachat.gateway.shared_ratelimit import SharedRateLimit, budget_key
from tests.redis_server import RedisServer

GATEWAY = "https://gateway.lipachat.com"
SENDER = "254110090747"


def limit_at(server: RedisServer, per_second: float, waits: list[float] | None = None) -> SharedRateLimit:
    """A shared limit on ``server``; with ``waits``, sleeping only records the wait (no time passes)."""
    store = redis.Redis.from_url(server.url, socket_timeout=2, socket_connect_timeout=2)
    if waits is None:
        return SharedRateLimit(store, "rate_store", GATEWAY, per_second)
    return SharedRateLimit(store, "rate_store", GATEWAY, per_second, sleep=waits.append)


def starts_in_one_process(url: str, per_second: float, count: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """One sending process: its own Redis client, ``count`` acquires, the wall time each one returned."""
    store = redis.Redis.from_url(url)
    limit = SharedRateLimit(store, "rate_store", GATEWAY, per_second)
    starts = []
    for _ in range(count):
        limit.acquire(SENDER)
        starts.append(time.time())
    results.put(starts)


def test_four_processes_share_one_budget_evenly_spaced_with_no_window_above_the_limit(
    redis_server: RedisServer,
) -> None:
    per_second, count = 40.0, 25
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [
        context.Process(target=starts_in_one_process, args=(redis_server.url, per_second, count, results))
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    starts = sorted(s for _ in processes for s in results.get(timeout=30))
    for process in processes:
        process.join(timeout=10)

    assert len(starts) == 100
    assert busiest_window(starts) <= per_second
    # 100 starts at 40/s take 99 intervals, whichever process each came from: one budget, not four.
    assert starts[-1] - starts[0] >= 99 * SPACING_MARGIN / per_second * 0.95


def test_each_reservation_is_the_next_slot_one_interval_after_the_one_before(redis_server: RedisServer) -> None:
    waits: list[float] = []
    limit = limit_at(redis_server, 10.0, waits)
    for _ in range(5):
        limit.acquire(SENDER)

    interval = SPACING_MARGIN / 10.0
    assert len(waits) == 4  # the first slot is now: no wait
    for number, wait in enumerate(waits, start=1):
        # Reserved ahead without sleeping, so the n-th slot is n intervals from the first.
        assert wait == pytest.approx(number * interval, abs=0.01)


def test_two_connections_to_one_number_share_its_budget_and_two_numbers_do_not(redis_server: RedisServer) -> None:
    waits: list[float] = []
    first, second = limit_at(redis_server, 10.0, waits), limit_at(redis_server, 10.0, waits)
    first.acquire(SENDER)
    second.acquire(SENDER)  # the same number through another connection: the next slot
    second.acquire("254799000001")  # another number: a budget of its own, free now

    assert len(waits) == 1 and waits[0] == pytest.approx(SPACING_MARGIN / 10.0, abs=0.01)
    assert budget_key("https://Gateway.LipaChat.com/", SENDER) == budget_key(GATEWAY, SENDER)
    assert budget_key("http://127.0.0.1:8080", SENDER) != budget_key(GATEWAY, SENDER)


def test_an_idle_number_leaves_no_key_behind(redis_server: RedisServer) -> None:
    limit_at(redis_server, 50.0).acquire(SENDER)
    store = redis.Redis.from_url(redis_server.url)
    assert store.exists(budget_key(GATEWAY, SENDER))
    deadline = time.monotonic() + 5
    while store.exists(budget_key(GATEWAY, SENDER)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not store.exists(budget_key(GATEWAY, SENDER))


def test_a_store_that_is_down_is_a_transient_error_naming_the_connection(redis_server: RedisServer) -> None:
    limit = limit_at(redis_server, 10.0)
    redis_server.stop()

    with pytest.raises(LipaChatRateLimitStoreError) as refused:
        limit.acquire(SENDER)

    assert refused.value.retryable and refused.value.stops_fan_out
    assert "connection 'rate_store'" in str(refused.value)
    assert "ConnectionError" in str(refused.value)


def test_a_wrong_password_names_the_connection_and_never_shows_the_password(tmp_path: pytest.TempPathFactory) -> None:
    from tests.redis_server import redis_server_or_skip

    redis_server_or_skip()
    server = RedisServer(tmp_path, password="s3cret-store-pass")  # type: ignore[arg-type]
    server.start()
    try:
        store = redis.Redis(host="127.0.0.1", port=server.port, password="wrong-pass-4711", socket_timeout=2)
        limit = SharedRateLimit(store, "rate_store", GATEWAY, 10.0)
        with pytest.raises(LipaChatRateLimitStoreError) as refused:
            limit.acquire(SENDER)
    finally:
        server.stop()

    assert "connection 'rate_store'" in str(refused.value)
    assert "wrong-pass-4711" not in str(refused.value) and "s3cret-store-pass" not in str(refused.value)
