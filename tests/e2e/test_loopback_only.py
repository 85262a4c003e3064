"""The Airflow processes of the end-to-end tests resolve loopback names only, as the tests themselves do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from airflow_provider_lipachat.emulator import Emulator
from tests.e2e.airflow_on_loopback import AirflowOnLoopback
from tests.loopback_resolver import NETWORK_LOG_ENV

PROBE = """
import socket
for name in ("localhost", "reports.example.com"):
    try:
        socket.getaddrinfo(name, 443)
        print(name, "resolved")
    except socket.gaierror as err:
        print(name, "refused:", err)
"""


def test_a_process_started_with_the_harness_environment_resolves_loopback_only(
    tmp_path: Path, lipachat_emulator: Emulator
) -> None:
    env = AirflowOnLoopback(tmp_path, lipachat_emulator).env
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "localhost resolved" in done.stdout
    assert "reports.example.com refused: [Errno -2] reports.example.com: tests resolve loopback names only" in (
        done.stdout
    )


def test_the_network_record_shows_refused_lookups_and_loopback_connections(
    tmp_path: Path, lipachat_emulator: Emulator
) -> None:
    """What tests/e2e/test_demo.py relies on: with LIPACHAT_NETWORK_LOG set, a refused lookup is in the record."""
    log = tmp_path / "network.jsonl"
    env = {**AirflowOnLoopback(tmp_path, lipachat_emulator).env, NETWORK_LOG_ENV: str(log)}
    messages = f"{lipachat_emulator.base_url}/_emulator/messages"
    probe = f"{PROBE}\nimport urllib.request\nurllib.request.urlopen({messages!r})"
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert {"event": "lipachat.refused_lookup", "host": "reports.example.com", "pid": records[0]["pid"]} in records
    assert ("socket.connect", "127.0.0.1") in {(r["event"], r["host"]) for r in records}
