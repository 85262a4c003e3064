"""Bounds and number checks for the settings a user gives (operator arguments, connection extras).

One home for each bound, shared by the operators, the hook and the connection form; no Airflow here.
"""

from __future__ import annotations

import datetime
import math

from airflow_provider_lipachat.exceptions import LipaChatValidationError

#: The most sends one fan-out keeps in flight, whatever the latency: enough for 1,000/s at up to 1 s (1,000 at the
#: gateway, the rest waiting for their slots; only those at the gateway hold a connection).
MAX_IN_FLIGHT = 2000
#: Sends in flight when neither the task nor the connection sets a rate to derive them from.
UNPACED_IN_FLIGHT = 64
#: Seconds between a fan-out's progress lines and checkpoints, unless the operator says otherwise.
PROGRESS_INTERVAL = 10.0
#: Client retries of one request: a connection's ``max_retries`` extra, or an operator's argument.
MIN_RETRIES = 0
DEFAULT_MAX_RETRIES = 3
#: Seconds one request may take, unless the connection's ``timeout`` extra says otherwise.
DEFAULT_TIMEOUT = 30.0
MAX_RETRIES_LIMIT = 10
#: How long a signed media link stays valid unless the operator says otherwise: WhatsApp may fetch late.
DEFAULT_MEDIA_URL_EXPIRY = 24 * 60 * 60
#: The longest a SigV4 (S3) or V4 (GCS) signed URL can live.
MAX_MEDIA_URL_EXPIRY = 7 * 24 * 60 * 60
EXPIRY_ACCEPTED = f"expected seconds (or a timedelta) above 0; links are capped at {MAX_MEDIA_URL_EXPIRY} s (7 days)"
DAY = 24 * 60 * 60
RATE_LIMIT_ACCEPTED = "expected messages per second: a number greater than 0, such as 80 or 0.5"
TIMEOUT_ACCEPTED = "expected a number of seconds greater than 0, such as 30"


def positive_number(value: object, field: str, accepted: str) -> float:
    """``value`` as a finite number greater than 0 (``20``, ``20.0``, ``"0.5"``), else a validation error."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise LipaChatValidationError(field, value, accepted)
    try:
        number = float(value)
    except ValueError:
        raise LipaChatValidationError(field, value, accepted) from None
    if not (math.isfinite(number) and number > 0):
        raise LipaChatValidationError(field, value, accepted)
    return number


def whole_number(value: object, field: str, lowest: int, highest: int | None = None) -> int:
    """``value`` as a whole number within bounds (``3``, ``3.0``, ``"3"``), else a validation error."""
    accepted = f"from {lowest} to {highest}" if highest is not None else f"of at least {lowest}"
    problem = f"expected a whole number {accepted}"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise LipaChatValidationError(field, value, problem)
    try:
        number = float(value)
    except ValueError:
        raise LipaChatValidationError(field, value, problem) from None
    if not number.is_integer() or number < lowest or (highest is not None and number > highest):
        raise LipaChatValidationError(field, value, problem)
    return int(number)


def parse_rate_limit(value: object, field: str = "rate_limit") -> float | None:
    """A rate limit in messages per second, or None for no limit (``None`` or an empty string)."""
    if value is None or value == "":
        return None
    return positive_number(value, field, RATE_LIMIT_ACCEPTED)


def parse_timeout(value: object, field: str = "timeout") -> float:
    """A request timeout in seconds: any number greater than 0."""
    return positive_number(value, field, TIMEOUT_ACCEPTED)


def parse_max_retries(value: object, field: str = "max_retries") -> int:
    """How often the client retries one request: a whole number from MIN_RETRIES to MAX_RETRIES_LIMIT."""
    return whole_number(value, field, MIN_RETRIES, MAX_RETRIES_LIMIT)


FLAG_ACCEPTED = "expected True or False (or the text 'true' / 'false', as a template renders them)"


def parse_flag(value: object, field: str) -> bool:
    """A yes/no setting given as a bool or as the text a template renders (``"True"``, ``"false"``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise LipaChatValidationError(field, value, FLAG_ACCEPTED)


def parse_expiry(value: object, field: str = "media_url_expiry") -> int:
    """Seconds a signed media link should live: a number or timedelta above 0 (``capped_expiry`` caps it)."""
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    return int(positive_number(value, field, EXPIRY_ACCEPTED))


def capped_expiry(seconds: int, field: str = "media_url_expiry") -> tuple[int, str | None]:
    """``seconds`` capped at MAX_MEDIA_URL_EXPIRY, and the warning to log when it was over (else None).

    A store cannot sign a link for longer, so more is signed for the longest it can: a warning,
    not an error, since the task can still send; the log says the link expires sooner than asked.
    """
    if seconds <= MAX_MEDIA_URL_EXPIRY:
        return seconds, None
    return MAX_MEDIA_URL_EXPIRY, (
        f"{field} is {seconds} s ({seconds / DAY:.3g} days), over the {MAX_MEDIA_URL_EXPIRY // DAY}-day limit "
        f"of signed links (S3 SigV4, GCS V4); the link is signed for {MAX_MEDIA_URL_EXPIRY} s, "
        "so it expires sooner than asked"
    )
