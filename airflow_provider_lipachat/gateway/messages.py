"""Messages as values: validation, normalisation and the JSON payloads the gateway expects.

No I/O and no Airflow here, so importing this module is cheap and every rule is testable alone.
"""

from __future__ import annotations

import ast
import copy
import math
import numbers
import operator
import re
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, TypeAlias, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import pendulum

from airflow_provider_lipachat.exceptions import LipaChatValidationError

T = TypeVar("T")
A = TypeVar("A", bound="Addressable")

MEDIA_TYPES: tuple[str, ...] = ("IMAGE", "VIDEO", "AUDIO", "DOCUMENT", "STICKER")
CAPTION_MEDIA_TYPES: frozenset[str] = frozenset({"IMAGE", "VIDEO", "DOCUMENT"})
MAX_CAPTION_LENGTH = 1024
MIN_PHONE_DIGITS = 8
MAX_PHONE_DIGITS = 15

MEDIA_TYPE_BY_EXTENSION: dict[str, str] = {
    **dict.fromkeys(("jpg", "jpeg", "png"), "IMAGE"),
    **dict.fromkeys(("mp4", "3gp"), "VIDEO"),
    **dict.fromkeys(("mp3", "m4a", "aac", "amr", "ogg", "opus"), "AUDIO"),
    **dict.fromkeys(("pdf", "txt", "csv", "doc", "docx", "xls", "xlsx", "ppt", "pptx"), "DOCUMENT"),
    "webp": "STICKER",
}

_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
# One '.' followed by digits at the end is how a float renders ("254711000921.0"), not a separator.
_DECIMAL_NUMBER = re.compile(r"^\+?\d+\.\d+$")


def _absent(value: str | None) -> bool:
    return value is None or value == ""


PHONE_ACCEPTED = (
    f"an international number with its country code, {MIN_PHONE_DIGITS} to {MAX_PHONE_DIGITS} digits, "
    "such as '254711222333', '+254 711-222-333', '00254711222333' or the integer 254711222333"
)


def _ascii_digits(text: str) -> str:
    """Any Unicode decimal digit (fullwidth, Arabic-Indic, ...) as its ASCII digit; other characters kept."""
    return "".join(str(unicodedata.decimal(c)) if not c.isascii() and unicodedata.decimal(c, None) is not None else c
                   for c in text)  # fmt: skip


NAN_PROBLEM = "is NaN (a missing value, as pandas writes an empty cell), not a phone number"
NA_PROBLEM = "is <NA> (pandas' missing value, as a nullable integer column has in a gap), not a phone number"
INFINITE_PROBLEM = "is infinite, not a phone number"
#: Missing and infinite values as text, the way a template renders them ("[254711000921.0, nan]").
_NOT_A_NUMBER_TEXT = {
    "nan": NAN_PROBLEM,
    "<na>": NA_PROBLEM,
    **dict.fromkeys(("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"), INFINITE_PROBLEM),
}


def _refuse_narrow_floats(value: object, field_name: str) -> None:
    """Refuse floats narrower than 64 bits: a float32 reads 254711000921 back as 254711005184, someone else."""
    dtype = getattr(value, "dtype", None)
    if getattr(dtype, "kind", None) == "f" and getattr(dtype, "itemsize", 8) < 8:
        raise LipaChatValidationError(
            field_name,
            value,
            f"holds {dtype} numbers, too narrow to hold a phone number exactly (254711000921 as a float32 is "
            "254711005184); expected integers, 64-bit floats or text",
            shown=f"<{dtype}>",
        )


def _plain_scalar(value: object, field_name: str) -> object:
    """A numpy scalar or 0-d array (``numpy.int64(254711000921)``) as the Python value it holds; else ``value``."""
    item = getattr(value, "item", None)
    if isinstance(value, str) or getattr(value, "ndim", None) != 0 or not callable(item):
        return value
    _refuse_narrow_floats(value, field_name)
    return item()


def _number_as_text(value: object, field_name: str) -> str:
    """A phone number given as a number (int, integral float, Decimal, numpy scalar) as its digits."""
    value = _plain_scalar(value, field_name)
    if isinstance(value, bool):
        raise _phone_refused(field_name, value, f"is a boolean; expected {PHONE_ACCEPTED}")
    if isinstance(value, float | Decimal):
        if value.is_nan() if isinstance(value, Decimal) else math.isnan(value):
            raise _phone_refused(field_name, value, f"{NAN_PROBLEM}; expected {PHONE_ACCEPTED}")
        if value.is_infinite() if isinstance(value, Decimal) else math.isinf(value):
            raise _phone_refused(field_name, value, f"{INFINITE_PROBLEM}; expected {PHONE_ACCEPTED}")
        if value != int(value):
            raise _phone_refused(
                field_name, value, f"is a number with a fraction, not a phone number; expected {PHONE_ACCEPTED}"
            )
        return str(int(value))
    if type(value).__name__ == "NAType":  # pandas.NA, read by name: pandas is not a dependency
        raise _phone_refused(field_name, value, f"{NA_PROBLEM}; expected {PHONE_ACCEPTED}")
    if isinstance(value, numbers.Integral) or hasattr(value, "__index__"):
        try:
            return str(operator.index(value))
        except TypeError:
            pass  # offers __index__ but holds no single integer (an array of several): refused below
    raise _phone_refused(field_name, value, f"expected {PHONE_ACCEPTED}")


def normalize_phone(value: object, field_name: str) -> str:
    """Return a WhatsApp number as ASCII digits only, refusing numbers without a country code.

    Numbers may arrive as text, or as numbers (JSON, pandas, numpy: an integral float such as
    ``254711000921.0`` is that number); Unicode digits are read as ASCII digits, and the
    international ``00`` prefix is dropped like ``+``.
    """
    if value is None:
        raise _phone_refused(field_name, value, f"is empty (None); expected {PHONE_ACCEPTED}")
    text = value if isinstance(value, str) else _number_as_text(value, field_name)
    text = _ascii_digits(text.strip())
    if (missing := _NOT_A_NUMBER_TEXT.get(text.lower())) is not None:
        raise _phone_refused(field_name, value, f"{missing}; expected {PHONE_ACCEPTED}")
    if _DECIMAL_NUMBER.match(text):
        whole, fraction = text.split(".")
        if fraction.strip("0"):
            raise _phone_refused(
                field_name, value, f"is a number with a fraction, not a phone number; expected {PHONE_ACCEPTED}"
            )
        text = whole
    if not text:
        raise _phone_refused(field_name, value, f"is empty; expected {PHONE_ACCEPTED}")
    compact = _PHONE_SEPARATORS.sub("", text)
    digits = compact.removeprefix("+")
    if not (digits.isascii() and digits.isdigit()):
        raise _phone_refused(field_name, value, f"has characters other than digits; expected {PHONE_ACCEPTED}")
    if digits.startswith("00") and not compact.startswith("+"):
        digits = digits[2:]
    if digits.startswith("0"):
        raise _phone_refused(
            field_name, value, f"looks like a local number (leading 0) with no country code; expected {PHONE_ACCEPTED}"
        )
    if not MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS:
        raise _phone_refused(field_name, value, f"has {len(digits)} digits; expected {PHONE_ACCEPTED}")
    return digits


_RECIPIENT_SEPARATORS = re.compile(r"[,;\n\r\[\]'\"]")


def parse_recipients(value: object, field_name: str = "to") -> tuple[list[str], bool]:
    """Normalised, de-duplicated recipients, and whether ``value`` named several (a list).

    Accepts one number, a list of numbers (a list, tuple or set; a numpy array or a pandas Series
    or Index), or one string of numbers separated by commas, semicolons, newlines or whitespace --
    including a list rendered to text by a template, such as ``"['254711000001', '254711000002']"``.
    A piece with spaces is first read as one number (``+254 711 222 333``), else as numbers
    separated by spaces. One invalid recipient refuses the whole value (``read_recipients`` reads
    each on its own instead).

    An empty list (or its text, ``"[]"``) is no recipients, ``([], True)``: what an upstream that
    found no one hands over. ``None`` and empty text are refused: they are more often a mistake.
    """
    found = read_recipients(value, field_name)
    if found.refused:
        raise next(iter(found.refused.values()))
    return found.valid, found.many


@dataclass(frozen=True)
class Recipients:
    """Recipients read one by one: the valid ones, and each refused value with why it was refused.

    ``valid`` holds normalised numbers, de-duplicated, in order; ``refused`` maps each refused
    value, as text, to its error; ``many`` says whether the value named several (a list).
    """

    valid: list[str]
    refused: dict[str, LipaChatValidationError]
    many: bool


_NUMPY_SCALAR_TEXT = re.compile(r"\bnp\.\w+\(([^()]*)\)")


def read_recipients(value: object, field_name: str = "to") -> Recipients:
    """Every recipient in ``value`` checked on its own, so that one bad number does not stop the others.

    Takes what ``parse_recipients`` takes, and the text numpy 2 gives a list of its scalars
    (``"[np.int64(254711000921), np.float64(nan)]"``). A value that names no list of recipients
    at all (``None``, empty text, a mapping, a type that is no number) is refused whole, and so is
    a single number that is invalid: the error is raised.
    """
    if value is None or (isinstance(value, str) and value.strip() == "None"):
        raise LipaChatValidationError(
            field_name,
            value,
            "is None (or its text): no recipient was given, as when an upstream task returned nothing; "
            "expected a phone number or a list of them (an empty list skips the task)",
        )
    if isinstance(value, str):
        value = _NUMPY_SCALAR_TEXT.sub(r"\1", value)
        if (collection := rendered_collection(value)) is not None:
            value = collection
    pieces = _pieces(value, field_name)
    if pieces is None:
        return Recipients([normalize_phone(value, field_name)], {}, many=False)
    if not pieces:
        if not isinstance(value, str):
            return Recipients([], {}, many=True)
        raise LipaChatValidationError(field_name, value, "names no recipient; expected at least one phone number")
    found: list[str] = []
    refused: dict[str, LipaChatValidationError] = {}
    for piece in pieces:
        try:
            found.extend(
                _numbers_in(piece, field_name) if isinstance(piece, str) else [normalize_phone(piece, field_name)]
            )
        except LipaChatValidationError as err:
            refused.setdefault(str(piece), err)
    many = not isinstance(value, str) or len(found) + len(refused) > 1
    if refused and not many:
        raise next(iter(refused.values()))
    return Recipients(list(dict.fromkeys(found)), refused, many)


def _pieces(value: object, field_name: str) -> list[object] | None:
    """The separate values in ``value`` (a list's items, an array's, text's pieces), or None for one number."""
    if isinstance(value, str):
        return [piece.strip() for piece in _RECIPIENT_SEPARATORS.split(value) if piece.strip()]
    items = list(value) if isinstance(value, list | tuple | set | frozenset) else _array_items(value, field_name)
    if items is not None:
        return [item.strip() if isinstance(item, str) else item for item in items]
    if isinstance(value, numbers.Number | Decimal) or hasattr(value, "__index__") or getattr(value, "ndim", 1) == 0:
        return None
    raise _phone_refused(
        field_name,
        value,
        "expected a phone number, a list of them (a numpy array or pandas Series too), or a string of them",
    )


def _array_items(value: object, field_name: str) -> list[object] | None:
    """The items of a numpy array or a pandas Series or Index, as Python values; None for anything else.

    Read by what they offer (``tolist()``, or ``__array__()``) so that neither library is a dependency.
    A 0-d array is one number, not a list.
    """
    if isinstance(value, str | bytes | bytearray | Mapping) or getattr(value, "ndim", 1) == 0:
        return None
    if not callable(getattr(value, "tolist", None)):
        as_array = getattr(value, "__array__", None)
        if not callable(as_array):
            return None
        value = as_array()
    _refuse_narrow_floats(value, field_name)
    items = value.tolist()  # type: ignore[attr-defined]
    return list(items) if isinstance(items, list | tuple) else None


def array_as_list(value: T, field_name: str = "to") -> T | list[object]:
    """A numpy array or pandas Series or Index as a plain list of its values; any other value as it is.

    For a notifier's ``to``, before it is rendered: Airflow before 3.3 tests each field's truth
    there, which an array of several values refuses. The list holds the same values; a NaN in it
    is refused with the others when the callback sends.
    """
    items = _array_items(value, field_name)
    return value if items is None else items


TEMPLATE_MARKERS: tuple[str, ...] = ("{{", "{%", "{#")


def check_literal_recipients(value: object, field_name: str = "to") -> None:
    """Refuse an invalid number in a literal list of numbers when the DAG is parsed, not when it runs.

    A list, tuple or set whose items are all plain numbers or text without a template is what
    every run sends to: no rendering can change it, so a mistake in it is an import error. Text
    (a template may render it), a list holding a template or anything else (an XComArg) and
    arrays read from data are checked when the task runs.
    """
    if not isinstance(value, list | tuple | set | frozenset):
        return
    for item in value:
        if isinstance(item, str) and any(marker in item for marker in TEMPLATE_MARKERS):
            return
        if not isinstance(item, str | int | float | Decimal):
            return
    parse_recipients(value, field_name)


def rendered_collection(text: str) -> list[object] | None:
    """The items of a list, tuple or set rendered to text (``"['a', 'b']"``, ``"('a',)"``, ``"set()"``), else None."""
    text = text.strip()
    if text == "set()":
        return []
    if text[:1] + text[-1:] not in ("[]", "()", "{}"):
        return None
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None  # not a rendered collection: the caller reads the text itself
    return list(parsed) if isinstance(parsed, list | tuple | set) else None


def _numbers_in(piece: str, field_name: str) -> list[str]:
    try:
        return [normalize_phone(piece, field_name)]
    except LipaChatValidationError as whole:
        tokens = piece.split()
        if len(tokens) < 2:
            raise
        try:
            return [normalize_phone(token, field_name) for token in tokens]
        except LipaChatValidationError:
            raise _phone_refused(
                field_name,
                piece,
                f"is neither one number nor numbers separated by spaces ({whole.problem}); "
                "separate recipients with commas or newlines",
            ) from None


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


def mask_phone(number: str) -> str:
    """Hide the middle digits of a phone number for logs: '254711222333' -> '2547******33'.

    Only digits are hidden, so a number as written ('+254 711-222-333') keeps its shape; six digits
    or fewer are hidden entirely.
    """
    total = sum(c.isdigit() for c in number)
    seen = 0
    masked = []
    for c in number:
        if c.isdigit():
            seen += 1
            shown = total > 6 and (seen <= 4 or seen > total - 2)
            masked.append(c if shown else "*")
        else:
            masked.append(c)
    return "".join(masked)


def _phone_refused(field_name: str, value: object, problem: str) -> LipaChatValidationError:
    """A refused phone value, shown masked: a number is personal even when it is wrong."""
    return LipaChatValidationError(field_name, value, problem, shown=mask_phone(repr(value)))


def mask_url(url: str) -> str:
    """A URL for logs and errors: no user info, and the query string (a signature) hidden."""
    parts = urlsplit(str(url))
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "***" if parts.query else "", ""))


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
    """Check and normalise the fields every message has: ``to``, ``from_number`` and ``message_id``."""
    if _absent(message.message_id):
        raise LipaChatValidationError("message_id", message.message_id, "expected a non-empty id")
    object.__setattr__(message, "to", normalize_phone(message.to, "to"))
    object.__setattr__(message, "from_number", normalize_phone(message.from_number, "from_number"))
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
