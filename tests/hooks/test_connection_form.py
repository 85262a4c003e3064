"""The connection form is one definition: Airflow 2's widgets, Airflow 3's conn-fields and the hook agree.

Each value below goes through all three: the WTForms widgets the hook returns (what Airflow 2.11
and Airflow 3.0/3.1 show), the ``conn-fields`` JSON schema in the provider info (what Airflow
3.2+ shows), and the hook reading a connection that holds it. They must accept the same values.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.get_provider_info import get_provider_info
from airflow_provider_lipachat.hooks.connection_form import CONN_FIELDS, FIELDS, form_widgets
from airflow_provider_lipachat.hooks.lipachat import LipaChatHook
from airflow_provider_lipachat.limits import MAX_RETRIES_LIMIT
from tests.support import AIRFLOW_V3, AIRFLOW_VERSION, SANDBOX_SENDER

#: Airflow 3.2 reads ``conn-fields`` from the provider info; earlier releases call the hook's widgets.
READS_CONN_FIELDS = AIRFLOW_V3 and tuple(int(part) for part in AIRFLOW_VERSION.split(".")[:2]) >= (3, 2)

#: (extra, what a user types, accepted?)
TYPED = [
    ("timeout", "30", True),
    ("timeout", "0.5", True),
    ("timeout", "", True),
    ("timeout", "0", False),
    ("timeout", "-2", False),
    ("timeout", "soon", False),
    ("max_retries", "0", True),
    ("max_retries", str(MAX_RETRIES_LIMIT), True),
    ("max_retries", "", True),
    ("max_retries", str(MAX_RETRIES_LIMIT + 1), False),
    ("max_retries", "-1", False),
    ("max_retries", "2.5", False),
    ("max_retries", "many", False),
    ("rate_limit", "80", True),
    ("rate_limit", "0.5", True),
    ("rate_limit", "", True),
    ("rate_limit", "0", False),
    ("rate_limit", "-1", False),
    ("rate_limit", "fast", False),
    ("from_number", SANDBOX_SENDER, True),
    ("from_number", "", True),
    ("default_region", "KE", True),
    ("default_region", "ng", True),
    ("default_region", "", True),
    ("default_region", "Kenya", False),
    ("default_region", "K1", False),
    ("rate_limit_store_conn_id", "redis_default", True),
    ("rate_limit_store_conn_id", "", True),
]


class FormData(dict[str, str]):
    """The little of a request's form data WTForms reads."""

    def getlist(self, key: str) -> list[str]:
        return [self[key]] if key in self else []


def widgets_accept(name: str, typed: str) -> bool:
    from wtforms.form import BaseForm

    form = BaseForm(list(LipaChatHook.get_connection_form_widgets().items()))
    form.process(FormData({name: typed}))
    form.validate()
    return name not in form.errors


def json_value(name: str, typed: str) -> Any:
    """What Airflow 3's form stores: nothing when empty, a number in a number field when it reads as one."""
    if typed == "":
        return None
    if CONN_FIELDS[name]["schema"]["type"][0] == "string":
        return typed
    try:
        return json.loads(typed)
    except ValueError:
        return typed


def conn_fields_accept(name: str, typed: str) -> bool:
    import jsonschema

    try:
        jsonschema.validate(
            json_value(name, typed), get_provider_info()["connection-types"][0]["conn-fields"][name]["schema"]
        )
    except jsonschema.ValidationError:
        return False
    return True


#: What another extra must hold for one to make sense: a store shares a rate limit, so needs one.
REQUIRES = {"rate_limit_store_conn_id": {"rate_limit": 40}}


def hook_accepts(name: str, value: Any) -> bool:
    from airflow.models.connection import Connection

    extra = json.dumps({**REQUIRES.get(name, {}), name: value})
    conn = Connection(conn_type="lipachat", host="http://127.0.0.1:9", password="key", extra=extra)
    try:
        LipaChatHook().settings_from(conn)
    except LipaChatValidationError as err:
        assert err.field == name
        return False
    return True


@pytest.mark.parametrize(("name", "typed", "accepted"), TYPED)
def test_widgets_conn_fields_and_hook_accept_the_same_values(name: str, typed: str, accepted: bool) -> None:
    assert widgets_accept(name, typed) is accepted, "Airflow 2 widgets"
    assert conn_fields_accept(name, typed) is accepted, "Airflow 3 conn-fields"
    assert hook_accepts(name, json_value(name, typed)) is accepted, "hook, value as Airflow 3 stores it"
    assert hook_accepts(name, typed) is accepted, "hook, value as Airflow 2 stores it (text)"


def test_the_table_tries_each_field_at_and_past_its_bounds() -> None:
    assert {name for name, _, _ in TYPED} == {field.name for field in FIELDS}
    for field in FIELDS:
        assert any(not ok for name, _, ok in TYPED if name == field.name) or field.kind == "string"


def test_the_bounds_are_the_ones_the_hook_enforces() -> None:
    assert CONN_FIELDS["max_retries"]["schema"] == {
        "type": ["integer", "null"],
        "default": 3,
        "minimum": 0,
        "maximum": MAX_RETRIES_LIMIT,
    }
    assert CONN_FIELDS["timeout"]["schema"] == {"type": ["number", "null"], "default": 30.0, "exclusiveMinimum": 0}
    assert CONN_FIELDS["rate_limit"]["schema"] == {"type": ["number", "null"], "exclusiveMinimum": 0}
    assert CONN_FIELDS["from_number"]["schema"] == {"type": ["string", "null"]}


def test_widgets_carry_the_labels_descriptions_and_defaults_of_conn_fields() -> None:
    for name, field in form_widgets().items():
        schema = CONN_FIELDS[name]["schema"]
        assert field.args[0] == CONN_FIELDS[name]["label"]
        assert field.kwargs["description"] == CONN_FIELDS[name]["description"]
        default = field.kwargs["default"]
        assert (None if default is None else float(default)) == schema.get("default"), name


def test_every_widget_is_a_field_class_airflow_2_accepts() -> None:
    """Airflow 2.11 drops a hook from the form when any widget is of another class (FloatField, say)."""
    from wtforms import BooleanField, IntegerField, PasswordField, StringField

    accepted = {BooleanField, IntegerField, PasswordField, StringField}
    kinds = {name: field.field_class for name, field in form_widgets().items()}
    assert set(kinds.values()) <= accepted
    assert kinds["max_retries"] is IntegerField and kinds["timeout"] is StringField


def test_the_installed_airflow_builds_the_form_from_the_provider() -> None:
    """The providers manager of this Airflow reads conn-fields (3.2+) or imports the hook's widgets."""
    from airflow.providers_manager import ProvidersManager

    widgets = ProvidersManager().connection_form_widgets
    for field in FIELDS:
        info = widgets[f"extra__lipachat__{field.name}"]
        assert info.package_name == "airflow-provider-lipachat"
        if READS_CONN_FIELDS:
            assert info.field["schema"]["type"] == field.json_schema()["type"]
            assert info.field["schema"]["title"] == field.label
        else:
            assert info.field.field_class is form_widgets()[field.name].field_class
            assert info.field.args[0] == field.label
