"""LipaChatHook: turns an Airflow connection into one configured, reused LipaChatClient."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_lipachat.compat import AirflowNotFoundException, BaseHook, aget_connection, mask_secret
from airflow_provider_lipachat.exceptions import LipaChatError, LipaChatValidationError
from airflow_provider_lipachat.gateway.client import LipaChatClient
from airflow_provider_lipachat.gateway.message_list import LIST_SCAN_MAX_PAGES, ListScan, MessageStatus, list_mark
from airflow_provider_lipachat.gateway.messages import (
    Button,
    ButtonsMessage,
    MediaMessage,
    Message,
    SendResult,
    TemplateMessage,
    TextMessage,
)
from airflow_provider_lipachat.gateway.redaction import mask_phone
from airflow_provider_lipachat.hooks.connection_form import UI_FIELD_BEHAVIOUR, form_widgets
from airflow_provider_lipachat.hooks.settings import ConnectionSettings, Overrides
from airflow_provider_lipachat.limits import (
    MAX_IN_FLIGHT,
    UNPACED_IN_FLIGHT,
    parse_max_retries,
    parse_rate_limit,
    parse_timeout,
)

if TYPE_CHECKING:
    from airflow_provider_lipachat.gateway.async_reader import AsyncMessageList
    from airflow_provider_lipachat.gateway.async_sender import AsyncSender
    from airflow_provider_lipachat.gateway.shared_ratelimit import SharedRateLimit

TEST_CONNECTION_TIMEOUT = 10.0


def _optional_id(message_id: str | None) -> dict[str, str]:
    """Pass a message id only when there is one, so a message without it gets a fresh one."""
    return {"message_id": message_id} if message_id else {}


class LipaChatHook(BaseHook):
    """Send WhatsApp messages through LipaChat using an Airflow connection of type ``lipachat``.

    The connection's password is the API key, its host the gateway URL, and its extras
    ``from_number`` (default sender), ``default_region`` (the country national numbers are read
    in), ``timeout``, ``max_retries``, ``rate_limit`` (the sender number's messages per second) and
    ``rate_limit_store_conn_id`` (a Redis connection that shares that limit with every task and
    worker). ``timeout`` and ``max_retries`` given here override the connection's; ``rate_limit``
    given here applies on top of the connection's, and the lower wins.

    :param lipachat_conn_id: the ``lipachat`` connection to read (default ``lipachat_default``).
    :param timeout: seconds one request may take; overrides the connection's ``timeout`` extra.
    :param max_retries: retries of one request on transient failures (0-10); overrides ``max_retries``.
    :param rate_limit: messages per second this hook's client starts at most, on top of the connection's.
    :param pool_size: pooled connections the client keeps, one per sending thread.
    """

    conn_name_attr = "lipachat_conn_id"
    default_conn_name = "lipachat_default"
    conn_type = "lipachat"
    hook_name = "LipaChat"

    def __init__(
        self,
        lipachat_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        rate_limit: float | None = None,
        pool_size: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.lipachat_conn_id = lipachat_conn_id
        self._overrides = Overrides(
            timeout=None if timeout is None else parse_timeout(timeout),
            max_retries=None if max_retries is None else parse_max_retries(max_retries),
            rate_limit=parse_rate_limit(rate_limit),
        )
        self.pool_size = pool_size
        self._settings: ConnectionSettings | None = None

    @property
    def settings(self) -> ConnectionSettings:
        """This hook's connection, read once and checked; the API key is registered for masking."""
        if self._settings is None:
            try:
                conn = self.get_connection(self.lipachat_conn_id)
            except AirflowNotFoundException:
                raise LipaChatValidationError(
                    "lipachat_conn_id",
                    self.lipachat_conn_id,
                    "names no connection; create it, e.g. `airflow connections add "
                    f"{self.lipachat_conn_id} --conn-type lipachat --conn-password <API key> "
                    '--conn-extra \'{"from_number": "<sender>"}\'` or an environment variable '
                    f"AIRFLOW_CONN_{self.lipachat_conn_id.upper()}",
                ) from None
            self._settings = self.settings_from(conn)
        return self._settings

    async def asettings(self) -> ConnectionSettings:
        """``settings`` read without blocking the event loop (in the triggerer): the same value, read once.

        Raises Airflow's ``AirflowNotFoundException`` when the connection does not exist.
        """
        if self._settings is None:
            from asgiref.sync import sync_to_async

            connection = await aget_connection(self.lipachat_conn_id)
            # Off the event loop: registering the key for masking is a blocking supervisor call on Airflow 3.0.
            settings = await sync_to_async(self.settings_from)(connection)
            self._settings = settings
        return self._settings

    def settings_from(self, conn: Any) -> ConnectionSettings:
        """This hook's settings from a connection, however it was read (sync, or async in the triggerer)."""
        if conn.password:
            mask_secret(conn.password)
        return ConnectionSettings.read(conn, self.lipachat_conn_id, self._overrides)

    @cached_property
    def client(self) -> LipaChatClient:
        """One client (one pooled session) for the life of this hook."""
        settings = self.settings
        return LipaChatClient(
            settings.base_url,
            settings.api_key,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            rate_limit=settings.local_rate_limit,
            shared_rate_limit=self.shared_rate_limit(),
            pool_size=self.pool_size,
        )

    def shared_rate_limit(self) -> SharedRateLimit | None:
        """The sender number's limit shared through the connection's Redis store, or None without one."""
        settings = self.settings
        if settings.rate_limit_store_conn_id is None or settings.shared_rate_limit is None:
            return None
        from airflow_provider_lipachat.utils.rate_limit_store import shared_rate_limit

        return shared_rate_limit(settings.rate_limit_store_conn_id, settings.base_url, settings.shared_rate_limit)

    @property
    def rate_limit(self) -> float | None:
        """Messages per second this hook's client starts at most (its own or the connection's, the lower), or None."""
        return self.settings.effective_rate_limit

    def pacing(self) -> str:
        """How sends are paced, for a log line: ``""``, or e.g. ", at most 40/s (40/s shared by every task ...)"."""
        limit = self.settings.effective_rate_limit
        if limit is None:
            return ""
        shared = self.settings.shared_rate_limit
        if shared is None:
            return f", at most {limit:g}/s"
        store = self.settings.rate_limit_store_conn_id
        return f", at most {limit:g}/s ({shared:g}/s shared by every task sending from this number, through {store!r})"

    def statuses(self, wa_ids: Iterable[str], max_pages: int = LIST_SCAN_MAX_PAGES) -> dict[str, MessageStatus]:
        """The latest delivery status of each waId found on the gateway's message list."""
        return self.client.statuses(wa_ids, max_pages=max_pages)

    def replies(
        self, wa_ids: Iterable[str], senders: Iterable[str] | None = None, max_pages: int = LIST_SCAN_MAX_PAGES
    ) -> ListScan:
        """One pass over the message list: the status of each waId, and the inbound messages from ``senders``
        (from anyone when None) met on the way."""
        scan = ListScan(
            frozenset(wa_ids),
            max_pages=max_pages,
            replies=True,
            reply_senders=None if senders is None else frozenset(senders),
        )
        return self.client.scan(scan)

    def list_mark(self) -> str | None:
        """Where the message list stands now (its newest item's key); None when it is empty.

        Read before sends whose replays matter: ``replayed_since`` then tells which answers were replayed.
        """
        return list_mark(self.client.message_page(0))

    def replayed_since(
        self, mark: str | None, wa_ids: Iterable[str], max_pages: int = LIST_SCAN_MAX_PAGES
    ) -> frozenset[str] | None:
        """Of the waIds sends were answered with, those listed before ``mark`` was read: the gateway answered
        those sends with an earlier message, sending nothing new. None when the list cannot tell (see
        ``ListScan.older_than_mark``). Compares places on the list, never clocks.
        """
        scan = self.client.scan(ListScan(frozenset(wa_ids), max_pages=max_pages, mark=mark))
        return scan.older_than_mark(empty_before=mark is None)

    def async_sender(self, max_in_flight: int | None = None) -> AsyncSender:
        """A fan-out's sender (``async with``): this connection's key, timeout and retries, paced by the task's limit
        and the number's (shared through the store when the connection names one).

        :param max_in_flight: the most sends in flight; default ``MAX_IN_FLIGHT`` when a rate limit applies
            (the fan-out fits the window to the latency below it), else ``UNPACED_IN_FLIGHT``.
        """
        from airflow_provider_lipachat.gateway.async_sender import AsyncSender
        from airflow_provider_lipachat.gateway.pacing import AsyncPacer

        settings = self.settings
        pacer = AsyncPacer(settings.local_rate_limit, self.shared_rate_limit())
        default = MAX_IN_FLIGHT if pacer.rate is not None else UNPACED_IN_FLIGHT
        return AsyncSender(
            settings.base_url,
            settings.api_key,
            pacer,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            connections=max_in_flight or default,
        )

    async def amessage_list(self) -> AsyncMessageList:
        """The message list's async reader for the triggerer, the connection read without blocking the event loop."""
        from airflow_provider_lipachat.gateway.async_reader import AsyncMessageList

        settings = await self.asettings()
        return AsyncMessageList(
            settings.base_url, settings.api_key, timeout=settings.timeout, max_retries=settings.max_retries
        )

    def get_conn(self) -> LipaChatClient:
        return self.client

    def default_sender(self, from_number: str | None = None) -> str:
        """The sender to use: the one given, else the connection's ``from_number``."""
        if from_number:
            return from_number
        configured = self.settings.from_number
        if configured is None:
            raise LipaChatValidationError(
                "from_number",
                from_number,
                f"was not given and connection {self.lipachat_conn_id!r} has no extra 'from_number'; "
                "set one of them to your sender number with country code (sandbox: 254110090747)",
            )
        return configured

    def send(self, message: Message) -> SendResult:
        """Send one built message (``media_message``, ``text_message``, ...; or a copy of one ``addressed``
        to another recipient); raises a ``LipaChatError`` subclass on failure. Nothing is checked again."""
        return self.client.send(message)

    def media_message(
        self,
        to: str,
        media_url: str,
        media_type: str | None = None,
        caption: str | None = None,
        filename: str | None = None,
        from_number: str | None = None,
        message_id: str | None = None,
    ) -> MediaMessage:
        """A validated message from this connection's sender (unless ``from_number`` is given)."""
        return MediaMessage(
            to=to,
            media_url=media_url,
            media_type=media_type,
            caption=caption,
            filename=filename,
            from_number=self.default_sender(from_number),
            **_optional_id(message_id),
        )

    def send_media(
        self,
        to: str,
        media_url: str,
        media_type: str | None = None,
        caption: str | None = None,
        filename: str | None = None,
        from_number: str | None = None,
        message_id: str | None = None,
    ) -> SendResult:
        """Validate and send one media message; raises a ``LipaChatError`` subclass on failure."""
        return self.send(self.media_message(to, media_url, media_type, caption, filename, from_number, message_id))

    def text_message(
        self, to: str, message: str, from_number: str | None = None, message_id: str | None = None
    ) -> TextMessage:
        """A validated free-form text message (at most 4096 characters)."""
        return TextMessage(
            to=to, message=message, from_number=self.default_sender(from_number), **_optional_id(message_id)
        )

    def send_text(
        self, to: str, message: str, from_number: str | None = None, message_id: str | None = None
    ) -> SendResult:
        """Send free-form text; only reaches recipients inside their 24-hour window."""
        return self.send(self.text_message(to, message, from_number, message_id))

    def buttons_message(
        self,
        to: str,
        message: str,
        buttons: Sequence[Button | Mapping[str, str] | str] | str,
        from_number: str | None = None,
        message_id: str | None = None,
        question_token: str | None = None,
    ) -> ButtonsMessage:
        """A validated message with 1 to 3 reply buttons (text at most 1024 characters, titles at most 20).

        ``question_token`` (``utils.message_ids.question_token``) is sent with every button's id, so a
        press names this question; None sends the ids as given.
        """
        return ButtonsMessage(
            to=to,
            text=message,
            buttons=buttons,
            from_number=self.default_sender(from_number),
            question_token=question_token,
            **_optional_id(message_id),
        )

    def send_buttons(
        self,
        to: str,
        message: str,
        buttons: Sequence[Button | Mapping[str, str] | str] | str,
        from_number: str | None = None,
        message_id: str | None = None,
        question_token: str | None = None,
    ) -> SendResult:
        """Send text with reply buttons; free-form, so it only reaches recipients inside their 24-hour window."""
        return self.send(self.buttons_message(to, message, buttons, from_number, message_id, question_token))

    def template_message(
        self,
        to: str,
        template_name: str,
        language_code: str = "en",
        header_media_url: str | None = None,
        header_media_type: str | None = None,
        body_placeholders: Sequence[str] | str = (),
        from_number: str | None = None,
        message_id: str | None = None,
    ) -> TemplateMessage:
        """A validated template message, optionally with a media header."""
        return TemplateMessage(
            to=to,
            template_name=template_name,
            language_code=language_code,
            header_media_url=header_media_url,
            header_media_type=header_media_type,
            body_placeholders=body_placeholders,
            from_number=self.default_sender(from_number),
            **_optional_id(message_id),
        )

    def send_template(
        self,
        to: str,
        template_name: str,
        language_code: str = "en",
        header_media_url: str | None = None,
        header_media_type: str | None = None,
        body_placeholders: Sequence[str] | str = (),
        from_number: str | None = None,
        message_id: str | None = None,
    ) -> SendResult:
        """Send an approved template message: the one kind WhatsApp accepts outside the 24-hour window."""
        message = self.template_message(
            to,
            template_name,
            language_code,
            header_media_url,
            header_media_type,
            body_placeholders,
            from_number,
            message_id,
        )
        return self.send(message)

    def test_connection(self) -> tuple[bool, str]:
        """List the sender's templates once (short timeout, no retries); ping the rate limit's store if it has one."""
        try:
            sender = self.default_sender()
            client = LipaChatClient(
                self.settings.base_url, self.settings.api_key, timeout=TEST_CONNECTION_TIMEOUT, max_retries=0
            )
            try:
                templates = client.list_templates(sender)
            finally:
                client.close()
            shared = self.shared_rate_limit()
            if shared is not None:
                shared.check()
        except LipaChatError as err:
            return False, str(err)
        except Exception as err:  # a connection test reports every failure instead of raising
            return False, f"{type(err).__name__}: {err}"
        store = "" if shared is None else f"; the rate limit's store {shared.store_name!r} answered"
        return True, (
            f"Connected to {self.settings.base_url}: {len(templates)} template(s) for {mask_phone(sender)}{store}"
        )

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Form behaviour for Airflow releases that do not read ``ui-field-behaviour`` from provider info."""
        return {
            "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
            "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
            "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields for Airflow releases that do not read ``conn-fields`` from provider info."""
        return form_widgets()
