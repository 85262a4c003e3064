"""Message values: validation and payloads, placeholders."""

from __future__ import annotations

import pytest

from airflow_provider_lipachat.exceptions import LipaChatValidationError
from airflow_provider_lipachat.gateway.messages import (
    MediaMessage,
    TemplateMessage,
    TextMessage,
    infer_media_type,
    parse_placeholders,
)

SENDER = "254110090747"


def message(**overrides: object) -> MediaMessage:
    fields = {"to": "254711222333", "media_url": "https://files.example.com/report.pdf", "from_number": SENDER}
    fields.update(overrides)
    return MediaMessage(**fields)  # type: ignore[arg-type]


class TestMediaType:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("https://x.example/a.JPG", "IMAGE"),
            ("https://x.example/a.jpeg?sig=1", "IMAGE"),
            ("https://x.example/a.png#frag", "IMAGE"),
            ("https://x.example/clip.mp4", "VIDEO"),
            ("https://x.example/clip.3gp", "VIDEO"),
            ("https://x.example/voice.opus", "AUDIO"),
            ("https://x.example/voice.m4a", "AUDIO"),
            ("https://x.example/q3.xlsx", "DOCUMENT"),
            ("https://x.example/data.csv", "DOCUMENT"),
            ("https://x.example/s.webp", "STICKER"),
            ("https://x.example/report", None),
            ("https://x.example/v1.2/report", None),
            ("https://x.example/file.exe", None),
        ],
    )
    def test_inferred_from_the_url_path(self, url: str, expected: str | None) -> None:
        assert infer_media_type(url) == expected

    def test_explicit_type_is_case_insensitive(self) -> None:
        assert message(media_type="image", media_url="https://x.example/chart").media_type == "IMAGE"

    def test_unknown_type_lists_the_accepted_ones(self) -> None:
        with pytest.raises(LipaChatValidationError, match=r"media_type='GIF'.*IMAGE, VIDEO, AUDIO, DOCUMENT, STICKER"):
            message(media_type="GIF")

    def test_uninferable_type_asks_for_media_type(self) -> None:
        with pytest.raises(LipaChatValidationError, match=r"media_type=None.*cannot be inferred.*set media_type"):
            message(media_url="https://x.example/download?id=7")


class TestMediaUrl:
    @pytest.mark.parametrize(
        ("url", "problem"),
        [
            ("http://x.example/a.pdf", "not https"),
            ("ftp://x.example/a.pdf", "not https"),
            ("x.example/a.pdf", "not https"),
            ("https:///a.pdf", "no host"),
            ("", "absolute https"),
        ],
    )
    def test_only_absolute_https_urls(self, url: str, problem: str) -> None:
        with pytest.raises(LipaChatValidationError, match=problem) as caught:
            message(media_url=url)
        assert caught.value.field == "media_url"


class TestCaptionAndFilename:
    def test_caption_of_1024_characters_is_accepted(self) -> None:
        assert len(message(caption="x" * 1024).caption or "") == 1024

    def test_caption_over_1024_characters_is_refused(self) -> None:
        with pytest.raises(LipaChatValidationError, match="1025 characters; at most 1024"):
            message(caption="x" * 1025)

    @pytest.mark.parametrize("url", ["https://x.example/a.mp3", "https://x.example/s.webp"])
    def test_caption_refused_on_audio_and_stickers(self, url: str) -> None:
        with pytest.raises(LipaChatValidationError, match="captions go only on IMAGE, VIDEO or DOCUMENT"):
            message(media_url=url, caption="hello")

    def test_filename_only_on_documents(self) -> None:
        with pytest.raises(LipaChatValidationError, match="filename='a.png'.*only on a DOCUMENT"):
            message(media_url="https://x.example/a.png", filename="a.png")

    def test_empty_strings_count_as_absent(self) -> None:
        sticker = message(media_url="https://x.example/s.webp", caption="", filename="", media_type="")
        assert (sticker.media_type, sticker.caption, sticker.filename) == ("STICKER", None, None)


class TestPayload:
    def test_payload_has_the_gateway_field_names_and_digits_only_numbers(self) -> None:
        msg = message(
            to="+254 711-222-333", from_number="+254110090747", caption="Q3", filename="q3.pdf", message_id="m-1"
        )
        assert msg.to_payload() == {
            "messageId": "m-1",
            "mediaType": "DOCUMENT",
            "mediaUrl": "https://files.example.com/report.pdf",
            "from": "254110090747",
            "to": "254711222333",
            "caption": "Q3",
            "filename": "q3.pdf",
        }

    def test_absent_optional_fields_are_left_out(self) -> None:
        payload = message(media_url="https://x.example/a.png").to_payload()
        assert "caption" not in payload and "filename" not in payload

    def test_message_id_is_fixed_at_construction(self) -> None:
        msg = message()
        assert msg.to_payload()["messageId"] == msg.to_payload()["messageId"] == msg.message_id
        assert message().message_id != msg.message_id


class TestTextMessage:
    def test_payload(self) -> None:
        text = TextMessage(to="+254 711 222 333", message="Load failed", from_number=SENDER, message_id="t-1")
        assert text.to_payload() == {"messageId": "t-1", "message": "Load failed", "from": SENDER, "to": "254711222333"}

    def test_4096_characters_is_the_limit(self) -> None:
        assert TextMessage(to="254711222333", message="x" * 4096, from_number=SENDER)
        with pytest.raises(LipaChatValidationError, match="is 4097 characters; at most 4096"):
            TextMessage(to="254711222333", message="x" * 4097, from_number=SENDER)

    @pytest.mark.parametrize("message", ["", "   ", None])
    def test_empty_text_is_refused(self, message: object) -> None:
        with pytest.raises(LipaChatValidationError, match="message=.*expected non-empty text"):
            TextMessage(to="254711222333", message=message, from_number=SENDER)  # type: ignore[arg-type]


class TestTemplateMessage:
    def test_payload_in_the_shape_real_clients_send(self) -> None:
        template = TemplateMessage(
            to="254711222333",
            template_name="daily_report",
            from_number=SENDER,
            language_code="en_US",
            header_media_url="https://x.example/report.pdf",
            body_placeholders=("Alice", 42),  # type: ignore[arg-type]
            message_id="tp-1",
        )
        assert template.to_payload() == {
            "messageId": "tp-1",
            "from": SENDER,
            "to": "254711222333",
            "template": {
                "name": "daily_report",
                "languageCode": "en_US",
                "components": {
                    "header": {"type": "DOCUMENT", "mediaUrl": "https://x.example/report.pdf"},
                    "body": {"placeholders": ["Alice", "42"]},
                },
            },
        }

    def test_no_header_without_a_header_url(self) -> None:
        payload = TemplateMessage(to="254711222333", template_name="hello", from_number=SENDER).to_payload()
        assert payload["template"]["components"] == {"body": {"placeholders": []}}

    @pytest.mark.parametrize(
        ("fields", "complaint"),
        [
            ({"template_name": "Daily Report"}, "template_name='Daily Report': expected an approved template's name"),
            ({"language_code": "english"}, "language_code='english'"),
            ({"header_media_url": "http://x.example/a.png"}, "media_url='http://x.example/a.png': is not https"),
            ({"header_media_url": "https://x.example/a.mp3"}, "header_media_type='AUDIO': cannot be a template header"),
            ({"header_media_type": "IMAGE"}, "was given without header_media_url"),
            ({"body_placeholders": {"name": "Alice"}}, "body_placeholders=<a dict>: expected the values"),
            ({"body_placeholders": ["Alice", None]}, "=<2 values>: value 2 ({{2}}) is a NoneType, not a text"),
        ],
    )
    def test_invalid_fields_are_named(self, fields: dict[str, object], complaint: str) -> None:
        with pytest.raises(LipaChatValidationError) as caught:
            TemplateMessage(**{"to": "254711222333", "template_name": "hello", "from_number": SENDER, **fields})  # type: ignore[arg-type]
        assert complaint in str(caught.value)


class TestValuesAsDagsHandThemOver:
    """Numbers and lists the way upstream tasks, pandas, JSON and Jinja produce them."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (["Alice", 42], ("Alice", "42")),
            (("Alice",), ("Alice",)),
            ("['Alice', 'Bob']", ("Alice", "Bob")),
            ("('Alice', 'Bob')", ("Alice", "Bob")),
            ("2024-01-15", ("2024-01-15",)),  # "{{ ds }}": one placeholder, not ten characters
            ("[urgent] report", ("[urgent] report",)),
            ("[not, a literal]", ("[not, a literal]",)),
            ("", ()),
            (None, ()),
        ],
    )
    def test_placeholders_in_every_shape(self, value: object, expected: tuple[str, ...]) -> None:
        assert parse_placeholders(value) == expected

    @pytest.mark.parametrize(
        ("url", "sent"),
        [
            ("https://cdn.example.org/weekly report.pdf", "https://cdn.example.org/weekly%20report.pdf"),
            (
                "https://cdn.example.org/r%C3%A9sum%C3%A9.pdf?a=1&b=2",
                "https://cdn.example.org/r%C3%A9sum%C3%A9.pdf?a=1&b=2",
            ),
            (
                "https://b\u00fccher.example/r\u00e9 sum\u00e9.pdf?q=a b",
                "https://xn--bcher-kva.example/r%C3%A9%20sum%C3%A9.pdf?q=a%20b",
            ),
            ("https://x.example/a.pdf?sig=abc%2Fdef&x=100%", "https://x.example/a.pdf?sig=abc%2Fdef&x=100%25"),
        ],
    )
    def test_media_urls_are_encoded_as_browsers_encode_them(self, url: str, sent: str) -> None:
        message = MediaMessage(to="254711000921", media_url=url, from_number=SENDER, media_type="DOCUMENT")
        assert message.media_url == sent
