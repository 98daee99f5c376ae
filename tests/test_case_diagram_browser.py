"""A real browser draws a case on its own process version with bpmn-js, marks where it stands, and steps through it;
the printable export report prints to PDF. Screenshots land in test-artifacts/."""
import subprocess
import sys

import pytest
from playwright.sync_api import sync_playwright

from engine.config import ROOT
from tests.conftest import MASTER_KEY, PASSWORD
from tests.test_api import do, open_case
from tests.test_audit_pages import RENAMED_FLOW, moved_case
from tests.test_browser import ARTIFACTS, launch_chromium

pytestmark = pytest.mark.browser


@pytest.fixture
def desktop():
    """A chromium page at desktop width, with every console error collected."""
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.errors = []
        # a failed load is named by the response (below); the browser's own favicon request may 404
        page.on("console", lambda message: message.type == "error" and not message.text.startswith(
            "Failed to load resource") and page.errors.append(message.text))
        page.on("pageerror", lambda err: page.errors.append(str(err)))
        page.on("response", lambda reply: reply.status >= 400 and not reply.url.endswith("/favicon.ico")
                and page.errors.append(f"{reply.status} {reply.url}"))
        yield page
        browser.close()


def markers(page, kind):
    """Element ids carrying a marker class in the drawn diagram."""
    return sorted(page.eval_on_selector_all(f".djs-element.m-{kind}", "els => els.map(e => e.dataset.elementId)"))


def rendered(page, step):
    page.wait_for_selector(f"#case-diagram[data-rendered=yes][data-step='{step}']", timeout=20000)


def test_the_case_is_drawn_on_its_diagram_and_the_step_control_redraws_each_event(server, desktop, api):  # noqa: F811
    page = desktop
    cid = open_case(api)["id"]
    do(api, "olga", cid, "call_incident_team", team_member_contacted="Tess", called_at="2026-11-24T10:00")
    do(api, "olga", cid, "assess_safety", general_threat=True)
    page.goto(f"{server}/login")
    page.fill("#username", "audrey")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{server}/cases/{cid}/diagram")
    rendered(page, 4)  # the latest event: the auditor's own view, drawn on the file of the last task
    assert page.get_attribute("#case-diagram", "data-file") == "safety_gate.bpmn"
    assert page.inner_text("#verdict").startswith("Replay: verified: 4 events")
    assert markers(page, "ready") == ["summon_security"]
    assert {"assess_safety", "gw_general_threat"} <= set(markers(page, "completed"))
    assert markers(page, "path")  # the flows taken are drawn as taken
    assert "general_threat" in page.inner_text("#data")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "case-diagram-latest.png"), full_page=True)

    page.click("#step-prev")
    page.click("#step-prev")
    rendered(page, 2)
    assert page.get_attribute("#case-diagram", "data-file") == "incident_response.bpmn"
    assert markers(page, "ready") == []  # assess_safety waits inside the call activity, drawn in its own file
    assert markers(page, "active") == ["safety_gate"]
    assert "call_incident_team" in markers(page, "completed")
    assert "general_threat" not in page.inner_text("#data")  # the data as it stood then
    assert page.inner_text("#step-label").startswith("Event 2 of 4 · task completed: call_incident_team")
    page.fill("#step", "1")
    page.dispatch_event("#step", "input")
    rendered(page, 1)
    assert markers(page, "ready") == ["call_incident_team"]
    assert "call_incident_team" not in markers(page, "completed")
    assert page.inner_text("#ready") == "call_incident_team"
    page.click("button[data-file='safety_gate.bpmn']")
    # a selector wait, not wait_for_function: the page's CSP forbids the eval its polling needs
    page.wait_for_selector("#case-diagram[data-file='safety_gate.bpmn']", state="attached")
    assert markers(page, "completed") == []  # nothing happened there yet after event 1
    page.screenshot(path=str(ARTIFACTS / "case-diagram-step-1.png"), full_page=True)
    assert page.errors == []  # no CSP violation, no script error


def label(page, element_id):
    """The text drawn for an element."""
    return page.text_content(f".djs-element[data-element-id='{element_id}']") or ""


def test_a_moved_case_is_drawn_on_the_version_each_step_ran_on(server, desktop, api, system, staff, tmp_path):
    page = desktop
    cid, first, second = moved_case(api, system, staff, tmp_path)
    old_flow, new_flow = RENAMED_FLOW
    page.goto(f"{server}/login")
    page.fill("#username", "audrey")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{server}/cases/{cid}/diagram")
    rendered(page, 11)  # the auditor's own view, after the move: the second version
    assert page.get_attribute("#case-diagram", "data-version") == second
    note = page.inner_text("#version")
    assert note.startswith(f"Drawn on process version {second[:12]}, the version in force at event 11.")
    assert f"The case moved from version {first[:12]} to {second[:12]} at event 9." in note
    page.click("button[data-file='safety_gate.bpmn']")
    page.wait_for_selector("#case-diagram[data-rendered=yes][data-file='safety_gate.bpmn']", timeout=20000)
    assert new_flow in markers(page, "path") and old_flow not in markers(page, "path")
    assert "Check everyone is safe" in label(page, "assess_safety")

    page.fill("#step", "3")  # before the move: the first version's diagram, marked as that version drew it
    page.dispatch_event("#step", "input")
    rendered(page, 3)
    assert page.get_attribute("#case-diagram", "data-version") == first
    assert page.get_attribute("#case-diagram", "data-file") == "safety_gate.bpmn"
    assert old_flow in markers(page, "path") and new_flow not in markers(page, "path")
    assert "assess_safety" in markers(page, "completed") and markers(page, "ready") == ["ask_victim_law_enforcement"]
    assert "Assess safety" in label(page, "assess_safety")
    note = page.inner_text("#version")
    assert note.startswith(f"Drawn on process version {first[:12]}, the version in force at event 3.")
    assert note.endswith(f"It runs on version {second[:12]} now.")
    page.screenshot(path=str(ARTIFACTS / "case-diagram-before-move.png"), full_page=True)

    page.fill("#step", "8")  # crossing the move with the step control switches the diagram
    page.dispatch_event("#step", "input")
    rendered(page, 8)
    assert page.get_attribute("#case-diagram", "data-version") == first
    page.click("#step-next")
    rendered(page, 9)
    assert page.get_attribute("#case-diagram", "data-version") == second
    assert page.inner_text("#step-label").startswith("Event 9 of 11 · case moved")
    assert page.get_attribute("#case-diagram", "data-file") == "initial_report.bpmn"
    assert page.inner_text("#version").startswith(f"Drawn on process version {second[:12]}, the version in force "
                                                  "at event 9.")
    page.click("#step-prev")
    rendered(page, 8)
    assert page.get_attribute("#case-diagram", "data-version") == first
    assert page.errors == []


def test_the_export_report_prints_to_pdf(system, api, tmp_path, desktop):
    cid = open_case(api)["id"]
    do(api, "olga", cid, "call_incident_team", team_member_contacted="Tess", called_at="2026-11-24T10:00")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "INCIDENTS_DATABASE_URL": system.settings.database_url,
           "INCIDENTS_MASTER_KEY": MASTER_KEY, "INCIDENTS_SECRET_KEY": "x"}
    result = subprocess.run([sys.executable, "-m", "cli.main", "export", str(cid), "--output",
                             str(tmp_path / "case.jsonl")], env=env, capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    desktop.goto((tmp_path / "case.html").as_uri())
    assert desktop.inner_text("h1") == f"Case #{cid}: audit report"
    ARTIFACTS.mkdir(exist_ok=True)
    desktop.screenshot(path=str(ARTIFACTS / "export-report.png"), full_page=True)
    pdf = desktop.pdf(path=str(ARTIFACTS / "export-report.pdf"), format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000
    desktop.emulate_media(media="print")
    assert desktop.eval_on_selector("body", "b => getComputedStyle(b).maxWidth") == "none"
