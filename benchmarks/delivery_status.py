"""Delivery-status benchmarks: one poll for 10,000 awaited ids, and the triggerer's CPU per 100 waiting sensors.

The emulator runs in its own process on loopback. Usage: python benchmarks/delivery_status.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="lipachat-bench-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from common import (
    API_KEY,
    SENDER,
    control,
    emulator_process,
    recipients,
    send_each,
    table,
    use_lipachat_connection,
)

from airflow_provider_lipachat.gateway.client import LipaChatClient
from airflow_provider_lipachat.gateway.messages import TextMessage


def script_status(base_url: str, **spec: object) -> None:
    request = urllib.request.Request(
        base_url + "/_emulator/statuses", data=json.dumps(spec).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    urllib.request.urlopen(request, timeout=30).close()


def send_many(base_url: str, count: int) -> list[str]:
    client = LipaChatClient(base_url, API_KEY, pool_size=8)
    try:
        sent = send_each(
            recipients(count), lambda n: client.send(TextMessage(to=n, message="hi", from_number=SENDER)).wa_id
        )
    finally:
        client.close()
    return list(sent.values())


def one_poll(count: int) -> str:
    """Requests and wall time of one status lookup for ``count`` delivered messages."""
    with emulator_process() as base_url:
        script_status(base_url, lifecycle="delivered", delivered_after=0)
        wa_ids = send_many(base_url, count)
        client = LipaChatClient(base_url, API_KEY)
        before = len(control(base_url, "/_emulator/requests"))
        started = time.perf_counter()
        found = client.statuses(wa_ids, max_pages=count // 100 + 10)
        elapsed = time.perf_counter() - started
        requests = len(control(base_url, "/_emulator/requests")) - before
        client.close()
    assert len(found) == count
    return table(
        f"One status poll for {count} awaited ids (page size 100)",
        ["list requests", "seconds", "ms per page"],
        [[str(requests), f"{elapsed:.2f}", f"{elapsed / requests * 1000:.1f}"]],
    )


def triggerer_cpu(sensors: int, seconds: float, poll_interval: float) -> str:
    """Process CPU time of ``sensors`` delivery triggers waiting in one event loop for ``seconds``."""
    from airflow_provider_lipachat.triggers.lipachat import WhatsAppDeliveryTrigger

    with emulator_process() as base_url:
        use_lipachat_connection(base_url, timeout=10)
        script_status(base_url, lifecycle="never_delivered")
        wa_ids = send_many(base_url, sensors)
        triggers = [
            WhatsAppDeliveryTrigger(
                wa_ids={f"r{i}": wa_id},
                wait_for="delivered",
                deadline=time.time() + seconds,
                poll_interval=poll_interval,
            )
            for i, wa_id in enumerate(wa_ids)
        ]

        async def wait_all() -> list[str]:
            async def one(trigger: WhatsAppDeliveryTrigger) -> str:
                async for event in trigger.run():
                    return str(event.payload["status"])
                return "none"

            return await asyncio.gather(*(one(t) for t in triggers))

        before = len(control(base_url, "/_emulator/requests"))
        cpu, wall = time.process_time(), time.perf_counter()
        statuses = asyncio.run(wait_all())
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        polls = len(control(base_url, "/_emulator/requests")) - before
    assert set(statuses) == {"timeout"}, statuses
    return table(
        f"{sensors} waiting delivery triggers in one event loop, poll every {poll_interval:g} s, for {wall:.0f} s",
        ["list requests", "CPU seconds", "CPU % of one core", "CPU ms per poll"],
        [[str(polls), f"{cpu:.2f}", f"{cpu / wall * 100:.1f}", f"{cpu / polls * 1000:.2f}"]],
    )


def main(quick: bool = False) -> str:
    """Print the tables, and return them for ``make bench`` to write into docs/benchmarks.md."""
    printed = [one_poll(1000 if quick else 10_000), triggerer_cpu(100, 5 if quick else 30, 5.0)]
    for text in printed:
        print(text)
    return "\n".join(printed)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    main(parser.parse_args().quick)
