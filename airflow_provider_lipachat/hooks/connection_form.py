"""The ``lipachat`` connection form, defined once: its extra fields and how the standard fields are shown.

Airflow 3.2+ reads ``CONN_FIELDS`` from ``get_provider_info`` without importing the hook; Airflow
2.11 and earlier Airflow 3 releases call the hook's form methods, which build ``form_widgets()``
from the same ``FIELDS``, so types, bounds and defaults cannot drift between the two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.gateway.recipients import parse_default_region
from airflow_provider_lipachat.limits import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    MAX_RETRIES_LIMIT,
    MIN_RETRIES,
    parse_max_retries,
    parse_rate_limit,
    parse_timeout,
)

DEFAULT_HOST = "https://gateway.lipachat.com"


@dataclass(frozen=True)
class ConnField:
    """One extra of the connection: its label, JSON type, bounds, and the check the hook applies to it."""

    name: str
    label: str
    description: str
    kind: Literal["string", "integer", "number"]
    placeholder: str
    default: float | int | None = None
    minimum: int | None = None
    maximum: int | None = None
    #: The value must be greater than this (a bound JSON Schema calls ``exclusiveMinimum``).
    above: float | None = None
    #: A regular expression a text value must match (JSON Schema's ``pattern``).
    pattern: str | None = None
    #: The hook's own check of a value read from the connection; raises ``LipaChatValidationError``.
    check: Callable[[object], object] | None = None

    def json_schema(self) -> dict[str, Any]:
        """The field as Airflow 3's ``conn-fields`` schema: a nullable type, its default and bounds."""
        schema: dict[str, Any] = {"type": [self.kind, "null"]}
        bounds = {"default": self.default, "minimum": self.minimum, "maximum": self.maximum}
        schema.update({key: value for key, value in bounds.items() if value is not None})
        if self.above is not None:
            schema["exclusiveMinimum"] = self.above
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        return schema


FIELDS: tuple[ConnField, ...] = (
    ConnField(
        name="from_number",
        label="From number",
        description="Default sender: the sandbox number 254110090747 or your own WABA number, with country code.",
        kind="string",
        placeholder="254110090747",
    ),
    ConnField(
        name="default_region",
        label="Default region",
        description=(
            "Country national numbers are read in (0711 000 921 with KE is +254 711 000 921): a two-letter "
            "ISO 3166 code. Empty: a number without its country code is refused."
        ),
        kind="string",
        placeholder="KE",
        pattern="^[A-Za-z]{2}$",
        check=parse_default_region,
    ),
    ConnField(
        name="timeout",
        label="Timeout (seconds)",
        description="Per-request timeout for the gateway, in seconds: a number greater than 0.",
        kind="number",
        placeholder=str(int(DEFAULT_TIMEOUT)),
        default=DEFAULT_TIMEOUT,
        above=0,
        check=parse_timeout,
    ),
    ConnField(
        name="max_retries",
        label="Max retries",
        description=(
            f"Retries of network errors, timeouts, 429 and 5xx inside one task try: "
            f"{MIN_RETRIES} to {MAX_RETRIES_LIMIT}."
        ),
        kind="integer",
        placeholder=str(DEFAULT_MAX_RETRIES),
        default=DEFAULT_MAX_RETRIES,
        minimum=MIN_RETRIES,
        maximum=MAX_RETRIES_LIMIT,
        check=parse_max_retries,
    ),
    ConnField(
        name="rate_limit",
        label="Rate limit (messages per second)",
        description=(
            "The sender number's limit in messages per second, any number above 0 (0.5 = one every 2 s); "
            "empty for no limit. Each task keeps to it alone unless a shared store is set below."
        ),
        kind="number",
        placeholder="no limit",
        above=0,
        check=parse_rate_limit,
    ),
    ConnField(
        name="rate_limit_store_conn_id",
        label="Shared rate limit store",
        description=(
            "Id of a Redis connection every worker reaches: the rate limit is then shared by every task "
            "sending from this number. Empty: each task paces itself."
        ),
        kind="string",
        placeholder="redis_default",
    ),
)

CONN_FIELDS: dict[str, dict[str, Any]] = {
    field.name: {"label": field.label, "schema": field.json_schema(), "description": field.description}
    for field in FIELDS
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["login", "schema", "extra"],
    "relabeling": {"password": "API Key", "host": "Gateway URL"},
    "placeholders": {
        "host": DEFAULT_HOST,
        "password": "the apiKey from the LipaChat dashboard",
        **{field.name: field.placeholder for field in FIELDS},
    },
}


def form_widgets() -> dict[str, Any]:
    """The extra fields as WTForms fields, for the hook's ``get_connection_form_widgets``.

    Airflow 2.11 accepts only String, Integer, Password and Boolean fields (any other class drops
    the hook from the form), so a number with a fraction is a StringField checked by the hook's rule.
    """
    from wtforms import IntegerField, StringField
    from wtforms.validators import NumberRange, Optional, ValidationError

    try:
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    except ImportError:  # Airflow 3 without the FAB provider: the UI reads CONN_FIELDS instead
        text_widget = None
    else:
        text_widget = BS3TextFieldWidget()

    def checked_by(check: Callable[[object], object]) -> Callable[[Any, Any], None]:
        def validate(form: Any, field: Any) -> None:
            try:
                check(field.data)
            except LipaChatValidationError as err:
                raise ValidationError(err.problem) from None

        return validate

    widgets: dict[str, Any] = {}
    for field in FIELDS:
        common: dict[str, Any] = {"description": field.description, "widget": text_widget}
        if field.kind == "integer":
            bounds = NumberRange(min=field.minimum, max=field.maximum)
            widgets[field.name] = IntegerField(
                field.label, validators=[Optional(), bounds], default=field.default, **common
            )
            continue
        validators: list[Any] = [Optional()]
        if field.check is not None:
            validators.append(checked_by(field.check))
        default = None if field.default is None else f"{field.default:g}"
        widgets[field.name] = StringField(field.label, validators=validators, default=default, **common)
    return widgets
