"""A sender number's rate limit shared by every process that sends from it: one reservation in Redis per send.

The budget is a GCRA schedule (generic cell rate algorithm) kept in one Redis key per gateway host
and sender number: each send reserves the next free slot, one interval (as wide as the in-process
limiter's) after the one before, with Redis's own clock, and sleeps until it. Processes on any
worker therefore start their sends evenly spaced, never in bursts, with one round trip per send and
no polling. A reservation whose process dies is simply an unused slot: the number runs below its
limit for that instant, never above it.

Needs ``redis`` (the ``redis`` extra); imported only when a connection names a store. No Airflow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.exceptions

from airflow_provider_lipachat.exceptions import LipaChatRateLimitStoreError
from airflow_provider_lipachat.gateway.net import canonical_host_port
from airflow_provider_lipachat.gateway.ratelimit import SPACING_MARGIN, check_per_second

KEY_PREFIX = "lipachat:rate"
# Redis's clock (TIME) so that every process, on every worker, reads one clock. ARGV[2] slots (default one)
# are reserved at once, back to back; the first's wait is returned. The key expires a second after its
# last reserved slot, so an idle number leaves nothing behind.
RESERVE_SCRIPT = """
redis.replicate_commands()
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
local next_slot = slot + tonumber(ARGV[1]) * tonumber(ARGV[2] or '1')
redis.call('SET', KEYS[1], string.format('%d', next_slot), 'PX', math.ceil((next_slot - now) / 1000) + 1000)
return slot - now
"""


def budget_key(base_url: str, sender: str) -> str:
    """The Redis key of one number's budget at one gateway: the same for every connection to that pair, however
    the gateway's URL is spelled (case, default port, path and trailing slash aside)."""
    parts = urlsplit(base_url)
    return f"{KEY_PREFIX}:{canonical_host_port(parts.scheme, parts.hostname, parts.port)}:{sender}"


class SharedRateLimit:
    """``acquire(sender)`` returns when this process may start a send from ``sender``: shared, evenly spaced.

    :param store: a Redis client every sending process can reach.
    :param store_name: how errors name the store (its Airflow connection id), never its address or password.
    :param base_url: the gateway's base URL; with the sender it keys the budget.
    :param per_second: the number's limit: sends per second from one sender, across every process.
    :param sleep: how to wait for a slot (tests pass a recorder).
    """

    def __init__(
        self,
        store: redis.Redis,
        store_name: str,
        base_url: str,
        per_second: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_second = check_per_second(per_second)
        self.store_name = store_name
        self.base_url = base_url
        self._store = store
        self._reserve: Any = store.register_script(RESERVE_SCRIPT)
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"SharedRateLimit(store={self.store_name!r}, per_second={self.per_second:g})"

    def acquire(self, sender: str) -> None:
        """Reserve the next slot of ``sender``'s budget and sleep until it; raises if the store cannot answer."""
        wait = self.reserve(sender, 1, SPACING_MARGIN / self.per_second)
        if wait > 0:
            self._sleep(wait)

    def reserve(self, sender: str, count: int, interval: float) -> float:
        """Reserve ``count`` back-to-back slots ``interval`` seconds apart in ``sender``'s budget, in one round trip.

        Returns the seconds from now to the first (0 when it is now); raises if the store cannot answer.
        """
        interval_us = max(1, round(interval * 1_000_000))
        try:
            wait_us = int(self._reserve(keys=[budget_key(self.base_url, sender)], args=[interval_us, count]))
        except redis.exceptions.RedisError as err:
            raise self._store_error(err) from None
        return max(wait_us, 0) / 1_000_000

    def check(self) -> None:
        """Raise ``LipaChatRateLimitStoreError`` unless the store answers (a connection test's ping)."""
        try:
            self._store.ping()
        except redis.exceptions.RedisError as err:
            raise self._store_error(err) from None

    def _store_error(self, err: Exception) -> LipaChatRateLimitStoreError:
        """What went wrong with the store, by connection id, never its password: refused credentials, or no answer."""
        password = self._store.connection_pool.connection_kwargs.get("password")
        reason = f"{type(err).__name__}: {err}"
        if password:
            reason = reason.replace(str(password), "***")
        unshared = (
            f"nothing was sent without it, since sending unshared could exceed the number's {self.per_second:g}/s"
        )
        undo = "or remove the connection's rate_limit_store_conn_id to pace each task alone"
        if isinstance(err, redis.exceptions.NoPermissionError) or str(err).startswith("NOPERM"):
            return LipaChatRateLimitStoreError(
                f"the shared rate limit's store refused the commands the limit needs to the user of connection "
                f"{self.store_name!r} ({reason}); {unshared}: allow that user EVALSHA, EVAL, SCRIPT LOAD and PING, "
                f"and TIME, GET and SET on keys {KEY_PREFIX}:*, and retry, {undo}"
            )
        if is_credentials_refusal(err):
            return LipaChatRateLimitStoreError(
                f"the shared rate limit's store refused the credentials of connection {self.store_name!r} "
                f"({reason}); {unshared}: give the connection the store's password (and its user as login, for an "
                f"ACL user) and retry, {undo}"
            )
        return LipaChatRateLimitStoreError(
            f"the shared rate limit's store (connection {self.store_name!r}) did not answer ({reason}); {unshared}: "
            f"fix or start the store and retry, {undo}"
        )


def is_credentials_refusal(err: Exception) -> bool:
    """Whether Redis refused the password or user (``WRONGPASS``, ``NOAUTH``), rather than not answering."""
    if isinstance(err, (redis.exceptions.AuthenticationError, redis.exceptions.AuthorizationError)):
        return True
    return isinstance(err, redis.exceptions.ResponseError) and str(err).startswith(("NOAUTH", "WRONGPASS"))
