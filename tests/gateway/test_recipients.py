"""Recipients: phone numbers read and normalised from every shape a DAG hands over, lists, masking."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from airflow_provider_lipachat.exceptions import LipaChatError, LipaChatValidationError
from airflow_provider_lipachat.gateway.recipients import (
    NumberingPlan,
    array_as_list,
    check_literal_recipients,
    normalize_phone,
    parse_default_region,
    parse_recipients,
    read_recipients,
)
from airflow_provider_lipachat.gateway.redaction import mask_phone


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
            ("2547", "4 digits, too short"),
            ("99912345678", "no country code that exists"),
            ("2547112223334445666677", "22 digits, too long"),
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
        with pytest.raises(LipaChatValidationError, match=r"to='0712\*\*\*\*78': looks like a national number"):
            parse_recipients(["254700000001", "0712345678"])

    def test_a_national_number_in_groups_is_refused_as_one_national_number(self) -> None:
        with pytest.raises(LipaChatValidationError, match=r"^to='0711 \*\*\* \*21': looks like a national number"):
            parse_recipients("0711 000 921")

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
        assert "looks like a national number" in found.refused["0711000995"].problem
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
        with pytest.raises(LipaChatValidationError, match=r"^to='0711\*\*\*\*95': looks like a national number"):
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
        [["254711000991", "07110x0995"], ("254711000991", 254711000995.5), {"254711000991", "nan"}, [True]],
    )
    def test_an_invalid_number_in_a_literal_list_is_refused(self, value: object) -> None:
        with pytest.raises(LipaChatValidationError, match="^to="):
            check_literal_recipients(value)

    @pytest.mark.parametrize(
        "value",
        [
            ["254711000991", 254711000992, 254711000993.0, Decimal("254711000994")],
            [],
            ["254711000991", "0711000995"],  # a national number: the connection's default_region may read it
            ["+25471100092"],  # the numbering plan loads when the task runs, not while the DAG is parsed
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


#: Mobile numbers the numbering plan accepts, one or more per country, as people write them.
VALID_ABROAD = {
    "KE": "+254 711 000 921",
    "KE sandbox": "+254 110 090 747",
    "US": "+1 201-555-0123",
    "DE": "+49 1512 3456789",
    "GB": "+44 7400 123456",
    "NG": "+234 802 123 4567",
    "TZ": "+255 621 234 567",
    "UG": "+256 712 345 678",
    "ZA": "+27 71 123 4567",
    "IN": "+91 81234 56789",
    "BR": "+55 11 96123-4567",
}

#: Message ids the release before the numbering plan gave these recipients (dag "recipients_dag", task
#: "send", run "manual__2026-01-01T00:00:00+00:00", no map index), computed with that release's
#: ``parse_recipients`` and ``default_message_id``: a re-run after upgrading must send nothing twice.
IDS_BEFORE_THE_PLAN = {
    "254711000921": "493e178a-58b7-5592-a67c-679657bb8a88",
    "254110090747": "98cec2a5-279a-5ea7-b438-a7cc2fee9b38",
    "12015550123": "82cd3547-8f07-5347-9d04-7bd30e4384bb",
    "4915123456789": "b1a71556-790a-5725-9d5d-82e7b207b3cb",
    "447400123456": "7d5cb4af-4834-5bad-9bf6-5d1edd53dc15",
    "2348021234567": "bc1c7c65-9134-59f8-bee1-ce964bceef2a",
    "255621234567": "1fb83ca2-d87d-50ab-a681-2b8ea1bef04d",
    "256712345678": "55789412-32ff-5f91-8c9d-f7d58c96d64c",
    "27711234567": "924a6536-6993-5194-b18b-70c5fd657091",
    "918123456789": "26399404-3209-5fe8-8564-669dab79ec73",
    "5511961234567": "c6051b38-b396-5be5-b711-b7b397d32e5e",
}


class TestNumberingPlan:
    @pytest.mark.parametrize(("typo", "digits"), [("+25471100092", 8), ("+2547110009210", 10)])
    def test_a_number_that_cannot_exist_in_its_country_is_refused_saying_what_its_numbers_look_like(
        self, typo: str, digits: int
    ) -> None:
        import phonenumbers

        with pytest.raises(LipaChatValidationError) as caught:
            normalize_phone(typo, "to")
        text = str(caught.value)
        assert text.startswith(f"to={mask_phone(repr(typo))}: cannot exist in Kenya (+254)")
        assert f"it has {digits} digits after +254" in text
        assert "7 to 10 digits after +254 (mobiles 9, such as +254 712 123456)" in text
        assert "check_numbering_plan=False" in text
        assert f"upgrade phonenumbers (installed: {phonenumbers.__version__})" in text
        assert typo.removeprefix("+") not in text

    def test_numbers_from_ten_countries_are_accepted_as_the_digits_sent_before(self) -> None:
        recipients, many = parse_recipients(list(VALID_ABROAD.values()))
        assert many and recipients == list(IDS_BEFORE_THE_PLAN)

    def test_message_ids_are_the_ones_the_release_before_the_plan_gave(self) -> None:
        from airflow_provider_lipachat.utils.message_ids import default_message_id

        recipients, _ = parse_recipients(list(VALID_ABROAD.values()))
        run = "manual__2026-01-01T00:00:00+00:00"
        assert {r: default_message_id("recipients_dag", "send", run, -1, r) for r in recipients} == IDS_BEFORE_THE_PLAN
        keyed = default_message_id("recipients_dag", "send", "scheduled__2026-01-01T00:00:00+00:00", 3,
                                   parse_recipients("+254 711 000 921")[0][0], key="2026-01-01")  # fmt: skip
        assert keyed == "5893747f-e74a-56dd-bf75-3ec5fca6bd96"

    def test_a_national_number_is_read_in_the_default_region(self) -> None:
        kenya = NumberingPlan(default_region="KE")
        assert parse_recipients(["0711 000 921", "+254 110 090 747"], plan=kenya) == (
            ["254711000921", "254110090747"],
            True,
        )
        with pytest.raises(LipaChatValidationError, match=r"cannot exist in Nigeria \(\+234\)"):
            normalize_phone("0711 000 921", "to", NumberingPlan("NG"))  # read where the connection says, never guessed
        with pytest.raises(LipaChatValidationError, match=r"read with default_region KE as \+2547\*\*\*\*\*92"):
            normalize_phone("0711 000 92", "to", kenya)

    def test_without_a_default_region_a_national_number_is_refused_naming_the_extra(self) -> None:
        with pytest.raises(LipaChatValidationError) as caught:
            normalize_phone("0711 000 921", "to")
        assert "looks like a national number (leading 0)" in str(caught.value)
        assert "set the connection's default_region extra" in str(caught.value)

    def test_with_the_check_off_a_number_the_plan_does_not_know_is_sent_as_written(self) -> None:
        unknown = "+1 555 010 9999"  # a range the plan leaves unassigned, as a new range is until it is added
        with pytest.raises(LipaChatValidationError, match=r"cannot exist in United States \(\+1\)"):
            normalize_phone(unknown, "to")
        assert normalize_phone(unknown, "to", NumberingPlan(check=False)) == "15550109999"
        with pytest.raises(LipaChatValidationError, match="no country code that exists"):
            normalize_phone("+999 1234 5678", "to", NumberingPlan(check=False))

    def test_each_distinct_number_is_checked_once(self) -> None:
        from airflow_provider_lipachat.gateway import recipients

        recipients._plan_verdict.cache_clear()
        parse_recipients(["254711000921", "+254 711 000 921", "254711000921"] * 100)
        info = recipients._plan_verdict.cache_info()
        assert (info.misses, info.hits) == (1, 299)

    @pytest.mark.parametrize(("value", "region"), [("KE", "KE"), (" ng ", "NG"), ("", None), (None, None)])
    def test_default_region_is_an_iso_code(self, value: object, region: str | None) -> None:
        assert parse_default_region(value) == region

    @pytest.mark.parametrize(
        ("value", "problem"), [("Kenya", "two-letter ISO 3166"), ("ZZ", "no country phonenumbers")]
    )
    def test_a_default_region_that_is_no_country_is_refused(self, value: str, problem: str) -> None:
        with pytest.raises(LipaChatValidationError, match=f"^default_region='{value}': .*{problem}"):
            parse_default_region(value)

    def test_reading_recipients_at_parse_time_leaves_the_plan_unloaded(self) -> None:
        import subprocess
        import sys

        code = (
            "import sys; from airflow_provider_lipachat.gateway.recipients import check_literal_recipients; "
            "check_literal_recipients(['254711000921', '0711000921']); print('phonenumbers' in sys.modules)"
        )
        assert subprocess.check_output([sys.executable, "-c", code], text=True).strip() == "False"
