"""The package's layers, checked: imports go downward only, and what DAG files import stays light.

Read from the source (every import statement, lazy ones inside functions included) and from
what a fresh interpreter actually loads.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import AIRFLOW_V3

PACKAGE = Path(__file__).resolve().parent.parent / "airflow_provider_lipachat"
NAME = "airflow_provider_lipachat"
#: Lower numbers sit lower; a module may import its own layer or lower ones, never higher.
LAYERS = {
    "exceptions": 0,
    "limits": 0,
    "version": 0,
    "gateway": 1,
    "compat": 2,
    "media": 3,
    "utils": 3,
    "hooks": 4,
    "get_provider_info": 4,
    "triggers": 5,
    "operators": 6,
    "sensors": 6,
    "notifications": 6,
    "emulator": 7,
}
#: What DAG files import: operators, sensors, notifications, the inbound trigger an asset watches (and the
#: provider info Airflow reads).
DAG_FACING = [
    f"{NAME}.operators.lipachat",
    f"{NAME}.sensors.lipachat",
    f"{NAME}.notifications.lipachat",
    f"{NAME}.triggers.inbound",
    f"{NAME}.get_provider_info",
]
#: Loaded only when a task runs: the hook, the HTTP clients, the libraries behind them, and the numbering plan.
HEAVY = {
    "requests",
    "httpx",
    "aiohttp",
    "phonenumbers",
    f"{NAME}.hooks.lipachat",
    f"{NAME}.gateway.client",
    f"{NAME}.gateway.async_reader",
    f"{NAME}.gateway.async_sender",
}


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found.append((".".join((NAME, *parts)).removesuffix(".__init__"), path))
    return found


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at module level or inside a function (TYPE_CHECKING blocks left out)."""
    tree = ast.parse(path.read_text())
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def layer_of(module: str) -> tuple[str, int]:
    top = module.removeprefix(f"{NAME}.").split(".")[0]
    return top, LAYERS[top]


def module_ids(found: list[tuple[str, Path]]) -> list[str]:
    """Test ids by module name only: an id must not hold the checkout's path (the sdist's tests are compared)."""
    return [module for module, _ in found]


BELOW_TOP = [m for m in modules() if m[0] != NAME]
GATEWAY = [m for m in modules() if m[0].startswith(f"{NAME}.gateway")]


@pytest.mark.parametrize(("module", "path"), BELOW_TOP, ids=module_ids(BELOW_TOP))
def test_a_module_imports_only_its_own_layer_or_lower_ones(module: str, path: Path) -> None:
    top, level = layer_of(module)
    upward = []
    for imported in imports_of(path):
        if not imported.startswith(f"{NAME}.") or imported.removeprefix(f"{NAME}.").split(".")[0] not in LAYERS:
            continue
        other, other_level = layer_of(imported)
        if other_level > level or (other_level == level and other != top and level == LAYERS["operators"]):
            upward.append(imported)
    assert not upward, f"{module} ({top}) imports upward or a sibling: {sorted(upward)}"


@pytest.mark.parametrize(("module", "path"), GATEWAY, ids=module_ids(GATEWAY))
def test_the_gateway_package_never_imports_airflow(module: str, path: Path) -> None:
    airflow = sorted(i for i in imports_of(path) if i == "airflow" or i.startswith("airflow."))
    assert not airflow, f"{module} imports {airflow}"


@functools.cache
def loaded_by(statement: str) -> frozenset[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True, timeout=120, check=True
    )
    return frozenset(
        line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")
    )


def test_importing_the_whole_gateway_package_loads_no_airflow() -> None:
    gateway = [m for m, _ in modules() if m.startswith(f"{NAME}.gateway")]
    loaded = loaded_by("import " + ", ".join(gateway))
    assert set(gateway) <= loaded  # the listing is real
    assert not {m for m in loaded if m == "airflow" or m.startswith("airflow.")}


AIRFLOW_BASE = "airflow.sdk" if AIRFLOW_V3 else "airflow.models.baseoperator, airflow.notifications.basenotifier"


@pytest.mark.parametrize("module", DAG_FACING)
def test_a_module_dag_files_import_loads_nothing_heavy(module: str) -> None:
    loaded = loaded_by(f"import {module}")
    assert module in loaded  # the listing is real
    added = loaded - loaded_by(f"import {AIRFLOW_BASE}")
    assert not added & HEAVY, sorted(added & HEAVY)
    assert f"{NAME}.triggers.lipachat" not in added  # the sensor defers through it only when it runs


@pytest.mark.skipif(not AIRFLOW_V3, reason="Airflow 2.11's own BaseOperator imports requests")
@pytest.mark.parametrize("module", DAG_FACING)
def test_on_airflow_3_a_module_dag_files_import_loads_no_requests_at_all(module: str) -> None:
    assert "requests" not in loaded_by(f"import {module}")
