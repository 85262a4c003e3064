"""Which async HTTP client the send engine is built on: aiohttp against httpx, hundreds of sends in flight.

Each client sends the same small JSON text messages from one session (one pool) to the emulator in its own
process, answering 300 ms after each arrives, with 50 and 400 sends in flight, unpaced; interleaved in one
run on one machine. Reported: sends a second and the client's CPU seconds per 1,000 sends.
Usage: python benchmarks/async_clients.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import API_KEY, SENDER, emulator_process, table

LATENCY = 0.3
IN_FLIGHT = (50, 400)


def body(n: int, client: str) -> dict[str, str]:
    return {"messageId": f"{client}-{n}", "message": "Partition ready", "from": SENDER, "to": f"2547{n:08d}"}


async def with_aiohttp(url: str, count: int, in_flight: int) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector, headers={"apiKey": API_KEY}) as session:

        async def send(n: int) -> None:
            async with session.post(url, json=body(n, "aiohttp")) as answer:
                await answer.read()

        await windowed(send, count, in_flight)


async def with_httpx(url: str, count: int, in_flight: int) -> None:
    import httpx

    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(limits=limits, headers={"apiKey": API_KEY}, timeout=60) as client:

        async def send(n: int) -> None:
            (await client.post(url, json=body(n, "httpx"))).read()

        await windowed(send, count, in_flight)


async def windowed(send: Callable[[int], Awaitable[None]], count: int, in_flight: int) -> None:
    """``send(n)`` for n below ``count``, ``in_flight`` at a time."""
    numbers = iter(range(count))

    async def worker() -> None:
        for n in numbers:
            await send(n)

    await asyncio.gather(*(worker() for _ in range(in_flight)))


def measure(run: Callable[[str, int, int], Awaitable[None]], url: str, count: int, in_flight: int) -> list[str]:
    cpu, wall = time.process_time(), time.monotonic()
    asyncio.run(asyncio.wait_for(run(url, count, in_flight), timeout=300))
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    return [f"{count / wall:.0f}", f"{cpu / count * 1000:.2f}"]


def main(quick: bool = False) -> str:
    count = 1000 if quick else 4000
    rows = []
    with emulator_process(latency=LATENCY) as base_url:
        url = base_url + "/api/v1/whatsapp/message/text"
        for in_flight in IN_FLIGHT:
            for name, run in (("aiohttp", with_aiohttp), ("httpx", with_httpx)):
                rows.append([name, str(in_flight), str(count), *measure(run, url, count, in_flight)])
    text = table(
        f"Async HTTP clients, {count} sends each from one session to the emulator {LATENCY * 1000:.0f} ms away "
        f"(its own process), unpaced, in one run (the ceiling at N in flight is N / {LATENCY:g} s)",
        ["client", "in flight", "sends", "sends/s", "client CPU s per 1,000"],
        rows,
    )
    print(text)
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer sends, for a smoke run")
    main(parser.parse_args().quick)
