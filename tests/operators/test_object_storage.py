"""Media from object storage in real DAG runs: a task writes a report to S3 (moto over HTTPS on loopback),
the media operator sends its path, and the emulator fetches the signed link and gets the bytes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from airflow_provider_lipachat.emulator import Emulator
from tests.s3_server import BUCKET, S3Server, clear_object_store_cache
from tests.support import DagRunOutcome, printed

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

    stored_type = s3_server.client.head_object(Bucket=BUCKET, Key="daily/2024-03-05.pdf")["ContentType"]
    assert stored_type != "application/pdf"  # stored untyped; the signed link declares the type
    fetches = lipachat_emulator.media_fetches(wait_for=2)
    assert len(fetches) == 2 and {f.body for f in fetches} == {REPORT} and {f.failure for f in fetches} == {None}

    rendered = outcome.rendered_fields("send")
    assert rendered["media_url"] == "s3://aws_moto@reports/daily/2024-03-05.pdf"
    logs = printed(capfd)
    assert "Signed a link to s3://aws_moto@reports/daily/2024-03-05.pdf, valid 86400 s" in logs
    signature = signed.split("X-Amz-Signature=")[1].split("&")[0]
    assert signature not in logs and signature not in str(outcome.xcom("send", key="message_id"))


ERROR_DAG = """
import pendulum
from datetime import timedelta
from airflow.sdk import DAG, task
from airflow_provider_lipachat.compat import object_storage_path_class
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator
from fsspec.implementations.memory import MemoryFileSystem

try:
    from airflow.sdk.io import attach
except ImportError:  # Airflow 2.11
    from airflow.io.store import attach

attach("memory", fs=MemoryFileSystem())  # a store that cannot sign links

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    @task
    def write_report():
        object_storage_path_class()("s3://aws_moto@reports/ready.pdf").write_bytes(b"%PDF-1.7 report")
        MemoryFileSystem().pipe("/scratch/ready.pdf", b"%PDF-1.7 report")

    send = SendWhatsAppMediaOperator(task_id="send", to="254711000001", media_url=MEDIA_URL,
                                     retries=2, retry_delay=timedelta(seconds=0))
    write_report() >> send
"""


@pytest.mark.parametrize(
    ("media_url", "says"),
    [
        (
            "s3://aws_moto@reports/missing.pdf",
            "media_url='s3://aws_moto@reports/missing.pdf': names an object that does not exist in the store: "
            "bucket 'reports' has no 'missing.pdf'",
        ),
        (
            "s3://aws_moto@no-such-bucket/ready.pdf",
            "media_url='s3://aws_moto@no-such-bucket/ready.pdf': names bucket 'no-such-bucket', which does not "
            "exist or cannot be reached with this connection; check the bucket's name and the connection's",
        ),
        (
            "s3://aws_anonymous@reports/public.pdf",
            "media_url='s3://aws_anonymous@reports/public.pdf': was given an unsigned link (an anonymous filesystem?)",
        ),
        (
            "s3://aws_anonymous@reports/ready.pdf",
            "media_url='s3://aws_anonymous@reports/ready.pdf': cannot be read with its connection's credentials",
        ),
        ("memory://scratch/ready.pdf", "is on a store that cannot sign links (memory://)"),
        ("/tmp/report-{{ ds }}.pdf", "is a local file, which WhatsApp's servers cannot fetch; write it to object"),
        ("file:///tmp/report.pdf", "media_url='file:///tmp/report.pdf': is a local file"),
        ("gs://google_cloud_default@reports/ready.pdf", "install airflow-provider-lipachat[gcs]"),
    ],
    ids=[
        "missing object",
        "missing bucket",
        "anonymous store",
        "no credentials",
        "store cannot sign",
        "bare local path",
        "file URL",
        "missing extra",
    ],
)
def test_a_path_that_cannot_become_a_signed_link_fails_before_any_send_naming_the_field(
    media_url: str,
    says: str,
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    s3_server: S3Server,
    capfd: pytest.CaptureFixture[str],
) -> None:
    s3_server.client.put_object(Bucket=BUCKET, Key="public.pdf", Body=b"%PDF-1.7 public", ACL="public-read")
    outcome = run_dag(ERROR_DAG.replace("MEDIA_URL", repr(media_url)))

    assert outcome.task_states == {"write_report": "success", "send": "failed"}
    assert outcome.try_numbers["send"] == 1
    assert lipachat_emulator.requests() == []
    assert says in printed(capfd)


TEMPLATE_DAG = """
import pendulum
from airflow.sdk import DAG, task
from airflow_provider_lipachat.compat import object_storage_path_class
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTemplateOperator

CHART = object_storage_path_class()("s3://aws_moto@reports/charts/today.png")

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    @task
    def draw_chart():
        CHART.write_bytes(PNG)

    send = SendWhatsAppTemplateOperator(
        task_id="send", to="254711000001", template_name="daily_report", header_media_url=CHART,
        media_url_expiry=timedelta(days=30),
    )
    draw_chart() >> send
"""


def test_a_template_header_can_be_an_object_storage_path_and_the_expiry_is_capped_at_seven_days(
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    s3_server: S3Server,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from tests.media_host import PNG

    source = TEMPLATE_DAG.replace("PNG)", f"{PNG!r})").replace(
        "import pendulum", "import pendulum\nfrom datetime import timedelta"
    )
    outcome = run_dag(source)

    assert outcome.task_states == {"draw_chart": "success", "send": "success"}
    [delivery] = lipachat_emulator.deliveries()
    header = delivery["payload"]["template"]["components"]["header"]
    assert header["type"] == "IMAGE"
    assert "X-Amz-Expires=604800&" in header["mediaUrl"] and "response-content-type=image%2Fpng" in header["mediaUrl"]
    [fetch] = lipachat_emulator.media_fetches(wait_for=1)
    assert fetch.body == PNG and fetch.failure is None
    rendered = outcome.rendered_fields("send")
    assert "s3://aws_moto@reports/charts/today.png" in str(
        rendered["header_media_url"]
    )  # the path, as Airflow shows it
    assert "X-Amz" not in str(rendered)
    assert CAPPED_30_DAYS in printed(capfd)


CAPPED_30_DAYS = (
    "media_url_expiry is 2592000 s (30 days), over the 7-day limit of signed links (S3 SigV4, GCS V4); "
    "the link is signed for 604800 s, so it expires sooner than asked"
)


@pytest.mark.parametrize(("expiry", "warned"), [("timedelta(days=30)", True), ("timedelta(days=7)", False)])
def test_a_media_link_asked_for_longer_than_seven_days_is_signed_for_seven_and_the_task_log_warns(
    expiry: str,
    warned: bool,
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    s3_server: S3Server,
    capfd: pytest.CaptureFixture[str],
) -> None:
    source = report_dag().replace(
        'caption="Report {{ ds }}",', f'caption="Report {{{{ ds }}}}", media_url_expiry={expiry},'
    )
    outcome = run_dag(source.replace("import pendulum", "import pendulum\nfrom datetime import timedelta"))

    assert outcome.task_states == {"write_report": "success", "send": "success"}
    signed = {d["payload"]["mediaUrl"] for d in lipachat_emulator.deliveries()}
    assert len(signed) == 1 and "X-Amz-Expires=604800&" in signed.pop()
    logs = printed(capfd)
    assert "Signed a link to s3://aws_moto@reports/daily/" in logs and ", valid 604800 s" in logs
    assert (CAPPED_30_DAYS in logs) is warned
    assert ("over the 7-day limit" in logs) is warned


@pytest.fixture
def plain_http_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto over plain HTTP on loopback (as a local MinIO often runs), ``aws_plain`` pointing at it."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint_url = "http://{}:{}".format(*server.get_host_and_port())
    extra = {"endpoint_url": endpoint_url, "region_name": "us-east-1", "config_kwargs": {"signature_version": "s3v4"}}
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_PLAIN",
        json.dumps({"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}),
    )
    client = boto3.client(
        "s3", endpoint_url=endpoint_url, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )  # fmt: skip
    client.create_bucket(Bucket="plain")
    client.put_object(Bucket="plain", Key="report.pdf", Body=REPORT)
    clear_object_store_cache()
    try:
        yield endpoint_url
    finally:
        clear_object_store_cache()
        server.stop()


def test_a_store_on_a_plain_http_endpoint_gives_http_links_which_fail_the_task_before_any_send(
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    plain_http_s3: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """What docs/media.md tells users of a local MinIO on http:// (tests/test_docs.py checks it quotes this error)."""
    outcome = run_dag(PLAIN_HTTP_DAG)

    assert outcome.task_states == {"send": "failed"}
    assert outcome.try_numbers["send"] == 1
    assert lipachat_emulator.requests() == []
    assert (
        "media_url='s3://aws_plain@plain/report.pdf': was signed as a http:// link, and WhatsApp fetches only "
        "https:// links" in printed(capfd)
    )


PLAIN_HTTP_DAG = """
import pendulum
from datetime import timedelta
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    SendWhatsAppMediaOperator(task_id="send", to="254711000001", media_url="s3://aws_plain@plain/report.pdf",
                              retries=2, retry_delay=timedelta(seconds=0))
"""
