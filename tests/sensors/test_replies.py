"""WhatsAppReplySensor in real DAG runs: ask with buttons, then wait for the answers the emulator's numbers give."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_lipachat.compat import AirflowFailException
from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.sensors.lipachat import WhatsAppReplySensor
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

ASK_AND_WAIT = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppButtonsOperator
from airflow_provider_lipachat.sensors.lipachat import WhatsAppReplySensor

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    ask = SendWhatsAppButtonsOperator(
        task_id="ask", to=__TO__, message="Send the report to the board?",
        buttons=[{"id": "approve", "title": "Approve"}, {"id": "reject", "title": "Reject"}],
    )
    wait = WhatsAppReplySensor(
        task_id="wait", wa_ids=ask.output, options=__OPTIONS__, answers_from=__FROM__, reprompt=__REPROMPT__,
        poke_interval=0.3, timeout=__TIMEOUT__, deferrable=__DEFERRABLE__, mode=__MODE__,
    )
"""

#: An approver asked two questions in a row, each with the same buttons and its own sensor.
TWO_QUESTIONS = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppButtonsOperator
from airflow_provider_lipachat.sensors.lipachat import WhatsAppReplySensor

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    asks, waits = {}, {}
    for report in ("finance", "hr"):
        asks[report] = SendWhatsAppButtonsOperator(
            task_id=f"ask_{report}", to="__TO__", message=f"Send the {report.upper()} report?",
            buttons=["Approve", "Reject"],
        )
        waits[report] = WhatsAppReplySensor(
            task_id=f"wait_{report}", wa_ids=asks[report].output, options=["Approve", "Reject"],
            poke_interval=0.3, timeout=60, mode=__MODE__, deferrable=__DEFERRABLE__,
        )
    asks["finance"] >> asks["hr"] >> [waits["finance"], waits["hr"]]
"""

#: A text question: the answer is typed.
TEXT_QUESTION = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator
from airflow_provider_lipachat.sensors.lipachat import WhatsAppReplySensor

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    ask = SendWhatsAppTextOperator(task_id="ask", to="__TO__", message="Send the report? Answer approve or reject.")
    wait = WhatsAppReplySensor(
        task_id="wait", wa_ids=ask.output, options=["Approve", "Reject"], poke_interval=0.3, timeout=30
    )
"""

MODES = pytest.mark.parametrize(
    ("mode", "deferrable"),
    [
        pytest.param("poke", False, id="poke"),
        pytest.param(
            "reschedule",
            False,
            id="reschedule",
            marks=airflow_defect(
                RESCHEDULE_TIMEOUT_BROKEN,
                "Airflow 3.0 (seen in dag.test()): its base sensor subtracts a reschedule start date it got as "
                "text, so a sensor that was rescheduled once fails with a TypeError at its next look",
            ),
        ),
        pytest.param("poke", True, id="deferred"),
    ],
)


def ask_and_wait(
    to: object = ALICE,
    options: object = ("Approve", "Reject"),
    answers_from: str = "all",
    reprompt: bool = False,
    timeout: float = 30,
    deferrable: bool = False,
    mode: str = "poke",
) -> str:
    values = {
        "__MODE__": repr(mode),
        "__TO__": repr(list(to) if isinstance(to, tuple) else to),
        "__OPTIONS__": repr(list(options) if isinstance(options, tuple) else options),
        "__FROM__": repr(answers_from),
        "__REPROMPT__": repr(reprompt),
        "__TIMEOUT__": repr(timeout),
        "__DEFERRABLE__": repr(deferrable),
    }
    source = ASK_AND_WAIT
    for name, value in values.items():
        source = source.replace(name, value)
    return source


def answers(outcome: DagRunOutcome) -> dict[str, tuple[str, str]]:
    return {who: (a["answer"], a["text"]) for who, a in (outcome.xcom("wait") or {}).items()}


@pytest.fixture
def quick(lipachat_emulator: Emulator, lipachat_conn: str) -> Emulator:
    """Messages reach their recipients at once."""
    lipachat_emulator.script_status("delivered", delivered_after=0)
    return lipachat_emulator


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferred"])
def test_a_pressed_button_ends_the_wait_with_the_answer_in_xcom(
    run_dag: RunDag, quick: Emulator, deferrable: bool, capfd: pytest.CaptureFixture[str]
) -> None:
    # Well after the first look, even where a loaded machine takes seconds to start the sensor's task.
    quick.script_reply(press="Approve", after=6)
    outcome = run_dag(ask_and_wait(deferrable=deferrable))
    assert outcome.task_states == {"ask": "success", "wait": "success"}
    assert answers(outcome) == {ALICE: ("Approve", "Approve")}
    [reply] = quick.inbound()
    assert outcome.xcom("wait")[ALICE]["received_at"] is not None
    assert reply.from_number == ALICE
    log = printed(capfd)
    assert "Answered: " in log and "2547******01" in log and ALICE not in log


@MODES
def test_one_press_answers_only_the_question_it_was_pressed_on(
    run_dag: RunDag, quick: Emulator, mode: str, deferrable: bool, capfd: pytest.CaptureFixture[str]
) -> None:
    quick.script_reply(press="Approve", after=2, times=1)  # on the first question only
    quick.script_reply(press="Reject", after=5)  # on both: the second question's is its only answer
    source = TWO_QUESTIONS.replace("__TO__", ALICE).replace("__MODE__", repr(mode))
    outcome = run_dag(source.replace("__DEFERRABLE__", repr(deferrable)))

    assert outcome.task_states["wait_finance"] == outcome.task_states["wait_hr"] == "success"
    assert outcome.xcom("wait_finance")[ALICE]["answer"] == "Approve"
    assert outcome.xcom("wait_hr")[ALICE]["answer"] == "Reject"
    # Each question's buttons went out with ids of its own; the approver saw the titles the DAG gave.
    finance, hr = [d["payload"]["buttons"] for d in quick.deliveries() if d["route"] == "buttons"]
    assert [b["title"] for b in finance] == [b["title"] for b in hr] == ["Approve", "Reject"]
    assert {b["id"] for b in finance}.isdisjoint(b["id"] for b in hr)
    assert all(b["id"].startswith(("Approve~q", "Reject~q")) for b in finance + hr)
    assert "Not counted as an answer from 2547******01: a press on another question's buttons" in printed(capfd)


def test_a_typed_answer_counts_for_a_text_question_as_the_options_spell_it(run_dag: RunDag, quick: Emulator) -> None:
    quick.script_reply(text="  APPROVE ", after=0.5)
    outcome = run_dag(TEXT_QUESTION.replace("__TO__", ALICE))
    assert answers(outcome) == {ALICE: ("Approve", "  APPROVE ")}


def test_a_typed_answer_to_buttons_is_not_counted_and_with_reprompt_asks_for_a_press(
    run_dag: RunDag, quick: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    quick.script_reply(text="approve", after=0.5, times=1)
    quick.script_reply(press="Reject", after=3)
    outcome = run_dag(ask_and_wait(reprompt=True))
    assert answers(outcome) == {ALICE: ("Reject", "Reject")}
    assert [d["payload"]["message"] for d in quick.deliveries() if d["route"] == "text"] == [
        'Sorry, I can only take an answer given with the question\'s buttons. Please press one of: "Approve", "Reject".'
    ]


def test_an_answer_before_the_question_does_not_count(run_dag: RunDag, quick: Emulator) -> None:
    quick.receive(ALICE, "Reject")  # an earlier conversation
    quick.script_reply(press="approve", after=1)
    outcome = run_dag(ask_and_wait())
    assert answers(outcome) == {ALICE: ("Approve", "Approve")}


def test_anything_else_is_ignored_and_with_reprompt_answered_once_with_the_buttons_to_press(
    run_dag: RunDag, quick: Emulator
) -> None:
    quick.script_reply(text="maybe later?", after=0.2, times=1)
    quick.script_reply(press="Reject", after=2.5)
    outcome = run_dag(ask_and_wait(reprompt=True))
    assert answers(outcome) == {ALICE: ("Reject", "Reject")}
    texts = [d for d in quick.deliveries() if d["route"] == "text"]
    assert [d["payload"]["message"] for d in texts] == [
        'Sorry, I can only take an answer given with the question\'s buttons. Please press one of: "Approve", "Reject".'
    ]
    assert texts[0]["to"] == ALICE


@MODES
def test_an_auto_responder_is_reprompted_once_however_often_it_answers(
    run_dag: RunDag, quick: Emulator, mode: str, deferrable: bool, capfd: pytest.CaptureFixture[str]
) -> None:
    quick.script_reply(text="I am out of the office", after=0.3)  # answers the question, and every reprompt
    quick.script_reply(press="Approve", after=8)
    outcome = run_dag(ask_and_wait(reprompt=True, mode=mode, deferrable=deferrable))
    assert answers(outcome) == {ALICE: ("Approve", "Approve")}
    assert len([d for d in quick.deliveries() if d["route"] == "text"]) == 1
    log = printed(capfd)
    assert log.count("Asked 2547******01 to choose one of the options again") == 1
    assert "(reprompted as often as max_reprompts allows)" in log


@MODES
def test_a_reprompt_the_gateway_refuses_is_sent_later_and_the_wait_goes_on(
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    deferrable: bool,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_LIPACHAT_DEFAULT",
        connection_json(lipachat_emulator.base_url, lipachat_emulator.api_key, timeout=5, max_retries=0),
    )
    lipachat_emulator.script_status("delivered", delivered_after=0)
    lipachat_emulator.script_reply(text="maybe", after=1, times=1)
    lipachat_emulator.script_reply(press="Approve", after=7)
    refuse_once_asked = threading.Thread(target=fail_next_send_after_the_question, args=(lipachat_emulator,))
    refuse_once_asked.start()
    outcome = run_dag(ask_and_wait(reprompt=True, mode=mode, deferrable=deferrable))
    refuse_once_asked.join()

    assert answers(outcome) == {ALICE: ("Approve", "Approve")}
    outcomes = [r["outcome"] for r in lipachat_emulator.requests() if r["path"].endswith("/message/text")]
    # The first attempt was refused; one later attempt delivered it (reschedule mode asks again each
    # look, and the gateway answers those with the text already sent).
    assert outcomes[0] == "fault:status" and outcomes[1:].count("delivered") == 1
    assert set(outcomes[1:]) <= {"delivered", "replayed"}
    assert "Could not ask 2547******01 to choose again (LipaChat" in printed(capfd)


def fail_next_send_after_the_question(emulator: Emulator) -> None:
    """Once the question was delivered, make the gateway answer the next send to ALICE with a 503."""
    deadline = time.monotonic() + 30
    while not any(d["route"] == "buttons" for d in emulator.deliveries()) and time.monotonic() < deadline:
        time.sleep(0.02)
    emulator.add_fault("status", status=503, count=1, to=ALICE)


def test_a_deferred_wait_reprompts_then_waits_again_for_the_same_deadline(run_dag: RunDag, quick: Emulator) -> None:
    quick.script_reply(text="what?", after=4, times=1)
    quick.script_reply(press="Approve", after=9)
    outcome = run_dag(ask_and_wait(reprompt=True, deferrable=True))
    assert answers(outcome) == {ALICE: ("Approve", "Approve")}
    assert [d["to"] for d in quick.deliveries() if d["route"] == "text"] == [ALICE]


@pytest.mark.parametrize(
    ("answers_from", "expected"),
    [("all", {ALICE: "Approve", BOB: "Reject"}), ("any", {ALICE: "Approve"}), ("first", {ALICE: "Approve"})],
)
def test_whose_answers_end_the_wait(
    run_dag: RunDag, quick: Emulator, answers_from: str, expected: dict[str, str]
) -> None:
    quick.script_reply(to=ALICE, press="Approve", after=0.5)
    quick.script_reply(to=BOB, press="Reject", after=4)
    outcome = run_dag(ask_and_wait(to=(ALICE, BOB), answers_from=answers_from))
    assert outcome.task_states["wait"] == "success"
    assert {who: a for who, (a, _) in answers(outcome).items()} == expected


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferred"])
def test_a_timeout_names_who_has_not_answered_and_pushes_who_did(
    run_dag: RunDag, quick: Emulator, deferrable: bool, capfd: pytest.CaptureFixture[str]
) -> None:
    quick.script_reply(to=ALICE, press="Approve", after=0)
    outcome = run_dag(ask_and_wait(to=(ALICE, BOB), timeout=2, deferrable=deferrable))
    assert outcome.task_states["wait"] == "failed"
    said = sensor_timeout(capfd)
    assert said.startswith("timed out waiting for answers from ")
    assert "; 1 recipient(s) have not answered: 2547******02" in said
    ran_past = r" \(the sensor ran [0-9]+\.[0-9] s, past its timeout of 2 s\)$"
    assert bool(re.search(ran_past, said)) is not deferrable, said
    assert answers(outcome) == {ALICE: ("Approve", "Approve")}


def test_a_question_that_never_arrived_fails_the_wait(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    lipachat_emulator.script_status("failed", code=131026, delivered_after=0)
    outcome = run_dag(ask_and_wait())
    assert outcome.task_states["wait"] == "failed"
    assert "question not delivered, so it cannot be answered: 2547******01: FAILED, WhatsApp error 131026" in printed(
        capfd
    )


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"options": []}, "options=[]: names no answer"),
        ({"options": None, "reprompt": True}, "reprompt=True needs the answers to ask for"),
        ({"wa_ids": "{'254700000001': "}, "wa_ids="),
        ({"wa_ids": [3]}, "neither a waId nor a {recipient: waId} mapping"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    lipachat_emulator: Emulator, lipachat_conn: str, arguments: dict[str, Any], problem: str
) -> None:
    sensor = WhatsAppReplySensor(task_id="wait", **{"wa_ids": {ALICE: "wamid.A"}, "options": ["Yes"], **arguments})
    with pytest.raises(AirflowFailException) as failure:
        sensor.poke({})  # type: ignore[arg-type]  # fails before reading anything from the context
    assert problem in str(failure.value)
    assert lipachat_emulator.requests() == []


def test_answers_from_must_be_all_any_or_first() -> None:
    with pytest.raises(ValueError, match="answers_from.*'all', 'any', 'first'"):
        WhatsAppReplySensor(task_id="wait", wa_ids="wamid.A", answers_from="most")
