"""Each send operator builds its message once; each recipient gets an addressed copy; content ids stay as released."""

from __future__ import annotations

import pytest

from airflow_provider_lipachat.hooks.lipachat import LipaChatHook
from airflow_provider_lipachat.operators.lipachat import (
    SendWhatsAppButtonsOperator,
    SendWhatsAppMediaOperator,
    SendWhatsAppTemplateOperator,
    SendWhatsAppTextOperator,
    WhatsAppSendOperator,
)
from airflow_provider_lipachat.utils.message_ids import default_message_id

RECIPIENT = "254711000001"
SIGNED = "https://files.example.com/report.pdf?sig=abc"
SIGNED_HEADER = "https://files.example.com/chart.png?X-Amz-Signature=s"

#: What ``resend_if_changed`` ids were for these rendered fields in the release before messages were values
#: (computed with its ``check_message``): a re-run after upgrading must find the same ids, so nothing is sent twice.
OPERATORS_AND_RELEASED_IDS: list[tuple[WhatsAppSendOperator, str]] = [
    (
        SendWhatsAppMediaOperator(
            task_id="media", to=RECIPIENT, media_url=SIGNED, caption="Report 2024-05-01", preflight=False
        ),
        "c3ecfb4c-9ad0-5a5f-8442-14714f185726",
    ),
    (
        SendWhatsAppMediaOperator(
            task_id="media",
            to=RECIPIENT,
            media_url="https://files.example.com/chart.png",
            fallback_template="daily_report",
            fallback_body_placeholders=["a"],
            preflight=False,
        ),
        "b41c00fe-02eb-5ad2-a1c6-02896736fe88",
    ),
    (
        SendWhatsAppTextOperator(task_id="text", to=RECIPIENT, message="Hello {{ ds }} é"),
        "230431e3-9d82-5ab6-8b22-cf769e44230f",
    ),
    (
        SendWhatsAppTemplateOperator(
            task_id="template",
            to=RECIPIENT,
            template_name="daily_report",
            language_code="en_US",
            body_placeholders=["1", "two"],
            header_media_url=SIGNED_HEADER,
            preflight=False,
        ),
        "2bef5e61-e056-5fde-a0f5-526bccb613af",
    ),
    (
        SendWhatsAppTemplateOperator(
            task_id="template",
            to=RECIPIENT,
            template_name="daily_report",
            body_placeholders="['x', 3]",
            preflight=False,
        ),
        "158c315f-ee9b-533e-922d-42185dc36ce7",
    ),
    (
        SendWhatsAppButtonsOperator(
            task_id="buttons", to=RECIPIENT, message="Approve?", buttons=["Approve", {"id": "no", "title": "Reject"}]
        ),
        "dc8416cc-a683-550e-8159-2b6007bcc8cf",
    ),
]


@pytest.mark.parametrize(("operator", "released"), OPERATORS_AND_RELEASED_IDS, ids=lambda v: getattr(v, "task_id", ""))
def test_content_ids_are_the_ones_the_previous_release_sent_under(
    operator: WhatsAppSendOperator, released: str, lipachat_conn: str
) -> None:
    content = operator.build_message(LipaChatHook(lipachat_conn), RECIPIENT).content
    assert (
        default_message_id("dag", operator.task_id, "run", -1, RECIPIENT, key="2024-05-01", content=content) == released
    )


def test_a_copy_is_addressed_without_checking_again(lipachat_conn: str) -> None:
    operator = SendWhatsAppMediaOperator(task_id="media", to=RECIPIENT, media_url=SIGNED, preflight=False)
    built = operator.build_message(LipaChatHook(lipachat_conn), RECIPIENT).message
    copy = built.addressed("254711000002", "id-2")
    assert (copy.to, copy.message_id, copy.media_url, copy.media_type) == (
        "254711000002",
        "id-2",
        built.media_url,
        "DOCUMENT",
    )
    assert (built.to, built.message_id) != (copy.to, copy.message_id)  # the built value is left as it was
    assert (
        copy.content()
        == built.content()
        == ("media", "https://files.example.com/report.pdf?***", "DOCUMENT", None, None)
    )


def test_each_question_copy_carries_the_token_of_its_own_id(lipachat_conn: str) -> None:
    from airflow_provider_lipachat.utils.message_ids import question_token

    operator = SendWhatsAppButtonsOperator(task_id="ask", to=RECIPIENT, message="Approve?", buttons=["Yes", "No"])
    built = operator.build_message(LipaChatHook(lipachat_conn), RECIPIENT).message
    copy = built.addressed("254711000002", "id-2", question_token("id-2"))
    assert [b["id"] for b in copy.to_payload()["buttons"]] == [
        f"Yes~q{question_token('id-2')}",
        f"No~q{question_token('id-2')}",
    ]
    assert built.question_token is None
