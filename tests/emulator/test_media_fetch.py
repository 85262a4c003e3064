"""The emulator fetches loopback media after accepting a send, and fails the message (131053) as WhatsApp would."""

from __future__ import annotations

import time

import requests

from airflow_provider_lipachat.emulator import Emulator
from airflow_provider_lipachat.emulator.media import MediaFetch
from tests.media_host import PDF, PNG, WEBP, MediaHost

HEADERS = {"apiKey": "lipachat-emulator-key", "Content-Type": "application/json"}


def send_media(emulator: Emulator, url: str, media_type: str, to: str = "254711000001") -> str:
    payload = {"messageId": f"m-{to}-{url}", "mediaType": media_type, "mediaUrl": url, "from": "254110090747", "to": to}
    answer = requests.post(emulator.base_url + "/api/v1/whatsapp/media", json=payload, headers=HEADERS, timeout=5)
    return str(answer.json()["data"]["waId"])


def fetched(emulator: Emulator, count: int) -> list[MediaFetch]:
    return emulator.media_fetches(wait_for=count)


def status_of(emulator: Emulator, wa_id: str) -> tuple[str, str]:
    page = requests.get(emulator.base_url + "/api/v1/whatsapp/message?page=0&size=100", headers=HEADERS, timeout=5)
    [item] = [m for m in page.json()["data"] if m["waMessageId"] == wa_id]
    return item["status"], item["metadata"]


def test_a_good_file_is_fetched_whole_and_the_lifecycle_goes_on(
    lipachat_emulator: Emulator, media_host: MediaHost
) -> None:
    lipachat_emulator.script_status("delivered", delivered_after=0.2)
    url = media_host.put("/report.pdf", PDF, "application/pdf")
    wa_id = send_media(lipachat_emulator, url + "?X-Amz-Signature=abc", "DOCUMENT")

    [fetch] = fetched(lipachat_emulator, 1)
    assert (fetch.wa_id, fetch.body, fetch.failure) == (wa_id, PDF, None)
    assert fetch.url == url + "?***"
    assert media_host.requests_for("/report.pdf") == [("GET", "/report.pdf?X-Amz-Signature=abc", None)]
    time.sleep(0.3)
    assert status_of(lipachat_emulator, wa_id)[0] == "DELIVERED"


def test_a_missing_file_or_one_the_type_does_not_allow_fails_the_message_with_131053(
    lipachat_emulator: Emulator, media_host: MediaHost
) -> None:
    lipachat_emulator.script_status("read", delivered_after=0.5)
    missing = send_media(lipachat_emulator, media_host.base_url + "/gone.png", "IMAGE", to="254711000001")
    webp = send_media(lipachat_emulator, media_host.put("/a.png", WEBP, "image/webp"), "IMAGE", to="254711000002")

    failures = {f.wa_id: f.failure for f in fetched(lipachat_emulator, 2)}
    assert failures[missing] is not None and "answered HTTP 404" in failures[missing]
    assert failures[webp] is not None and "image/webp" in failures[webp]
    for wa_id in (missing, webp):
        status, metadata = status_of(lipachat_emulator, wa_id)
        assert status == "FAILED" and '"code": 131053' in metadata


def test_links_that_are_not_loopback_are_never_fetched(lipachat_emulator: Emulator, media_host: MediaHost) -> None:
    lipachat_emulator.script_status("delivered", delivered_after=0.0)
    wa_id = send_media(lipachat_emulator, "https://cdn.example.org/a.png", "IMAGE")
    good = send_media(lipachat_emulator, media_host.put("/b.png", PNG, "image/png"), "IMAGE", to="254711000002")

    assert [f.wa_id for f in fetched(lipachat_emulator, 1)] == [good]
    time.sleep(0.2)
    assert [f.wa_id for f in lipachat_emulator.media_fetches()] == [good]
    assert status_of(lipachat_emulator, wa_id)[0] == "DELIVERED"
