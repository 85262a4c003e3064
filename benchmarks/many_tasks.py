"""Many tasks, one sender number: the rate at the gateway with the connection's limit shared in Redis, and without.

1, 4 and 8 send tasks run at once, each a real DAG run (``dag.test()``) of ``SendWhatsAppTextOperator`` in
a process of its own (its own copy of a migrated SQLite database, as separate workers have), all
sending from one number through a connection with ``rate_limit`` 40. The emulator (its own process)
enforces the number's throughput limit of 40/s as WhatsApp does (130429 above it) and records when
each send arrived. Also: what one reservation costs against Redis on loopback, beside a send.
Needs Debian's ``redis-server``. Usage: python benchmarks/many_tasks.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="lipachat-bench-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from common import API_KEY, SENDER, control, emulator_process, table

from airflow_provider_lipachat.emulator import busiest_window
from tests.redis_server import RedisServer

PROBE = Path(__file__).with_name("dag_probe.py")
LIMIT = 40
STORE_CONN = "lipachat_rate_store"


def worker_homes(count: int) -> list[Path]:
    """``count`` Airflow homes, each with its own copy of one migrated database (separate workers, no shared lock)."""
    root = Path(tempfile.mkdtemp(prefix="lipachat-bench-workers-"))
    template = root / "template"
    (template / "dags").mkdir(parents=True)
    env = {**os.environ, "AIRFLOW_HOME": str(template), **database_env(template)}
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    homes = []
    for number in range(count):
        home = root / f"worker{number}"
        (home / "dags").mkdir(parents=True)
        shutil.copy(template / "airflow.db", home / "airflow.db")
        homes.append(home)
    return homes


def database_env(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
    }


def run_tasks(base_url: str, homes: list[Path], per_task: int, store_url: str | None) -> dict[str, Any]:
    """``len(homes)`` send tasks at once from one number; what arrived at the gateway, and when."""
    control(base_url, "/_emulator/reset", "POST")
    extra: dict[str, Any] = {"from_number": SENDER, "rate_limit": LIMIT, "timeout": 10, "max_retries": 10}
    connection = {"conn_type": "lipachat", "host": base_url, "password": API_KEY, "extra": extra}
    env = {**os.environ}
    if store_url is not None:
        extra["rate_limit_store_conn_id"] = STORE_CONN
        env[f"AIRFLOW_CONN_{STORE_CONN.upper()}"] = store_url
    env["AIRFLOW_CONN_LIPACHAT_DEFAULT"] = json.dumps(connection)
    started = time.monotonic()
    processes = [
        subprocess.Popen(
            [sys.executable, str(PROBE), "text", str(per_task), f"2547{number:02d}"],
            env={**env, "AIRFLOW_HOME": str(home), **database_env(home)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for number, home in enumerate(homes)
    ]
    for process in processes:
        _, err = process.communicate(timeout=900)
        assert process.returncode == 0, err[-3000:]
    wall = time.monotonic() - started
    arrivals = control(base_url, f"/_emulator/arrivals?sender={SENDER}")
    accepted = sorted(a["time"] for a in arrivals if a["accepted"])
    assert len(accepted) == per_task * len(homes), f"{len(accepted)} delivered, expected {per_task * len(homes)}"
    span = accepted[-1] - accepted[0]
    return {
        "rate": (len(accepted) - 1) / span if span > 0 else float("inf"),
        "busiest": busiest_window(a["time"] for a in arrivals),
        "throttled": sum(1 for a in arrivals if not a["accepted"]),
        "wall": wall,
    }


def set_throughput(base_url: str, per_second: float | None) -> None:
    """Set (or clear, with None) the emulator's throughput limit per sender number."""
    body = json.dumps({"per_second": per_second}).encode()
    request = urllib.request.Request(
        base_url + "/_emulator/throughput", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=30).close()


def acquire_cost(store_url: str, base_url: str, samples: int) -> list[list[str]]:
    """Median microseconds of one shared reservation (never waiting) and of one send through the hook."""
    import redis

    from airflow_provider_lipachat.gateway.shared_ratelimit import SharedRateLimit
    from airflow_provider_lipachat.hooks.lipachat import LipaChatHook

    limit = SharedRateLimit(redis.Redis.from_url(store_url), STORE_CONN, base_url, 1e9)
    reservations = []
    for _ in range(samples):
        started = time.perf_counter()
        limit.acquire(SENDER)
        reservations.append(time.perf_counter() - started)
    os.environ["AIRFLOW_CONN_LIPACHAT_DEFAULT"] = json.dumps(
        {"conn_type": "lipachat", "host": base_url, "password": API_KEY, "extra": {"from_number": SENDER}}
    )
    hook = LipaChatHook()
    sends = []
    for number in range(samples):
        started = time.perf_counter()
        hook.send_text(to=f"25479{number:07d}", message="cost")
        sends.append(time.perf_counter() - started)
    reserve_us, send_us = statistics.median(reservations) * 1e6, statistics.median(sends) * 1e6
    return [
        ["one reservation in Redis (Lua, loopback)", f"{reserve_us:,.0f}", f"{reserve_us / send_us:.2f}"],
        ["one text send through the hook (emulator, loopback)", f"{send_us:,.0f}", "1.00"],
    ]


def main(quick: bool = False) -> str:
    """Print the tables, and return them for ``make bench`` to write into docs/benchmarks.md."""
    per_task = 40 if quick else 120
    counts = [1, 4] if quick else [1, 4, 8]
    homes = worker_homes(max(counts))
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        store = RedisServer(Path(workdir))
        store.start()
        try:
            with emulator_process(throughput=LIMIT) as base_url:
                for tasks in counts:
                    for shared in (True, False):
                        got = run_tasks(base_url, homes[:tasks], per_task, store.url if shared else None)
                        rows.append(
                            [
                                str(tasks),
                                "shared (Redis)" if shared else "each task alone",
                                str(per_task * tasks),
                                f"{got['rate']:.1f}",
                                f"{got['rate'] / LIMIT:.2f}",
                                str(got["busiest"]),
                                str(got["throttled"]),
                                f"{got['wall']:.1f}",
                            ]
                        )
                set_throughput(base_url, None)  # a send's own cost, never refused
                cost = acquire_cost(store.url, base_url, 200 if quick else 2000)
        finally:
            store.stop()
    printed = [
        table(
            f"Send tasks at once from one number, connection rate_limit {LIMIT}/s, {per_task} recipients each "
            "(goal with the store: busiest second <= 40, rate >= 0.85 x 40, no 130429)",
            [
                "tasks",
                "rate limit",
                "messages",
                "delivered/s",
                "x limit",
                "busiest second (sends)",
                "130429 answers",
                "wall s",
            ],
            rows,
        ),
        table("Cost of sharing: one reservation beside one send (medians)", ["what", "µs", "x send"], cost),
    ]
    for text in printed:
        print(text)
    return "\n".join(printed)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer tasks and recipients, for a smoke run")
    main(parser.parse_args().quick)
