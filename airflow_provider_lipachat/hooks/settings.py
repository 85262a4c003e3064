"""The settings a ``lipachat`` connection holds, as one typed value: read once, checked once.

No Airflow imports: ``ConnectionSettings.read`` takes anything shaped like an Airflow connection
(``password``, ``host``, ``schema``, ``port``, ``extra_dejson``), read synchronously by the hook or
asynchronously by the trigger, so the rules are tested without Airflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.gateway.net import canonical_host_port, is_loopback
from airflow_provider_lipachat.gateway.recipients import NumberingPlan, international_digits, parse_default_region
from airflow_provider_lipachat.hooks.connection_form import DEFAULT_HOST
from airflow_provider_lipachat.limits import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    parse_max_retries,
    parse_rate_limit,
    parse_timeout,
)


class ConnectionLike(Protocol):
    """The part of an Airflow ``Connection`` the settings are read from."""

    password: str | None
    host: str | None
    schema: str | None
    port: int | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


def gateway_base_url(host: str | None, schema: str | None = None, port: int | None = None) -> str:
    """The gateway's base URL from a connection: https, or plain http only for loopback hosts.

    Spelled one way (lower-case scheme and host, no default port, no trailing slash), so that every
    spelling of one gateway is one gateway, for the shared rate limit's budget too.
    """
    raw = (host or "").strip() or DEFAULT_HOST
    if "://" not in raw:
        raw = f"{(schema or 'https').strip().lower()}://{raw}"
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    try:
        explicit_port = parts.port
    except ValueError:
        raise LipaChatValidationError(
            "host", raw, "has a port that is not a number from 0 to 65535, e.g. https://gateway.lipachat.com:443"
        ) from None
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = canonical_host_port(scheme, parts.hostname, port if explicit_port is None else explicit_port)
    url = f"{scheme}://{userinfo + '@' if userinfo else ''}{netloc}{parts.path}".rstrip("/")
    if scheme == "https" and parts.hostname:
        return url
    if scheme == "http" and is_loopback(parts.hostname):
        return url
    raise LipaChatValidationError(
        "host",
        url,
        "is not allowed: the gateway is reached over https:// (default "
        f"{DEFAULT_HOST}); plain http:// is accepted only for loopback hosts such as the emulator",
    )


def _extra_value(extras: dict[str, Any], name: str) -> Any:
    value = extras.get(name, extras.get(f"extra__lipachat__{name}"))
    return None if value == "" else value


@dataclass(frozen=True)
class Overrides:
    """Settings a hook's caller gives itself: timeout and retries win over the connection's extras, and
    the rate limit applies on top of the connection's (the lower wins)."""

    timeout: float | None = None
    max_retries: int | None = None
    rate_limit: float | None = None


@dataclass(frozen=True)
class ConnectionSettings:
    """What the client needs from a ``lipachat`` connection, checked: URL, key, timeouts, retries, rates, sender,
    and the region national numbers are read in.

    ``rate_limit`` is the sender number's limit (the connection's extra), shared by every process
    through the Redis connection ``rate_limit_store_conn_id`` when it names one; ``task_rate_limit``
    is the caller's own limit on top.
    """

    base_url: str
    api_key: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    rate_limit: float | None = None
    from_number: str | None = None
    rate_limit_store_conn_id: str | None = None
    task_rate_limit: float | None = None
    #: The country national numbers (``0711 000 921``) are read in; None: they are refused.
    default_region: str | None = None

    def numbering_plan(self, check: bool = True) -> NumberingPlan:
        """How recipients are read and checked: this connection's region, and the plan unless ``check`` is False."""
        return NumberingPlan(self.default_region, check)

    @property
    def shared_rate_limit(self) -> float | None:
        """The number's limit when a store shares it between every process, else None."""
        return self.rate_limit if self.rate_limit_store_conn_id else None

    @property
    def local_rate_limit(self) -> float | None:
        """What one client paces itself to: the task's own limit, and the number's unless a store shares it."""
        unshared = None if self.shared_rate_limit is not None else self.rate_limit
        return min((limit for limit in (self.task_rate_limit, unshared) if limit is not None), default=None)

    @property
    def effective_rate_limit(self) -> float | None:
        """The most messages per second a client of these settings starts: the lower of the two limits."""
        return min((limit for limit in (self.task_rate_limit, self.rate_limit) if limit is not None), default=None)

    @classmethod
    def read(cls, conn: ConnectionLike, conn_id: str, overrides: Overrides = Overrides()) -> ConnectionSettings:
        """The settings of connection ``conn_id``; ``overrides`` win over its extras. Raises on a bad value."""
        if not conn.password:
            raise LipaChatValidationError("password", None, f"connection {conn_id!r} has no API key; set its password")
        extras = conn.extra_dejson
        timeout = overrides.timeout if overrides.timeout is not None else _extra_value(extras, "timeout")
        retries = overrides.max_retries if overrides.max_retries is not None else _extra_value(extras, "max_retries")
        limit = parse_rate_limit(_extra_value(extras, "rate_limit"))
        store = _extra_value(extras, "rate_limit_store_conn_id")
        store = None if store is None else str(store).strip() or None
        if store is not None and limit is None:
            raise LipaChatValidationError(
                "rate_limit_store_conn_id",
                store,
                f"names a store to share connection {conn_id!r}'s rate limit, but the connection has no rate_limit: "
                "set rate_limit (messages per second for this sender number), or remove rate_limit_store_conn_id",
            )
        from_number = _extra_value(extras, "from_number")
        return cls(
            base_url=gateway_base_url(conn.host, conn.schema, conn.port),
            api_key=conn.password,
            timeout=DEFAULT_TIMEOUT if timeout is None else parse_timeout(timeout),
            max_retries=DEFAULT_MAX_RETRIES if retries is None else parse_max_retries(retries),
            rate_limit=limit,
            from_number=None if from_number is None else international_digits(str(from_number), "from_number"),
            rate_limit_store_conn_id=store,
            task_rate_limit=overrides.rate_limit,
            default_region=parse_default_region(_extra_value(extras, "default_region")),
        )
