"""A connection's settings as one typed value, read without Airflow."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.hooks.settings import ConnectionSettings, Overrides


@dataclass
class Conn:
    """Shaped like an Airflow connection, so the rules are checked without one."""

    password: str | None = "key-1"
    host: str | None = "http://127.0.0.1:8765"
    schema: str | None = None
    port: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def extra_dejson(self) -> dict[str, Any]:
        return self.extra


def test_extras_become_typed_settings() -> None:
    conn = Conn(extra={"timeout": "12.5", "max_retries": "2", "rate_limit": 40, "from_number": "+254 110 090 747"})
    settings = ConnectionSettings.read(conn, "lipachat_default")
    assert settings == ConnectionSettings(
        base_url="http://127.0.0.1:8765",
        api_key="key-1",
        timeout=12.5,
        max_retries=2,
        rate_limit=40.0,
        from_number="254110090747",
    )


def test_defaults_apply_when_extras_are_absent_or_empty() -> None:
    settings = ConnectionSettings.read(Conn(host=None, extra={"timeout": "", "rate_limit": ""}), "c")
    assert (settings.base_url, settings.timeout, settings.max_retries, settings.rate_limit) == (
        "https://gateway.lipachat.com",
        30.0,
        3,
        None,
    )


def test_the_callers_timeout_and_retries_win_over_the_extras() -> None:
    conn = Conn(extra={"timeout": 5, "max_retries": 1})
    settings = ConnectionSettings.read(conn, "c", Overrides(timeout=9.0, max_retries=0))
    assert (settings.timeout, settings.max_retries) == (9.0, 0)


@pytest.mark.parametrize(
    ("number", "task", "effective"),
    [(80, 2.0, 2.0), (40, 100.0, 40), (None, 5.0, 5.0), (40, None, 40), (None, None, None)],
)
def test_the_callers_rate_limit_applies_on_top_of_the_numbers_and_the_lower_wins(
    number: float | None, task: float | None, effective: float | None
) -> None:
    settings = ConnectionSettings.read(Conn(extra={"rate_limit": number}), "c", Overrides(rate_limit=task))
    assert (settings.rate_limit, settings.task_rate_limit) == (number, task)
    assert settings.effective_rate_limit == settings.local_rate_limit == effective
    assert settings.shared_rate_limit is None


def test_with_a_store_the_numbers_limit_is_shared_and_each_client_keeps_only_its_own_limit() -> None:
    extra = {"rate_limit": 40, "rate_limit_store_conn_id": " redis_rates "}
    settings = ConnectionSettings.read(Conn(extra=extra), "c", Overrides(rate_limit=10.0))
    assert settings.rate_limit_store_conn_id == "redis_rates"
    assert (settings.shared_rate_limit, settings.local_rate_limit, settings.effective_rate_limit) == (40, 10.0, 10.0)
    alone = ConnectionSettings.read(Conn(extra=extra), "c")
    assert (alone.shared_rate_limit, alone.local_rate_limit) == (40, None)


def test_a_store_without_a_rate_limit_to_share_is_refused_saying_what_to_set() -> None:
    with pytest.raises(LipaChatValidationError) as refused:
        ConnectionSettings.read(Conn(extra={"rate_limit_store_conn_id": "redis_rates"}), "c")
    assert refused.value.field == "rate_limit_store_conn_id"
    assert "has no rate_limit: set rate_limit" in str(refused.value)


def test_the_key_is_kept_out_of_the_settings_repr() -> None:
    assert "key-1" not in repr(ConnectionSettings.read(Conn(), "c"))


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ConnectionSettings.read(Conn(), "c").timeout = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("conn", "field_name"),
    [
        (Conn(password=None), "password"),
        (Conn(extra={"timeout": 0}), "timeout"),
        (Conn(extra={"max_retries": 11}), "max_retries"),
        (Conn(extra={"rate_limit": "fast"}), "rate_limit"),
        (Conn(extra={"from_number": "0711000995"}), "from_number"),
        (Conn(host="http://gateway.example.org"), "host"),
    ],
)
def test_a_bad_value_is_refused_naming_its_field(conn: Conn, field_name: str) -> None:
    with pytest.raises(LipaChatValidationError) as refused:
        ConnectionSettings.read(conn, "c")
    assert refused.value.field == field_name


def test_reading_settings_needs_no_airflow() -> None:
    code = (
        "import sys, airflow_provider_lipachat.hooks.settings; "
        "print(any(m.split('.')[0] == 'airflow' for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"
