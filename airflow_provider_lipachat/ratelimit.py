"""A rate limit shared by every thread of one client: request starts spaced evenly, N per second at most."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Starts are spaced 2 % wider than 1/N, so even with up to 20 ms of jitter between the client and
# the gateway, no one-second window holds more than N arrivals; the cost is 2 % of throughput.
SPACING_MARGIN = 1.02


class RateLimiter:
    """``acquire()`` returns at most ``per_second`` times in any one-second window, evenly spaced.

    Even spacing rather than bursts: a gateway that throttles on a finer grain than a second
    sees a steady stream, and waiting threads sleep concurrently until their own slot.
    """

    def __init__(
        self,
        per_second: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second < 1:
            raise ValueError(f"per_second={per_second!r}: expected a whole number of requests, at least 1")
        self.per_second = per_second
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
