"""What checking recipients against the numbering plan costs, next to reading them without it and to sending them.

Reads one list of distinct numbers (text, as an upstream task hands them over) four ways: without the plan
(the characters only, as when a DAG is parsed), through ``phonenumbers`` with the check off, with the check on
(each number checked once: a cold cache), and with the check on again (the cache per distinct number warm, as
on a retry or for numbers a list repeats). Loading the plan is timed in fresh processes. No network.
Usage: python benchmarks/numbering_plan.py [--count N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable

from common import median, recipients, table

from airflow_provider_lipachat.gateway import recipients as plan_module
from airflow_provider_lipachat.gateway.recipients import NumberingPlan, international_digits

#: Messages per second the comparison sends at: the rate ``make bench``'s fan-out uses.
SEND_RATE = 80.0
LOAD_PROBE = (
    "import time; t = time.perf_counter(); "
    "from airflow_provider_lipachat.gateway.recipients import normalize_phone; "
    "normalize_phone('254711000921', 'to'); print(time.perf_counter() - t)"
)


def seconds(read: Callable[[], object]) -> float:
    started = time.perf_counter()
    read()
    return time.perf_counter() - started


def first_check_ms(runs: int) -> float:
    """Median milliseconds a fresh process takes for its first checked number: importing and loading the plan."""
    done = [
        float(subprocess.run([sys.executable, "-c", LOAD_PROBE], capture_output=True, text=True, check=True).stdout)
        for _ in range(runs)
    ]
    return median(done) * 1000


def numbering_plan(count: int) -> str:
    numbers = [f"+{n[:3]} {n[3:6]} {n[6:]}" for n in recipients(count)]  # "+254 700 000001", as people write them
    plan, unchecked = NumberingPlan(), NumberingPlan(check=False)
    plan.normalise(numbers[0], "to")  # the plan loaded: its one-off cost is the row below the table
    ways: list[tuple[str, Callable[[], object]]] = [
        ("characters only, no plan (as at DAG parse)", lambda: plan_module._read(numbers, "to", international_digits)),
        ("phonenumbers, check_numbering_plan=False", lambda: plan_module.read_recipients(numbers, plan=unchecked)),
        ("plan checked, each number new (cold cache)", lambda: plan_module.read_recipients(numbers, plan=plan)),
        ("plan checked again (cache per distinct number)", lambda: plan_module.read_recipients(numbers, plan=plan)),
    ]
    plan_module._plan_verdict.cache_clear()
    sending = count / SEND_RATE
    rows = []
    for label, read in ways:
        took = seconds(read)
        rows.append([label, f"{took:.2f}", f"{took / count * 1e6:.1f}", f"{took / sending * 100:.2f}%"])
    found = plan_module.read_recipients(numbers, plan=plan)
    assert len(found.valid) == count and not found.refused, "every benchmark number is valid"
    return table(
        f"Reading {count:,} distinct recipients (first check in a fresh process, phonenumbers loaded: "
        f"{first_check_ms(5):.0f} ms; sending them at {SEND_RATE:.0f}/s takes {sending:,.0f} s)",
        ["how", "s", "µs per recipient", "of the send's time"],
        rows,
    )


def main(quick: bool = False, count: int | None = None) -> str:
    """Print the table, and return it for ``make bench`` to write into docs/benchmarks.md."""
    printed = numbering_plan(count or (10_000 if quick else 100_000))
    print(printed)
    return printed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    main(count=parser.parse_args().count)
