"""The garbage collector during a fan-out: short passes on the loop, the heap from before left out, then as before."""

from __future__ import annotations

import asyncio
import gc
import weakref

from airflow_provider_lipachat.utils.collector import steady_collection


class Node:
    """A container that can be part of a reference cycle and be watched with a weak reference."""

    def __init__(self) -> None:
        self.other: object = None


def garbage_cycle() -> weakref.ref[Node]:
    """Two objects referring to each other and to nothing else: only a collector pass frees them."""
    first, second = Node(), Node()
    first.other, second.other = second, first
    return weakref.ref(first)


def test_during_a_fan_out_passes_come_on_the_loop_at_a_steady_pace_and_the_heap_from_before_is_left_out() -> None:
    before = Node()

    async def fan_out() -> tuple[bool, bool, bool, bool]:
        async with steady_collection(every=0.05):
            automatic = gc.isenabled()
            frozen = gc.get_freeze_count() > 0 and not any(o is before for o in gc.get_objects(generation=2))
            cycle = garbage_cycle()
            still_there = cycle() is not None  # no pass has run yet: allocations alone do not start one
            await asyncio.sleep(0.3)
            return automatic, frozen, still_there, cycle() is None

    automatic, frozen, still_there, collected = asyncio.run(fan_out())

    assert not automatic  # passes no longer start when allocations say
    assert frozen  # no pass looks at what existed before
    assert still_there and collected  # the fan-out's own garbage is collected by the steady passes
    assert gc.isenabled() and gc.get_freeze_count() == 0  # after: the collector as it was
    assert any(o is before for o in gc.get_objects(generation=2))


def test_a_heap_frozen_before_the_fan_out_stays_frozen_after_it() -> None:
    before = Node()
    gc.freeze()  # as Airflow's Celery worker does at start
    try:

        async def fan_out() -> None:
            async with steady_collection():
                pass

        asyncio.run(fan_out())
        assert gc.get_freeze_count() > 0 and gc.isenabled()
        assert not any(o is before for o in gc.get_objects(generation=2))  # still frozen out of every pass
    finally:
        gc.unfreeze()


def test_a_collector_turned_off_before_stays_off_and_makes_no_passes() -> None:
    gc.disable()
    try:

        async def fan_out() -> bool:
            async with steady_collection(every=0.05):
                cycle = garbage_cycle()
                await asyncio.sleep(0.3)
                return cycle() is not None

        assert asyncio.run(fan_out())  # nothing collected it
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()
        gc.collect()
