"""``make bench``: the provider's speed and memory next to what users would otherwise write.

Everything runs against the emulator on loopback, in a separate process. Prints Markdown tables, and writes
them into docs/benchmarks.md between its two marker comments (``docs_page``).
Usage: python benchmarks/run.py [--quick]   (--quick: smaller counts, for a smoke run; the page is left as it is)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="lipachat-bench-"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", os.path.join(os.environ["AIRFLOW_HOME"], "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import async_clients
import delivery_status
import docs_page
import emulator_ceiling
import import_cost
import inbound_watch
import latency
import many_tasks
import numbering_plan
import preflight
import reply_scan
from common import (
    API_KEY,
    arrival,
    control,
    emulator_process,
    hook_and_raw_seconds,
    max_requests_in_any_second,
    media_payload,
    recipients,
    table,
    use_lipachat_connection,
)

from airflow_provider_lipachat.hooks.lipachat import LipaChatHook

MEDIA_URL = "https://reports.example.com/weekly/summary.pdf"
PROBE = Path(__file__).with_name("dag_probe.py")
RATE_LIMIT = 80.0


def payload(to: str, message_id: str) -> dict[str, str]:
    return media_payload(to, message_id, MEDIA_URL)


def per_send_overhead(sends: int) -> str:
    """LipaChatHook.send_media vs requests.Session.post of the same JSON, interleaved in blocks."""
    with emulator_process() as base_url:
        use_lipachat_connection(base_url)
        timings = hook_and_raw_seconds(base_url, recipients(sends), MEDIA_URL)
        assert len(control(base_url, "/_emulator/messages")) == 2 * sends
    hook_us, raw_us = (timings[k] / sends * 1e6 for k in ("hook", "raw"))
    rows = [
        ["requests.Session.post (raw JSON)", f"{raw_us:.0f}", "1.00"],
        ["LipaChatHook.send_media", f"{hook_us:.0f}", f"{hook_us / raw_us:.2f}"],
    ]
    return table(
        f"Per-send cost, {sends} sends each, interleaved (goal: ratio <= 1.10)",
        ["path", "µs per send", "ratio to raw"],
        rows,
    )


def operator_run(base_url: str, count: int, concurrency: int, rate_limit: float | None) -> dict[str, Any]:
    """``SendWhatsAppMediaOperator`` to ``count`` recipients in a real DAG run, in a fresh process."""
    control(base_url, "/_emulator/reset", "POST")
    limit = "none" if rate_limit is None else str(rate_limit)
    done = subprocess.run(
        [sys.executable, str(PROBE), "operator", base_url, str(count), str(concurrency), limit],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["xcom_complete"], "XCom does not hold every waId"
    # Each progress line says how many the store held after that save; the last save is at the end.
    held = [int(n) for n in re.findall(r"checkpoint saved \d+ new \(\d+ bytes; (\d+) in all\)", done.stdout)]
    checkpoints = result["checkpoints"]
    checkpoints["saves"] = len(held) + 1
    # Every chunk is written once; each save also rewrites the index, a few bytes.
    index_bytes = len(json.dumps({"chunks": checkpoints["chunks"]}))
    checkpoints["bytes"] = checkpoints["mapping"] + checkpoints["saves"] * index_bytes
    # Saving the whole mapping every time instead would write everything held so far at each save.
    checkpoints["whole_rewrites"] = checkpoints["mapping"] * (sum(held) + count) // count
    requests = control(base_url, "/_emulator/requests")
    assert len(requests) == count == len(control(base_url, "/_emulator/messages")), "not one request per recipient"
    times = sorted(arrival(r) for r in requests)
    result["send_rate"] = (count - 1) / (times[-1] - times[0])
    result["max_in_any_second"] = max_requests_in_any_second(base_url)
    return result


def kib(size: int) -> str:
    return f"{size / 1024:,.0f}"


def fan_out(count: int, sample: int, latency: float) -> str:
    """Sequential loops vs the media operator in a real DAG run, with the emulator adding ``latency`` per answer."""
    rows: list[list[str]] = []
    with emulator_process(latency=latency) as base_url:

        def loop(label: str, numbers: list[str], send: Callable[[list[str]], None]) -> float:
            control(base_url, "/_emulator/reset", "POST")
            started = time.perf_counter()
            send(numbers)
            elapsed = time.perf_counter() - started
            assert len(control(base_url, "/_emulator/messages")) == len(numbers), label
            rate = len(numbers) / elapsed
            rows.append([label, str(len(numbers)), f"{elapsed:.1f}", f"{rate:.1f}", "", "", "", ""])
            rows[-1][4] = str(max_requests_in_any_second(base_url))
            return rate

        def hook_loop(numbers: list[str]) -> None:
            hook = LipaChatHook()
            for n in numbers:
                hook.send_media(to=n, media_url=MEDIA_URL, message_id=f"seq-{n}")

        def http_hook_loop(numbers: list[str]) -> None:
            from airflow.providers.http.hooks.http import HttpHook

            hook = HttpHook(method="POST", http_conn_id="bench_http")
            for n in numbers:
                answer = hook.run("/api/v1/whatsapp/media", json=payload(n, f"http-{n}"), headers={"apiKey": API_KEY})
                answer.json()

        def operator(concurrency: int, limit: float | None) -> float:
            run = operator_run(base_url, count, concurrency, limit)
            label = f"SendWhatsAppMediaOperator, max_concurrency={concurrency}" + (
                f", rate_limit={limit:g}" if limit else ""
            )
            checkpoints = run["checkpoints"]
            rows.append(
                [
                    label,
                    str(count),
                    f"{run['seconds']:.1f}",
                    f"{run['send_rate']:.1f}",
                    str(run["max_in_any_second"]),
                    f"{run['peak_rss_mib']:.0f}",
                    f"{checkpoints['saves']} / {checkpoints['chunks']} / {kib(checkpoints['bytes'])}",
                    "",
                ]
            )
            rate: float = run["send_rate"]
            return rate

        use_lipachat_connection(base_url)
        os.environ["AIRFLOW_CONN_BENCH_HTTP"] = f"http://{base_url.removeprefix('http://')}"
        numbers = recipients(count)
        rates = [
            loop("sequential loop, LipaChatHook", numbers[:sample], hook_loop),
            loop("sequential loop, HttpHook (providers-http)", numbers[:sample], http_hook_loop),
            operator(8, None),
            operator(32, None),
            operator(32, RATE_LIMIT),
        ]
    for row, rate in zip(rows, rates, strict=True):
        row[7] = f"{rate / rates[0]:.1f}x"
    rows[4][7] += f"; {rates[4] / RATE_LIMIT:.1%} of the limit"
    return table(
        f"Fan-out with {latency * 1000:.0f} ms gateway latency: the operator in a real DAG run (dag.test(), task"
        f" state store on) vs sequential loops on the first {sample} recipients (goals: max_concurrency=32 >= 20x"
        f" sequential; rate_limit={RATE_LIMIT} >= 88% of it and never above)",
        [
            "path",
            "messages",
            "task seconds",
            "msg/s",
            "max requests in any 1 s",
            "peak RSS MiB",
            "checkpoints / chunks / KiB written",
            "vs sequential",
        ],
        rows,
    )


def peak_memory(counts: list[int]) -> str:
    """Peak RSS of the operator's DAG run at each size, against a process that only builds its inputs and results."""
    rows = []
    with emulator_process() as base_url:
        for count in counts:
            done = subprocess.run(
                [sys.executable, str(PROBE), "baseline", base_url, str(count)],
                capture_output=True,
                text=True,
                check=True,
                timeout=300,
            )
            base = json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_mib"]
            run = operator_run(base_url, count, 32, None)
            checkpoints = run["checkpoints"]
            rows.append(
                [
                    f"{count:,}",
                    f"{base:.0f}",
                    f"{run['peak_rss_mib']:.0f}",
                    f"{run['peak_rss_mib'] - base:+.0f}",
                    f"{run['seconds']:.0f}",
                    str(checkpoints["saves"]),
                    str(checkpoints["chunks"]),
                    kib(checkpoints["bytes"]),
                    kib(checkpoints["largest"]),
                    kib(checkpoints["whole_rewrites"]),
                ]
            )
    return table(
        "Peak memory and checkpoint writes: SendWhatsAppMediaOperator, max_concurrency=32, in a real DAG run"
        " (emulator answering at once; baseline: the same DAG run to 1 recipient, holding the same input list"
        " and result mappings)",
        [
            "recipients",
            "baseline RSS MiB",
            "DAG run peak RSS MiB",
            "beyond baseline MiB",
            "task seconds",
            "checkpoints",
            "chunks",
            "KiB written",
            "largest chunk KiB",
            "KiB if each rewrote all",
        ],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run; writes no docs")
    quick = parser.parse_args().quick
    printed: list[str] = []

    def show(text: str) -> None:
        print(text)
        printed.append(text)

    show(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; emulator in its own process on loopback")
    os.makedirs(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], exist_ok=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, timeout=600)
    show(per_send_overhead(200 if quick else 2000))
    show(fan_out(200 if quick else 2000, 50 if quick else 400, latency=0.05))
    printed.append(latency.main(quick))
    printed.append(async_clients.main(quick))
    printed.append(import_cost.main(quick))
    printed.append(numbering_plan.main(quick))
    show(peak_memory([1000, 5000] if quick else [10_000, 100_000]))
    printed.append(delivery_status.main(quick))
    printed.append(reply_scan.main(quick))
    printed.append(preflight.main(quick))
    printed.append(many_tasks.main(quick))
    printed.append(inbound_watch.main(quick))
    printed.append(emulator_ceiling.main(quick))
    if quick:
        print(f"--quick: {docs_page.PAGE.name} left as it was")
    else:
        docs_page.write_tables("\n".join(printed))
        print(f"the tables above are now in {docs_page.PAGE}")


if __name__ == "__main__":
    main()
