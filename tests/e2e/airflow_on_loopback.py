"""Airflow's long-running components on loopback, in a throwaway home, for end-to-end tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from airflow_provider_lipachat.compat import AIRFLOW_V3
from airflow_provider_lipachat.emulator import Emulator
from tests.support import SANDBOX_SENDER

WAIT_SECONDS = 240
LOOPBACK_SITE = Path(__file__).resolve().parents[1] / "loopback_site"
CLI_ATTEMPTS = 3


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group has already gone
        os.killpg(process.pid, signum)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def url_answers(url: str) -> bool:
    """True if ``url`` (on loopback) answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


class AirflowOnLoopback:
    """An Airflow home with its own SQLite database and the three long-running components."""

    def __init__(self, home: Path, emulator: Emulator) -> None:
        self.home = home
        self.db_path = home / "airflow.db"
        self.api_port = api_port = free_port()
        connection = {
            "conn_type": "lipachat",
            "host": emulator.base_url,
            "password": emulator.api_key,
            "extra": {"from_number": SANDBOX_SENDER, "timeout": 10},
        }
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            # Executors that start tasks as `airflow ...` commands find this interpreter's.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            # Every Airflow process resolves loopback names only (tests/loopback_site/sitecustomize.py).
            "PYTHONPATH": os.pathsep.join(filter(None, [str(LOOPBACK_SITE), os.environ.get("PYTHONPATH")])),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db_path}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API_AUTH__JWT_SECRET": "lipachat-e2e-jwt-secret-not-for-production",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            # Only the backfill and the cleared re-run may create work: no run for "today".
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW_CONN_LIPACHAT_DEFAULT": json.dumps(connection),
        }
        self.processes: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def cli(self, *args: str) -> str:
        locked = False
        for _ in range(CLI_ATTEMPTS):
            done = subprocess.run(
                [sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True, text=True, timeout=300
            )
            output = done.stderr + done.stdout
            if locked and "AlreadyRunningBackfill" in output:  # the locked attempt had created it before failing
                return done.stdout
            # SQLite takes one writer at a time; a CLI write that meets the scheduler's fails.
            locked = "database is locked" in output
            if done.returncode == 0 or not locked:
                break
            time.sleep(2)
        assert done.returncode == 0, f"airflow {' '.join(args)}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        return done.stdout

    def start(self, *component: str, log_name: str | None = None) -> subprocess.Popen[bytes]:
        """Start ``airflow <component>``; its output goes to ``<log_name or component>.out``, appended on a restart."""
        log = (self.home / f"{log_name or component[0]}.out").open("ab")
        # A session of its own, so stopping it also stops the workers and servers it forks.
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", *component],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append((process, log))
        return process

    def start_api_server(self) -> subprocess.Popen[bytes]:
        """Start the api-server and wait until it answers: the scheduler and workers need it from their first call.

        Airflow 3.0 starts four API workers, and a scheduler started before they listen fails its first calls.
        """
        process = self.start("api-server", "--host", "127.0.0.1", "--port", str(self.api_port))
        self.wait_for("the api-server to answer", lambda: url_answers(f"{self.base_url}/api/v2/version"))
        return process

    @contextlib.contextmanager
    def running(self, *, triggerer: bool = False) -> Iterator[AirflowOnLoopback]:
        """A migrated database and the components this Airflow needs (an api-server and dag-processor on 3),
        the scheduler, and with ``triggerer`` the triggerer; all stopped on the way out."""
        if not AIRFLOW_V3:
            self.env["AIRFLOW__CORE__EXECUTOR"] = "SequentialExecutor"  # the one Airflow 2 runs on SQLite
        self.cli("db", "migrate")
        try:
            if AIRFLOW_V3:
                self.start_api_server()
                self.start("dag-processor")  # the scheduler parses DAGs itself on Airflow 2
            self.start("scheduler", "--skip-serve-logs")  # the log server would listen beyond loopback
            if triggerer:
                self.start_triggerer()
            yield self
        finally:
            self.stop()

    def start_triggerer(self) -> subprocess.Popen[bytes]:
        return self.start("triggerer", "--skip-serve-logs")

    def stop(self) -> None:
        for process, _ in self.processes:
            _signal_group(process, signal.SIGTERM)
        for process, log in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            _signal_group(process, signal.SIGKILL)  # whatever the component left behind
            log.close()

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db_path, timeout=30) as db:
            return db.execute(sql, params).fetchall()

    def wait_for(
        self, what: str, condition: Callable[[], bool], *, timeout: float = WAIT_SECONDS, interval: float = 1.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process, _ in self.processes:
                assert process.poll() is None, f"{process.args} exited while waiting for {what}:\n{self.output()}"
            if condition():
                return
            time.sleep(interval)
        raise AssertionError(f"gave up after {timeout:g} s waiting for {what}:\n{self.output()}")

    def output(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.home.glob("*.out")))
