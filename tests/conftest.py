"""Shared fixtures: an isolated Airflow home, the gateway emulator, a LipaChat connection, DAG runs.

The Airflow home is set before anything imports Airflow, so every test, and every Airflow
process a test starts, uses a throwaway SQLite database and DAG folder.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="lipachat-airflow-home-"))
DAGS_FOLDER = AIRFLOW_HOME / "dags"
DAGS_FOLDER.mkdir()
os.environ.update(
    AIRFLOW_HOME=str(AIRFLOW_HOME),
    AIRFLOW__CORE__DAGS_FOLDER=str(DAGS_FOLDER),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
)

from airflow_provider_lipachat.compat import AIRFLOW_V3, AIRFLOW_VERSION  # noqa: E402 - after AIRFLOW_HOME is set

pytest_plugins = ["airflow_provider_lipachat.emulator.pytest_plugin", "tests.media_host", "tests.s3_server"]

#: The installed Airflow's (major, minor): each leg of the suite runs one release.
AIRFLOW_RELEASE = tuple(int(part) for part in AIRFLOW_VERSION.split(".")[:2])
#: Airflow 3.3 added the task state store; earlier releases rely on the gateway's dedup alone.
HAS_TASK_STATE_STORE = AIRFLOW_RELEASE >= (3, 3)
#: Before 3.3 a template field that renders empty keeps its unrendered source (Airflow's templater).
RENDERED_EMPTY_KEEPS_SOURCE = AIRFLOW_RELEASE < (3, 3)
#: Airflow 3.0's dag.test() prints, unmasked, each message between task and supervisor (the request that
#: registers a secret for masking, secret included; the rendered fields) and each traceback frame's locals.
DAG_TEST_LOGS_SECRETS = AIRFLOW_RELEASE == (3, 0)
AIRFLOW30_UNMASKED = (
    re.compile(r"^.*\[debug\s*\] (Sending request|Received message from task runner)\b.*\n?", re.MULTILINE),
    re.compile(r"^[^\n]*╭─+ locals ─+╮.*?╰─+╯[^\n]*\n?", re.MULTILINE | re.DOTALL),
)
#: At DEBUG, dag.test() logs those requests, secret included, on these releases too.
DAG_TEST_AT_DEBUG_LOGS_SECRETS = AIRFLOW_V3
#: Airflow 3.0's supervisor fails a task whose process died abnormally, never retrying it (3.1 retries).
KILLED_TASK_NOT_RETRIED = AIRFLOW_RELEASE == (3, 0)
#: Airflow 3.0's base sensor gets a reschedule-mode start date as text and fails subtracting it, not timing out.
RESCHEDULE_TIMEOUT_BROKEN = AIRFLOW_RELEASE == (3, 0)
#: Test DAG sources import the Task SDK; on Airflow 2 the same names come from their old homes.
AIRFLOW2_IMPORTS = {
    "from airflow.sdk import DAG, task": "from airflow import DAG\nfrom airflow.decorators import task",
    "from airflow.sdk import DAG": "from airflow import DAG",
}

REPO_ROOT = Path(__file__).resolve().parent.parent
SANDBOX_SENDER = "254110090747"


#: The suite's tiers, slowest last; each test gets exactly one, from where it lives and what it uses.
TIERS = {
    "unit": "no Airflow run: values, HTTP against the emulator, imports (make test-fast)",
    "dag_run": "runs a DAG (dag.test() in-process, or an Airflow CLI/subprocess) against the emulator",
    "scheduler": "end to end: real Airflow processes on loopback (scheduler, triggerer, api-server, the demo)",
    "browser": "drives headless Chromium against Airflow's api-server",
}
DAG_RUN_FIXTURES = frozenset({"run_dag", "airflow_db"})
BROWSER_TESTS = "tests/e2e/test_connection_form.py"


def tier_of(item: pytest.Item) -> str:
    path = Path(str(item.fspath)).relative_to(REPO_ROOT).as_posix()
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


def redact(text: str) -> str:
    """What Airflow's secret masker makes of ``text`` in task logs."""
    if AIRFLOW_V3:
        try:
            from airflow.sdk._shared.secrets_masker import redact as airflow_redact
        except ImportError:  # Airflow 3.0
            from airflow.sdk.execution_time.secrets_masker import redact as airflow_redact
    else:
        from airflow.utils.log.secrets_masker import redact as airflow_redact
    return str(airflow_redact(text))


def airflow_defect(affected: bool, defect: str) -> pytest.MarkDecorator:
    """Expected to fail where ``affected``: an Airflow defect the provider cannot prevent (strict: a fix shows)."""
    return pytest.mark.xfail(affected, reason=f"Airflow defect: {defect}", raises=AssertionError, strict=True)


def flat(text: str) -> str:
    """``text`` with every run of whitespace made one space: what a log says, whatever width it was wrapped to.

    Airflow 3.0's ``dag.test()`` prints tracebacks wrapped at 80 columns.
    """
    return " ".join(text.split())


def without_airflow30_unmasked(output: str) -> str:
    """What ``dag.test()`` printed, less what Airflow 3.0 prints unmasked: supervisor messages, traceback locals.

    Those are an Airflow defect with expected failures of their own; the rest of the output (the task's
    own log) must still be free of secrets. On other releases nothing is removed.
    """
    if DAG_TEST_LOGS_SECRETS:
        for pattern in AIRFLOW30_UNMASKED:
            output = pattern.sub("", output)
    return output


def printed(capfd: pytest.CaptureFixture[str]) -> str:
    """What the test printed so far (a ``dag.test()`` run's log, say), ``flat``, less what Airflow 3.0 leaks."""
    captured = capfd.readouterr()
    return flat(without_airflow30_unmasked(captured.out + captured.err))


def cli_json(stdout: str) -> Any:
    """The JSON document an ``airflow ... --output json`` command printed, past any log lines before it.

    Older CLIs (3.0) print INFO lines such as ``[2026-01-01T00:00:00.000+0000] {plugins.py:37} INFO - ...``
    to stdout ahead of the document; a line that merely starts with ``[`` is not JSON.
    """
    decoder = json.JSONDecoder()
    start = 0
    for line in stdout.splitlines(keepends=True):
        if line.lstrip().startswith(("[", "{")):
            try:
                document, end = decoder.raw_decode(stdout, start + len(line) - len(line.lstrip()))
            except json.JSONDecodeError:
                pass
            else:
                if not stdout[end:].strip():
                    return document
        start += len(line)
    raise AssertionError(f"no JSON document ends the CLI output:\n{stdout[-2000:]}")


def connection_json(base_url: str, api_key: str, **extra: Any) -> str:
    """An ``AIRFLOW_CONN_*`` value for a LipaChat connection."""
    extras = {"from_number": SANDBOX_SENDER, **extra}
    return json.dumps({"conn_type": "lipachat", "host": base_url, "password": api_key, "extra": extras})


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


@dataclass
class DagRunOutcome:
    """What one ``dag.test()`` run left behind in the metadata database."""

    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str]
    try_numbers: dict[str, int]

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        if not AIRFLOW_V3:
            from airflow.models.xcom import XCom

            return XCom.get_one(run_id=self.run_id, key=key, task_id=task_id, dag_id=self.dag_id, map_index=map_index)
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            row = (
                session.query(XComModel)
                .filter_by(dag_id=self.dag_id, run_id=self.run_id, task_id=task_id, key=key, map_index=map_index)
                .one_or_none()
            )
            return None if row is None else row.value

    def task_state(self, task_id: str, map_index: int = -1) -> dict[str, Any]:
        """The task state store's keys and JSON values for one task instance (Airflow >= 3.3)."""
        from airflow.models.task_state_store import TaskStateStoreModel
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = (
                session.query(TaskStateStoreModel)
                .filter_by(dag_id=self.dag_id, run_id=self.run_id, task_id=task_id, map_index=map_index)
                .all()
            )
            return {row.key: json.loads(row.value) for row in rows}

    def rendered_fields(self, task_id: str, map_index: int = -1) -> dict[str, Any]:
        from airflow.models.renderedtifields import RenderedTaskInstanceFields
        from airflow.utils.session import create_session

        with create_session() as session:
            row = (
                session.query(RenderedTaskInstanceFields)
                .filter_by(dag_id=self.dag_id, run_id=self.run_id, task_id=task_id, map_index=map_index)
                .one()
            )
            return dict(row.rendered_fields)


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
            task_states={_ti_name(ti): str(ti.state) for ti in tis},
            try_numbers={_ti_name(ti): ti.try_number for ti in tis},
        )

    yield run
    for path in written:
        path.unlink(missing_ok=True)


def _ti_name(ti: Any) -> str:
    return ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"


def backdate_gateway_answers(emulator: Any, seconds: float) -> None:
    """Make the answers the emulator keeps by messageId as old as if those first sends were ``seconds`` ago.

    The emulator answers a repeated messageId with the stored first answer, timestamp and all, which
    is what the provider reads to tell a replay; a re-run a day later meets a day-old timestamp. A test
    cannot wait a day, so it moves the stored timestamps back instead (in the gateway's zone-less form).
    """
    import datetime

    from airflow_provider_lipachat.gateway.messages import parse_gateway_timestamp

    with emulator.state.lock:
        for answer in emulator.state.answers_by_message_id.values():
            moment = parse_gateway_timestamp(answer["timestamp"])
            assert moment is not None, answer
            earlier = moment - datetime.timedelta(seconds=seconds)
            answer["timestamp"] = earlier.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000"
