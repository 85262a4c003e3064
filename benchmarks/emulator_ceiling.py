"""Emulator ceiling: how many sends a second the emulator itself serves, at a real gateway's latency.

The emulator runs in a process of its own (``python -m airflow_provider_lipachat.emulator``) with a
throughput limit of 1,000 sends a second per sender; this process drives it with a bare aiohttp
client (one ``ClientSession``, ``TCPConnector(limit=400)``) sending text messages from one sender,
400 in flight, unpaced and paced at 1,000 a second, at each latency (set through ``POST
/_emulator/latency``, the emulator reset between rows), and a last row with 600 in flight. Loopback
only; every row is bounded in sends and in time. Figures: the rate the emulator received sends at
(its own arrival times), the answer times the client saw, refusals (130429) and failures, the CPU of
each side per 1,000 sends (the emulator's read from /proc), and the busiest one-second windows of
the sends as they left the client, as the emulator received them, and of those it accepted.
Usage: python benchmarks/emulator_ceiling.py [--quick] [--sends N]   (--quick: 1,000 sends a row)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import API_KEY, SENDER, control, emulator_process, table

from airflow_provider_lipachat.emulator import busiest_window

THROUGHPUT = 1000.0
IN_FLIGHT = 400
#: (label, what ``POST /_emulator/latency`` takes, sends started a second or None for as fast as the slots
#: allow, sends in flight at most). At 0.2-0.6 s (0.4 s on average) 400 in flight allow 1,000 a second at
#: best, whatever the server (Little's law), so a last row shows what the emulator does with more.
ROWS: list[tuple[str, float | list[float], float | None, int]] = [
    ("0", 0.0, None, IN_FLIGHT),
    ("0", 0.0, THROUGHPUT, IN_FLIGHT),
    ("0.3", 0.3, None, IN_FLIGHT),
    ("0.3", 0.3, THROUGHPUT, IN_FLIGHT),
    ("0.2-0.6", [0.2, 0.6], None, IN_FLIGHT),
    ("0.2-0.6", [0.2, 0.6], THROUGHPUT, IN_FLIGHT),
    ("0.2-0.6", [0.2, 0.6], None, 600),
]
THROTTLED = 130429
#: The outcomes that are the gateway's answer to a send; any other is a failure.
ANSWERED = ("accepted", "throttled")
#: No row may take longer than this, whatever the emulator does.
ROW_SECONDS = 60.0


@dataclass
class Drive:
    """What the client saw of one row."""

    cpu: float = 0.0
    #: ``time.monotonic()`` as each send left: on Linux the emulator's arrival times are on the same clock.
    started: list[float] = field(default_factory=list)
    answer_times: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    def failures(self) -> str:
        """Sends without the gateway's answer (resets, closed connections, timeouts, any other status), by kind."""
        kinds = {outcome: n for outcome, n in self.outcomes.items() if outcome not in ANSWERED}
        return f"{sum(kinds.values())}" + (f" ({', '.join(f'{n} {k}' for k, n in kinds.items())})" if kinds else "")


def message(n: int) -> dict[str, str]:
    return {"messageId": f"ceiling-{n}", "from": SENDER, "to": f"2547{n % 10**8:08d}", "message": "Report ready"}


async def drive(base_url: str, sends: int, pace: float | None, in_flight: int) -> Drive:
    """Send ``sends`` texts, ``in_flight`` at most at once, started ``pace`` a second (None: as slots free up).

    Paced, send n starts no sooner than n / ``pace`` s after the first; one that is late (no slot free,
    the loop busy) does not push the ones after it back, so they leave together.
    """
    seen = Drive()
    slots = asyncio.Semaphore(in_flight)
    url = base_url + "/api/v1/whatsapp/message/text"
    connector = aiohttp.TCPConnector(limit=in_flight)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers={"apiKey": API_KEY}) as session:

        async def send(n: int) -> None:
            seen.started.append(time.monotonic())
            started = time.perf_counter()
            try:
                async with session.post(url, json=message(n)) as answer:
                    document = await answer.json()
                if answer.status == 200 and document.get("data"):
                    seen.outcomes["accepted"] += 1
                elif (document.get("errors") or [{}])[0].get("code") == THROTTLED:
                    seen.outcomes["throttled"] += 1
                else:
                    seen.outcomes[f"HTTP {answer.status}"] += 1
                seen.answer_times.append(time.perf_counter() - started)
            except (aiohttp.ClientError, TimeoutError, ValueError) as err:
                seen.outcomes[type(err).__name__] += 1
            finally:
                slots.release()

        cpu, began = time.process_time(), time.perf_counter()
        tasks = []
        for n in range(sends):
            if pace is not None:
                await asyncio.sleep(max(0.0, began + n / pace - time.perf_counter()))
            await slots.acquire()
            tasks.append(asyncio.create_task(send(n)))
        await asyncio.gather(*tasks)
        seen.cpu = time.process_time() - cpu
    return seen


def child_cpu_seconds(marker: bytes) -> float:
    """User and system CPU seconds of this process's child whose command line holds ``marker``, from /proc."""
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            if marker in Path(f"/proc/{pid}/cmdline").read_bytes():
                stat = Path(f"/proc/{pid}/stat").read_text()
                utime, stime = stat[stat.rindex(")") + 2 :].split()[11:13]
                return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")
    raise RuntimeError(f"no child process runs {marker.decode()}")


def row(
    base_url: str, label: str, latency: float | list[float], pace: float | None, in_flight: int, sends: int
) -> list[str]:
    control(base_url, "/_emulator/reset", "POST")
    set_latency(base_url, latency)
    emulator_cpu = child_cpu_seconds(b"airflow_provider_lipachat.emulator")
    seen = asyncio.run(asyncio.wait_for(drive(base_url, sends, pace, in_flight), timeout=ROW_SECONDS))
    emulator_cpu = child_cpu_seconds(b"airflow_provider_lipachat.emulator") - emulator_cpu
    arrivals = control(base_url, f"/_emulator/arrivals?sender={SENDER}")
    report = control(base_url, "/_emulator/throughput")["senders"].get(SENDER, {})
    moments = [a["monotonic"] for a in arrivals]
    received_rate = (len(moments) - 1) / (moments[-1] - moments[0]) if len(moments) > 1 else 0.0
    assert report.get("busiest_window", 0) <= THROUGHPUT, "the emulator accepted more than its limit in a second"
    times = sorted(seen.answer_times) or [0.0]
    return [
        label,
        "unpaced" if pace is None else f"{pace:,.0f}/s",
        str(in_flight),
        f"{sends:,}",
        f"{received_rate:,.0f}",
        f"{statistics.median(times) * 1000:.0f} / {times[int(0.99 * (len(times) - 1))] * 1000:.0f}",
        f"{seen.outcomes['throttled']:,}",
        seen.failures(),
        f"{seen.cpu / sends * 1000:.2f}",
        f"{emulator_cpu / sends * 1000:.2f}",
        f"{busiest_window(seen.started)} / {busiest_window(moments)} / {report.get('busiest_window', 0)}",
    ]


def set_latency(base_url: str, latency: float | list[float]) -> None:
    request = urllib.request.Request(
        base_url + "/_emulator/latency", data=json.dumps({"seconds": latency}).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()


def main(quick: bool = False, sends: int | None = None) -> str:
    sends = sends or (1000 if quick else 5000)
    load = os.getloadavg()[0]
    rows = []
    with emulator_process(throughput=THROUGHPUT) as base_url:
        for label, latency, pace, in_flight in ROWS:
            rows.append(row(base_url, label, latency, pace, in_flight, sends))
    printed = table(
        f"Emulator ceiling: one sender, limit {THROUGHPUT:,.0f}/s, a bare aiohttp client in another process"
        f" (python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, {os.cpu_count()} cores, load average"
        f" {load:.1f} at the start; python benchmarks/emulator_ceiling.py)",
        [
            "latency s",
            "pacing",
            "in flight",
            "sends",
            "sent/s (emulator's arrivals)",
            "answer ms p50 / p99",
            "throttled (130429)",
            "errors / resets",
            "client CPU s per 1,000",
            "emulator CPU s per 1,000",
            "busiest 1 s: sent / arrived / accepted",
        ],
        rows,
    )
    print(printed)
    return printed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 sends a row instead of 5,000")
    parser.add_argument("--sends", type=int, default=None, help="sends a row")
    arguments = parser.parse_args()
    main(arguments.quick, arguments.sends)
