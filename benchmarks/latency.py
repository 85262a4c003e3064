"""At a real gateway's distance: one task's fan-out against its number's limit, with the gateway 0 to 1 s away.

For each gateway latency (the emulator, in its own process, answering each send that long after it
arrives) and each limit (the connection's ``rate_limit``; the emulator refuses the excess with 130429),
two senders in the same run, against the same emulator:

- ``SendWhatsAppTextOperator`` with its defaults, as a user writes it (only the connection's
  ``rate_limit`` set), in a real DAG run (``dag.test()`` in a fresh process, ``dag_probe.py``);
- a bare aiohttp client: one session, up to 400 in flight, starts paced at exactly the limit.

Each as a fraction of the limit, measured at the gateway (accepted sends over their span), with its
busiest one-second window, its 130429 refusals, the CPU it spent per 1,000 sends (the operator's net of a
run to one recipient in the same process) and the probe's peak RSS.
Usage: python benchmarks/latency.py [--quick] [--limit N ...] [--latency SECONDS ...] [--bare-in-flight N]
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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="lipachat-bench-"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", os.path.join(os.environ["AIRFLOW_HOME"], "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from common import API_KEY, SENDER, control, emulator_process, table, use_lipachat_connection

from airflow_provider_lipachat.emulator import busiest_window

PROBE = Path(__file__).with_name("dag_probe.py")
LATENCIES = (0.0, 0.1, 0.4, 1.0)
LIMITS = (80.0, 1000.0)
#: Sends per run: a few seconds at the limit, so the ramp at either end weighs little.
SECONDS_AT_LIMIT = 5.0
BARE_IN_FLIGHT = 400
#: The operator's runs to one recipient, which tell the DAG run's fixed cost, send to numbers starting this.
ONE_PREFIX = "25479"


def at_the_gateway(base_url: str, prefix: str = "") -> dict[str, Any]:
    """What the emulator counted of the sends to numbers starting ``prefix``: accepted sends per second over their
    span, the busiest second, refusals."""
    arrivals = [a for a in control(base_url, f"/_emulator/arrivals?sender={SENDER}") if a["to"].startswith(prefix)]
    accepted = sorted(a["monotonic"] for a in arrivals if a["accepted"])
    span = accepted[-1] - accepted[0] if len(accepted) > 1 else float("inf")
    return {
        "accepted": len(accepted),
        "rate": (len(accepted) - 1) / span,
        "busiest": busiest_window(accepted),
        "refused": sum(not a["accepted"] for a in arrivals),
    }


def operator_run(base_url: str, count: int, limit: float, prefix: str) -> dict[str, Any]:
    """The operator with defaults to ``count`` recipients in a fresh process; the connection sets only the limit."""
    control(base_url, "/_emulator/reset", "POST")
    use_lipachat_connection(base_url, rate_limit=limit)
    done = subprocess.run(
        [sys.executable, str(PROBE), "text-beside-one", str(count), prefix, ONE_PREFIX],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    probe: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    gateway = at_the_gateway(base_url, prefix)
    assert gateway["accepted"] == count, f"{gateway['accepted']} accepted, expected {count}"
    cpu_per_1000 = (probe["cpu"] - probe["cpu_of_one"]) / count * 1000
    return {**gateway, "cpu_per_1000": cpu_per_1000, "rss": probe["peak_rss_mib"], "seconds": probe["seconds"]}


async def bare_client(base_url: str, count: int, limit: float, in_flight: int) -> float:
    """``count`` text sends from one aiohttp session, starts paced at exactly ``limit``, ``in_flight`` at most;
    returns the CPU seconds spent."""
    import aiohttp

    gate = asyncio.Semaphore(in_flight)
    url = base_url + "/api/v1/whatsapp/message/text"
    cpu = time.process_time()
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector, headers={"apiKey": API_KEY}) as session:
        started = time.monotonic()

        async def send(n: int) -> None:
            async with gate:
                delay = started + n / limit - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                body = {"messageId": f"bare-{n}", "message": "Partition ready", "from": SENDER, "to": f"2547{n:08d}"}
                async with session.post(url, json=body) as answer:
                    await answer.read()

        # Tasks are created a window at a time, as a careful hand-written client would.
        for first in range(0, count, in_flight * 4):
            await asyncio.gather(*(send(n) for n in range(first, min(count, first + in_flight * 4))))
    return time.process_time() - cpu


def bare_run(base_url: str, count: int, limit: float, in_flight: int) -> dict[str, Any]:
    control(base_url, "/_emulator/reset", "POST")
    cpu = asyncio.run(bare_client(base_url, count, limit, in_flight))
    return {**at_the_gateway(base_url), "cpu_per_1000": cpu / count * 1000, "rss": None, "seconds": None}


def row(label: str, limit: float, run: dict[str, Any]) -> list[str]:
    return [
        label,
        f"{run['accepted']}",
        f"{run['rate']:.1f}",
        f"{run['rate'] / limit:.3f}",
        f"{run['busiest']}",
        f"{run['refused']}",
        f"{run['cpu_per_1000']:.2f}",
        "" if run["rss"] is None else f"{run['rss']:.0f}",
    ]


def main(
    quick: bool = False,
    limits: tuple[float, ...] = LIMITS,
    latencies: tuple[float, ...] = LATENCIES,
    bare_in_flight: int = BARE_IN_FLIGHT,
) -> str:
    os.makedirs(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], exist_ok=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, timeout=600)
    rows: list[list[str]] = []
    latencies = (0.0, 0.4) if quick else latencies
    for limit in limits:
        count = int(limit * (1.0 if quick else SECONDS_AT_LIMIT))
        for latency in latencies:
            with emulator_process(latency=latency, throughput=limit) as base_url:
                where = f"{latency * 1000:.0f} ms, limit {limit:g}/s"
                bare = bare_run(base_url, count, limit, bare_in_flight)
                operator = operator_run(base_url, count, limit, "254710")
                rows.append(row(f"{where}: bare aiohttp, {bare_in_flight} in flight", limit, bare))
                rows.append(row(f"{where}: operator, defaults", limit, operator))
                rows[-1][3] += f" ({operator['rate'] / min(limit, bare['rate']):.2f} of bare)"
    text = table(
        "One task at a real gateway's distance: SendWhatsAppTextOperator with defaults (only the connection's "
        "rate_limit set) in a real DAG run beside a bare aiohttp client paced at the limit, against the emulator "
        "in its own process answering after the latency (goals: >= 0.95 of the limit at 80/s; at 1,000/s >= 0.90 "
        "of min(limit, bare); never above the limit in any second)",
        [
            "latency, limit: sender",
            "accepted",
            "msg/s at the gateway",
            "of the limit",
            "busiest 1 s",
            "130429",
            "CPU s per 1,000",
            "peak RSS MiB",
        ],
        rows,
    )
    print(text)
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer latencies and sends, for a smoke run")
    parser.add_argument("--limit", type=float, action="append", help="a limit per second to run (repeatable)")
    parser.add_argument("--latency", type=float, action="append", help="a latency in seconds to run (repeatable)")
    parser.add_argument("--bare-in-flight", type=int, default=BARE_IN_FLIGHT, help="the bare client's sends in flight")
    args = parser.parse_args()
    main(args.quick, tuple(args.limit or LIMITS), tuple(args.latency or LATENCIES), args.bare_in_flight)
