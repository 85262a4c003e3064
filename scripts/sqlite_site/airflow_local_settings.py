"""Local settings for the Airflow that ``LoopbackAirflow`` (scripts/local_airflow.py) starts on one SQLite file.

Airflow imports ``airflow_local_settings`` from its path in every process (scheduler, CLI, api-server,
workers) before it opens the database; ``LoopbackAirflow`` puts this folder on PYTHONPATH.

A savepoint (a session's ``begin_nested()``: a backfill creates each of its runs in one) that opens a
transaction leaves pysqlite's implicit BEGIN out, so SQLite starts that transaction as a reader. When it
then writes after another process has committed, SQLite fails it at once with "database is locked"
(the snapshot it read is stale), without waiting: no busy timeout helps. Here such a transaction begins
by taking the write lock, waiting for it as any other write does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

__all__: list[str] = []  # nothing for Airflow to copy into its settings


@event.listens_for(Engine, "before_cursor_execute")
def _a_savepoint_outside_a_transaction_begins_as_the_writer(
    conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    if conn.dialect.driver == "pysqlite" and statement.startswith("SAVEPOINT") and not cursor.connection.in_transaction:
        cursor.execute("BEGIN IMMEDIATE")
