"""Async reading of the gateway's message list over httpx, for the triggerer's event loop.

The same retries, backoff, ``Retry-After``, quirk handling and key redaction as ``LipaChatClient``;
no Airflow imports.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Iterable
from typing import Any

import certifi
import httpx

from airflow_provider_lipachat.gateway.answers import read_envelope
from airflow_provider_lipachat.gateway.client import API_PREFIX, MESSAGE_LIST_PATH, redact_key, redirect_refused
from airflow_provider_lipachat.gateway.message_list import LIST_SCAN_MAX_PAGES, PAGE_SIZE, ListScan, MessageStatus
from airflow_provider_lipachat.gateway.retry import RetryPolicy
from airflow_provider_lipachat.limits import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT

log = logging.getLogger(__name__)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every reader in the process: loading CA certificates is slow and blocks."""
    return ssl.create_default_context(cafile=certifi.where())


class AsyncMessageList:
    """Delivery status and inbound messages from the message list, read without blocking the event loop."""

    def __init__(
        self, base_url: str, api_key: str, *, timeout: float = DEFAULT_TIMEOUT, max_retries: int = DEFAULT_MAX_RETRIES
    ) -> None:
        self.base_url = base_url.rstrip("/").removesuffix(API_PREFIX)
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_policy = RetryPolicy(max_retries)
        self._api_key = api_key
        self._http: httpx.AsyncClient | None = None

    async def statuses(
        self, wa_ids: Iterable[str], max_pages: int = LIST_SCAN_MAX_PAGES
    ) -> tuple[dict[str, MessageStatus], ListScan]:
        """The latest status of each waId found in one pass, and the scan (pages read, bound hit)."""
        scan = await self.scan(ListScan(frozenset(wa_ids), max_pages=max_pages))
        return scan.found, scan

    async def scan(self, scan: ListScan) -> ListScan:
        """Drive one pass over the message list (statuses, and inbound messages when it asks for them)."""
        http = await self._client()
        while (page := scan.next_page()) is not None:
            scan.take(await self._page(http, page))
        return scan

    async def _client(self) -> httpx.AsyncClient:
        """One pooled client for every poll, built in a thread: loading TLS certificates blocks."""
        if self._http is None:
            headers = {"apiKey": self._api_key, "Accept": "application/json"}
            tls = await asyncio.to_thread(tls_context)
            self._http = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, headers=headers, verify=tls)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _page(self, http: httpx.AsyncClient, page: int) -> dict[str, Any]:
        path = MESSAGE_LIST_PATH.format(page=page, size=PAGE_SIZE)
        shown = API_PREFIX + path.split("?")[0]
        what = f"GET {shown}"
        policy = self.retry_policy
        for attempt in range(1, policy.most_attempts + 1):
            try:
                response = await http.get(self.base_url + API_PREFIX + path)
            except (httpx.TransportError, httpx.TimeoutException) as err:
                retry = policy.after_transport_error(self.base_url, what, attempt, err, self.timeout)
            else:
                text = redact_key(response.text, self._api_key)
                if response.is_redirect:
                    raise redirect_refused(response.status_code, response.headers.get("Location"))
                if not policy.retries_answer(response.status_code, text):
                    return read_envelope(response.status_code, text, shown)
                retry = policy.after_status(
                    what, attempt, response.status_code, text, response.headers.get("Retry-After")
                )
            if policy.gives_up(attempt, retry):
                raise retry.failure
            policy.log_retry(log, what, attempt, retry)
            await asyncio.sleep(retry.wait)
        raise AssertionError("unreachable: the loop returns or raises")
