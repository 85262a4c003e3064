"""``make demo``: run the daily report DAG against the emulator and show what was delivered.

Starts the emulator, runs ``airflow dags test lipachat_report_delivery 2024-01-15`` in a
throwaway Airflow home, prints what the emulator received and the waIds from XCom, then runs
``lipachat_delivery_confirmation`` (send, wait until WhatsApp delivered it) and prints each
recipient's confirmed status, and stops.
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
CONFIRMATION_DAG_ID = "lipachat_delivery_confirmation"
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
        print(f"Running `airflow dags test {CONFIRMATION_DAG_ID} {LOGICAL_DATE}`: send, then wait for delivery")
        airflow("dags", "test", CONFIRMATION_DAG_ID, LOGICAL_DATE, env=env)
        with urllib.request.urlopen(base_url + "/_emulator/messages", timeout=10) as answer:  # noqa: S310 - loopback
            deliveries = json.load(answer)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)

    report_deliveries = [d for d in deliveries if d["payload"].get("filename", "").startswith("daily-")]
    print(f"\nThe emulator received {len(report_deliveries)} daily report message(s):")
    for delivery in report_deliveries:
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
    delivered = {d["waId"] for d in report_deliveries}
    if not report_deliveries or {wa_id for _, wa_id in wa_ids} != delivered:
        print("\nMismatch between deliveries and XCom", file=sys.stderr)
        return 1
    print("\nEvery delivery's waId is in XCom.")
    confirmed = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("demo_xcom.py")), CONFIRMATION_DAG_ID, "wait_until_delivered"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows = json.loads(confirmed.stdout)
    statuses = rows[0][1] if rows else {}
    print(f"\n{CONFIRMATION_DAG_ID}: delivery confirmed by the gateway's message list:")
    for recipient, status in statuses.items():
        print(f"  {recipient}: {status['status']} (waId {status['wa_id']}, updated {status['updated_at']})")
    if not statuses or any(s["status"] not in ("DELIVERED", "READ") for s in statuses.values()):
        print("\nDelivery was not confirmed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
