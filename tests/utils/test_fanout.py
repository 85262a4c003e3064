"""send_to_all: every recipient attempted, a bounded window in flight, progress, early stop on a shared failure.

The sends here are coroutines standing in for the gateway (no HTTP): what is specified is the fan-out's
own bookkeeping. The operator's fan-out over HTTP is specified in tests/operators.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from airflow_provider_lipachat.exceptions import (
    LipaChatAuthError,
    LipaChatStoppedError,
    LipaChatTransientError,
    LipaChatUnresponsiveError,
)
from airflow_provider_lipachat.utils.fanout import FanOutResult, StopRequest, send_to_all

log = logging.getLogger("tests.fanout")


class Gateway:
    """A send coroutine that records how many are in flight and fails the recipients it is told to."""

    def __init__(self, failures: dict[str, Exception] | None = None, delay: float = 0.0) -> None:
        self.failures = failures or {}
        self.delay = delay
        self.in_flight = 0
        self.most_in_flight = 0
        self.calls: list[str] = []
        self.cancelled: list[str] = []

    async def __call__(self, recipient: str) -> str:
        self.calls.append(recipient)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if recipient in self.failures:
                raise self.failures[recipient]
            return f"wamid.{recipient}"
        except asyncio.CancelledError:
            self.cancelled.append(recipient)
            raise
        finally:
            self.in_flight -= 1


def numbers(count: int) -> list[str]:
    return [f"2547{n:08d}" for n in range(count)]


def fixed(window: int):  # type: ignore[no-untyped-def]
    return lambda: window


def test_every_recipient_is_attempted_and_failures_are_kept_with_their_reasons() -> None:
    failures = {"254700000003": LipaChatTransientError("HTTP 503"), "254700000007": ValueError("a bug")}
    gateway = Gateway(failures)
    result = asyncio.run(send_to_all(numbers(10), 10, gateway, in_flight=fixed(4)))
    assert sorted(gateway.calls) == numbers(10)
    assert result.delivered == {n: f"wamid.{n}" for n in numbers(10) if n not in failures}
    assert result.failed == failures


def test_no_more_sends_are_in_flight_than_the_window_allows() -> None:
    gateway = Gateway(delay=0.02)
    asyncio.run(send_to_all(numbers(60), 60, gateway, in_flight=fixed(5)))
    assert gateway.most_in_flight == 5


def test_the_window_is_read_again_as_sends_finish_so_it_can_follow_the_latency() -> None:
    gateway = Gateway(delay=0.01)
    windows = iter([2] * 20 + [9] * 10_000)
    asyncio.run(send_to_all(numbers(100), 100, gateway, in_flight=lambda: next(windows)))
    assert gateway.most_in_flight == 9


def test_a_refused_key_stops_the_fan_out_and_marks_the_rest_not_attempted() -> None:
    refused = LipaChatAuthError("gateway refused the API key")
    gateway = Gateway({n: refused for n in numbers(200)})
    result = asyncio.run(send_to_all(numbers(200), 200, gateway, in_flight=fixed(2)))
    assert len(gateway.calls) <= 4  # the first refusals, then nothing more is sent
    assert set(result.failed) == set(numbers(200))
    assert sum("not attempted" in str(err) for err in result.failed.values()) >= 196
    assert all(isinstance(err, LipaChatAuthError) for err in result.failed.values())


def test_a_silent_gateway_stops_the_fan_out_once_the_sends_in_flight_have_met_it() -> None:
    silent = LipaChatUnresponsiveError("the gateway answered nothing for 30 s")
    gateway = Gateway({n: silent for n in numbers(10)}, delay=0.05)

    result = asyncio.run(asyncio.wait_for(send_to_all(numbers(5000), 5000, gateway, in_flight=fixed(10)), timeout=5))
    assert sorted(gateway.calls) == numbers(10)  # the ten in flight, nothing after
    assert all("not attempted" in str(result.failed[n]) for n in numbers(5000)[10:])
    assert all(isinstance(err, LipaChatUnresponsiveError) and err.retryable for err in result.failed.values())


def test_a_fan_out_that_is_cancelled_leaves_no_send_running() -> None:
    gateway = Gateway(delay=5.0)

    async def cancelled_after_a_moment() -> None:
        fan_out = asyncio.ensure_future(send_to_all(numbers(50), 50, gateway, in_flight=fixed(10)))
        await asyncio.sleep(0.1)
        fan_out.cancel()
        with pytest.raises(asyncio.CancelledError):
            await fan_out

    asyncio.run(asyncio.wait_for(cancelled_after_a_moment(), timeout=2))
    assert sorted(gateway.cancelled) == numbers(10) and gateway.in_flight == 0


def test_a_stop_asked_for_by_a_sigterm_handler_ends_the_fan_out_at_once_keeping_what_was_delivered() -> None:
    """As Airflow 3 does: its SIGTERM handler calls the task's on_kill on the loop's own thread, then returns."""
    gateway = Gateway(delay=0.05)  # 4,000 recipients, 10 at a time: 20 s unstopped
    stop = StopRequest()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.request("the task was killed"))
    try:

        async def killed_after_a_while() -> FanOutResult[str]:
            asyncio.get_running_loop().call_later(0.3, os.kill, os.getpid(), signal.SIGTERM)
            return await send_to_all(numbers(4000), 4000, gateway, in_flight=fixed(10), progress_interval=60, stop=stop)

        started = time.monotonic()
        result = asyncio.run(asyncio.wait_for(killed_after_a_while(), timeout=30))
        took = time.monotonic() - started
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert took < 10  # a fraction of the 20 s the rest would take, even on a loaded machine
    assert result.delivered and gateway.in_flight == 0
    assert len(gateway.calls) == len(result.delivered) + len(gateway.cancelled)  # nothing started after the stop
    assert set(result.delivered) | set(result.failed) == set(numbers(4000))
    failed = result.failed
    assert all(isinstance(err, LipaChatStoppedError) and err.retryable for err in failed.values())
    assert {str(failed[n]) for n in gateway.cancelled} == {"cancelled in flight: the task was killed"}
    not_attempted = [n for n, err in failed.items() if str(err) == "not attempted: the task was killed"]
    assert len(not_attempted) == 4000 - len(gateway.calls)


def test_a_stop_from_another_thread_wakes_a_fan_out_waiting_on_slow_sends() -> None:
    gateway = Gateway(delay=30.0)
    stop = StopRequest()
    threading.Timer(0.2, stop.request, args=("worker shutting down",)).start()
    started = time.monotonic()
    result = asyncio.run(send_to_all(numbers(20), 20, gateway, in_flight=fixed(5), progress_interval=60, stop=stop))
    assert time.monotonic() - started < 15  # woken, not waiting out the 30 s sends
    assert result.delivered == {} and sorted(gateway.cancelled) == numbers(5) and gateway.in_flight == 0
    assert set(result.failed) == set(numbers(20))


def test_large_fan_outs_report_progress_periodically_and_at_the_end(caplog: pytest.LogCaptureFixture) -> None:
    increments: list[dict[str, str]] = []

    def checkpoint(fresh: dict[str, str]) -> str:
        increments.append(dict(fresh))
        return f"saved {len(fresh)}"

    with caplog.at_level(logging.INFO, logger="tests.fanout"):
        result = asyncio.run(
            send_to_all(
                numbers(150),
                150,
                Gateway(delay=0.01),
                in_flight=fixed(2),
                log=log,
                on_progress=checkpoint,
                progress_interval=0.1,
                describe=lambda: "2 in flight",
            )
        )
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) >= 4  # at ~200 msg/s, 0.75 s of sending crosses several 0.1 s intervals
    assert all("; 2 in flight; saved " in line for line in lines[:-1])
    assert lines[-1].startswith("LipaChat fan-out: 150/150 done (150 sent, 0 failed), ")
    assert "msg/s, about 0 s left" in lines[-1]
    # Each call gets only what is new since the one before: disjoint pieces of the result.
    assert len(increments) >= 3 and all(increments)
    seen = [number for piece in increments for number in piece]
    assert len(seen) == len(set(seen))
    assert all(result.delivered[n] == wa_id for piece in increments for n, wa_id in piece.items())


def test_small_fan_outs_log_no_progress(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tests.fanout"):
        asyncio.run(send_to_all(numbers(100), 100, Gateway(), in_flight=fixed(4), log=log, progress_interval=0.0))
    assert caplog.records == []


def test_recipients_are_read_lazily_a_window_at_a_time() -> None:
    pulled: list[int] = []

    def lazy_numbers() -> Iterator[str]:
        for n, number in enumerate(numbers(1000)):
            pulled.append(n)
            yield number

    gateway = Gateway(delay=0.001)
    first_calls: list[int] = []

    async def observing(recipient: str) -> str:
        if not first_calls:
            first_calls.append(len(pulled))
        return await gateway(recipient)

    asyncio.run(send_to_all(lazy_numbers(), 1000, observing, in_flight=fixed(4)))
    assert first_calls[0] <= 4  # only the window was taken before the first send began
    assert len(pulled) == 1000


def test_a_checkpoint_being_saved_does_not_hold_the_sends_up_and_saves_never_overlap() -> None:
    gateway = Gateway(delay=0.01)
    saves: list[tuple[int, int]] = []  # sends made when each save began and when it ended
    running = threading.Lock()

    def slow_checkpoint(fresh: dict[str, str]) -> str:
        assert running.acquire(blocking=False), "two saves at once"
        try:
            began = len(gateway.calls)
            time.sleep(0.3)  # a store far away: blocking, as Airflow's task state store is
            saves.append((began, len(gateway.calls)))
            return f"saved {len(fresh)}"
        finally:
            running.release()

    async def fan_out() -> tuple[FanOutResult[str], bool]:
        result = await send_to_all(
            numbers(150), 150, gateway, in_flight=fixed(2), on_progress=slow_checkpoint, progress_interval=0.1
        )
        return result, running.locked()  # asked before asyncio.run's shutdown waits for every thread

    result, still_saving = asyncio.run(fan_out())

    assert len(result.delivered) == 150
    assert len(saves) >= 2 and all(ended - began >= 10 for began, ended in saves[:-1])  # sends went on meanwhile
    assert not still_saving  # none still running once the caller may save the rest


def test_a_checkpoint_that_cannot_be_saved_ends_the_fan_out_with_its_error() -> None:
    gateway = Gateway(delay=0.01)

    def broken_store(fresh: dict[str, str]) -> str:
        raise RuntimeError("the task state store refused the write")

    with pytest.raises(RuntimeError, match="refused the write"):
        asyncio.run(
            send_to_all(numbers(300), 300, gateway, in_flight=fixed(2), on_progress=broken_store, progress_interval=0.1)
        )
    assert len(gateway.calls) < 300 and gateway.in_flight == 0
