"""The rate limiter: at most N starts in any one-second window, across threads."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from airflow_provider_lipachat.emulator import busiest_window
from airflow_provider_lipachat.gateway.ratelimit import SPACING_MARGIN, RateLimiter


class FakeClock:
    """Time that moves only when the limiter sleeps, so windows are exact."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_starts_are_spaced_evenly_a_little_wider_than_one_over_n() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(9):
        limiter.acquire()
        starts.append(clock.now)
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert gaps == pytest.approx([SPACING_MARGIN / 4] * 8)
    assert busiest_window(starts) == 4


def test_an_idle_limiter_does_not_bank_a_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now += 60  # a minute without sends
    for _ in range(3):
        limiter.acquire()
    assert clock.sleeps == pytest.approx([SPACING_MARGIN / 4] * 2)


def test_threads_share_one_limit_in_real_time() -> None:
    limiter = RateLimiter(20)
    starts: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(6):
            limiter.acquire()
            with lock:
                starts.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(starts) == 48
    assert busiest_window(starts) <= 20
    assert max(starts) - min(starts) >= 47 * SPACING_MARGIN / 20 - 0.01  # evenly spaced, 48 starts


@pytest.mark.parametrize("rate", [0, -5, float("nan"), float("inf")])
def test_a_rate_that_is_not_a_positive_number_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        RateLimiter(rate)


def test_a_rate_below_one_spaces_starts_more_than_a_second_apart() -> None:
    clock = FakeClock()
    limiter = RateLimiter(0.5, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(3):
        limiter.acquire()
        starts.append(clock.now)
    assert [round(b - a, 3) for a, b in itertools.pairwise(starts)] == [2.2, 2.2]
