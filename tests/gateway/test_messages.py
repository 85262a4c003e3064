"""MediaMessage validation and payloads, phone masking."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from airflow_provider_lipachat.exceptions import LipaChatError, LipaChatValidationError
from airflow_provider_lipachat.gateway.messages import (
    MediaMessage,
    TemplateMessage,
    TextMessage,
    array_as_list,
    check_literal_recipients,
    infer_media_type,
    mask_phone,
    normalize_phone,
    parse_placeholders,
    parse_recipients,
    read_recipients,
)

SENDER = "254110090747"


def message(**overrides: object) -> MediaMessage:
    fields = {"to": "254711222333", "media_url": "https://files.example.com/report.pdf", "from_number": SENDER}
    fields.update(overrides)
    return MediaMessage(**fields)  # type: ignore[arg-type]


class TestPhoneNumbers:
    @pytest.mark.parametrize(
        "raw",
        ["254711222333", "+254711222333", "+254 711-222-333", " 254 (711) 222 333 ", "254.711.222.333"],
    )
    def test_international_forms_become_digits(self, raw: str) -> None:
        assert normalize_phone(raw, "to") == "254711222333"

    @pytest.mark.parametrize(
        ("raw", "problem"),
        [
            ("0712345678", "country code"),
            ("+0712345678", "country code"),
            ("2547", "4 digits"),
            ("2547112223334445", "16 digits"),
            ("254-711-abc", "other than digits"),
            ("", "country code"),
            (None, "country code"),
            (254711222333.5, "with a fraction"),
            ("254711222333.5", "with a fraction"),
            (float("nan"), "not a phone number"),
            (True, "boolean"),
            ("254711222" + chr(0x0663) + "x", "other than digits"),
        ],
    )
    def test_refused_numbers_name_field_value_and_what_is_accepted(self, raw: object, problem: str) -> None:
        with pytest.raises(LipaChatValidationError) as caught:
            normalize_phone(raw, "to")
        text = str(caught.value)
        assert text.startswith(f"to={mask_phone(repr(raw))}")
        assert problem in text
        assert "254711222333" in text  # the example of what is accepted
        assert caught.value.field == "to"

    @pytest.mark.parametrize(
        ("raw", "shown"),
        [
            ("0711222333", "'0711****33'"),
            ("+254 711-222-33x", "'+254 7**-***-33x'"),
            (254711222333.5, "2547*******3.5"),
            (["254711222333", "0711222333"], "'0711****33'"),
            ({"who": "254711222333"}, "{'who': '2547******33'}"),
        ],
    )
    def test_a_refused_number_is_shown_masked_as_it_is_personal(self, raw: object, shown: str) -> None:
        with pytest.raises(LipaChatValidationError) as caught:
            parse_recipients(raw)
        text = str(caught.value)
        assert text.startswith(f"to={shown}:")
        assert "711222" not in text.split(":")[0]

    def test_mask_phone_hides_the_middle_digits_and_keeps_the_shape(self) -> None:
        assert mask_phone("254711222333") == "2547******33"
        assert mask_phone("+254 711-222-333") == "+254 7**-***-*33"
        assert mask_phone("254711") == "******"

    def test_validation_error_is_a_value_error_and_a_lipachat_error(self) -> None:
        with pytest.raises(ValueError):
            normalize_phone("07", "to")
        with pytest.raises(LipaChatError):
            normalize_phone("07", "to")

    def test_masking_keeps_only_the_ends(self) -> None:
        assert mask_phone("254711222333") == "2547******33"
        assert mask_phone("12345") == "*****"


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


class TestRecipients:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (["254700000001", "+254 700 000 002"], ["254700000001", "254700000002"]),
            ("254700000001,254700000002; 254700000003", ["254700000001", "254700000002", "254700000003"]),
            ("254700000001\n254700000002\r\n", ["254700000001", "254700000002"]),
            ("254700000001 254700000002", ["254700000001", "254700000002"]),
            ("['254700000001', '254700000002']", ["254700000001", "254700000002"]),
            ('["+254 700 000 001", "254700000002"]', ["254700000001", "254700000002"]),
        ],
    )
    def test_lists_and_separated_strings(self, value: object, expected: list[str]) -> None:
        recipients, many = parse_recipients(value)
        assert recipients == expected
        assert many

    def test_one_number_is_not_a_list(self) -> None:
        assert parse_recipients("+254 711 222 333") == (["254711222333"], False)

    def test_a_list_of_one_is_still_a_list(self) -> None:
        assert parse_recipients(["254711222333"]) == (["254711222333"], True)

    def test_numbers_equal_after_normalisation_are_kept_once_in_order(self) -> None:
        value = ["254700000002", "+254 700 000 001", "254-700-000-002", "254700000001"]
        assert parse_recipients(value) == (["254700000002", "254700000001"], True)

    def test_a_bad_number_in_a_list_is_named(self) -> None:
        with pytest.raises(LipaChatValidationError, match=r"to='0712\*\*\*\*78': looks like a local number"):
            parse_recipients(["254700000001", "0712345678"])

    def test_ambiguous_spaces_ask_for_commas(self) -> None:
        with pytest.raises(LipaChatValidationError, match="neither one number nor numbers separated by spaces"):
            parse_recipients("254711222333 254 700")

    @pytest.mark.parametrize("value", ["", " , ;", None, {"a": 1}])
    def test_nothing_usable_is_refused(self, value: object) -> None:
        with pytest.raises(LipaChatValidationError, match="to="):
            parse_recipients(value)

    @pytest.mark.parametrize("value", [[], (), set(), "[]", " [] ", "()"])
    def test_an_empty_list_or_its_text_is_no_recipients(self, value: object) -> None:
        assert parse_recipients(value) == ([], True)


class TestEachRecipientOnItsOwn:
    def test_the_valid_numbers_are_kept_and_each_refused_one_named_with_its_error(self) -> None:
        found = read_recipients(["254711000991", "0711000995", "+254 711 000 993", 2547, "254711000991"])
        assert found.valid == ["254711000991", "254711000993"]
        assert set(found.refused) == {"0711000995", "2547"}
        assert "looks like a local number" in found.refused["0711000995"].problem
        assert "has 4 digits" in found.refused["2547"].problem
        assert found.many

    def test_text_pieces_are_read_one_by_one_too(self) -> None:
        found = read_recipients("254711000991, 0711000995; 254711000993")
        assert (found.valid, set(found.refused), found.many) == (["254711000991", "254711000993"], {"0711000995"}, True)

    @pytest.mark.parametrize("value", ["0711000995", 254711000995.5, float("nan"), np.float64("nan")])
    def test_one_invalid_number_on_its_own_is_raised(self, value: object) -> None:
        with pytest.raises(LipaChatValidationError, match="^to="):
            read_recipients(value)

    @pytest.mark.parametrize("value", [None, "", {"a": 1}, object(), b"254711000991"])
    def test_a_value_that_is_no_list_of_recipients_is_raised_whole(self, value: object) -> None:
        with pytest.raises(LipaChatValidationError, match="^to="):
            read_recipients(value)

    def test_parse_recipients_refuses_the_list_on_its_first_invalid_number(self) -> None:
        with pytest.raises(LipaChatValidationError, match=r"^to='0711\*\*\*\*95': looks like a local number"):
            parse_recipients(["254711000991", "0711000995", 254711000995.5])


class TestArraysAndMissingValues:
    @pytest.mark.parametrize(
        "value",
        [
            np.array([254711000921, 254711000922]),
            np.array([254711000921, 254711000922], dtype=np.uint64),
            np.array([254711000921.0, 254711000922.0]),
            np.array(["254711000921", "+254 711 000 922"]),
            np.array(["254711000921", 254711000922], dtype=object),
            pd.Series([254711000921, 254711000922, 254711000921]).unique(),
            pd.Series([254711000921, 254711000922], dtype="int64"),
            pd.Series([254711000921, 254711000922], dtype="Int64"),
            pd.Series(["254711000921", "254711000922"], dtype=object),
            pd.Series(["254711000921", "254711000922"], dtype="string"),
            pd.Index([254711000921, 254711000922]),
            [np.int64(254711000921), np.float64(254711000922.0)],
            "[np.int64(254711000921), np.int64(254711000922)]",  # numpy 2's text of a list of its scalars
            "[np.str_('254711000921'), np.float64(254711000922.0)]",
        ],
        ids=lambda value: type(value).__name__,
    )
    def test_numpy_arrays_and_pandas_series_or_index_are_lists(self, value: object) -> None:
        assert parse_recipients(value) == (["254711000921", "254711000922"], True)

    def test_an_array_with_no_rows_is_no_recipients(self) -> None:
        assert parse_recipients(np.array([], dtype=np.int64)) == ([], True)

    @pytest.mark.parametrize("value", [np.array(254711000921), np.int64(254711000921), np.float64(254711000921.0)])
    def test_a_0d_array_or_a_numpy_scalar_is_one_number(self, value: object) -> None:
        assert parse_recipients(value) == (["254711000921"], False)

    @pytest.mark.parametrize(
        ("value", "refused", "problem"),
        [
            (
                pd.Series([254711000921, None, 254711000922]),
                "nan",
                "is NaN (a missing value, as pandas writes an empty cell)",
            ),
            (np.array([254711000921, np.nan, 254711000922]), "nan", "is NaN"),
            (pd.Series([254711000921, None, 254711000922], dtype="Int64"), "<NA>", "is <NA> (pandas' missing value"),
            (pd.Series(["254711000921", None, "254711000922"]), "nan", "is NaN"),
            ([254711000921, float("inf"), 254711000922], "inf", "is infinite, not a phone number"),
            ([254711000921, Decimal("NaN"), 254711000922], "NaN", "is NaN"),
            ("[254711000921.0, nan, 254711000922.0]", "nan", "is NaN"),  # a float list rendered to text
            ("[np.float64(254711000921.0), np.float64(nan), 254711000922]", "nan", "is NaN"),
            ("254711000921, -inf, 254711000922", "-inf", "is infinite"),
        ],
    )
    def test_missing_and_infinite_values_are_refused_in_their_own_words(
        self, value: object, refused: str, problem: str
    ) -> None:
        found = read_recipients(value)
        assert found.valid == ["254711000921", "254711000922"]
        [(key, error)] = found.refused.items()
        assert key == refused
        assert problem in str(error)
        assert "a number with a fraction" not in str(error)
        assert error.field == "to"
        assert not error.retryable

    @pytest.mark.parametrize(
        "value",
        [np.array([254711000921.0], dtype=np.float32), pd.Series([254711000921.0], dtype="float32"), np.float32(8.0)],
    )
    def test_floats_too_narrow_for_a_phone_number_are_refused_whole(self, value: object) -> None:
        with pytest.raises(LipaChatValidationError, match=r"^to=<float32>: holds float32 numbers, too narrow"):
            read_recipients(value)

    @pytest.mark.parametrize(
        "value", [np.array([[254711000921], [254711000922]]), pd.DataFrame({"phone": [254711000921]})]
    )
    def test_a_table_is_not_a_list_of_numbers(self, value: object) -> None:
        with pytest.raises(LipaChatValidationError, match="^to="):
            parse_recipients(value)

    def test_an_array_or_series_given_to_a_notifier_is_kept_as_a_plain_list_of_the_same_values(self) -> None:
        converted = array_as_list(pd.Series([254711000921, None]))
        assert isinstance(converted, list)
        assert converted[0] == 254711000921 and math.isnan(converted[1])
        assert array_as_list(np.array(["254711000921"])) == ["254711000921"]
        for value in (["254711000921"], "{{ params.on_call }}", 254711000921, np.array(254711000921), None):
            assert array_as_list(value) is value
        with pytest.raises(LipaChatValidationError, match="too narrow"):
            array_as_list(np.array([254711000921.0], dtype=np.float32))

    def test_an_object_that_offers_index_but_holds_no_integer_is_refused_not_a_type_error(self) -> None:
        class Several:
            def __index__(self) -> int:
                raise TypeError("only integer scalar arrays can be converted to a scalar index")

        with pytest.raises(LipaChatValidationError, match="^to=.*expected an international number"):
            parse_recipients(Several())


class TestLiteralLists:
    @pytest.mark.parametrize(
        "value",
        [["254711000991", "0711000995"], ("254711000991", 254711000995.5), {"254711000991", "nan"}, [True]],
    )
    def test_an_invalid_number_in_a_literal_list_is_refused(self, value: object) -> None:
        with pytest.raises(LipaChatValidationError, match="^to="):
            check_literal_recipients(value)

    @pytest.mark.parametrize(
        "value",
        [
            ["254711000991", 254711000992, 254711000993.0, Decimal("254711000994")],
            [],
            ["254711000991", "{{ params.local }}"],  # a template: rendered, then checked when the task runs
            ["{% for n in params.on_call %}{{ n }},{% endfor %}"],
            ["0711000995", object()],  # not only numbers and text: checked when the task runs
            "0711000995",  # text may be a template
            np.array([0, 1]),  # data read at parse time can be large: checked when the task runs
            None,
        ],
    )
    def test_anything_else_is_left_for_execute_time(self, value: object) -> None:
        check_literal_recipients(value)

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
        "value",
        [
            254711000921,  # an int from JSON or native rendering
            254711000921.0,  # a float64 column with a missing value elsewhere
            "254711000921.0",  # the same float, rendered to text
            Decimal("254711000921"),
            "".join(chr(0xFF10 + int(d)) for d in "254711000921"),  # fullwidth digits
            "".join(chr(0x0660 + int(d)) for d in "254711000921"),  # Arabic-Indic digits
            "00254711000921",  # the international 00 prefix
        ],
    )
    def test_a_number_in_any_of_its_shapes_is_the_same_number(self, value: object) -> None:
        assert normalize_phone(value, "to") == "254711000921"

    def test_a_numpy_style_integer_is_a_number(self) -> None:
        class Int64:  # what numpy.int64 offers: __index__
            def __index__(self) -> int:
                return 254711000921

        assert parse_recipients(Int64()) == (["254711000921"], False)

    @pytest.mark.parametrize(
        "value",
        [
            [254711000921, 254711000922.0],
            (254711000921, "254711000922"),
            "[254711000921, 254711000922.0]",
            "['254711000921', '254711000922']",
        ],
    )
    def test_lists_of_numbers_and_their_renderings(self, value: object) -> None:
        assert parse_recipients(value) == (["254711000921", "254711000922"], True)

    def test_a_single_int_is_one_recipient(self) -> None:
        assert parse_recipients(254711000921) == (["254711000921"], False)

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
