"""When a request is tried again and how long to wait first: one policy for every reader of the gateway.

The send client, the triggerer's async reader and the trigger's polls all ask a ``RetryPolicy``:
which failures are transient, how long to back off (full-jitter exponential, or the server's
``Retry-After``), and what to say when the retries run out. WhatsApp's throughput refusal (130429)
is transient whatever HTTP status carries it, and its waits are never shorter than the one-second
window WhatsApp counts in. No Airflow, no HTTP library.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from airflow_provider_lipachat.exceptions import (
    LipaChatRequestError,
    LipaChatThroughputError,
    LipaChatTransientError,
)
from airflow_provider_lipachat.gateway.answers import is_throughput_answer, snippet, throughput_error
from airflow_provider_lipachat.limits import DEFAULT_MAX_RETRIES

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 0.5
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 120.0
#: WhatsApp counts a sender number's messages per second: a wait after a throughput refusal is at least
#: this long, so the retry does not meet the same full window again.
THROUGHPUT_WINDOW = 1.0
#: Retries of throughput refusals when ``max_retries`` is fewer: a refusal says "slower", not that anything
#: failed, so a long fan-out over the limit slows down instead of failing its recipients.
THROUGHPUT_RETRIES = 10


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

    @property
    def throughput(self) -> bool:
        """Whether this was WhatsApp's throughput refusal (130429)."""
        return isinstance(self.failure, LipaChatThroughputError)


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

    A timeout (``requests``', ``httpx``'s or ``aiohttp``'s) says which wait ran out and for how long, instead of the
    HTTP library's own sentences ("Read timed out. (read timeout=20.0)").
    """
    name = type(err).__name__
    if name.endswith(("Timeout", "TimeoutError")) or name == "TimeoutException":
        waited = "no connection" if name in ("ConnectTimeout", "ConnectionTimeoutError") else "no answer"
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


def _throughput_retry(
    what: str, attempt: int, status: int, retry_after: str | None, sender: str | None, backoff: float
) -> Retry:
    """The retry after WhatsApp's 130429: the window plus jittered backoff, or ``Retry-After`` but at least the window.

    The jitter spreads the retries of many threads refused together, so they do not meet again at once.
    """
    reason = f"HTTP {status}, WhatsApp error 130429: sender throughput limit"
    failure = throughput_error(what, sender, status, attempt)
    asked = parse_retry_after(retry_after)
    wait = THROUGHPUT_WINDOW + backoff if asked is None else max(asked, THROUGHPUT_WINDOW)
    return Retry(reason, failure, wait)


@dataclass(frozen=True)
class RetryPolicy:
    """How often one request is tried again and how long to wait before each try.

    ``max_retries`` retries follow the first attempt; waits are full-jitter exponential from
    ``backoff_base`` seconds, capped at ``backoff_cap``, unless the server gave ``Retry-After``.
    WhatsApp's throughput refusal (130429) waits at least ``THROUGHPUT_WINDOW`` more and may be
    retried up to ``THROUGHPUT_RETRIES`` times when ``max_retries`` is fewer: readers loop over
    ``range(1, most_attempts + 1)`` and stop where ``gives_up`` says.
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_base: float = BACKOFF_BASE
    backoff_cap: float = BACKOFF_CAP

    @property
    def attempts(self) -> int:
        """Every try of one request: the first and its retries."""
        return self.max_retries + 1

    @property
    def most_attempts(self) -> int:
        """The bound of a reader's loop: the tries a request may get when throughput refusals need more."""
        return max(self.attempts, THROUGHPUT_RETRIES + 1)

    def attempts_for(self, retry: Retry) -> int:
        """The tries allowed for a failure of this kind, counting every attempt of the request so far."""
        return self.most_attempts if retry.throughput else self.attempts

    def gives_up(self, attempt: int, retry: Retry) -> bool:
        """Whether attempt number ``attempt`` (from 1), failed as ``retry`` says, was the last: raise its failure."""
        return attempt >= self.attempts_for(retry)

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (from 1)."""
        return backoff_delay(attempt, base=self.backoff_base, cap=self.backoff_cap)

    @staticmethod
    def retries_answer(status: int, text: str) -> bool:
        """Whether an answer is transient: a retryable status, or WhatsApp's 130429 with any status."""
        return status in RETRYABLE_STATUS or is_throughput_answer(text)

    def after_transport_error(self, base_url: str, what: str, attempt: int, err: Exception, timeout: float) -> Retry:
        """The retry after a connection failed or timed out; raises at once when retrying cannot help."""
        return _transport_retry(base_url, what, attempt, err, timeout, self.backoff(attempt))

    def after_status(
        self, what: str, attempt: int, status: int, text: str, retry_after: str | None, *, sender: str | None = None
    ) -> Retry:
        """The retry after a transient answer: the server's ``Retry-After`` if it gave one, else backoff.

        A throughput refusal (130429, ``sender`` names the number) waits at least ``THROUGHPUT_WINDOW``.
        """
        if is_throughput_answer(text):
            return _throughput_retry(what, attempt, status, retry_after, sender, self.backoff(attempt))
        return _status_retry(what, attempt, status, text, retry_after, self.backoff(attempt))

    def log_retry(self, log: logging.Logger, what: str, attempt: int, retry: Retry) -> None:
        """The warning every reader logs before it waits and tries again."""
        log.warning(
            "LipaChat %s: attempt %d of %d failed (%s); retrying in %.2f s",
            what,
            attempt,
            self.attempts_for(retry),
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
