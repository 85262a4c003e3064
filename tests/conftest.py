"""Shared fixtures: an isolated Airflow home, the gateway emulator, a LipaChat connection, DAG runs.

The Airflow home is set before anything imports Airflow, so every test, and every Airflow
process a test starts, uses a throwaway SQLite database and DAG folder.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.local_airflow import sqlite_url

AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="lipachat-airflow-home-"))
DAGS_FOLDER = AIRFLOW_HOME / "dags"
DAGS_FOLDER.mkdir()
os.environ.update(
    AIRFLOW_HOME=str(AIRFLOW_HOME),
    AIRFLOW__CORE__DAGS_FOLDER=str(DAGS_FOLDER),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite_url(AIRFLOW_HOME / "airflow.db"),
)

from airflow_provider_lipachat.compat import AIRFLOW_V3  # noqa: E402 - after AIRFLOW_HOME is set
from tests.support import (  # noqa: E402 - after AIRFLOW_HOME is set
    AIRFLOW2_IMPORTS,
    REPO_ROOT,
    DagRunOutcome,
    connection_json,
    ti_name,
)

pytest_plugins = [
    "airflow_provider_lipachat.emulator.pytest_plugin",
    "tests.media_host",
    "tests.s3_server",
    "tests.redis_server",
]


#: The suite's tiers, slowest last; each test gets exactly one, from where it lives and what it uses.
TIERS = {
    "unit": "no Airflow run: values, HTTP against the emulator, imports (make test-fast)",
    "dag_run": "runs a DAG (dag.test() in-process, or an Airflow CLI/subprocess) against the emulator",
    "scheduler": "end to end: real Airflow processes on loopback (scheduler, triggerer, api-server, the demo)",
    "browser": "drives headless Chromium against Airflow's api-server",
    "distributed": "CeleryExecutor on loopback: a Redis broker and two Celery workers (Airflow 3.3 only)",
}
DAG_RUN_FIXTURES = frozenset({"run_dag", "airflow_db"})
BROWSER_TESTS = "tests/e2e/test_connection_form.py"
DISTRIBUTED_TESTS = frozenset({"tests/e2e/test_many_workers.py"})
#: ``record_property(MEASURED, line)`` in a test: the line is printed in the run's summary, passed or not.
MEASURED = "measured"


def tier_of(item: pytest.Item) -> str:
    path = Path(str(item.fspath)).relative_to(REPO_ROOT).as_posix()
    if path in DISTRIBUTED_TESTS or item.get_closest_marker("distributed"):
        return "distributed"
    if path == BROWSER_TESTS:
        return "browser"
    if path.startswith("tests/e2e/") or item.get_closest_marker("scheduler"):
        return "scheduler"
    if DAG_RUN_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("dag_run"):
        return "dag_run"
    return "unit"


def pytest_configure(config: pytest.Config) -> None:
    for tier, meaning in TIERS.items():
        config.addinivalue_line("markers", f"{tier}: {meaning}")
    config.addinivalue_line("markers", "every_leg: a few end-to-end tests CI runs on every leg, scheduler tier or not")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The figures tests measured (``record_property("measured", ...)``), so a CI log can be quoted."""
    lines = [
        f"{report.nodeid.split('::')[-1]}: {value}"
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", ())
        if name == MEASURED
    ]
    if lines:
        terminalreporter.write_sep("-", "measured")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier, so ``-m unit`` (make test-fast) or ``-m "not scheduler"`` selects by cost."""
    for item in items:
        tier = tier_of(item)
        if not item.get_closest_marker(tier):
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(autouse=True)
def loopback_names_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk to loopback only: any other host name fails to resolve at once, as offline."""
    from tests.loopback_resolver import loopback_only

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated metadata database in the throwaway Airflow home, made once per test session."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return AIRFLOW_HOME


@pytest.fixture(scope="session")
def one_in_process_execution_api() -> None:
    """``dag.test()`` runs every task against one in-process Execution API, as Airflow 3.3 does.

    Before 3.3 each task builds a new one (an app, a DAG bag, and an event-loop thread never
    stopped): on 3.2 a second or so per task, gigabytes over the suite, and minutes spent at exit.
    The API's behaviour is the same either way; only the rebuilding is skipped.
    """
    if not AIRFLOW_V3:
        return
    from airflow.sdk.execution_time import supervisor

    if not hasattr(supervisor.in_process_api_server, "cache_info"):
        supervisor.in_process_api_server = functools.lru_cache(maxsize=1)(supervisor.in_process_api_server)


@pytest.fixture
def lipachat_conn(lipachat_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """``lipachat_default`` pointing at the emulator, with fast client retries."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_LIPACHAT_DEFAULT",
        connection_json(lipachat_emulator.base_url, lipachat_emulator.api_key, timeout=5),
    )
    return "lipachat_default"


@pytest.fixture
def windowed_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An emulator enforcing the 24-hour rule, with ``lipachat_default`` pointing at it."""
    from airflow_provider_lipachat.emulator import Emulator

    with Emulator(enforce_session_window=True) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_LIPACHAT_DEFAULT", connection_json(emulator.base_url, emulator.api_key))
        yield emulator


@pytest.fixture
def run_dag(
    airflow_db: Path, one_in_process_execution_api: None, request: pytest.FixtureRequest
) -> Iterator[Callable[..., DagRunOutcome]]:
    """Write a DAG file into the DAG folder, run it with ``dag.test()``, and report the outcome.

    The source names its DAG ``DAG_ID``; the fixture substitutes one unique to the test, and on
    Airflow 2 it rewrites the Task SDK imports (``AIRFLOW2_IMPORTS``).
    """
    written: list[Path] = []

    def run(
        source: str, logical_date: str | None = None, *, again: DagRunOutcome | None = None, **test_kwargs: Any
    ) -> DagRunOutcome:
        """``again``: run the DAG of that earlier outcome once more (a new run of the same DAG id)."""
        dag_id = again.dag_id if again else re.sub(r"\W", "_", f"{request.node.name}_{len(written)}")[:200]
        path = DAGS_FOLDER / f"{dag_id}.py"
        source = textwrap.dedent(source).replace("DAG_ID", dag_id)
        if not AIRFLOW_V3:
            for sdk_import, airflow2_import in AIRFLOW2_IMPORTS.items():
                source = re.sub(f"^{re.escape(sdk_import)}$", airflow2_import, source, flags=re.M)
        path.write_text(source)
        written.append(path)
        spec = importlib.util.spec_from_file_location(dag_id, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        dag = module.dag
        if logical_date is not None:
            import pendulum

            test_kwargs["logical_date" if AIRFLOW_V3 else "execution_date"] = pendulum.parse(logical_date)
        dagrun = dag.test(**test_kwargs)
        tis = dagrun.get_task_instances()
        return DagRunOutcome(
            dag_id=dag_id,
            run_id=dagrun.run_id,
            state=str(dagrun.state),
            task_states={ti_name(ti): str(ti.state) for ti in tis},
            try_numbers={ti_name(ti): ti.try_number for ti in tis},
        )

    yield run
    for path in written:
        path.unlink(missing_ok=True)
