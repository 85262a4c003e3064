"""Print, as JSON on the last line, the XCom ``return_value`` of each map index of one task in a DAG's latest run.

Runs in its own process because Airflow reads its configuration (``AIRFLOW_HOME``) on import.
"""

from __future__ import annotations

import json
import sys

from airflow.models.dagrun import DagRun
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session


def main(dag_id: str, task_id: str) -> None:
    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=dag_id).order_by(DagRun.id.desc()).first()
        rows = (
            session.query(XComModel)
            .filter_by(dag_id=dag_id, run_id=run.run_id, task_id=task_id, key="return_value")
            .order_by(XComModel.map_index)
            .all()
        )
        print(json.dumps([[row.map_index, row.value] for row in rows]))


if __name__ == "__main__":
    main(*sys.argv[1:3])
