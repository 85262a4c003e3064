"""Values the way DAGs hand them over (upstream XCom, native rendering, mapped tasks): the right message goes out."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from airflow_provider_lipachat.emulator import Emulator
from tests.conftest import DagRunOutcome, printed

RunDag = Callable[..., DagRunOutcome]

FLOATS_DAG = """
import pendulum
from airflow.sdk import DAG, task
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         render_template_as_native_obj=NATIVE) as dag:

    @task
    def numbers():
        return [254711000921.0, 254711000922.0]  # a float64 column, as pandas hands it over

    SendWhatsAppMediaOperator(
        task_id="send", to="{{ ti.xcom_pull(task_ids='numbers') }}", media_url="https://x.example/weekly report.pdf"
    ) << numbers()
"""


@pytest.mark.parametrize("native", [False, True])
def test_numbers_that_arrive_as_floats_reach_the_same_numbers(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, native: bool
) -> None:
    outcome = run_dag(FLOATS_DAG.replace("NATIVE", str(native)))

    assert outcome.task_states == {"numbers": "success", "send": "success"}
    deliveries = lipachat_emulator.deliveries()
    assert sorted(d["to"] for d in deliveries) == ["254711000921", "254711000922"]
    assert {d["payload"]["mediaUrl"] for d in deliveries} == {"https://x.example/weekly%20report.pdf"}


MAPPED_DAG = """
import pendulum
from airflow.sdk import DAG, task
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:

    @task
    def numbers():
        return [254711000931, 254711000932]  # JSON integers

    SendWhatsAppTextOperator.partial(task_id="alert", message="Load finished").expand(to=numbers())
"""


def test_a_mapped_send_over_an_upstream_list_of_ints_sends_to_each(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    outcome = run_dag(MAPPED_DAG)

    assert outcome.task_states == {"numbers": "success", "alert[0]": "success", "alert[1]": "success"}
    assert sorted(d["to"] for d in lipachat_emulator.deliveries()) == ["254711000931", "254711000932"]
    assert (
        outcome.xcom("alert", map_index=0) == lipachat_emulator.deliveries()[0]["waId"]
        or outcome.xcom("alert", map_index=1) == lipachat_emulator.deliveries()[0]["waId"]
    )


PLACEHOLDERS_DAG = """
import pendulum
from airflow.sdk import DAG, task
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTemplateOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:

    @task
    def values():
        return ["Alice", "Q3"]

    SendWhatsAppTemplateOperator(
        task_id="listed", to="254711000941", template_name="daily_report",
        body_placeholders="{{ ti.xcom_pull(task_ids='values') }}",
    ) << values()
    SendWhatsAppTemplateOperator(
        task_id="single", to="254711000942", template_name="daily_report", body_placeholders="{{ ds }}",
    )
"""


def test_placeholders_from_jinja_are_values_not_characters(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str
) -> None:
    outcome = run_dag(PLACEHOLDERS_DAG, logical_date="2024-01-15T00:00:00+00:00")

    assert set(outcome.task_states.values()) == {"success"}
    sent = {
        d["to"]: d["payload"]["template"]["components"]["body"]["placeholders"] for d in lipachat_emulator.deliveries()
    }
    assert sent == {"254711000941": ["Alice", "Q3"], "254711000942": ["2024-01-15"]}


SHAPES_DAG = """
import pendulum
from airflow.sdk import DAG, task
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         render_template_as_native_obj=NATIVE) as dag:

    @task
    def found():
        return FOUND

    send = SendWhatsAppTextOperator(
        task_id="send", to="{{ ti.xcom_pull(task_ids='found') }}", message="Your statement is ready", retries=2
    )
    found() >> send
"""


def shapes_dag(found: str, native: bool) -> str:
    return SHAPES_DAG.replace("FOUND", found).replace("NATIVE", str(native))


@pytest.mark.parametrize("native", [False, True])
@pytest.mark.parametrize(
    "found",
    [
        "('254711000951', '254711000952')",  # a tuple
        "{254711000951, 254711000952}",  # a set of ints
        "['254711000951', 254711000952.0]",  # mixed text and a float
    ],
)
def test_a_tuple_a_set_or_mixed_types_from_upstream_reach_each_number(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, found: str, native: bool
) -> None:
    outcome = run_dag(shapes_dag(found, native))

    assert outcome.task_states == {"found": "success", "send": "success"}
    assert sorted(d["to"] for d in lipachat_emulator.deliveries()) == ["254711000951", "254711000952"]
    assert set(outcome.xcom("send")) == {"254711000951", "254711000952"}


@pytest.mark.parametrize("native", [False, True])
def test_an_upstream_that_found_no_one_skips_the_send(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, native: bool, capfd: pytest.CaptureFixture[str]
) -> None:
    outcome = run_dag(shapes_dag("[]", native))

    assert outcome.task_states == {"found": "success", "send": "skipped"}
    assert lipachat_emulator.requests() == []
    assert "'to' is an empty list: no recipient, so nothing was sent" in printed(capfd)


@pytest.mark.parametrize("native", [False, True])
def test_an_upstream_that_returned_none_fails_clearly_without_retries(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, native: bool, capfd: pytest.CaptureFixture[str]
) -> None:
    outcome = run_dag(shapes_dag("None", native))

    assert outcome.task_states == {"found": "success", "send": "failed"}
    assert outcome.try_numbers["send"] == 1
    assert lipachat_emulator.requests() == []
    assert "is None (or its text): no recipient was given, as when an upstream task returned nothing" in printed(capfd)
