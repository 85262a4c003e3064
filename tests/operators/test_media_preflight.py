"""The media preflight in real DAG runs: once per task, bad links stopped before any send, no retries spent."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from airflow_provider_lipachat.emulator import Emulator
from tests.media_host import PDF, PNG, WEBP, MediaHost, TLSFiles, serve_media
from tests.support import DagRunOutcome, printed

RunDag = Callable[..., DagRunOutcome]
RECIPIENTS = ["254711000001", "254711000002", "254711000003"]

MEDIA_DAG = """
import pendulum
from datetime import timedelta
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         params={{"preflight": "{preflight}"}}) as dag:
    SendWhatsAppMediaOperator(
        task_id="send", to={to!r}, media_url={url!r}, media_type={media_type!r},
        preflight="{{{{ params.preflight }}}}", retries=2, retry_delay=timedelta(seconds=0),
    )
"""

TEMPLATE_DAG = """
import pendulum
from datetime import timedelta
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTemplateOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    SendWhatsAppTemplateOperator(
        task_id="send", to={to!r}, template_name="daily_report", header_media_url={url!r},
        body_placeholders=["today"], retries=2, retry_delay=timedelta(seconds=0),
    )
"""


def media_dag(url: str, to: object = RECIPIENTS, media_type: str | None = None, preflight: bool = True) -> str:
    return MEDIA_DAG.format(url=url, to=to, media_type=media_type, preflight=preflight)


def test_a_good_link_is_checked_once_for_a_whole_fan_out_then_sent_to_everyone(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, media_host: MediaHost
) -> None:
    url = media_host.put("/charts/today.png", PNG, "image/png")

    outcome = run_dag(media_dag(url + "?token=abc"))

    assert outcome.task_states == {"send": "success"}
    assert sorted(d["to"] for d in lipachat_emulator.deliveries()) == RECIPIENTS
    # One ranged GET from the preflight (the emulator then fetches the file per message, as WhatsApp does).
    assert media_host.ranged_requests_for("/charts/today.png") == [
        ("GET", "/charts/today.png?token=abc", "bytes=0-4095")
    ]


@pytest.mark.parametrize(
    ("hosted", "media_type", "says"),
    [
        (None, None, "answered HTTP 404"),
        ((PNG, "image/png", 403), None, "answered HTTP 403"),
        ((WEBP, "image/webp", 200), "IMAGE", "answered Content-Type image/webp (the file looks like WebP)"),
        ((PNG + b"\x00" * (6 * 1024 * 1024), "image/png", 200), None, "is 6 MB, over the 5 MB limit"),
        ((b"<html>login</html>", "image/png", 200), None, "declares image/png but its first bytes are those of HTML"),
    ],
)
def test_a_bad_link_fails_the_task_before_any_send_without_spending_retries(
    hosted: tuple[bytes, str, int] | None,
    media_type: str | None,
    says: str,
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    media_host: MediaHost,
    capfd: pytest.CaptureFixture[str],
) -> None:
    if hosted is not None:
        body, content_type, status = hosted
        media_host.put("/charts/today.png", body, content_type, status=status)

    url = media_host.base_url + "/charts/today.png?X-Amz-Signature=s3cr3t"
    outcome = run_dag(media_dag(url, media_type=media_type))

    assert outcome.task_states == {"send": "failed"}
    assert outcome.try_numbers == {"send": 1}
    assert lipachat_emulator.requests() == []
    assert len(media_host.requests_for("/charts/today.png")) == 1
    logs = printed(capfd)
    assert f"media_url='{media_host.base_url}/charts/today.png?***': {says}" in logs
    assert "s3cr3t" not in logs


def test_preflight_off_sends_without_asking_the_link(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, media_host: MediaHost
) -> None:
    outcome = run_dag(media_dag(media_host.base_url + "/missing.png", to="254711000001", preflight=False))

    assert outcome.task_states == {"send": "success"}
    assert len(lipachat_emulator.deliveries()) == 1
    assert media_host.ranged_requests_for("/missing.png") == []  # the preflight never asked


def test_an_unreachable_link_is_a_warning_and_the_send_goes_on(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    outcome = run_dag(media_dag("https://files.example.com/report.pdf?sig=s3cr3t", to="254711000001"))

    assert outcome.task_states == {"send": "success"}
    assert len(lipachat_emulator.deliveries()) == 1
    logs = printed(capfd)
    assert "media_url https://files.example.com/report.pdf?*** could not be reached" in logs
    assert "s3cr3t" not in logs


def test_the_template_header_is_checked_and_named_as_its_own_field(
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    media_host: MediaHost,
    capfd: pytest.CaptureFixture[str],
) -> None:
    good = media_host.put("/report.pdf", PDF, "application/pdf")
    assert run_dag(TEMPLATE_DAG.format(to=RECIPIENTS, url=good)).task_states == {"send": "success"}
    assert len(lipachat_emulator.deliveries()) == 3
    assert len(media_host.ranged_requests_for("/report.pdf")) == 1

    lipachat_emulator.reset()
    bad = media_host.put("/wrong.pdf", PDF, "text/html")
    outcome = run_dag(TEMPLATE_DAG.format(to=RECIPIENTS, url=bad))

    assert outcome.task_states == {"send": "failed"}
    assert outcome.try_numbers == {"send": 1}
    assert lipachat_emulator.requests() == []
    assert "header_media_url='" + bad + "': answered Content-Type text/html" in printed(capfd)


STORY_DAG = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator
from airflow_provider_lipachat.sensors.lipachat import WhatsAppDeliverySensor

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    send = SendWhatsAppMediaOperator(task_id="send", to="254711000001", media_url={url!r}, preflight={preflight})
    wait = WhatsAppDeliverySensor(task_id="wait", wa_ids="{{{{ ti.xcom_pull('send') }}}}", poke_interval=0.2,
                                  timeout=20)
    send >> wait
"""


def test_the_whole_story_of_an_expired_link_caught_by_preflight_or_reported_later_by_the_sensor(
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    media_host: MediaHost,
    capfd: pytest.CaptureFixture[str],
) -> None:
    lipachat_emulator.script_status("delivered", delivered_after=1.0)
    url = media_host.put("/expired.png", PNG, "image/png", status=403)

    caught = run_dag(STORY_DAG.format(url=url, preflight=True))
    assert caught.task_states == {"send": "failed", "wait": "upstream_failed"}
    assert lipachat_emulator.requests() == []

    reported = run_dag(STORY_DAG.format(url=url, preflight=False))
    assert reported.task_states == {"send": "success", "wait": "failed"}
    [delivery] = lipachat_emulator.deliveries()
    assert reported.xcom("send") == delivery["waId"]  # the gateway answered SENT
    [fetch] = lipachat_emulator.media_fetches(wait_for=1)
    assert fetch.wa_id == delivery["waId"] and fetch.failure is not None and "HTTP 403" in fetch.failure
    assert "2547******01: FAILED, WhatsApp error 131053" in printed(capfd)


def test_a_host_whose_certificate_is_not_trusted_is_a_preflight_warning_then_whatsapp_s_fetch_fails_it(
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    tls_files: TLSFiles,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """As docs/media.md says of a private CA not in REQUESTS_CA_BUNDLE (worker and emulator alike)."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    lipachat_emulator.script_status("delivered", delivered_after=1.0)
    with serve_media(tls_files) as host:
        url = host.put("/report.pdf", PDF, "application/pdf")
        outcome = run_dag(STORY_DAG.format(url=url, preflight=True))
        [fetch] = lipachat_emulator.media_fetches(wait_for=1)

    assert outcome.task_states == {"send": "success", "wait": "failed"}
    assert fetch.failure == "could not be reached (SSLError)"
    logs = printed(capfd)
    assert f"Preflight: media_url {url} could not be reached (SSLError); sending anyway" in logs
    assert "2547******01: FAILED, WhatsApp error 131053" in logs
