"""Airflow processes that share one SQLite file wait for its write lock rather than failing "database is locked".

SQLite takes one writer at a time. The Airflow that ``LoopbackAirflow`` starts (``make airflow``, the end-to-end
tests) waits for it in each of its engines (``sqlite_url``: pysqlite gives up after 5 s by default), and a
transaction that a savepoint opens takes it first (scripts/sqlite_site/airflow_local_settings.py): SQLite
would fail that one at once, without waiting, once another process had committed. This checks that each leg's
Airflow does both.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scripts.local_airflow import SQLITE_BUSY_SECONDS, LoopbackAirflow
from tests.support import AIRFLOW_V3

#: Run by an Airflow process: what SQLite says each of Airflow's engines waits (ms; the async one from Airflow 3
#: on), and whether a savepoint that opens a transaction holds the write lock (another writer cannot begin).
ENGINES = """
import asyncio, json, sqlite3, sys
from sqlalchemy import text
from airflow import settings

if getattr(settings, "engine", None) is None:
    settings.configure_orm()
found = {}
with settings.engine.connect() as db:
    found["sync"] = db.execute(text("PRAGMA busy_timeout")).scalar()
with settings.engine.connect() as db, db.begin_nested():
    db.execute(text("SELECT 1"))
    other = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        found["savepoint_holds_the_write_lock"] = False
    except sqlite3.OperationalError as error:
        found["savepoint_holds_the_write_lock"] = "locked" in str(error)
    other.close()


async def async_wait(engine):
    async with engine.connect() as db:
        found["async"] = (await db.execute(text("PRAGMA busy_timeout"))).scalar()
    await engine.dispose()


if getattr(settings, "async_engine", None) is not None:
    asyncio.run(async_wait(settings.async_engine))
print(json.dumps(found))
"""


def test_every_airflow_engine_on_the_loopback_database_waits_for_the_write_lock(tmp_path: Path) -> None:
    airflow = LoopbackAirflow(tmp_path, gateway_url="http://127.0.0.1:9", api_key="unused")
    done = subprocess.run(
        [sys.executable, "-c", ENGINES, str(airflow.db_path)],
        env=airflow.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    waits = dict.fromkeys(("sync", "async") if AIRFLOW_V3 else ("sync",), SQLITE_BUSY_SECONDS * 1000)
    assert found == {**waits, "savepoint_holds_the_write_lock": True}
