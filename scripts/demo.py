"""``make demo``: run the daily report DAG against the emulator and show what was delivered.

Starts the emulator and a media host serving the reports over HTTPS on 127.0.0.1 (a certificate
made for the run, trusted through ``REQUESTS_CA_BUNDLE``), runs ``airflow dags test
lipachat_report_delivery 2024-01-15`` in a throwaway Airflow home, prints what the emulator
received, what the media preflight and the emulator's fetch (WhatsApp's, stood in for) asked the
media host, and the waIds from XCom, then runs ``lipachat_delivery_confirmation`` (send, wait
until WhatsApp delivered it) and prints each recipient's confirmed status, and stops. Every
process it starts talks to 127.0.0.1 only: the example DAGs read their reports' host from the
Variable ``lipachat_reports_base_url``, set here to the media host.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import demo_media_host

from airflow_provider_lipachat.emulator.tls import make_certificate

REPO = Path(__file__).resolve().parent.parent
DEFAULT_HOME = REPO / ".airflow-demo"
DAG_ID = "lipachat_report_delivery"
CONFIRMATION_DAG_ID = "lipachat_delivery_confirmation"
LOGICAL_DATE = "2024-01-15"
API_KEY = "demo-key"


#: The reports each DAG sends, as the media host serves them (paths follow the DAGs' media_url).
REPORTS = {
    f"daily/{LOGICAL_DATE}/summary.pdf": f"Daily summary for {LOGICAL_DATE}",
    f"weekly/{LOGICAL_DATE}/board.pdf": f"Weekly board report, {LOGICAL_DATE}",
}
LOG_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})[.,](\d{3})")
PREFLIGHT_PASSED = re.compile(r"Preflight: (media_url \S+ answers as WhatsApp needs for \w+)")


def start_emulator(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    emulator = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_lipachat.emulator", "--port", "0", "--api-key", API_KEY],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert emulator.stdout is not None
    line = emulator.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+", line)
    if not found:
        emulator.kill()
        raise SystemExit(f"the emulator did not start: {line!r}")
    return emulator, found.group()


def last_json_line(stdout: str) -> Any:
    """The JSON ``demo_xcom.py`` printed last: Airflow 3.0 may print log lines to stdout before it."""
    return json.loads(stdout.strip().splitlines()[-1])


def airflow(*args: str, env: dict[str, str]) -> None:
    log = Path(env["AIRFLOW_HOME"]) / "demo.log"
    with log.open("a") as out:
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=env, stdout=out, stderr=subprocess.STDOUT, timeout=600
        )
    if done.returncode != 0:
        print(log.read_text()[-4000:])
        raise SystemExit(f"airflow {' '.join(args)} failed (exit {done.returncode}); full log in {log}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="the throwaway Airflow home, emptied first")
    home = parser.parse_args(argv).home.resolve()
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    for path, text in REPORTS.items():
        demo_media_host.write_pdf(home / "media" / path, text)
    cert, key = make_certificate(home / "tls", "lipachat demo media host")
    # Only the demo's own certificate is trusted, by every process that fetches media.
    trusting = {**os.environ, "REQUESTS_CA_BUNDLE": str(cert)}
    with demo_media_host.serve(home / "media", cert, key) as media_host:
        emulator, base_url = start_emulator(trusting)
        try:
            connection = {
                "conn_type": "lipachat",
                "host": base_url,
                "password": API_KEY,
                "extra": {"from_number": "254110090747"},
            }
            env = {
                **trusting,
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                # Airflow's default (its getfqdn) looks the machine's own name up, which may ask DNS.
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "socket.gethostname",
                "AIRFLOW_CONN_LIPACHAT_DEFAULT": json.dumps(connection),
                "AIRFLOW_VAR_LIPACHAT_REPORTS_BASE_URL": media_host.base_url,
            }
            print(f"Emulator on {base_url}, reports on {media_host.base_url} (HTTPS, a certificate made for this run)")
            print(f"Running `airflow dags test {DAG_ID} {LOGICAL_DATE}` (log: {home}/demo.log)")
            airflow("db", "migrate", env=env)
            airflow("dags", "test", DAG_ID, LOGICAL_DATE, env=env)
            print(f"Running `airflow dags test {CONFIRMATION_DAG_ID} {LOGICAL_DATE}`: send, then wait for delivery")
            airflow("dags", "test", CONFIRMATION_DAG_ID, LOGICAL_DATE, env=env)
            with urllib.request.urlopen(base_url + "/_emulator/messages", timeout=10) as answer:  # noqa: S310
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
    wa_ids = last_json_line(xcom.stdout)
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
    rows = last_json_line(confirmed.stdout)
    statuses = rows[0][1] if rows else {}
    print(f"\n{CONFIRMATION_DAG_ID}: delivery confirmed by the gateway's message list:")
    for recipient, status in statuses.items():
        print(f"  {recipient}: {status['status']} (waId {status['wa_id']}, updated {status['updated_at']})")
    if not statuses or any(s["status"] not in ("DELIVERED", "READ") for s in statuses.values()):
        print("\nDelivery was not confirmed", file=sys.stderr)
        return 1
    return 0 if media_was_fetched(home / "demo.log", media_host, deliveries) else 1


def preflight_records(log: Path) -> list[str]:
    """The log lines of the preflight's verdicts, each record once.

    Airflow 3.0's ``airflow dags test`` writes every task log record twice, with the time in two
    formats; the record's time to the millisecond and its message tell the copies apart from two
    tasks' identical verdicts.
    """
    seen: set[tuple[tuple[str, ...] | None, str]] = set()
    records = []
    for line in log.read_text().splitlines():
        if "Preflight: " not in line:
            continue
        stamp = LOG_TIME.search(line)
        key = (stamp.groups() if stamp else None, line[line.index("Preflight: ") :])
        if key not in seen:
            seen.add(key)
            records.append(line)
    return records


def media_was_fetched(log: Path, media_host: demo_media_host.MediaHost, deliveries: list[dict[str, Any]]) -> bool:
    """Print what the preflight concluded and what the media host served; True when every check and fetch passed."""
    lines = preflight_records(log)
    passed = [found.group(1) for line in lines if (found := PREFLIGHT_PASSED.search(line))]
    print("\nMedia preflight, from the task logs (one ranged GET per task, before any send):")
    for verdict in passed:
        print(f"  {verdict}")
    ranged = [r for r in media_host.requests if r[1] is not None]
    whole = [r for r in media_host.requests if r[1] is None]
    statuses = sorted({status for _, _, status in media_host.requests})
    print(
        f"The media host answered {len(ranged)} preflight GET(s) (Range: {ranged[0][1] if ranged else '-'}) and "
        f"{len(whole)} whole-file fetch(es) by the emulator, standing in for WhatsApp: HTTP {statuses}"
    )
    media_sends = [d for d in deliveries if d["payload"].get("mediaUrl", "").startswith(media_host.base_url)]
    if not passed or len(passed) != len(lines) or statuses != [200] or len(whole) < len(media_sends):
        print("\nThe media preflight or WhatsApp's fetch did not pass; see the log", file=sys.stderr)
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
