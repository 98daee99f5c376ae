"""Policy staff in a real browser: errors and changes marked on the diagram, publishing, the modeler."""
import pytest

from tests.conftest import PASSWORD
from playwright.sync_api import sync_playwright

from tests.test_browser import launch_chromium, shot
from tests.test_publishing import MAIN, main_diagram

pytestmark = pytest.mark.browser


@pytest.fixture
def desk():
    """A chromium page at desktop width: policy staff edit diagrams at a desk."""
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.problems = []
        page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
        page.on("pageerror", lambda e: page.problems.append(str(e)))
        page.on("response", lambda r: r.status >= 400 and r.status != 403 and page.problems.append(f"{r.status} {r.url}"))
        yield page
        browser.close()


def login(page, server, user="pol"):
    page.goto(f"{server}/login")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def test_a_draft_error_is_marked_on_its_element_and_a_published_change_on_the_diff(server, desk, api):
    broken = main_diagram().replace('<bpmn:flowNodeRef>close_case</bpmn:flowNodeRef>', '')
    draft = api("pol").post("/api/process/drafts", json={"files": {MAIN: broken}}).get_json()
    assert draft["errors"][0]["element"] == "close_case"
    login(desk, server)
    desk.goto(f"{server}/policy/drafts/{draft['id']}")
    desk.wait_for_selector(".diagram[data-drawn]")
    assert desk.locator('.djs-element.mark-error[data-element-id="close_case"]').count() == 1
    assert "close_case" in desk.locator(".errors").inner_text()
    shot(desk, "policy-draft-error")

    renamed = main_diagram().replace('name="Close the case"', 'name="Close the case now"')
    good = api("pol").post("/api/process/drafts", json={"files": {MAIN: renamed}}).get_json()
    desk.goto(f"{server}/policy/drafts/{good['id']}")
    desk.wait_for_selector(".diagram[data-drawn]")
    assert desk.locator('.djs-element.mark-changed[data-element-id="close_case"]').count() == 1
    desk.fill("#note", "A clearer title")
    desk.click("text=Publish as the new version")
    desk.wait_for_url(f"{server}/policy/")
    assert "A clearer title" in desk.locator(".versions li").first.inner_text()
    desk.click("text=changes from")
    desk.click("text=Show them on the diagrams")
    desk.wait_for_selector(".diagram[data-drawn]")
    assert desk.locator('.djs-element.mark-changed[data-element-id="close_case"]').count() == 1
    shot(desk, "policy-diff")
    assert desk.problems == []


def test_the_modeler_saves_an_edit_as_a_draft(server, desk, staff):
    login(desk, server)
    desk.goto(f"{server}/policy/edit?file={MAIN}")
    desk.wait_for_selector("#modeler[data-ready]")
    desk.evaluate("""() => {
        const m = window.incidentsModeler;
        const task = m.get('elementRegistry').get('close_case');
        m.get('modeling').updateProperties(task, { name: 'Close the case (edited)' });
    }""")
    shot(desk, "policy-modeler")
    desk.click("text=Save as a draft and check it")
    desk.wait_for_selector(".diagram[data-drawn]")
    assert "valid" in desk.locator("h1 .status").inner_text()
    row = desk.locator("tr.change-changed", has_text="close_case")
    assert "name" in row.inner_text()
    assert desk.problems == []


def test_case_staff_cannot_use_the_policy_pages(server, desk, staff):
    login(desk, server, "olga")
    response = desk.goto(f"{server}/policy/")
    assert response.status == 403
    assert desk.goto(f"{server}/policy/edit").status == 403
