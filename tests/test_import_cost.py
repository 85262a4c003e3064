"""DAG files import the operator and notifier modules; that must not pull in requests or the hook."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import AIRFLOW_V3

HEAVY = {"requests", "airflow_provider_lipachat.hooks.lipachat", "airflow_provider_lipachat.client"}
# What the Airflow base classes cost by themselves: Airflow 2.11's BaseOperator already imports requests.
AIRFLOW_BASE = "airflow.sdk" if AIRFLOW_V3 else "airflow.models.baseoperator, airflow.notifications.basenotifier"


def imported_modules(statement: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True, timeout=120, check=True
    )
    return {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize(
    "module",
    [
        "airflow_provider_lipachat.operators.lipachat",
        "airflow_provider_lipachat.notifications.lipachat",
        "airflow_provider_lipachat.get_provider_info",
    ],
)
def test_importing_adds_no_heavy_module_to_what_airflow_itself_loads(module: str) -> None:
    imported = imported_modules(f"import {module}")
    assert module in imported  # the listing is real
    added = imported - imported_modules(f"import {AIRFLOW_BASE}")
    assert added.isdisjoint(HEAVY), sorted(added & HEAVY)
    assert "airflow_provider_lipachat.hooks.lipachat" not in imported


@pytest.mark.skipif(not AIRFLOW_V3, reason="Airflow 2.11's own BaseOperator imports requests")
def test_on_airflow_3_the_operator_module_loads_no_requests_at_all() -> None:
    assert "requests" not in imported_modules("import airflow_provider_lipachat.operators.lipachat")
