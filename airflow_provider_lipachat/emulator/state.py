"""What the emulator remembers: deliveries, results by messageId, every request, faults, sessions and arrivals.

All of it behind one lock, since the server answers each connection in its own thread.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_lipachat.emulator.inbound_messages import (
    INBOUND_ID_BASE,
    EmulatedInboundMessage,
    InboundSpec,
    ReplyScript,
    new_inbound_wa_id,
)
from airflow_provider_lipachat.emulator.lifecycle import SentMessage, StatusScript
from airflow_provider_lipachat.emulator.media import MEDIA_FETCH_FAILED, MediaFetch
from airflow_provider_lipachat.emulator.throughput import Arrival, ThroughputLimit, busiest_window

#: WhatsApp's customer service window: free-form messages reach a number this long after it last wrote.
SESSION_WINDOW_SECONDS = 24 * 3600
FAULT_ACTIONS = ("status", "html", "reset", "delay", "deliver_then_delay", "redirect")
MAX_FAULT_DELAY = 60.0


def gateway_timestamp() -> str:
    """Now as the gateway writes it: a zone-less local date-time with nine fractional digits (UTC here)."""
    now_ns = time.time_ns()
    seconds, nanos = divmod(now_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}"


def success_envelope(data: Any) -> dict[str, Any]:
    return {"timestamp": gateway_timestamp(), "data": data, "status": "success", "message": "", "errors": None}


def new_wa_id() -> str:
    return "wamid.HBgM" + secrets.token_hex(16).upper()


class FaultSpecError(ValueError):
    """A fault rule that the emulator cannot follow; the message says which field and why."""


@dataclass
class Fault:
    """A scripted misbehaviour for the next ``count`` matching gateway requests.

    - ``status``: answer HTTP ``status`` with a JSON error body (and ``Retry-After`` if given).
    - ``html``: answer HTTP ``status`` (default 502) with an HTML page, or ``body`` if given.
    - ``reset``: close the connection with a TCP reset, answering nothing.
    - ``delay``: wait ``delay`` seconds, then handle the request normally.
    - ``deliver_then_delay``: handle (and deliver) the request, then wait ``delay`` seconds to answer.
    - ``redirect``: answer HTTP 307 with ``Location: location``.
    """

    action: str
    count: int = 1
    to: str | None = None
    status: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    body: str | None = None
    location: str | None = None
    fired: int = 0

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Fault:
        """Build a fault from JSON, refusing anything it would not know how to do."""
        unknown = set(spec) - {"action", "count", "to", "status", "retry_after", "delay", "body", "location"}
        if unknown:
            raise FaultSpecError(f"unknown fault fields {sorted(unknown)}")
        action = spec.get("action")
        if action not in FAULT_ACTIONS:
            raise FaultSpecError(f"action={action!r}: expected one of {', '.join(FAULT_ACTIONS)}")
        count = spec.get("count", 1)
        if not isinstance(count, int) or count < 1:
            raise FaultSpecError(f"count={count!r}: expected a whole number of requests >= 1")
        status = spec.get("status", 502 if action == "html" else None)
        if action in ("status", "html") and (not isinstance(status, int) or not 400 <= status <= 599):
            raise FaultSpecError(f"status={status!r}: expected an HTTP error code from 400 to 599")
        delay = spec.get("delay", 0.0)
        if not isinstance(delay, int | float) or not 0 <= delay <= MAX_FAULT_DELAY:
            raise FaultSpecError(f"delay={delay!r}: expected seconds from 0 to {MAX_FAULT_DELAY:g}")
        if action in ("delay", "deliver_then_delay") and delay == 0:
            raise FaultSpecError(f"delay=0: action {action!r} needs a delay in seconds")
        location = spec.get("location")
        if action == "redirect" and not location:
            raise FaultSpecError("location: action 'redirect' needs the URL to redirect to")
        retry_after = spec.get("retry_after")
        to = spec.get("to")
        body = spec.get("body")
        return cls(
            action=action,
            count=count,
            to=None if to is None else str(to).lstrip("+"),
            status=status,
            retry_after=None if retry_after is None else str(retry_after),
            delay=float(delay),
            body=None if body is None else str(body),
            location=None if location is None else str(location),
        )

    def matches(self, recipient: str | None) -> bool:
        return self.fired < self.count and (self.to is None or self.to == recipient)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EmulatorState:
    """Everything the emulator has seen and been told, safe to use from many threads."""

    api_key: str
    enforce_session_window: bool = False
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    open_sessions: set[str] = field(default_factory=set)
    answers_by_message_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    sent: list[SentMessage] = field(default_factory=list)
    status_scripts: list[StatusScript] = field(default_factory=list)
    media_fetches: list[MediaFetch] = field(default_factory=list)
    inbound: list[EmulatedInboundMessage] = field(default_factory=list)
    reply_scripts: list[ReplyScript] = field(default_factory=list)
    replies_given: dict[int, int] = field(default_factory=dict)
    throughput: ThroughputLimit | None = None
    arrivals: list[Arrival] = field(default_factory=list)
    #: Per sender, the monotonic moments of its accepted arrivals, oldest first: what a limit judges a send by.
    accepted_at: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_request(self, method: str, path: str, payload: Any, outcome: str, received_at: str) -> None:
        entry: dict[str, Any] = {"method": method, "path": path, "outcome": outcome, "received_at": received_at}
        if isinstance(payload, dict):
            entry.update(messageId=payload.get("messageId"), to=payload.get("to"))
        with self.lock:
            self.requests.append(entry)

    def take_fault(self, recipient: str | None) -> Fault | None:
        """The first fault that applies to this request, counted as fired."""
        with self.lock:
            for fault in self.faults:
                if fault.matches(recipient):
                    fault.fired += 1
                    return fault
        return None

    def deliver_once(self, route: str, payload: dict[str, Any], status_desc: str) -> tuple[dict[str, Any], bool]:
        """Deliver a message unless its messageId was delivered before; returns (answer, replayed).

        No throughput budget is asked: this is how a test puts a message in place directly.
        """
        message_id = str(payload["messageId"])
        with self.lock:
            if message_id in self.answers_by_message_id:
                return self.answers_by_message_id[message_id], True
            return self._deliver(route, payload, status_desc), False

    def send(self, route: str, payload: dict[str, Any], status_desc: str) -> tuple[dict[str, Any] | None, str]:
        """A send as the gateway takes it: (answer, outcome), the outcome ``replayed``, ``throttled`` or ``delivered``.

        A repeated messageId gets its first answer and asks no budget. Otherwise the send is an
        arrival, timed on ``time.monotonic()`` under the lock: with a throughput limit set and the
        sender's budget spent it is refused (answer None), recorded but not delivered.
        """
        message_id = str(payload["messageId"])
        sender = str(payload.get("from", "")).lstrip("+")
        to = str(payload.get("to", "")).lstrip("+")
        with self.lock:
            if message_id in self.answers_by_message_id:
                return self.answers_by_message_id[message_id], "replayed"
            now = time.monotonic()
            accepted_at = self.accepted_at.setdefault(sender, [])
            accepted = self.throughput is None or self.throughput.admits(accepted_at, now)
            self.arrivals.append(Arrival(sender, to, message_id, route, now, time.time(), accepted))
            if not accepted:
                return None, "throttled"
            accepted_at.append(now)
            return self._deliver(route, payload, status_desc), "delivered"

    def _deliver(self, route: str, payload: dict[str, Any], status_desc: str) -> dict[str, Any]:
        """Keep a new message and its answer; the caller holds the lock."""
        message_id = str(payload["messageId"])
        wa_id = new_wa_id()
        answer = success_envelope({"messageId": message_id, "waId": wa_id, "status": "SENT", "statusDesc": status_desc})
        self.answers_by_message_id[message_id] = answer
        self.deliveries.append({"route": route, "waId": wa_id, "payload": payload, **_ids(payload)})
        to = str(payload.get("to", "")).lstrip("+")
        self.sent.append(SentMessage(len(self.sent) + 1, wa_id, to, route, self._script_for(to)))
        self._schedule_replies(self.sent[-1], payload)
        return answer

    def set_throughput(self, limit: ThroughputLimit | None) -> None:
        """Set the per-sender throughput limit (None: no limit) for the sends that arrive from now on."""
        with self.lock:
            self.throughput = limit

    def arrivals_of(self, sender: str | None = None) -> list[Arrival]:
        """The arrivals in order, of one sender (``+`` or not) or of all when None."""
        wanted = None if sender is None else sender.lstrip("+")
        with self.lock:
            return [a for a in self.arrivals if wanted is None or a.sender == wanted]

    def throughput_report(self) -> dict[str, Any]:
        """The limit, and per sender: arrivals, accepted, throttled, and the most accepted in any one window."""
        with self.lock:
            limit = self.throughput
            arrivals = list(self.arrivals)
        width = 1.0 if limit is None else limit.window
        senders: dict[str, dict[str, Any]] = {}
        for sender in dict.fromkeys(a.sender for a in arrivals):
            own = [a for a in arrivals if a.sender == sender]
            accepted = [a.at for a in own if a.accepted]
            senders[sender] = {
                "arrivals": len(own),
                "accepted": len(accepted),
                "throttled": len(own) - len(accepted),
                "busiest_window": busiest_window(accepted, width),
            }
        return {"limit": None if limit is None else limit.to_json(), "window": width, "senders": senders}

    def _script_for(self, to: str) -> StatusScript:
        """The latest script naming this recipient, else the latest for everyone, else the default."""
        for script in reversed(self.status_scripts):
            if script.to == to:
                return script
        return next((s for s in reversed(self.status_scripts) if s.to is None), StatusScript())

    def record_media_fetch(self, fetch: MediaFetch) -> None:
        """Keep a media fetch; a failed one fails its message with WhatsApp's 131053."""
        with self.lock:
            self.media_fetches.append(fetch)
            if fetch.failure is not None:
                for message in self.sent:
                    if message.wa_id == fetch.wa_id:
                        message.fail(MEDIA_FETCH_FAILED, time.time())

    def add_status_script(self, script: StatusScript) -> None:
        with self.lock:
            self.status_scripts.append(script)

    def message_page(self, page: int, size: int, now: float | None = None) -> dict[str, Any]:
        """One page of the message list, newest first, with ``totalPages``: sent messages and arrived inbound ones."""
        now = time.time() if now is None else now
        with self.lock:
            listed = self._listed(now)
            newest_first = listed[::-1][page * size : (page + 1) * size]
            total = -(-len(listed) // size)
        items = [m.list_item(now) if isinstance(m, SentMessage) else m.list_item() for m in newest_first]
        return {**success_envelope(items), "totalPages": total}

    def session_open(self, number: str) -> bool:
        with self.lock:
            if not self.enforce_session_window or number in self.open_sessions:
                return True
            return self._wrote_within_window(number, time.time())

    def open_session(self, number: str) -> None:
        with self.lock:
            self.open_sessions.add(number.lstrip("+"))

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        """Forget every scripted fault: the gateway behaves again from the next request on."""
        with self.lock:
            self.faults.clear()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "deliveries": [dict(d) for d in self.deliveries],
                "requests": [dict(r) for r in self.requests],
                "faults": [f.to_json() for f in self.faults],
            }

    def reset(self) -> None:
        """Forget everything received and scripted; settings stay (the key, the 24-hour rule, the throughput limit)."""
        with self.lock:
            self.deliveries.clear()
            self.requests.clear()
            self.faults.clear()
            self.open_sessions.clear()
            self.answers_by_message_id.clear()
            self.sent.clear()
            self.status_scripts.clear()
            self.media_fetches.clear()
            self.arrivals.clear()
            self.accepted_at.clear()
            self.inbound.clear()
            self.reply_scripts.clear()
            self.replies_given.clear()

    # -- inbound messages and scripted replies ------------------------------------------------

    def add_inbound(self, spec: InboundSpec, now: float | None = None) -> EmulatedInboundMessage:
        """Receive a message from ``spec.from_number`` ``spec.after`` seconds from ``now``."""
        with self.lock:
            return self._add_inbound(spec, (time.time() if now is None else now) + spec.after)

    def _add_inbound(self, spec: InboundSpec, at: float) -> EmulatedInboundMessage:
        """Keep an inbound message (the lock held), the list sorted by arrival."""
        message = EmulatedInboundMessage(
            id=INBOUND_ID_BASE + len(self.inbound) + 1,
            wa_id=new_inbound_wa_id(),
            from_number=spec.from_number,
            at=at,
            text=spec.text,
            button_id=spec.button_id,
            button_title=spec.button_title,
        )
        self.inbound.append(message)
        self.inbound.sort(key=lambda m: m.at)
        return message

    def add_reply_script(self, script: ReplyScript) -> None:
        with self.lock:
            self.reply_scripts.append(script)

    def _schedule_replies(self, message: SentMessage, payload: dict[str, Any]) -> None:
        """The scripted answers to one accepted message (the lock held), once it has reached its recipient.

        Every script that applies answers, in the order they were added (one can type a text and a
        later one press a button); a message that never reaches its recipient (never delivered,
        failed) gets no answer.
        """
        reached = next((after for after, status in message.script.updates() if status in ("DELIVERED", "READ")), None)
        if reached is None:
            return
        for index, script in enumerate(self.reply_scripts):
            if script.times is not None and self.replies_given.get(index, 0) >= script.times:
                continue
            spec = script.answer(message.kind, payload)
            if spec is not None:
                self.replies_given[index] = self.replies_given.get(index, 0) + 1
                self._add_inbound(spec, message.sent_at + reached + spec.after)

    def arrived_inbound(self, now: float | None = None) -> list[EmulatedInboundMessage]:
        """Inbound messages that have arrived by ``now``, oldest first."""
        now = time.time() if now is None else now
        with self.lock:
            return [m for m in self.inbound if m.at <= now]

    def _listed(self, now: float) -> list[SentMessage | EmulatedInboundMessage]:
        """Every message the list shows now, oldest first (the lock held)."""
        arrived = [m for m in self.inbound if m.at <= now]
        if not arrived:
            return list(self.sent)
        return sorted([*self.sent, *arrived], key=lambda m: m.sent_at if isinstance(m, SentMessage) else m.at)

    def _wrote_within_window(self, number: str, now: float) -> bool:
        """Whether ``number`` sent a message that arrived within the last 24 hours (the lock held)."""
        return any(m.from_number == number and now - SESSION_WINDOW_SECONDS <= m.at <= now for m in self.inbound)


def _ids(payload: dict[str, Any]) -> dict[str, Any]:
    return {"messageId": payload.get("messageId"), "to": payload.get("to"), "from": payload.get("from")}
