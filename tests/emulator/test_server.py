"""The emulator answers as the documented gateway does, remembers what it got, and misbehaves on request."""

from __future__ import annotations

import re
import signal
import socketserver
import subprocess
import sys
from typing import Any

import pytest
import requests

from airflow_provider_lipachat.emulator import Emulator

SENDER = "254110090747"
RECIPIENT = "254711222333"
MEDIA = "/api/v1/whatsapp/media"


def media(**overrides: Any) -> dict[str, Any]:
    body = {
        "messageId": "m-1",
        "mediaType": "IMAGE",
        "mediaUrl": "https://files.example.com/chart.png",
        "caption": "Daily chart",
        "from": SENDER,
        "to": RECIPIENT,
    }
    body.update(overrides)
    return body


def post(emulator: Emulator, path: str, body: Any = None, key: str | None = None, **kwargs: Any) -> requests.Response:
    headers = {"apiKey": emulator.api_key if key is None else key}
    return requests.post(emulator.base_url + path, json=body, headers=headers, timeout=5, **kwargs)


class TestGatewayRoutes:
    def test_media_success_envelope(self, lipachat_emulator: Emulator) -> None:
        answer = post(lipachat_emulator, MEDIA, media())
        assert answer.status_code == 200
        body = answer.json()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}", body["timestamp"])
        assert body["status"] == "success" and body["message"] == "" and body["errors"] is None
        assert body["data"]["messageId"] == "m-1"
        assert body["data"]["waId"].startswith("wamid.")
        assert body["data"]["status"] == "SENT"

    def test_wrong_or_missing_key_gets_the_invalid_credentials_quirk(self, lipachat_emulator: Emulator) -> None:
        for key in ("wrong", ""):
            answer = post(lipachat_emulator, MEDIA, media(), key=key)
            assert answer.status_code == 200
            assert answer.json() == {
                "data": None,
                "status": "success",
                "message": "Invalid credentials",
                "errors": None,
            }
        assert lipachat_emulator.deliveries() == []

    @pytest.mark.parametrize(
        ("overrides", "complaint"),
        [
            ({"mediaUrl": "http://files.example.com/a.png"}, "starting with https://"),
            ({"mediaType": "GIF"}, "mediaType must be one of"),
            ({"mediaType": "AUDIO", "mediaUrl": "https://x.example/a.mp3"}, "caption is allowed only"),
            ({"caption": "x" * 1025}, "caption is allowed only"),
            ({"filename": "chart.png"}, "filename is allowed only on DOCUMENT"),
            ({"to": "0711222333"}, "to must be a phone number"),
            ({"messageId": ""}, "messageId is required"),
        ],
    )
    def test_invalid_fields_get_an_error_envelope(
        self, lipachat_emulator: Emulator, overrides: dict[str, Any], complaint: str
    ) -> None:
        answer = post(lipachat_emulator, MEDIA, media(**overrides))
        assert answer.status_code == 400
        body = answer.json()
        assert body["status"] == "error" and body["data"] is None
        assert complaint in body["message"]
        assert lipachat_emulator.deliveries() == []

    def test_malformed_json_gets_the_framework_400(self, lipachat_emulator: Emulator) -> None:
        answer = requests.post(
            lipachat_emulator.base_url + "/api/v1/whatsapp/message/text",
            data=b"{not json",
            headers={"apiKey": lipachat_emulator.api_key, "Content-Type": "application/json"},
            timeout=5,
        )
        assert answer.status_code == 400
        body = answer.json()
        assert (body["status"], body["error"], body["path"]) == (400, "Bad Request", "/api/v1/whatsapp/message/text")
        assert "data" not in body and "message" not in body

    def test_a_replayed_message_id_answers_the_original_and_is_not_delivered_again(
        self, lipachat_emulator: Emulator
    ) -> None:
        first = post(lipachat_emulator, MEDIA, media()).json()
        second = post(lipachat_emulator, MEDIA, media(caption="changed")).json()
        assert second == first
        assert len(lipachat_emulator.deliveries()) == 1

    def test_text_and_template_routes(self, lipachat_emulator: Emulator) -> None:
        text = {"messageId": "t-1", "message": "Pipeline failed", "from": SENDER, "to": RECIPIENT}
        template = {
            "messageId": "t-2",
            "from": SENDER,
            "to": RECIPIENT,
            "template": {"name": "daily_report", "languageCode": "en", "components": {"body": {"placeholders": []}}},
        }
        assert post(lipachat_emulator, "/api/v1/whatsapp/message/text", text).json()["data"]["waId"]
        assert post(lipachat_emulator, "/api/v1/whatsapp/template", template).json()["data"]["waId"]
        assert [d["route"] for d in lipachat_emulator.deliveries()] == ["text", "template"]

    def test_template_list(self, lipachat_emulator: Emulator) -> None:
        answer = requests.get(
            f"{lipachat_emulator.base_url}/api/v1/template/{SENDER}",
            headers={"apiKey": lipachat_emulator.api_key},
            timeout=5,
        )
        assert answer.json()["data"]["data"][0]["name"] == "daily_report"


class TestSessionWindow:
    def test_enforced_window_refuses_free_form_until_a_session_opens(self) -> None:
        with Emulator(enforce_session_window=True) as emulator:
            closed = post(emulator, MEDIA, media()).json()
            assert closed["status"] == "error" and "24-hour sandbox session window" in closed["message"]
            template = {"messageId": "t", "from": SENDER, "to": RECIPIENT, "template": {"name": "daily_report"}}
            assert post(emulator, "/api/v1/whatsapp/template", template).json()["status"] == "success"
            assert requests.post(f"{emulator.base_url}/_emulator/sessions/+{RECIPIENT}", timeout=5).ok
            assert post(emulator, MEDIA, media()).json()["status"] == "success"


class TestControl:
    def test_messages_requests_and_reset_over_http(self, lipachat_emulator: Emulator) -> None:
        post(lipachat_emulator, MEDIA, media())
        post(lipachat_emulator, MEDIA, media(), key="wrong")
        base = lipachat_emulator.base_url
        [delivery] = requests.get(base + "/_emulator/messages", timeout=5).json()
        assert delivery["payload"] == media()
        outcomes = [r["outcome"] for r in requests.get(base + "/_emulator/requests", timeout=5).json()]
        assert outcomes == ["delivered", "auth"]
        assert requests.post(base + "/_emulator/reset", timeout=5).ok
        assert requests.get(base + "/_emulator/messages", timeout=5).json() == []
        assert post(lipachat_emulator, MEDIA, media()).json()["data"]["messageId"] == "m-1"  # dedup memory cleared too
        assert len(lipachat_emulator.deliveries()) == 1

    def test_faults_are_scripted_over_http_for_one_recipient(self, lipachat_emulator: Emulator) -> None:
        base = lipachat_emulator.base_url
        rule = {"action": "status", "status": 429, "retry_after": "3", "count": 1, "to": "+254700000001"}
        assert requests.post(base + "/_emulator/faults", json=rule, timeout=5).status_code == 201
        assert post(lipachat_emulator, MEDIA, media()).status_code == 200  # another recipient: untouched
        throttled = post(lipachat_emulator, MEDIA, media(to="254700000001", messageId="m-2"))
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
        assert post(lipachat_emulator, MEDIA, media(to="254700000001", messageId="m-2")).status_code == 200
        [fault] = requests.get(base + "/_emulator/faults", timeout=5).json()
        assert fault["fired"] == 1

    @pytest.mark.parametrize(
        ("rule", "complaint"),
        [
            ({"action": "explode"}, "action='explode'"),
            ({"action": "status"}, "status=None"),
            ({"action": "status", "status": 200}, "status=200"),
            ({"action": "delay"}, "needs a delay"),
            ({"action": "delay", "delay": 600}, "delay=600"),
            ({"action": "reset", "count": 0}, "count=0"),
            ({"action": "reset", "colour": "red"}, "unknown fault fields ['colour']"),
        ],
    )
    def test_impossible_faults_are_refused_with_the_reason(
        self, lipachat_emulator: Emulator, rule: dict[str, Any], complaint: str
    ) -> None:
        answer = requests.post(lipachat_emulator.base_url + "/_emulator/faults", json=rule, timeout=5)
        assert answer.status_code == 400
        assert complaint in answer.json()["error"]

    def test_html_fault_answers_an_html_page(self, lipachat_emulator: Emulator) -> None:
        lipachat_emulator.add_fault("html", status=503)
        answer = post(lipachat_emulator, MEDIA, media())
        assert answer.status_code == 503
        assert answer.headers["Content-Type"] == "text/html"
        assert "<h1>503 Service Unavailable</h1>" in answer.text

    def test_reset_fault_closes_the_connection_without_an_answer(self, lipachat_emulator: Emulator) -> None:
        lipachat_emulator.add_fault("reset")
        with pytest.raises(requests.ConnectionError):
            post(lipachat_emulator, MEDIA, media())
        assert lipachat_emulator.deliveries() == []


class TestServer:
    def test_listens_on_loopback_only(self) -> None:
        with pytest.raises(ValueError, match="loopback only"):
            Emulator(host="0.0.0.0")  # noqa: S104 - the point of the test

    def test_each_response_leaves_in_one_write(
        self, lipachat_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        writes: list[int] = []
        original = socketserver._SocketWriter.write

        def counting_write(self: Any, data: bytes) -> int:
            writes.append(len(data))
            return original(self, data)

        monkeypatch.setattr(socketserver._SocketWriter, "write", counting_write)
        with requests.Session() as session:
            session.headers["apiKey"] = lipachat_emulator.api_key
            for n in range(3):
                answer = session.post(lipachat_emulator.base_url + MEDIA, json=media(messageId=f"w-{n}"), timeout=5)
                assert answer.ok
        assert len(writes) == 3
        assert all(size > 200 for size in writes)  # headers and body together

    def test_command_line_serves_until_terminated(self) -> None:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow_provider_lipachat.emulator", "--port", "0", "--api-key", "cli-key"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            base_url = re.search(r"http://127\.0\.0\.1:\d+", line)
            assert base_url, line
            answer = requests.post(base_url.group() + MEDIA, json=media(), headers={"apiKey": "cli-key"}, timeout=5)
            assert answer.json()["status"] == "success"
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0

    def test_command_line_refuses_a_public_address(self) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "airflow_provider_lipachat.emulator", "--host", "0.0.0.0"],  # noqa: S104
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2
        assert "loopback only" in done.stderr
