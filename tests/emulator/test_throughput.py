"""The emulator's per-sender-number throughput limit: WhatsApp's 130429, counted in a sliding one-second window."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
import requests

from airflow_provider_lipachat.emulator import Emulator, ThroughputLimit, busiest_window
from airflow_provider_lipachat.emulator.throughput import ThroughputSpecError

SENDER = "254110090747"
OTHER_SENDER = "254110090748"
TEXT = "/api/v1/whatsapp/message/text"
THROTTLED_ENVELOPE_ERRORS = [
    {
        "code": 130429,
        "title": "Rate limit hit",
        "message": "(#130429) Rate limit hit",
        "error_data": {"details": "Cloud API message throughput has been reached."},
    }
]


def text(n: int, sender: str = SENDER) -> dict[str, Any]:
    return {"messageId": f"{sender}-{n}", "from": sender, "to": f"2547110000{n:02d}", "message": "Report ready"}


def send(emulator: Emulator, body: dict[str, Any]) -> requests.Response:
    return requests.post(emulator.base_url + TEXT, json=body, headers={"apiKey": emulator.api_key}, timeout=5)


def wait_until(moment: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``moment`` (at most 10 s)."""
    time.sleep(min(max(0.0, moment - time.monotonic()), 10.0))


class TestBusiestWindow:
    def test_no_moments_is_zero(self) -> None:
        assert busiest_window([]) == 0

    def test_counts_the_most_moments_in_any_window_of_one_second(self) -> None:
        assert busiest_window([0.0, 0.3, 0.6, 0.9, 1.0, 1.2, 1.3]) == 5  # [0.3, 1.3) holds 0.3 .. 1.2
        assert busiest_window([5.0, 5.0, 5.0]) == 3

    def test_the_window_is_half_open_so_moments_one_second_apart_are_not_together(self) -> None:
        assert busiest_window([0.0, 1.0, 2.0, 3.0]) == 1
        assert busiest_window([0.0, 0.999, 1.998]) == 2

    def test_order_of_the_moments_does_not_matter(self) -> None:
        assert busiest_window([3.0, 0.5, 2.9, 0.4, 2.5]) == 3

    def test_another_width(self) -> None:
        assert busiest_window([0.0, 1.5, 1.9, 3.0], width=2.0) == 3


class TestThroughputLimit:
    @pytest.mark.parametrize(
        ("per_second", "window", "budget"),
        [(10, 1.0, 10), (80, 1.0, 80), (2.5, 1.0, 2), (1, 1.0, 1), (0.5, 2.0, 1), (0.1, 10.0, 1)],
    )
    def test_n_per_second_is_a_budget_per_window(self, per_second: float, window: float, budget: int) -> None:
        limit = ThroughputLimit.parse(per_second)
        assert (limit.window, limit.budget) == (pytest.approx(window), budget)

    def test_admits_fewer_than_the_budget_accepted_in_the_window_ending_now(self) -> None:
        limit = ThroughputLimit.parse(2)

        assert limit.admits([], 10.0)
        assert limit.admits([10.0], 10.5)
        assert not limit.admits([10.0, 10.2], 10.99)
        assert limit.admits([10.0, 10.2], 11.0)  # the first left the window
        assert limit.admits([8.0, 9.0, 9.5, 10.0], 10.6)  # only the window's own count

    @pytest.mark.parametrize(
        ("per_second", "http_status", "complaint"),
        [
            (0, 400, "per_second=0"),
            (-3, 400, "per_second=-3"),
            (float("inf"), 400, "per_second=inf"),
            ("fast", 400, "per_second='fast'"),
            (True, 400, "per_second=True"),
            (10, 503, "http_status=503"),
        ],
    )
    def test_impossible_limits_are_refused_with_the_reason(
        self, per_second: object, http_status: object, complaint: str
    ) -> None:
        with pytest.raises(ThroughputSpecError, match=re.escape(complaint)):
            ThroughputLimit.parse(per_second, http_status)


class TestLimit:
    def test_the_send_over_the_budget_within_a_second_gets_whatsapps_130429(self) -> None:
        with Emulator(throughput=3) as emulator:
            answers = [send(emulator, text(n)) for n in range(4)]

            arrivals = emulator.arrivals(SENDER)
            assert arrivals[3].at - arrivals[0].at < 1.0, "four sends over loopback took a second: machine overloaded"
            assert [a.status_code for a in answers] == [200, 200, 200, 400]
            refused = answers[3].json()
            assert refused["status"] == "error" and refused["data"] is None
            assert refused["message"] == "(#130429) Rate limit hit: Cloud API message throughput has been reached."
            assert refused["errors"] == THROTTLED_ENVELOPE_ERRORS
            assert [(a.to, a.outcome) for a in arrivals] == [
                (text(n)["to"], "accepted" if n < 3 else "throttled") for n in range(4)
            ]
            assert emulator.throttled_count(SENDER) == 1

    def test_a_refused_send_is_not_a_message(self) -> None:
        with Emulator(throughput=1) as emulator:
            send(emulator, text(0))
            assert send(emulator, text(1)).json()["errors"][0]["code"] == 130429

            assert [d["messageId"] for d in emulator.deliveries()] == [text(0)["messageId"]]
            listed = emulator.state.message_page(0, 100)["data"]
            assert [item["contact"]["phoneNumber"] for item in listed] == [text(0)["to"]]
            assert [r["outcome"] for r in emulator.requests()] == ["delivered", "throttled"]

    def test_sends_are_accepted_again_once_the_window_has_passed(self) -> None:
        with Emulator(throughput=2) as emulator:
            for n in range(3):
                send(emulator, text(n))
            first = emulator.arrivals(SENDER)[0]
            wait_until(first.at + 1.05)

            assert send(emulator, text(3)).json()["data"]["waId"].startswith("wamid.")
            assert send(emulator, text(2)).status_code == 200  # the refused messageId, tried again, goes through
            assert [a.outcome for a in emulator.arrivals(SENDER)] == [
                "accepted",
                "accepted",
                "throttled",
                "accepted",
                "accepted",
            ]

    def test_a_refused_send_spends_no_budget(self) -> None:
        with Emulator(throughput=1) as emulator:
            send(emulator, text(0))
            first = emulator.arrivals(SENDER)[0]
            wait_until(first.at + 0.5)
            assert send(emulator, text(1)).status_code == 400  # within the first's second
            wait_until(first.at + 1.05)  # the first has left the window; the refusal has not

            assert send(emulator, text(2)).status_code == 200
            assert [a.outcome for a in emulator.arrivals(SENDER)] == ["accepted", "throttled", "accepted"]

    def test_each_sender_number_has_its_own_budget(self) -> None:
        with Emulator(throughput=2) as emulator:
            for n in range(3):
                send(emulator, text(n, SENDER))
                send(emulator, text(n, "+" + OTHER_SENDER))

            assert emulator.throttled_count(SENDER) == 1
            assert emulator.throttled_count(OTHER_SENDER) == 1
            assert emulator.throttled_count() == 2
            assert len(emulator.deliveries()) == 4

    def test_a_repeated_message_id_is_answered_from_memory_without_spending_budget(self) -> None:
        with Emulator(throughput=1) as emulator:
            first = send(emulator, text(0)).json()
            for _ in range(3):
                assert send(emulator, text(0)).json()["data"]["waId"] == first["data"]["waId"]

            assert [a.outcome for a in emulator.arrivals()] == ["accepted"]

    def test_another_http_status_can_carry_the_refusal(self) -> None:
        for status in (429, 200):
            with Emulator(throughput=1, throughput_status=status) as emulator:
                send(emulator, text(0))
                refused = send(emulator, text(1))
                assert refused.status_code == status
                assert refused.json()["errors"] == THROTTLED_ENVELOPE_ERRORS

    def test_off_by_default_yet_every_arrival_is_recorded(self, lipachat_emulator: Emulator) -> None:
        with requests.Session() as session:
            session.headers["apiKey"] = lipachat_emulator.api_key
            for n in range(30):
                assert session.post(lipachat_emulator.base_url + TEXT, json=text(n), timeout=5).status_code == 200

        arrivals = lipachat_emulator.arrivals(SENDER)
        assert lipachat_emulator.throughput is None
        assert len(arrivals) == 30 and all(a.accepted for a in arrivals)
        assert [a.at for a in arrivals] == sorted(a.at for a in arrivals)
        assert all(abs(a.wall - time.time()) < 60 for a in arrivals)
        assert lipachat_emulator.throttled_count() == 0


class TestControl:
    def test_set_read_and_clear_the_limit_over_http(self, lipachat_emulator: Emulator) -> None:
        base = lipachat_emulator.base_url
        answer = requests.post(base + "/_emulator/throughput", json={"per_second": 2}, timeout=5)
        assert answer.status_code == 200
        assert answer.json()["limit"] == {"per_second": 2.0, "window": 1.0, "budget": 2, "http_status": 400}
        for n in range(3):
            send(lipachat_emulator, text(n))

        report = requests.get(base + "/_emulator/throughput", timeout=5).json()
        assert report["senders"] == {SENDER: {"arrivals": 3, "accepted": 2, "throttled": 1, "busiest_window": 2}}
        arrivals = requests.get(base + "/_emulator/arrivals", params={"sender": "+" + SENDER}, timeout=5).json()
        assert [(a["messageId"], a["accepted"], a["outcome"]) for a in arrivals] == [
            (text(0)["messageId"], True, "accepted"),
            (text(1)["messageId"], True, "accepted"),
            (text(2)["messageId"], False, "throttled"),
        ]
        assert set(arrivals[0]) == {"sender", "to", "messageId", "route", "monotonic", "time", "accepted", "outcome"}
        assert requests.get(base + "/_emulator/arrivals", params={"sender": OTHER_SENDER}, timeout=5).json() == []

        cleared = requests.post(base + "/_emulator/throughput", json={"per_second": None}, timeout=5)
        assert cleared.json()["limit"] is None
        assert send(lipachat_emulator, text(3)).status_code == 200
        assert lipachat_emulator.throughput is None

    def test_the_status_of_a_refusal_is_set_over_http(self, lipachat_emulator: Emulator) -> None:
        spec = {"per_second": 1, "http_status": 429}
        assert requests.post(lipachat_emulator.base_url + "/_emulator/throughput", json=spec, timeout=5).ok
        send(lipachat_emulator, text(0))
        assert send(lipachat_emulator, text(1)).status_code == 429

    @pytest.mark.parametrize(
        ("spec", "complaint"),
        [
            ({}, '{"per_second": N}'),
            ([5], '{"per_second": N}'),
            ({"per_second": 0}, "per_second=0"),
            ({"per_second": 5, "http_status": 302}, "http_status=302"),
            ({"per_second": 5, "burst": 10}, "unknown throughput fields ['burst']"),
        ],
    )
    def test_impossible_settings_are_refused_with_the_reason(
        self, lipachat_emulator: Emulator, spec: Any, complaint: str
    ) -> None:
        answer = requests.post(lipachat_emulator.base_url + "/_emulator/throughput", json=spec, timeout=5)
        assert answer.status_code == 400
        assert complaint in answer.json()["error"]
        assert lipachat_emulator.throughput is None

    def test_the_python_api_sets_and_clears_it_too(self, lipachat_emulator: Emulator) -> None:
        lipachat_emulator.set_throughput(1)
        send(lipachat_emulator, text(0))
        assert send(lipachat_emulator, text(1)).status_code == 400
        lipachat_emulator.set_throughput(None)
        assert send(lipachat_emulator, text(1)).status_code == 200

    def test_reset_forgets_the_arrivals_and_keeps_the_limit(self) -> None:
        with Emulator(throughput=1) as emulator:
            send(emulator, text(0))
            send(emulator, text(1))
            requests.post(emulator.base_url + "/_emulator/reset", timeout=5)

            assert emulator.arrivals() == []
            assert emulator.throughput == ThroughputLimit(1.0)

    def test_an_impossible_constructor_limit_is_refused(self) -> None:
        with pytest.raises(ValueError, match="per_second=0"):
            Emulator(throughput=0)


class TestCommandLine:
    def test_the_throughput_flag_limits_each_sender(self) -> None:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow_provider_lipachat.emulator", "--port", "0", "--throughput", "2"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            found = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
            assert found
            base = found.group()
            with requests.Session() as session:
                session.headers["apiKey"] = "lipachat-emulator-key"
                codes = [session.post(base + TEXT, json=text(n), timeout=5).status_code for n in range(3)]
            report = requests.get(base + "/_emulator/throughput", timeout=5).json()
            arrivals = requests.get(base + "/_emulator/arrivals", timeout=5).json()
            assert arrivals[2]["monotonic"] - arrivals[0]["monotonic"] < 1.0, "machine overloaded"
            assert codes == [200, 200, 400]
            assert report["limit"]["per_second"] == 2.0
            assert report["senders"][SENDER]["throttled"] == 1
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0

    def test_an_impossible_flag_is_refused(self) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "airflow_provider_lipachat.emulator", "--port", "0", "--throughput", "0"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2
        assert "per_second=0.0" in done.stderr
