"""Text a template renders as itself: what the operators keep as it is instead of compiling a template per item."""

from __future__ import annotations

import jinja2
import pytest

from airflow_provider_lipachat.gateway.rendered import TEMPLATE_MARKERS, all_plain_text


@pytest.mark.parametrize(
    "items",
    [
        ["254711000961", "254711000962"],
        ["+254 711 000 961", "0711-000-962", "a name, with } and % and #"],
        [],
    ],
)
def test_plain_text_is_what_jinja_renders_unchanged(items: list[object]) -> None:
    assert all_plain_text(items, TEMPLATE_MARKERS)
    environment = jinja2.Environment(autoescape=True)  # escaping applies to values only, never to literal text
    assert [environment.from_string(item).render() for item in items if isinstance(item, str)] == items


@pytest.mark.parametrize(
    ("items", "why"),
    [
        (["254711000961", "{{ params.on_call }}"], "an expression"),
        (["{% if true %}254711000961{% endif %}"], "a statement"),
        (["254711000961{# on call #}"], "a comment"),
        (["254711000961\n"], "a trailing line break, which Jinja drops"),
        (["254711000961", 254711000962], "a number: Airflow renders it to itself, but no faster path is needed"),
        (["numbers.sql"], "a template file's name"),
    ],
)
def test_anything_jinja_could_change_is_not_plain(items: list[object], why: str) -> None:
    assert not all_plain_text(items, TEMPLATE_MARKERS, (".sql",)), why


def test_a_custom_environment_s_markers_count() -> None:
    assert not all_plain_text(["<< on_call >>"], ("<<",))
