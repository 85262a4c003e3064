"""Sending one message to many recipients on an event loop: a window of sends in flight, every recipient
attempted, progress.

No Airflow here: the operator supplies ``send_one`` (a coroutine function), how many sends to keep in
flight (it follows the latency, ``gateway.pacing.in_flight``), a logger and a progress callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from airflow_provider_lipachat.exceptions import LipaChatError, LipaChatStoppedError, LipaChatValidationError
from airflow_provider_lipachat.gateway.redaction import mask_phone
from airflow_provider_lipachat.limits import PROGRESS_INTERVAL

PROGRESS_THRESHOLD = 100
#: A failure summary names at most this many causes, each with at most this many (masked) recipients.
CAUSES_IN_MESSAGE = 10
EXAMPLES_PER_CAUSE = 3

T = TypeVar("T")


class Log(Protocol):
    """What the fan-out needs of a logger: Python's, or the structured one Airflow's Task SDK hands operators."""

    def info(self, msg: str, /, *args: Any) -> Any: ...


@dataclass
class FanOutResult(Generic[T]):
    """What ``send_one`` returned for each recipient that was sent to, and the error of each one that was not."""

    delivered: dict[str, T] = field(default_factory=dict)
    failed: dict[str, Exception] = field(default_factory=dict)


@dataclass
class Progress:
    """Counts for one fan-out, and the 'sent, failed, rate, time left' line."""

    total: int
    started_at: float = field(default_factory=time.monotonic)
    sent: int = 0
    failed: int = 0

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started_at, 1e-9)
        done = self.sent + self.failed
        rate = done / elapsed
        left = (self.total - done) / rate if rate > 0 else float("inf")
        return (
            f"LipaChat fan-out: {done}/{self.total} done ({self.sent} sent, {self.failed} failed), "
            f"{rate:.1f} msg/s, about {left:.0f} s left"
        )


class StopRequest:
    """Asks a running fan-out to end now: no further send starts, those in flight are cancelled.

    ``request`` is safe to call from a signal handler on the event loop's own thread (Airflow calls a
    task's ``on_kill`` from its SIGTERM handler) or from another thread.
    """

    def __init__(self) -> None:
        self.reason: str | None = None
        self._wake: Callable[[], object] | None = None

    def request(self, reason: str) -> None:
        """Ask the fan-out to stop, saying why (the reason ends up in each unsent recipient's error)."""
        self.reason = reason
        if self._wake is not None:
            self._wake()

    def wake_with(self, wake: Callable[[], object]) -> None:
        """Called by the fan-out as it starts: how to wake its loop when a stop is requested."""
        self._wake = wake


async def send_to_all(
    recipients: Iterable[str],
    total: int,
    send_one: Callable[[str], Awaitable[T]],
    *,
    in_flight: Callable[[], int],
    log: Log | logging.Logger | None = None,
    on_progress: Callable[[dict[str, T]], str | None] | None = None,
    progress_interval: float = PROGRESS_INTERVAL,
    describe: Callable[[], str] | None = None,
    stop: StopRequest | None = None,
) -> FanOutResult[T]:
    """Await ``send_one(recipient)`` for every recipient, keeping ``in_flight()`` sends going at once.

    Only the sends in flight exist as tasks, and recipients are read as they are needed, so memory
    grows with the result mapping, not the input. At least every ``progress_interval`` seconds,
    ``on_progress`` is called in a thread with what was delivered since its previous call (the
    operator checkpoints it; a store's round trips would stop the sends meanwhile; what it returns is
    added to the progress line, with ``describe()``; what it raises ends the fan-out), one call at a
    time: while it runs, nothing on the event loop may use what it uses (Airflow's in-process
    supervisor under ``dag.test()`` takes no lock). Above ``PROGRESS_THRESHOLD`` recipients a
    progress line is logged, and once more at the end. The caller saves the last increment itself,
    from the result, once this has returned: no call is running then. After an error that every
    other send would meet too (the gateway refused the API key or stopped answering, the shared rate limit's store did
    not answer), the sends in flight finish (each meets the same error, or gets through) and the rest
    are not attempted; each fails with that error's type, so it is retried the same way. A ``stop``
    request cancels the sends in flight at once and leaves the rest unattempted, each failing with
    ``LipaChatStoppedError`` (a send cancelled on the wire may have reached the gateway: a retry sends
    it again under the same message id, which the gateway answers as already sent).
    """
    result: FanOutResult[T] = FanOutResult()
    fresh: dict[str, T] = {}
    progress = Progress(total=total)
    report = total > PROGRESS_THRESHOLD and log is not None
    next_report = time.monotonic() + progress_interval
    stopped_by: LipaChatError | None = None
    pending: dict[asyncio.Future[T], str] = {}
    queue: Iterator[str] = iter(recipients)
    # Each send reports its own end, so waiting costs the same however many are in flight (asyncio.wait
    # would hook every pending send on every pass).
    finished: deque[asyncio.Future[T]] = deque()
    wake = asyncio.Event()
    saving: asyncio.Future[str | None] | None = None

    def on_done(task: asyncio.Future[T]) -> None:
        finished.append(task)
        wake.set()

    def fail(recipient: str, err: Exception) -> None:
        result.failed[recipient] = err
        progress.failed += 1

    def say(saved: str | None) -> None:
        if report:
            assert log is not None
            extra = "; ".join(part for part in (describe() if describe else "", saved or "") if part)
            log.info("%s%s", progress.line(), f"; {extra}" if extra else "")

    if stop is not None:
        loop = asyncio.get_running_loop()
        stop.wake_with(lambda: loop.call_soon_threadsafe(wake.set))
    try:
        while True:
            if stop is not None and stop.reason is not None and not isinstance(stopped_by, LipaChatStoppedError):
                stopped_by = LipaChatStoppedError(stop.reason)
                for task in pending:
                    task.cancel()
            if stopped_by is None:
                while len(pending) < in_flight() and (recipient := next(queue, None)) is not None:
                    sending = asyncio.ensure_future(send_one(recipient))
                    sending.add_done_callback(on_done)
                    pending[sending] = recipient
            if not pending:
                break
            if not finished:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(next_report - time.monotonic(), 0.0)):
                        await wake.wait()
            wake.clear()
            while finished:
                task = finished.popleft()
                recipient = pending.pop(task)
                if task.cancelled():
                    assert stopped_by is not None
                    fail(recipient, LipaChatStoppedError(f"cancelled in flight: {stopped_by}"))
                    continue
                try:
                    result.delivered[recipient] = fresh[recipient] = task.result()
                    progress.sent += 1
                except Exception as err:  # every recipient's outcome is kept, whatever went wrong
                    fail(recipient, err)
                    if isinstance(err, LipaChatError) and err.stops_fan_out and stopped_by is None:
                        stopped_by = err
            if stopped_by is not None:
                for recipient in queue:
                    fail(recipient, not_attempted(stopped_by))
            if saving is not None and saving.done():
                say(saving.result())  # a save that failed raises here, as it would have on the loop
                saving = None
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + progress_interval
                if on_progress is not None and fresh and saving is None:
                    saving = asyncio.ensure_future(asyncio.to_thread(on_progress, fresh))
                    saving.add_done_callback(lambda _: wake.set())
                    fresh = {}
                else:
                    say(None)
    finally:
        await _cancel(pending)  # the task failed or was killed meanwhile: nothing keeps running behind it
        if saving is not None:
            await asyncio.wait([saving])  # the caller's last save must not run beside this one
    if saving is not None:
        say(saving.result())
    say(None)
    return result


async def _cancel(pending: dict[asyncio.Future[Any], str]) -> None:
    """Cancel the sends in flight (the task is failing or being killed) and wait until they have stopped."""
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    pending.clear()


def not_attempted(stopped_by: LipaChatError) -> LipaChatError:
    """The error of a recipient left out after ``stopped_by``: the same type, so retryable the same way."""
    return type(stopped_by)(f"not attempted: {stopped_by}")


def failures_by_cause(failed: dict[str, Exception]) -> list[tuple[str, list[str]]]:
    """Recipients grouped by what went wrong (error type and message), the most common cause first.

    A refused value is grouped by its field and problem, not by the value its message shows: two
    local numbers are one cause.
    """
    causes: dict[str, list[str]] = {}
    for recipient, err in failed.items():
        what = f"{err.field}: {err.problem}" if isinstance(err, LipaChatValidationError) else str(err)
        causes.setdefault(f"{type(err).__name__}: {what}", []).append(recipient)
    return sorted(causes.items(), key=lambda item: -len(item[1]))


def cause_lines(failed: dict[str, Exception]) -> list[str]:
    """One line per cause, most common first: "N recipient(s) (2547******01, ... and K more): cause"."""
    lines = []
    for cause, who in failures_by_cause(failed):
        examples = ", ".join(mask_phone(r) for r in who[:EXAMPLES_PER_CAUSE])
        more = f" and {len(who) - EXAMPLES_PER_CAUSE} more" if len(who) > EXAMPLES_PER_CAUSE else ""
        lines.append(f"{len(who)} recipient(s) ({examples}{more}): {cause}")
    return lines


def failure_summary(failed: dict[str, Exception], separator: str = "\n") -> str:
    """The causes of ``failed`` for an error message: at most ``CAUSES_IN_MESSAGE`` lines, then how many more."""
    lines = cause_lines(failed)
    hidden = len(lines) - CAUSES_IN_MESSAGE
    return separator.join(lines[:CAUSES_IN_MESSAGE]) + (
        f"{separator}... and {hidden} more cause(s)" if hidden > 0 else ""
    )
