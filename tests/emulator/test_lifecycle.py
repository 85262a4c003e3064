"""Status lifecycles scripted over the emulator's HTTP control surface."""

from __future__ import annotations

import time

import requests

from airflow_provider_lipachat.emulator import Emulator


def test_a_failure_scripted_over_http_shows_on_the_message_list_with_its_code() -> None:
    with Emulator() as emulator:
        scripted = requests.post(
            f"{emulator.base_url}/_emulator/statuses",
            json={"lifecycle": "failed", "to": "+254700000002", "code": 131047, "delivered_after": 0},
            timeout=5,
        )
        assert scripted.status_code == 201 and scripted.json()["to"] == "254700000002"
        headers = {"apiKey": emulator.api_key}
        for to in ("254700000001", "254700000002"):
            body = {"messageId": to, "from": "254110090747", "to": to, "message": "hi"}
            requests.post(f"{emulator.base_url}/api/v1/whatsapp/message/text", json=body, headers=headers, timeout=5)
        time.sleep(0.05)
        listed = requests.get(
            f"{emulator.base_url}/api/v1/whatsapp/message?page=0&size=100", headers=headers, timeout=5
        )
        items = {m["contact"]["phoneNumber"]: m for m in listed.json()["data"]}
        assert items["254700000002"]["status"] == "FAILED"
        assert '"code": 131047' in items["254700000002"]["metadata"]
        assert items["254700000001"]["status"] == "SENT"  # the default: delivered after about a second


def test_a_script_the_emulator_cannot_follow_is_refused_naming_the_field() -> None:
    with Emulator() as emulator:
        answer = requests.post(f"{emulator.base_url}/_emulator/statuses", json={"lifecycle": "lost"}, timeout=5)
        assert answer.status_code == 400 and "lifecycle='lost'" in answer.json()["error"]
        answer = requests.post(f"{emulator.base_url}/_emulator/statuses", json={"read_after": -1}, timeout=5)
        assert answer.status_code == 400 and "read_after" in answer.json()["error"]


def test_a_page_size_over_a_hundred_is_refused_like_a_framework_error() -> None:
    with Emulator() as emulator:
        answer = requests.get(
            f"{emulator.base_url}/api/v1/whatsapp/message?page=0&size=500",
            headers={"apiKey": emulator.api_key},
            timeout=5,
        )
        assert answer.status_code == 400 and answer.json()["error"] == "Bad Request"
