"""Waiting on sent messages: what a send handed over, and whether the wait is done, failed or goes on.

Pure values and functions, no Airflow and no HTTP: the sensor's poke and its trigger share them.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.gateway.message_list import PAGE_SIZE, MessageStatus, Target, describe_code
from airflow_provider_lipachat.gateway.messages import mask_phone, normalize_phone

WA_IDS_ACCEPTED = "expected the waId a send returned, a {recipient: waId} mapping of a fan-out, or a list of waIds"


def merge_seen(seen: dict[str, MessageStatus], found: dict[str, MessageStatus]) -> None:
    """Fold one poll's statuses into what was seen before, never moving a message back."""
    for wa_id, status in found.items():
        seen[wa_id] = seen[wa_id].later(status) if wa_id in seen else status


def outcome_message(kind: str, failed: dict[str, MessageStatus], waiting: list[str], target: str) -> str:
    """The sentence a task failure or timeout shows: who failed and why, or who is still pending."""
    if kind == "failed":
        return f"not delivered: {describe_failures(failed)}"
    return f"timed out waiting for {target} from {len(waiting)} message(s): {describe_waiting(waiting)}"


@dataclass(frozen=True)
class Decision:
    """The outcome of one look at the awaited messages."""

    done: bool
    failed: dict[str, MessageStatus]
    waiting: list[str]
    final: dict[str, dict[str, Any]]

    @property
    def state(self) -> Literal["done", "failed", "waiting"]:
        return "done" if self.done else "waiting" if self.waiting else "failed"


def decide(
    awaited: Mapping[str, str],
    target: Target,
    seen: Mapping[str, MessageStatus],
    max_failed: int = 0,
) -> Decision:
    """Given ``{label: waId}``, the target and the statuses seen: done, failed, or still waiting on whom.

    ``max_failed`` is how many FAILED messages are accepted (a count, not a fraction); one more
    fails the whole wait at once, without waiting for the others.
    """
    failed = {label: seen[wa_id] for label, wa_id in awaited.items() if wa_id in seen and seen[wa_id].failed}
    waiting = [
        label
        for label, wa_id in awaited.items()
        if label not in failed and (wa_id not in seen or not seen[wa_id].reached(target))
    ]
    final = {
        label: seen[wa_id].to_json() if wa_id in seen else {"wa_id": wa_id, "status": None}
        for label, wa_id in awaited.items()
    }
    if len(failed) > max_failed:
        return Decision(done=False, failed=failed, waiting=[], final=final)
    return Decision(done=not waiting, failed=failed, waiting=waiting, final=final)


def label_for_people(label: str) -> str:
    """A recipient masked for logs; a waId (no recipient known) as is."""
    return mask_phone(label) if label.isdigit() else label


def describe_failures(failed: Mapping[str, MessageStatus], limit: int = 10) -> str:
    parts = [
        f"{label_for_people(status.recipient or label)}: {status.status}, {describe_code(status.error_code)}"
        for label, status in list(failed.items())[:limit]
    ]
    more = f" and {len(failed) - limit} more" if len(failed) > limit else ""
    return "; ".join(parts) + more


def describe_waiting(waiting: list[str], limit: int = 10) -> str:
    more = f" and {len(waiting) - limit} more" if len(waiting) > limit else ""
    return ", ".join(label_for_people(label) for label in waiting[:limit]) + more


def _recipient_label(key: object) -> str:
    """A mapping key as the send operators write recipients (digits only) when it is a phone number."""
    try:
        return normalize_phone(key, "wa_ids")
    except LipaChatValidationError:
        return str(key).strip()


def parse_wa_ids(value: object, field_name: str = "wa_ids") -> dict[str, str]:
    """``{label: waId}`` from what the send operators return: one waId, a ``{recipient: waId}`` mapping,
    a list of waIds, or the text a template renders of any of them. A lone waId labels itself.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("{", "[")):
            try:
                value = json.loads(text)
            except ValueError:
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    raise LipaChatValidationError(
                        field_name,
                        value,
                        f"looks like a mapping or list but cannot be read as one; {WA_IDS_ACCEPTED}",
                        shown=mask_phone(repr(value)),
                    ) from None
        elif text:
            value = [text]
    if isinstance(value, Mapping):
        pairs = [(_recipient_label(k), v) for k, v in value.items()]
    elif isinstance(value, list | tuple):
        pairs = [(str(v).strip() if isinstance(v, str) else "", v) for v in value]
    else:
        pairs = []
    ids = {label: wa_id.strip() for label, wa_id in pairs if isinstance(wa_id, str) and wa_id.strip() and label}
    if not pairs or len(ids) != len(pairs):
        raise LipaChatValidationError(field_name, value, WA_IDS_ACCEPTED, shown=mask_phone(repr(value)))
    return ids


def poll_pages_bound(awaited: int, page_size: int = PAGE_SIZE) -> int:
    """Pages one poll needs at least to see ``awaited`` messages, for choosing ``max_pages``."""
    return max(1, math.ceil(awaited / page_size))
