"""The object-storage example end to end: the report lands in S3 (moto on loopback), WhatsApp's fetch of
the signed link gets its bytes, and the sensor sees every message delivered."""

from __future__ import annotations

from collections.abc import Callable

from airflow_provider_lipachat.emulator import Emulator
from tests.s3_server import BUCKET, S3Server
from tests.support import DagRunOutcome
from tests.test_example_dags import example_source

REPORT = b"region,orders\nnorth,120\nsouth,97\n"


def test_the_report_is_written_signed_sent_fetched_and_confirmed_delivered(
    run_dag: Callable[..., DagRunOutcome], lipachat_emulator: Emulator, lipachat_conn: str, s3_server: S3Server
) -> None:
    lipachat_emulator.script_status("delivered", delivered_after=0.3)
    source = (
        example_source("lipachat_report_from_object_storage")
        .replace("s3://aws_default@", "s3://aws_moto@")
        .replace("poke_interval=60", "poke_interval=0.2")
        .replace('mode="reschedule"', 'mode="poke"')
    )
    outcome = run_dag(source, logical_date="2024-03-05T00:00:00+00:00")

    assert outcome.task_states == {
        "write_report": "success",
        "send_report": "success",
        "wait_until_delivered": "success",
    }
    stored = s3_server.client.get_object(Bucket=BUCKET, Key="daily/2024-03-05.csv")["Body"].read()
    assert stored == REPORT
    deliveries = lipachat_emulator.deliveries()
    assert sorted(d["to"] for d in deliveries) == ["254711000001", "254711000002"]
    assert {d["payload"]["filename"] for d in deliveries} == {"2024-03-05.csv"}
    assert all("X-Amz-Signature=" in d["payload"]["mediaUrl"] for d in deliveries)
    fetches = lipachat_emulator.media_fetches(wait_for=2)
    assert [f.body for f in fetches] == [REPORT, REPORT] and {f.failure for f in fetches} == {None}
    assert set(outcome.xcom("wait_until_delivered")) == {"254711000001", "254711000002"}
