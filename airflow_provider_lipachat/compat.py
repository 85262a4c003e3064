"""The Airflow names this provider uses, from wherever the installed release keeps them.

Airflow 3 moved the authoring surface to the Task SDK (``airflow.sdk``); Airflow 2.11 keeps it
in ``airflow.models``, ``airflow.hooks`` and friends. This is the one place that knows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow import __version__ as AIRFLOW_VERSION  # noqa: N812 - a constant, named as one

AIRFLOW_V3 = int(AIRFLOW_VERSION.split(".")[0]) >= 3

if TYPE_CHECKING:  # types are checked against the newest Task SDK
    from airflow.sdk import BaseHook, BaseNotifier, BaseOperator, BaseSensorOperator, ObjectStoragePath
    from airflow.sdk.bases.sensor import PokeReturnValue
    from airflow.sdk.exceptions import (
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )
    from airflow.sdk.log import mask_secret
elif AIRFLOW_V3:
    from airflow.sdk import BaseNotifier, BaseOperator, BaseSensorOperator
    from airflow.sdk.bases.sensor import PokeReturnValue
    from airflow.sdk.log import mask_secret

    try:
        from airflow.sdk import BaseHook
    except ImportError:  # Airflow 3.0 kept the hook base class in core
        from airflow.hooks.base import BaseHook
    try:
        from airflow.sdk.exceptions import (
            AirflowFailException,
            AirflowNotFoundException,
            AirflowSensorTimeout,
            AirflowSkipException,
        )
    except ImportError:  # Airflow 3.0 and 3.1 kept the exceptions in core
        from airflow.exceptions import (
            AirflowFailException,
            AirflowNotFoundException,
            AirflowSensorTimeout,
            AirflowSkipException,
        )
else:
    from airflow.exceptions import (
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )
    from airflow.hooks.base import BaseHook
    from airflow.models.baseoperator import BaseOperator
    from airflow.notifications.basenotifier import BaseNotifier
    from airflow.sensors.base import BaseSensorOperator, PokeReturnValue
    from airflow.utils.log.secrets_masker import mask_secret


def object_storage_path_class() -> type[ObjectStoragePath]:
    """Airflow's object-storage path type, imported only when a media link needs it (fsspec is not cheap)."""
    if AIRFLOW_V3:
        from airflow.sdk import ObjectStoragePath
    else:
        from airflow.io.path import ObjectStoragePath  # type: ignore[import-not-found,no-redef]
    return ObjectStoragePath


def default_deferrable() -> bool:
    """Airflow's ``[operators] default_deferrable``: what ``deferrable`` defaults to, as in official providers."""
    from airflow.configuration import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


async def aget_connection(conn_id: str) -> Any:
    """A connection read without blocking the event loop: the async API on 3, a worker thread on 2.11."""
    if AIRFLOW_V3 and hasattr(BaseHook, "aget_connection"):
        return await BaseHook.aget_connection(conn_id)
    from asgiref.sync import sync_to_async

    return await sync_to_async(BaseHook.get_connection)(conn_id)


__all__ = [
    "AIRFLOW_V3",
    "AIRFLOW_VERSION",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseHook",
    "BaseNotifier",
    "BaseOperator",
    "BaseSensorOperator",
    "PokeReturnValue",
    "aget_connection",
    "default_deferrable",
    "mask_secret",
    "object_storage_path_class",
]
