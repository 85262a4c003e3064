"""One measurement for ``run.py``: ``SendWhatsAppMediaOperator`` in a real DAG run, or its inputs alone.

``dag_probe.py operator BASE_URL COUNT CONCURRENCY RATE_LIMIT`` writes a DAG that sends one report to
COUNT recipients, runs it with ``dag.test()`` (the task state store on, Airflow >= 3.3) and prints one
JSON line: the task's seconds, this process's peak RSS, whether XCom holds every waId, and what the
checkpoints wrote to the store. ``dag_probe.py baseline BASE_URL COUNT`` prints the peak RSS of a process that
holds the same input list and result mappings and runs the same DAG to one recipient.
``dag_probe.py text COUNT PREFIX`` runs a text fan-out to COUNT numbers starting PREFIX through
the connection ``AIRFLOW_CONN_LIPACHAT_DEFAULT`` the caller set, and prints the task's seconds, the process's
CPU seconds for the run and its peak RSS; ``text-beside-one COUNT PREFIX ONE_PREFIX`` also runs it to one recipient
(numbers starting ONE_PREFIX) before and after, and adds the later one's
CPU seconds (``cpu_of_one``), so what the fan-out itself costs can be told from the DAG run's fixed cost.
RATE_LIMIT is a number per second, or ``none``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from airflow_provider_lipachat.utils.checkpoint import CHUNK_KEY, INDEX_KEY

DAG_SOURCE = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppMediaOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    SendWhatsAppMediaOperator(
        task_id="send",
        to=[f"2548{n:08d}" for n in range(COUNT)],
        media_url="https://reports.example.com/weekly/summary.pdf",
        preflight=False,  # measured apart in benchmarks/preflight.py; this link is not on loopback
        max_concurrency=CONCURRENCY,
        rate_limit=RATE_LIMIT,
    )
"""


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def checkpoint_writes(rows: dict[str, str]) -> dict[str, int]:
    """What the checkpoints left in the store: chunks of new deliveries, and the small index."""
    index = json.loads(rows.get(INDEX_KEY, '{"chunks": 0}'))
    chunk_sizes = [len(rows[CHUNK_KEY.format(number=n)]) for n in range(index["chunks"])]
    return {"chunks": len(chunk_sizes), "mapping": sum(chunk_sizes), "largest": max(chunk_sizes, default=0)}


def run_send_dag(dag_id: str, source: str) -> tuple[Any, float]:
    """Write ``source`` (a DAG with a ``send`` task) to the DAG folder and ``dag.test()`` it: the run, its seconds."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{dag_id}.py"
    path.write_text(textwrap.dedent(source.replace("DAG_ID", dag_id)))
    spec = importlib.util.spec_from_file_location(dag_id, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dagrun = module.dag.test()
    path.unlink()
    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=dagrun.run_id, task_id="send").one()
        assert ti.state == "success" and ti.start_date and ti.end_date, ti.state
        return dagrun, (ti.end_date - ti.start_date).total_seconds()


def run_operator(count: int, concurrency: int, rate_limit: str) -> dict[str, Any]:
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    dag_id = f"bench_fanout_{count}_{os.getpid()}_{concurrency}_{rate_limit.replace('.', '_')}"
    source = DAG_SOURCE.replace("COUNT", str(count))
    limit = "None" if rate_limit == "none" else rate_limit
    source = source.replace("CONCURRENCY", str(concurrency)).replace("RATE_LIMIT", limit)
    dagrun, seconds = run_send_dag(dag_id, source)
    with create_session() as session:
        xcom = (
            session.query(XComModel)
            .filter_by(dag_id=dag_id, run_id=dagrun.run_id, task_id="send", key="return_value")
            .one()
            .value
        )
        rows = {
            row.key: row.value
            for row in session.query(TaskStateStoreModel).filter_by(dag_id=dag_id, run_id=dagrun.run_id)
        }
    return {
        "seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
        "xcom_complete": len(json.loads(xcom) if isinstance(xcom, str) else xcom) == count,
        "checkpoints": checkpoint_writes(rows),
    }


TEXT_DAG_SOURCE = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_lipachat.operators.lipachat import SendWhatsAppTextOperator

with DAG("DAG_ID", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
    SendWhatsAppTextOperator(
        task_id="send", to=[f"PREFIX{n:06d}" for n in range(COUNT)], message="Partition ready"
    )
"""


def run_text(count: int, prefix: str) -> dict[str, Any]:
    """A text fan-out to ``count`` recipients (numbers starting ``prefix``) in a real DAG run, the operator's
    defaults as a user writes it: its seconds, and the CPU seconds and peak RSS of this process."""
    dag_id = f"bench_text_{prefix}_{os.getpid()}"
    cpu = time.process_time()
    _, seconds = run_send_dag(dag_id, TEXT_DAG_SOURCE.replace("COUNT", str(count)).replace("PREFIX", prefix))
    return {"seconds": seconds, "cpu": time.process_time() - cpu, "peak_rss_mib": peak_rss_mib()}


def baseline(count: int) -> dict[str, Any]:
    """The same DAG run to one recipient, in a process that also holds the big run's inputs and result mappings."""
    numbers = [f"2548{n:08d}" for n in range(count)]
    wa_ids = {n: f"wamid.HBgM{n:0>32}" for n in numbers}
    message_ids = {n: f"{n:0>36}" for n in numbers}
    run_operator(1, 32, "none")
    assert len(wa_ids) == len(message_ids) == count
    return {"peak_rss_mib": peak_rss_mib()}


if __name__ == "__main__":
    from common import use_lipachat_connection

    if sys.argv[1] == "text":  # the connection comes from the environment, as the caller set it
        print(json.dumps(run_text(int(sys.argv[2]), sys.argv[3])))
        sys.exit(0)
    if sys.argv[1] == "text-beside-one":  # and runs to one recipient (ONE_PREFIX): the DAG run's own cost, warm
        run_text(1, sys.argv[4] + "0")  # the first run in a process also pays for imports
        many = run_text(int(sys.argv[2]), sys.argv[3])
        print(json.dumps({**many, "cpu_of_one": run_text(1, sys.argv[4] + "1")["cpu"]}))
        sys.exit(0)
    use_lipachat_connection(sys.argv[2])
    if sys.argv[1] == "baseline":
        print(json.dumps(baseline(int(sys.argv[3]))))
    else:
        print(json.dumps(run_operator(int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])))
