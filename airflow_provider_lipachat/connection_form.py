"""The ``lipachat`` connection form: extra fields and how the standard fields are shown.

Plain data, shared by ``get_provider_info`` (Airflow 3.2+ reads it without importing the hook)
and the hook's legacy form methods (earlier Airflow 3 releases call those).
"""

from __future__ import annotations

from typing import Any

DEFAULT_HOST = "https://gateway.lipachat.com"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 3

CONN_FIELDS: dict[str, dict[str, Any]] = {
    "from_number": {
        "label": "From number",
        "schema": {"type": ["string", "null"]},
        "description": "Default sender: the sandbox number 254110090747 or your own WABA number, with country code.",
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "schema": {"type": ["number", "null"], "default": DEFAULT_TIMEOUT, "exclusiveMinimum": 0},
        "description": "Per-request timeout for the gateway.",
    },
    "max_retries": {
        "label": "Max retries",
        "schema": {"type": ["integer", "null"], "default": DEFAULT_MAX_RETRIES, "minimum": 0},
        "description": "Retries of network errors, timeouts, 429 and 5xx inside one task try.",
    },
    "rate_limit": {
        "label": "Rate limit (messages per second)",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "description": "Messages per second, any number above 0 (0.5 = one every 2 s); empty for no limit.",
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["login", "schema", "extra"],
    "relabeling": {"password": "API Key", "host": "Gateway URL"},
    "placeholders": {
        "host": DEFAULT_HOST,
        "password": "the apiKey from the LipaChat dashboard",
        "from_number": "254110090747",
        "timeout": str(int(DEFAULT_TIMEOUT)),
        "max_retries": str(DEFAULT_MAX_RETRIES),
        "rate_limit": "no limit",
    },
}
