"""``make airflow`` (scripts/local_airflow.py) as a user runs it: up on loopback, then Ctrl-C leaves nothing running.

The script is started in a process group of its own, as a terminal starts a command, and Ctrl-C is that
group's SIGINT. Every process it started carries the home in ``AIRFLOW_HOME``; after the stop none is left,
wherever it was re-parented.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.airflow_on_loopback import LOOPBACK_SITE, free_port, url_answers
from tests.support import AIRFLOW_V3, REPO_ROOT

pytestmark = pytest.mark.skipif(not AIRFLOW_V3, reason="make airflow runs Airflow 3 (.venv)")

UP_SECONDS = 180
STOP_SECONDS = 60


def processes_with_home(home: Path) -> list[int]:
    """The pids of every process of this user whose environment names ``home`` as its Airflow home."""
    marker = f"AIRFLOW_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:  # gone, or another user's
            continue
    return found


def health(base_url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"{base_url}/api/v2/monitor/health", timeout=5) as answer:
            result: dict[str, Any] = json.load(answer)
            return result
    except OSError:
        return {}


def healthy(report: dict[str, Any], component: str) -> bool:
    return bool(report.get(component, {}).get("status") == "healthy")


def test_make_airflow_starts_every_component_on_loopback_and_ctrl_c_stops_them_all(tmp_path: Path) -> None:
    home, api_port, emulator_port = tmp_path / "home", free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(LOOPBACK_SITE), os.environ.get("PYTHONPATH")]))
    out = (tmp_path / "out.txt").open("w+")
    command = [
        sys.executable,
        "scripts/local_airflow.py",
        *("--home", str(home), "--port", str(api_port), "--emulator-port", str(emulator_port)),
    ]
    script = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    base_url, emulator_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{emulator_port}"
    try:
        deadline = time.monotonic() + UP_SECONDS
        report: dict[str, Any] = {}
        while time.monotonic() < deadline and script.poll() is None:
            report = health(base_url)
            if all(healthy(report, c) for c in ("metadatabase", "scheduler", "triggerer")):
                break
            time.sleep(2)
        printed = Path(out.name).read_text()
        assert script.poll() is None, f"the script exited:\n{printed}"
        assert healthy(report, "scheduler") and healthy(report, "triggerer"), f"{report}\n{printed}"
        assert url_answers(f"{emulator_url}/_emulator/messages")
        assert f"Airflow UI:  {base_url}" in printed
        assert "no login needed" in printed and "Ctrl-C stops every component" in printed
        started = processes_with_home(home)
        # The api-server, dag-processor, scheduler and triggerer, each with the processes it forks.
        assert len(started) >= 4

        os.killpg(script.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the foreground process group
        assert script.wait(timeout=STOP_SECONDS) == 0
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
            script.wait(timeout=10)
        out.close()

    printed = (tmp_path / "out.txt").read_text()
    assert "SIGINT: stopping Airflow and the emulator" in printed and printed.rstrip().endswith("Stopped.")
    assert processes_with_home(home) == [], f"left running: {started}"
    assert not url_answers(f"{base_url}/api/v2/version")
    assert not url_answers(f"{emulator_url}/_emulator/messages")
