"""Media from object storage in real DAG runs: a task writes a report to S3 (moto over HTTPS on loopback),
the media operator sends its path, and the emulator fetches the signed link and gets the bytes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from airflow_provider_lipachat.emulator import Emulator
from tests.conftest import DagRunOutcome
from tests.s3_server import BUCKET, S3Server

RunDag = Callable[..., DagRunOutcome]
REPORT = b"%PDF-1.7\n" + b"daily numbers " * 500

REPORT_DAG = """
import pendulum
from airflow.sdk import DAG, task
from airflow_provider_lipachat.compat import object_storage_path_class
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    @task
    def write_report(ds=None):
        path = object_storage_path_class()(f"s3://aws_moto@reports/daily/{ds}.pdf")
        path.write_bytes(REPORT)
        return str(path)

    send = SendWhatsAppMediaOperator(
        task_id="send", to=["254711000001", "254711000002"], media_url=MEDIA_URL, caption="Report {{ ds }}",
    )
    write_report() >> send
"""


def report_dag(media_url: str = "'s3://aws_moto@reports/daily/{{ ds }}.pdf'") -> str:
    return REPORT_DAG.replace("REPORT)", f"{REPORT!r})").replace("MEDIA_URL", media_url)


def test_a_report_written_to_s3_is_sent_as_a_signed_link_and_whatsapp_gets_its_bytes(
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    s3_server: S3Server,
    capfd: pytest.CaptureFixture[str],
) -> None:
    outcome = run_dag(report_dag(), logical_date="2024-03-05T00:00:00+00:00")

    assert outcome.task_states == {"write_report": "success", "send": "success"}
    deliveries = lipachat_emulator.deliveries()
    assert sorted(d["to"] for d in deliveries) == ["254711000001", "254711000002"]
    payload = deliveries[0]["payload"]
    assert payload["mediaType"] == "DOCUMENT" and payload["filename"] == "2024-03-05.pdf"
    signed = payload["mediaUrl"]
    assert signed.startswith(f"{s3_server.endpoint_url}/{BUCKET}/daily/2024-03-05.pdf?")
    assert "X-Amz-Signature=" in signed and "response-content-type=application%2Fpdf" in signed
    expires = int(signed.split("X-Amz-Expires=")[1].split("&")[0])
    assert expires == 24 * 60 * 60

    fetches = lipachat_emulator.media_fetches()
    assert len(fetches) == 2 and {f.body for f in fetches} == {REPORT} and {f.failure for f in fetches} == {None}

    rendered = outcome.rendered_fields("send")
    assert rendered["media_url"] == "s3://aws_moto@reports/daily/2024-03-05.pdf"
    logs = "".join(capfd.readouterr())
    assert "Signed a link to s3://aws_moto@reports/daily/2024-03-05.pdf, valid 86400 s" in logs
    signature = signed.split("X-Amz-Signature=")[1].split("&")[0]
    assert signature not in logs and signature not in str(outcome.xcom("send", key="message_id"))
