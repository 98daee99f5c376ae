"""The auditors' pages: the timeline (filters without JavaScript, data as a change, a recorded view) and the
endpoints behind the case on its diagram."""
import re

import pytest

from tests.test_access_matrix import login
from tests.test_api import do, history, open_case, to_report_sent

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
    assert "incident_response.bpmn" in steps["files"] and "regional_contacts.dmn" not in steps["files"]
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
