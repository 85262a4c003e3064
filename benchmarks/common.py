"""Helpers shared by the benchmarks: an emulator in its own process, connections, tables."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow_provider_lipachat.emulator import busiest_window

API_KEY = "bench-key"
SENDER = "254110090747"
EMULATOR = "airflow_provider_lipachat.emulator"


@contextmanager
def emulator_process(
    latency: float | str = 0.0, throughput: float | None = None, *, event_loop: bool = False
) -> Iterator[str]:
    """A gateway in a separate process (so it does not share the client's GIL), the emulator unless ``event_loop``;
    yields its base URL.

    ``latency``: seconds, or a range ``"0.2-0.6"``. ``throughput``: the emulator refuses sends above that many
    per second per sender with 130429. ``event_loop``: the stand-in serving the emulator's send answers on one
    event loop (``event_loop_gateway.py``) instead of a thread per connection.
    """
    server = [str(Path(__file__).with_name("event_loop_gateway.py"))] if event_loop else ["-m", EMULATOR, "--port", "0"]
    process = subprocess.Popen(
        [
            sys.executable,
            *server,
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
        assert found, f"{' '.join(server)} did not start"
        yield found.group()
    finally:
        process.terminate()
        process.wait(timeout=10)


def send_each(numbers: list[str], send: Callable[[str], str], threads: int = 8) -> dict[str, str]:
    """``send(number)`` for each number from a few threads: a quick way to fill the emulator's message list."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return dict(zip(numbers, pool.map(send, numbers), strict=True))


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


def media_payload(to: str, message_id: str, media_url: str) -> dict[str, str]:
    """The JSON a media send carries, written by hand: what a user without the provider would post."""
    return {
        "messageId": message_id,
        "mediaType": "DOCUMENT",
        "mediaUrl": media_url,
        "from": SENDER,
        "to": to,
        "caption": "Weekly summary",
        "filename": "summary.pdf",
    }


def hook_and_raw_seconds(
    base_url: str, numbers: list[str], media_url: str, *, warm_up: bool = False
) -> dict[str, float]:
    """Seconds spent by ``LipaChatHook.send_media`` and by ``requests.Session.post`` of the same JSON, one send
    each per number, interleaved in blocks of 50 (the order alternating); ``warm_up`` sends one of each first."""
    import time

    import requests

    from airflow_provider_lipachat.hooks.lipachat import LipaChatHook

    hook = LipaChatHook()
    session = requests.Session()
    session.headers.update({"apiKey": API_KEY, "Content-Type": "application/json"})
    url = base_url + "/api/v1/whatsapp/media"
    if warm_up:  # the connection read and the first socket, once
        hook.send_media(to="254700000000", media_url=media_url, message_id="warm-up")
        session.post(url, json=media_payload("254700000000", "warm-up-raw", media_url), timeout=30)
    timings = {"hook": 0.0, "raw": 0.0}
    for block in range(0, len(numbers), 50):
        for kind in ("hook", "raw") if block % 100 == 0 else ("raw", "hook"):
            started = time.perf_counter()
            for n in numbers[block : block + 50]:
                if kind == "hook":
                    hook.send_media(
                        to=n, media_url=media_url, caption="Weekly summary", filename="summary.pdf",
                        message_id=f"hook-{n}",
                    )  # fmt: skip
                else:
                    session.post(url, json=media_payload(n, f"raw-{n}", media_url), timeout=30).json()
            timings[kind] += time.perf_counter() - started
    return timings
