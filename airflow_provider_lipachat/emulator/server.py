"""A local stand-in for the LipaChat gateway, answering as lipachat-api.md documents, on loopback only.

Where the gateway's behaviour is undocumented the emulator makes one choice and says so:
error envelopes answer HTTP 400, the Invalid-credentials quirk answers HTTP 200 with
``status: "success"`` (that is the quirk), and a repeated ``messageId`` answers the original
result without delivering again.

A throughput limit per sender number (WhatsApp's, off unless set: ``throughput``, ``--throughput``,
``POST /_emulator/throughput``) refuses the excess with WhatsApp's error 130429 in LipaChat's
error envelope, HTTP 400 unless set otherwise; that shape is ASSUMED (see ``throughput``, which also says
when a send is counted). Answers wait a latency (``latency``, ``--latency``, ``POST /_emulator/latency``):
fixed, or drawn by each request from a range (``latency``).
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_lipachat.emulator.inbound_messages import (
    EmulatedInboundMessage,
    InboundSpec,
    InboundSpecError,
    ReplyScript,
    validate_buttons,
)
from airflow_provider_lipachat.emulator.latency import Latency
from airflow_provider_lipachat.emulator.lifecycle import StatusScript, StatusScriptError
from airflow_provider_lipachat.emulator.media import MediaFetch, fetch_media, fetchable, media_link
from airflow_provider_lipachat.emulator.state import (
    EmulatorState,
    Fault,
    FaultSpecError,
    gateway_timestamp,
    success_envelope,
)
from airflow_provider_lipachat.emulator.throughput import (
    DEFAULT_THROUGHPUT_STATUS,
    Arrival,
    ThroughputLimit,
    ThroughputSpecError,
    throughput_error_envelope,
)
from airflow_provider_lipachat.gateway.net import is_loopback

DEFAULT_API_KEY = "lipachat-emulator-key"
MEDIA_TYPES = ("IMAGE", "VIDEO", "AUDIO", "DOCUMENT", "STICKER")
CAPTION_TYPES = ("IMAGE", "VIDEO", "DOCUMENT")
MAX_TEXT_LENGTH = 4096
SESSION_CLOSED_MESSAGE = (
    "Message not sent: the recipient is outside the 24-hour sandbox session window. "
    "Only template messages can be sent until the customer messages you."
)
SEND_ROUTES = {
    "/api/v1/whatsapp/media": ("media", "Media sent successfully"),
    "/api/v1/whatsapp/message/text": ("text", "Message sent successfully"),
    "/api/v1/whatsapp/template": ("template", "Template message sent successfully"),
    "/api/v1/whatsapp/interactive/buttons": ("buttons", "Message sent successfully"),
}
CONTROL_LISTS = {"/_emulator/messages": "deliveries", "/_emulator/requests": "requests", "/_emulator/faults": "faults"}
INBOUND_PATH = "/_emulator/inbound"
REPLIES_PATH = "/_emulator/replies"
ARRIVALS_PATH = "/_emulator/arrivals"
RESET_PATH = "/_emulator/reset"
THROUGHPUT_PATH = "/_emulator/throughput"
LATENCY_PATH = "/_emulator/latency"
TEMPLATE_LIST_PREFIX = "/api/v1/template/"
MESSAGE_LIST_PATH = "/api/v1/whatsapp/message"
MAX_PAGE_SIZE = 100
HTML_ERROR_PAGE = "<html><head><title>{status} {phrase}</title></head><body><h1>{status} {phrase}</h1></body></html>"


def _error_envelope(message: str) -> dict[str, Any]:
    return {"timestamp": gateway_timestamp(), "data": None, "status": "error", "message": message, "errors": None}


def _framework_error(status: int, path: str) -> dict[str, Any]:
    """The Java framework's own error body, which carries no data and no message."""
    return {"timestamp": gateway_timestamp(), "status": status, "error": HTTPStatus(status).phrase, "path": path}


def _is_number(value: object) -> bool:
    return isinstance(value, str) and value.lstrip("+").isdigit() and not value.lstrip("+").startswith("0")


def validate_send(route: str, payload: dict[str, Any]) -> str | None:
    """The gateway's own field checks; returns the error message, or None when the payload is fine."""
    if not payload.get("messageId"):
        return "messageId is required"
    for name in ("from", "to"):
        if not _is_number(payload.get(name)):
            return f"{name} must be a phone number starting with a country code"
    if route == "media":
        media_type = payload.get("mediaType")
        if media_type not in MEDIA_TYPES:
            return f"mediaType must be one of {', '.join(MEDIA_TYPES)}"
        if not str(payload.get("mediaUrl", "")).startswith("https://"):
            return "mediaUrl must be a valid URL starting with https://"
        caption = payload.get("caption")
        if caption and (media_type not in CAPTION_TYPES or len(caption) > 1024):
            return "caption is allowed only on IMAGE, VIDEO and DOCUMENT, up to 1024 characters"
        if payload.get("filename") and media_type != "DOCUMENT":
            return "filename is allowed only on DOCUMENT"
    elif route == "text":
        message = payload.get("message")
        if not isinstance(message, str) or not message or len(message) > MAX_TEXT_LENGTH:
            return f"message must be text of 1 to {MAX_TEXT_LENGTH} characters"
    elif route == "template":
        template = payload.get("template")
        if not isinstance(template, dict) or not template.get("name"):
            return "template.name is required"
    elif route == "buttons":
        return validate_buttons(payload)
    return None


def _invalid_credentials() -> tuple[int, Any, str]:
    """The gateway's answer to a wrong key: HTTP 200 and ``status: "success"`` (the quirk lipachat-api.md documents)."""
    return 200, {"data": None, "status": "success", "message": "Invalid credentials", "errors": None}, "auth"


def answer_send(state: EmulatorState, api_key: str | None, path: str, payload: Any) -> tuple[int, Any, str]:
    """(HTTP status, JSON answer, outcome for the request log) for a send to ``path`` (one of ``SEND_ROUTES``),
    as the gateway answers it: the key, the fields, the 24-hour window, then the sender's throughput."""
    if api_key != state.api_key:
        return _invalid_credentials()
    if not isinstance(payload, dict):
        return 400, _framework_error(400, path), "malformed"
    kind, status_desc = SEND_ROUTES[path]
    problem = validate_send(kind, payload)
    if problem is not None:
        return 400, _error_envelope(problem), "rejected"
    if kind != "template" and not state.session_open(str(payload["to"]).lstrip("+")):
        return 400, _error_envelope(SESSION_CLOSED_MESSAGE), "session_closed"
    answer, outcome = state.send(kind, payload, status_desc)
    if answer is None:  # over the sender's throughput limit: WhatsApp's 130429, in an ASSUMED shape
        limit = state.throughput
        status = DEFAULT_THROUGHPUT_STATUS if limit is None else limit.http_status
        return status, throughput_error_envelope(gateway_timestamp()), outcome
    return 200, answer, outcome


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        if self.server.verbose:
            super().log_message(format, *args)

    # -- plumbing ---------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        """Status line, headers and body in a single write, so no delayed-ACK stall splits them."""
        lines = [
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
            "Server: lipachat-emulator",
            f"Date: {formatdate(usegmt=True)}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
        ]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        if self.server.verbose:
            self.log_request(status, len(body))

    def _send_json(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(document).encode(), "application/json", headers)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reset_connection(self) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    # -- routes -----------------------------------------------------------------------------

    def do_GET(self) -> None:
        state = self.server.state
        if self.path in CONTROL_LISTS:
            self._send_json(200, state.snapshot()[CONTROL_LISTS[self.path]])
        elif self.path == INBOUND_PATH:
            self._send_json(200, [m.to_json() for m in state.arrived_inbound()])
        elif urlsplit(self.path).path == ARRIVALS_PATH:
            sender = parse_qs(urlsplit(self.path).query).get("sender", [None])[0]
            self._send_json(200, [a.to_json() for a in state.arrivals_of(sender)])
        elif self.path == THROUGHPUT_PATH:
            self._send_json(200, state.throughput_report())
        elif self.path == LATENCY_PATH:
            self._send_json(200, self.server.latency.to_json())
        elif self.path.startswith(TEMPLATE_LIST_PREFIX) or urlsplit(self.path).path == MESSAGE_LIST_PATH:
            self._gateway_request(None, None)
        else:
            self._send_json(404, {"error": "Not Found", "path": self.path})

    def do_POST(self) -> None:
        raw = self._read_body()
        if self.path.startswith("/_emulator/"):
            self._control(raw)
        elif self.path in SEND_ROUTES:
            self._gateway_request(SEND_ROUTES[self.path], raw)
        else:
            self._send_json(404, _framework_error(404, self.path))

    def _control(self, raw: bytes) -> None:
        state = self.server.state
        if self.path == RESET_PATH:
            state.reset()
            self._send_json(200, {"reset": True})
        elif self.path == "/_emulator/faults":
            try:
                spec = json.loads(raw or b"{}")
                if not isinstance(spec, dict):
                    raise FaultSpecError("expected a JSON object describing one fault")
                fault = Fault.from_spec(spec)
            except (ValueError, FaultSpecError) as err:
                self._send_json(400, {"error": str(err)})
                return
            state.add_fault(fault)
            self._send_json(201, fault.to_json())
        elif self.path == "/_emulator/statuses":
            try:
                spec = json.loads(raw or b"{}")
                if not isinstance(spec, dict):
                    raise StatusScriptError("expected a JSON object describing one status script")
                script = StatusScript.from_spec(spec)
            except ValueError as err:
                self._send_json(400, {"error": str(err)})
                return
            state.add_status_script(script)
            self._send_json(201, script.to_json())
        elif self.path in (INBOUND_PATH, REPLIES_PATH):
            self._inbound_control(raw)

        elif self.path == THROUGHPUT_PATH:
            self._set_throughput(raw)
        elif self.path == LATENCY_PATH:
            self._set_latency(raw)
        elif self.path.startswith("/_emulator/sessions/"):
            number = self.path.rsplit("/", 1)[1]
            if not _is_number(number):
                self._send_json(400, {"error": f"{number!r} is not a phone number with a country code"})
                return
            state.open_session(number)
            self._send_json(200, {"session": number.lstrip("+"), "open": True})
        else:
            self._send_json(404, {"error": "Not Found", "path": self.path})

    def _inbound_control(self, raw: bytes) -> None:
        """``POST /_emulator/inbound`` receives a message from a number; ``/_emulator/replies`` scripts answers."""
        state = self.server.state
        try:
            spec = json.loads(raw or b"{}")
            if not isinstance(spec, dict):
                raise InboundSpecError("expected a JSON object")
            if self.path == INBOUND_PATH:
                document = state.add_inbound(InboundSpec.from_spec(spec)).to_json()
            else:
                script = ReplyScript.from_spec(spec)
                state.add_reply_script(script)
                document = script.to_json()
        except ValueError as err:
            self._send_json(400, {"error": str(err)})
            return
        self._send_json(201, document)

    def _set_throughput(self, raw: bytes) -> None:
        """``{"per_second": N, "http_status": 400}`` sets the per-sender limit; ``{"per_second": null}`` clears it."""
        try:
            spec = json.loads(raw or b"{}")
            if not isinstance(spec, dict) or "per_second" not in spec:
                raise ThroughputSpecError('expected a JSON object {"per_second": N} (null clears the limit)')
            unknown = set(spec) - {"per_second", "http_status"}
            if unknown:
                raise ThroughputSpecError(f"unknown throughput fields {sorted(unknown)}")
            limit = None
            if spec["per_second"] is not None:
                limit = ThroughputLimit.parse(spec["per_second"], spec.get("http_status", DEFAULT_THROUGHPUT_STATUS))
        except ValueError as err:
            self._send_json(400, {"error": str(err)})
            return
        self.server.state.set_throughput(limit)
        self._send_json(200, self.server.state.throughput_report())

    def _set_latency(self, raw: bytes) -> None:
        """``{"seconds": 0.3}`` or ``{"seconds": [0.2, 0.6]}`` sets the latency of the answers to come."""
        try:
            spec = json.loads(raw or b"{}")
            if not isinstance(spec, dict) or set(spec) != {"seconds"}:
                raise ValueError('expected a JSON object {"seconds": 0.3} or {"seconds": [0.2, 0.6]}')
            latency = Latency.parse(spec["seconds"])
        except ValueError as err:
            self._send_json(400, {"error": str(err)})
            return
        self.server.latency = latency
        self._send_json(200, latency.to_json())

    def _gateway_request(self, route: tuple[str, str] | None, raw: bytes | None) -> None:
        state = self.server.state
        received_at = gateway_timestamp()  # on arrival, before any scripted delay or latency
        payload: Any = None
        if raw is not None:
            with contextlib.suppress(ValueError):  # malformed JSON is answered by _answer
                payload = json.loads(raw)
        recipient = payload.get("to") if isinstance(payload, dict) else None
        fault = state.take_fault(None if recipient is None else str(recipient).lstrip("+"))
        if fault is not None and fault.action == "delay":
            self.server.stopping.wait(fault.delay)
        elif fault is not None and fault.action != "deliver_then_delay":
            state.record_request(self.command, self.path, payload, f"fault:{fault.action}", received_at)
            self._answer_fault(fault)
            return
        # Taken as it arrives (the throughput window, the message), answered after the latency (throughput.py).
        status, answer, outcome = self._answer(route, payload)
        state.record_request(self.command, self.path, payload, outcome, received_at)
        wait = self.server.latency.draw()  # outside the state's lock: the requests waiting hold nothing
        if fault is not None and fault.action == "deliver_then_delay":
            wait += fault.delay
        if wait:
            self.server.stopping.wait(wait)
        try:
            self._send_json(status, answer)
        finally:  # accepted is accepted, whether or not the client still listens
            if outcome == "delivered" and route is not None:
                self._fetch_media_later(route[0], payload, answer["data"]["waId"])

    def _answer_fault(self, fault: Fault) -> None:
        if fault.action == "reset":
            self._reset_connection()
            return
        if fault.action == "redirect":
            self._send(307, b"", "text/plain", {"Location": str(fault.location)})
            return
        assert fault.status is not None
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
        if fault.action == "html":
            page = fault.body or HTML_ERROR_PAGE.format(status=fault.status, phrase=HTTPStatus(fault.status).phrase)
            self._send(fault.status, page.encode(), "text/html", headers)
        else:
            self._send_json(fault.status, _error_envelope(HTTPStatus(fault.status).phrase), headers)

    def _answer(self, route: tuple[str, str] | None, payload: Any) -> tuple[int, Any, str]:
        """(HTTP status, JSON answer, outcome for the request log) for one gateway request."""
        state = self.server.state
        if route is not None:
            return answer_send(state, self.headers.get("apiKey"), self.path, payload)
        if self.headers.get("apiKey") != state.api_key:
            return _invalid_credentials()
        if urlsplit(self.path).path == MESSAGE_LIST_PATH:
            return self._message_list()
        sender = self.path.removeprefix(TEMPLATE_LIST_PREFIX)
        templates = [{"name": "daily_report", "language": "en", "status": "APPROVED", "sender": sender}]
        return 200, success_envelope({"data": templates}), "listed"

    def _fetch_media_later(self, kind: str, payload: dict[str, Any], wa_id: str) -> None:
        """Fetch a delivered send's media (loopback links only) after answering, as WhatsApp does once accepted."""
        link = media_link(kind, payload)
        if link is None or not fetchable(link[0]):
            return
        url, media_type = link
        state = self.server.state
        threading.Thread(
            target=lambda: state.record_media_fetch(fetch_media(wa_id, url, media_type)),
            name="lipachat-emulator-media-fetch",
            daemon=True,
        ).start()

    def _message_list(self) -> tuple[int, Any, str]:
        query = parse_qs(urlsplit(self.path).query)
        try:
            page = int(query.get("page", ["0"])[0])
            size = int(query.get("size", ["20"])[0])
        except ValueError:
            return 400, _framework_error(400, self.path), "malformed"
        if page < 0 or not 1 <= size <= MAX_PAGE_SIZE:
            return 400, _framework_error(400, self.path), "malformed"
        return 200, self.server.state.message_page(page, size), "listed"


class _EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    #: The listen backlog: hundreds of clients connecting at once wait in it, where past it their connections
    #: are dropped (a second's wait for the retry) or reset; the kernel caps it at net.core.somaxconn.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], state: EmulatorState, verbose: bool, latency: Latency) -> None:
        super().__init__(address, _Handler)
        self.state = state
        self.verbose = verbose
        self.latency = latency
        self.stopping = threading.Event()


def require_loopback(host: str) -> None:
    """The emulator accepts any traffic it is sent, so it listens on loopback addresses only."""
    if not is_loopback(host):
        raise ValueError(f"host={host!r}: the emulator listens on loopback only (127.0.0.1, ::1 or localhost)")


class Emulator:
    """The gateway emulator as an object: start it in a thread, send to ``base_url``, inspect, stop."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
        enforce_session_window: bool = False,
        latency: float | tuple[float, float] | Latency = 0.0,
        throughput: float | None = None,
        throughput_status: int = DEFAULT_THROUGHPUT_STATUS,
        verbose: bool = False,
    ) -> None:
        """``latency``: seconds each gateway answer waits (10 at most), or a range ``(low, high)``
        from which each request draws its own, uniformly. ``throughput``: sends accepted per second per
        sender number (any number above 0; None: no limit); the excess is answered WhatsApp's 130429 with
        HTTP ``throughput_status`` (400, 429 or 200).
        """
        require_loopback(host)
        parsed_latency = Latency.parse(latency)
        limit = None if throughput is None else ThroughputLimit.parse(throughput, throughput_status)
        self.state = EmulatorState(api_key=api_key, enforce_session_window=enforce_session_window, throughput=limit)
        self._server = _EmulatorHTTPServer((host, port), self.state, verbose, parsed_latency)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_key(self) -> str:
        return self.state.api_key

    def start(self) -> Emulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="lipachat-emulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def deliveries(self) -> list[dict[str, Any]]:
        """Messages delivered, once per messageId, in arrival order."""
        deliveries: list[dict[str, Any]] = self.state.snapshot()["deliveries"]
        return deliveries

    def requests(self) -> list[dict[str, Any]]:
        """Every gateway request received, with its outcome (delivered, replayed, fault:..., ...)."""
        requests: list[dict[str, Any]] = self.state.snapshot()["requests"]
        return requests

    def sends(self) -> list[dict[str, Any]]:
        """The send requests received (every ``POST`` to the gateway's routes), with their outcomes."""
        return [request for request in self.requests() if request["method"] == "POST"]

    def add_fault(self, action: str, **options: Any) -> Fault:
        """Script a fault, as ``POST /_emulator/faults`` would; see ``Fault`` for the actions."""
        fault = Fault.from_spec({"action": action, **options})
        self.state.add_fault(fault)
        return fault

    def clear_faults(self) -> None:
        """Forget every scripted fault (a gateway that recovers); requests already waiting on one keep waiting."""
        self.state.clear_faults()

    def open_session(self, number: str) -> None:
        self.state.open_session(number)

    def media_fetches(self, wait_for: int = 0, timeout: float = 10.0) -> list[MediaFetch]:
        """Media links fetched after sends (loopback links only), in the order the fetches ended.

        Fetches run after the send's answer; ``wait_for`` waits (up to ``timeout`` s) until that many ended.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self.state.lock:
                fetches = list(self.state.media_fetches)
            if len(fetches) >= wait_for or time.monotonic() >= deadline:
                return fetches
            time.sleep(0.02)

    def script_status(self, lifecycle: str = "read", **options: Any) -> StatusScript:
        """Script what happens to messages after the send, as ``POST /_emulator/statuses`` would.

        Applies to messages accepted afterwards; ``to`` limits it to one recipient. See ``StatusScript``.
        """
        script = StatusScript.from_spec({"lifecycle": lifecycle, **options})
        self.state.add_status_script(script)
        return script

    def set_throughput(
        self, per_second: float | None, http_status: int = DEFAULT_THROUGHPUT_STATUS
    ) -> ThroughputLimit | None:
        """Limit each sender number to ``per_second`` sends (None clears), as ``POST /_emulator/throughput``."""
        limit = None if per_second is None else ThroughputLimit.parse(per_second, http_status)
        self.state.set_throughput(limit)
        return limit

    def set_latency(self, latency: float | tuple[float, float] | Latency) -> Latency:
        """Make the answers to come wait ``latency`` seconds, or each its own draw from a range ``(low, high)``.

        As ``POST /_emulator/latency`` would; requests already waiting keep their draw.
        """
        self._server.latency = Latency.parse(latency)
        return self._server.latency

    @property
    def latency(self) -> Latency:
        """The latency in force: ``low`` and ``high`` seconds (equal when fixed)."""
        return self._server.latency

    @property
    def throughput(self) -> ThroughputLimit | None:
        """The throughput limit in force, None when there is none."""
        return self.state.throughput

    def arrivals(self, sender: str | None = None) -> list[Arrival]:
        """Sends that reached a sender's throughput budget, in order, accepted or throttled (``sender``'s if given).

        A repeated messageId and a send refused for other reasons (key, fields, 24-hour window) are
        not arrivals; ``requests()`` lists every request.
        """
        return self.state.arrivals_of(sender)

    def throttled_count(self, sender: str | None = None) -> int:
        """How many sends (of ``sender``, or of every sender) were answered WhatsApp's 130429."""
        return sum(not a.accepted for a in self.arrivals(sender))

    def throughput_report(self) -> dict[str, Any]:
        """What ``GET /_emulator/throughput`` answers: the limit, and per sender the counts and busiest window."""
        return self.state.throughput_report()

    def reset(self) -> None:
        """Forget what was received and scripted (arrivals too); the settings, throughput limit included, stay."""
        self.state.reset()

    def receive(
        self,
        from_number: str,
        text: str | None = None,
        *,
        button: str | dict[str, str] | None = None,
        after: float = 0.0,
    ) -> EmulatedInboundMessage:
        """A message from ``from_number`` arriving ``after`` seconds from now, as ``POST /_emulator/inbound`` would.

        ``text``, or ``button``: a button reply, ``{"id": ..., "title": ...}`` (or one string for both).
        Like any message from a customer it opens the number's 24-hour window once it has arrived.
        """
        spec = {"from": from_number, "after": after, **({"text": text} if text is not None else {})}
        if button is not None:
            spec["button"] = button
        return self.state.add_inbound(InboundSpec.from_spec(spec))

    def script_reply(
        self,
        *,
        to: str | None = None,
        press: str | None = None,
        text: str | None = None,
        after: float = 1.0,
        times: int | None = None,
    ) -> ReplyScript:
        """Make ``to`` (every number when None) answer each message ``after`` s after it reached them.

        As ``POST /_emulator/replies`` would; see ``ReplyScript``. Applies to messages accepted afterwards.
        """
        spec: dict[str, Any] = {"to": to, "press": press, "text": text, "after": after, "times": times}
        script = ReplyScript.from_spec({k: v for k, v in spec.items() if v is not None})
        self.state.add_reply_script(script)
        return script

    def inbound(self) -> list[EmulatedInboundMessage]:
        """Inbound messages that have arrived so far, oldest first."""
        return self.state.arrived_inbound()
