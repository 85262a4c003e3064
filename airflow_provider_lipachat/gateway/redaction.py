"""Personal and secret values as logs and errors show them: phone numbers masked, URLs without credentials."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


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


def mask_url(url: str) -> str:
    """A URL for logs and errors: no user info, and the query string (a signature) hidden."""
    parts = urlsplit(str(url))
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "***" if parts.query else "", ""))
