"""Messages as values: validation, normalisation and the JSON payloads the gateway expects.

No I/O and no Airflow here, so importing this module is cheap and every rule is testable alone.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import pendulum

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.gateway.recipients import international_digits
from airflow_provider_lipachat.gateway.redaction import mask_url
from airflow_provider_lipachat.gateway.rendered import rendered_collection

A = TypeVar("A", bound="Addressable")

MEDIA_TYPES: tuple[str, ...] = ("IMAGE", "VIDEO", "AUDIO", "DOCUMENT", "STICKER")
CAPTION_MEDIA_TYPES: frozenset[str] = frozenset({"IMAGE", "VIDEO", "DOCUMENT"})
MAX_CAPTION_LENGTH = 1024

MEDIA_TYPE_BY_EXTENSION: dict[str, str] = {
    **dict.fromkeys(("jpg", "jpeg", "png"), "IMAGE"),
    **dict.fromkeys(("mp4", "3gp"), "VIDEO"),
    **dict.fromkeys(("mp3", "m4a", "aac", "amr", "ogg", "opus"), "AUDIO"),
    **dict.fromkeys(("pdf", "txt", "csv", "doc", "docx", "xls", "xlsx", "ppt", "pptx"), "DOCUMENT"),
    "webp": "STICKER",
}


def _absent(value: str | None) -> bool:
    return value is None or value == ""


PLACEHOLDERS_ACCEPTED = (
    "expected the values for {{1}}, {{2}}, ... in order: a list or tuple, the text of a list "
    "(as a template renders one), or one string for a single placeholder"
)


def parse_placeholders(value: object, field_name: str = "body_placeholders") -> tuple[str, ...]:
    """Template placeholders from a list, a tuple, a rendered list (``"['a', 'b']"``) or one string (one value)."""
    if value is None or value == "":
        return ()
    items: object = value
    if isinstance(value, str):
        found = rendered_collection(value) if value.strip()[:1] != "{" else None  # a set has no order
        items = [value] if found is None else found
    if not isinstance(items, list | tuple):
        raise LipaChatValidationError(field_name, value, PLACEHOLDERS_ACCEPTED, shown=f"<a {type(value).__name__}>")
    for position, item in enumerate(items, start=1):
        if item is None or isinstance(item, dict | list | tuple | set):
            raise LipaChatValidationError(
                field_name,
                value,
                f"value {position} ({{{{{position}}}}}) is a {type(item).__name__}, not a text or number; "
                + PLACEHOLDERS_ACCEPTED,
                shown=f"<{len(items)} values>",
            )
    return tuple(str(item) for item in items)


def infer_media_type(media_url: str) -> str | None:
    """Guess the media type from the URL path's extension, or None when it says nothing."""
    path = urlsplit(media_url).path
    extension = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return MEDIA_TYPE_BY_EXTENSION.get(extension)


_URL_SAFE = "/?#[]@!$&'()*+,;=:%-._~"
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _validate_media_url(media_url: object) -> str:
    accepted = "expected an absolute https:// URL that WhatsApp's servers can fetch"
    if not isinstance(media_url, str) or not media_url.strip():
        raise LipaChatValidationError("media_url", media_url, accepted)
    media_url = media_url.strip()
    parts = urlsplit(media_url)
    if parts.scheme.lower() != "https":
        raise LipaChatValidationError("media_url", media_url, f"is not https; {accepted}")
    if not parts.hostname:
        raise LipaChatValidationError("media_url", media_url, f"has no host; {accepted}")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
        port = f":{parts.port}" if parts.port is not None else ""
    except (UnicodeError, ValueError) as err:
        raise LipaChatValidationError(
            "media_url", media_url, f"has an invalid host or port ({err}); {accepted}"
        ) from None
    # Encoded as browsers do: spaces and non-ASCII characters percent-encoded, existing %XX kept.
    path, query, fragment = (quote(_STRAY_PERCENT.sub("%25", piece), safe=_URL_SAFE) for piece in parts[2:])
    userinfo = parts.netloc.rpartition("@")[0]
    return urlunsplit(("https", (userinfo + "@" if userinfo else "") + host + port, path, query, fragment))


def _resolve_media_type(media_type: str | None, media_url: str) -> str:
    if _absent(media_type):
        inferred = infer_media_type(media_url)
        if inferred is None:
            raise LipaChatValidationError(
                "media_type",
                media_type,
                "was not given and cannot be inferred from the URL's extension; "
                f"set media_type to one of {', '.join(MEDIA_TYPES)}",
            )
        return inferred
    normalized = str(media_type).strip().upper()
    if normalized not in MEDIA_TYPES:
        raise LipaChatValidationError("media_type", media_type, f"is unknown; expected one of {', '.join(MEDIA_TYPES)}")
    return normalized


def _normalise_addressing(message: Any) -> None:
    """Check and normalise the fields every message has: ``to``, ``from_number`` and ``message_id``.

    Numbers become international digits here; recipients are checked against the numbering plan
    where they enter (``recipients.NumberingPlan``, in the operators and the notifier).
    """
    if _absent(message.message_id):
        raise LipaChatValidationError("message_id", message.message_id, "expected a non-empty id")
    object.__setattr__(message, "to", international_digits(message.to, "to"))
    object.__setattr__(message, "from_number", international_digits(message.from_number, "from_number"))
    object.__setattr__(message, "message_id", str(message.message_id))


def new_message_id() -> str:
    """A fresh random message id, for sends that no Airflow task instance identifies."""
    return str(uuid.uuid4())


class Addressable:
    """What every message value has besides its content: a copy of it can go to another recipient, under another id."""

    def addressed(self: A, to: str, message_id: str) -> A:
        """This checked message for ``to`` under ``message_id``, neither checked again.

        ``to`` must already be normalised (as ``parse_recipients`` gives it), ``message_id`` non-empty:
        this is how one message built per task reaches every recipient without re-validating it.
        """
        copied = copy.copy(self)
        object.__setattr__(copied, "to", to)
        object.__setattr__(copied, "message_id", message_id)
        return copied


@dataclass(frozen=True)
class MediaMessage(Addressable):
    """One media message, validated and normalised on construction.

    Empty strings count as absent; ``media_type`` is inferred from the URL when absent;
    phone numbers are reduced to digits. ``message_id`` is fixed here so every retry of
    this message carries the same id, which is what lets the gateway deduplicate.
    """

    to: str
    media_url: str
    from_number: str
    media_type: str | None = None
    caption: str | None = None
    filename: str | None = None
    message_id: str = field(default_factory=new_message_id)

    path: ClassVar[str] = "/whatsapp/media"
    kind: ClassVar[str] = "media"

    def __post_init__(self) -> None:
        media_url = _validate_media_url(self.media_url)
        media_type = _resolve_media_type(self.media_type, media_url)
        caption = None if _absent(self.caption) else self.caption
        filename = None if _absent(self.filename) else self.filename
        if caption is not None:
            if media_type not in CAPTION_MEDIA_TYPES:
                raise LipaChatValidationError(
                    "caption", caption, f"is not allowed on {media_type}; captions go only on IMAGE, VIDEO or DOCUMENT"
                )
            if len(caption) > MAX_CAPTION_LENGTH:
                raise LipaChatValidationError(
                    "caption",
                    caption[:40] + "...",
                    f"is {len(caption)} characters; at most {MAX_CAPTION_LENGTH} are accepted",
                )
        if filename is not None and media_type != "DOCUMENT":
            raise LipaChatValidationError(
                "filename", filename, f"is not allowed on {media_type}; a filename goes only on a DOCUMENT"
            )
        # A frozen dataclass normalises its own fields through object.__setattr__.
        object.__setattr__(self, "media_url", media_url)
        object.__setattr__(self, "media_type", media_type)
        object.__setattr__(self, "caption", caption)
        object.__setattr__(self, "filename", filename)
        _normalise_addressing(self)

    def content(self, shown_url: str | None = None) -> tuple[object, ...]:
        """What the recipient sees, without the addressing: the fingerprint's input for ``resend_if_changed``.

        :param shown_url: the link as shown (a storage path); default the URL without its query string.
        """
        shown = mask_url(self.media_url) if shown_url is None else shown_url
        return ("media", shown, self.media_type, self.caption, self.filename)

    def to_payload(self) -> dict[str, Any]:
        """The JSON body of ``POST /api/v1/whatsapp/media``."""
        payload: dict[str, Any] = {
            "messageId": self.message_id,
            "mediaType": self.media_type,
            "mediaUrl": self.media_url,
            "from": self.from_number,
            "to": self.to,
        }
        if self.caption is not None:
            payload["caption"] = self.caption
        if self.filename is not None:
            payload["filename"] = self.filename
        return payload


MAX_TEXT_LENGTH = 4096
TEMPLATE_HEADER_TYPES: tuple[str, ...] = ("IMAGE", "VIDEO", "DOCUMENT")
_TEMPLATE_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")


@dataclass(frozen=True)
class TextMessage(Addressable):
    """A free-form text message (at most 4096 characters), validated on construction."""

    to: str
    message: str
    from_number: str
    message_id: str = field(default_factory=new_message_id)

    path: ClassVar[str] = "/whatsapp/message/text"
    kind: ClassVar[str] = "text"

    def __post_init__(self) -> None:
        if not isinstance(self.message, str) or not self.message.strip():
            raise LipaChatValidationError("message", self.message, "expected non-empty text")
        if len(self.message) > MAX_TEXT_LENGTH:
            raise LipaChatValidationError(
                "message",
                self.message[:40] + "...",
                f"is {len(self.message)} characters; at most {MAX_TEXT_LENGTH} are accepted",
            )
        _normalise_addressing(self)

    def content(self) -> tuple[object, ...]:
        """What the recipient sees, without the addressing: the fingerprint's input for ``resend_if_changed``."""
        return ("text", self.message)

    def to_payload(self) -> dict[str, Any]:
        """The JSON body of ``POST /api/v1/whatsapp/message/text``."""
        return {"messageId": self.message_id, "message": self.message, "from": self.from_number, "to": self.to}


@dataclass(frozen=True)
class TemplateMessage(Addressable):
    """An approved template message, the one kind WhatsApp accepts outside the 24-hour window.

    The optional header carries media (IMAGE, VIDEO or DOCUMENT, inferred from the URL when
    not given); ``body_placeholders`` fill the template's {{1}}, {{2}}, ... in order.
    """

    to: str
    template_name: str
    from_number: str
    language_code: str = "en"
    header_media_url: str | None = None
    header_media_type: str | None = None
    body_placeholders: Sequence[str] = ()
    message_id: str = field(default_factory=new_message_id)

    path: ClassVar[str] = "/whatsapp/template"
    kind: ClassVar[str] = "template"

    def __post_init__(self) -> None:
        if not isinstance(self.template_name, str) or not _TEMPLATE_NAME.match(self.template_name):
            raise LipaChatValidationError(
                "template_name",
                self.template_name,
                "expected an approved template's name: lowercase letters, digits, _",
            )
        if not isinstance(self.language_code, str) or not _LANGUAGE_CODE.match(self.language_code):
            raise LipaChatValidationError(
                "language_code", self.language_code, "expected a WhatsApp language code such as 'en', 'sw' or 'en_US'"
            )
        header_url = None if _absent(self.header_media_url) else _validate_media_url(self.header_media_url)
        header_type = None
        if header_url is not None:
            header_type = _resolve_media_type(self.header_media_type, header_url)
            if header_type not in TEMPLATE_HEADER_TYPES:
                raise LipaChatValidationError(
                    "header_media_type",
                    header_type,
                    f"cannot be a template header; expected one of {', '.join(TEMPLATE_HEADER_TYPES)}",
                )
        elif not _absent(self.header_media_type):
            raise LipaChatValidationError(
                "header_media_type", self.header_media_type, "was given without header_media_url"
            )
        object.__setattr__(self, "header_media_url", header_url)
        object.__setattr__(self, "header_media_type", header_type)
        object.__setattr__(self, "body_placeholders", parse_placeholders(self.body_placeholders))
        _normalise_addressing(self)

    def content(self, shown_header: str | None = None) -> tuple[object, ...]:
        """What the recipient sees, without the addressing: the fingerprint's input for ``resend_if_changed``.

        :param shown_header: the header link as shown (a storage path); default its URL without the query string.
        """
        if shown_header is None and self.header_media_url is not None:
            shown_header = mask_url(self.header_media_url)
        placeholders = list(self.body_placeholders)
        return ("template", self.template_name, self.language_code, placeholders, shown_header, self.header_media_type)

    def to_payload(self) -> dict[str, Any]:
        """The JSON body of ``POST /api/v1/whatsapp/template``, in the shape real clients send."""
        components: dict[str, Any] = {"body": {"placeholders": list(self.body_placeholders)}}
        if self.header_media_url is not None:
            components["header"] = {"type": self.header_media_type, "mediaUrl": self.header_media_url}
        return {
            "messageId": self.message_id,
            "from": self.from_number,
            "to": self.to,
            "template": {"name": self.template_name, "languageCode": self.language_code, "components": components},
        }


#: WhatsApp's reply-button rules (Meta's Cloud API reference, "Interactive reply buttons messages" and
#: its Reply Buttons object: https://developers.facebook.com/documentation/business-messaging/whatsapp/
#: messages/interactive-reply-buttons-messages): at most 3 buttons; body text at most 1024 characters;
#: a title at most 20 characters, unique within the message; an id at most 256 characters, no
#: leading or trailing spaces. LipaChat documents 1 to 3 buttons of ``{id, title}``.
MAX_BUTTONS = 3
MAX_BUTTONS_TEXT_LENGTH = 1024
MAX_BUTTON_TITLE_LENGTH = 20
#: A question's buttons are sent with ids of their own: the id given, then ``~q`` and the question's
#: token (``QUESTION_TOKEN_LENGTH`` base32 letters), so a press names the question it answers.
QUESTION_TAG = "~q"
QUESTION_TOKEN_LENGTH = 10
WHATSAPP_MAX_BUTTON_ID_LENGTH = 256
MAX_BUTTON_ID_LENGTH = WHATSAPP_MAX_BUTTON_ID_LENGTH - len(QUESTION_TAG) - QUESTION_TOKEN_LENGTH
_TAGGED_BUTTON_ID = re.compile(rf"^(.+){re.escape(QUESTION_TAG)}([a-z2-7]{{{QUESTION_TOKEN_LENGTH}}})$", re.DOTALL)
BUTTONS_ACCEPTED = (
    f"expected 1 to {MAX_BUTTONS} buttons: a list of titles (['Approve', 'Reject']; each title is also its id) "
    "or of {'id': ..., 'title': ...} mappings, or the text of such a list"
)


@dataclass(frozen=True)
class Button:
    """One reply button: ``id`` comes back when it is pressed, ``title`` is what the recipient sees."""

    id: str
    title: str


def _button(item: object, position: int, field_name: str) -> Button:
    """One button from a title or an ``{id, title}`` mapping, checked against WhatsApp's limits."""
    button_id: object
    title: object
    if isinstance(item, Button):
        button_id, title = item.id, item.title
    elif isinstance(item, str):
        button_id, title = item, item
    elif isinstance(item, Mapping) and set(item) <= {"id", "title"} and "title" in item:
        button_id, title = item.get("id", item["title"]), item["title"]
    else:
        problem = f"button {position} is neither a title nor {{id, title}}; "
        raise LipaChatValidationError(field_name, item, problem + BUTTONS_ACCEPTED)
    if not isinstance(title, str) or not title.strip():
        raise LipaChatValidationError(field_name, item, f"button {position} has no title; " + BUTTONS_ACCEPTED)
    if not isinstance(button_id, str | int) or isinstance(button_id, bool) or not str(button_id).strip():
        raise LipaChatValidationError(field_name, item, f"button {position} has no id; " + BUTTONS_ACCEPTED)
    title, button_id = title.strip(), str(button_id).strip()
    if len(title) > MAX_BUTTON_TITLE_LENGTH:
        raise LipaChatValidationError(
            field_name,
            title,
            f"button {position}'s title is {len(title)} characters; WhatsApp shows at most {MAX_BUTTON_TITLE_LENGTH}",
        )
    if len(button_id) > MAX_BUTTON_ID_LENGTH:
        raise LipaChatValidationError(
            field_name,
            button_id[:40] + "...",
            f"button {position}'s id is {len(button_id)} characters; at most {MAX_BUTTON_ID_LENGTH} are accepted "
            f"(WhatsApp's {WHATSAPP_MAX_BUTTON_ID_LENGTH}, less the question's own suffix)",
        )
    return Button(button_id, title)


def tag_button_id(button_id: str, question_token: str | None) -> str:
    """The id a button is sent with: its own id, followed by the question's token when there is one."""
    return button_id if question_token is None else f"{button_id}{QUESTION_TAG}{question_token}"


def split_button_id(sent_id: str) -> tuple[str, str | None]:
    """A pressed button's (own id, question token): the token is None for a button sent without one."""
    match = _TAGGED_BUTTON_ID.match(sent_id)
    return (sent_id, None) if match is None else (match.group(1), match.group(2))


def parse_buttons(value: object, field_name: str = "buttons") -> tuple[Button, ...]:
    """1 to 3 reply buttons from a list of titles or ``{id, title}`` mappings (or a list's rendered text).

    Ids and titles must each be unique, ignoring case and surrounding spaces: answers are matched that way.
    """
    items: object = value
    if isinstance(value, str):
        items = rendered_collection(value)
        if items is None:
            raise LipaChatValidationError(field_name, value, "is text that is no list; " + BUTTONS_ACCEPTED)
    if not isinstance(items, list | tuple):
        raise LipaChatValidationError(field_name, value, BUTTONS_ACCEPTED, shown=f"<a {type(value).__name__}>")
    if not 1 <= len(items) <= MAX_BUTTONS:
        raise LipaChatValidationError(field_name, value, f"holds {len(items)} buttons; " + BUTTONS_ACCEPTED)
    buttons = tuple(_button(item, position, field_name) for position, item in enumerate(items, start=1))
    for part in ("id", "title"):
        names = [getattr(button, part).casefold() for button in buttons]
        if len(set(names)) != len(names):
            raise LipaChatValidationError(
                field_name, value, f"repeats a button {part} (case ignored); each {part} must be unique"
            )
    return buttons


@dataclass(frozen=True)
class ButtonsMessage(Addressable):
    """A free-form message with 1 to 3 reply buttons, validated on construction; the 24-hour rule applies."""

    to: str
    text: str
    buttons: Sequence[Button | Mapping[str, str] | str]
    from_number: str
    message_id: str = field(default_factory=new_message_id)
    #: Sent with every button's id (``tag_button_id``), so a press names this question; None sends the ids as given.
    question_token: str | None = None

    path: ClassVar[str] = "/whatsapp/interactive/buttons"
    kind: ClassVar[str] = "buttons"

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise LipaChatValidationError("message", self.text, "expected non-empty text above the buttons")
        if len(self.text) > MAX_BUTTONS_TEXT_LENGTH:
            raise LipaChatValidationError(
                "message",
                self.text[:40] + "...",
                f"is {len(self.text)} characters; a buttons message's text takes at most {MAX_BUTTONS_TEXT_LENGTH}",
            )
        object.__setattr__(self, "buttons", parse_buttons(self.buttons))
        if self.question_token is not None and split_button_id(tag_button_id("x", self.question_token))[1] is None:
            raise LipaChatValidationError(
                "question_token",
                self.question_token,
                f"expected {QUESTION_TOKEN_LENGTH} lower-case base32 letters (a-z, 2-7), as question_token() makes",
            )
        _normalise_addressing(self)

    def addressed(self, to: str, message_id: str, question_token: str | None = None) -> ButtonsMessage:
        """This checked message for ``to`` under ``message_id``, asking with ``question_token``.

        As ``Addressable.addressed``; the copy's buttons carry ``question_token`` (None: the ids as given).
        """
        copied = super().addressed(to, message_id)
        object.__setattr__(copied, "question_token", question_token)
        return copied

    def content(self) -> tuple[object, ...]:
        """What the recipient sees, without the addressing: the fingerprint's input for ``resend_if_changed``."""
        return ("buttons", self.text, [[b.id, b.title] for b in self.reply_buttons])

    @property
    def reply_buttons(self) -> tuple[Button, ...]:
        """The checked buttons (``buttons`` holds only these once the message is built)."""
        return tuple(b for b in self.buttons if isinstance(b, Button))

    def to_payload(self) -> dict[str, Any]:
        """The JSON body of ``POST /api/v1/whatsapp/interactive/buttons``, as LipaChat's sample request sends it.

        The sample puts the text in ``text``; its field table says ``message``. The sample is what runs.
        """
        buttons = [{"id": tag_button_id(b.id, self.question_token), "title": b.title} for b in self.reply_buttons]
        return {
            "messageId": self.message_id,
            "text": self.text,
            "buttons": buttons,
            "from": self.from_number,
            "to": self.to,
        }


#: Every message value: what ``LipaChatClient.send`` and ``LipaChatHook.send`` take.
Message: TypeAlias = MediaMessage | TextMessage | TemplateMessage | ButtonsMessage


@dataclass(frozen=True)
class SendResult:
    """What the gateway said about one accepted message."""

    message_id: str
    wa_id: str
    status: str | None = None
    status_desc: str | None = None
    timestamp: pendulum.DateTime | None = None
    #: The gateway answered with the first answer to this ``messageId``: sent before, nothing new now.
    #: Inferred from ``timestamp`` (see ``answers.answered_as_already_sent``); False when it cannot tell.
    replayed: bool = False
