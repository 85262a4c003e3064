"""Preflight cost: one ranged GET per task, and the media operator's fan-out with the preflight on and off.

The emulator runs in its own process; the media is on an HTTPS host on loopback (the test suite's).
Usage: python benchmarks/preflight.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the test suite's HTTPS media host
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="lipachat-bench-"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", os.path.join(os.environ["AIRFLOW_HOME"], "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from common import control, emulator_process, table, use_lipachat_connection
from dag_probe import run_send_dag

from airflow_provider_lipachat.media.preflight import preflight_media
from tests.media_host import PDF, MediaHost, make_tls_files, serve_media

DAG_SOURCE = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    SendWhatsAppMediaOperator(task_id="send", to=[f"2548{n:08d}" for n in range(COUNT)], media_url=URL,
                              preflight=PREFLIGHT, max_concurrency=8)
"""


def task_seconds(count: int, url: str, preflight: bool) -> float:
    """The media task's duration in one ``dag.test()`` run to ``count`` recipients."""
    source = DAG_SOURCE.replace("COUNT", str(count)).replace("URL", repr(url)).replace("PREFLIGHT", str(preflight))
    return run_send_dag(f"bench_preflight_{count}_{preflight}_{time.monotonic_ns()}", source)[1]


def one_check_ms(url: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        assert preflight_media(url, "DOCUMENT", "media_url") is None
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(quick: bool = False) -> str:
    """Print the table, and return it for ``make bench`` to write into docs/benchmarks.md."""
    counts, repeats = ([50, 200], 1) if quick else ([100, 1000], 5)
    tls = make_tls_files(Path(tempfile.mkdtemp(prefix="lipachat-bench-tls-")))
    # The emulator starts before the test CA is trusted, so its own media fetches (as WhatsApp's)
    # stop at the TLS handshake instead of downloading the file once per message during the timing.
    with emulator_process() as base_url:
        os.environ["REQUESTS_CA_BUNDLE"] = str(tls.cert)
        with serve_media(tls) as host:
            use_lipachat_connection(base_url)
            url = host.put("/weekly/summary.pdf", PDF + b"\x00" * (256 * 1024), "application/pdf")
            check_ms = one_check_ms(url, 5 if quick else 30)
            task_seconds(10, url, False)  # warm-up: the first DAG run in a process pays for imports
            rows = []
            for count in counts:
                runs: dict[bool, list[float]] = {False: [], True: []}
                ranged_before = len(_ranged(host))
                for _ in range(repeats):  # off and on interleaved, so drift hits both alike
                    for preflight in (False, True):
                        control(base_url, "/_emulator/reset", "POST")
                        runs[preflight].append(task_seconds(count, url, preflight))
                asked = (len(_ranged(host)) - ranged_before) / repeats
                off = statistics.median(runs[False])
                for preflight in (False, True):
                    seconds = statistics.median(runs[preflight])
                    rows.append(
                        [f"{count:,}", "on" if preflight else "off", f"{asked if preflight else 0:g}",
                         f"{seconds:.2f}", f"{count / seconds:,.0f}", f"{seconds / off:.2f}"]
                    )  # fmt: skip
    printed = table(
        f"Preflight: one ranged GET per task (median single check {check_ms:.1f} ms, reading at most 4 KB "
        "of a 256 KB file); the media task's duration with it off and on",
        ["recipients", "preflight", "ranged GETs", "task s", "sends/s", "vs off"],
        rows,
    )
    print(printed)
    return printed


def _ranged(host: MediaHost) -> list[tuple[str, str, str | None]]:
    return [r for r in host.requests if r[2] is not None]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    os.makedirs(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], exist_ok=True)
    import subprocess

    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, timeout=600)
    main(parser.parse_args().quick)
