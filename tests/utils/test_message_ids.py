"""Message ids: the one home of the rules that make a send exactly once, and of ``resend_if_changed``'s content part."""

from __future__ import annotations

import uuid

from airflow_provider_lipachat.utils.message_ids import MESSAGE_ID_NAMESPACE, default_message_id

TASK = ("report_dag", "send", "manual__2024-05-01T00:00:00+00:00", -1, "254711000951")
MEDIA = ("media", "s3://aws_default@reports/2024-05-01.pdf", "DOCUMENT", "Sales", "2024-05-01.pdf")


def test_without_content_the_id_is_what_it_always_was() -> None:
    # Ids already sent must not change on upgrade: a retry would send again.
    dag_id, task_id, run_id, map_index, recipient = TASK
    expected = uuid.uuid5(MESSAGE_ID_NAMESPACE, "\x1f".join((dag_id, task_id, run_id, str(map_index), recipient)))
    assert default_message_id(*TASK) == str(expected)
    assert default_message_id(*TASK, content=None) == default_message_id(*TASK)


def test_the_same_content_keeps_the_id_and_changed_content_makes_a_new_one() -> None:
    same = default_message_id(*TASK, key="2024-05-01", content=MEDIA)
    assert default_message_id(*TASK, key="2024-05-01", content=list(MEDIA)) == same
    assert default_message_id(*TASK, key="2024-05-01", content=(*MEDIA[:3], "Sales, corrected", MEDIA[4])) != same
    assert same != default_message_id(*TASK, key="2024-05-01")


def test_content_is_read_field_by_field_not_as_joined_text() -> None:
    # ("a b", "c") and ("a", "b c") are different messages, whatever a naive join would say.
    assert default_message_id(*TASK, content=("text", "a b", "c")) != default_message_id(
        *TASK, content=("text", "a", "b c")
    )
    assert default_message_id(*TASK, content=("media", None)) != default_message_id(*TASK, content=("media", "None"))
