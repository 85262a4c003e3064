"""The delivery-confirmation example: delivered means no escalation; a failure escalates to someone else."""

from __future__ import annotations

from collections.abc import Callable

from airflow_provider_lipachat.emulator import Emulator
from tests.support import DagRunOutcome
from tests.test_example_dags import example_source


def quick(source: str) -> str:
    """The example with a short poll and deadline, so a test run takes seconds, not hours."""
    return source.replace("poke_interval=60", "poke_interval=0.2").replace("timedelta(hours=2)", "timedelta(seconds=5)")


def test_a_delivered_report_ends_the_run_without_escalating(
    run_dag: Callable[..., DagRunOutcome], lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    lipachat_emulator.script_status("delivered", delivered_after=0.3)
    outcome = run_dag(quick(example_source("lipachat_delivery_confirmation")))
    assert outcome.task_states == {"send_report": "success", "wait_until_delivered": "success", "escalate": "skipped"}
    assert sorted(d["to"] for d in lipachat_emulator.deliveries()) == ["254711000001", "254711000002"]


def test_an_undeliverable_report_escalates_with_a_template_to_someone_else(
    run_dag: Callable[..., DagRunOutcome], lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    lipachat_emulator.script_status("delivered", delivered_after=0.3)
    lipachat_emulator.script_status("failed", to="254711000002", code=131053, delivered_after=0.3)
    outcome = run_dag(quick(example_source("lipachat_delivery_confirmation")), logical_date="2024-02-26T00:00:00+00:00")
    assert outcome.task_states["wait_until_delivered"] == "failed"
    assert outcome.task_states["escalate"] == "success"
    escalation = lipachat_emulator.deliveries()[-1]
    assert escalation["route"] == "template" and escalation["to"] == "254711000009"
    assert escalation["payload"]["template"]["name"] == "report_not_delivered"
    assert "Weekly board report 2024-02-26" in str(escalation["payload"]["template"])


def test_a_report_never_delivered_in_time_escalates(
    run_dag: Callable[..., DagRunOutcome], lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    lipachat_emulator.script_status("never_delivered")
    outcome = run_dag(quick(example_source("lipachat_delivery_confirmation")).replace("seconds=5", "seconds=1"))
    assert outcome.task_states["wait_until_delivered"] == "failed"
    assert outcome.task_states["escalate"] == "success"
