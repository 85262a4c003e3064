"""SendWhatsAppButtonsOperator in real DAG runs: templated question and buttons, fan-out, rules before any request."""

from __future__ import annotations

from collections.abc import Callable

from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.operators.lipachat import default_message_id
from airflow_provider_lipachat.utils.message_ids import question_token
from tests.support import SANDBOX_SENDER, DagRunOutcome, printed

RunDag = Callable[..., DagRunOutcome]
ALICE, BOB = "254711000001", "254711000002"

ASK = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppButtonsOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         params={"who": __TO__, "choices": __BUTTONS__}) as dag:
    SendWhatsAppButtonsOperator(
        task_id="ask", to="{{ params.who }}", message="Report for {{ ds }} ready. Send it?",
        buttons="{{ params.choices }}",
    )
"""


def ask(to: object, buttons: object) -> str:
    return ASK.replace("__TO__", repr(to)).replace("__BUTTONS__", repr(buttons))


def test_one_recipient_gets_the_rendered_question_and_buttons_and_its_waid_is_returned(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    buttons = [{"id": "approve", "title": "Approve"}, {"id": "reject", "title": "Reject"}]
    outcome = run_dag(ask(ALICE, buttons), logical_date="2024-06-01T00:00:00+00:00")
    assert outcome.task_states == {"ask": "success"}
    [delivery] = lipachat_emulator.deliveries()
    assert delivery["route"] == "buttons"
    message_id = default_message_id(outcome.dag_id, "ask", outcome.run_id, -1, ALICE)
    token = question_token(message_id)  # each question's buttons are its own; the titles are the DAG's
    assert delivery["payload"] == {
        "messageId": message_id,
        "text": "Report for 2024-06-01 ready. Send it?",
        "buttons": [{"id": f"approve~q{token}", "title": "Approve"}, {"id": f"reject~q{token}", "title": "Reject"}],
        "from": SANDBOX_SENDER,
        "to": ALICE,
    }
    assert outcome.xcom("ask") == delivery["waId"]
    assert outcome.xcom("ask", key="message_id") == delivery["messageId"]


def test_a_list_of_recipients_returns_each_waid(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    outcome = run_dag(ask([ALICE, BOB], ["Yes", "No"]))
    assert outcome.task_states == {"ask": "success"}
    assert outcome.xcom("ask") == {d["to"]: d["waId"] for d in lipachat_emulator.deliveries()}
    assert {d["route"] for d in lipachat_emulator.deliveries()} == {"buttons"}


def test_a_rendered_title_over_20_characters_fails_before_any_request(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, capfd: object
) -> None:
    outcome = run_dag(ask(ALICE, ["Approve and send to the board", "Reject"]))
    assert outcome.task_states == {"ask": "failed"}
    assert lipachat_emulator.requests() == []
    assert "button 1's title is 29 characters; WhatsApp shows at most 20" in printed(capfd)  # type: ignore[arg-type]


def test_a_closed_24_hour_window_fails_the_task_naming_the_rule(
    run_dag: RunDag, windowed_emulator: Emulator, capfd: object
) -> None:
    outcome = run_dag(ask(ALICE, ["Yes", "No"]))
    assert outcome.task_states == {"ask": "failed"}
    assert outcome.try_numbers["ask"] == 1  # permanent: no Airflow retry is spent
    assert "24-hour" in printed(capfd)  # type: ignore[arg-type]
    windowed_emulator.receive(ALICE, "hello")  # the recipient writes: the window opens
    assert run_dag(ask(ALICE, ["Yes", "No"])).task_states == {"ask": "success"}
