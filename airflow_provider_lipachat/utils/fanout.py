"""Sending one message to many recipients: bounded concurrency, every recipient attempted, progress.

No Airflow here: the operator supplies ``send_one``, a logger and a progress callback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Generic, Protocol, TypeVar

from airflow_provider_lipachat.exceptions import LipaChatError, LipaChatValidationError
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


def send_to_all(
    recipients: Iterable[str],
    total: int,
    send_one: Callable[[str], T],
    *,
    max_concurrency: int = 8,
    log: Log | logging.Logger | None = None,
    on_progress: Callable[[dict[str, T]], str | None] | None = None,
    progress_interval: float = PROGRESS_INTERVAL,
) -> FanOutResult[T]:
    """Call ``send_one(recipient)`` for every recipient with at most ``max_concurrency`` in flight.

    Only a window of futures is held, so memory grows with the result mapping, not the input.
    At least every ``progress_interval`` seconds, ``on_progress`` is called with what was
    delivered since its previous call (the operator checkpoints it; what it returns is added to
    the progress line), and above ``PROGRESS_THRESHOLD`` recipients a progress line is logged,
    and once more at the end. The caller saves the last increment itself, from the result.
    After an error that every other send would meet too (the gateway refused the API key, the
    shared rate limit's store did not answer), the rest are not attempted; each fails with that error.
    """
    result: FanOutResult[T] = FanOutResult()
    fresh: dict[str, T] = {}
    progress = Progress(total=total)
    report = total > PROGRESS_THRESHOLD and log is not None
    last_report = time.monotonic()
    stopped_by: LipaChatError | None = None
    pending: dict[Future[T], str] = {}
    queue: Iterator[str] = iter(recipients)

    with ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="lipachat-send") as pool:

        def refill() -> None:
            if stopped_by is not None:
                for recipient in queue:
                    result.failed[recipient] = not_attempted(stopped_by)
                    progress.failed += 1
                return
            for recipient in islice(queue, 2 * max_concurrency - len(pending)):
                pending[pool.submit(send_one, recipient)] = recipient

        refill()
        while pending:
            finished, _ = wait(pending, timeout=progress_interval, return_when=FIRST_COMPLETED)
            for future in finished:
                recipient = pending.pop(future)
                try:
                    result.delivered[recipient] = fresh[recipient] = future.result()
                    progress.sent += 1
                except Exception as err:  # every recipient's outcome is kept, whatever went wrong
                    result.failed[recipient] = err
                    progress.failed += 1
                    if isinstance(err, LipaChatError) and err.stops_fan_out and stopped_by is None:
                        stopped_by = err
            refill()
            if time.monotonic() - last_report >= progress_interval:
                last_report = time.monotonic()
                saved = on_progress(fresh) if on_progress is not None and fresh else None
                fresh = {}
                if report:
                    assert log is not None
                    log.info("%s%s", progress.line(), f"; {saved}" if saved else "")
    if report:
        assert log is not None
        log.info("%s", progress.line())
    return result


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
