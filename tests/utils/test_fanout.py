"""send_to_all: every recipient attempted, bounded in-flight work, progress, early stop on a refused key."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from airflow_provider_lipachat.exceptions import LipaChatAuthError, LipaChatTransientError
from airflow_provider_lipachat.utils.fanout import send_to_all

log = logging.getLogger("tests.fanout")


class Gateway:
    """A send function that records concurrency and fails the recipients it is told to."""

    def __init__(self, failures: dict[str, Exception] | None = None, delay: float = 0.0) -> None:
        self.failures = failures or {}
        self.delay = delay
        self.in_flight = 0
        self.most_in_flight = 0
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, recipient: str) -> str:
        with self.lock:
            self.calls.append(recipient)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            if recipient in self.failures:
                raise self.failures[recipient]
            return f"wamid.{recipient}"
        finally:
            with self.lock:
                self.in_flight -= 1


def numbers(count: int) -> list[str]:
    return [f"2547{n:08d}" for n in range(count)]


def test_every_recipient_is_attempted_and_failures_are_kept_with_their_reasons() -> None:
    failures = {"254700000003": LipaChatTransientError("HTTP 503"), "254700000007": ValueError("a bug")}
    gateway = Gateway(failures)
    result = send_to_all(numbers(10), 10, gateway, max_concurrency=4)
    assert sorted(gateway.calls) == numbers(10)
    assert result.delivered == {n: f"wamid.{n}" for n in numbers(10) if n not in failures}
    assert result.failed == failures


def test_no_more_than_max_concurrency_sends_are_in_flight() -> None:
    gateway = Gateway(delay=0.02)
    send_to_all(numbers(60), 60, gateway, max_concurrency=5)
    assert gateway.most_in_flight == 5


def test_a_refused_key_stops_the_fan_out_and_marks_the_rest_not_attempted() -> None:
    refused = LipaChatAuthError("gateway refused the API key")
    gateway = Gateway({n: refused for n in numbers(200)})
    result = send_to_all(numbers(200), 200, gateway, max_concurrency=2)
    assert len(gateway.calls) <= 4  # the first refusals, then nothing more is sent
    assert set(result.failed) == set(numbers(200))
    assert sum("not attempted" in str(err) for err in result.failed.values()) >= 196


def test_large_fan_outs_report_progress_periodically_and_at_the_end(caplog: pytest.LogCaptureFixture) -> None:
    increments: list[dict[str, str]] = []

    def checkpoint(fresh: dict[str, str]) -> str:
        increments.append(dict(fresh))
        return f"saved {len(fresh)}"

    with caplog.at_level(logging.INFO, logger="tests.fanout"):
        result = send_to_all(
            numbers(150),
            150,
            Gateway(delay=0.01),
            max_concurrency=2,
            log=log,
            on_progress=checkpoint,
            progress_interval=0.1,
        )
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) >= 4  # at ~200 msg/s, 0.75 s of sending crosses several 0.1 s intervals
    assert all("; saved " in line for line in lines[:-1])
    assert lines[-1].startswith("LipaChat fan-out: 150/150 done (150 sent, 0 failed), ")
    assert "msg/s, about 0 s left" in lines[-1]
    # Each call gets only what is new since the one before: disjoint pieces of the result.
    assert len(increments) >= 3 and all(increments)
    seen = [number for piece in increments for number in piece]
    assert len(seen) == len(set(seen))
    assert all(result.delivered[n] == wa_id for piece in increments for n, wa_id in piece.items())


def test_small_fan_outs_log_no_progress(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tests.fanout"):
        send_to_all(numbers(100), 100, Gateway(), max_concurrency=4, log=log, progress_interval=0.0)
    assert caplog.records == []


def test_recipients_are_read_lazily_a_window_at_a_time() -> None:
    pulled: list[int] = []

    def lazy_numbers():
        for n, number in enumerate(numbers(1000)):
            pulled.append(n)
            yield number

    gateway = Gateway(delay=0.005)
    first_calls: list[int] = []

    def observing(recipient: str) -> str:
        if not first_calls:
            first_calls.append(len(pulled))
        return gateway(recipient)

    send_to_all(lazy_numbers(), 1000, observing, max_concurrency=4)
    assert first_calls[0] <= 8  # only 2 x max_concurrency were taken before the first send
    assert len(pulled) == 1000
