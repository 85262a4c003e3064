"""What a DAG file pays to import each module it may import, once ``airflow.sdk`` is loaded.

Median of fresh interpreters, run interleaved so machine noise falls on every module alike; the
HTTP provider's operator is the baseline. Bytecode is cached first, as a pip-installed package has it
(a first import that compiles source measures the compiler). Also says whether the import loaded
``requests`` or ``phonenumbers`` (the numbering plan, loaded when a task runs).
Usage: python benchmarks/import_cost.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from common import median, table

DAG_FACING = [
    "airflow_provider_lipachat.operators.lipachat",
    "airflow_provider_lipachat.sensors.lipachat",
    "airflow_provider_lipachat.notifications.lipachat",
    "airflow_provider_lipachat.triggers.inbound",
]
BASELINE = "airflow.providers.http.operators.http"
PROBE = (
    "import sys, time, airflow.sdk; had = 'requests' in sys.modules; t = time.perf_counter(); import {}; "
    "print(time.perf_counter() - t, not had and 'requests' in sys.modules, 'phonenumbers' in sys.modules)"
)


#: Bytecode written and read, whatever the calling shell says.
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def measure(module: str) -> tuple[float, bool, bool]:
    """Seconds to import ``module`` in a fresh interpreter after airflow.sdk; whether requests, phonenumbers loaded."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(module)], capture_output=True, text=True, check=True, timeout=120, env=ENV
    )
    seconds, loaded, plan = done.stdout.split()
    return float(seconds), loaded == "True", plan == "True"


def import_cost(runs: int) -> str:
    modules = [*DAG_FACING, BASELINE]
    samples: dict[str, list[float]] = {module: [] for module in modules}
    requests_loaded: dict[str, bool] = {}
    plan_loaded: dict[str, bool] = {}
    for module in modules:  # writes the bytecode caches
        measure(module)
    for _ in range(runs):
        for module in modules:
            seconds, requests_loaded[module], plan_loaded[module] = measure(module)
            samples[module].append(seconds)
    baseline = median(samples[BASELINE])
    rows = [
        [
            module,
            f"{median(samples[module]) * 1000:.1f}",
            f"{median(samples[module]) / baseline:.2f}",
            "yes" if requests_loaded[module] else "no",
            "yes" if plan_loaded[module] else "no",
        ]
        for module in modules
    ]
    return table(
        f"Import cost after airflow.sdk, median of {runs} fresh processes (ratio: to the HTTP provider's operator)",
        ["module", "ms", "ratio", "loads requests", "loads phonenumbers"],
        rows,
    )


def main(quick: bool = False, runs: int | None = None) -> str:
    """Print the table, and return it for ``make bench`` to write into docs/benchmarks.md."""
    printed = import_cost(runs or (3 if quick else 15))
    print(printed)
    return printed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    main(runs=parser.parse_args().runs)
