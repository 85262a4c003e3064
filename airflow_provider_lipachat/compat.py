"""The Airflow names this provider uses, imported from wherever the installed release keeps them.

Airflow 3 moved the authoring surface to the Task SDK (``airflow.sdk``); this is the one place
that knows where each name lives.
"""

from __future__ import annotations

try:
    from airflow.sdk import BaseHook, BaseNotifier, BaseOperator
    from airflow.sdk.exceptions import AirflowFailException
    from airflow.sdk.log import mask_secret
except ImportError:  # releases before the Task SDK exposed these names
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef]
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef]
    from airflow.models.baseoperator import BaseOperator  # type: ignore[no-redef]
    from airflow.notifications.basenotifier import BaseNotifier  # type: ignore[no-redef]
    from airflow.utils.log.secrets_masker import mask_secret  # type: ignore[no-redef]

__all__ = ["AirflowFailException", "BaseHook", "BaseNotifier", "BaseOperator", "mask_secret"]
