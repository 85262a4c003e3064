"""The garbage collector during a fan-out: short passes at a steady pace instead of long ones when allocations say.

A fan-out at 1,000 sends a second keeps thousands of requests' objects alive for as long as the gateway takes
to answer. Python starts a pass when allocations outrun deallocations; those objects' deallocations hold that
count down while the young generation keeps growing, so passes came irregularly and long: in a 5,000-send
run at 1,000/s with the gateway 1 s away, 180 passes took 380 ms of the event loop, up to 60 ms at once (each
pass over 10 ms gives up the send slots it covers) and found almost nothing to collect. Here automatic
passes are off for the fan-out; a pass over what was allocated since the previous one runs every
``YOUNG_EVERY`` seconds (a few hundred objects), over the survivors too every ``OLDER_EVERY`` passes, and the
heap from before the fan-out (Airflow's own, about 0.6 s a full pass on the 2-core benchmark machine) is
frozen out of them. No Airflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
from collections.abc import AsyncIterator

#: Seconds between passes over the youngest objects: what the fan-out allocated since the previous pass.
YOUNG_EVERY = 0.1
#: Every this many passes, one over the objects that survived a pass too (every 10 s at ``YOUNG_EVERY``): it walks
#: what is in flight, 40-70 ms at 1,000/s with the gateway 1 s away. What became garbage only after surviving
#: that pass (measured: almost nothing) waits for the collector's usual passes after the fan-out.
OLDER_EVERY = 100


@contextlib.asynccontextmanager
async def steady_collection(every: float = YOUNG_EVERY) -> AsyncIterator[None]:
    """Collect garbage on the running event loop every ``every`` seconds until the block ends, and only then.

    A collector turned off before (``gc.disable()``) stays off; a heap frozen before (Airflow's Celery worker
    freezes its own at start) stays frozen after.

    :param every: seconds between passes over the youngest objects.
    """
    if not gc.isenabled():
        yield
        return
    froze = not gc.get_freeze_count()
    if froze:
        gc.freeze()
    gc.disable()
    stepping = asyncio.get_running_loop().create_task(_collect_every(every))
    try:
        yield
    finally:
        stepping.cancel()  # not awaited: a cancellation of the fan-out itself must not be swallowed here
        gc.enable()
        if froze:
            gc.unfreeze()


async def _collect_every(every: float) -> None:
    for step in itertools.count(1):
        await asyncio.sleep(every)
        gc.collect(1 if step % OLDER_EVERY == 0 else 0)
