"""A real browser (Debian's chromium through Playwright) at phone width completes tasks through the pages."""
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from engine.config import ROOT
from tests.conftest import PASSWORD

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
pytestmark = pytest.mark.browser
# a phone: what every phone-width page is checked at (fits_the_phone compares with its width)
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


def launch_chromium(playwright):
    """Debian's chromium, headless and quiet (no network of its own), as every browser test drives it."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: run `make test`, which installs it")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"])


@pytest.fixture
def page():
    """A chromium page with a 390 px wide phone viewport."""
    with sync_playwright() as p:
        browser = launch_chromium(p)
        context = browser.new_context(**PHONE)
        yield context.new_page()
        browser.close()


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def fits_the_phone(page):
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]


def test_onsite_staff_opens_a_case_and_completes_a_task_on_a_phone(server, page, staff):
    page.goto(f"{server}/login")
    page.fill("#username", "olga")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("text=Open a case")
    page.fill("#in-event_name", "HackPhone")
    page.check("input[name=event_format][value=in_person]")
    page.check("input[name=region][value=north_america]")
    page.check("input[name=reporter_anonymous][value=true]")
    shot(page, "01-intake")
    assert fits_the_phone(page)
    page.click("button.primary")
    assert page.locator("h1").inner_text().startswith("Case #")
    page.click("text=Call the Incident Response Team")
    assert "+1 409 202 6060" in page.locator(".instructions").inner_text()
    page.fill("#in-team_member_contacted", "Tess")
    page.click("button.primary")  # the time is missing
    error = page.locator("#field-called_at .error")
    assert error.inner_text() == "Missing data for required field."
    assert page.input_value("#in-team_member_contacted") == "Tess"
    shot(page, "02-task-with-error")
    assert fits_the_phone(page)
    page.fill("#in-called_at", "2026-11-24T10:00")
    page.click("button.primary")
    assert "Assess safety" in page.locator("main").inner_text()
    history = page.locator(".history").inner_text()
    assert "task completed: Call the Incident Response Team" in history and "call_incident_team" not in history
    shot(page, "03-case")
    assert fits_the_phone(page)
    page.click("text=Assess safety")
    page.check("input[name=general_threat][value=true]")
    page.click("button.primary")
    assert "Summon security or police" in page.locator("main").inner_text()
