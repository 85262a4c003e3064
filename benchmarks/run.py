"""``make bench``: the provider's speed and memory next to what users would otherwise write.

Everything runs against the emulator on loopback, in a separate process. Prints Markdown tables.
Usage: python benchmarks/run.py [--quick]   (--quick: smaller counts, for a smoke run)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="lipachat-bench-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import requests
from common import (
    API_KEY,
    SENDER,
    control,
    emulator_process,
    max_requests_in_any_second,
    median,
    recipients,
    table,
    use_lipachat_connection,
)

from airflow_provider_lipachat.fanout import send_to_all
from airflow_provider_lipachat.hooks.lipachat import LipaChatHook

MEDIA_URL = "https://reports.example.com/weekly/summary.pdf"


def payload(to: str, message_id: str) -> dict[str, str]:
    return {
        "messageId": message_id,
        "mediaType": "DOCUMENT",
        "mediaUrl": MEDIA_URL,
        "from": SENDER,
        "to": to,
        "caption": "Weekly summary",
        "filename": "summary.pdf",
    }


def per_send_overhead(sends: int) -> str:
    """LipaChatHook.send_media vs requests.Session.post of the same JSON, interleaved in blocks."""
    with emulator_process() as base_url:
        use_lipachat_connection(base_url)
        hook = LipaChatHook()
        session = requests.Session()
        session.headers.update({"apiKey": API_KEY, "Content-Type": "application/json"})
        url = base_url + "/api/v1/whatsapp/media"
        timings: dict[str, float] = {"hook": 0.0, "raw": 0.0}
        numbers = recipients(sends)
        for block in range(0, sends, 50):
            for kind in ("hook", "raw") if block % 100 == 0 else ("raw", "hook"):
                started = time.perf_counter()
                for n in numbers[block : block + 50]:
                    if kind == "hook":
                        hook.send_media(
                            to=n, media_url=MEDIA_URL, caption="Weekly summary", filename="summary.pdf",
                            message_id=f"hook-{n}",
                        )  # fmt: skip
                    else:
                        session.post(url, json=payload(n, f"raw-{n}"), timeout=30).json()
                timings[kind] += time.perf_counter() - started
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


def fan_out(count: int, sample: int, latency: float) -> str:
    """Sequential loops vs the operator's batch path, with the emulator adding ``latency`` per answer."""
    rows: list[list[str]] = []
    with emulator_process(latency=latency) as base_url:

        def measure(label: str, numbers: list[str], send: Callable[[list[str]], None]) -> float:
            control(base_url, "/_emulator/reset", "POST")
            started = time.perf_counter()
            send(numbers)
            elapsed = time.perf_counter() - started
            delivered = len(control(base_url, "/_emulator/messages"))
            assert delivered == len(numbers), (label, delivered)
            rate = len(numbers) / elapsed
            peak = max_requests_in_any_second(base_url)
            rows.append([label, str(len(numbers)), f"{elapsed:.1f}", f"{rate:.1f}", str(peak), ""])
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

        def batch(concurrency: int, limit: int | None = None) -> Callable[[list[str]], None]:
            def send(numbers: list[str]) -> None:
                hook = LipaChatHook(pool_size=concurrency, rate_limit=limit)

                def one(n: str) -> str:
                    return hook.send_media(to=n, media_url=MEDIA_URL, message_id=f"b{concurrency}-{limit}-{n}").wa_id

                result = send_to_all(numbers, len(numbers), one, max_concurrency=concurrency)
                assert not result.failed, list(result.failed.items())[:3]

            return send

        use_lipachat_connection(base_url)
        os.environ["AIRFLOW_CONN_BENCH_HTTP"] = f"http://{base_url.removeprefix('http://')}"
        numbers = recipients(count)
        sequential = measure("sequential loop, LipaChatHook", numbers[:sample], hook_loop)
        http_rate = measure("sequential loop, HttpHook (providers-http)", numbers[:sample], http_hook_loop)
        rate8 = measure("batch path, concurrency 8", numbers, batch(8))
        rate32 = measure("batch path, concurrency 32", numbers, batch(32))
        limited = measure("batch path, concurrency 32, rate_limit=80", numbers, batch(32, 80))
    for row, rate in zip(rows, [sequential, http_rate, rate8, rate32, limited], strict=True):
        row[5] = f"{rate / sequential:.1f}x"
    rows[4][5] += f"; {limited / 80:.1%} of the limit"
    return table(
        f"Fan-out with {latency * 1000:.0f} ms gateway latency (sequential loops on the first {sample} recipients;"
        " goals: concurrency 32 >= 20x sequential, rate_limit 80 >= 95% of it and never above)",
        ["path", "messages", "seconds", "msg/s", "max requests in any 1 s", "vs sequential"],
        rows,
    )


def import_cost(runs: int) -> str:
    """Median time to import each module in a fresh interpreter that has already imported airflow.sdk."""
    modules = {
        "airflow_provider_lipachat.operators.lipachat": [],
        "airflow.providers.http.operators.http": [],
    }
    code = "import time, airflow.sdk; t = time.perf_counter(); import {}; print(time.perf_counter() - t)"
    for _ in range(runs):
        for module, samples in modules.items():
            done = subprocess.run(
                [sys.executable, "-c", code.format(module)], capture_output=True, text=True, check=True, timeout=120
            )
            samples.append(float(done.stdout.strip()))
    ours, theirs = (median(samples) * 1000 for samples in modules.values())
    rows = [
        ["airflow_provider_lipachat.operators.lipachat", f"{ours:.1f}", "1.00"],
        ["airflow.providers.http.operators.http", f"{theirs:.1f}", f"{theirs / ours:.2f}"],
    ]
    return table(f"Import cost after airflow.sdk, median of {runs} fresh processes", ["module", "ms", "ratio"], rows)


def peak_memory(count: int) -> str:
    """Peak RSS of a process sending to ``count`` recipients vs one that only builds the same mapping."""
    probe = Path(__file__).with_name("memory_probe.py")
    results = {}
    with emulator_process() as base_url:
        for mode in ("baseline", "fanout"):
            control(base_url, "/_emulator/reset", "POST")
            done = subprocess.run(
                [sys.executable, str(probe), mode, base_url, str(count)],
                capture_output=True,
                text=True,
                check=True,
                timeout=1200,
            )
            results[mode] = done.stdout.split()
    base_rss, base_map = (float(x) for x in results["baseline"][:2])
    fan_rss, fan_map, seconds = (float(x) for x in results["fanout"][:3])
    rows = [
        ["imports + input list + an equal result mapping, no sends", f"{base_rss:.0f}", f"{base_map:.1f}", "", ""],
        [f"batch path, concurrency 32, {count} sends", f"{fan_rss:.0f}", f"{fan_map:.1f}", f"{seconds:.0f}",
         f"{fan_rss - base_rss:+.0f}"],
    ]  # fmt: skip
    return table(
        f"Peak memory for {count} recipients (emulator answering at once)",
        ["process", "peak RSS MiB", "result mapping MiB", "seconds", "beyond baseline MiB"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    quick = parser.parse_args().quick
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; emulator in its own process on loopback")
    print(per_send_overhead(200 if quick else 2000))
    print(fan_out(200 if quick else 2000, 50 if quick else 400, latency=0.05))
    print(import_cost(3 if quick else 15))
    print(peak_memory(2000 if quick else 100_000))


if __name__ == "__main__":
    main()
