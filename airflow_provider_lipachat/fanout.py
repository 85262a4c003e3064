"""Sending one message to many recipients: bounded concurrency, every recipient attempted, progress.

No Airflow here: the operator supplies ``send_one`` and a logger; benchmarks call this directly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from itertools import islice

from airflow_provider_lipachat.exceptions import LipaChatAuthError

PROGRESS_THRESHOLD = 100
PROGRESS_INTERVAL = 10.0
MAX_CONCURRENCY_LIMIT = 64


@dataclass
class FanOutResult:
    """waIds of the recipients that were sent to, and the error of each one that was not."""

    delivered: dict[str, str] = field(default_factory=dict)
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
    send_one: Callable[[str], str],
    *,
    max_concurrency: int = 8,
    log: logging.Logger | logging.LoggerAdapter | None = None,
    on_progress: Callable[[FanOutResult], None] | None = None,
    progress_interval: float = PROGRESS_INTERVAL,
) -> FanOutResult:
    """Call ``send_one(recipient) -> waId`` for every recipient with at most ``max_concurrency`` in flight.

    Only a window of futures is held, so memory grows with the result mapping, not the input.
    Above ``PROGRESS_THRESHOLD`` recipients a progress line is logged at least every
    ``progress_interval`` seconds and at the end, and ``on_progress`` is called with the results
    so far (the operator checkpoints them). Once the gateway refuses the API key, the rest are
    not attempted: each would be refused the same way.
    """
    result = FanOutResult()
    progress = Progress(total=total)
    report = total > PROGRESS_THRESHOLD and log is not None
    last_report = time.monotonic()
    refused: LipaChatAuthError | None = None
    pending: dict[Future[str], str] = {}
    queue: Iterator[str] = iter(recipients)

    with ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="lipachat-send") as pool:

        def refill() -> None:
            if refused is not None:
                for recipient in queue:
                    result.failed[recipient] = LipaChatAuthError(f"not attempted: {refused}")
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
                    result.delivered[recipient] = future.result()
                    progress.sent += 1
                except Exception as err:  # every recipient's outcome is kept, whatever went wrong
                    result.failed[recipient] = err
                    progress.failed += 1
                    if isinstance(err, LipaChatAuthError) and refused is None:
                        refused = err
            refill()
            if time.monotonic() - last_report >= progress_interval:
                last_report = time.monotonic()
                if report:
                    assert log is not None
                    log.info("%s", progress.line())
                if on_progress is not None:
                    on_progress(result)
    if report:
        assert log is not None
        log.info("%s", progress.line())
    return result
