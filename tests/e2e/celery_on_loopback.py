"""Airflow on CeleryExecutor on loopback: a Redis broker, api-server, scheduler, dag-processor, two Celery workers.

Airflow 3.3 with SQLite (the workers never touch the database: they reach the api-server's
Execution API), Celery's results in a SQLite file (the workers write it, the scheduler reads it: both wait
for its lock as for the metadata database's), and the broker a private ``redis-server``.
Each worker runs in a session of its own, so a test can SIGKILL one (its prefork children, task
supervisors and task processes with it) and start it again under the same name. The scheduler
notices a killed task within seconds: task heartbeats are checked every second and time out after 8.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from airflow_provider_lipachat.emulator import DEFAULT_API_KEY, Arrival, Emulator
from scripts.local_airflow import sqlite_url
from tests.e2e.airflow_on_loopback import AirflowOnLoopback
from tests.redis_server import RedisServer, redis_server_or_skip
from tests.support import AIRFLOW_RELEASE

WORKERS = ("w1", "w2")
WORKER_SLOTS = 2
#: Seconds without a task heartbeat before the scheduler fails (and retries) a task whose worker died.
HEARTBEAT_TIMEOUT = 8
WORKER_READY_SECONDS = 120
#: The line each worker logs as it starts a task: ``[<celery id>] Executing workload in Celery: ExecuteTask(...)``.
WORKLOAD_LINE = re.compile(r"Executing workload in Celery: .*")
WORKLOAD_FIELDS = {name: re.compile(rf"\b{name}=(?:'([^']*)'|(\d+))") for name in ("dag_id", "run_id", "try_number")}


def celery_executor_or_skip() -> None:
    """Skip, saying why, where the CeleryExecutor stack cannot run: before Airflow 3.3, or without the provider."""
    if AIRFLOW_RELEASE < (3, 3):
        pytest.skip("distributed tests run on Airflow 3.3 only (make test); the other legs deselect them")
    if importlib.util.find_spec("airflow.providers.celery") is None:
        pytest.skip(
            "apache-airflow-providers-celery is not installed: `make install` installs it with the "
            "celery-e2e extra (celery<5.7)"
        )
    redis_server_or_skip()


def session_members(session: int) -> list[int]:
    """The live processes (zombies left out) whose session is ``session``, from ``/proc/<pid>/stat``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        state, _ppid, _pgrp, sid = stat[stat.rindex(")") + 2 :].split()[:4]
        if int(sid) == session and state != "Z":
            members.append(int(entry.name))
    return members


def kill_session(session: int, timeout: float = 10.0) -> None:
    """SIGKILL every process of ``session`` until none is left (one may fork while the others die)."""
    deadline = time.monotonic() + timeout
    while members := session_members(session):
        if time.monotonic() > deadline:
            raise AssertionError(f"processes {members} of session {session} outlived SIGKILL for {timeout:g} s")
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


class EmulatorProcess:
    """The gateway emulator in a process of its own, as the gateway is to the workers; read through its control API.

    In the test's own process its arrival times would wait on the test's threads (and Python's GIL),
    so a busy test would blur the very windows it measures.
    """

    def __init__(self, workdir: Path, throughput: float) -> None:
        self.api_key = DEFAULT_API_KEY
        self._log = (workdir / "emulator.out").open("w+b")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airflow_provider_lipachat.emulator", "--port", "0", f"--throughput={throughput}"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not (found := re.search(rb"listening on (http://\S+)", (workdir / "emulator.out").read_bytes())):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the emulator did not start: {(workdir / 'emulator.out').read_text()}")
            time.sleep(0.05)
        self.base_url = found[1].decode()

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.base_url}{path}", timeout=30) as answer:
            return json.load(answer)

    def deliveries(self) -> list[dict[str, Any]]:
        """Messages delivered, once per messageId, in arrival order."""
        return list(self._get("/_emulator/messages"))

    def requests(self) -> list[dict[str, Any]]:
        """Every gateway request received, with its outcome."""
        return list(self._get("/_emulator/requests"))

    def arrivals(self, sender: str) -> list[Arrival]:
        """Sends from ``sender`` that reached its throughput budget, accepted or refused with 130429, in order."""
        return [
            Arrival(a["sender"], a["to"], a["messageId"], a["route"], a["monotonic"], a["time"], a["accepted"])
            for a in self._get(f"/_emulator/arrivals?sender={quote(sender)}")
        ]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


class CeleryOnLoopback(AirflowOnLoopback):
    """Airflow's components on CeleryExecutor, ``connections`` (id -> URI or JSON) given to every process."""

    def __init__(
        self, home: Path, emulator: Emulator | EmulatorProcess, broker: RedisServer, connections: Mapping[str, str]
    ) -> None:
        super().__init__(home, emulator)
        self.env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(len(WORKERS) * WORKER_SLOTS),
                "AIRFLOW__CELERY__BROKER_URL": broker.url,
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{sqlite_url(home / 'celery.db')}",
                # HS512 wants a key of 64 bytes or more; the same key in every process.
                "AIRFLOW__API_AUTH__JWT_SECRET": "lipachat-e2e-celery-jwt-secret-not-for-production-" + "0" * 32,
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "1",
                "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
            }
        )
        for conn_id, uri in connections.items():
            self.env[f"AIRFLOW_CONN_{conn_id.upper()}"] = uri
        self.workers: dict[str, subprocess.Popen[bytes]] = {}

    def worker_log(self, name: str) -> Path:
        return self.home / f"worker-{name}.out"

    def start_workers(self, *names: str) -> None:
        """Start Celery workers ``<name>@<host>`` together and wait until each says it is ready (logs appended to)."""
        offsets = {}
        for name in names:
            log = self.worker_log(name)
            offsets[name] = log.stat().st_size if log.exists() else 0
            self.workers[name] = self.start(
                "celery",
                "worker",
                "--concurrency",
                str(WORKER_SLOTS),
                "--celery-hostname",
                f"{name}@%h",
                "--skip-serve-logs",  # its log server would listen on 8793 on every interface
                log_name=f"worker-{name}",
            )

        def ready() -> bool:
            for name, offset in offsets.items():
                with self.worker_log(name).open("rb") as text:
                    text.seek(offset)
                    if b" ready." not in text.read():
                        return False
            return True

        self.wait_for(f"workers {', '.join(names)} to be ready", ready, timeout=WORKER_READY_SECONDS, interval=0.2)

    def kill_worker(self, name: str) -> None:
        """SIGKILL worker ``name`` and every process of its session, as a lost machine would end them.

        Its process group is not enough: each task's supervisor puts the task process in a group of its own.
        """
        process = self.workers.pop(name)
        kill_session(process.pid)
        process.wait(timeout=10)
        for entry in [entry for entry in self.processes if entry[0] is process]:
            self.processes.remove(entry)
            entry[1].close()

    def stop(self) -> None:
        sessions = [process.pid for process, _ in self.processes]
        super().stop()
        for session in sessions:  # task processes a stopped worker's supervisors left behind
            kill_session(session)

    def workers_that_ran(self, dag_id: str) -> dict[tuple[str, int], str]:
        """(run_id, try number) -> the worker that started that try of a task of ``dag_id``, from the workers' logs.

        The task instance's hostname is the machine's, the same for both workers; each worker's own
        log says which workloads it took.
        """
        ran: dict[tuple[str, int], str] = {}
        for name in WORKERS:
            log = self.worker_log(name)
            text = log.read_text(errors="replace") if log.exists() else ""
            for line in WORKLOAD_LINE.findall(text):
                fields = {}
                for field, pattern in WORKLOAD_FIELDS.items():
                    found = pattern.search(line)
                    fields[field] = (found[1] if found[1] is not None else found[2]) if found else None
                if fields["dag_id"] == dag_id and fields["run_id"] and fields["try_number"]:
                    ran[(str(fields["run_id"]), int(str(fields["try_number"])))] = name
        return ran
