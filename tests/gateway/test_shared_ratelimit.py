"""The shared rate limit: one budget per gateway host and sender number, kept in a real Redis, across processes."""

from __future__ import annotations

import multiprocessing
import time

import pytest
import redis

from airflow_provider_lipachat.emulator import busiest_window
from airflow_provider_lipachat.exceptions import LipaChatRateLimitStoreError
from airflow_provider_lipachat.gateway.ratelimit import SPACING_MARGIN
from airflow_provider_lipachat.gateway.shared_ratelimit import SharedRateLimit, budget_key, is_credentials_refusal
from tests.redis_server import STORE_PASSWORD, RedisServer

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
    called, returned = [], []
    for _ in range(5):
        called.append(time.monotonic())
        limit.acquire(SENDER)
        returned.append(time.monotonic())

    interval = SPACING_MARGIN / 10.0
    assert len(waits) == 4  # the first slot is now: no wait
    for number, wait in enumerate(waits, start=1):
        # Reserved ahead without sleeping, so the n-th slot is n intervals from the first. Each wait counts from
        # Redis's clock during its own call, however long the calls took: bracketed by when they began and ended.
        slack = 0.001
        assert wait + called[number] - returned[0] - slack <= number * interval
        assert number * interval <= wait + returned[number] - called[0] + slack


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


@pytest.mark.parametrize(
    "base_url",
    [
        "https://gateway.lipachat.com",
        "https://gateway.lipachat.com:443",
        "https://gateway.lipachat.com/",
        "HTTPS://Gateway.LipaChat.com/",
        "https://GATEWAY.LIPACHAT.COM:443/api",
    ],
)
def test_every_spelling_of_a_gateway_keys_the_budget_the_usual_spelling_always_had(base_url: str) -> None:
    """The usual spelling's key is what running deployments use: an upgrade keeps drawing from the same budget."""
    assert budget_key(base_url, SENDER) == "lipachat:rate:gateway.lipachat.com:254110090747"


@pytest.mark.parametrize(
    ("base_url", "key"),
    [
        ("https://gateway.lipachat.com:8443", "lipachat:rate:gateway.lipachat.com:8443:254110090747"),
        ("http://127.0.0.1:8765", "lipachat:rate:127.0.0.1:8765:254110090747"),
        ("http://127.0.0.1:80", "lipachat:rate:127.0.0.1:254110090747"),
        ("http://[::1]:8765", "lipachat:rate:[::1]:8765:254110090747"),
        ("https://gw.example.com", "lipachat:rate:gw.example.com:254110090747"),
    ],
)
def test_another_port_or_host_is_another_gateway_with_a_budget_of_its_own(base_url: str, key: str) -> None:
    assert budget_key(base_url, SENDER) == key


def test_a_store_that_is_down_is_a_transient_error_naming_the_connection(redis_server: RedisServer) -> None:
    limit = limit_at(redis_server, 10.0)
    redis_server.stop()

    with pytest.raises(LipaChatRateLimitStoreError) as refused:
        limit.acquire(SENDER)

    assert refused.value.retryable and refused.value.stops_fan_out
    assert str(refused.value).startswith(
        "the shared rate limit's store (connection 'rate_store') did not answer (ConnectionError: "
    )


@pytest.mark.parametrize("password", ["wrong-pass-4711", None], ids=["wrong password", "no password"])
def test_a_refused_password_is_said_as_such_naming_the_connection_never_the_password(
    redis_server_with_password: RedisServer, password: str | None
) -> None:
    store = redis.Redis(host="127.0.0.1", port=redis_server_with_password.port, password=password, socket_timeout=2)
    limit = SharedRateLimit(store, "rate_store", GATEWAY, 10.0)
    for attempt in (lambda: limit.acquire(SENDER), limit.check):
        with pytest.raises(LipaChatRateLimitStoreError) as refused:
            attempt()
        message = str(refused.value)
        assert message.startswith(
            "the shared rate limit's store refused the credentials of connection 'rate_store' (AuthenticationError: "
        )
        assert "give the connection the store's password (and its user as login, for an ACL user)" in message
        assert "did not answer" not in message
        assert "wrong-pass-4711" not in message and STORE_PASSWORD not in message
        assert refused.value.retryable  # the connection may be fixed before the task's retry


def test_a_user_without_the_commands_it_needs_is_told_which_to_allow(
    redis_server_with_password: RedisServer,
) -> None:
    admin = redis.Redis.from_url(redis_server_with_password.url)
    admin.acl_setuser("sender", enabled=True, passwords=["+sender-pass-31"], keys=["*"], commands=["+ping"])
    store = redis.Redis(
        host="127.0.0.1", port=redis_server_with_password.port, username="sender", password="sender-pass-31"
    )
    limit = SharedRateLimit(store, "rate_store", GATEWAY, 10.0)
    limit.check()  # PING is allowed: the credentials are right

    with pytest.raises(LipaChatRateLimitStoreError) as refused:
        limit.acquire(SENDER)

    message = str(refused.value)
    assert message.startswith(
        "the shared rate limit's store refused the commands the limit needs to the user of connection 'rate_store' "
        "(NoPermissionError: "
    )
    assert (
        "allow that user EVALSHA, EVAL, SCRIPT LOAD and PING, and TIME, GET and SET on keys lipachat:rate:*" in message
    )
    assert "sender-pass-31" not in message


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        (redis.exceptions.AuthenticationError("invalid username-password pair"), True),
        (redis.exceptions.ResponseError("NOAUTH Authentication required."), True),
        (redis.exceptions.ResponseError("WRONGPASS invalid username-password pair or user is disabled."), True),
        (redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."), False),
        (redis.exceptions.TimeoutError("Timeout reading from socket"), False),
        (redis.exceptions.ResponseError("ERR unknown command"), False),
    ],
)
def test_only_a_refused_password_or_user_counts_as_refused_credentials(error: Exception, refused: bool) -> None:
    assert is_credentials_refusal(error) is refused
