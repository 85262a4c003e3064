"""The Airflow processes of the end-to-end tests resolve loopback names only, as the tests themselves do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from airflow_provider_lipachat.emulator import Emulator
from tests.e2e.airflow_on_loopback import AirflowOnLoopback

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
