"""When a request is tried again and how long to wait first: one policy for every reader of the gateway.

The send client, the triggerer's async reader and the trigger's polls all ask a ``RetryPolicy``:
which failures are transient, how long to back off (full-jitter exponential, or the server's
``Retry-After``), and what to say when the retries run out. No Airflow, no HTTP library.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from airflow_provider_lipachat.exceptions import LipaChatRequestError, LipaChatTransientError
from airflow_provider_lipachat.gateway.answers import snippet
from airflow_provider_lipachat.limits import DEFAULT_MAX_RETRIES

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 120.0


def backoff_delay(attempt: int, *, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**(attempt-1))]."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), capped; None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


@dataclass(frozen=True)
class Retry:
    """One attempt's transient failure: why, the error to raise if it was the last, and the wait before the next."""

    reason: str
    failure: LipaChatTransientError
    wait: float


def _transport_retry(base_url: str, what: str, attempt: int, err: Exception, timeout: float, wait: float) -> Retry:
    """The retry after a connection failed or timed out; raises at once when retrying cannot help."""
    refused = plain_http_refusal(base_url, what, f"{type(err).__name__}: {err}")
    if refused is not None:
        raise refused from None
    reason = transport_reason(err, timeout)
    failure = LipaChatTransientError(f"{what} failed after {attempt} attempt(s): {reason}")
    return Retry(reason, failure, wait)


def transport_reason(err: Exception, timeout: float) -> str:
    """What went wrong on the wire as one clause without a closing full stop, since callers append to it.

    A timeout (``requests``' or ``httpx``'s) says which wait ran out and for how long, instead of the
    HTTP library's own sentences ("Read timed out. (read timeout=20.0)").
    """
    name = type(err).__name__
    if name.endswith("Timeout") or name == "TimeoutException":
        waited = "no connection" if name == "ConnectTimeout" else "no answer"
        return f"{name}: {waited} within {timeout:g} s"
    return f"{name}: {' '.join(str(err).split()).rstrip('.') or 'no detail given'}"


def _status_retry(what: str, attempt: int, status: int, text: str, retry_after: str | None, wait: float) -> Retry:
    """The retry after a retryable HTTP status: the server's ``Retry-After`` if it gave one, else backoff."""
    reason = f"HTTP {status}"
    failure = LipaChatTransientError(
        f"{what} failed after {attempt} attempt(s): {reason}: {snippet(text)!r}", http_status=status
    )
    asked = parse_retry_after(retry_after)
    return Retry(reason, failure, wait if asked is None else asked)


@dataclass(frozen=True)
class RetryPolicy:
    """How often one request is tried again and how long to wait before each try.

    ``max_retries`` retries follow the first attempt; waits are full-jitter exponential from
    ``backoff_base`` seconds, capped at ``backoff_cap``, unless the server gave ``Retry-After``.
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_base: float = BACKOFF_BASE
    backoff_cap: float = BACKOFF_CAP

    @property
    def attempts(self) -> int:
        """Every try of one request: the first and its retries."""
        return self.max_retries + 1

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (from 1)."""
        return backoff_delay(attempt, base=self.backoff_base, cap=self.backoff_cap)

    @staticmethod
    def retries_status(status: int) -> bool:
        """Whether an HTTP status is transient (429, 5xx from a proxy or an overloaded gateway)."""
        return status in RETRYABLE_STATUS

    def after_transport_error(self, base_url: str, what: str, attempt: int, err: Exception, timeout: float) -> Retry:
        """The retry after a connection failed or timed out; raises at once when retrying cannot help."""
        return _transport_retry(base_url, what, attempt, err, timeout, self.backoff(attempt))

    def after_status(self, what: str, attempt: int, status: int, text: str, retry_after: str | None) -> Retry:
        """The retry after a transient HTTP status: the server's ``Retry-After`` if it gave one, else backoff."""
        return _status_retry(what, attempt, status, text, retry_after, self.backoff(attempt))

    def log_retry(self, log: logging.Logger, what: str, attempt: int, retry: Retry) -> None:
        """The warning every reader logs before it waits and tries again."""
        log.warning(
            "LipaChat %s: attempt %d of %d failed (%s); retrying in %.2f s",
            what,
            attempt,
            self.attempts,
            retry.reason,
            retry.wait,
        )


def plain_http_refusal(base_url: str, what: str, reason: str) -> LipaChatRequestError | None:
    """The error for an https:// request answered in plain HTTP, which retrying cannot change, else None.

    A connection host without a scheme means https://, so a host aimed at a plain-HTTP server
    (the emulator, say) meets this.
    """
    if "WRONG_VERSION_NUMBER" not in reason or not base_url.startswith("https://"):
        return None
    server = urlsplit(base_url).netloc
    return LipaChatRequestError(
        f"{what} failed: {server} answered plain HTTP to an https:// request ({reason}): a connection host "
        f"without a scheme means https://, so for the emulator or another loopback server set the host to "
        f"http://{server}, otherwise check the host and port of the gateway"
    )
