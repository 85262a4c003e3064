"""Values the way DAGs hand them over (upstream XCom, native rendering, mapped tasks): the right message goes out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_lipachat.emulator import Emulator
from tests.support import AIRFLOW2_IMPORTS, AIRFLOW_V3, DagRunOutcome, printed

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


ARRAY_DAG = """
import numpy
import pandas
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

PHONES = FOUND  # read when the DAG file is parsed, as from a CSV of subscribers

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    SendWhatsAppTextOperator(task_id="send", to=PHONES, message="Your statement is ready", retries=2)
"""


@pytest.mark.parametrize(
    "found",
    [
        "numpy.array([254711000961, 254711000962])",
        "pandas.DataFrame({'phone': [254711000961, 254711000962, 254711000961]})['phone'].unique()",
        "pandas.Series([254711000961, 254711000962], dtype='int64')",
        "pandas.Series([254711000961.0, 254711000962.0])",
        "pandas.Series(['+254 711 000 961', '254711000962'], dtype=object)",
        "pandas.Index(['254711000961', '254711000962'])",
    ],
)
def test_a_numpy_array_or_a_pandas_series_as_to_reaches_each_number(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, found: str
) -> None:
    outcome = run_dag(ARRAY_DAG.replace("FOUND", found))

    assert outcome.task_states == {"send": "success"}
    assert sorted(d["to"] for d in lipachat_emulator.deliveries()) == ["254711000961", "254711000962"]
    assert set(outcome.xcom("send")) == {"254711000961", "254711000962"}


@pytest.mark.parametrize(
    ("found", "problem"),
    [
        (
            "pandas.Series([254711000961, None, 254711000962])",  # a gap makes pandas read the column as floats
            "to=nan: is NaN (a missing value, as pandas writes an empty cell), not a phone number",
        ),
        ("numpy.array([254711000961, 254711000962], dtype=numpy.float32)", "too narrow to hold a phone number"),
    ],
)
def test_a_missing_or_inexact_number_in_a_column_fails_clearly_before_any_send_and_without_retries(
    run_dag: RunDag,
    lipachat_emulator: Emulator,
    lipachat_conn: str,
    capfd: pytest.CaptureFixture[str],
    found: str,
    problem: str,
) -> None:
    outcome = run_dag(ARRAY_DAG.replace("FOUND", found))

    assert outcome.task_states == {"send": "failed"}
    assert outcome.try_numbers["send"] == 1
    assert lipachat_emulator.requests() == []
    assert problem in printed(capfd)


NUMPY_SCALARS_DAG = """
import pendulum
from airflow.sdk import DAG, task
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         render_template_as_native_obj=NATIVE) as dag:

    @task
    def phones():
        import pandas

        # Airflow's XCom carries numpy scalars (not arrays): a list of numpy.int64 or numpy.float64.
        return list(pandas.DataFrame({"phone": PHONES})["phone"].unique())

    found = phones()
    SendWhatsAppTextOperator(task_id="send", to=TO, message="Your statement is ready", retries=2) << found
"""
BY_XCOMARG = "found"
BY_TEMPLATE = "\"{{ ti.xcom_pull(task_ids='phones') }}\""


HANDED_OVER = pytest.mark.parametrize(
    ("to", "native"),
    [(BY_XCOMARG, False), (BY_TEMPLATE, False), (BY_TEMPLATE, True)],
    ids=["xcomarg", "text", "native"],
)


def numpy_scalars_dag(phones: str, to: str, native: bool) -> str:
    return NUMPY_SCALARS_DAG.replace("PHONES", phones).replace("TO", to).replace("NATIVE", str(native))


@HANDED_OVER
def test_numpy_scalars_from_an_upstream_task_reach_each_number(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, to: str, native: bool
) -> None:
    outcome = run_dag(numpy_scalars_dag("[254711000971, 254711000972, 254711000971]", to, native))

    assert outcome.task_states == {"phones": "success", "send": "success"}
    assert sorted(d["to"] for d in lipachat_emulator.deliveries()) == ["254711000971", "254711000972"]


LITERAL_LIST_DAG = """
import pendulum
from airflow.sdk import DAG, task
from airflow_provider_lipachat.notifications.lipachat import LipaChatNotifier
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    ALERTS
"""


@pytest.mark.parametrize(
    "alerts",
    [
        '@task(on_failure_callback=LipaChatNotifier(to=["254711000991", "0711OOO995"], message="failed"))\n'
        "    def load():\n        return 1\n\n    load()",
        'SendWhatsAppTextOperator(task_id="send", to=("254711000991", 254711000995.5), message="ready")',
    ],
    ids=["notifier", "operator"],
)
def test_a_literal_list_with_an_invalid_number_is_a_dag_import_error(
    airflow_db: Path, tmp_path: Path, lipachat_emulator: Emulator, alerts: str
) -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # before Airflow 3.2
        from airflow.models.dagbag import DagBag
    path = tmp_path / "literal_list.py"
    source = LITERAL_LIST_DAG.replace("ALERTS", alerts)
    if not AIRFLOW_V3:
        sdk_import = "from airflow.sdk import DAG, task"
        source = source.replace(sdk_import, AIRFLOW2_IMPORTS[sdk_import])
    path.write_text(source)

    bag = DagBag(dag_folder=str(path))

    [error] = bag.import_errors.values()
    assert "LipaChatValidationError" in error
    assert "to=" in error and ("has characters other than digits" in error or "with a fraction" in error), error
    assert "0711000995" not in error and "254711000995" not in error
    assert bag.dag_ids == []
    assert lipachat_emulator.requests() == []


def test_a_literal_list_of_valid_numbers_or_one_holding_a_template_parses() -> None:
    from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

    SendWhatsAppTextOperator(task_id="valid", to=["254711000991", 254711000992], message="ready")
    SendWhatsAppTextOperator(task_id="templated", to=["254711000991", "{{ params.local }}"], message="ready")
    SendWhatsAppTextOperator(task_id="text", to="0711000995", message="text may be a template: checked when it runs")


PLAIN_AND_TEMPLATED_DAG = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
         render_template_as_native_obj=NATIVE, params={"on_call": "254711000963", "when": "at noon"}) as dag:
    SendWhatsAppTextOperator(task_id="plain", to=["254711000961", "254711000962"], message="Load finished")
    SendWhatsAppTextOperator(
        task_id="templated", to=["254711000961", "{{ params.on_call }}"], message="Load finished {{ params.when }}"
    )
"""


@pytest.mark.parametrize("native", [False, True])
def test_a_literal_list_reaches_its_numbers_whether_or_not_an_item_is_a_template(
    run_dag: RunDag, lipachat_emulator: Emulator, lipachat_conn: str, native: bool
) -> None:
    outcome = run_dag(PLAIN_AND_TEMPLATED_DAG.replace("NATIVE", str(native)))

    assert outcome.task_states == {"plain": "success", "templated": "success"}
    sent = sorted((d["to"], d["payload"]["message"]) for d in lipachat_emulator.deliveries())
    assert sent == [
        ("254711000961", "Load finished"),
        ("254711000961", "Load finished at noon"),
        ("254711000962", "Load finished"),
        ("254711000963", "Load finished at noon"),
    ]
