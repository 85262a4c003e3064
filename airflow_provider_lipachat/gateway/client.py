"""HTTP client for the LipaChat gateway: one session, explicit timeouts, bounded retries, typed errors.

No Airflow imports: usable and testable on its own.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import requests
import requests.auth
from requests.adapters import HTTPAdapter

from airflow_provider_lipachat.exceptions import LipaChatRequestError
from airflow_provider_lipachat.gateway.answers import read_envelope, read_send_result
from airflow_provider_lipachat.gateway.message_list import LIST_SCAN_MAX_PAGES, PAGE_SIZE, ListScan, MessageStatus
from airflow_provider_lipachat.gateway.messages import (
    ButtonsMessage,
    MediaMessage,
    Message,
    SendResult,
    TemplateMessage,
    TextMessage,
)
from airflow_provider_lipachat.gateway.ratelimit import RateLimiter, SenderPacer
from airflow_provider_lipachat.gateway.redaction import mask_phone
from airflow_provider_lipachat.gateway.retry import RetryPolicy
from airflow_provider_lipachat.limits import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
TEMPLATES_PATH = "/template/{sender}"
MESSAGE_LIST_PATH = "/whatsapp/message?page={page}&size={size}"
_NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class ApiKeyAuth(requests.auth.AuthBase):
    """The gateway's ``apiKey`` header; as the session's auth it also spares ``requests`` a ~/.netrc lookup per send."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["apiKey"] = self._api_key
        return request


class LipaChatClient:
    """Talks to one LipaChat gateway with one API key over one pooled ``requests.Session``.

    Transient failures (network errors, timeouts, 429, 500/502/503/504) are retried up to
    ``max_retries`` times, re-sending the identical body so the gateway can deduplicate by
    ``messageId``. Redirects are never followed: the key would travel with them. Safe to share
    between threads; ``rate_limit`` caps request starts per second across all of them, and
    ``shared_rate_limit`` paces every send by its sender number across processes too.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        rate_limit: float | None = None,
        shared_rate_limit: SenderPacer | None = None,
        pool_size: int = 10,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/").removesuffix(API_PREFIX)
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_policy = RetryPolicy(max_retries)
        self._api_key = api_key
        self._sleep = sleep
        self.rate_limiter = None if rate_limit is None else RateLimiter(rate_limit)
        self.shared_rate_limit = shared_rate_limit
        self.session = requests.Session()
        # Enough pooled connections for every sending thread, so none waits for or churns sockets.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(pool_size, 1))
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.auth = ApiKeyAuth(api_key)
        self.session.headers.update({"Content-Type": "application/json", "Accept": "application/json"})

    def __repr__(self) -> str:
        limit = None if self.rate_limiter is None else self.rate_limiter.per_second
        return (
            f"LipaChatClient(base_url={self.base_url!r}, timeout={self.timeout}, "
            f"max_retries={self.max_retries}, rate_limit={limit}, shared_rate_limit={self.shared_rate_limit!r})"
        )

    def close(self) -> None:
        self.session.close()

    def send(self, message: Message) -> SendResult:
        """Send one message to its route; returns the gateway's result or raises a ``LipaChatError``.

        The result's ``replayed`` says whether the gateway answered as already sent, judged against
        the moment before the first attempt (client retries of this send are not replays).
        """
        first_sent_at = datetime.datetime.now(datetime.timezone.utc)
        status, text = self._request(
            "POST",
            message.path,
            json_body=message.to_payload(),
            recipient=message.to,
            sender=message.from_number,
        )
        return read_send_result(status, text, API_PREFIX + message.path, message.message_id, first_sent_at)

    def send_media(self, message: MediaMessage) -> SendResult:
        """``send``, kept for callers that name the kind."""
        return self.send(message)

    def send_text(self, message: TextMessage) -> SendResult:
        return self.send(message)

    def send_template(self, message: TemplateMessage) -> SendResult:
        return self.send(message)

    def send_buttons(self, message: ButtonsMessage) -> SendResult:
        return self.send(message)

    def list_templates(self, sender: str) -> list[dict[str, Any]]:
        """The sender's templates; read-only, so it doubles as the connection test."""
        path = TEMPLATES_PATH.format(sender=sender)
        status, text = self._request("GET", path)
        data = read_envelope(status, text, API_PREFIX + path)["data"]
        templates = data.get("data") if isinstance(data, dict) else data
        return list(templates or [])

    def message_page(self, page: int, size: int = PAGE_SIZE) -> dict[str, Any]:
        """One page of the gateway's message list: the envelope with ``data`` and ``totalPages``."""
        path = MESSAGE_LIST_PATH.format(page=page, size=size)
        status, text = self._request("GET", path)
        return read_envelope(status, text, API_PREFIX + path.split("?")[0])

    def statuses(self, wa_ids: Iterable[str], max_pages: int = LIST_SCAN_MAX_PAGES) -> dict[str, MessageStatus]:
        """The latest status of each waId, in one pass over the list that stops once all are found."""
        return self.scan(ListScan(frozenset(wa_ids), max_pages=max_pages)).found

    def scan(self, scan: ListScan) -> ListScan:
        """Drive one pass over the message list (statuses, and inbound messages when it asks for them)."""
        while (page := scan.next_page()) is not None:
            scan.take(self.message_page(page))
        if scan.bounded:
            log.warning(
                "Stopped after %d page(s) of the message list (max_pages) with %d of %d message(s) not found yet",
                scan.pages_read,
                len(scan.awaited) - len(scan.found),
                len(scan.awaited),
            )
        return scan

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        recipient: str | None = None,
        sender: str | None = None,
    ) -> tuple[int, str]:
        """One logical request: the HTTP status and body text of the first non-transient answer.

        ``recipient`` is named (masked) in retry warnings, masked only when one is logged; a
        message's ``sender`` draws every attempt from that number's shared budget, if there is one.
        """
        url = self.base_url + API_PREFIX + path
        what = f"{method} {API_PREFIX}{path}"
        policy = self.retry_policy
        for attempt in range(1, policy.most_attempts + 1):
            if self.rate_limiter is not None:
                self.rate_limiter.acquire()
            if sender is not None and self.shared_rate_limit is not None:
                self.shared_rate_limit.acquire(sender)
            try:
                response = self.session.request(
                    method, url, json=json_body, timeout=self.timeout, allow_redirects=False
                )
            except _NETWORK_ERRORS as err:
                retry = policy.after_transport_error(self.base_url, what, attempt, err, self.timeout)
            else:
                text = self._redact(response.text)
                if response.is_redirect:
                    raise redirect_refused(response.status_code, response.headers.get("Location"))
                if not policy.retries_answer(response.status_code, text):
                    return response.status_code, text
                retry = policy.after_status(
                    what, attempt, response.status_code, text, response.headers.get("Retry-After"), sender=sender
                )
            if policy.gives_up(attempt, retry):
                raise retry.failure
            policy.log_retry(log, what if recipient is None else f"{what} to {mask_phone(recipient)}", attempt, retry)
            self._sleep(retry.wait)
        raise AssertionError("unreachable: the loop returns or raises")

    def _redact(self, text: str) -> str:
        return redact_key(text, self._api_key)


def redirect_refused(status_code: int, location: str | None) -> LipaChatRequestError:
    """The error for a redirect, which is never followed since the API key would travel with it."""
    return LipaChatRequestError(
        f"gateway answered HTTP {status_code} redirecting to {location!r}; redirects are not followed (the API "
        "key would travel with them): set the connection host to the final address",
        http_status=status_code,
    )


def redact_key(text: str, api_key: str) -> str:
    """The text with every occurrence of the API key replaced, so no answer can leak it."""
    return text.replace(api_key, "***") if api_key else text
