"""What a phone number is: recipients read from every shape a DAG hands over, each number normalised.

No I/O and no Airflow here, so importing this module is cheap and every rule is testable alone.
"""

from __future__ import annotations

import functools
import math
import numbers
import operator
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.gateway.redaction import mask_phone
from airflow_provider_lipachat.gateway.rendered import TEMPLATE_MARKERS, rendered_collection

T = TypeVar("T")

_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
# One '.' followed by digits at the end is how a float renders ("254711000921.0"), not a separator.
_DECIMAL_NUMBER = re.compile(r"^\+?\d+\.\d+$")

PHONE_ACCEPTED = (
    "an international number with its country code, such as '254711222333', '+254 711-222-333', "
    "'00254711222333' or the integer 254711222333"
)
#: How a national number is made readable: the connection's extra, never a guess.
NATIONAL_HINT = (
    "to read national numbers, set the connection's default_region extra to their country's ISO code (such as 'KE')"
)
#: How a number the numbering plan does not know yet is sent anyway.
PLAN_SWITCH_HINT = "if the number is real and new, pass check_numbering_plan=False to the task or notifier"


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


def read_phone(value: object, field_name: str) -> str:
    """A phone number as it was written, reduced to its ASCII digits; no numbering plan is consulted.

    Numbers may arrive as text, or as numbers (JSON, pandas, numpy: an integral float such as
    ``254711000921.0`` is that number); Unicode digits are read as ASCII digits, and the
    international ``00`` prefix is dropped like ``+``. The digits of an international number
    start with its country code; a national number keeps its leading 0 (``0711000921``).
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
    if compact.startswith("+") and digits.startswith("0"):
        raise _phone_refused(
            field_name, value, f"has no country code after '+' (none starts with 0); expected {PHONE_ACCEPTED}"
        )
    return digits[2:] if digits.startswith("00") else digits


def international_digits(value: object, field_name: str) -> str:
    """A number with its country code as digits only (``read_phone``, a national number refused); no plan."""
    digits = read_phone(value, field_name)
    if digits.startswith("0"):
        raise _phone_refused(field_name, value, _national_problem())
    return digits


def _national_problem() -> str:
    return (
        f"looks like a national number (leading 0) with no country code; expected {PHONE_ACCEPTED}, or, "
        + NATIONAL_HINT
    )


@dataclass(frozen=True)
class NumberingPlan:
    """How recipients are checked: against each country's numbering plan (``check``), national numbers read
    in ``default_region`` (an ISO 3166 code, such as ``"KE"``; None: a national number is refused)."""

    default_region: str | None = None
    check: bool = True

    def normalise(self, value: object, field_name: str) -> str:
        """The number's international digits (no '+'), or ``LipaChatValidationError`` naming what is wrong."""
        digits, problem = _plan_verdict(read_phone(value, field_name), self.default_region, self.check)
        if problem is not None:
            raise _phone_refused(field_name, value, problem)
        return digits


#: Plan verdicts kept per distinct number: a list names the same people run after run.
PLAN_CACHE_SIZE = 1 << 17


@functools.lru_cache(maxsize=PLAN_CACHE_SIZE)
def _plan_verdict(digits: str, region: str | None, check: bool) -> tuple[str, str | None]:
    """``(international digits, None)`` for a number the plan accepts, else ``("", why not)``.

    ``phonenumbers`` is imported here, when the first number is checked, never when a DAG is parsed.
    """
    import phonenumbers

    national = digits.startswith("0")
    if national and region is None:
        return "", _national_problem()
    try:
        number = phonenumbers.parse(digits if national else "+" + digits, region)
    except phonenumbers.NumberParseException as err:
        if err.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            return "", f"starts with no country code that exists; expected {PHONE_ACCEPTED}"
        size = "long" if err.error_type == phonenumbers.NumberParseException.TOO_LONG else "short"
        return "", f"has {len(digits)} digits, too {size} for a phone number; expected {PHONE_ACCEPTED}"
    if check and not phonenumbers.is_valid_number(number):
        return "", _invalid_problem(number, region if national else None)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:], None


def _invalid_problem(number: Any, region: str | None) -> str:
    """Why the plan refuses ``number``: its country, what that country's numbers look like, and the recourse."""
    import phonenumbers
    from phonenumbers import geocoder

    code = number.country_code
    home = region or phonenumbers.region_code_for_country_code(code)
    example = phonenumbers.example_number_for_type(home, phonenumbers.PhoneNumberType.MOBILE)
    if home == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        name = f"the worldwide +{code} range"
        example = phonenumbers.example_number_for_non_geo_entity(code)
    else:
        name = geocoder.country_name_for_number(example, "en") if example is not None else ""
        name = name or home
    read = f" (read with default_region {region} as {mask_phone(f'+{code}{number.national_number}')})" if region else ""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(code, home)
    shape = ""
    if metadata is not None:
        shape = f"; its numbers have {_lengths(metadata.general_desc)} digits after +{code}"
        if metadata.mobile is not None and metadata.mobile.possible_length:
            shape += f" (mobiles {_lengths(metadata.mobile)}"
            shape += (
                ")"
                if example is None
                else ", such as "
                + phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
                + ")"
            )
    return (
        f"cannot exist in {name} (+{code}){read}: it has {len(str(number.national_number))} digits after "
        f"+{code} and is in no range of the country's numbering plan{shape}. Numbering plans change: "
        f"{PLAN_SWITCH_HINT}, or upgrade phonenumbers (installed: {phonenumbers.__version__})"
    )


def _lengths(description: Any) -> str:
    """A numbering plan's possible lengths as words: '9', or '7 to 10'."""
    lengths = sorted(set(description.possible_length or ()))
    return f"{lengths[0]} to {lengths[-1]}" if len(lengths) > 1 else "".join(map(str, lengths)) or "some"


DEFAULT_REGION_ACCEPTED = (
    "expected a two-letter ISO 3166 country code with a numbering plan, such as 'KE', 'NG' or 'US'"
)


def parse_default_region(value: object, field_name: str = "default_region") -> str | None:
    """The region national numbers are read in, as an upper-case ISO 3166 alpha-2 code; None when absent."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or len(value.strip()) != 2 or not value.strip().isalpha():
        raise LipaChatValidationError(field_name, value, DEFAULT_REGION_ACCEPTED)
    import phonenumbers

    region = value.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise LipaChatValidationError(
            field_name, value, f"is no country phonenumbers {phonenumbers.__version__} knows; {DEFAULT_REGION_ACCEPTED}"
        )
    return region


def normalize_phone(value: object, field_name: str, plan: NumberingPlan = NumberingPlan()) -> str:
    """A WhatsApp number as ASCII digits only, checked against its country's numbering plan (``plan``)."""
    return plan.normalise(value, field_name)


_RECIPIENT_SEPARATORS = re.compile(r"[,;\n\r\[\]'\"]")


def parse_recipients(
    value: object, field_name: str = "to", plan: NumberingPlan = NumberingPlan()
) -> tuple[list[str], bool]:
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
    found = read_recipients(value, field_name, plan)
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


def read_recipients(value: object, field_name: str = "to", plan: NumberingPlan = NumberingPlan()) -> Recipients:
    """Every recipient in ``value`` checked on its own, so that one bad number does not stop the others.

    Takes what ``parse_recipients`` takes, and the text numpy 2 gives a list of its scalars
    (``"[np.int64(254711000921), np.float64(nan)]"``). A value that names no list of recipients
    at all (``None``, empty text, a mapping, a type that is no number) is refused whole, and so is
    a single number that is invalid: the error is raised. Each number is checked against ``plan``.
    """
    return _read(value, field_name, plan.normalise)


def _read(value: object, field_name: str, normalise: Callable[[object, str], str]) -> Recipients:
    """``read_recipients`` with each number read by ``normalise``."""
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
        return Recipients([normalise(value, field_name)], {}, many=False)
    if not pieces:
        if not isinstance(value, str):
            return Recipients([], {}, many=True)
        raise LipaChatValidationError(field_name, value, "names no recipient; expected at least one phone number")
    found: list[str] = []
    refused: dict[str, LipaChatValidationError] = {}
    for piece in pieces:
        try:
            found.extend(
                _numbers_in(piece, field_name, normalise) if isinstance(piece, str) else [normalise(piece, field_name)]
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


def check_literal_recipients(value: object, field_name: str = "to") -> None:
    """Refuse an invalid number in a literal list of numbers when the DAG is parsed, not when it runs.

    A list, tuple or set whose items are all plain numbers or text without a template is what
    every run sends to: no rendering can change it, so a value that is no phone number at all
    (letters, NaN, a fraction) is an import error. Text (a template may render it), a list holding
    a template or anything else (an XComArg) and arrays read from data are checked when the task
    runs, and so is every number against its country's numbering plan: the plan loads then, never
    while a DAG is parsed, and a national number needs the connection's ``default_region``.
    """
    if not isinstance(value, list | tuple | set | frozenset):
        return
    for item in value:
        if isinstance(item, str) and any(marker in item for marker in TEMPLATE_MARKERS):
            return
        if not isinstance(item, str | int | float | Decimal):
            return
    found = _read(value, field_name, read_phone)
    if found.refused:
        raise next(iter(found.refused.values()))


def _numbers_in(piece: str, field_name: str, normalise: Callable[[object, str], str]) -> list[str]:
    try:
        return [normalise(piece, field_name)]
    except LipaChatValidationError as whole:
        tokens = piece.split()
        if len(tokens) < 2:
            raise
        try:
            return [normalise(token, field_name) for token in tokens]
        except LipaChatValidationError:
            if whole.problem == _national_problem():
                raise whole from None  # one national number written in groups ("0711 000 921"), not several
            raise _phone_refused(
                field_name,
                piece,
                f"is neither one number nor numbers separated by spaces ({whole.problem}); "
                "separate recipients with commas or newlines",
            ) from None


def _phone_refused(field_name: str, value: object, problem: str) -> LipaChatValidationError:
    """A refused phone value, shown masked: a number is personal even when it is wrong."""
    return LipaChatValidationError(field_name, value, problem, shown=mask_phone(repr(value)))
