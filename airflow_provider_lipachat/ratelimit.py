"""A sliding-window rate limit shared by every thread of one client: at most N request starts per second."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 1.0


class RateLimiter:
    """Blocks ``acquire()`` so that no more than ``per_second`` calls return within any one-second window."""

    def __init__(
        self,
        per_second: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second < 1:
            raise ValueError(f"per_second={per_second!r}: expected a whole number of requests >= 1")
        self.per_second = per_second
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and now - self._starts[0] >= WINDOW_SECONDS:
                    self._starts.popleft()
                if len(self._starts) < self.per_second:
                    self._starts.append(now)
                    return
                wait = WINDOW_SECONDS - (now - self._starts[0])
            self._sleep(wait)
