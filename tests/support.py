"""What test modules share beside fixtures: the installed Airflow's known differences, reading its output, DAG runs.

Imported after ``tests/conftest.py`` has pointed Airflow at a throwaway home (pytest loads the
conftest first), so importing Airflow here is safe.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_lipachat.compat import AIRFLOW_V3, AIRFLOW_VERSION

#: The installed Airflow's (major, minor): each leg of the suite runs one release.
AIRFLOW_RELEASE = tuple(int(part) for part in AIRFLOW_VERSION.split(".")[:2])


#: Airflow 3.3 added the task state store; earlier releases rely on the gateway's dedup alone.
HAS_TASK_STATE_STORE = AIRFLOW_RELEASE >= (3, 3)


#: Before 3.3 a template field that renders empty keeps its unrendered source (Airflow's templater).
RENDERED_EMPTY_KEEPS_SOURCE = AIRFLOW_RELEASE < (3, 3)


#: Airflow 3.0's dag.test() prints, unmasked, each message between task and supervisor (the request that
#: registers a secret for masking, secret included; the rendered fields) and each traceback frame's locals.
DAG_TEST_LOGS_SECRETS = AIRFLOW_RELEASE == (3, 0)


AIRFLOW30_UNMASKED = (
    re.compile(r"^.*\[debug\s*\] (Sending request|Received message from task runner)\b.*\n?", re.MULTILINE),
    re.compile(r"^[^\n]*╭─+ locals ─+╮.*?╰─+╯[^\n]*\n?", re.MULTILINE | re.DOTALL),
    # A traceback frame's source lines: the DAG file's own text, numbers in literal lists included.
    re.compile(r"^│ +(?:❱ +)?\d+ │[^\n]*\n?", re.MULTILINE),
)


#: At DEBUG, dag.test() logs those requests, secret included, on these releases too.
DAG_TEST_AT_DEBUG_LOGS_SECRETS = AIRFLOW_V3


#: Airflow 2.11's and 3.0's dag.test() hand task log records to standard logging (pytest's caplog sees
#: them); later releases print structlog lines that only the captured output shows.
DAG_TEST_LOGS_THROUGH_STDLIB = not AIRFLOW_V3 or AIRFLOW_RELEASE == (3, 0)
#: Airflow 3.0's supervisor fails a task whose process died abnormally, never retrying it (3.1 retries).
KILLED_TASK_NOT_RETRIED = AIRFLOW_RELEASE == (3, 0)


#: Airflow 3.0's base sensor gets a reschedule-mode start date as text and fails subtracting it, not timing out.
RESCHEDULE_TIMEOUT_BROKEN = AIRFLOW_RELEASE == (3, 0)


#: Test DAG sources import the Task SDK; on Airflow 2 the same names come from their old homes.
AIRFLOW2_IMPORTS = {
    "from airflow.sdk import DAG, task": "from airflow import DAG\nfrom airflow.decorators import task",
    "from airflow.sdk import DAG": "from airflow import DAG",
}


REPO_ROOT = Path(__file__).resolve().parent.parent
#: The DAG folder of the throwaway Airflow home tests/conftest.py made for this session.
DAGS_FOLDER = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


SANDBOX_SENDER = "254110090747"


def redact(text: str) -> str:
    """What Airflow's secret masker makes of ``text`` in task logs."""
    if AIRFLOW_V3:
        try:
            from airflow.sdk._shared.secrets_masker import redact as airflow_redact
        except ImportError:  # Airflow 3.0
            from airflow.sdk.execution_time.secrets_masker import redact as airflow_redact
    else:
        from airflow.utils.log.secrets_masker import redact as airflow_redact
    return str(airflow_redact(text))


def airflow_defect(affected: bool, defect: str) -> pytest.MarkDecorator:
    """Expected to fail where ``affected``: an Airflow defect the provider cannot prevent (strict: a fix shows)."""
    return pytest.mark.xfail(affected, reason=f"Airflow defect: {defect}", raises=AssertionError, strict=True)


def flat(text: str) -> str:
    """``text`` with every run of whitespace made one space: what a log says, whatever width it was wrapped to.

    Airflow 3.0's ``dag.test()`` prints tracebacks wrapped at 80 columns.
    """
    return " ".join(text.split())


def without_airflow30_unmasked(output: str) -> str:
    """What ``dag.test()`` printed, less what Airflow 3.0 prints unmasked: supervisor messages, traceback locals.

    Those are an Airflow defect with expected failures of their own; the rest of the output (the task's
    own log) must still be free of secrets. On other releases nothing is removed.
    """
    if DAG_TEST_LOGS_SECRETS:
        for pattern in AIRFLOW30_UNMASKED:
            output = pattern.sub("", output)
    return output


def printed(capfd: pytest.CaptureFixture[str]) -> str:
    """What the test printed so far (a ``dag.test()`` run's log, say), ``flat``, less what Airflow 3.0 leaks."""
    captured = capfd.readouterr()
    return flat(without_airflow30_unmasked(captured.out + captured.err))


def sensor_timeout(capfd: pytest.CaptureFixture[str]) -> str:
    """The message of the ``AirflowSensorTimeout`` the sensor raised, as the test's run printed it.

    Not the base class's own timeout, which the sensor's chains as its cause: Airflow 3.0 prints the
    two tracebacks to both streams, so which comes last in the output is not the order they were raised.
    """
    captured = capfd.readouterr()
    lines = (captured.out + captured.err).splitlines()
    found = [at for at, line in enumerate(lines) if "AirflowSensorTimeout: " in line]
    assert found, "no AirflowSensorTimeout in the output"
    own = [at for at in found if not lines[at].split("AirflowSensorTimeout: ", 1)[1].startswith("Sensor has timed out")]
    found = own or found
    message = [lines[found[-1]].split("AirflowSensorTimeout: ", 1)[1]]
    if AIRFLOW_RELEASE == (3, 0):  # its dag.test() wraps tracebacks at 80 columns: the message runs to a blank line
        message += itertools.takewhile(str.strip, lines[found[-1] + 1 :])
    return flat(" ".join(message))


def cli_json(stdout: str) -> Any:
    """The JSON document an ``airflow ... --output json`` command printed, past any log lines before it.

    Older CLIs (3.0) print INFO lines such as ``[2026-01-01T00:00:00.000+0000] {plugins.py:37} INFO - ...``
    to stdout ahead of the document; a line that merely starts with ``[`` is not JSON.
    """
    decoder = json.JSONDecoder()
    start = 0
    for line in stdout.splitlines(keepends=True):
        if line.lstrip().startswith(("[", "{")):
            try:
                document, end = decoder.raw_decode(stdout, start + len(line) - len(line.lstrip()))
            except json.JSONDecodeError:
                pass
            else:
                if not stdout[end:].strip():
                    return document
        start += len(line)
    raise AssertionError(f"no JSON document ends the CLI output:\n{stdout[-2000:]}")


def connection_json(base_url: str, api_key: str, **extra: Any) -> str:
    """An ``AIRFLOW_CONN_*`` value for a LipaChat connection."""
    extras = {"from_number": SANDBOX_SENDER, **extra}
    return json.dumps({"conn_type": "lipachat", "host": base_url, "password": api_key, "extra": extras})


@dataclass
class DagRunOutcome:
    """What one ``dag.test()`` run left behind in the metadata database."""

    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str]
    try_numbers: dict[str, int]

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        if not AIRFLOW_V3:
            from airflow.models.xcom import XCom

            return XCom.get_one(run_id=self.run_id, key=key, task_id=task_id, dag_id=self.dag_id, map_index=map_index)
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            row = (
                session.query(XComModel)
                .filter_by(dag_id=self.dag_id, run_id=self.run_id, task_id=task_id, key=key, map_index=map_index)
                .one_or_none()
            )
            return None if row is None else row.value

    def task_state(self, task_id: str, map_index: int = -1) -> dict[str, Any]:
        """The task state store's keys and JSON values for one task instance (Airflow >= 3.3)."""
        from airflow.models.task_state_store import TaskStateStoreModel
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = (
                session.query(TaskStateStoreModel)
                .filter_by(dag_id=self.dag_id, run_id=self.run_id, task_id=task_id, map_index=map_index)
                .all()
            )
            return {row.key: json.loads(row.value) for row in rows}

    def rendered_fields(self, task_id: str, map_index: int = -1) -> dict[str, Any]:
        from airflow.models.renderedtifields import RenderedTaskInstanceFields
        from airflow.utils.session import create_session

        with create_session() as session:
            row = (
                session.query(RenderedTaskInstanceFields)
                .filter_by(dag_id=self.dag_id, run_id=self.run_id, task_id=task_id, map_index=map_index)
                .one()
            )
            return dict(row.rendered_fields)


def ti_name(ti: Any) -> str:
    return ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"


def backdate_gateway_answers(emulator: Any, seconds: float) -> None:
    """Make the answers the emulator keeps by messageId as old as if those first sends were ``seconds`` ago.

    The emulator answers a repeated messageId with the stored first answer, timestamp and all, which
    is what the provider reads to tell a replay; a re-run a day later meets a day-old timestamp. A test
    cannot wait a day, so it moves the stored timestamps back instead (in the gateway's zone-less form).
    """
    import datetime

    from airflow_provider_lipachat.gateway.timestamps import parse_gateway_timestamp

    with emulator.state.lock:
        for answer in emulator.state.answers_by_message_id.values():
            moment = parse_gateway_timestamp(answer["timestamp"])
            assert moment is not None, answer
            earlier = moment - datetime.timedelta(seconds=seconds)
            answer["timestamp"] = earlier.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000"
