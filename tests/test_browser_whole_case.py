"""One whole case, from intake to closing, through the pages in Debian's chromium at phone width.

Each person has a browser context (a login session) of their own: on-site staff open the case and hand the
reporter their private link; the reporter writes their account without an account of their own; the Incident
Response Team, on-site staff and an organizer take the case through a temporary suspension to its close; the
organizer sees it redacted; a staff member the reporter excluded sees nothing of it; an auditor reads the
timeline and the case on its diagram. Every page visited is screenshot into test-artifacts/whole-case/.
"""
import re

import pytest
from playwright.sync_api import sync_playwright

from tests.conftest import PASSWORD
from tests.test_browser import ARTIFACTS, PHONE, fits_the_phone, launch_chromium

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS / "whole-case"
EVENT = "HackPhone"

# what the reporter tells, which the organizer must never see
REPORTER_NAME = "Riley Quinn"
HARASSER = "The mentor with the green lanyard, team Zephyr"
BEHAVIOR = "Kept touching my shoulder at the mentoring desk after I stepped away twice"
WHEN = "Saturday around 15:00"
CIRCUMSTANCES = "During the API workshop, near the coffee table"
WITNESS = "Sam Okafor"
# why the team decided as it did: organizers do not learn it (the person did not ask for it to be shared)
ASSESSMENT = "Unwanted physical contact after being asked to stop breaches the policy."
RATIONALE = "Repeated unwanted touching after the reporter moved away."
CLOSING = "Suspension notified and noted by the organizers; aware people told."
# what the organizer may see
ORGANIZER_VIEW = "No earlier concerns about this mentor at our events."
LENGTH = "this event and the next 2 events"


class Walk:
    """The people of one case, each in a browser context of their own, and a numbered screenshot of every page."""

    def __init__(self, browser, server):
        self.browser, self.server, self.count = browser, server, 0
        self.pages, self.loads, self.shots = {}, {}, {}
        SHOTS.mkdir(parents=True, exist_ok=True)
        for old in SHOTS.glob("*.png"):
            old.unlink()

    def person(self, who, username=None):
        """The page of `who`; the first time, in a phone-sized context of its own, logged in as `username`
        (the reporter has no login)."""
        if who in self.pages:
            return self.pages[who]
        page = self.pages[who] = self.browser.new_context(**PHONE).new_page()
        page.who = who
        self.loads[page.who], self.shots[page.who] = 0, 0
        page.on("load", lambda loaded: self.loads.__setitem__(loaded.who, self.loads[loaded.who] + 1))
        if username:
            page.goto(f"{self.server}/login")
            self.see(page, "login")
            page.fill("#username", username)
            page.fill("#password", PASSWORD)
            self.go(page, "button[type=submit]")
            assert f"Log out {username}" in self.see(page, "inbox", header=True)
        return page

    def go(self, page, target):
        """Click what leads to another page (a selector or a locator) and wait until that page has loaded."""
        with page.expect_navigation():
            (page.locator(target) if isinstance(target, str) else target).click()

    def open(self, page, path):
        """Go to a page of the app by its address; returns the response."""
        return page.goto(f"{self.server}{path}")

    def see(self, page, name, header=False):
        """Screenshot the page just loaded, check it fits the phone, and return its text (main, or the whole body)."""
        self.count += 1
        self.shots[page.who] += 1
        page.screenshot(path=str(SHOTS / f"{self.count:02d}-{page.who}-{name}.png"), full_page=True)
        assert self.loads[page.who] == self.shots[page.who], f"{page.who}: a page was visited without a screenshot"
        assert fits_the_phone(page), f"{page.who}'s {name} page is wider than the phone"
        return page.locator("body" if header else "main").inner_text()

    def task(self, page, title, bpmn_id, **answers):
        """Open the task from the inbox or case page, answer it and send it; returns the task's and the case's text."""
        self.go(page, page.get_by_role("link", name=title, exact=True))
        text = self.see(page, f"task-{slug(title)}")
        assert page.locator("h1").inner_text() == title
        for name, value in answers.items():
            answer(page, name, value)
        self.go(page, "button.primary")
        case = self.see(page, f"case-after-{slug(title)}")
        assert page.locator("h1").inner_text().startswith("Case #"), f"{title} was not accepted: {case}"
        history = page.locator(".history").inner_text()
        assert f"task completed: {title}" in history and f"task completed: {bpmn_id}" not in history
        return text, case

    def inbox(self, page):
        """Go to the person's inbox; returns its text."""
        self.go(page, "header nav a:has-text('Inbox')")
        return self.see(page, "inbox")


def slug(title):
    """A title as part of a file name."""
    return re.sub(r"[^a-z]+", "-", title.lower()).strip("-")[:40]


def answer(page, name, value):
    """Fill one form field the way a person does: type into a box, tick a box or choose a radio button."""
    box = page.locator(f"#in-{name}")
    if box.count():
        box.fill("\n".join(value) if isinstance(value, list) else value)
    elif page.locator(f"input[type=checkbox][name={name}]").count():
        page.set_checked(f"input[type=checkbox][name={name}]", value)
    else:
        choice = {True: "true", False: "false"}.get(value, value)
        page.check(f"input[type=radio][name={name}][value={choice}]")


@pytest.fixture
def walk(server):
    """A Walk in one headless chromium, closed afterwards."""
    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield Walk(browser, server)
        browser.close()


def test_a_whole_case_runs_through_the_pages_of_every_role_on_a_phone(walk, staff, system):
    version = system.processes.current.hash
    case_id, link = onsite_staff_open_the_case_and_hand_over_the_link(walk, version)
    the_reporter_writes_their_account(walk, link)
    the_report_reaches_the_team_and_the_organizers(walk, case_id, link)
    the_suspension_is_decided_notified_and_the_case_closed(walk)
    the_organizer_sees_the_closed_case_redacted(walk, case_id, link)
    the_auditor_reads_every_step_on_the_timeline_and_the_diagram(walk, case_id, version)


def onsite_staff_open_the_case_and_hand_over_the_link(walk, version):
    """On-site staff open the case, keeping out a colleague the reporter named, and go through the safety gate."""
    olga = walk.person("onsite-staff", "olga")
    walk.go(olga, "a:has-text('Open a case')")
    answer(olga, "event_name", EVENT)
    answer(olga, "event_format", "in_person")
    answer(olga, "region", "europe")
    answer(olga, "reporter_anonymous", False)
    answer(olga, "reporter_name", REPORTER_NAME)
    answer(olga, "excluded_staff", ["bea"])
    walk.see(olga, "open-a-case")
    walk.go(olga, "button.primary")
    text = walk.see(olga, "case-opened")
    case_id = int(re.match(r"Case #(\d+)", olga.locator("h1").inner_text()).group(1))
    assert f"process {version[:12]}" in text and EVENT in text
    assert "case started" in text and REPORTER_NAME in text  # on-site staff see the whole case

    instructions, _ = walk.task(olga, "Call the Incident Response Team", "call_incident_team",
                                team_member_contacted="Tom from the team", called_at="2026-11-24T10:00")
    assert "+44 800 808 5675" in instructions  # the reporting line of the case's region
    walk.task(olga, "Assess safety", "assess_safety", general_threat=False)
    walk.task(olga, "Ask the victim about security or law enforcement", "ask_victim_law_enforcement",
              victim_requests_law_enforcement=False)
    walk.task(olga, "Support the victim", "support_victim", offered_private_place=True,
              explained_role_and_asked=True, gave_emergency_contacts=True)
    _, case = walk.task(olga, "Can the reporter write their account?", "choose_account_writer",
                        written_by="reporter")
    assert "Reporter's private link" in case and "Write your account" in case
    link = olga.input_value("input.link-box")
    assert re.fullmatch(rf"{re.escape(walk.server)}/r/\S+", link)
    return case_id, link


def the_reporter_writes_their_account(walk, link):
    """The reporter, with no login, writes their account through the link; it works once."""
    reporter = walk.person("reporter")
    reporter.goto(link)
    text = walk.see(reporter, "write-your-account", header=True)
    assert reporter.locator("h1").inner_text() == "Write your account"
    assert "Thank you for telling us" in text and "Log out" not in text and "Case #" not in text
    assert not re.search("penalt|withdraw", text, re.IGNORECASE)  # never asked for input on penalties
    for name, value in {"harasser_identification": HARASSER, "behavior": BEHAVIOR, "approximate_time": WHEN,
                        "circumstances": CIRCUMSTANCES, "others_aware": [WITNESS]}.items():
        answer(reporter, name, value)
    walk.go(reporter, "button.primary")
    assert "This link no longer works" in walk.see(reporter, "thank-you")
    assert reporter.goto(link).status == 404
    assert "this link is not valid (any more)" in walk.see(reporter, "link-used-up")


def the_report_reaches_the_team_and_the_organizers(walk, case_id, link):
    """On-site staff send the report; the team reviews it whole, the organizers add their view to it redacted,
    and the excluded colleague finds no trace of the case."""
    olga = walk.person("onsite-staff")
    walk.inbox(olga)
    _, case = walk.task(olga, "Review and send the report to the Incident Response Team", "send_report",
                        report_reviewed=True)
    assert BEHAVIOR in case and "Reporter's private link" not in case  # the link went with the account
    assert "Review the report against the Disciplinary Action Policy" in case and "Add the organizers' view" in case

    tom = walk.person("incident-team", "tom")
    assert f"Case #{case_id} · {EVENT}" in tom.locator("main").inner_text()
    _, case = walk.task(tom, "Review the report against the Disciplinary Action Policy", "review_report",
                        policy_assessment=ASSESSMENT)
    assert BEHAVIOR in case and REPORTER_NAME in case  # the team reads the whole report

    orla = walk.person("organizer", "orla")
    assert "Add the organizers' view" in orla.locator("main").inner_text()
    # on-site staff and an organizer at the same event, but excluded: their inbox is empty and the case unknown
    bea = walk.person("excluded-staff", "bea")
    assert "Nothing waiting for you." in bea.locator("main").inner_text()
    assert walk.open(bea, f"/cases/{case_id}").status == 404
    assert "no such case" in walk.see(bea, "case-not-found") and bea.locator("h1").inner_text() == "Not found"

    text, case = walk.task(orla, "Add the organizers' view", "add_organizer_view", organizer_view=ORGANIZER_VIEW)
    assert "Do not contact the reporter" in text
    assert "Reporter A" in case and "Witness 1" in case and "[redacted]" in case
    for secret in (REPORTER_NAME, HARASSER, BEHAVIOR, WHEN, CIRCUMSTANCES, WITNESS, ASSESSMENT, link):
        assert secret not in orla.content()  # not in the text, nor anywhere in the page's markup


def the_suspension_is_decided_notified_and_the_case_closed(walk):
    """The team decides a temporary suspension with on-site staff, notifies it, the organizers note whom it
    concerns (never why), the aware people are told and the team closes the case."""
    olga, tom, orla = walk.person("onsite-staff"), walk.person("incident-team"), walk.person("organizer")
    walk.inbox(tom)
    walk.task(tom, "Decide the course of action", "decide_action", action="temporary_suspension",
              suspension_length=LENGTH, rationale=RATIONALE, decided_with="olga")
    walk.inbox(olga)
    walk.task(olga, "Meet the alleged harasser in private", "meet_harasser", report_summarized=True,
              decision_notified=True, harasser_disputes=False)
    walk.inbox(tom)
    walk.task(tom, "Send the written notice", "send_written_notice", notice_sent_at="2026-11-24T16:00",
              reason_shared_with_organizers=False)

    assert "Note the suspension or ban" in walk.inbox(orla)
    text, _ = walk.task(orla, "Note the suspension or ban", "acknowledge_sanction", sanction_acknowledged=True)
    assert f"{HARASSER} (a participant of {EVENT}) is under a temporary suspension ({LENGTH})" in text

    walk.inbox(olga)
    walk.task(olga, "Tell the people who were aware", "inform_aware_people", informed_people=[WITNESS],
              message_text="It was against our Code of Conduct and official action was taken.",
              no_details_shared=True)
    walk.inbox(tom)
    walk.task(tom, "Is a public announcement needed?", "decide_announcement", announcement_needed=False)
    _, case = walk.task(tom, "Close the case", "close_case", closing_summary=CLOSING)
    assert tom.locator("h1 .status").inner_text() == "closed" and "No task is waiting." in case


def the_organizer_sees_the_closed_case_redacted(walk, case_id, link):
    """What organizers need to act on (whom the suspension concerns, for how long, who did what), none of the
    reporter's identity or statement, nor why the team decided as it did."""
    orla = walk.person("organizer")
    walk.open(orla, f"/cases/{case_id}")
    case = walk.see(orla, "closed-case")
    assert orla.locator("h1 .status").inner_text() == "closed"
    for shown in ("Reporter A", "Witness 1", ORGANIZER_VIEW, "temporary_suspension", LENGTH, HARASSER,
                  "task completed: Close the case", "orla (organizer)", "tom (incident team)", "olga (onsite staff)"):
        assert shown in case
    markup = orla.content()
    for secret in (REPORTER_NAME, BEHAVIOR, WHEN, CIRCUMSTANCES, WITNESS, ASSESSMENT, RATIONALE, CLOSING, link):
        assert secret not in markup
    assert orla.locator("a:has-text('timeline')").count() == 0  # the audit views are not theirs


def the_auditor_reads_every_step_on_the_timeline_and_the_diagram(walk, case_id, version):
    """Every step of the closed case with its actor, role and process version, replayed and verified."""
    audrey = walk.person("auditor", "audrey")
    walk.open(audrey, f"/cases/{case_id}")
    walk.see(audrey, "case")
    walk.go(audrey, "main a:has-text('timeline')")
    text = walk.see(audrey, "timeline")
    assert audrey.locator("h1").inner_text() == f"Case #{case_id}: timeline closed"
    events = audrey.locator("li.event").evaluate_all(
        "els => els.map(e => [e.dataset.type, e.dataset.role, e.querySelector('strong').innerText,"
        " e.querySelector('.meta').innerText])")
    assert f"Replay: verified: {len(events)} events replay to the recorded state" in text
    assert all(f"process {version[:12]}" in meta for _, _, _, meta in events)
    assert events[0][:3] == ["case_started", "onsite_staff", "case started"] and "olga (onsite staff)" in events[0][3]
    steps = [(role, title, meta.split(" · ")[2]) for kind, role, title, meta in events if kind == "task_completed"]
    assert steps == [
        ("onsite_staff", "task completed: Call the Incident Response Team", "olga (onsite staff)"),
        ("onsite_staff", "task completed: Assess safety", "olga (onsite staff)"),
        ("onsite_staff", "task completed: Ask the victim about security or law enforcement", "olga (onsite staff)"),
        ("onsite_staff", "task completed: Support the victim", "olga (onsite staff)"),
        ("onsite_staff", "task completed: Can the reporter write their account?", "olga (onsite staff)"),
        ("reporter", "task completed: Write your account", "reporter (reporter)"),
        ("onsite_staff", "task completed: Review and send the report to the Incident Response Team",
         "olga (onsite staff)"),
        ("incident_team", "task completed: Review the report against the Disciplinary Action Policy",
         "tom (incident team)"),
        ("organizer", "task completed: Add the organizers' view", "orla (organizer)"),
        ("incident_team", "task completed: Decide the course of action", "tom (incident team)"),
        ("onsite_staff", "task completed: Meet the alleged harasser in private", "olga (onsite staff)"),
        ("incident_team", "task completed: Send the written notice", "tom (incident team)"),
        ("organizer", "task completed: Note the suspension or ban", "orla (organizer)"),
        ("onsite_staff", "task completed: Tell the people who were aware", "olga (onsite staff)"),
        ("incident_team", "task completed: Is a public announcement needed?", "tom (incident team)"),
        ("incident_team", "task completed: Close the case", "tom (incident team)"),
    ]
    views = [(role, meta.split(" · ")[2]) for kind, role, _, meta in events if kind == "case_viewed"]
    assert ("incident_team", "tom (incident team)") in views and views[-1] == ("auditor", "audrey (auditor)")
    assert BEHAVIOR in text and RATIONALE in text and REPORTER_NAME in text  # auditors read everything

    walk.go(audrey, "main a:has-text('on its diagram')")
    audrey.wait_for_selector(f"#case-diagram[data-rendered=yes][data-step='{len(events) + 1}']", timeout=20000)
    text = walk.see(audrey, "case-on-its-diagram")
    assert audrey.inner_text("#verdict").startswith(f"Replay: verified: {len(events) + 1} events")
    assert audrey.inner_text("#step-label").startswith(f"Event {len(events) + 1} of {len(events) + 1}")
    assert audrey.inner_text("#ready") == "nothing"  # nothing waits on a closed case
    assert "case_closed" in audrey.inner_text("#data") and LENGTH in text
    assert audrey.get_attribute("#case-diagram", "data-file") == "incident_response.bpmn"
    drawn = audrey.eval_on_selector_all(".djs-element.m-completed", "els => els.map(e => e.dataset.elementId)")
    assert {"call_incident_team", "close_case"} <= set(drawn)  # the first and last steps, marked as done
