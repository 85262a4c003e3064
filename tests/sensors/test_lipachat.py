"""WhatsAppDeliverySensor in real DAG runs: send, then wait, against the emulator's status lifecycles."""

from __future__ import annotations

import re
from collections.abc import Callable
from unittest.mock import ANY

import pytest

from airflow_provider_lipachat.compat import AirflowFailException, AirflowSensorTimeout
from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.hooks.lipachat import LipaChatHook
from airflow_provider_lipachat.sensors.lipachat import WhatsAppDeliverySensor, WhatsAppReplySensor, timeout_message
from tests.support import (
    RESCHEDULE_TIMEOUT_BROKEN,
    DagRunOutcome,
    airflow_defect,
    connection_json,
    printed,
    sensor_timeout,
)

RunDag = Callable[..., DagRunOutcome]
ALICE, BOB = "254700000001", "254700000002"

SEND_AND_WAIT = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator
from airflow_provider_lipachat.hooks.lipachat import LipaChatHook
from airflow_provider_lipachat.sensors.lipachat import WhatsAppDeliverySensor, WhatsAppReplySensor

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    send = SendWhatsAppTextOperator(task_id="send", to=TO, message="The weekly report is out")
    wait = WhatsAppDeliverySensor(
        task_id="wait", wa_ids="{{ ti.xcom_pull('send') }}", wait_for=WAIT_FOR, poke_interval=0.2,
        timeout=TIMEOUT, mode=MODE, deferrable=DEFERRABLE, max_failed=MAX_FAILED, soft_fail=SOFT_FAIL,
    )
    send >> wait
"""


def send_and_wait(
    to: object = (ALICE, BOB),
    wait_for: str = "delivered",
    deferrable: bool = False,
    mode: str = "poke",
    timeout: float = 20,
    max_failed: int = 0,
    soft_fail: bool = False,
) -> str:
    values = {
        "TO": repr(list(to)) if isinstance(to, tuple) else repr(to),
        "WAIT_FOR": repr(wait_for),
        "TIMEOUT": repr(timeout),
        "MODE": repr(mode),
        "DEFERRABLE": repr(deferrable),
        "MAX_FAILED": repr(max_failed),
        "SOFT_FAIL": repr(soft_fail),
    }
    source = SEND_AND_WAIT
    for name, value in values.items():
        source = source.replace(name, value)
    return source


def statuses_by_recipient(outcome: DagRunOutcome) -> dict[str, str | None]:
    return {label: s["status"] for label, s in outcome.xcom("wait").items()}


def list_scans(emulator: Emulator) -> int:
    return sum(1 for r in emulator.requests() if r["path"].startswith("/api/v1/whatsapp/message?"))


FAST = {"delivered_after": 0.3, "read_after": 0.6}
#: What poke and reschedule modes add to the timeout a trigger gives: how long the sensor ran, past a 1.5 s timeout.
RAN_PAST_TIMEOUT = r" \(the sensor ran [0-9]+\.[0-9] s, past its timeout of 1\.5 s\)"


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferred"])
class TestLifecycles:
    def test_delivered_messages_end_the_wait_and_their_statuses_go_to_xcom(
        self, run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, deferrable: bool
    ) -> None:
        # Well after the first poke, even where a loaded machine takes seconds to start the sensor's task.
        lipachat_emulator.script_status("delivered", delivered_after=6.0)
        outcome = run_dag(send_and_wait(deferrable=deferrable))
        assert outcome.task_states == {"send": "success", "wait": "success"}
        assert statuses_by_recipient(outcome) == {ALICE: "DELIVERED", BOB: "DELIVERED"}
        sent = {d["to"]: d["waId"] for d in lipachat_emulator.deliveries()}
        assert {k: v["wa_id"] for k, v in outcome.xcom("wait").items()} == sent
        assert list_scans(lipachat_emulator) >= 2  # it really waited: the first look saw SENT

    def test_waiting_for_read_outlasts_delivered(
        self, run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, deferrable: bool
    ) -> None:
        lipachat_emulator.script_status("read", **FAST)
        outcome = run_dag(send_and_wait(wait_for="read", deferrable=deferrable))
        assert outcome.task_states["wait"] == "success"
        assert statuses_by_recipient(outcome) == {ALICE: "READ", BOB: "READ"}

    def test_read_without_delivered_counts_as_delivered(
        self, run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, deferrable: bool
    ) -> None:
        lipachat_emulator.script_status("read_without_delivered", **FAST)
        outcome = run_dag(send_and_wait(wait_for="delivered", deferrable=deferrable))
        assert outcome.task_states["wait"] == "success"
        assert statuses_by_recipient(outcome) == {ALICE: "READ", BOB: "READ"}

    def test_one_failed_message_fails_the_wait(
        self, run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, deferrable: bool
    ) -> None:
        lipachat_emulator.script_status("delivered", **FAST)
        lipachat_emulator.script_status("failed", to=BOB, code=131053, delivered_after=0.3)
        outcome = run_dag(send_and_wait(deferrable=deferrable))
        assert outcome.task_states == {"send": "success", "wait": "failed"}
        # Pushed before failing, named by recipient (deferred: by the worker's look, the event names no one).
        pushed = outcome.xcom("wait")
        assert set(pushed) == {ALICE, BOB}
        assert (pushed[BOB]["status"], pushed[BOB]["error_code"], pushed[BOB]["recipient"]) == ("FAILED", 131053, BOB)

    def test_accepted_failures_let_the_wait_succeed(
        self, run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, deferrable: bool
    ) -> None:
        lipachat_emulator.script_status("delivered", **FAST)
        lipachat_emulator.script_status("failed", to=BOB, delivered_after=0.3)
        outcome = run_dag(send_and_wait(deferrable=deferrable, max_failed=1))
        assert outcome.task_states["wait"] == "success"
        assert statuses_by_recipient(outcome) == {ALICE: "DELIVERED", BOB: "FAILED"}
        assert outcome.xcom("wait")[BOB]["error_code"] == 131026

    def test_never_delivered_times_out_naming_who_is_pending(
        self,
        run_dag: RunDag,
        lipachat_emulator: Emulator,
        lipachat_conn: str,
        deferrable: bool,
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        lipachat_emulator.script_status("never_delivered")
        outcome = run_dag(send_and_wait(deferrable=deferrable, timeout=1.5))
        assert outcome.task_states["wait"] == "failed"
        pending = (
            "timed out waiting for delivered from 2 message(s): "
            "2547******01: SENT, not yet DELIVERED; 2547******02: SENT, not yet DELIVERED"
        )
        said = sensor_timeout(capfd)
        assert re.fullmatch(re.escape(pending) + ("" if deferrable else RAN_PAST_TIMEOUT), said), said
        assert statuses_by_recipient(outcome) == {ALICE: "SENT", BOB: "SENT"}  # pushed before failing

    def test_soft_fail_skips_instead_of_failing(
        self, run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, deferrable: bool
    ) -> None:
        lipachat_emulator.script_status("failed", delivered_after=0.2)
        outcome = run_dag(send_and_wait(deferrable=deferrable, soft_fail=True))
        assert outcome.task_states["wait"] == "skipped"


def test_reschedule_mode_waits_across_reschedules(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    lipachat_emulator.script_status("delivered", delivered_after=0.5)
    outcome = run_dag(send_and_wait(to="254700000001", mode="reschedule"))
    assert outcome.task_states["wait"] == "success"
    (wa_id,) = (d["waId"] for d in lipachat_emulator.deliveries())
    # A lone waId is named by the recipient the message list reports for it.
    assert outcome.xcom("wait") == {ALICE: {**outcome.xcom("wait")[ALICE], "status": "DELIVERED", "wa_id": wa_id}}


def test_out_of_order_updates_never_move_a_read_message_back(lipachat_emulator: Emulator, lipachat_conn: str) -> None:
    """READ arrives first, then the older DELIVERED: once seen, READ stays (poked directly, twice)."""
    from airflow_provider_lipachat.hooks.lipachat import LipaChatHook

    lipachat_emulator.script_status("out_of_order", delivered_after=0.0, read_after=0.4)
    wa_id = LipaChatHook().send_text(ALICE, "hi").wa_id
    sensor = WhatsAppDeliverySensor(task_id="wait", wa_ids={ALICE: wa_id}, wait_for="read")
    first = sensor.poke({})  # type: ignore[arg-type]  # poke reads nothing from the context
    import time

    time.sleep(0.5)
    second = sensor.poke({})  # type: ignore[arg-type]
    assert first.is_done and second.is_done
    assert lipachat_emulator.state.message_page(0, 100)["data"][0]["status"] == "DELIVERED"
    assert second.xcom_value[ALICE]["status"] == "READ"


def test_a_failure_names_the_masked_recipient_the_status_and_the_code_in_words(
    lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    from airflow_provider_lipachat.hooks.lipachat import LipaChatHook

    lipachat_emulator.script_status("failed", code=131047, delivered_after=0.0)
    wa_id = LipaChatHook().send_text(BOB, "hi").wa_id
    sensor = WhatsAppDeliverySensor(task_id="wait", wa_ids=f"{{'{BOB}': '{wa_id}'}}")
    with pytest.raises(AirflowFailException) as failure:
        sensor.poke({})  # type: ignore[arg-type]
    message = str(failure.value)
    assert "2547******02: FAILED, WhatsApp error 131047 (outside the 24-hour window" in message
    assert BOB not in message


def test_a_timeout_event_names_who_is_still_pending_even_when_the_last_look_cannot_read_the_list(
    lipachat_emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # The worker's look before failing meets a refused key: it only leaves the statuses out.
    monkeypatch.setenv("AIRFLOW_CONN_LIPACHAT_DEFAULT", connection_json(lipachat_emulator.base_url, "wrong-key-77"))
    sensor = WhatsAppDeliverySensor(task_id="wait", wa_ids={ALICE: "wamid.A"})
    event = {"status": "timeout", "message": "timed out waiting for delivered from 1 message(s): 2547******01"}
    with caplog.at_level("WARNING"), pytest.raises(AirflowSensorTimeout, match=r"2547\*\*\*\*\*\*01"):
        sensor.execute_complete({}, event)  # type: ignore[arg-type]  # nothing known: no push, no ti needed
    log = caplog.text + printed(capfd)  # standard logging on Airflow 2.11 and 3.0, structlog's output after
    assert "Could not read what is known before failing: AirflowFailException: could not read delivery status" in log
    assert "wrong-key-77" not in log


def test_a_success_event_is_turned_into_statuses_named_by_recipient_in_one_look_on_the_worker(
    lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    """The event names no one; the worker's look does, and never moves a message back from what the trigger saw.

    The emulator reports READ first and the older DELIVERED after it, so the look on the worker finds the
    message DELIVERED: only the trigger's READ, carried in the event by waId, keeps the wait done.
    """
    import json
    import time

    from airflow_provider_lipachat.hooks.lipachat import LipaChatHook
    from airflow_provider_lipachat.triggers.lipachat import WhatsAppDeliveryTrigger
    from tests.triggers.test_lipachat import first_event

    lipachat_emulator.script_status("out_of_order", delivered_after=0.0, read_after=3.0)
    wa_id = LipaChatHook().send_text(ALICE, "hi").wa_id
    event = first_event(WhatsAppDeliveryTrigger(wa_ids={wa_id: wa_id}, wait_for="read", deadline=time.time() + 20))
    assert event["status"] == "success" and ALICE not in json.dumps(event)
    deadline = time.monotonic() + 10
    while lipachat_emulator.state.message_page(0, 100)["data"][0]["status"] != "DELIVERED":
        assert time.monotonic() < deadline, "the emulator never reported the older DELIVERED"
        time.sleep(0.1)

    sensor = WhatsAppDeliverySensor(task_id="wait", wa_ids=wa_id, wait_for="read")  # a lone waId, as a send returns
    final = sensor.execute_complete({}, event)  # type: ignore[arg-type]  # success pushes nothing itself

    assert final == {
        ALICE: {"wa_id": wa_id, "status": "READ", "recipient": ALICE, "error_code": None, "updated_at": ANY}
    }


def test_wa_ids_that_are_not_ids_fail_before_any_request(lipachat_emulator: Emulator, lipachat_conn: str) -> None:
    sensor = WhatsAppDeliverySensor(task_id="wait", wa_ids="{'254700000001': ")
    with pytest.raises(AirflowFailException, match="wa_ids"):
        sensor.poke({})  # type: ignore[arg-type]
    assert lipachat_emulator.requests() == []


def test_wait_for_must_be_delivered_or_read() -> None:
    with pytest.raises(ValueError, match="wait_for.*'delivered', 'read'"):
        WhatsAppDeliverySensor(task_id="wait", wa_ids="wamid.A", wait_for="sent")


@airflow_defect(
    RESCHEDULE_TIMEOUT_BROKEN,
    "Airflow 3.0 (seen in dag.test()): its base sensor subtracts a reschedule start date it got as "
    "text, so the task fails with a TypeError instead of timing out",
)
def test_reschedule_mode_times_out_naming_who_is_pending(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    lipachat_emulator.script_status("never_delivered")
    outcome = run_dag(send_and_wait(to="254700000001", mode="reschedule", timeout=1.5))
    assert outcome.task_states["wait"] == "failed"
    # One recipient's send returns a bare waId; the message list names its recipient, and its status.
    pending = "timed out waiting for delivered from 1 message(s): 2547******01: SENT, not yet DELIVERED"
    said = sensor_timeout(capfd)
    assert re.fullmatch(re.escape(pending) + RAN_PAST_TIMEOUT, said), said
    assert outcome.xcom("wait")[ALICE]["status"] == "SENT"  # pushed before failing


def test_deferrable_defaults_to_airflow_s_configured_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert WhatsAppDeliverySensor(task_id="wait", wa_ids="wamid.A").deferrable is False
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert WhatsAppDeliverySensor(task_id="wait", wa_ids="wamid.A").deferrable is True
    assert WhatsAppReplySensor(task_id="wait", wa_ids="wamid.A").deferrable is True
    assert WhatsAppReplySensor(task_id="wait", wa_ids="wamid.A", deferrable=False).deferrable is False


def test_a_sensor_keeps_one_hook_across_its_looks(lipachat_emulator: Emulator, lipachat_conn: str) -> None:
    lipachat_emulator.script_status("never_delivered")
    sent = LipaChatHook().send_text(ALICE, "hello")
    sensor = WhatsAppDeliverySensor(task_id="wait", wa_ids=sent.wa_id)
    hooks = set()
    for _ in range(3):
        assert not sensor.poke({}).is_done  # type: ignore[arg-type]  # the delivery sensor reads no context
        hooks.add(id(sensor.hook))
    assert len(hooks) == 1


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (  # Airflow 2.11's BaseSensorOperator and the Task SDK's (3.x) word it alike
            "Sensor has timed out; run duration of 20.0132 seconds exceeds the specified timeout of 20.0.",
            "timed out waiting for read from 1 message(s): 2547******01: DELIVERED, not yet READ "
            "(the sensor ran 20.0 s, past its timeout of 20 s)",
        ),
        (  # a wording without the duration still gives one sentence
            "Sensor timed out.",
            "timed out waiting for read from 1 message(s): 2547******01: DELIVERED, not yet READ "
            "(the sensor ran past its timeout of 20 s)",
        ),
    ],
)
def test_the_poke_and_reschedule_timeout_is_one_sentence_whatever_the_base_class_says(base: str, expected: str) -> None:
    pending = "timed out waiting for read from 1 message(s): 2547******01: DELIVERED, not yet READ"
    assert timeout_message(pending, base, 20.0) == expected
