"""The LipaChat connection form in a real browser: Airflow 3's api-server UI in headless Chromium.

Needs Debian's ``chromium`` (``.ci/run`` installs it) and Playwright's Python package, driving
that executable; no browser is downloaded. A screenshot of the form is kept in ``test-artifacts/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_lipachat.emulator import Emulator
from tests.e2e.airflow_on_loopback import AirflowOnLoopback
from tests.support import AIRFLOW_V3, REPO_ROOT, SANDBOX_SENDER, cli_json

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"

pytestmark = [
    pytest.mark.skipif(not AIRFLOW_V3, reason="Airflow 3's React UI; Airflow 2.11's FAB form is another page"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]


@pytest.fixture
def api_server(tmp_path: Path, lipachat_emulator: Emulator) -> Iterator[AirflowOnLoopback]:
    (tmp_path / "dags").mkdir()
    airflow = AirflowOnLoopback(tmp_path, lipachat_emulator)
    airflow.cli("db", "migrate")
    try:
        airflow.start_api_server()
        yield airflow
    finally:
        airflow.stop()


def test_the_form_shows_the_lipachat_fields_and_saves_a_working_connection(
    api_server: AirflowOnLoopback, lipachat_emulator: Emulator
) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.set_default_timeout(30_000)
        try:
            # Through the menu, as a user gets there: Airflow 3.1 lands a fresh session on the home page.
            page.goto(api_server.base_url, wait_until="networkidle")
            page.get_by_role("button", name="Admin").click()
            page.get_by_role("menuitem", name="Connections").click()
            page.get_by_role("button", name="Add Connection").click()
            page.get_by_label("Connection ID").fill("lipachat_ui")
            connection_type = page.get_by_role("combobox")
            connection_type.click()
            connection_type.fill("LipaChat")
            page.get_by_role("option", name="LipaChat", exact=True).click()

            expect(page.get_by_label("Gateway URL")).to_have_attribute("placeholder", "https://gateway.lipachat.com")
            expect(page.get_by_label("API Key")).to_have_attribute("type", "password")
            for hidden in ("Login", "Schema"):
                expect(page.get_by_label(hidden, exact=True)).to_have_count(0)
            page.get_by_label("Gateway URL").fill(lipachat_emulator.base_url)
            page.get_by_label("API Key").fill(lipachat_emulator.api_key)
            page.screenshot(path=ARTIFACTS / "connection-form-standard.png", full_page=True)

            page.get_by_role("button", name="Extra Fields", exact=True).click()
            for label in ("From number", "Timeout (seconds)", "Max retries", "Rate limit (messages per second)"):
                expect(page.get_by_text(label, exact=True)).to_be_visible()
            page.locator("input[name=element_from_number]").fill(SANDBOX_SENDER)
            page.locator("input[name=element_timeout]").fill("12")
            page.locator("input[name=element_max_retries]").fill("2")
            page.screenshot(path=ARTIFACTS / "connection-form-extras.png", full_page=True)
            page.get_by_role("button", name="Save").click()
            expect(page.get_by_role("dialog")).to_have_count(0)
        except Exception:
            page.screenshot(path=ARTIFACTS / "connection-form-failure.png", full_page=True)
            raise
        finally:
            browser.close()

    [saved] = cli_json(api_server.cli("connections", "get", "lipachat_ui", "--output", "json"))
    assert saved["conn_type"] == "lipachat"
    assert saved["host"] == lipachat_emulator.base_url
    assert saved["password"] == lipachat_emulator.api_key
    assert saved["extra_dejson"]["from_number"] == SANDBOX_SENDER
    assert str(saved["extra_dejson"]["timeout"]) == "12"
    assert str(saved["extra_dejson"]["max_retries"]) == "2"

    api_server.env["AIRFLOW__CORE__TEST_CONNECTION"] = "Enabled"
    assert "Connection success!" in api_server.cli("connections", "test", "lipachat_ui")
    assert [r["path"] for r in lipachat_emulator.requests()] == [f"/api/v1/template/{SANDBOX_SENDER}"]
