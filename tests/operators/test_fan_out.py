"""One task, many recipients: real DAG runs against the emulator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from airflow_provider_lipachat.emulator import Emulator, busiest_window
from airflow_provider_lipachat.operators.lipachat import default_message_id
from tests.support import HAS_TASK_STATE_STORE, DagRunOutcome, connection_json, printed

RunDag = Callable[..., DagRunOutcome]
FIFTY = [f"2547000000{n:02d}" for n in range(50)]

LIST_DAG = """
import pendulum
from datetime import timedelta
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         params={"recipients": RECIPIENTS}) as dag:
    SendWhatsAppMediaOperator(
        task_id="send", to=TO, media_url="https://x.example/weekly.pdf", caption="Weekly report",
        retries=RETRIES, retry_delay=timedelta(seconds=0), max_concurrency=8,
    )
"""


def list_dag(to: str, recipients: list[str] | None = None, retries: int = 0) -> str:
    return LIST_DAG.replace("RECIPIENTS", repr(recipients or [])).replace("TO", to).replace("RETRIES", str(retries))


def test_a_templated_list_is_sent_concurrently_one_message_each(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    recipients = [*FIFTY, "+254 700 000 001"]  # the last equals an earlier one after normalisation
    outcome = run_dag(list_dag('"{{ params.recipients }}"', recipients))

    assert outcome.task_states == {"send": "success"}
    deliveries = lipachat_emulator.deliveries()
    assert sorted(d["to"] for d in deliveries) == FIFTY
    returned = outcome.xcom("send")
    assert returned == {d["to"]: d["waId"] for d in deliveries}
    ids = outcome.xcom("send", key="message_id")
    assert ids == {n: default_message_id(outcome.dag_id, "send", outcome.run_id, -1, n) for n in FIFTY}
    assert {d["messageId"] for d in deliveries} == set(ids.values())


def test_a_string_of_numbers_separated_by_commas_and_newlines(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    outcome = run_dag(list_dag('"254700000001, 254700000002\\n+254 700 000 003"'))
    assert outcome.task_states == {"send": "success"}
    assert sorted(outcome.xcom("send")) == ["254700000001", "254700000002", "254700000003"]


def test_a_retry_after_partial_failure_sends_only_to_the_undelivered(
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    value = connection_json(lipachat_emulator.base_url, lipachat_emulator.api_key, max_retries=1, timeout=5)
    monkeypatch.setenv("AIRFLOW_CONN_LIPACHAT_DEFAULT", value)
    failing = FIFTY[10:13]
    for number in failing:  # both attempts of try 1 answer 503; try 2 goes through
        lipachat_emulator.add_fault("status", status=503, count=2, to=number)

    outcome = run_dag(list_dag(repr(FIFTY), retries=1))

    assert outcome.task_states == {"send": "success"}
    assert outcome.try_numbers == {"send": 2}
    requests = lipachat_emulator.requests()
    first_try, second_try = requests[: 47 + 6], requests[47 + 6 :]
    assert sorted(r["outcome"] for r in first_try) == ["delivered"] * 47 + ["fault:status"] * 6
    new_deliveries = sorted(r["to"] for r in second_try if r["outcome"] == "delivered")
    assert new_deliveries == failing  # exactly 3 new deliveries
    log = printed(capfd)
    # Each client retry warning names the (masked) recipient it is about.
    warnings = sorted(
        r.getMessage() for r in caplog.records if r.name == "airflow_provider_lipachat.gateway.async_sender"
    )
    assert len(warnings) == 3 and all("attempt 1 of 2 failed (HTTP 503)" in w for w in warnings), warnings
    assert [w.split(": attempt")[0][-12:] for w in warnings] == ["2547******10", "2547******11", "2547******12"]
    if HAS_TASK_STATE_STORE:  # and no request at all for the 47 already delivered
        assert len(second_try) == 3
        assert "Sending to 3 of 50 recipient(s) (47 already delivered on an earlier try)" in log
    else:  # the 47 are re-sent with their ids and answered from the gateway's dedup
        assert sorted(r["outcome"] for r in second_try) == ["delivered"] * 3 + ["replayed"] * 47
    assert len(lipachat_emulator.deliveries()) == 50
    assert outcome.xcom("send") == {d["to"]: d["waId"] for d in lipachat_emulator.deliveries()}


def test_permanent_failures_fail_once_listing_each_recipient_after_pushing_the_rest(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    lipachat_emulator.add_fault("status", status=422, to=FIFTY[5])
    lipachat_emulator.add_fault("status", status=404, to=FIFTY[6])

    outcome = run_dag(list_dag(repr(FIFTY), retries=2))

    assert outcome.task_states == {"send": "failed"}
    assert outcome.try_numbers == {"send": 1}
    assert len(lipachat_emulator.requests()) == 50
    pushed = outcome.xcom("send")
    assert sorted(pushed) == sorted(set(FIFTY) - {FIFTY[5], FIFTY[6]})
    output = printed(capfd)
    assert "2 of 50 recipient(s) not sent to (48 delivered, pushed to XCom;" in output
    assert "1 recipient(s) (2547******05): LipaChatRequestError: gateway rejected the message (HTTP 422)" in output
    assert "1 recipient(s) (2547******06): LipaChatRequestError: gateway rejected the message (HTTP 404)" in output
    failed = outcome.xcom("send", key="failed")
    assert sorted(failed) == [FIFTY[5], FIFTY[6]]
    assert "HTTP 422" in failed[FIFTY[5]]


def test_a_bad_number_in_the_list_fails_before_any_request(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    # Rendered from a param: a literal list in the DAG file is refused earlier still, when it is parsed.
    outcome = run_dag(list_dag('"{{ params.recipients }}"', [*FIFTY[:3], "0712345678"], retries=2))
    assert outcome.task_states == {"send": "failed"}
    assert outcome.try_numbers == {"send": 1}
    assert lipachat_emulator.requests() == []
    output = printed(capfd)
    assert "to='0712****78': looks like a national number" in output


def test_the_connection_rate_limit_holds_across_workers(
    run_dag: RunDag, lipachat_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # JSON extras often carry floats: 10.0 is simply 10 per second.
    value = connection_json(lipachat_emulator.base_url, lipachat_emulator.api_key, rate_limit=10.0)
    monkeypatch.setenv("AIRFLOW_CONN_LIPACHAT_DEFAULT", value)
    outcome = run_dag(list_dag(repr(FIFTY[:30])))
    assert outcome.task_states == {"send": "success"}
    received = [datetime.fromisoformat(r["received_at"][:26]).timestamp() for r in lipachat_emulator.requests()]
    assert len(received) == 30
    assert busiest_window(received) <= 10
    assert max(received) - min(received) >= 2.0


def test_large_lists_log_progress_not_a_line_per_message(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    many = [f"25471{n:07d}" for n in range(150)]
    outcome = run_dag(list_dag(repr(many)))
    assert outcome.task_states == {"send": "success"}
    output = capfd.readouterr().out
    assert "LipaChat fan-out: 150/150 done (150 sent, 0 failed)" in output
    assert "Delivered to all 150 recipient(s)" in output
    assert "Delivered to 2547" not in output


COLLECTOR_DAG = """
import gc
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

SEEN = []


class RecordingCollector(SendWhatsAppTextOperator):
    async def asend_one(self, sender, outgoing, recipient, message_id):
        # get_freeze_count walks the frozen heap (tens of ms): asked once, not on every send.
        SEEN.append((gc.isenabled(), SEEN[0][1] if SEEN else gc.get_freeze_count() > 0))
        return await super().asend_one(sender, outgoing, recipient, message_id)

    def execute(self, context):
        result = super().execute(context)
        print(f"collector inside the sends: {sorted(set(SEEN))} over {len(SEEN)} sends")
        return result


with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    RecordingCollector(task_id="send", to=FIFTY, message="Weekly report")
"""


def test_during_a_fan_out_automatic_collection_is_off_and_the_heap_frozen_and_after_it_as_before(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    import gc

    assert gc.isenabled()
    outcome = run_dag(COLLECTOR_DAG.replace("FIFTY", repr(FIFTY)))

    assert outcome.task_states == {"send": "success"}
    assert len(lipachat_emulator.deliveries()) == len(FIFTY)
    # Inside the sends (isenabled, frozen): no automatic pass (they came irregularly and long), the heap from
    # before frozen out of the steady passes.
    assert f"collector inside the sends: [(False, True)] over {len(FIFTY)} sends" in printed(capfd)
    assert gc.isenabled() and gc.get_freeze_count() == 0
