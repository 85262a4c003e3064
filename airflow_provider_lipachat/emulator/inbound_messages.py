"""What recipients send back: inbound messages, injected or scripted, as the message list shows them.

An inbound message is a text or a button reply from a number at a moment; the list shows it from
that moment on, as a ``direction: INBOUND`` item beside the outbound ones (lipachat-api.md,
"Inbound messages"). A reply script makes a number answer on its own some seconds after a message
reaches it, so DAGs and the demo run unattended.

The list item of a *button reply* is not in LipaChat's public reference. This emulator assumes
``type: "INTERACTIVE"``, ``text`` null, and the button in ``metadata`` (a JSON string) in Meta's
webhook shape: ``{"interactive": {"type": "button_reply", "button_reply": {"id", "title"}}}``.
The provider reads that shape in one place, ``gateway.message_list.read_inbound_item``.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from airflow_provider_lipachat.emulator.lifecycle import iso_time

MAX_REPLY_AFTER = 3600.0
#: Inbound items are numbered apart from outbound ones, so every list item keeps a unique ``id``.
INBOUND_ID_BASE = 1_000_000_000


class InboundSpecError(ValueError):
    """An inbound message or reply script the emulator cannot follow; the message names the field and why."""


def _number(value: object, name: str) -> str:
    digits = str(value or "").strip().lstrip("+")
    if not digits.isdigit() or digits.startswith("0"):
        raise InboundSpecError(f"{name}={value!r}: expected a phone number with its country code")
    return digits


def _seconds(value: object, name: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= MAX_REPLY_AFTER:
        raise InboundSpecError(f"{name}={value!r}: expected seconds from 0 to {MAX_REPLY_AFTER:g}")
    return float(value)


def _text(value: object, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InboundSpecError(f"{name}={value!r}: expected non-empty text")
    return value


@dataclass(frozen=True)
class EmulatedInboundMessage:
    """One message a number sent to the business: a text, or a press of a reply button (id and title)."""

    id: int
    wa_id: str
    from_number: str
    at: float
    text: str | None = None
    button_id: str | None = None
    button_title: str | None = None

    def list_item(self) -> dict[str, Any]:
        """The message as ``GET /api/v1/whatsapp/message`` shows it; a button reply's shape is assumed (see module)."""
        metadata: dict[str, Any] = {}
        if self.button_id is not None:
            metadata["interactive"] = {
                "type": "button_reply",
                "button_reply": {"id": self.button_id, "title": self.button_title},
            }
        return {
            "id": self.id,
            "waMessageId": self.wa_id,
            "direction": "INBOUND",
            "contact": {"phoneNumber": self.from_number, "name": None},
            "type": "TEXT" if self.button_id is None else "INTERACTIVE",
            "text": self.text,
            "metadata": json.dumps(metadata),
            "status": "",
            "createdAt": iso_time(self.at),
            "updatedAt": iso_time(self.at),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "waId": self.wa_id,
            "from": self.from_number,
            "at": self.at,
            "text": self.text,
            "button": None if self.button_id is None else {"id": self.button_id, "title": self.button_title},
        }


def new_inbound_wa_id() -> str:
    return "wamid.HBgN" + secrets.token_hex(16).upper()


@dataclass(frozen=True)
class InboundSpec:
    """An inbound message to inject: from whom, a text or a button (``{id, title}``), ``after`` seconds from now."""

    from_number: str
    after: float = 0.0
    text: str | None = None
    button_id: str | None = None
    button_title: str | None = None

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> InboundSpec:
        unknown = set(spec) - {"from", "text", "button", "after"}
        if unknown:
            raise InboundSpecError(f"unknown inbound fields {sorted(unknown)}")
        text = _text(spec.get("text"), "text")
        button = spec.get("button")
        button_id = button_title = None
        if button is not None:
            if isinstance(button, str):
                button = {"id": button, "title": button}
            if not isinstance(button, dict) or set(button) - {"id", "title"}:
                raise InboundSpecError(f"button={button!r}: expected a button id, or {{'id': ..., 'title': ...}}")
            button_id = _text(button.get("id") or button.get("title"), "button.id")
            button_title = _text(button.get("title") or button.get("id"), "button.title")
        if (text is None) == (button_id is None):
            raise InboundSpecError("expected exactly one of 'text' or 'button'")
        return cls(
            from_number=_number(spec.get("from"), "from"),
            after=_seconds(spec.get("after", 0.0), "after"),
            text=text,
            button_id=button_id,
            button_title=button_title,
        )


@dataclass(frozen=True)
class ReplyScript:
    """How ``to`` (every number when None) answers, ``after`` seconds after a message reaches it.

    - ``press``: on a buttons message, press the button whose id or title is ``press`` (case and
      surrounding spaces ignored); a buttons message without such a button gets no answer, as a
      person could not press it. Other messages get no answer.
    - ``text``: answer any message (buttons included) with this text.

    ``times`` is how many messages the script answers (default every one). Every script that
    applies to a message answers it, so one script can type a text and a later one press a button.
    """

    to: str | None = None
    after: float = 1.0
    press: str | None = None
    text: str | None = None
    times: int | None = None

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ReplyScript:
        unknown = set(spec) - {"to", "after", "press", "text", "times"}
        if unknown:
            raise InboundSpecError(f"unknown reply fields {sorted(unknown)}")
        press, text = _text(spec.get("press"), "press"), _text(spec.get("text"), "text")
        if (press is None) == (text is None):
            raise InboundSpecError("expected exactly one of 'press' (a button id or title) or 'text'")
        times = spec.get("times")
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
            raise InboundSpecError(f"times={times!r}: expected a whole number >= 1, or leave it unset")
        to = spec.get("to")
        return cls(
            to=None if to is None else _number(to, "to"),
            after=_seconds(spec.get("after", 1.0), "after"),
            press=press,
            text=text,
            times=times,
        )

    def answer(self, route: str, payload: dict[str, Any]) -> InboundSpec | None:
        """The answer this script gives to one accepted message, or None when it gives none."""
        to = str(payload.get("to", "")).lstrip("+")
        if self.to is not None and self.to != to:
            return None
        if self.text is not None:
            return InboundSpec(to, self.after, text=self.text)
        if route != "buttons":
            return None
        wanted = str(self.press).strip().casefold()
        for button in payload.get("buttons") or []:
            if not isinstance(button, dict):
                continue
            names = (str(button.get("id", "")), str(button.get("title", "")))
            if wanted in (name.strip().casefold() for name in names):
                return InboundSpec(to, self.after, button_id=str(button["id"]), button_title=str(button["title"]))
        return None

    def to_json(self) -> dict[str, Any]:
        return {"to": self.to, "after": self.after, "press": self.press, "text": self.text, "times": self.times}


#: WhatsApp's reply-button rules, as the gateway is assumed to check them (see ``gateway.messages``).
MAX_BUTTONS = 3
MAX_BUTTONS_TEXT = 1024
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256


def validate_buttons(payload: dict[str, Any]) -> str | None:
    """The checks of ``POST /api/v1/whatsapp/interactive/buttons``; the error message, or None when fine."""
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_BUTTONS_TEXT:
        return f"text must be text of 1 to {MAX_BUTTONS_TEXT} characters"
    buttons = payload.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_BUTTONS:
        return f"buttons must be a list of 1 to {MAX_BUTTONS} items"
    ids = set()
    for button in buttons:
        if not isinstance(button, dict):
            return "each button must be an object with id and title"
        button_id, title = button.get("id"), button.get("title")
        if not isinstance(button_id, str) or not button_id.strip() or len(button_id) > MAX_BUTTON_ID:
            return f"buttons[].id must be text of 1 to {MAX_BUTTON_ID} characters"
        if not isinstance(title, str) or not title.strip() or len(title) > MAX_BUTTON_TITLE:
            return f"buttons[].title must be text of 1 to {MAX_BUTTON_TITLE} characters"
        ids.add(button_id)
    if len(ids) != len(buttons):
        return "buttons[].id must be unique"
    return None
