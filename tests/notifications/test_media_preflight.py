"""LipaChatNotifier with media: the link is checked once before any recipient is sent to."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from airflow_provider_lipachat.emulator import Emulator
from tests.media_host import PNG, MediaHost
from tests.s3_server import S3Server
from tests.support import DagRunOutcome, printed

RunDag = Callable[..., DagRunOutcome]

CALLBACK_DAG = """
import pendulum
from airflow.sdk import DAG, task
from airflow_provider_lipachat.notifications.lipachat import LipaChatNotifier

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    @task(on_success_callback=LipaChatNotifier(
        to=["254711000001", "254711000002"], media_url="{url}", caption="Chart for {{{{ ds }}}}"))
    def chart():
        return "done"

    chart()
"""


def test_a_good_link_is_asked_once_and_every_recipient_gets_the_media(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, media_host: MediaHost
) -> None:
    url = media_host.put("/chart.png", PNG, "image/png")

    outcome = run_dag(CALLBACK_DAG.format(url=url))

    assert outcome.task_states == {"chart": "success"}
    assert sorted(d["to"] for d in lipachat_emulator.deliveries()) == ["254711000001", "254711000002"]
    assert len(media_host.ranged_requests_for("/chart.png")) == 1


def test_a_bad_link_sends_to_nobody_and_the_log_says_why(
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    media_host: MediaHost,
    capfd: pytest.CaptureFixture[str],
) -> None:
    url = media_host.put("/chart.png", PNG, "image/png", status=403)

    outcome = run_dag(CALLBACK_DAG.format(url=url + "?Signature=s3cr3t"))

    assert outcome.task_states == {"chart": "success"}  # a callback's failure does not fail the task
    assert lipachat_emulator.requests() == []
    logs = printed(capfd)
    assert f"media_url='{url}?***': answered HTTP 403" in logs
    assert "s3cr3t" not in logs


def test_a_callback_can_send_a_chart_from_object_storage_as_a_signed_link(
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    s3_server: S3Server,
    capfd: pytest.CaptureFixture[str],
) -> None:
    outcome = run_dag(
        f"""
        import pendulum
        from airflow.sdk import DAG, task
        from airflow_provider_lipachat.compat import object_storage_path_class
        from airflow_provider_lipachat.notifications.lipachat import LipaChatNotifier

        with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
            @task(on_success_callback=LipaChatNotifier(
                to="254711000001", media_url="s3://aws_moto@reports/charts/{{{{ ds }}}}.png",
                media_url_expiry=8 * 24 * 60 * 60))
            def chart(ds=None):
                object_storage_path_class()(f"s3://aws_moto@reports/charts/{{ds}}.png").write_bytes({PNG!r})

            chart()
        """,
        logical_date="2024-03-05T00:00:00+00:00",
    )

    assert outcome.task_states == {"chart": "success"}
    [delivery] = lipachat_emulator.deliveries()
    assert delivery["payload"]["mediaType"] == "IMAGE"
    assert "/reports/charts/2024-03-05.png?" in delivery["payload"]["mediaUrl"]
    assert "X-Amz-Expires=604800&" in delivery["payload"]["mediaUrl"]
    [fetch] = lipachat_emulator.media_fetches(wait_for=1)
    assert fetch.body == PNG and fetch.failure is None
    assert "media_url_expiry is 691200 s (8 days), over the 7-day limit of signed links" in printed(capfd)
