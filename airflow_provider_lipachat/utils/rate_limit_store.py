"""The store that shares a sender number's rate limit between workers: a Redis connection, read from Airflow.

The connection is the Redis provider's ``redis`` type (host, port, password, optional login, extras
``db`` and ``ssl``), or any connection URI such as ``redis://:password@host:6379/0``; the Redis
provider itself is not needed, only the ``redis`` package (``pip install 'airflow-provider-lipachat[redis]'``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_lipachat.compat import AirflowNotFoundException, BaseHook, mask_secret
from airflow_provider_lipachat.exceptions import LipaChatValidationError

if TYPE_CHECKING:
    from airflow_provider_lipachat.gateway.shared_ratelimit import SharedRateLimit

FIELD = "rate_limit_store_conn_id"
DEFAULT_PORT = 6379
#: Seconds one reservation may take, connecting included: a store slower than this counts as down.
STORE_TIMEOUT = 5.0
#: Retries of a failed call to the store, 0.2 s then 0.4 s apart (redis-py's backoff doubles its 0.1 s base from
#: the first failure): a blip is absorbed, an outage fails the task within a second (redis-py's own default is
#: 10 retries).
STORE_RETRIES = 2


def _database(conn: Any) -> int:
    """The Redis database number: the ``db`` extra (as the Redis provider reads it), else a URI's path, else 0."""
    value = conn.extra_dejson.get("db", conn.schema or 0)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise LipaChatValidationError(
            "db", value, f"of Redis connection {conn.conn_id!r} is not a database number: expected 0, 1, 2, ..."
        ) from None


def shared_rate_limit(store_conn_id: str, base_url: str, per_second: float) -> SharedRateLimit:
    """``per_second`` sends per sender at ``base_url``, shared through the Redis connection ``store_conn_id``."""
    try:
        import redis
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        from airflow_provider_lipachat.gateway.shared_ratelimit import SharedRateLimit
    except ImportError:
        raise LipaChatValidationError(
            FIELD,
            store_conn_id,
            "names a Redis store, but the redis package is not installed: "
            "pip install 'airflow-provider-lipachat[redis]' on every worker",
        ) from None
    try:
        conn = BaseHook.get_connection(store_conn_id)
    except AirflowNotFoundException:
        raise LipaChatValidationError(
            FIELD,
            store_conn_id,
            "names no connection; create a Redis connection every worker can read, e.g. "
            f"AIRFLOW_CONN_{store_conn_id.upper()}='redis://:<password>@<host>:6379/0'",
        ) from None
    if conn.password:
        mask_secret(conn.password)
    extras = conn.extra_dejson
    store = redis.Redis(
        host=conn.host or "localhost",
        port=conn.port or DEFAULT_PORT,
        db=_database(conn),
        username=conn.login or None,
        password=conn.password or None,
        ssl=str(extras.get("ssl", "")).lower() in ("true", "1"),
        socket_timeout=STORE_TIMEOUT,
        socket_connect_timeout=STORE_TIMEOUT,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.1), STORE_RETRIES),
    )
    return SharedRateLimit(store, store_conn_id, base_url, per_second)
