"""Pacing an asyncio fan-out: each send starts in a slot of its number's budget, in order, never in a burst.

Slots are ``SLOT_MARGIN / N`` seconds apart for a limit of N per second. A send that wakes more than
``LATE_TOLERANCE`` after its slot (the event loop was busy) gives the slot up and takes the next one, so
a busy moment never releases a burst: the starts falling in any one second come from slots within
``1 + LATE_TOLERANCE`` seconds, which hold ``(1 + LATE_TOLERANCE) / SLOT_MARGIN * N`` of them, leaving
``SLOT_MARGIN - 1 - LATE_TOLERANCE`` of a second for a request's way from its start to the gateway's
count. A number shared through a store (``SharedRateLimit``) is reserved a batch of slots per round trip.
WhatsApp's throughput refusal (130429) widens the spacing; each calm second narrows it back.

How many sends are in flight follows from Little's law: the rate times the latency the fan-out observes,
with headroom (``in_flight``). No Airflow, no HTTP library.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

#: Slots are 5 % wider than 1/N: 95.2 % of the limit, with 40 ms of each second for the way to the gateway.
SLOT_MARGIN = 1.05
#: A send waking this long after its slot takes a new one instead: a busy event loop never bunches starts.
LATE_TOLERANCE = 0.010
#: Slots reserved from a shared store per round trip: this many seconds of the limit (at 1,000/s, 50 per trip).
BATCH_SECONDS = 0.05
#: A slot is taken (a batch reserved from a shared store) only once the slots already held end within this many
#: seconds: sends never hold slots they would sleep long for, so once the store goes away the sends it granted end
#: within about this long, and a send that woke too late for its slot finds the next one near, not a window away.
RESERVE_AHEAD = 0.1
#: After a 130429 the spacing widens by this factor (at most once a second, up to ``MAX_SLOWDOWN``) ...
SLOWDOWN = 1.25
MAX_SLOWDOWN = 8.0
#: ... and each second without one narrows it by this factor, back to the limit.
RECOVERY = 1.02
#: In flight: the rate times the observed latency, times this, plus ``SPARE_IN_FLIGHT``: room for the sends
#: waiting for their slot and for answers slower than the average.
HEADROOM = 2.0
SPARE_IN_FLIGHT = 16
#: What a fan-out assumes of the latency before its first answer: the window starts wide, then fits.
FIRST_LATENCY = 1.0
#: Weight of each new answer in the latency's moving average.
LATENCY_WEIGHT = 0.05


class SlotStore(Protocol):
    """A budget shared by several processes (``SharedRateLimit``): reserves slots in one round trip."""

    per_second: float

    def reserve(self, sender: str, count: int, interval: float) -> float: ...


def in_flight(rate: float | None, latency: float, cap: int) -> int:
    """Sends to keep in flight to start ``rate`` a second when each takes ``latency`` (Little's law), at most ``cap``.

    Without a rate the pacer does not hold sends back, so the cap is the bound.
    """
    if rate is None:
        return cap
    return max(1, min(cap, math.ceil(rate * latency * HEADROOM) + SPARE_IN_FLIGHT))


@dataclass
class Latency:
    """The moving average of how long the gateway takes to answer a send, as the fan-out observes it."""

    seconds: float = FIRST_LATENCY
    answers: int = 0

    def observe(self, seconds: float) -> None:
        weight = 1.0 if self.answers == 0 else LATENCY_WEIGHT
        self.seconds += weight * (seconds - self.seconds)
        self.answers += 1


@dataclass
class Spacing:
    """The gap between one budget's slots: ``SLOT_MARGIN / per_second``, wider for a while after a 130429."""

    per_second: float
    factor: float = 1.0
    changed_at: float = -math.inf

    def interval(self, now: float) -> float:
        if self.factor > 1.0 and now - self.changed_at >= 1.0:
            calm = math.floor(now - self.changed_at)
            self.factor = max(1.0, self.factor / RECOVERY**calm)
            self.changed_at += calm
        return self.factor * SLOT_MARGIN / self.per_second

    def refused(self, now: float) -> None:
        if now - self.changed_at >= 1.0 or self.factor == 1.0:
            self.factor = min(MAX_SLOWDOWN, self.factor * SLOWDOWN)
            self.changed_at = now


@dataclass
class _SharedBudget:
    """This process's slots from one number's shared budget, reserved a batch at a time."""

    spacing: Spacing
    #: Each reserved slot: the earliest it can be (local clock), and how much later it may be.
    slots: deque[tuple[float, float]] = field(default_factory=deque)
    #: The earliest the last reserved slot can be.
    reserved_until: float = -math.inf
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Why the store could not reserve: the sends after it would meet the same, so they fail with it at once.
    failure: Exception | None = None


class AsyncPacer:
    """``await acquire(sender)`` returns when a send from ``sender`` may start; one pacer per fan-out.

    :param per_second: this task's own limit (the task's ``rate_limit``, or the connection's when it is not
        shared), or None.
    :param shared: the number's budget shared with every process, or None.
    :param clock: monotonic seconds (tests pass a fake).
    :param sleep: how to wait (tests pass a fake).
    """

    def __init__(
        self,
        per_second: float | None,
        shared: SlotStore | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._local = None if per_second is None else Spacing(per_second)
        self._next_local = -math.inf
        self._local_lock = asyncio.Lock()
        self._last_start = -math.inf
        self._shared = shared
        self._budgets: dict[str, _SharedBudget] = {}
        self._clock = clock
        self._sleep = sleep
        #: Slots given up because their send woke too late for them.
        self.skipped = 0

    @property
    def rate(self) -> float | None:
        """The most sends a second this pacer lets start, or None when it does not limit."""
        limits = [s.per_second for s in (self._local, self._shared) if s is not None]
        return min(limits, default=None)

    def __repr__(self) -> str:
        return f"AsyncPacer(rate={self.rate!r}, shared={self._shared!r})"

    async def acquire(self, sender: str) -> None:
        """Wait for this task's next slot, then for the number's shared one; raises if the store cannot answer."""
        while True:
            if self._local is not None:
                await self._local_slot(self._local)
            if self._shared is None:
                return
            await self._shared_slot(sender, self._shared)
            if self._local is None or self._apart_from_the_last_start(self._local):
                return
            self.skipped += 1  # the wait for the shared slot bunched this start with the task's previous one

    def _apart_from_the_last_start(self, spacing: Spacing) -> bool:
        """With both limits, a send starts at its shared slot, which may come long after its own: keep the task's
        starts at least 1/N apart, which holds N in any one second."""
        now = self._clock()
        if now - self._last_start < 1.0 / spacing.per_second:
            return False
        self._last_start = now
        return True

    def refused(self, sender: str) -> None:
        """The gateway refused a send from ``sender`` over the number's throughput (130429): slow down for a while."""
        now = self._clock()
        if self._local is not None:
            self._local.refused(now)
        if self._shared is not None:
            self._budget(sender, self._shared).spacing.refused(now)

    async def _local_slot(self, spacing: Spacing) -> None:
        while True:
            async with self._local_lock:  # first come, first served; a slot is taken only when it is near
                ahead = self._next_local - self._clock() - RESERVE_AHEAD
                if ahead > 0:
                    await self._sleep(ahead)
                now = self._clock()
                slot = max(now, self._next_local)
                self._next_local = slot + spacing.interval(now)
            if await self._on_time(slot):
                return

    async def _shared_slot(self, sender: str, store: SlotStore) -> None:
        budget = self._budget(sender, store)
        while True:
            if not budget.slots:
                async with budget.lock:
                    if budget.failure is not None:  # every send waiting behind a failed reservation fails with it
                        raise budget.failure
                    if not budget.slots:
                        ahead = budget.reserved_until - self._clock() - RESERVE_AHEAD
                        if ahead > 0:
                            await self._sleep(ahead)
                        try:
                            await self._reserve(sender, store, budget)
                        except Exception as err:
                            budget.failure = err
                            raise
            earliest, uncertain = budget.slots.popleft()
            if await self._on_time(earliest + uncertain):
                return

    async def _reserve(self, sender: str, store: SlotStore, budget: _SharedBudget) -> None:
        """Reserve a batch of slots (one at a time under a lower limit of the task's own, whose pace would let a
        batch's later slots pass unused). Redis read its clock somewhere within the round trip, timed in the
        thread that makes it: each slot is kept as the earliest it can be and the round trip's length, and a send
        starts at the latest, never in another process's slot; a store 20 ms away delays starts by up to 20 ms."""
        local = self._local.per_second if self._local is not None else math.inf
        count = 1 if local < store.per_second else max(1, math.ceil(store.per_second * BATCH_SECONDS))
        interval = budget.spacing.interval(self._clock())

        def round_trip() -> tuple[float, float, float]:
            called = self._clock()
            wait = store.reserve(sender, count, interval)
            return called, wait, self._clock()

        called, wait, answered = await asyncio.to_thread(round_trip)
        uncertain = answered - called
        budget.slots.extend((called + wait + n * interval, uncertain) for n in range(count))
        budget.reserved_until = called + wait + (count - 1) * interval

    async def _on_time(self, slot: float) -> bool:
        """Sleep until ``slot``; False (the slot given up) if the wake came more than ``LATE_TOLERANCE`` after it."""
        wait = slot - self._clock()
        if wait > 0:
            await self._sleep(wait)
        if self._clock() - slot > LATE_TOLERANCE:
            self.skipped += 1
            return False
        return True

    def _budget(self, sender: str, store: SlotStore) -> _SharedBudget:
        if sender not in self._budgets:
            self._budgets[sender] = _SharedBudget(Spacing(store.per_second))
        return self._budgets[sender]
