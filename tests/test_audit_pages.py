"""The auditors' pages: the timeline (filters without JavaScript, data as a change, a recorded view) and the
endpoints behind the case on its diagram."""
import re

import pytest

from engine import case_moves
from tests.test_access_matrix import login
from tests.test_api import do, history, open_case, to_report_sent
from tests.test_case_moves import NEW_WORDING, publish

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def auditor(app, staff):
    client = app.test_client()
    login(client, "audrey")
    return client


def entries(page):
    """(seq, type, role) of every event on a timeline page, in order."""
    return [(int(seq), kind, role) for seq, kind, role in re.findall(
        r'<li id="event-(\d+)" class="event type-[a-z_]+" data-type="([a-z_]+)" data-role="([a-z_]+)">', page)]


def test_the_timeline_shows_every_event_with_the_data_as_a_change_and_records_the_view(api, auditor):
    cid = to_report_sent(api, harasser_identification="Mal")
    do(api, "tom", cid, "review_report", policy_assessment="Against the policy")
    reply = auditor.get(f"/cases/{cid}/timeline")
    assert reply.status_code == 200
    page = reply.get_data(as_text=True)
    shown = entries(page)
    assert [s[0] for s in shown] == list(range(1, 11))
    assert shown[-1] == (10, "case_viewed", "auditor")  # this very view, recorded before the page was made
    assert history(api, cid, "tom")[9]["data"] == {"viewed": "timeline"}
    assert "Replay: verified: 10 events replay to the recorded state" in page
    assert "task completed: Review the report against the Disciplinary Action Policy" in page
    assert re.search(r"<dt>policy_assessment</dt>\s*<dd class=\"change-new\">Against the policy "
                     r"<span class=\"meta inline\">new</span></dd>", page)
    assert re.search(r"<dt>reporting_phone</dt>\s*<dd class=\"change-new\">\+1 343 453 4532 "
                     r"<span class=\"meta inline\">new, by the process</span></dd>", page)


def test_the_timeline_filters_by_type_and_role_without_javascript(api, auditor):
    cid = open_case(api)["id"]
    do(api, "olga", cid, "call_incident_team", team_member_contacted="T", called_at="2026-11-24T10:00")
    assert api("tom").get(f"/api/cases/{cid}").status_code == 200
    page = auditor.get(f"/cases/{cid}/timeline?type=case_viewed").get_data(as_text=True)
    assert entries(page) == [(3, "case_viewed", "incident_team"), (4, "case_viewed", "auditor")]
    assert '<input type="checkbox" name="type" value="case_viewed" checked>' in page
    page = auditor.get(f"/cases/{cid}/timeline?role=onsite_staff").get_data(as_text=True)
    assert [s[1] for s in entries(page)] == ["case_started", "task_completed"]
    page = auditor.get(f"/cases/{cid}/timeline?type=task_completed&type=case_viewed&role=onsite_staff&role=auditor")
    assert [s[:2] for s in entries(page.get_data(as_text=True))] == [
        (2, "task_completed"), (4, "case_viewed"), (5, "case_viewed"), (6, "case_viewed")]  # every view is recorded
    assert "Showing 4 of 6 events." in page.get_data(as_text=True)
    reply = auditor.get(f"/cases/{cid}/timeline?type=sneaky")
    assert reply.status_code == 422 and "Unknown event type: sneaky" in reply.get_data(as_text=True)


def test_only_auditors_and_the_team_open_the_timeline_and_excluded_staff_get_404(app, api, make_user):
    make_user("ed", "auditor")
    cid = open_case(api, excluded_staff=["ed"])["id"]
    for user, status in (("olga", 403), ("orla", 403), ("pol", 403), ("ed", 404), ("tom", 200), ("audrey", 200)):
        client = app.test_client()
        login(client, user)
        for url in (f"/cases/{cid}/timeline", f"/cases/{cid}/diagram", f"/cases/{cid}/diagram/steps",
                    f"/cases/{cid}/diagram/files/safety_gate.bpmn"):
            assert client.get(url).status_code == status, (user, url)
    assert app.test_client().get(f"/cases/{cid}/timeline").status_code == 302


def test_the_diagram_steps_hold_the_markers_and_the_data_after_each_event(api, auditor):
    cid = open_case(api)["id"]
    do(api, "olga", cid, "call_incident_team", team_member_contacted="T", called_at="2026-11-24T10:00")
    do(api, "olga", cid, "assess_safety", general_threat=True)
    page = auditor.get(f"/cases/{cid}/diagram").get_data(as_text=True)
    assert f'data-steps="/cases/{cid}/diagram/steps"' in page and "<script src=\"/static/case_diagram.js\"" in page
    assert "<script>" not in page  # the CSP forbids inline scripts
    steps = auditor.get(f"/cases/{cid}/diagram/steps").get_json()
    assert steps["verdict"]["outcome"] == "verified"
    files = steps["versions"][steps["process_version"]]
    assert "incident_response.bpmn" in files and "regional_contacts.dmn" not in files
    first, second, third, view = steps["steps"]
    assert first["ready"] == ["call_incident_team"] and "general_threat" not in first["data"]
    assert first["markers"]["ready"] == {"incident_response.bpmn": ["call_incident_team"]}
    assert second["file"] == "incident_response.bpmn" and second["ready"] == ["assess_safety"]
    assert "call_incident_team" in second["markers"]["completed"]["incident_response.bpmn"]
    assert second["markers"]["active"]["incident_response.bpmn"] == ["safety_gate"]
    assert third["file"] == "safety_gate.bpmn" and third["ready"] == ["summon_security"]
    assert third["data"]["general_threat"] is True
    assert "assess_safety" in third["markers"]["completed"]["safety_gate.bpmn"]
    assert any(f.startswith("flow_") for f in third["markers"]["path"]["safety_gate.bpmn"])
    assert (view["type"], view["role"], view["ready"]) == ("case_viewed", "auditor", third["ready"])
    assert history(api, cid, "tom")[-2]["data"] == {"viewed": "diagram replay"}


def test_the_diagram_files_are_the_cases_own_version_and_nothing_else(api, auditor):
    cid = open_case(api)["id"]
    reply = auditor.get(f"/cases/{cid}/diagram/files/safety_gate.bpmn")
    assert reply.status_code == 200 and reply.mimetype == "application/xml"
    assert b'<bpmn:process id="safety_gate"' in reply.data
    assert auditor.get(f"/cases/{cid}/diagram/files/..%2Fpyproject.toml").status_code == 404
    assert auditor.get(f"/cases/{cid}/diagram/files/nothing.bpmn").status_code == 404


def test_the_viewer_is_served_from_node_modules_and_nothing_else_is(client):
    reply = client.get("/vendor/bpmn-js/bpmn-viewer.js")
    assert reply.status_code == 200 and b"BpmnJS" in reply.data[:200000]
    assert client.get("/vendor/bpmn-js/diagram-js.css").status_code == 200
    assert client.get("/vendor/bpmn-js/package.json").status_code == 404
    assert client.get("/vendor/bpmn-js/..%2F..%2Fpackage.json").status_code == 404


# a later version drawn differently where the case has already been: new wording, and the flow it took out of
# "Assess safety" renamed (a move allows both: what the case did runs the same)
RENAMED_FLOW = ("flow_assess_safety_to_gw_general_threat", "flow_safety_assessed")
REDRAWN = [*NEW_WORDING, ("safety_gate.bpmn", *RENAMED_FLOW)]


def moved_case(api, system, staff, tmp_path):
    """A case that sent its report on the first version (events 1-8), moved to a redrawn one (event 9) and
    reviewed there (event 10): (case id, first version, second version)."""
    cid = to_report_sent(api, harasser_identification="Mal")
    first = api("olga").get(f"/api/cases/{cid}").get_json()["process_version"]
    later = publish(system, tmp_path, *REDRAWN)
    second = later.processes.current.hash
    assert first != second
    with later.writing() as uow:
        case_moves.move_case(uow, later.processes, staff["policy"], cid, second)
    do(api, "tom", cid, "review_report", policy_assessment="Against the policy")
    return cid, first, second


def timeline_entry(page, seq):
    """The text of event `seq` on a timeline page."""
    found = re.search(rf'<li id="event-{seq}" .*?</li>', page, re.S)
    assert found, seq
    return found.group(0)


def test_each_step_of_a_moved_case_is_drawn_on_the_version_it_ran_on(api, auditor, system, staff, tmp_path):
    cid, first, second = moved_case(api, system, staff, tmp_path)
    steps = auditor.get(f"/cases/{cid}/diagram/steps").get_json()
    assert steps["verdict"]["outcome"] == "verified" and steps["process_version"] == second
    assert set(steps["versions"]) == {first, second}
    assert "safety_gate.bpmn" in steps["versions"][first] and "safety_gate.bpmn" in steps["versions"][second]
    by_seq = {step["seq"]: step for step in steps["steps"]}
    assert [by_seq[seq]["process_version"] for seq in range(1, 12)] == [first] * 8 + [second] * 3
    old_flow, new_flow = RENAMED_FLOW
    assessed = by_seq[3]  # assess_safety, on the first version: its markers name the first version's flow
    assert (assessed["task"], assessed["file"]) == ("assess_safety", "safety_gate.bpmn")
    assert old_flow in assessed["markers"]["path"]["safety_gate.bpmn"]
    assert new_flow not in assessed["markers"]["path"]["safety_gate.bpmn"]
    assert old_flow in by_seq[8]["markers"]["path"]["safety_gate.bpmn"]
    moved = by_seq[9]  # the move: the same state, now marked on the second version's diagrams
    assert moved["type"] == "case_moved" and moved["ready"] == by_seq[8]["ready"] == [
        "add_organizer_view", "review_report"]
    assert new_flow in moved["markers"]["path"]["safety_gate.bpmn"]
    assert old_flow not in moved["markers"]["path"]["safety_gate.bpmn"]
    assert moved["markers"]["ready"] == by_seq[8]["markers"]["ready"]
    assert (by_seq[10]["task"], by_seq[10]["file"]) == ("review_report", "decision.bpmn")
    assert "review_report" in by_seq[10]["markers"]["completed"]["decision.bpmn"]

    # the files of each version the case ran on, and of no other
    def drawn(version=None):
        query = f"?version={version}" if version else ""
        return auditor.get(f"/cases/{cid}/diagram/files/safety_gate.bpmn{query}")
    before, after = drawn(first).get_data(as_text=True), drawn(second).get_data(as_text=True)
    assert 'name="Assess safety"' in before and old_flow in before and new_flow not in before
    assert 'name="Check everyone is safe"' in after and new_flow in after and old_flow not in after
    assert drawn().get_data(as_text=True) == after  # by default, the version the case runs on now
    third = publish(system, tmp_path / "third", ("safety_gate.bpmn", 'name="Assess safety"', 'name="Safety'
                                                                                             ' first"'))
    assert drawn(third.processes.current.hash).status_code == 404  # published, but this case never ran on it
    assert drawn("ab" * 32).status_code == 404


def test_the_timeline_shows_each_event_under_the_version_it_ran_on(api, auditor, system, staff, tmp_path):
    cid, first, second = moved_case(api, system, staff, tmp_path)
    page = auditor.get(f"/cases/{cid}/timeline").get_data(as_text=True)
    for seq in range(1, 9):
        assert f"process {first[:12]}" in timeline_entry(page, seq), seq
    for seq in (9, 10, 11):
        assert f"process {second[:12]}" in timeline_entry(page, seq), seq
    # a task is named as the version it ran on named it
    assert "task completed: Assess safety</strong>" in timeline_entry(page, 3)
    assert "task completed: Review the report (Disciplinary Action Policy)</strong>" in timeline_entry(page, 10)
    assert f">{first}</dd>" in timeline_entry(page, 9) and f">{second}</dd>" in timeline_entry(page, 9)  # from, to


def test_the_timeline_shows_a_changed_answer_with_the_old_value_and_an_unchanged_one_as_such(api, auditor):
    cid = to_report_sent(api, harasser_identification="Mal")
    do(api, "tom", cid, "review_report", policy_assessment="Round 1 assessment")
    do(api, "orla", cid, "add_organizer_view", organizer_view="Same view")
    do(api, "tom", cid, "decide_action", action="temporary_suspension", suspension_length="2 events",
       rationale="R", decided_with="olga")
    do(api, "olga", cid, "meet_harasser", report_summarized=True, decision_notified=True, harasser_disputes=True,
       harasser_account="A joke, they say")
    do(api, "olga", cid, "reconsider_decision", decision_revised=True, reconsider_reason="Their account")
    do(api, "tom", cid, "review_report", policy_assessment="Round 2 assessment")
    do(api, "orla", cid, "add_organizer_view", organizer_view="Same view")
    page = auditor.get(f"/cases/{cid}/timeline").get_data(as_text=True)
    assert re.search(r"<dt>policy_assessment</dt>\s*<dd class=\"change-changed\">Round 2 assessment "
                     r"<span class=\"meta inline\">changed, was Round 1 assessment</span></dd>", page)
    assert re.search(r"<dt>organizer_view</dt>\s*<dd class=\"change-unchanged\">Same view "
                     r"<span class=\"meta inline\">unchanged</span></dd>", page)
    assert re.search(r"<dt>decision_round</dt>\s*<dd class=\"change-changed\">2 "
                     r"<span class=\"meta inline\">changed, was 1, by the process</span></dd>", page)
    # the organizers' branch, finished last, does not bring round 1's assessment back
    assert "was Round 2 assessment" not in page
    assert api("tom").get(f"/api/cases/{cid}").get_json()["data"]["policy_assessment"] == "Round 2 assessment"

