"""A rate limit shared by every thread of one client: request starts spaced evenly, N per second at most.

N is any positive number: 80 per second, or 0.5 (one start every two seconds)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

# Between its slot and its arrival at the gateway a send waits for its thread to wake, a socket and
# the network, longer on a busy worker. Slots 10 % wider than 1/N leave 100 ms for that, so no
# one-second window at the gateway holds more than N; the cost is 9 % of throughput. (Measured: a
# 2 % margin left windows of N + 1 under load, in one process at 80/s and across four workers.)
SPACING_MARGIN = 1.10


def check_per_second(per_second: float) -> float:
    """``per_second`` if a finite number above 0; anything else is a programming error (inputs are parsed earlier)."""
    if not (math.isfinite(per_second) and per_second > 0):
        raise ValueError(f"per_second={per_second!r}: expected a number of requests per second greater than 0")
    return per_second


class SenderPacer(Protocol):
    """Paces sends per sender number: the shared, cross-process limit (``SharedRateLimit``)."""

    def acquire(self, sender: str) -> None: ...


class RateLimiter:
    """``acquire()`` returns at most ``per_second`` times a second, starts spaced evenly ``1.1 / per_second`` apart.

    Even spacing rather than bursts: a gateway that throttles on a finer grain than a second
    sees a steady stream, and waiting threads sleep concurrently until their own slot.
    """

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_second = check_per_second(per_second)
        self.interval = SPACING_MARGIN / per_second
        self._next_slot = float("-inf")
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self.interval
        if slot > now:
            self._sleep(slot - now)
