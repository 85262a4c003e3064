"""Every answer shape lipachat-api.md describes, read into a SendResult or the right typed error."""

from __future__ import annotations

import datetime
import json

import pendulum
import pytest

from airflow_provider_lipachat.exceptions import (
    LipaChatAuthError,
    LipaChatRequestError,
    LipaChatResponseError,
    LipaChatSessionClosedError,
)
from airflow_provider_lipachat.gateway.answers import (
    REPLAY_TOLERANCE,
    answered_as_already_sent,
    read_envelope,
    read_send_result,
)

MEDIA = "/api/v1/whatsapp/media"
SUCCESS = {
    "timestamp": "2023-08-06T01:27:56.825898971",
    "data": {
        "messageId": "m-1",
        "waId": "wamid.HBgMMjU0NzExMjIyMzMz",
        "status": "SENT",
        "statusDesc": "Media sent successfully",
    },
    "status": "success",
    "message": "",
    "errors": None,
}


def send(status: int, body: object, message_id: str = "m-1"):
    text = body if isinstance(body, str) else json.dumps(body)
    return read_send_result(status, text, MEDIA, message_id)


class TestSuccess:
    def test_documented_success_becomes_a_send_result(self) -> None:
        result = send(200, SUCCESS)
        assert result.message_id == "m-1"
        assert result.wa_id == "wamid.HBgMMjU0NzExMjIyMzMz"
        assert (result.status, result.status_desc) == ("SENT", "Media sent successfully")
        assert result.timestamp == pendulum.datetime(2023, 8, 6, 1, 27, 56, 825898, tz="UTC")

    @pytest.mark.parametrize("status", [200, 201, 202])
    def test_any_2xx_with_a_wa_id_is_success(self, status: int) -> None:
        assert send(status, SUCCESS).wa_id.startswith("wamid.")

    def test_null_timestamp_is_none(self) -> None:
        assert send(200, {**SUCCESS, "timestamp": None}).timestamp is None

    def test_missing_message_id_in_data_falls_back_to_the_one_sent(self) -> None:
        body = {**SUCCESS, "data": {"waId": "wamid.X"}}
        assert send(200, body, message_id="mine").message_id == "mine"


class TestFailures:
    def test_invalid_credentials_quirk_with_status_success_is_an_auth_error(self) -> None:
        quirk = {"data": None, "status": "success", "message": "Invalid credentials", "errors": None}
        with pytest.raises(LipaChatAuthError, match="Invalid credentials"):
            send(200, quirk)

    def test_generic_error_envelope_carries_the_gateway_message(self) -> None:
        generic = {"data": None, "status": "error", "message": "Request failed.", "errors": None}
        with pytest.raises(LipaChatRequestError, match="Request failed.") as caught:
            send(200, generic)
        assert not caught.value.retryable

    def test_error_envelope_lists_its_errors(self) -> None:
        body = {"data": None, "status": "error", "message": "Validation failed", "errors": ["to is invalid"]}
        with pytest.raises(LipaChatRequestError, match=r"Validation failed.*to is invalid"):
            send(400, body)

    @pytest.mark.parametrize("status", [200, 400, 403])
    def test_closed_24_hour_window_explains_the_rule_and_the_way_out(self, status: int) -> None:
        body = {
            "data": None,
            "status": "error",
            "message": "Recipient is outside the 24-hour sandbox session window",
            "errors": None,
        }
        with pytest.raises(LipaChatSessionClosedError) as caught:
            send(status, body)
        text = str(caught.value)
        assert "24-hour sandbox session window" in text
        assert "template message" in text
        assert not caught.value.retryable

    def test_framework_400_names_code_and_path(self) -> None:
        body = {
            "timestamp": "2023-08-06T01:27:56.825+00:00",
            "status": 400,
            "error": "Bad Request",
            "path": "/api/v1/whatsapp/message/text",
        }
        with pytest.raises(LipaChatRequestError, match=r"HTTP 400 Bad Request at /api/v1/whatsapp/message/text"):
            send(400, body)

    @pytest.mark.parametrize("status", [401, 403])
    def test_401_and_403_are_auth_errors_whatever_the_body(self, status: int) -> None:
        with pytest.raises(LipaChatAuthError, match=f"HTTP {status}"):
            send(status, "<html><body>Forbidden</body></html>")

    def test_html_page_reports_code_and_a_short_snippet(self) -> None:
        page = "<html><head><title>413 Payload Too Large</title></head><body>" + "x" * 1000 + "</body></html>"
        with pytest.raises(LipaChatRequestError) as caught:
            send(413, page)
        text = str(caught.value)
        assert "HTTP 413" in text and "413 Payload Too Large" in text
        assert len(text) < 400

    def test_a_2xx_that_is_not_json_is_unreadable_and_may_be_retried(self) -> None:
        with pytest.raises(LipaChatResponseError, match="HTTP 200 .* not the gateway's JSON envelope") as caught:
            send(200, "<html>Welcome to the captive portal</html>")
        assert caught.value.retryable

    def test_success_status_with_null_data_is_a_failure(self) -> None:
        with pytest.raises(LipaChatResponseError, match="no data"):
            send(200, {"data": None, "status": "success", "message": "", "errors": None})

    def test_data_without_wa_id_is_not_a_confirmed_send(self) -> None:
        with pytest.raises(LipaChatResponseError, match=r"without data\.waId"):
            send(200, {**SUCCESS, "data": {"messageId": "m-1", "status": "QUEUED"}})

    def test_other_4xx_is_a_request_error(self) -> None:
        with pytest.raises(LipaChatRequestError, match="HTTP 404"):
            send(404, {"status": "nope"})

    def test_json_that_is_not_an_object_is_unreadable(self) -> None:
        with pytest.raises(LipaChatResponseError, match="not the gateway's JSON envelope"):
            send(200, "[1, 2]")


def test_template_list_envelope_returns_the_whole_envelope() -> None:
    body = {
        "timestamp": None,
        "data": {"data": [{"name": "daily"}]},
        "status": "success",
        "message": "",
        "errors": None,
    }
    assert read_envelope(200, json.dumps(body), "/api/v1/template/254110090747")["data"]["data"] == [{"name": "daily"}]


SENT_AT = pendulum.datetime(2024, 5, 2, 6, 0, 0, tz="UTC")


def gateway_clock(moment: datetime.datetime, utc_offset_hours: int = 0) -> str:
    """``moment`` as a gateway whose clock runs at that UTC offset writes it: zone-less, nine fractional digits."""
    local = moment.astimezone(datetime.timezone(datetime.timedelta(hours=utc_offset_hours)))
    return local.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123"


class TestReplayRule:
    """The assumption that tells a replay: an answer whose timestamp predates the send by more than the tolerance."""

    @pytest.mark.parametrize(
        ("answered_before_sending", "replayed"),
        [
            (datetime.timedelta(days=1), True),  # the first run, yesterday
            (REPLAY_TOLERANCE + datetime.timedelta(seconds=1), True),
            (REPLAY_TOLERANCE, False),  # clock skew and a slow first attempt stay inside the tolerance
            (datetime.timedelta(seconds=5), False),
            (datetime.timedelta(seconds=-2), False),  # answered after the send: a fresh answer
        ],
    )
    def test_an_answer_older_than_the_send_beyond_the_tolerance_is_a_replay(
        self, answered_before_sending: datetime.timedelta, replayed: bool
    ) -> None:
        assert answered_as_already_sent(SENT_AT - answered_before_sending, SENT_AT) is replayed

    @pytest.mark.parametrize(("answered_at", "sent_at"), [(None, SENT_AT), (SENT_AT, None), (None, None)])
    def test_without_both_moments_it_cannot_tell_so_it_says_not_replayed(
        self, answered_at: datetime.datetime | None, sent_at: datetime.datetime | None
    ) -> None:
        assert answered_as_already_sent(answered_at, sent_at) is False

    def test_a_replayed_answer_read_from_the_envelope_is_marked(self) -> None:
        body = {**SUCCESS, "timestamp": gateway_clock(SENT_AT - datetime.timedelta(hours=20))}
        result = read_send_result(200, json.dumps(body), MEDIA, "m-1", SENT_AT)
        assert result.replayed is True
        assert result.wa_id == SUCCESS["data"]["waId"]  # still a success: the message was sent, earlier

    def test_a_fresh_answer_is_not_marked(self) -> None:
        body = {**SUCCESS, "timestamp": gateway_clock(SENT_AT + datetime.timedelta(milliseconds=80))}
        assert read_send_result(200, json.dumps(body), MEDIA, "m-1", SENT_AT).replayed is False

    @pytest.mark.parametrize("timestamp", [None, "yesterday", ""])
    def test_a_null_or_unreadable_timestamp_is_not_marked(self, timestamp: object) -> None:
        body = {**SUCCESS, "timestamp": timestamp}
        assert read_send_result(200, json.dumps(body), MEDIA, "m-1", SENT_AT).replayed is False

    def test_without_the_send_moment_nothing_is_marked(self) -> None:
        assert send(200, SUCCESS).replayed is False  # the documented sample is from 2023

    def test_a_gateway_clock_in_kenya_time_never_makes_a_fresh_send_a_replay(self) -> None:
        # Zone-less time read as UTC: UTC+3 looks three hours ahead, so a fresh answer is never "older".
        fresh = {**SUCCESS, "timestamp": gateway_clock(SENT_AT, utc_offset_hours=3)}
        assert read_send_result(200, json.dumps(fresh), MEDIA, "m-1", SENT_AT).replayed is False
        # The cost, as documented: a replay less than three hours old goes unnoticed; an older one is seen.
        two_hours = {**SUCCESS, "timestamp": gateway_clock(SENT_AT - datetime.timedelta(hours=2), 3)}
        assert read_send_result(200, json.dumps(two_hours), MEDIA, "m-1", SENT_AT).replayed is False
        a_day = {**SUCCESS, "timestamp": gateway_clock(SENT_AT - datetime.timedelta(days=1), 3)}
        assert read_send_result(200, json.dumps(a_day), MEDIA, "m-1", SENT_AT).replayed is True

    def test_a_gateway_clock_west_of_utc_makes_fresh_sends_look_replayed(self) -> None:
        # The documented false positive: the operators only warn about it, the send still succeeds.
        fresh = {**SUCCESS, "timestamp": gateway_clock(SENT_AT, utc_offset_hours=-5)}
        assert read_send_result(200, json.dumps(fresh), MEDIA, "m-1", SENT_AT).replayed is True

    def test_a_timestamp_with_its_own_offset_is_read_in_that_offset(self) -> None:
        fresh = {**SUCCESS, "timestamp": SENT_AT.in_timezone("Africa/Nairobi").isoformat()}
        assert read_send_result(200, json.dumps(fresh), MEDIA, "m-1", SENT_AT).replayed is False
