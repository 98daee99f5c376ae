"""The notifications page in a real browser at phone width: each status readable, nothing wider than the phone."""
import pytest
from sqlalchemy import select

from engine import cases, delivery
from engine.models import Notification, utcnow
from tests.conftest import PASSWORD
from tests.test_browser import fits_the_phone, page, shot  # noqa: F401 (the page fixture)

pytestmark = pytest.mark.browser


def test_the_team_reads_every_notification_and_its_status_on_a_phone(system, staff, server, page):
    with system.writing() as uow:
        cases.open_case(uow, system.processes, staff["onsite"], {
            "event_name": "HackPhone", "event_format": "in_person", "region": "europe", "reporter_anonymous": True})
    delivery.deliver(system)  # no SMTP server: both stay in the outbox
    with system.writing() as uow:
        failed = uow.session.scalars(select(Notification).where(Notification.recipient == "bea")).one()
        failed.status, failed.attempts, failed.done_at = "failed", 8, utcnow()
        failed.detail = "gave up after 8 attempts: cannot connect to the SMTP server (ConnectionRefusedError)"
        uow.commit()
    page.goto(f"{server}/login")
    page.fill("#username", "tom")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("text=Notifications")
    assert "No notifications yet." in page.locator("main").inner_text()
    page.click("text=Everyone's")
    text = page.locator("main").inner_text()
    assert "email to olga" in text and "shown here only" in text
    assert "email to bea" in text and "not delivered" in text and "8 attempts" in text
    shot(page, "10-notifications")
    assert fits_the_phone(page)
