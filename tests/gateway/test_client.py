"""LipaChatClient over real HTTP to the emulator: sends, dedup, answers, timeouts, retries."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Iterator

import pytest

from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.exceptions import (
    LipaChatAuthError,
    LipaChatRequestError,
    LipaChatTransientError,
)
from airflow_provider_lipachat.gateway.client import LipaChatClient
from airflow_provider_lipachat.gateway.messages import MediaMessage, TemplateMessage, TextMessage
from airflow_provider_lipachat.gateway.retry import BACKOFF_CAP, RETRY_AFTER_CAP, backoff_delay, parse_retry_after
from tests.support import backdate_gateway_answers

SENDER = "254110090747"
RECIPIENT = "254711222333"


class RecordingSleep:
    """Stands in for time.sleep so retry waits are asserted, not waited."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def client(lipachat_emulator: Emulator, sleeps: RecordingSleep) -> Iterator[LipaChatClient]:
    client = LipaChatClient(lipachat_emulator.base_url, lipachat_emulator.api_key, timeout=5, sleep=sleeps)
    yield client
    client.close()


def document(message_id: str = "msg-1", to: str = RECIPIENT) -> MediaMessage:
    return MediaMessage(
        to=to,
        media_url="https://files.example.com/q3.pdf",
        from_number=SENDER,
        caption="Q3 report",
        filename="q3.pdf",
        message_id=message_id,
    )


class TestSending:
    def test_send_delivers_the_payload_and_returns_the_wa_id(
        self, client: LipaChatClient, lipachat_emulator: Emulator
    ) -> None:
        result = client.send_media(document())
        [delivery] = lipachat_emulator.deliveries()
        assert delivery["payload"] == document().to_payload()
        assert result.wa_id == delivery["waId"]
        assert result.message_id == "msg-1"
        assert result.status == "SENT"
        assert result.timestamp is not None

    def test_replaying_a_message_id_is_answered_but_not_delivered_again(
        self, client: LipaChatClient, lipachat_emulator: Emulator
    ) -> None:
        first = client.send_media(document())
        second = client.send_media(document())
        assert first.wa_id == second.wa_id
        assert len(lipachat_emulator.deliveries()) == 1
        assert [r["outcome"] for r in lipachat_emulator.requests()] == ["delivered", "replayed"]

    def test_wrong_key_meets_the_invalid_credentials_quirk(self, lipachat_emulator: Emulator) -> None:
        client = LipaChatClient(lipachat_emulator.base_url, "not-the-key", max_retries=3)
        with pytest.raises(LipaChatAuthError, match="Invalid credentials"):
            client.send_media(document())
        assert lipachat_emulator.deliveries() == []
        assert len(lipachat_emulator.requests()) == 1  # permanent: not retried

    def test_list_templates(self, client: LipaChatClient) -> None:
        [template] = client.list_templates(SENDER)
        assert template["name"] == "daily_report"

    def test_base_url_may_include_the_api_prefix(self, lipachat_emulator: Emulator) -> None:
        client = LipaChatClient(lipachat_emulator.base_url + "/api/v1/", lipachat_emulator.api_key)
        assert client.send_media(document()).wa_id


class TestSafety:
    def test_repr_shows_no_key(self, client: LipaChatClient, lipachat_emulator: Emulator) -> None:
        assert lipachat_emulator.api_key not in repr(client)
        assert lipachat_emulator.base_url in repr(client)

    def test_tls_verification_stays_on(self, client: LipaChatClient) -> None:
        assert client.session.verify is True

    def test_redirects_are_not_followed(self, client: LipaChatClient, lipachat_emulator: Emulator) -> None:
        lipachat_emulator.add_fault("redirect", location=lipachat_emulator.base_url + "/elsewhere")
        with pytest.raises(LipaChatRequestError, match="redirects are not followed"):
            client.send_media(document())
        assert len(lipachat_emulator.requests()) == 1
        assert lipachat_emulator.deliveries() == []

    def test_a_key_echoed_by_the_gateway_is_redacted_from_errors(
        self, client: LipaChatClient, lipachat_emulator: Emulator
    ) -> None:
        echo = f"<html>proxy error; request headers: apiKey: {lipachat_emulator.api_key}</html>"
        lipachat_emulator.add_fault("html", status=400, body=echo)
        with pytest.raises(LipaChatRequestError) as caught:
            client.send_media(document())
        assert "proxy error" in str(caught.value)
        assert lipachat_emulator.api_key not in str(caught.value)


class TestRetries:
    @pytest.mark.parametrize("status", [500, 502, 503, 504])
    def test_5xx_is_retried_with_the_identical_body(
        self, status: int, client: LipaChatClient, lipachat_emulator: Emulator, sleeps: RecordingSleep
    ) -> None:
        lipachat_emulator.add_fault("status", status=status, count=2)
        result = client.send_media(document())
        requests = lipachat_emulator.requests()
        assert [r["outcome"] for r in requests] == ["fault:status", "fault:status", "delivered"]
        assert {r["messageId"] for r in requests} == {"msg-1"}
        assert len(lipachat_emulator.deliveries()) == 1
        assert result.wa_id == lipachat_emulator.deliveries()[0]["waId"]
        assert len(sleeps.waits) == 2
        assert 0 <= sleeps.waits[0] <= 0.5 and 0 <= sleeps.waits[1] <= 1.0

    def test_429_waits_as_long_as_retry_after_says(
        self, client: LipaChatClient, lipachat_emulator: Emulator, sleeps: RecordingSleep
    ) -> None:
        lipachat_emulator.add_fault("status", status=429, retry_after="7")
        client.send_media(document())
        assert sleeps.waits == [7.0]
        assert len(lipachat_emulator.deliveries()) == 1

    def test_retry_after_is_capped(
        self, client: LipaChatClient, lipachat_emulator: Emulator, sleeps: RecordingSleep
    ) -> None:
        lipachat_emulator.add_fault("status", status=503, retry_after="3600")
        client.send_media(document())
        assert sleeps.waits == [RETRY_AFTER_CAP]

    def test_connection_reset_is_retried(self, client: LipaChatClient, lipachat_emulator: Emulator) -> None:
        lipachat_emulator.add_fault("reset")
        client.send_media(document())
        assert [r["outcome"] for r in lipachat_emulator.requests()] == ["fault:reset", "delivered"]

    def test_html_error_page_from_a_proxy_is_retried(self, client: LipaChatClient, lipachat_emulator: Emulator) -> None:
        lipachat_emulator.add_fault("html", status=502)
        client.send_media(document())
        assert [r["outcome"] for r in lipachat_emulator.requests()] == ["fault:html", "delivered"]

    def test_timed_out_but_delivered_ends_as_one_delivery_with_the_original_wa_id(
        self, lipachat_emulator: Emulator, sleeps: RecordingSleep
    ) -> None:
        lipachat_emulator.add_fault("deliver_then_delay", delay=1.5)
        client = LipaChatClient(lipachat_emulator.base_url, lipachat_emulator.api_key, timeout=0.3, sleep=sleeps)
        result = client.send_media(document())
        [delivery] = lipachat_emulator.deliveries()
        assert result.wa_id == delivery["waId"]
        assert [r["outcome"] for r in lipachat_emulator.requests()] == ["delivered", "replayed"]
        # The retry got the stored answer, but to this send's own first attempt: not a replay.
        assert result.replayed is False

    def test_a_slow_answer_times_out_and_is_retried(self, lipachat_emulator: Emulator, sleeps: RecordingSleep) -> None:
        lipachat_emulator.add_fault("delay", delay=1.0)
        client = LipaChatClient(lipachat_emulator.base_url, lipachat_emulator.api_key, timeout=0.3, sleep=sleeps)
        started = time.monotonic()
        result = client.send_media(document())
        assert time.monotonic() - started < 5
        assert len(sleeps.waits) == 1
        deadline = time.monotonic() + 5  # the delayed first request is still processed by the emulator
        while len(lipachat_emulator.requests()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(r["outcome"] for r in lipachat_emulator.requests()) == ["delivered", "replayed"]
        assert result.wa_id == lipachat_emulator.deliveries()[0]["waId"]

    def test_gives_up_after_max_retries_with_a_transient_error(
        self, lipachat_emulator: Emulator, sleeps: RecordingSleep
    ) -> None:
        lipachat_emulator.add_fault("status", status=503, count=10)
        client = LipaChatClient(lipachat_emulator.base_url, lipachat_emulator.api_key, max_retries=2, sleep=sleeps)
        with pytest.raises(LipaChatTransientError, match=r"after 3 attempt\(s\): HTTP 503") as caught:
            client.send_media(document())
        assert caught.value.retryable
        assert len(lipachat_emulator.requests()) == 3
        assert lipachat_emulator.deliveries() == []

    def test_unreachable_gateway_is_a_transient_error(self, sleeps: RecordingSleep) -> None:
        with Emulator() as emulator:
            url = emulator.base_url
        client = LipaChatClient(url, "key", max_retries=1, timeout=1, sleep=sleeps)
        with pytest.raises(LipaChatTransientError, match="ConnectionError") as caught:
            client.send_media(document())
        assert len(sleeps.waits) == 1
        assert not str(caught.value).endswith(".")  # one clause, so text appended after it reads cleanly

    def test_a_timeout_is_one_clean_sentence_naming_the_wait(
        self, lipachat_emulator: Emulator, sleeps: RecordingSleep, caplog: pytest.LogCaptureFixture
    ) -> None:
        lipachat_emulator.add_fault("delay", delay=1.0, count=2)
        client = LipaChatClient(
            lipachat_emulator.base_url, lipachat_emulator.api_key, timeout=0.3, max_retries=1, sleep=sleeps
        )
        with (
            caplog.at_level(logging.WARNING, logger="airflow_provider_lipachat.gateway.client"),
            pytest.raises(LipaChatTransientError) as caught,
        ):
            client.send_media(document())
        assert (
            str(caught.value)
            == "POST /api/v1/whatsapp/media failed after 2 attempt(s): ReadTimeout: no answer within 0.3 s"
        )
        [warning] = [r.getMessage() for r in caplog.records]
        assert "attempt 1 of 2 failed (ReadTimeout: no answer within 0.3 s); retrying in" in warning


class TestReplays:
    """``SendResult.replayed``: the gateway answered with the first answer to this messageId (an assumption)."""

    def test_a_first_send_is_not_replayed(self, client: LipaChatClient) -> None:
        result = client.send_media(document())
        assert result.replayed is False
        assert result.timestamp is not None

    def test_a_repeated_message_id_answered_with_an_hour_old_first_answer_is_replayed(
        self, client: LipaChatClient, lipachat_emulator: Emulator
    ) -> None:
        first = client.send_media(document())
        backdate_gateway_answers(lipachat_emulator, 3600)  # the first send was an hour ago
        again = client.send_media(document())  # same messageId, changed nothing else either
        assert again.replayed is True
        assert again.wa_id == first.wa_id
        assert [r["outcome"] for r in lipachat_emulator.requests()] == ["delivered", "replayed"]
        assert len(lipachat_emulator.deliveries()) == 1

    def test_a_repeat_within_the_tolerance_is_not_told_apart(
        self, client: LipaChatClient, lipachat_emulator: Emulator
    ) -> None:
        client.send_media(document())
        again = client.send_media(document())  # a second later: within REPLAY_TOLERANCE, as documented
        assert [r["outcome"] for r in lipachat_emulator.requests()] == ["delivered", "replayed"]
        assert again.replayed is False

    @pytest.mark.parametrize("status", [400, 404, 409, 422])
    def test_other_4xx_is_not_retried(
        self, status: int, client: LipaChatClient, lipachat_emulator: Emulator, sleeps: RecordingSleep
    ) -> None:
        lipachat_emulator.add_fault("status", status=status)
        with pytest.raises(LipaChatRequestError):
            client.send_media(document())
        assert len(lipachat_emulator.requests()) == 1
        assert sleeps.waits == []

    def test_each_retry_logs_attempt_reason_and_wait(
        self, client: LipaChatClient, lipachat_emulator: Emulator, caplog: pytest.LogCaptureFixture
    ) -> None:
        lipachat_emulator.add_fault("status", status=429, retry_after="2")
        with caplog.at_level(logging.WARNING, logger="airflow_provider_lipachat.gateway.client"):
            client.send_media(document())
        [record] = caplog.records
        assert "attempt 1 of 4 failed (HTTP 429); retrying in 2.00 s" in record.getMessage()


class TestBackoff:
    def test_full_jitter_stays_within_the_exponential_bound(self) -> None:
        for attempt, bound in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (10, BACKOFF_CAP), (30, BACKOFF_CAP)]:
            samples = [backoff_delay(attempt) for _ in range(200)]
            assert all(0 <= s <= bound for s in samples)
            assert len(set(samples)) > 100  # jittered, not a fixed wait

    def test_retry_after_seconds_and_http_date(self) -> None:
        now = time.time()
        assert parse_retry_after("12") == 12.0
        assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
        assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
        assert parse_retry_after(None) is None
        assert parse_retry_after("soon") is None


class TestTextAndTemplate:
    def test_text_goes_to_its_route(self, client: LipaChatClient, lipachat_emulator: Emulator) -> None:
        text = TextMessage(to=RECIPIENT, message="Pipeline failed", from_number=SENDER, message_id="t-1")
        result = client.send_text(text)
        [delivery] = lipachat_emulator.deliveries()
        assert (delivery["route"], delivery["payload"], delivery["waId"]) == ("text", text.to_payload(), result.wa_id)

    def test_template_goes_to_its_route(self, client: LipaChatClient, lipachat_emulator: Emulator) -> None:
        template = TemplateMessage(
            to=RECIPIENT, template_name="daily_report", from_number=SENDER, body_placeholders=("x",), message_id="tp"
        )
        result = client.send_template(template)
        [delivery] = lipachat_emulator.deliveries()
        assert (delivery["route"], delivery["payload"]) == ("template", template.to_payload())
        assert result.message_id == "tp"
