"""``make airflow``: Airflow 3 on loopback (api-server, dag-processor, scheduler, triggerer) with the emulator.

The example DAGs are read from ``example_dags/`` and the ``lipachat_default`` connection points at an
emulator started for the run, so deadline alerts and the inbound trigger (which need the triggerer) can
be tried without a gateway. Everything listens on 127.0.0.1; Ctrl-C stops every component and what it
started (each runs in a process group of its own). ``LoopbackAirflow`` is also how the end-to-end tests
start Airflow (tests/e2e/airflow_on_loopback.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_HOME = REPO / ".airflow-local"
EXAMPLE_DAGS = REPO / "example_dags"
#: On every Airflow process's PYTHONPATH: its ``airflow_local_settings`` makes a savepoint's transaction wait for
#: SQLite's write lock.
SQLITE_SITE = Path(__file__).resolve().parent / "sqlite_site"
WAIT_SECONDS = 240
#: How long a process waits for SQLite's write lock, which one process holds at a time, before it fails with
#: "database is locked" (pysqlite's own default is 5 s, which a busy scheduler's write can outlast on 2 cores).
SQLITE_BUSY_SECONDS = 60
#: The sender number the emulator's connection sends from (the gateway's sandbox number's shape).
FROM_NUMBER = "254700000000"
#: What a component gets to stop after SIGTERM before its group is killed.
STOP_SECONDS = 30


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group has already gone
        os.killpg(process.pid, signum)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def url_answers(url: str) -> bool:
    """True if ``url`` (on loopback) answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (a loopback http URL)
            return bool(answer.status == 200)
    except OSError:
        return False


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of the SQLite database file ``path`` (absolute), for every process that shares it.

    pysqlite reads ``timeout`` from the URL, so each Airflow process (scheduler, CLI, workers, api-server, and the
    async engine Airflow derives from the same URL) waits up to ``SQLITE_BUSY_SECONDS`` for another's write.
    """
    return f"sqlite:///{path}?timeout={SQLITE_BUSY_SECONDS}"


def airflow_major() -> int:
    from airflow import __version__

    return int(__version__.split(".")[0])


class LoopbackAirflow:
    """An Airflow home with its own SQLite database and the long-running components, all on 127.0.0.1."""

    def __init__(
        self,
        home: Path,
        *,
        gateway_url: str,
        api_key: str,
        from_number: str = FROM_NUMBER,
        dags_folder: Path | None = None,
        api_port: int | None = None,
        jwt_secret: str | None = None,
    ) -> None:
        self.home = home
        self.db_path = home / "airflow.db"
        self.api_port = api_port = api_port or free_port()
        connection = {
            "conn_type": "lipachat",
            "host": gateway_url,
            "password": api_key,
            "extra": {"from_number": from_number, "timeout": 10},
        }
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            # Executors that start tasks as `airflow ...` commands find this interpreter's.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(SQLITE_SITE), os.environ.get("PYTHONPATH")])),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder or home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlite_url(self.db_path),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            # 64 bytes or more: HS512 warns about shorter secrets.
            "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret or secrets.token_urlsafe(64),
            # Every visitor is an admin, without a login: fine on loopback, never on a shared host.
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW_CONN_LIPACHAT_DEFAULT": json.dumps(connection),
        }
        self.processes: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        return done.stdout

    def start(self, *component: str, log_name: str | None = None) -> subprocess.Popen[bytes]:
        """Start ``airflow <component>``; its output goes to ``<log_name or component>.out``, appended on a restart."""
        log = (self.home / f"{log_name or component[0]}.out").open("ab")
        # A session of its own, so stopping it also stops the workers and servers it forks, and a Ctrl-C in the
        # terminal reaches only the command that started it, which then stops each group in order.
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
    def running(self, *, triggerer: bool = False) -> Iterator[LoopbackAirflow]:
        """A migrated database and the components this Airflow needs (an api-server and dag-processor on 3),
        the scheduler, and with ``triggerer`` the triggerer; all stopped on the way out."""
        if airflow_major() < 3:
            self.env["AIRFLOW__CORE__EXECUTOR"] = "SequentialExecutor"  # the one Airflow 2 runs on SQLite
        self.cli("db", "migrate")
        try:
            if airflow_major() >= 3:
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
        """SIGTERM to every component's process group, a wait, then SIGKILL to each group for what is left."""
        for process, _ in self.processes:
            _signal_group(process, signal.SIGTERM)
        for process, log in self.processes:
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            _signal_group(process, signal.SIGKILL)  # whatever the component left behind
            log.close()

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db_path, timeout=SQLITE_BUSY_SECONDS) as db:
            return db.execute(sql, params).fetchall()

    def exited(self) -> list[subprocess.Popen[bytes]]:
        """The components that have exited."""
        return [process for process, _ in self.processes if process.poll() is not None]

    def wait_for(
        self, what: str, condition: Callable[[], bool], *, timeout: float = WAIT_SECONDS, interval: float = 1.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self.exited():
                raise AssertionError(f"{process.args!r} exited while waiting for {what}:\n{self.output()}")
            if condition():
                return
            time.sleep(interval)
        raise AssertionError(f"gave up after {timeout:g} s waiting for {what}:\n{self.output()}")

    def output(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.home.glob("*.out")))


def _stop_on_signal(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C or SIGTERM: stop everything, saying which signal asked for it."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="the Airflow home (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="the api-server's (UI's) port; 0 picks a free one")
    parser.add_argument("--emulator-port", type=int, default=0, help="the emulator's port; 0 (default) picks one")
    parser.add_argument("--fresh", action="store_true", help="delete the home first: a new database")
    args = parser.parse_args(argv)
    if airflow_major() < 3:
        print("make airflow runs Airflow 3 (.venv); this interpreter has Airflow 2", file=sys.stderr)
        return 2
    from airflow_provider_lipachat.emulator import Emulator

    if args.fresh and args.home.exists():
        shutil.rmtree(args.home)
    args.home.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, _stop_on_signal)
    emulator = Emulator(port=args.emulator_port)
    airflow: LoopbackAirflow | None = None
    try:
        emulator.start()
        airflow = LoopbackAirflow(
            args.home,
            gateway_url=emulator.base_url,
            api_key=emulator.api_key,
            dags_folder=EXAMPLE_DAGS,
            api_port=args.port or free_port(),
        )
        print(f"Starting Airflow in {args.home} (logs: {args.home}/*.out) ...", flush=True)
        with airflow.running(triggerer=True):
            print(
                f"\nAirflow UI:  {airflow.base_url}\n"
                "Log in:      no login needed: every visitor is an admin (simple auth manager, loopback only)\n"
                f"Emulator:    {emulator.base_url} (API key {emulator.api_key}); the connection lipachat_default "
                "points at it\n"
                f"DAGs:        {EXAMPLE_DAGS}, paused at first: unpause one in the UI to run it\n"
                "Try:         unpause lipachat_report_on_request, then, as a manager texting the number:\n"
                f"             curl -X POST {emulator.base_url}/_emulator/inbound "
                '-d \'{"from": "254711000001", "text": "report"}\'\n'
                f"             and see the report the DAG sent: curl {emulator.base_url}/_emulator/messages\n"
                "Stop:        Ctrl-C stops every component\n",
                flush=True,
            )
            while not airflow.exited():
                time.sleep(1)
            print(f"A component exited: {[p.args for p in airflow.exited()]}\n{airflow.output()}", file=sys.stderr)
            return 1
    except KeyboardInterrupt as stop:
        print(f"\n{stop or 'SIGINT'}: stopping Airflow and the emulator ...", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stopping short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if airflow is not None:
            airflow.stop()
        emulator.stop()
        print("Stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
