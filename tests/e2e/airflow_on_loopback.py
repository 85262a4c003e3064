"""Airflow's long-running components on loopback, in a throwaway home, for end-to-end tests.

The components are started as ``make airflow`` starts them (scripts/local_airflow.py); a test adds what only it
needs: every process resolves loopback names only, no run for "today", and DAGs unpaused as they appear.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow_provider_lipachat.emulator import Emulator
from scripts.local_airflow import WAIT_SECONDS, LoopbackAirflow, free_port, url_answers
from tests.support import SANDBOX_SENDER

__all__ = ["LOOPBACK_SITE", "WAIT_SECONDS", "AirflowOnLoopback", "free_port", "url_answers"]

LOOPBACK_SITE = Path(__file__).resolve().parents[1] / "loopback_site"


class AirflowOnLoopback(LoopbackAirflow):
    """An Airflow home with its own SQLite database and the long-running components, talking to ``emulator``."""

    def __init__(self, home: Path, emulator: Emulator) -> None:
        super().__init__(
            home,
            gateway_url=emulator.base_url,
            api_key=emulator.api_key,
            from_number=SANDBOX_SENDER,
            jwt_secret="lipachat-e2e-jwt-secret-not-for-production",
        )
        self.env.update(
            {
                # Every Airflow process resolves loopback names only (tests/loopback_site/sitecustomize.py).
                "PYTHONPATH": os.pathsep.join([str(LOOPBACK_SITE), self.env["PYTHONPATH"]]),
                # Only the backfill and the cleared re-run may create work: no run for "today".
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            }
        )
