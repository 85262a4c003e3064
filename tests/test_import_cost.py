"""DAG files import the operator module; that must not pull in requests or the hook."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("requests", "airflow_provider_lipachat.hooks.lipachat", "airflow_provider_lipachat.client")


@pytest.mark.parametrize(
    "module",
    [
        "airflow_provider_lipachat.operators.lipachat",
        "airflow_provider_lipachat.notifications.lipachat",
        "airflow_provider_lipachat.get_provider_info",
    ],
)
def test_importing_leaves_heavy_modules_unloaded(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert module in imported  # the listing is real
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))
