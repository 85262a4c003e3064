"""Waiting for answers: which inbound message answers which question, and whether the wait is over.

Pure values and functions, no Airflow and no HTTP: the reply sensor's poke and its trigger share them.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.gateway.message_list import (
    InboundMessage,
    MessageStatus,
    describe_code,
    normalise_answer,
)
from airflow_provider_lipachat.gateway.redaction import mask_phone
from airflow_provider_lipachat.gateway.rendered import rendered_collection
from airflow_provider_lipachat.gateway.timestamps import parse_gateway_timestamp
from airflow_provider_lipachat.utils.delivery import describe_waiting, label_for_people

AnswersFrom = Literal["all", "any", "first"]
ANSWERS_FROM: tuple[str, ...] = ("all", "any", "first")
OPTIONS_ACCEPTED = (
    "expected the answers that count: a list of button ids or titles, or texts (such as ['Approve', 'Reject']), "
    "or leave options unset to take any answer"
)


def parse_options(value: object, field_name: str = "options") -> tuple[str, ...] | None:
    """The answers that count, from a list (or its rendered text, or one text); None when unset (any answer)."""
    if value is None:
        return None
    items: object = value
    if isinstance(value, str):
        found = rendered_collection(value)
        items = [value] if found is None else found
    if not isinstance(items, list | tuple | set | frozenset):
        raise LipaChatValidationError(field_name, value, OPTIONS_ACCEPTED, shown=f"<a {type(value).__name__}>")
    options: list[str] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int) or not str(item).strip():
            raise LipaChatValidationError(field_name, value, f"holds {item!r}, which is no answer; {OPTIONS_ACCEPTED}")
        if normalise_answer(str(item)) not in {normalise_answer(o) for o in options}:
            options.append(str(item).strip())
    if not options:
        raise LipaChatValidationError(field_name, value, f"names no answer; {OPTIONS_ACCEPTED}")
    return tuple(options)


def match_option(message: InboundMessage, options: tuple[str, ...] | None) -> str | None:
    """The option ``message`` chose (as the options spell it), or None when it chose none of them.

    A button's id, its title and a typed text are compared alike, so pressing "Approve" and typing
    "approve" count the same. Without options any message with text or a button answers, as sent.
    """
    if options is None:
        return message.shown.strip() or None
    chosen = {normalise_answer(s) for s in message.said}
    return next((option for option in options if normalise_answer(option) in chosen), None)


@dataclass(frozen=True)
class Answer:
    """A recipient's answer: the option chosen, what they pressed or wrote, and when it arrived."""

    answer: str
    text: str
    received_at: str | None
    wa_id: str

    def to_json(self) -> dict[str, Any]:
        return {"answer": self.answer, "text": self.text, "received_at": self.received_at}


@dataclass(frozen=True)
class Ignored:
    """A message from a recipient that answers no option of this wait, and why, for the log."""

    recipient: str
    message: InboundMessage
    why: str = "matching none of the options"


TYPED_FOR_BUTTONS = "typed, and this question takes a press on one of its buttons"
OTHER_QUESTION = "a press on another question's buttons"


@dataclass(frozen=True)
class ReplyDecision:
    """The outcome of one look at the questions and what came back, by recipient.

    ``ignored``: messages to these questions matching no option, or typed where a press on the
    question's buttons is awaited (a reprompt may answer them); ``elsewhere``: presses on another
    question's buttons; ``strangers``: messages after the questions from numbers that were not asked.
    """

    done: bool
    answers: dict[str, Answer]
    waiting: list[str]
    undelivered: dict[str, MessageStatus]
    ignored: list[Ignored]
    unseen: list[str]
    elsewhere: list[Ignored] = field(default_factory=list)
    strangers: list[InboundMessage] = field(default_factory=list)

    @property
    def state(self) -> Literal["done", "failed", "waiting"]:
        return "done" if self.done else "waiting" if self.waiting else "failed"

    @property
    def final(self) -> dict[str, dict[str, Any]]:
        """``{recipient: {answer, text, received_at}}``: what the sensor returns and pushes."""
        return {recipient: answer.to_json() for recipient, answer in self.answers.items()}


def _recipient(label: str, question: MessageStatus | None) -> str | None:
    """Who a question went to: the label a send gave (digits), else the recipient the message list names."""
    if label.isdigit():
        return label
    return question.recipient if question is not None else None


def reply_senders(awaited: Mapping[str, str]) -> frozenset[str] | None:
    """The numbers whose messages the scan keeps: the recipients when every label names one, else None (anyone)."""
    return frozenset(awaited) if all(label.isdigit() for label in awaited) else None


def _unanswerable(message: InboundMessage, token: str | None) -> str | None:
    """Why ``message`` cannot answer a question whose buttons were sent with ``token``; None when it can.

    Without a token (a text question, or buttons sent without one) every message can. With one only
    a press on those buttons can: a press on another question's buttons answers that question, and a
    typed text names no question, so it answers none (one text must never approve two questions).
    """
    if token is None or message.question_token == token:
        return None
    return TYPED_FOR_BUTTONS if message.button_id is None else OTHER_QUESTION


def decide_replies(
    awaited: Mapping[str, str],
    questions: Mapping[str, MessageStatus],
    inbound: Iterable[InboundMessage],
    options: tuple[str, ...] | None,
    answers_from: AnswersFrom,
    tokens: Mapping[str, str] | None = None,
) -> ReplyDecision:
    """Given ``{label: waId}`` of the questions, their statuses and the inbound messages seen: who answered what.

    A message answers a question when it comes from the question's recipient, arrived no earlier
    than the question (the list's timestamps have millisecond precision at best, so equal counts)
    and, when the question's buttons carry a token (``tokens``: ``{waId: token}``), is a press on
    them (``answers_this_question``);
    each recipient's earliest message choosing an option is the answer, the others before it are
    ``ignored``. A question never seen on the list cannot be timed, so its recipient stays waiting.
    A FAILED question cannot be answered: with ``all`` it fails the wait, else only when all failed.
    """
    by_sender: dict[str, list[InboundMessage]] = {}
    for message in inbound:
        by_sender.setdefault(message.sender, []).append(message)
    answers: dict[str, Answer] = {}
    waiting: list[str] = []
    undelivered: dict[str, MessageStatus] = {}
    ignored: list[Ignored] = []
    elsewhere: list[Ignored] = []
    unseen: list[str] = []
    asked: list[tuple[str, datetime.datetime]] = []
    for label, wa_id in awaited.items():
        question = questions.get(wa_id)
        recipient = _recipient(label, question)
        name = recipient or label
        if question is not None and question.failed:
            undelivered[name] = question
            continue
        asked_at = parse_gateway_timestamp(question.created_at) if question is not None else None
        if recipient is None or asked_at is None:
            unseen.append(name)
            waiting.append(name)
            continue
        asked.append((recipient, asked_at))
        for message in _arrived_since(by_sender.get(recipient, []), asked_at):
            why = _unanswerable(message, (tokens or {}).get(wa_id))
            if why == OTHER_QUESTION:
                elsewhere.append(Ignored(name, message, why))
                continue
            if why is not None:
                ignored.append(Ignored(name, message, why))
                continue
            option = match_option(message, options)
            if option is None:
                ignored.append(Ignored(name, message))
                continue
            answers[name] = Answer(option, message.shown, message.received_at, message.wa_id)
            break
        else:
            waiting.append(name)
    strangers = _strangers(by_sender, asked) if not unseen else []
    if answers_from == "first" and answers:
        earliest = min(answers, key=lambda name: _moment(answers[name].received_at))
        answers = {earliest: answers[earliest]}
    if answers_from == "all":
        done = not waiting and not undelivered
        if undelivered:  # one question can never be answered: the wait fails now
            waiting = []
    else:  # with none answered and none waiting, every question failed: the wait fails
        done = bool(answers)
    return ReplyDecision(done, answers, waiting, undelivered, ignored, unseen, elsewhere, strangers)


def _arrived_since(messages: Iterable[InboundMessage], since: datetime.datetime) -> list[InboundMessage]:
    """The messages that arrived at or after ``since``, earliest first."""
    later = []
    for message in messages:
        received = parse_gateway_timestamp(message.received_at)
        if received is not None and received >= since:
            later.append((received, message))
    return [message for _, message in sorted(later, key=lambda pair: pair[0])]


def _strangers(
    by_sender: Mapping[str, list[InboundMessage]], asked: list[tuple[str, datetime.datetime]]
) -> list[InboundMessage]:
    """Messages from numbers that were not asked, since the first question: they answer nothing here."""
    if not asked:
        return []
    recipients = {recipient for recipient, _ in asked}
    first = min(at for _, at in asked)
    others = (m for sender, messages in by_sender.items() if sender not in recipients for m in messages)
    return _arrived_since(others, first)


def _moment(timestamp: str | None) -> float:
    """A list timestamp in epoch seconds, for ordering; unreadable ones last."""
    parsed = parse_gateway_timestamp(timestamp)
    return parsed.timestamp() if parsed is not None else float("inf")


def describe_undelivered(undelivered: Mapping[str, MessageStatus]) -> str:
    parts = [f"{label_for_people(name)}: {s.status}, {describe_code(s.error_code)}" for name, s in undelivered.items()]
    return "; ".join(parts)


def reply_outcome(kind: str, decision: ReplyDecision, answers_from: str) -> str:
    """The sentence a failure or a timeout shows: whose question was not delivered, or who has not answered."""
    if kind == "failed":
        return f"question not delivered, so it cannot be answered: {describe_undelivered(decision.undelivered)}"
    whom = "every recipient" if answers_from == "all" else "any recipient"
    message = (
        f"timed out waiting for answers from {whom}; {len(decision.waiting)} recipient(s) have not answered: "
        f"{describe_waiting(decision.waiting)}"
    )
    if decision.unseen:
        message += (
            f". The question to {describe_waiting(decision.unseen)} was never seen on the message list (another "
            "account or gateway than the send's, beyond max_pages, or wa_ids that are no send's result)"
        )
    return message


def describe_answers(answers: Mapping[str, Answer]) -> str:
    """Answers for the log: '2547******01: Approve'."""
    return ", ".join(f"{mask_phone(name)}: {answer.answer}" for name, answer in answers.items())


def unrelated_lines(decision: ReplyDecision, noted: set[str]) -> list[str]:
    """Log lines, once per message (``noted`` keeps their waIds), for what answers no question of this wait:
    a press on another question's buttons, a message from a number that was not asked."""
    lines = []
    for item in decision.elsewhere:
        if item.message.wa_id not in noted:
            noted.add(item.message.wa_id)
            lines.append(f"Not counted as an answer from {label_for_people(item.recipient)}: {item.why}")
    for message in decision.strangers:
        if message.wa_id not in noted:
            noted.add(message.wa_id)
            lines.append(f"Ignored a message from {mask_phone(message.sender)}, who was not asked")
    return lines


def ignored_line(item: Ignored, reprompt: bool) -> str:
    """The log line for an ignored answer that gets no reprompt (with ``reprompt``: its sender had theirs)."""
    capped = " (reprompted as often as max_reprompts allows)" if reprompt else ""
    return f"Ignored an answer from {label_for_people(item.recipient)} {item.why}{capped}"


def reprompt_text(options: tuple[str, ...], buttons: bool = False) -> str:
    """The polite text sent to someone whose answer matched none of the options (with ``buttons``: was typed)."""
    choices = ", ".join(f'"{option}"' for option in options)
    if buttons:
        return f"Sorry, I can only take an answer given with the question's buttons. Please press one of: {choices}."
    return f"Sorry, that is not one of the answers I can take. Please choose one of: {choices}."


def to_reprompt(ignored: Iterable[Ignored], max_reprompts: int) -> list[Ignored]:
    """The ignored answers that get a reprompt: each recipient's first ``max_reprompts``, earliest first.

    The same on every look (the list's order decides), so another look, a reschedule or a retry
    chooses the same answers, whose stable message ids the gateway deduplicates.
    """
    chosen: list[Ignored] = []
    counts: dict[str, int] = {}
    for item in sorted(ignored, key=lambda i: _moment(i.message.received_at)):
        counts[item.recipient] = counts.get(item.recipient, 0) + 1
        if counts[item.recipient] <= max_reprompts:
            chosen.append(item)
    return chosen
