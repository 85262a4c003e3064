"""WhatsAppDeliverySensor fed what a send hands over, in real DAG runs: a mapped send's ``send.output``,
a mapped fan-out's mappings, a branch that skipped a send; and what a failed or timed-out wait tells.

Statuses come from the emulator's scripted lifecycles; every run is a ``dag.test()`` of a DAG file
written as a user writes one.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from airflow_provider_lipachat.emulator import Emulator
from tests.media_host import PNG, MediaHost
from tests.support import AIRFLOW_V3, RESCHEDULE_TIMEOUT_BROKEN, DagRunOutcome, airflow_defect, printed

RunDag = Callable[..., DagRunOutcome]
ALICE, BOB, CAROL = "254700000001", "254700000002", "254700000003"
MASKED = {ALICE: "2547******01", BOB: "2547******02", CAROL: "2547******03"}

MAPPED_MEDIA = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator
from airflow_provider_lipachat.sensors.lipachat import WhatsAppDeliverySensor

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    send = SendWhatsAppMediaOperator.partial(
        task_id="send", media_url=URL, media_type="IMAGE", caption="Today's chart"
    ).expand(to=TO)
    WhatsAppDeliverySensor(task_id="wait", wa_ids=send.output, poke_interval=0.2, timeout=30, deferrable=DEFERRABLE)
"""

MAPPED_TEXT_AND_ESCALATE = """
import pendulum
from airflow.sdk import DAG, task
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator
from airflow_provider_lipachat.sensors.lipachat import WhatsAppDeliverySensor

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    send = SendWhatsAppTextOperator.partial(task_id="send", message="The weekly report is out").expand(to=TO)
    wait = WhatsAppDeliverySensor(
        task_id="wait", wa_ids=send.output, wait_for=WAIT_FOR, poke_interval=0.2, timeout=TIMEOUT,
        mode=MODE, deferrable=DEFERRABLE,
    )

    @task(trigger_rule="one_failed")
    def escalate(statuses):
        return {recipient: status["status"] for recipient, status in statuses.items()}

    escalate(wait.output)
"""


def dag_source(template: str, **values: object) -> str:
    """The DAG template with each upper-case placeholder replaced by a value's repr."""
    for name, value in values.items():
        template = template.replace(name.upper(), repr(value))
    return template


def statuses(outcome: DagRunOutcome, task_id: str = "wait") -> dict[str, str | None]:
    return {name: s["status"] for name, s in outcome.xcom(task_id).items()}


def sent_wa_ids(emulator: Emulator) -> dict[str, str]:
    return {d["to"]: d["waId"] for d in emulator.deliveries()}


def list_scans(emulator: Emulator) -> int:
    return sum(1 for r in emulator.requests() if r["path"].startswith("/api/v1/whatsapp/message?"))


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferred"])
def test_a_mapped_sends_output_is_waited_on_and_named_by_recipient(
    deferrable: bool,
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    media_host: MediaHost,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """``.partial().expand(to=[...])``: each map index returns a bare waId; ``send.output`` is their lazy sequence."""
    url = media_host.put("/charts/today.png", PNG, "image/png")
    # Well after the first look, so the wait really waits (and logs its progress) before the messages arrive.
    lipachat_emulator.script_status("delivered", delivered_after=4.0)

    outcome = run_dag(dag_source(MAPPED_MEDIA, url=url, to=[ALICE, BOB], deferrable=deferrable))

    assert outcome.task_states == {"send[0]": "success", "send[1]": "success", "wait": "success"}
    assert statuses(outcome) == {ALICE: "DELIVERED", BOB: "DELIVERED"}
    assert {name: s["wa_id"] for name, s in outcome.xcom("wait").items()} == sent_wa_ids(lipachat_emulator)
    assert list_scans(lipachat_emulator) >= 2
    log = printed(capfd)
    assert f"Waiting for delivered from {MASKED[ALICE]}, {MASKED[BOB]}" in log
    assert "Waiting for delivered from wamid" not in log
    assert "LazyXComSequence" not in log and "LazyXComSelectSequence" not in log


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferred"])
def test_a_mapped_fan_outs_mappings_are_merged_and_named_by_recipient(
    deferrable: bool, run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    """``.expand(to=[[a, b], [c]])``: each map index returns a ``{recipient: waId}`` mapping."""
    lipachat_emulator.script_status("read", delivered_after=2.0, read_after=2.5)
    source = dag_source(
        MAPPED_TEXT_AND_ESCALATE, to=[[ALICE, BOB], [CAROL]], wait_for="read", timeout=30, mode="poke"
    ).replace("DEFERRABLE", repr(deferrable))

    outcome = run_dag(source)

    assert outcome.task_states == {"send[0]": "success", "send[1]": "success", "wait": "success", "escalate": "skipped"}
    assert statuses(outcome) == {ALICE: "READ", BOB: "READ", CAROL: "READ"}
    assert {name: s["wa_id"] for name, s in outcome.xcom("wait").items()} == sent_wa_ids(lipachat_emulator)
    assert outcome.xcom("send", map_index=0).keys() == {ALICE, BOB}  # it really was a mapping per map index


@pytest.mark.parametrize(
    ("mode", "deferrable"),
    [("poke", False), ("reschedule", False), ("poke", True)],
    ids=["poke", "reschedule", "deferred"],
)
def test_a_failed_wait_pushes_who_failed_and_who_was_delivered_for_the_escalation(
    mode: str,
    deferrable: bool,
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    lipachat_emulator.script_status("delivered", delivered_after=0.0)
    lipachat_emulator.script_status("failed", to=BOB, code=131026, delivered_after=0.5)
    source = dag_source(MAPPED_TEXT_AND_ESCALATE, to=[ALICE, BOB], wait_for="delivered", timeout=30, mode=mode)

    outcome = run_dag(source.replace("DEFERRABLE", repr(deferrable)))

    assert outcome.task_states["wait"] == "failed"
    assert outcome.task_states["escalate"] == "success"
    # What the escalation task read from the failed wait's XCom, named by recipient.
    assert outcome.xcom("escalate") == {ALICE: "DELIVERED", BOB: "FAILED"}
    assert outcome.xcom("wait")[BOB]["error_code"] == 131026
    assert outcome.xcom("wait")[BOB]["wa_id"] == sent_wa_ids(lipachat_emulator)[BOB]
    assert f"not delivered: {MASKED[BOB]}: FAILED, WhatsApp error 131026" in printed(capfd)


def _timeout_on_read(
    mode: str, deferrable: bool, run_dag: RunDag, emulator: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    emulator.script_status("delivered", delivered_after=0.0)  # delivered, never read
    source = dag_source(MAPPED_TEXT_AND_ESCALATE, to=[ALICE, BOB], wait_for="read", timeout=1.5, mode=mode)

    outcome = run_dag(source.replace("DEFERRABLE", repr(deferrable)))

    assert outcome.task_states["wait"] == "failed"
    log = printed(capfd)
    assert (
        f"timed out waiting for read from 2 message(s): {MASKED[ALICE]}: DELIVERED, not yet READ; "
        f"{MASKED[BOB]}: DELIVERED, not yet READ"
    ) in log
    assert outcome.task_states["escalate"] == "success"
    assert outcome.xcom("escalate") == {ALICE: "DELIVERED", BOB: "DELIVERED"}


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferred"])
def test_a_timeout_on_read_says_each_message_was_delivered_and_pushes_the_statuses(
    deferrable: bool,
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    _timeout_on_read("poke", deferrable, run_dag, lipachat_emulator, capfd)


@airflow_defect(
    RESCHEDULE_TIMEOUT_BROKEN,
    "Airflow 3.0 (seen in dag.test()): its base sensor subtracts a reschedule start date it got as "
    "text, so the task fails with a TypeError instead of timing out",
)
def test_a_timeout_on_read_in_reschedule_mode_says_delivered_and_pushes_the_statuses(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    _timeout_on_read("reschedule", False, run_dag, lipachat_emulator, capfd)


NOT_WA_IDS = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator
from airflow_provider_lipachat.sensors.lipachat import WhatsAppDeliverySensor

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    send = SendWhatsAppTextOperator(task_id="send", to=[ALICE, BOB], message="The weekly report is out")
    # A mistake for BOB: the message id the send pushed (key "message_id") where the waId belongs.
    wait = WhatsAppDeliverySensor(
        task_id="wait",
        wa_ids="{{ {ALICE: ti.xcom_pull('send')[ALICE], BOB: ti.xcom_pull('send', key='message_id')[BOB]} }}",
        poke_interval=0.2, timeout=2.5, deferrable=DEFERRABLE,
    )
    send >> wait
"""


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferred"])
def test_ids_never_on_the_message_list_are_warned_about_and_told_apart_at_the_timeout(
    deferrable: bool,
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    lipachat_emulator.script_status("never_delivered")
    source = NOT_WA_IDS.replace("ALICE", repr(ALICE)).replace("BOB", repr(BOB))

    outcome = run_dag(source.replace("DEFERRABLE", repr(deferrable)))

    assert outcome.task_states["wait"] == "failed"
    log = printed(capfd)
    # After a few looks, a warning names who is not on the list (masked) and what that may mean.
    assert f"After 3 looks, 1 message(s) never seen on the message list ({MASKED[BOB]}): the connection" in log
    assert "max_pages=200 page(s)" in log
    assert (
        f"timed out waiting for delivered from 2 message(s): {MASKED[ALICE]}: SENT, not yet DELIVERED; "
        f"{MASKED[BOB]}: never seen on the message list. 1 message(s) never seen"
    ) in log
    pushed = outcome.xcom("wait")
    assert pushed[ALICE]["status"] == "SENT" and pushed[BOB]["status"] is None
    assert pushed[BOB]["wa_id"] == outcome.xcom("send", key="message_id")[BOB]


BRANCHED = """
import pendulum
from airflow.sdk import DAG, task
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator
from airflow_provider_lipachat.sensors.lipachat import WhatsAppDeliverySensor

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    @task.branch
    def choose():
        return "send_board"

    board = SendWhatsAppTextOperator(task_id="send_board", to=ALICE, message="Board pack is out")
    ops = SendWhatsAppTextOperator(task_id="send_ops", to=BOB, message="Ops pack is out")
    wait = WhatsAppDeliverySensor(
        task_id="wait", wa_ids="{{ [ti.xcom_pull('send_board'), ti.xcom_pull('send_ops')] }}",
        poke_interval=0.2, timeout=30, trigger_rule="none_failed_min_one_success",
    )
    choose() >> [board, ops] >> wait
"""


def test_a_skipped_sends_missing_result_is_left_out_with_a_log_line(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    lipachat_emulator.script_status("delivered", delivered_after=0.3)

    outcome = run_dag(BRANCHED.replace("ALICE", repr(ALICE)).replace("BOB", repr(BOB)))

    assert outcome.task_states["send_ops"] == "skipped"
    assert outcome.task_states["wait"] == "success"
    assert statuses(outcome) == {ALICE: "DELIVERED"}
    assert "Left out 1 of 2 send result(s) holding no waId" in printed(capfd)


MAPPED_JINJA = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator
from airflow_provider_lipachat.sensors.lipachat import WhatsAppDeliverySensor

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    send = SendWhatsAppTextOperator.partial(task_id="send", message="The weekly report is out").expand(to=TO)
    wait = WhatsAppDeliverySensor(task_id="wait", wa_ids=WA_IDS, poke_interval=0.2, timeout=30)
    send >> wait
"""


def test_a_mapped_sends_results_pulled_in_a_template_and_made_a_list_are_waited_on(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    lipachat_emulator.script_status("delivered", delivered_after=0.3)

    outcome = run_dag(dag_source(MAPPED_JINJA, to=[ALICE, BOB], wa_ids="{{ ti.xcom_pull('send') | list }}"))

    assert outcome.task_states["wait"] == "success"
    assert statuses(outcome) == {ALICE: "DELIVERED", BOB: "DELIVERED"}


def test_a_template_that_renders_airflows_lazy_sequence_as_text_is_refused_saying_what_to_write(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """Airflow 2.11 renders ``xcom_pull`` of a mapped task as ``LazySelectSequence([2 items])``: no ids in it.

    Airflow 3 pulls a list there, so the same DAG succeeds.
    """
    lipachat_emulator.script_status("delivered", delivered_after=0.3)

    outcome = run_dag(dag_source(MAPPED_JINJA, to=[ALICE, BOB], wa_ids="{{ ti.xcom_pull('send') }}"))

    if AIRFLOW_V3:
        assert outcome.task_states["wait"] == "success"
        assert statuses(outcome) == {ALICE: "DELIVERED", BOB: "DELIVERED"}
        return
    assert outcome.task_states["wait"] == "failed"
    assert outcome.try_numbers["wait"] == 1
    assert list_scans(lipachat_emulator) == 0
    assert "is the text Airflow renders for its lazy sequence of several results" in printed(capfd)
