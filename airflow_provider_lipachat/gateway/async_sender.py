"""Sending built messages from an asyncio event loop over aiohttp: the send engine of a fan-out.

One ``aiohttp.ClientSession`` per fan-out, the same retries, backoff, ``Retry-After``, 130429
handling, redirect refusal, key redaction and typed errors as ``LipaChatClient`` (``RetryPolicy``
and the answer readers are shared). aiohttp rather than httpx: measured on this project's machines,
httpx's pool collapses above about 50 connections (``benchmarks/async_clients.py``). No Airflow.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from typing import Any

import aiohttp

from airflow_provider_lipachat.exceptions import LipaChatUnresponsiveError
from airflow_provider_lipachat.gateway.answers import read_send_result
from airflow_provider_lipachat.gateway.async_reader import tls_context
from airflow_provider_lipachat.gateway.client import API_PREFIX, redact_key, redirect_refused
from airflow_provider_lipachat.gateway.messages import Message, SendResult
from airflow_provider_lipachat.gateway.pacing import AsyncPacer, Latency
from airflow_provider_lipachat.gateway.redaction import mask_phone
from airflow_provider_lipachat.gateway.retry import RetryPolicy, transport_reason
from airflow_provider_lipachat.limits import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT

log = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: What aiohttp raises when the connection or the wait for an answer fails.
_NETWORK_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)


class AsyncSender:
    """Sends messages to one gateway with one API key, paced by ``pacer``, up to ``connections`` at once.

    Use as ``async with AsyncSender(...) as sender: await sender.send(message)``. When nothing at all
    has been answered for ``timeout`` seconds and a send then fails on the wire, it raises
    ``LipaChatUnresponsiveError``, which stops the fan-out: a silent gateway costs one timeout, not
    one per recipient.

    :param base_url: the gateway's base URL.
    :param api_key: the key sent in the ``apiKey`` header; redacted from every answer.
    :param pacer: when each send may start (the number's limit), shared by every send of the fan-out.
    :param timeout: seconds one request may take, connecting included.
    :param max_retries: retries of one send on transient failures.
    :param connections: the most connections open at once: the fan-out's bound on sends in flight.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        pacer: AsyncPacer,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        connections: int = 100,
    ) -> None:
        self.base_url = base_url.rstrip("/").removesuffix(API_PREFIX)
        self.pacer = pacer
        self.timeout = timeout
        self.retry_policy = RetryPolicy(max_retries)
        self.connections = connections
        self.latency = Latency()
        self._api_key = api_key
        self._session: aiohttp.ClientSession | None = None
        self._last_answer = time.monotonic()

    async def __aenter__(self) -> AsyncSender:
        connector = aiohttp.TCPConnector(limit=self.connections, ssl=tls_context(), enable_cleanup_closed=True)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers={"apiKey": self._api_key, "Accept": "application/json"},
            trust_env=False,  # no proxy or ~/.netrc lookup per request, as LipaChatClient's session
        )
        self._last_answer = time.monotonic()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def __repr__(self) -> str:
        return f"AsyncSender(base_url={self.base_url!r}, timeout={self.timeout}, pacer={self.pacer!r})"

    async def send(self, message: Message) -> SendResult:
        """Send one message to its route; returns the gateway's result or raises a ``LipaChatError``."""
        first_sent_at = datetime.datetime.now(datetime.timezone.utc)
        status, text = await self._post(message)
        return read_send_result(status, text, API_PREFIX + message.path, message.message_id, first_sent_at)

    async def _post(self, message: Message) -> tuple[int, str]:
        """One send: the HTTP status and body text of its first non-transient answer."""
        assert self._session is not None, "use AsyncSender as an async context manager"
        url = self.base_url + API_PREFIX + message.path
        what = f"POST {API_PREFIX}{message.path}"
        body: dict[str, Any] = message.to_payload()
        policy = self.retry_policy
        for attempt in range(1, policy.most_attempts + 1):
            await self.pacer.acquire(message.from_number)
            started = time.monotonic()
            try:
                async with self._session.post(url, json=body, allow_redirects=False) as response:
                    text = redact_key(await response.text(errors="replace"), self._api_key)
                    status, retry_after = response.status, response.headers.get("Retry-After")
                    location = response.headers.get("Location")
            except _NETWORK_ERRORS as err:
                self._raise_if_silent(what, err, started)
                retry = policy.after_transport_error(self.base_url, what, attempt, err, self.timeout)
            else:
                self._last_answer = answered = time.monotonic()
                self.latency.observe(answered - started)
                if status in REDIRECT_STATUSES and location is not None:  # what requests calls a redirect
                    raise redirect_refused(status, location)
                if not policy.retries_answer(status, text):
                    return status, text
                retry = policy.after_status(what, attempt, status, text, retry_after, sender=message.from_number)
                if retry.throughput:
                    self.pacer.refused(message.from_number)
            if policy.gives_up(attempt, retry):
                raise retry.failure
            policy.log_retry(log, f"{what} to {mask_phone(message.to)}", attempt, retry)
            await asyncio.sleep(retry.wait)
        raise AssertionError("unreachable: the loop returns or raises")

    def _raise_if_silent(self, what: str, err: Exception, started: float) -> None:
        """Raise ``LipaChatUnresponsiveError`` when nothing was answered for ``timeout`` seconds while this send was
        out (time spent waiting for a slot or a ``Retry-After`` is not silence)."""
        silent = time.monotonic() - max(self._last_answer, started)
        if silent >= self.timeout:
            raise LipaChatUnresponsiveError(
                f"{what}: the gateway at {self.base_url} answered nothing for {silent:.0f} s (the connection's "
                f"timeout is {self.timeout:g} s); the last failure: {transport_reason(err, self.timeout)}"
            ) from None
