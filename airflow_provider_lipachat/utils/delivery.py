"""Waiting on sent messages: what a send handed over, and whether the wait is done, failed or goes on.

Pure values and functions, no Airflow and no HTTP: the sensor's poke and its trigger share them.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.gateway.message_list import (
    PAGE_SIZE,
    MessageStatus,
    Target,
    describe_code,
    normalise_status,
)
from airflow_provider_lipachat.gateway.recipients import international_digits
from airflow_provider_lipachat.gateway.redaction import mask_phone

WA_IDS_ACCEPTED = (
    "expected the waId a send returned, a {recipient: waId} mapping of a fan-out, or a list of them "
    "(a mapped send's results; None items, sends that were skipped, are left out)"
)
#: How a template renders Airflow's lazy sequence of a mapped task's (or several tasks') results:
#: ``LazySelectSequence([2 items])`` on 2.11, ``LazyXComSequence(...)`` on 3; the items are not in the text.
LAZY_SEQUENCE_TEXT = re.compile(r"Lazy\w*Sequence\(")
#: Looks at the message list after which awaited ids still not on it are worth a warning (they appear at send).
UNSEEN_WARN_AFTER = 3


def merge_seen(seen: dict[str, MessageStatus], found: dict[str, MessageStatus]) -> None:
    """Fold one poll's statuses into what was seen before, never moving a message back nor losing its recipient.

    A status kept from before may name no recipient (a trigger's event carries none), while the poll's does.
    """
    for wa_id, status in found.items():
        before = seen.get(wa_id)
        merged = status if before is None else before.later(status)
        recipient = merged.recipient or status.recipient or (before.recipient if before is not None else None)
        seen[wa_id] = merged if merged.recipient == recipient else replace(merged, recipient=recipient)


def statuses_from_event(statuses: object) -> dict[str, MessageStatus]:
    """The ``{waId: {status, error_code, updated_at}}`` a delivery trigger's event carries, as statuses
    naming no recipient; anything unreadable is left out (a later look reads the list again anyway).
    """
    read: dict[str, MessageStatus] = {}
    if not isinstance(statuses, Mapping):
        return read
    for wa_id, item in statuses.items():
        status = normalise_status(item.get("status")) if isinstance(item, Mapping) else None
        if not isinstance(wa_id, str) or status is None:
            continue
        code = item.get("error_code")
        updated = item.get("updated_at")
        read[wa_id] = MessageStatus(
            wa_id=wa_id,
            status=status,
            error_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
            updated_at=updated if isinstance(updated, str) else None,
        )
    return read


@dataclass(frozen=True)
class Decision:
    """The outcome of one look at the awaited messages, each named by recipient where one is known.

    ``last`` holds the latest status seen of each message found on the list; ``final`` is every
    message's status as the sensor returns it (``status`` None for one never seen).
    """

    done: bool
    failed: dict[str, MessageStatus]
    waiting: list[str]
    final: dict[str, dict[str, Any]]
    last: dict[str, MessageStatus]

    @property
    def state(self) -> Literal["done", "failed", "waiting"]:
        return "done" if self.done else "waiting" if self.waiting else "failed"

    @property
    def unseen(self) -> list[str]:
        """Who is still awaited and was never found on the message list."""
        return [name for name in self.waiting if name not in self.last]


def shown_labels(awaited: Mapping[str, str], seen: Mapping[str, MessageStatus]) -> dict[str, str]:
    """Each awaited label as the wait names it: the recipient the send named, else the recipient the
    message list reports for the waId once a poll found it, else the waId itself.

    A recipient already naming another message (one number sent to twice) leaves the waId as the name.
    """
    taken = set(awaited)
    shown: dict[str, str] = {}
    for label, wa_id in awaited.items():
        status = seen.get(wa_id)
        name = label
        if label == wa_id and status is not None and status.recipient:
            recipient = _recipient_label(status.recipient)
            if recipient and recipient not in taken:
                taken.add(recipient)
                name = recipient
        shown[label] = name
    return shown


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
    shown = shown_labels(awaited, seen)
    last = {shown[label]: seen[wa_id] for label, wa_id in awaited.items() if wa_id in seen}
    failed = {name: status for name, status in last.items() if status.failed}
    waiting = [
        shown[label]
        for label in awaited
        if shown[label] not in failed and (shown[label] not in last or not last[shown[label]].reached(target))
    ]
    final = {
        shown[label]: seen[wa_id].to_json() if wa_id in seen else _never_seen(label, wa_id)
        for label, wa_id in awaited.items()
    }
    if len(failed) > max_failed:
        return Decision(done=False, failed=failed, waiting=[], final=final, last=last)
    return Decision(done=not waiting, failed=failed, waiting=waiting, final=final, last=last)


def _never_seen(label: str, wa_id: str) -> dict[str, Any]:
    """The final status of a message the list never showed, in the same shape as a seen one's."""
    recipient = label if label != wa_id and label.isdigit() else None
    return {"wa_id": wa_id, "status": None, "recipient": recipient, "error_code": None, "updated_at": None}


def outcome_message(kind: str, decision: Decision, target: str, max_pages: int) -> str:
    """The sentence a task failure or timeout shows: who failed and why, or who is pending at which status."""
    if kind == "failed":
        return f"not delivered: {describe_failures(decision.failed)}"
    waiting = decision.waiting
    message = f"timed out waiting for {target} from {len(waiting)} message(s): {describe_pending(decision, target)}"
    if decision.unseen:
        message += f". {describe_unseen(decision.unseen, max_pages)}"
    return message


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


def describe_pending(decision: Decision, target: str, limit: int = 10) -> str:
    """Each pending message's last known status: '2547******33: DELIVERED, not yet READ'."""
    parts = []
    for name in decision.waiting[:limit]:
        status = decision.last.get(name)
        where = "never seen on the message list" if status is None else f"{status.status}, not yet {target.upper()}"
        parts.append(f"{label_for_people(name)}: {where}")
    more = f" and {len(decision.waiting) - limit} more" if len(decision.waiting) > limit else ""
    return "; ".join(parts) + more


def describe_unseen(unseen: list[str], max_pages: int) -> str:
    """Why awaited ids may be missing from the message list, naming them (masked)."""
    return (
        f"{len(unseen)} message(s) never seen on the message list ({describe_waiting(unseen)}): the "
        "connection may reach another gateway or account than the send's, the messages may lie beyond "
        f"the newest max_pages={max_pages} page(s) ({max_pages * PAGE_SIZE} messages), or wa_ids may hold "
        "something other than the waIds a send returned"
    )


def _recipient_label(key: object) -> str:
    """A mapping key as the send operators write recipients (digits only) when it is a phone number."""
    try:
        return international_digits(key, "wa_ids")
    except LipaChatValidationError:
        return str(key).strip()


def _read_text(text: str, field_name: str) -> object:
    """What a rendered template holds: a mapping or list written out, or one waId."""
    stripped = text.strip()
    if LAZY_SEQUENCE_TEXT.match(stripped):
        raise LipaChatValidationError(
            field_name,
            text,
            "is the text Airflow renders for its lazy sequence of several results, not the results; pass "
            "send.output itself, or end the template with '| list' (\"{{ ti.xcom_pull('send') | list }}\")",
        )
    if not stripped.startswith(("{", "[")):
        return [stripped] if stripped else text
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError):
        raise LipaChatValidationError(
            field_name,
            text,
            f"looks like a mapping or list but cannot be read as one; {WA_IDS_ACCEPTED}",
            shown=mask_phone(repr(text)),
        ) from None


def parse_wa_ids(
    value: object, field_name: str = "wa_ids", notice: Callable[[str], object] | None = None
) -> dict[str, str]:
    """``{label: waId}`` from whatever a send handed over: one waId, a ``{recipient: waId}`` mapping, or
    any list or other iterable of them (Airflow's lazy sequence of a mapped send's results, read here,
    once), as a value or as the text a template renders.

    A recipient labels its waId; a lone waId labels itself. Mappings are merged; a recipient sent to
    twice (by two map indexes) keeps both messages, the second labelled by its waId. ``None`` items
    (mapped sends that were skipped) are left out, told through ``notice``; nothing left is an error.
    """
    if isinstance(value, str):
        value = _read_text(value, field_name)
    if isinstance(value, Mapping):
        items: list[object] = [value]
    elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
        items = list(value)
        value = items  # shown as read, not as the lazy sequence's "<unevaluated length>"
    else:
        raise LipaChatValidationError(field_name, value, WA_IDS_ACCEPTED, shown=mask_phone(repr(value)))
    ids: dict[str, str] = {}
    for item in items:
        if item is None:
            continue
        pairs = [(item, item)] if isinstance(item, str) else list(item.items()) if isinstance(item, Mapping) else []
        if not pairs:
            problem = f"holds {type(item).__name__} {item!r}, neither a waId nor a {{recipient: waId}} mapping"
            raise LipaChatValidationError(
                field_name, value, f"{problem}; {WA_IDS_ACCEPTED}", shown=mask_phone(repr(value))
            )
        for key, wa_id in pairs:
            label = key.strip() if isinstance(item, str) else _recipient_label(key)
            if not label or not isinstance(wa_id, str) or not wa_id.strip():
                raise LipaChatValidationError(field_name, value, WA_IDS_ACCEPTED, shown=mask_phone(repr(value)))
            wa_id = wa_id.strip()
            ids[label if ids.get(label, wa_id) == wa_id else wa_id] = wa_id
    skipped = sum(1 for item in items if item is None)
    if not ids:
        held = f"its {skipped} item(s) are all None (sends that were skipped)" if skipped else "it is empty"
        raise LipaChatValidationError(
            field_name, value, f"holds no waId: {held}; {WA_IDS_ACCEPTED}", shown=mask_phone(repr(value))
        )
    if skipped and notice is not None:
        notice(f"Left out {skipped} of {len(items)} send result(s) holding no waId (None: a mapped send skipped)")
    return ids


def poll_pages_bound(awaited: int, page_size: int = PAGE_SIZE) -> int:
    """Pages one poll needs at least to see ``awaited`` messages, for choosing ``max_pages``."""
    return max(1, math.ceil(awaited / page_size))
