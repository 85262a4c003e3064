"""Inbound-watch benchmark: what one ``WhatsAppInboundTrigger`` costs the triggerer while messages arrive.

Each watcher runs the trigger's own ``run()`` on an event loop in a process of its own, as the triggerer
would, against an emulator of its own (each in its own process on loopback) that receives a "report"
from an allowed number every second. Side by side, over the same minutes: polling every 5 s (the floor)
and every 30 s (the default) under that traffic, and every 5 s with no message at all. CPU is the
watcher process's own (``time.process_time``), from its first poll to its last.
Usage: python benchmarks/inbound_watch.py [--quick]   (10 minutes; --quick: 1 minute)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack, suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="lipachat-bench-"))

from common import control, emulator_process, table, use_lipachat_connection

ASKER = "254711000001"
#: (label, poll interval in seconds, a message a second or none)
WATCHERS = [("every 5 s, a message a second", 5.0, True), ("every 30 s, a message a second", 30.0, True)]
WATCHERS.append(("every 5 s, no messages", 5.0, False))


def schedule_traffic(base_url: str, seconds: int) -> None:
    """One "report" from the asker every second, from one second after now, as the emulator's inbound messages."""
    for second in range(1, seconds + 1):
        spec = {"from": ASKER, "text": "report", "after": second}
        request = urllib.request.Request(
            base_url + "/_emulator/inbound",
            data=json.dumps(spec).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=30).close()


def watch(base_url: str, poll_interval: float, seconds: float) -> None:
    """The child: run the trigger for ``seconds``, then print its CPU seconds and the events it fired."""
    from airflow_provider_lipachat.triggers.inbound import WhatsAppInboundTrigger

    use_lipachat_connection(base_url)
    trigger = WhatsAppInboundTrigger(senders=[ASKER], keyword="report", poll_interval=poll_interval)
    events = 0

    async def run() -> None:
        nonlocal events
        async for _ in trigger.run():
            events += 1

    async def bounded() -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(run(), timeout=seconds)

    started = time.process_time()
    asyncio.run(bounded())
    print(json.dumps({"cpu": time.process_time() - started, "events": events}))


def main(quick: bool = False) -> str:
    seconds = 60 if quick else 600
    with ExitStack() as stack:
        urls = [stack.enter_context(emulator_process()) for _ in WATCHERS]
        children = []
        for (_, poll, traffic), url in zip(WATCHERS, urls, strict=True):
            if traffic:
                schedule_traffic(url, seconds)
            children.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--child", url, str(poll), str(seconds)],
                    stdout=subprocess.PIPE,
                    text=True,
                    env=os.environ,
                )
            )
        rows = []
        first_cpu = 0.0
        for (label, _, traffic), url, child in zip(WATCHERS, urls, children, strict=True):
            out, _ = child.communicate(timeout=seconds + 120)
            result = json.loads(out.strip().splitlines()[-1])
            reads = sum(1 for r in control(url, "/_emulator/requests") if r["path"].startswith("/api/v1/whatsapp"))
            cpu = float(result["cpu"])
            rows.append(
                [
                    label,
                    f"{seconds // 60}",
                    f"{seconds if traffic else 0}",
                    str(result["events"]),
                    str(reads),
                    f"{cpu:.2f}",
                    f"{cpu / first_cpu:.2f}" if (first_cpu := first_cpu or cpu) else "-",
                    f"{100 * cpu / seconds:.2f}",
                    f"{1000 * cpu / max(reads, 1):.1f}",
                ]
            )
    text = table(
        f"One inbound watcher in the triggerer, {seconds // 60} min of messages from an allowed number "
        "(CPU of the watcher's process; python benchmarks/inbound_watch.py)",
        [
            "polling",
            "minutes",
            "messages",
            "events fired",
            "list reads",
            "CPU s",
            "ratio",
            "% of a core",
            "ms per read",
        ],
        rows,
    )
    print(text)
    return text


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        watch(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
    else:
        parser = argparse.ArgumentParser(description=__doc__)
        parser.add_argument("--quick", action="store_true", help="one minute instead of ten")
        main(parser.parse_args().quick)
