"""What happens to each accepted message after the send: its status over time, scripted per recipient.

A lifecycle is a list of (seconds after the send, status) updates; the message list shows the
last update that has arrived, as the gateway would (so out-of-order updates show as they arrived).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

LIFECYCLES = ("read", "delivered", "read_without_delivered", "failed", "never_delivered", "out_of_order")
DEFAULT_DELIVERED_AFTER = 1.0
DEFAULT_READ_AFTER = 2.0
MAX_AFTER = 600.0


class StatusScriptError(ValueError):
    """A status script the emulator cannot follow; the message names the field and why."""


@dataclass(frozen=True)
class StatusScript:
    """How messages to ``to`` (every recipient when None) progress after the gateway accepted them.

    - ``read`` (the default): DELIVERED after ``delivered_after`` s, READ after ``read_after`` s.
    - ``delivered``: DELIVERED, never READ (read receipts off).
    - ``read_without_delivered``: straight from SENT to READ after ``read_after`` s.
    - ``failed``: FAILED after ``delivered_after`` s with WhatsApp error ``code``.
    - ``never_delivered``: stays SENT.
    - ``out_of_order``: READ arrives at ``delivered_after`` s, then the older DELIVERED at ``read_after`` s.
    """

    lifecycle: str = "read"
    to: str | None = None
    delivered_after: float = DEFAULT_DELIVERED_AFTER
    read_after: float = DEFAULT_READ_AFTER
    code: int | None = None

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> StatusScript:
        unknown = set(spec) - {"lifecycle", "to", "delivered_after", "read_after", "code"}
        if unknown:
            raise StatusScriptError(f"unknown status fields {sorted(unknown)}")
        lifecycle = spec.get("lifecycle", "read")
        if lifecycle not in LIFECYCLES:
            raise StatusScriptError(f"lifecycle={lifecycle!r}: expected one of {', '.join(LIFECYCLES)}")
        delays = {}
        for name, default in (("delivered_after", DEFAULT_DELIVERED_AFTER), ("read_after", DEFAULT_READ_AFTER)):
            value = spec.get(name, default)
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= MAX_AFTER:
                raise StatusScriptError(f"{name}={value!r}: expected seconds from 0 to {MAX_AFTER:g}")
            delays[name] = float(value)
        code = spec.get("code", 131026 if lifecycle == "failed" else None)
        if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
            raise StatusScriptError(f"code={code!r}: expected a WhatsApp error code such as 131026")
        to = spec.get("to")
        return cls(lifecycle=lifecycle, to=None if to is None else str(to).lstrip("+"), code=code, **delays)

    def updates(self) -> list[tuple[float, str]]:
        """(seconds after the send, status) in the order the updates arrive."""
        d, r = self.delivered_after, self.read_after
        return {
            "read": [(d, "DELIVERED"), (max(r, d), "READ")],
            "delivered": [(d, "DELIVERED")],
            "read_without_delivered": [(r, "READ")],
            "failed": [(d, "FAILED")],
            "never_delivered": [],
            "out_of_order": [(d, "READ"), (max(r, d), "DELIVERED")],
        }[self.lifecycle]

    def to_json(self) -> dict[str, Any]:
        return {
            "lifecycle": self.lifecycle,
            "to": self.to,
            "delivered_after": self.delivered_after,
            "read_after": self.read_after,
            "code": self.code,
        }


@dataclass
class SentMessage:
    """One accepted message and the lifecycle it follows."""

    id: int
    wa_id: str
    to: str
    kind: str
    script: StatusScript
    sent_at: float = field(default_factory=time.time)
    created_at: str = ""

    def fail(self, code: int, now: float) -> None:
        """Fail the message from ``now`` on with WhatsApp error ``code``, whatever it was scripted to do."""
        self.script = StatusScript("failed", self.to, delivered_after=max(0.0, now - self.sent_at), code=code)

    def status_now(self, now: float) -> tuple[str, float]:
        """The status the gateway shows now, and when it was set."""
        status, at = "SENT", self.sent_at
        for after, update in self.script.updates():
            if self.sent_at + after <= now:
                status, at = update, self.sent_at + after
        return status, at

    def list_item(self, now: float) -> dict[str, Any]:
        """The message as ``GET /api/v1/whatsapp/message`` shows it (the shape in lipachat-api.md)."""
        status, at = self.status_now(now)
        metadata: dict[str, Any] = {}
        if status == "FAILED" and self.script.code is not None:
            # Where the gateway puts a failure code is unknown; Meta's status webhook shape is assumed.
            metadata["errors"] = [{"code": self.script.code, "title": "Message failed"}]
        return {
            "id": self.id,
            "waMessageId": self.wa_id,
            "direction": "OUTBOUND",
            "contact": {"phoneNumber": self.to, "name": None},
            "type": self.kind.upper(),
            "text": None,
            "metadata": json.dumps(metadata),
            "status": status,
            "createdAt": iso_time(self.sent_at),
            "updatedAt": iso_time(at),
        }


def iso_time(moment: float) -> str:
    millis = int(moment * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{millis:03d}+00:00"
