"""``make demo`` end to end: scripts/demo.py run as a user runs it, with every process it starts on loopback only.

Each process (the demo, the emulator, every ``airflow`` command and the XCom readers) resolves
loopback names only and records every name lookup and connection it makes
(tests/loopback_site, ``LIPACHAT_NETWORK_LOG``); the test reads that record back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_lipachat.gateway.net import is_loopback
from tests.e2e.airflow_on_loopback import LOOPBACK_SITE
from tests.loopback_resolver import NETWORK_LOG_ENV
from tests.support import AIRFLOW_V3, REPO_ROOT

pytestmark = pytest.mark.skipif(
    not AIRFLOW_V3, reason="make demo runs Airflow 3 (.venv, constraints.txt); its XCom reader reads Airflow 3's table"
)


def test_the_demo_runs_on_loopback_only_the_preflight_fetches_its_reports_and_it_prints_the_deliveries(
    tmp_path: Path,
) -> None:
    network_log = tmp_path / "network.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "REQUESTS_CA", "AWS_CA"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(LOOPBACK_SITE), os.environ.get("PYTHONPATH")]))
    env[NETWORK_LOG_ENV] = str(network_log)

    done = subprocess.run(
        [sys.executable, "scripts/demo.py", "--home", str(tmp_path / "home")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )

    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    out = done.stdout
    assert "The emulator received 2 daily report message(s):" in out
    assert "  to 254711000001: DOCUMENT https://127.0.0.1:" in out and "  to 254711000002: DOCUMENT" in out
    assert "/daily/2024-01-15/summary.pdf\n      filename 'daily-summary-2024-01-15.pdf'" in out
    assert "Every delivery's waId is in XCom." in out
    assert out.count(": READ (waId wamid.") + out.count(": DELIVERED (waId wamid.") == 2
    assert out.count("answers as WhatsApp needs for DOCUMENT") == 3  # two mapped sends and the weekly one
    assert "answered 3 preflight GET(s) (Range: bytes=0-4095) and 4 whole-file fetch(es)" in out
    assert "could not be reached" not in out and "could not be reached" not in (tmp_path / "home/demo.log").read_text()

    records = [json.loads(line) for line in network_log.read_text().splitlines()]
    assert [r for r in records if not is_loopback(r["host"])] == []
    # The record is on in every process: the demo, the emulator and the airflow commands each connected.
    connecting = {r["pid"] for r in records if r["event"] == "socket.connect"}
    assert len(connecting) >= 4, records
    assert any(r["event"] == "socket.getaddrinfo" for r in records)
