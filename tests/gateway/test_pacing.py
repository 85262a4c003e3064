"""The fan-out's pacer: starts in slots spaced SLOT_MARGIN / N apart, never bunched after a busy moment, slower
after a 130429, shared across processes through a real Redis a batch of slots per round trip; and how many
sends Little's law keeps in flight."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import time

import pytest
import redis

from airflow_provider_lipachat.emulator import busiest_window
from airflow_provider_lipachat.gateway.pacing import (
    BATCH_SECONDS,
    LATE_TOLERANCE,
    MAX_SLOWDOWN,
    RECOVERY,
    RESERVE_AHEAD,
    SLOT_MARGIN,
    SLOWDOWN,
    AsyncPacer,
    Latency,
    Spacing,
    in_flight,
)
from airflow_provider_lipachat.gateway.shared_ratelimit import SharedRateLimit
from tests.redis_server import RedisServer

SENDER = "254110090747"
GATEWAY = "https://gateway.lipachat.com"


async def starts(pacer: AsyncPacer, count: int, concurrent: int) -> list[float]:
    """``count`` sends through ``pacer`` from ``concurrent`` coroutines: when each was let start."""
    moments: list[float] = []
    queue = iter(range(count))

    async def sender() -> None:
        for _ in queue:
            await pacer.acquire(SENDER)
            moments.append(time.monotonic())

    await asyncio.gather(*(sender() for _ in range(concurrent)))
    return sorted(moments)


@pytest.mark.parametrize(
    ("rate", "latency", "cap", "expected"),
    [
        (80.0, 0.4, 1000, 80),  # 80 x 0.4 x 2 + 16
        (1000.0, 0.3, 1000, 616),
        (1000.0, 1.0, 1000, 1000),  # capped
        (0.5, 0.2, 1000, 17),
        (None, 0.3, 64, 64),  # no rate: the cap is the bound
    ],
)
def test_in_flight_is_the_rate_times_the_latency_with_headroom_within_the_cap(
    rate: float | None, latency: float, cap: int, expected: int
) -> None:
    assert in_flight(rate, latency, cap) == expected


def test_the_latency_starts_at_the_first_answer_and_then_moves_as_a_weighted_average() -> None:
    latency = Latency()
    latency.observe(0.4)
    assert latency.seconds == 0.4
    for _ in range(200):
        latency.observe(0.2)
    assert latency.seconds == pytest.approx(0.2, abs=0.001)


def test_starts_are_spaced_evenly_and_no_second_holds_more_than_the_limit() -> None:
    moments = asyncio.run(starts(AsyncPacer(50.0), count=100, concurrent=20))
    assert busiest_window(moments) <= 50
    gaps = [b - a for a, b in itertools.pairwise(moments)]
    assert min(gaps) >= SLOT_MARGIN / 50 - LATE_TOLERANCE
    # 99 gaps of SLOT_MARGIN / 50, and not many more: a slot given up (a busy machine) costs one gap.
    assert 99 * SLOT_MARGIN / 50 - LATE_TOLERANCE <= moments[-1] - moments[0] <= 115 * SLOT_MARGIN / 50


def test_a_busy_event_loop_does_not_release_a_burst_the_late_give_their_slots_up() -> None:
    pacer = AsyncPacer(200.0)

    async def with_a_stall() -> list[float]:
        async def stall() -> None:
            await asyncio.sleep(0.2)
            time.sleep(0.15)  # the loop blocked: 30 slots pass meanwhile

        _, moments = await asyncio.gather(stall(), starts(pacer, count=200, concurrent=60))
        return moments

    moments = asyncio.run(with_a_stall())
    # The sends holding slots when the loop stalled (those within RESERVE_AHEAD) give them up; the others take
    # slots from the stall's end on, so a stall wastes a tenth of a second's slots, not a window's.
    assert 10 <= pacer.skipped <= RESERVE_AHEAD * 200 + 10
    # However the stall fell, the starts in any 50 ms come from slots at most LATE_TOLERANCE older.
    assert busiest_window(moments, width=0.05) <= (0.05 + LATE_TOLERANCE) / (SLOT_MARGIN / 200) + 1
    assert busiest_window(moments) <= 200


def test_a_throughput_refusal_widens_the_spacing_and_calm_seconds_narrow_it_back() -> None:
    spacing = Spacing(100.0)
    base = SLOT_MARGIN / 100
    assert spacing.interval(0.0) == pytest.approx(base)
    spacing.refused(10.0)
    spacing.refused(10.5)  # a second refusal within the second counts once
    assert spacing.interval(10.5) == pytest.approx(base * SLOWDOWN)
    spacing.refused(11.2)
    assert spacing.interval(11.2) == pytest.approx(base * SLOWDOWN**2)
    assert spacing.interval(14.2) == pytest.approx(base * SLOWDOWN**2 / RECOVERY**3)
    assert spacing.interval(100.0) == pytest.approx(base)
    for second in range(30):
        spacing.refused(200.0 + second)
    assert spacing.interval(229.0) == pytest.approx(base * MAX_SLOWDOWN)


def test_the_task_s_own_lower_limit_paces_before_the_number_s() -> None:
    pacer = AsyncPacer(20.0)
    assert pacer.rate == 20.0
    moments = asyncio.run(starts(pacer, count=30, concurrent=10))
    assert busiest_window(moments) <= 20


class CountingStore(SharedRateLimit):
    """The real shared limit, counting its round trips to Redis."""

    reservations = 0

    def reserve(self, sender: str, count: int, interval: float) -> float:
        self.reservations += 1
        return super().reserve(sender, count, interval)


def shared_store(server: RedisServer, per_second: float) -> CountingStore:
    client = redis.Redis.from_url(server.url, socket_timeout=2, socket_connect_timeout=2)
    return CountingStore(client, "rate_store", GATEWAY, per_second)


def test_a_shared_budget_is_reserved_a_batch_per_round_trip(redis_server: RedisServer) -> None:
    store = shared_store(redis_server, 400.0)
    pacer = AsyncPacer(None, store)
    moments = asyncio.run(starts(pacer, count=800, concurrent=100))
    assert busiest_window(moments) <= 400
    batch = round(400 * BATCH_SECONDS)
    assert store.reservations <= 800 / batch + 2 + pacer.skipped  # 20 a trip, not one per send


def paced_process(url: str, per_second: float, count: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """One sending process with its own event loop and Redis client: the wall time of each start."""
    client = redis.Redis.from_url(url)
    pacer = AsyncPacer(None, SharedRateLimit(client, "rate_store", GATEWAY, per_second))

    async def run() -> list[float]:
        moments: list[float] = []

        async def sender() -> None:
            for _ in range(count // 50):
                await pacer.acquire(SENDER)
                moments.append(time.time())

        await asyncio.gather(*(sender() for _ in range(50)))
        return moments

    results.put(asyncio.run(run()))


def test_processes_sharing_a_number_stay_within_its_limit_together_and_near_it(redis_server: RedisServer) -> None:
    per_second, count = 500.0, 1000
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [
        context.Process(target=paced_process, args=(redis_server.url, per_second, count, results)) for _ in range(2)
    ]
    for process in processes:
        process.start()
    moments = sorted(s for _ in processes for s in results.get(timeout=60))
    for process in processes:
        process.join(timeout=10)

    assert len(moments) == 2 * count
    assert busiest_window(moments) <= per_second
    # Two processes, one budget: 2,000 starts take about 4 s at 500/s, not 2.
    assert (len(moments) - 1) / (moments[-1] - moments[0]) >= 0.9 * per_second / SLOT_MARGIN


def test_once_the_store_fails_every_send_waiting_for_a_slot_fails_with_it_at_once(redis_server: RedisServer) -> None:
    from airflow_provider_lipachat.exceptions import LipaChatRateLimitStoreError

    store = shared_store(redis_server, 40.0)
    pacer = AsyncPacer(None, store)

    async def run() -> list[BaseException | None]:
        await pacer.acquire(SENDER)
        redis_server.stop()
        started = time.monotonic()
        outcomes = await asyncio.gather(*(pacer.acquire(SENDER) for _ in range(20)), return_exceptions=True)
        assert time.monotonic() - started < 5  # one failed reservation, not twenty in a row
        return outcomes

    outcomes = asyncio.run(run())
    failures = [o for o in outcomes if isinstance(o, LipaChatRateLimitStoreError)]
    assert len(failures) >= 18  # all but the slots reserved before the store went away
    assert store.reservations <= 3


def test_slots_are_reserved_only_a_little_ahead_so_sends_stop_soon_after_the_store_goes_away(
    redis_server: RedisServer,
) -> None:
    from airflow_provider_lipachat.exceptions import LipaChatRateLimitStoreError

    per_second = 40.0
    pacer = AsyncPacer(None, shared_store(redis_server, per_second))
    granted: list[float] = []

    async def sender() -> None:
        with pytest.raises(LipaChatRateLimitStoreError):
            for _ in range(1000):
                await pacer.acquire(SENDER)
                granted.append(time.monotonic())

    async def run() -> float:
        senders = asyncio.gather(*(sender() for _ in range(100)))  # a window far wider than the rate needs
        await asyncio.sleep(0.5)
        await asyncio.to_thread(redis_server.stop)
        stopped = time.monotonic()
        await asyncio.wait_for(senders, timeout=10)
        return stopped

    stopped = asyncio.run(run())
    after = [t for t in granted if t > stopped]
    # 100 sends waiting would otherwise hold 100 slots, 2.6 s of the budget, all started without the store.
    assert len(after) <= per_second * (RESERVE_AHEAD + BATCH_SECONDS) + 2, after
    assert len(granted) >= 10


class InMemoryStore:
    """The shared budget's schedule (the Redis script's rule) in this process, each round trip ``round_trip`` long:
    a store further away than loopback. A stand-in: no Redis server adds a chosen delay to each command."""

    def __init__(self, per_second: float, round_trip: float = 0.0) -> None:
        self.per_second = per_second
        self.round_trip = round_trip
        self.next_slot = 0.0
        self.reserved = 0

    def reserve(self, sender: str, count: int, interval: float) -> float:
        time.sleep(self.round_trip / 2)
        now = time.monotonic()
        slot = max(self.next_slot, now)
        self.next_slot = slot + interval * count
        self.reserved += count
        time.sleep(self.round_trip / 2)
        return slot - now


def test_a_store_20_ms_away_still_grants_slots_within_the_limit() -> None:
    pacer = AsyncPacer(None, InMemoryStore(100.0, round_trip=0.02))
    moments = asyncio.run(asyncio.wait_for(starts(pacer, count=60, concurrent=20), timeout=10))
    assert len(moments) == 60
    assert busiest_window(moments) <= 100


def test_with_both_limits_the_task_s_own_holds_however_long_the_shared_slot_takes() -> None:
    store = InMemoryStore(1000.0)
    store.reserve(SENDER, 500, 0.001)  # another worker holds the number's next half second
    store.reserved = 0
    pacer = AsyncPacer(10.0, store)
    moments = asyncio.run(asyncio.wait_for(starts(pacer, count=15, concurrent=15), timeout=10))
    assert busiest_window(moments) <= 10
    assert min(b - a for a, b in itertools.pairwise(moments)) >= 0.1
    assert store.reserved <= 15 + pacer.skipped  # one shared slot per start under the lower own limit, not a batch
