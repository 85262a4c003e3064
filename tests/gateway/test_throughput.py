"""WhatsApp's throughput refusal (130429) is transient: waited out and retried, never a failed recipient."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.exceptions import (
    LipaChatRequestError,
    LipaChatThroughputError,
    LipaChatTransientError,
)
from airflow_provider_lipachat.gateway.answers import is_throughput_answer, read_envelope
from airflow_provider_lipachat.gateway.client import LipaChatClient
from airflow_provider_lipachat.gateway.messages import TextMessage
from airflow_provider_lipachat.gateway.retry import THROUGHPUT_RETRIES, THROUGHPUT_WINDOW, RetryPolicy

SENDER = "254110090747"
PATH = "/api/v1/whatsapp/message/text"
EMULATOR_SHAPE = {
    "timestamp": "2026-01-05T09:00:00.123456789",
    "data": None,
    "status": "error",
    "message": "(#130429) Rate limit hit: Cloud API message throughput has been reached.",
    "errors": [{"code": 130429, "title": "Rate limit hit"}],
}


def answer(**body: Any) -> str:
    return json.dumps(body)


def alert(n: int) -> TextMessage:
    return TextMessage(to=f"2547110000{n:02d}", message="Load finished", from_number=SENDER, message_id=f"alert-{n}")


class Waits:
    """Records each retry wait; sleeps it too when ``real``, so the emulator's window can pass."""

    def __init__(self, real: bool) -> None:
        self.real = real
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.real:
            time.sleep(min(seconds, 10.0))


@pytest.fixture
def throttled_emulator() -> Iterator[Emulator]:
    """An emulator taking one send per ten seconds from each sender number: the second send is refused."""
    with Emulator(throughput=0.1) as emulator:
        yield emulator


class TestRecognisingTheAnswer:
    @pytest.mark.parametrize(
        "text",
        [
            json.dumps(EMULATOR_SHAPE),
            answer(data=None, status="error", message="Request failed.", errors={"code": "130429"}),
            answer(error={"message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130429}),
            answer(data=None, status="error", message="(#130429) Rate limit hit", errors=None),
            answer(status="error", code=130429),
        ],
        ids=["emulator", "errors-object-code-as-text", "meta-error-passed-through", "message-only", "top-level-code"],
    )
    def test_the_code_is_found_wherever_the_gateway_puts_it(self, text: str) -> None:
        assert is_throughput_answer(text)

    @pytest.mark.parametrize(
        "text",
        [
            answer(data=None, status="error", message="Request failed.", errors=None),
            answer(data=None, status="error", message="to must be a phone number", errors=[{"code": 131026}]),
            "<html><body>130429</body></html>",
            "[130429]",
            answer(data={"messageId": "m-130429", "waId": "wamid.X"}, status="success", message=""),
        ],
        ids=["generic-error", "other-code", "html", "not-an-object", "success-naming-the-digits"],
    )
    def test_other_answers_are_not_taken_for_it(self, text: str) -> None:
        assert not is_throughput_answer(text)

    @pytest.mark.parametrize("status", [200, 400, 429])
    def test_it_is_transient_with_any_http_status(self, status: int) -> None:
        assert RetryPolicy.retries_answer(status, json.dumps(EMULATOR_SHAPE))
        with pytest.raises(LipaChatThroughputError) as raised:
            read_envelope(status, json.dumps(EMULATOR_SHAPE), PATH)
        assert raised.value.retryable
        assert not isinstance(raised.value, LipaChatRequestError)

    def test_a_plain_400_stays_permanent(self) -> None:
        text = answer(data=None, status="error", message="Request failed.", errors=None)
        assert not RetryPolicy.retries_answer(400, text)


class TestWaiting:
    def test_the_wait_is_the_window_plus_jittered_backoff(self) -> None:
        policy = RetryPolicy(max_retries=3)
        text = json.dumps(EMULATOR_SHAPE)
        for attempt in (1, 2, 3):
            waits = [policy.after_status("POST x", attempt, 400, text, None).wait for _ in range(50)]
            bound = THROUGHPUT_WINDOW + policy.backoff_base * 2 ** (attempt - 1)
            assert all(THROUGHPUT_WINDOW <= wait <= bound for wait in waits)
            assert len(set(waits)) > 1  # jittered, so threads refused together spread out

    def test_retry_after_is_honoured_but_never_below_the_window(self) -> None:
        policy = RetryPolicy()
        text = json.dumps(EMULATOR_SHAPE)
        assert policy.after_status("POST x", 1, 429, text, "5").wait == 5.0
        assert policy.after_status("POST x", 1, 429, text, "0").wait == THROUGHPUT_WINDOW

    def test_throughput_refusals_may_be_retried_more_often_than_faults(self) -> None:
        policy = RetryPolicy(max_retries=2)
        refused = policy.after_status("POST x", 3, 400, json.dumps(EMULATOR_SHAPE), None)
        overloaded = policy.after_status("POST x", 3, 503, "", None)
        assert not policy.gives_up(3, refused) and policy.gives_up(3, overloaded)
        assert policy.gives_up(THROUGHPUT_RETRIES + 1, refused)
        assert RetryPolicy(max_retries=THROUGHPUT_RETRIES + 2).attempts_for(refused) == THROUGHPUT_RETRIES + 3


class TestClient:
    @pytest.mark.parametrize("status", [400, 429, 200])
    def test_a_refused_send_is_retried_and_goes_through_once_the_window_frees_up(self, status: int) -> None:
        waits = Waits(real=True)
        with Emulator(throughput=1, throughput_status=status) as emulator:
            client = LipaChatClient(emulator.base_url, emulator.api_key, timeout=5, max_retries=3, sleep=waits)
            first = client.send(alert(0))
            second = client.send(alert(1))  # within the same second: refused, then retried after the wait
            client.close()

            assert second.wa_id and second.wa_id != first.wa_id
            assert [d["messageId"] for d in emulator.deliveries()] == ["alert-0", "alert-1"]
            assert [a.outcome for a in emulator.arrivals(SENDER)][-1] == "accepted"
            assert emulator.throttled_count(SENDER) == len(waits.waits) >= 1
            assert all(wait >= THROUGHPUT_WINDOW for wait in waits.waits)

    def test_each_retry_warning_names_the_throughput_limit(
        self, throttled_emulator: Emulator, caplog: pytest.LogCaptureFixture
    ) -> None:
        client = LipaChatClient(throttled_emulator.base_url, throttled_emulator.api_key, sleep=Waits(real=False))
        client.send(alert(0))
        with caplog.at_level(logging.WARNING), pytest.raises(LipaChatThroughputError):
            client.send(alert(1))
        first = caplog.records[0].getMessage()
        assert "to 2547******01: attempt 1 of 11 failed (HTTP 400, WhatsApp error 130429" in first

    def test_retries_run_out_with_a_typed_error_naming_the_masked_sender_and_the_remedy(
        self, throttled_emulator: Emulator
    ) -> None:
        waits = Waits(real=False)
        client = LipaChatClient(
            throttled_emulator.base_url, throttled_emulator.api_key, timeout=5, max_retries=2, sleep=waits
        )
        client.send(alert(0))
        with pytest.raises(LipaChatThroughputError) as raised:
            client.send(alert(1))

        error = raised.value
        assert isinstance(error, LipaChatTransientError) and error.retryable
        text = str(error)
        assert f"after {THROUGHPUT_RETRIES + 1} attempt(s)" in text
        assert "throughput limit of sender number 2541******47 was reached" in text
        assert "130429" in text and "rate_limit" in text and "workers" in text
        assert SENDER not in text
        assert throttled_emulator.throttled_count(SENDER) == THROUGHPUT_RETRIES + 1
        assert len(waits.waits) == THROUGHPUT_RETRIES
        assert [d["messageId"] for d in throttled_emulator.deliveries()] == ["alert-0"]

    def test_a_generic_429_keeps_its_own_retry_count(self, lipachat_emulator: Emulator) -> None:
        lipachat_emulator.add_fault("status", status=429, count=10)
        client = LipaChatClient(
            lipachat_emulator.base_url, lipachat_emulator.api_key, max_retries=1, sleep=Waits(real=False)
        )
        with pytest.raises(LipaChatTransientError) as raised:
            client.send(alert(0))
        assert not isinstance(raised.value, LipaChatThroughputError)
        assert len(lipachat_emulator.requests()) == 2
