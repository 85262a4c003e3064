"""How a task built on this provider looks and ends: its colour in the UI, and errors as task outcomes."""

from __future__ import annotations

from typing import NoReturn

from airflow_provider_lipachat.compat import AirflowFailException
from airflow_provider_lipachat.exceptions import LipaChatError

WHATSAPP_GREEN = "#25D366"


def raise_as_task_failure(err: LipaChatError, context: str = "") -> NoReturn:
    """Permanent errors fail the task without Airflow retries; transient ones are raised for Airflow to retry."""
    if err.retryable:
        raise err
    raise AirflowFailException(f"{context}: {err}" if context else str(err)) from err
