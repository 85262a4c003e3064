"""The gateway's timestamps (answers, message-list items, inbound messages) read as UTC datetimes.

No I/O and no Airflow: one reader for every place the gateway's clock shows.
"""

from __future__ import annotations

import re

import pendulum

_GATEWAY_TIMESTAMP = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$")


def parse_gateway_timestamp(value: object) -> pendulum.DateTime | None:
    """Read the gateway's timestamp as a UTC datetime, or None when absent or unreadable.

    The documented form is a zone-less ``LocalDateTime`` with up to 9 fractional digits; the
    gateway does not say which zone its clock is in, so UTC is the assumption. A timestamp
    that carries its own offset is converted. An unreadable one never fails a send that succeeded.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    match = _GATEWAY_TIMESTAMP.match(text)
    try:
        if match is not None:
            *fields, fraction = match.groups()
            year, month, day, hour, minute, second = (int(f) for f in fields)
            microsecond = int((fraction or "0").ljust(6, "0")[:6])
            # The constructor, not pendulum.datetime(): the same value, without a zone conversion per answer.
            return pendulum.DateTime(year, month, day, hour, minute, second, microsecond, tzinfo=pendulum.UTC)
        parsed = pendulum.parse(text)
    except ValueError:  # pendulum's ParserError is a ValueError
        return None
    return parsed.in_timezone("UTC") if isinstance(parsed, pendulum.DateTime) else None
