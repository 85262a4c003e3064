"""At a real gateway's distance: one task's fan-out against its number's limit, with the gateway 0 to 1 s away.

For each gateway latency (fixed, or each send drawing its own from a range) and each limit (the
connection's ``rate_limit``; the gateway refuses the excess with 130429), two senders in the same run,
against the same gateway in its own process, counting each send on arrival and answering after the
latency: the emulator at 80/s; at 1,000/s, where sends in flight run to a thousand or more, the
emulator's answers served on one event loop (``event_loop_gateway.py``):

- ``SendWhatsAppTextOperator`` with its defaults, as a user writes it (only the connection's
  ``rate_limit`` set), in a real DAG run (``dag.test()`` in a fresh process, ``dag_probe.py``);
- a bare aiohttp client: one session, up to 1,200 in flight, starts paced at exactly the limit.

At 1,000/s the bare client also runs against the emulator itself (a thread per connection): its
ceiling, measured in the same run.

Each as a fraction of the limit, measured at the gateway (accepted sends over their span), with its
busiest one-second window, its 130429 refusals, the CPU it spent per 1,000 sends (the operator's net of a
run to one recipient in the same process) and the probe's peak RSS.
Usage: python benchmarks/latency.py [--quick] [--limit N ...] [--latency SECONDS|MIN-MAX ...] [--bare-in-flight N]
    [--seconds S]  (S seconds of sends at the limit; a run longer than the operator's checkpoint interval crosses it)
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
from airflow_provider_lipachat.emulator.latency import Latency

PROBE = Path(__file__).with_name("dag_probe.py")
#: Seconds, or a range each send draws its own latency from (a real network's jitter).
LATENCIES = ("0", "0.1", "0.4", "1.0", "0.2-0.6")
LIMITS = (80.0, 1000.0)
#: Sends per run: a few seconds at the limit, so the ramp at either end weighs little.
SECONDS_AT_LIMIT = 5.0
#: Enough for 1,000 a second a second away, with room for the jitter.
BARE_IN_FLIGHT = 1200
#: From this limit on, sends in flight run to a thousand or more: the stand-in on one event loop serves them, and the
#: emulator's own ceiling is measured beside it.
STAND_IN_FROM = 1000.0
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

    url = base_url + "/api/v1/whatsapp/message/text"
    numbers = iter(range(count))
    cpu = time.process_time()
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector, headers={"apiKey": API_KEY}) as session:
        started = time.monotonic()

        async def worker() -> None:
            """Takes the next send as soon as its last is answered: ``in_flight`` workers, one coroutine each."""
            for n in numbers:
                delay = started + n / limit - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                body = {"messageId": f"bare-{n}", "message": "Partition ready", "from": SENDER, "to": f"2547{n:08d}"}
                async with session.post(url, json=body) as answer:
                    await answer.read()

        await asyncio.gather(*(worker() for _ in range(in_flight)))
    return time.process_time() - cpu


def bare_run(base_url: str, count: int, limit: float, in_flight: int) -> dict[str, Any]:
    control(base_url, "/_emulator/reset", "POST")
    cpu = asyncio.run(bare_client(base_url, count, limit, in_flight))
    return {**at_the_gateway(base_url), "cpu_per_1000": cpu / count * 1000, "rss": None, "seconds": None}


def milliseconds(latency: str) -> str:
    """``"0.4"`` as ``400 ms``, ``"0.2-0.6"`` as ``200-600 ms``."""
    parsed = Latency.parse(latency)
    if parsed.low == parsed.high:
        return f"{parsed.low * 1000:.0f} ms"
    return f"{parsed.low * 1000:.0f}-{parsed.high * 1000:.0f} ms"


def latency_argument(text: str) -> str:
    """``--latency``'s value, refused at once when it is not a latency (rather than inside the gateway's process)."""
    try:
        Latency.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


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
    latencies: tuple[str, ...] = LATENCIES,
    bare_in_flight: int = BARE_IN_FLIGHT,
    seconds: float = SECONDS_AT_LIMIT,
) -> str:
    os.makedirs(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], exist_ok=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, timeout=600)
    rows: list[list[str]] = []
    latencies = ("0", "0.4") if quick else latencies
    for limit in limits:
        count = int(limit * (1.0 if quick else seconds))
        for latency in latencies:
            where = f"{milliseconds(latency)}, limit {limit:g}/s"
            stand_in = limit >= STAND_IN_FROM
            if stand_in:
                with emulator_process(latency=latency, throughput=limit) as base_url:
                    ceiling = bare_run(base_url, count, limit, bare_in_flight)
                rows.append(row(f"{where}: bare aiohttp, the emulator itself", limit, ceiling))
            with emulator_process(latency=latency, throughput=limit, event_loop=stand_in) as base_url:
                bare = bare_run(base_url, count, limit, bare_in_flight)
                operator = operator_run(base_url, count, limit, "254710")
            rows.append(row(f"{where}: bare aiohttp, {bare_in_flight} in flight", limit, bare))
            rows.append(row(f"{where}: operator, defaults", limit, operator))
            rows[-1][3] += f" ({operator['rate'] / min(limit, bare['rate']):.2f} of bare)"
    text = table(
        "One task at a real gateway's distance: SendWhatsAppTextOperator with defaults (only the connection's "
        "rate_limit set) in a real DAG run beside a bare aiohttp client paced at the limit, against a gateway in its "
        "own process answering after the latency (at 80/s the emulator; at 1,000/s its answers on one event loop, "
        "and the bare client against the emulator itself too) (goals: >= 0.95 of the limit at 80/s; at 1,000/s "
        ">= 0.90 of min(limit, bare); never above the limit in any second)",
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
    parser.add_argument(
        "--latency", type=latency_argument, action="append", help="a latency in seconds, or MIN-MAX (repeatable)"
    )
    parser.add_argument("--bare-in-flight", type=int, default=BARE_IN_FLIGHT, help="the bare client's sends in flight")
    parser.add_argument("--seconds", type=float, default=SECONDS_AT_LIMIT, help="seconds of sends at the limit per run")
    args = parser.parse_args()
    main(args.quick, tuple(args.limit or LIMITS), tuple(args.latency or LATENCIES), args.bare_in_flight, args.seconds)
