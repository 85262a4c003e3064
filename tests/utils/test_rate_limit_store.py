"""The store client's retries, on the path a send takes: a blip is absorbed, an outage fails within a second.

The store connection is read from Airflow (``AIRFLOW_CONN_RATE_STORE``) by the hook, as in a task. A
real Redis answers; a blip is a relay in front of it that loses one reservation in flight, which is how
a restart or a network hiccup meets a connection already open (Redis's own ``CLIENT KILL`` or ``CLIENT
PAUSE`` do not: the client's pool reconnects a killed idle connection before sending, with or without
retries, and a pause only delays the answer).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.exceptions import LipaChatRateLimitStoreError
from airflow_provider_lipachat.hooks.lipachat import LipaChatHook
from tests.redis_server import RedisServer
from tests.support import connection_json

RECIPIENT = "254711222333"
#: What a reservation looks like on the wire: the budget's Lua script, run by its SHA (or loaded and run).
RESERVATION = b"EVAL"
SOCKET_SECONDS = 10.0


class LossyRelay:
    """A TCP relay on loopback to a real Redis that loses the first ``lose`` reservations in flight: it
    closes the client's connection instead of forwarding the command, and forwards everything else.

    Only the network can lose a command mid-flight on demand; the relay is that network, with Redis behind it.
    """

    def __init__(self, redis_port: int, lose: int) -> None:
        self.redis_port = redis_port
        self.lose = lose
        self.lost = 0
        self.connections = 0
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._stopped = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(("127.0.0.1", self.redis_port), timeout=SOCKET_SECONDS)
            client.settimeout(SOCKET_SECONDS)
            self._sockets += [client, upstream]
            for source, target, inspect in ((client, upstream, True), (upstream, client, False)):
                thread = threading.Thread(target=self._pump, args=(source, target, inspect), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pump(self, source: socket.socket, target: socket.socket, inspect: bool) -> None:
        with contextlib.suppress(OSError):  # the other side closed: this direction is over too
            while chunk := source.recv(65536):
                if inspect and RESERVATION in chunk and self.lost < self.lose:
                    self.lost += 1
                    break  # lost in flight: neither forwarded nor answered
                target.sendall(chunk)
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._stopped.set()
        self._listener.close()
        for sock in self._sockets:
            sock.close()
        for thread in self._threads:
            thread.join(timeout=SOCKET_SECONDS)


@pytest.fixture
def relay(redis_server: RedisServer) -> Iterator[LossyRelay]:
    """A relay to the test's Redis that loses the first reservation in flight."""
    link = LossyRelay(redis_server.port, lose=1)
    try:
        yield link
    finally:
        link.close()


def use_store(monkeypatch: pytest.MonkeyPatch, emulator: Emulator, store_url: str) -> None:
    """``lipachat_default`` at the emulator, its 40/s shared through the Redis connection ``rate_store``."""
    monkeypatch.setenv("AIRFLOW_CONN_RATE_STORE", store_url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_LIPACHAT_DEFAULT",
        connection_json(emulator.base_url, emulator.api_key, rate_limit=40, rate_limit_store_conn_id="rate_store"),
    )


def reservations(server: RedisServer) -> int:
    """Reservations Redis ran (a first EVALSHA answered "no such script yet" is not one)."""
    stats = redis.Redis.from_url(server.url).info("commandstats")
    calls = [stats.get(name, {"calls": 0, "failed_calls": 0}) for name in ("cmdstat_eval", "cmdstat_evalsha")]
    return sum(call["calls"] - call.get("failed_calls", 0) for call in calls)


def test_a_reservation_lost_in_flight_is_retried_and_the_send_goes_through_with_one_slot(
    monkeypatch: pytest.MonkeyPatch, lipachat_emulator: Emulator, redis_server: RedisServer, relay: LossyRelay
) -> None:
    use_store(monkeypatch, lipachat_emulator, f"redis://127.0.0.1:{relay.port}/0")

    started = time.monotonic()
    LipaChatHook().send_text(to=RECIPIENT, message="hello")  # no error: the blip is absorbed
    elapsed = time.monotonic() - started

    assert [d["to"] for d in lipachat_emulator.deliveries()] == [RECIPIENT]
    assert (relay.lost, relay.connections) == (1, 2)  # the lost reservation, then the retry on a new connection
    assert reservations(redis_server) == 1  # one slot taken: the lost command never reached Redis
    assert elapsed >= 0.2  # the retry waited its first back-off


def test_a_store_that_stays_down_fails_the_send_after_the_quick_retries_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, lipachat_emulator: Emulator, redis_server: RedisServer
) -> None:
    use_store(monkeypatch, lipachat_emulator, redis_server.url)
    redis_server.stop()  # its port refuses connections now

    started = time.monotonic()
    with pytest.raises(LipaChatRateLimitStoreError) as refused:
        LipaChatHook().send_text(to=RECIPIENT, message="hello")
    elapsed = time.monotonic() - started

    assert lipachat_emulator.requests() == []
    assert "connection 'rate_store'" in str(refused.value) and refused.value.retryable
    # Two retries, 0.2 s then 0.4 s after a refused connection: over within a second, not redis-py's own
    # longer schedule; the upper bound leaves room for a loaded machine.
    assert 0.55 <= elapsed < 3.0
