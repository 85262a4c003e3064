"""``make demo``: run the daily report DAG against the emulator and show what was delivered.

Starts the emulator, runs ``airflow dags test lipachat_report_delivery 2024-01-15`` in a
throwaway Airflow home, prints what the emulator received and the waIds from XCom, and stops.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOME = REPO / ".airflow-demo"
DAG_ID = "lipachat_report_delivery"
LOGICAL_DATE = "2024-01-15"
API_KEY = "demo-key"


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    emulator = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_lipachat.emulator", "--port", "0", "--api-key", API_KEY],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert emulator.stdout is not None
    line = emulator.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+", line)
    if not found:
        emulator.kill()
        raise SystemExit(f"the emulator did not start: {line!r}")
    return emulator, found.group()


def airflow(*args: str, env: dict[str, str]) -> None:
    log = HOME / "demo.log"
    with log.open("a") as out:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=env, stdout=out, stderr=subprocess.STDOUT, timeout=600
        )
    if done.returncode != 0:
        print(log.read_text()[-4000:])
        raise SystemExit(f"airflow {' '.join(args)} failed (exit {done.returncode}); full log in {log}")


def main() -> int:
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir()
    emulator, base_url = start_emulator()
    try:
        connection = {
            "conn_type": "lipachat",
            "host": base_url,
            "password": API_KEY,
            "extra": {"from_number": "254110090747"},
        }
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_LIPACHAT_DEFAULT": json.dumps(connection),
        }
        print(f"Emulator on {base_url}; running `airflow dags test {DAG_ID} {LOGICAL_DATE}` (log: {HOME}/demo.log)")
        airflow("db", "migrate", env=env)
        airflow("dags", "test", DAG_ID, LOGICAL_DATE, env=env)
        with urllib.request.urlopen(base_url + "/_emulator/messages", timeout=10) as answer:  # noqa: S310 - loopback
            deliveries = json.load(answer)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)

    print(f"\nThe emulator received {len(deliveries)} message(s):")
    for delivery in deliveries:
        payload = delivery["payload"]
        print(f"  to {payload['to']}: {payload['mediaType']} {payload['mediaUrl']}")
        print(f"      filename {payload.get('filename')!r}, caption {payload.get('caption')!r}")
        print(f"      messageId {payload['messageId']} -> waId {delivery['waId']}")
    xcom = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("demo_xcom.py")), DAG_ID, "send_daily_report"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    wa_ids = json.loads(xcom.stdout)
    print("\nXCom return_value of send_daily_report (the waIds):")
    for map_index, wa_id in wa_ids:
        print(f"  [{map_index}] {wa_id}")
    delivered = {d["waId"] for d in deliveries}
    if not deliveries or {wa_id for _, wa_id in wa_ids} != delivered:
        print("\nMismatch between deliveries and XCom", file=sys.stderr)
        return 1
    print("\nEvery delivery's waId is in XCom.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
