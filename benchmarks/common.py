"""Helpers shared by the benchmarks: an emulator in its own process, connections, tables."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from airflow_provider_lipachat.emulator import busiest_window

API_KEY = "bench-key"
SENDER = "254110090747"


@contextmanager
def emulator_process(latency: float = 0.0, throughput: float | None = None) -> Iterator[str]:
    """The emulator in a separate process (so it does not share the client's GIL); yields its base URL.

    ``throughput``: the emulator refuses sends above that many per second per sender with 130429.
    """
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_lipachat.emulator",
            "--port",
            "0",
            "--api-key",
            API_KEY,
            "--latency",
            str(latency),
            *([] if throughput is None else ["--throughput", str(throughput)]),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        found = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
        assert found, "the emulator did not start"
        yield found.group()
    finally:
        process.terminate()
        process.wait(timeout=10)


def control(base_url: str, path: str, method: str = "GET") -> Any:
    request = urllib.request.Request(base_url + path, method=method)
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


def use_lipachat_connection(base_url: str, **extra: Any) -> None:
    os.environ["AIRFLOW_CONN_LIPACHAT_DEFAULT"] = json.dumps(
        {"conn_type": "lipachat", "host": base_url, "password": API_KEY, "extra": {"from_number": SENDER, **extra}}
    )


def recipients(count: int, prefix: str = "2547") -> list[str]:
    return [f"{prefix}{n:08d}" for n in range(count)]


def arrival(request: dict[str, Any]) -> float:
    """When the emulator received a request, in epoch seconds."""
    return datetime.fromisoformat(request["received_at"][:26]).timestamp()


def max_requests_in_any_second(base_url: str) -> int:
    """The most gateway requests the emulator received within any one-second window."""
    return busiest_window([arrival(r) for r in control(base_url, "/_emulator/requests")])


def median(values: list[float]) -> float:
    return statistics.median(values)


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in rows]
    return "\n".join([f"\n{title}\n", line, rule, *body])
