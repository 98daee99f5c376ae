"""Replay re-executes a case's history on its pinned version and finds the first step that differs from the record."""
import os
import shutil
import subprocess
import sys
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from engine import audit, retention, snapshots, timers
from engine.casestate import ready_rows, store
from engine.config import ROOT
from engine.models import Case, CaseEvent, utcnow
from engine.processes import ProcessRegistry
from engine.replay import STATE_CHANGING
from forms import FORMS
from tests.conftest import MASTER_KEY
from tests.test_api import do, open_case, to_report_sent
from tests.test_audit_pages import RENAMED_FLOW, moved_case
from tests.test_history import tamper
from tests.test_timers import age

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)

CALL = {"team_member_contacted": "Tess", "called_at": "2026-11-24T10:00"}


def later(minutes):
    return utcnow() + timedelta(minutes=minutes)


def verdict_of(system, case_id, processes=None):
    with system.reading() as uow:
        return audit.verdict(uow.session, processes or system.processes, uow.session.get(Case, case_id))


def events_of(system, case_id):
    """The case's events as plain records (decrypted data included)."""
    with system.reading() as uow:
        rows = uow.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq))
        return [SimpleNamespace(seq=e.seq, type=e.type, role=e.role, after=e.after, data_mac=e.data_mac,
                                sealed_data=e.sealed_data, data=e.data) for e in rows]


def long_case(api, client, system):
    """A case through timers, the reporter's link, a safety concern, a revised decision, distress and an appeal."""
    cid = open_case(api)["id"]
    assert timers.tick(system, now=later(16)).tasks == 1  # nobody called the team in 15 minutes
    do(api, "olga", cid, "call_incident_team", **CALL)
    do(api, "tom", cid, "unacknowledged_incident", followed_up=True, follow_up_notes="Reached Olga")
    do(api, "olga", cid, "assess_safety", general_threat=False)
    do(api, "olga", cid, "ask_victim_law_enforcement", victim_requests_law_enforcement=False)
    do(api, "olga", cid, "support_victim", offered_private_place=True, explained_role_and_asked=True,
       gave_emergency_contacts=True)
    token = do(api, "olga", cid, "choose_account_writer", written_by="reporter")["reporter_link"].rsplit("/r/", 1)[1]
    assert client.post(f"/api/reporter/{token}", json={"data": {
        "harasser_identification": "Mal", "behavior": "Comments", "approximate_time": "22:00",
        "others_aware": ["Kim"]}}).status_code == 200
    do(api, "olga", cid, "send_report", report_reviewed=True)
    assert api("olga").post(f"/api/cases/{cid}/messages/safety_concern", json={"note": "voices"}).status_code == 201
    do(api, "olga", cid, "summon_security_now", summoned="security", summoned_at="2026-11-24T11:00")
    for round_ in (1, 2):
        do(api, "tom", cid, "review_report", policy_assessment=f"assessment {round_}")
        do(api, "orla", cid, "add_organizer_view", organizer_view=f"view {round_}")
        do(api, "tom", cid, "decide_action", action="temporary_suspension", suspension_length=f"{round_} events",
           rationale="r", decided_with="Olga")
        do(api, "olga", cid, "meet_harasser", report_summarized=True, decision_notified=True,
           harasser_disputes=round_ == 1, **({"harasser_account": "A joke"} if round_ == 1 else {}))
        if round_ == 1:
            do(api, "olga", cid, "reconsider_decision", decision_revised=True, reconsider_reason="new facts")
    assert api("olga").post(f"/api/cases/{cid}/messages/attendee_distressed").status_code == 201
    do(api, "tom", cid, "send_written_notice", notice_sent_at="2026-11-24T12:00", reason_shared_with_organizers=False)
    do(api, "orla", cid, "acknowledge_sanction", sanction_acknowledged=True)
    do(api, "olga", cid, "inform_aware_people", informed_people=["Kim"], no_details_shared=True,
       message_text="Action was taken.")
    do(api, "tom", cid, "decide_announcement", announcement_needed=False)
    do(api, "olga", cid, "respond_to_distress", feelings_acknowledged=True, reassured=True, channels_offered=True)
    assert api("audrey").get(f"/api/cases/{cid}/history").status_code == 200  # an access event in between
    do(api, "tom", cid, "close_case", closing_summary="Suspended.")
    assert api("tom").post(f"/api/cases/{cid}/messages/appeal", json={"note": "[Appeal]"}).status_code == 201
    do(api, "tom", cid, "decide_appeal", appeal_outcome="upheld", appeal_rationale="stands")
    return cid


def test_a_long_case_replays_to_its_recorded_state_after_every_step(api, client, system):
    cid = long_case(api, client, system)
    events = events_of(system, cid)
    changing = [e for e in events if e.type in STATE_CHANGING]
    assert all(e.after is not None for e in changing)
    assert all(e.after is None for e in events if e.type not in STATE_CHANGING)
    assert all(e.data_mac is not None for e in events if not e.sealed_data.startswith("p1."))
    found = verdict_of(system, cid)
    assert found.outcome == "verified", found.describe()
    assert found.events == len(events) and found.checked == len(changing) >= 30
    assert found.describe() == f"verified: {len(events)} events replay to the recorded state " \
                               f"({len(changing)} compared step by step)"


def test_a_recorded_state_reveals_no_data(api, client, system):
    cid = to_report_sent(api, harasser_identification="Ignatius Thornbury")
    for event in events_of(system, cid):
        if event.after is not None:
            recorded = snapshots.parse(event.after)
            assert set(recorded) == {"data", "ready"} and len(recorded["data"]) == 64
            assert "Thornbury" not in event.after


def test_each_distress_response_is_paired_with_its_own_message(api, system):
    cid = open_case(api)["id"]
    for note in ("first", "second"):
        reply = api("olga").post(f"/api/cases/{cid}/messages/attendee_distressed", json={"note": note})
        assert reply.status_code == 201
    second = _distress_task_with_note(system, cid, "second")
    reply = api("olga").post(f"/api/tasks/{second}", json={"data": {
        "feelings_acknowledged": True, "reassured": True, "channels_offered": True}})
    assert reply.status_code == 200
    with system.reading() as uow:
        case = uow.session.get(Case, cid)
        seen = {}

        def on_step(event, replayer):
            if event.type == "task_completed":
                twin = replayer.workflow.get_task_from_id(uuid.UUID(replayer.twin_of(event.task_id)))
                seen[event.task_id] = twin.data["attendee_distressed"]["note"]
        assert audit.verdict(uow.session, system.processes, case, on_step=on_step).outcome == "verified"
    assert seen == {second: "second"}


def _distress_task_with_note(system, cid, note):
    with system.reading() as uow:
        case = uow.session.get(Case, cid)
        runner = system.processes.runner(case.process_version, uow.session)
        workflow = runner.loads(case.state)
        for task in runner.ready_tasks(workflow):
            engine_task = workflow.get_task_from_id(uuid.UUID(task.id))
            if task.task == "respond_to_distress" and engine_task.data["attendee_distressed"]["note"] == note:
                return task.id
    raise AssertionError(f"no distress task with note {note}")


def test_a_timer_fires_in_the_replay_at_the_step_it_fired_in_the_case(api, system, staff):
    cid = open_case(api)["id"]
    assert timers.tick(system, now=later(14)).tasks == 0
    assert timers.tick(system, now=later(16)).tasks == 1
    do(api, "olga", cid, "call_incident_team", **CALL)
    reply = api("audrey").get(f"/api/cases/{cid}/replay?step=1").get_json()
    assert reply["outcome"] == "verified" and reply["state"]["ready"] == ["call_incident_team"]
    reply = api("audrey").get(f"/api/cases/{cid}/replay?step=2").get_json()
    assert reply["state"]["type"] == "timer_fired"
    assert reply["state"]["ready"] == ["call_incident_team", "unacknowledged_incident"]


def _registry_with(tmp_path, system, filename, old, new):
    """The current process registry, but the cases' version runs diagrams edited by one replacement."""
    changed = tmp_path / "bpmn"
    shutil.copytree(ROOT / "bpmn", changed)
    path = changed / filename
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    registry = ProcessRegistry.from_directory(changed, FORMS)
    registry._runners[system.processes.current.hash] = registry._runners[registry.current.hash]
    return registry


def test_an_engine_that_now_takes_another_path_is_reported_at_the_first_step_that_differs(api, system, tmp_path):
    cid = open_case(api)["id"]
    do(api, "olga", cid, "call_incident_team", **CALL)
    do(api, "olga", cid, "assess_safety", general_threat=False)
    do(api, "olga", cid, "ask_victim_law_enforcement", victim_requests_law_enforcement=False)
    other = _registry_with(tmp_path, system, "safety_gate.bpmn", "general_threat == True", "general_threat == False")
    found = verdict_of(system, cid, other)
    assert found.outcome == "differs" and found.seq == 3, found.describe()
    assert "ready tasks differ: recorded ['ask_victim_law_enforcement']" in found.problem
    assert verdict_of(system, cid).outcome == "verified"


def test_data_that_now_comes_out_differently_is_found_even_with_the_same_ready_tasks(api, system, tmp_path):
    cid = open_case(api, region="europe")["id"]
    other = _registry_with(tmp_path, system, "regional_contacts.dmn", '"+44 800 808 5675"', '"+44 800 000 0000"')
    found = verdict_of(system, cid, other)
    assert (found.outcome, found.seq) == ("differs", 1)
    assert found.problem == "the case data differs from what was recorded after this event"


@pytest.mark.edits_stored_cases
def test_case_data_edited_behind_the_history_is_found(api, system):
    cid = to_report_sent(api, harasser_identification="M")
    with system.writing() as uow:
        case = uow.session.get(Case, cid)
        case.data = {**case.data, "behavior": "something else"}
        uow.commit()
    found = verdict_of(system, cid)
    assert found.outcome == "differs" and found.seq == events_of(system, cid)[-1].seq
    assert found.problem == "after the last event, compared with the case as stored: the case data differs in: behavior"


@pytest.mark.edits_stored_cases
def test_timers_moved_behind_the_history_are_found(api, system):
    cid = open_case(api)["id"]
    age(system, cid, 5)
    found = verdict_of(system, cid)
    assert found.outcome == "differs" and "next timer is due" in found.problem


def test_cases_recorded_before_states_were_kept_are_checked_at_the_end(api, system, monkeypatch):
    monkeypatch.setattr(snapshots, "of_case", lambda case, rows: None)  # as before revision 0009
    cid = to_report_sent(api, harasser_identification="M")
    assert all(e.after is None for e in events_of(system, cid))
    found = verdict_of(system, cid)
    assert (found.outcome, found.checked) == ("verified", 0)
    with system.writing() as uow:
        uow.session.delete(ready_rows(uow.session, cid)[0])
        uow.commit()
    found = verdict_of(system, cid)
    assert found.outcome == "differs" and found.problem.startswith("after the last event, compared with the case as "
                                                                   "stored: ready tasks differ: stored [")
    with system.writing() as uow:  # put it back: the case is sound again
        case = uow.session.get(Case, cid)
        runner = system.processes.runner(case.process_version, uow.session)
        store(uow.session, runner, case, runner.loads(case.state))
        uow.commit()
    assert verdict_of(system, cid).outcome == "verified"


def purged_case(api, system):
    """A sent report, closed yesterday and purged today: (case id, the day it was purged)."""
    cid = to_report_sent(api, harasser_identification="M")
    with system.writing() as uow:
        uow.session.get(Case, cid).status, uow.session.get(Case, cid).closed_at = "closed", utcnow() - timedelta(days=1)
        uow.commit()
    assert retention.purge_closed_before(system, utcnow(), "retention (test)") == [cid]
    with system.reading() as uow:
        return cid, uow.session.get(Case, cid).purged_at.date().isoformat()


def test_a_purged_case_is_reported_as_purged_not_as_a_failure(api, system):
    cid, day = purged_case(api, system)
    found = verdict_of(system, cid)
    assert found.outcome == "purged" and found.ok and found.purged_at.startswith(day)
    assert found.describe() == (f"purged on {day}: the history chain still verifies (9 events), but the case data "
                                "was destroyed and can no longer be replayed")


def test_replaying_a_purged_case_to_a_step_says_it_was_purged_and_its_chain_verifies(api, system):
    cid, day = purged_case(api, system)
    plainly = (f"purged on {day}: the history chain still verifies (9 events), but the case data was destroyed and "
               "can no longer be replayed")
    result = cli(system, "replay", str(cid), "--step", "3", key=False)  # nothing left to open: no key needed
    assert result.returncode == 1, result.stderr  # the state asked for cannot be given
    lines = result.stdout.splitlines()
    assert f"no state after event 3: the case was purged on {day} and its data can no longer be replayed" in lines
    assert lines[-1] == plainly and "did not get that far" not in result.stdout
    reply = api("audrey").get(f"/api/cases/{cid}/replay?step=3")  # the answer is checked against the document
    assert reply.status_code == 200
    body = reply.get_json()
    assert (body["outcome"], body["state"], body["description"]) == ("purged", None, plainly)
    assert body["purged_at"].startswith(day)
    assert api("audrey").get(f"/api/cases/{cid}/replay").get_json()["description"] == plainly


@pytest.mark.edits_stored_cases
def test_a_purged_case_whose_chain_was_edited_says_both(api, system):
    cid, day = purged_case(api, system)
    tamper(system, f"UPDATE case_events SET actor = 'mallory' WHERE case_id = {cid} AND seq = 3")
    result = cli(system, "replay", str(cid), "--step", "3", key=False)
    assert result.returncode == 1
    assert "no state after event 3: the hash chain is broken, so nothing was replayed" in result.stdout
    assert result.stdout.splitlines()[-1] == (
        f"hash chain broken at event seq 3: its content does not match its hash (edited) (the case was purged on "
        f"{day}: its data can no longer be replayed)")


@pytest.mark.edits_stored_cases
def test_a_broken_chain_is_reported_before_any_replay(api, system):
    cid = to_report_sent(api, harasser_identification="M")
    tamper(system, "UPDATE case_events SET actor = 'mallory' WHERE seq = 3")
    found = verdict_of(system, cid)
    assert found.outcome == "broken" and not found.ok
    assert found.describe() == "hash chain broken at event seq 3: its content does not match its hash (edited)"


def cli(system, *args, key=True):
    env = {**os.environ, "INCIDENTS_DATABASE_URL": system.settings.database_url, "PYTHONPATH": str(ROOT),
           "INCIDENTS_SECRET_KEY": "x"}
    env.pop("INCIDENTS_MASTER_KEY", None)
    if key:
        env["INCIDENTS_MASTER_KEY"] = MASTER_KEY
    else:
        env["INCIDENTS_MASTER_KEY_FILE"] = "/nonexistent/master_key"
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_incidents_replay_prints_every_step_and_the_state_after_one(api, system):
    cid = to_report_sent(api, harasser_identification="Mal")
    result = cli(system, "replay", str(cid), "--step", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"case {cid} on process version ")
    assert "task_completed assess_safety" in lines[3] and "ready: ask_victim_law_enforcement" in lines[3]
    assert "state after event 3 (task_completed assess_safety):" in result.stdout
    assert '"general_threat": false' in result.stdout and '"harasser_identification"' not in result.stdout
    assert lines[-1].startswith("verified: ")
    last = events_of(system, cid)[-1]
    assert (last.type, last.role, last.data) == ("case_viewed", "operator",
                                                 {"viewed": "replayed to event 3 (command line)"})
    assert cli(system, "replay", "999").returncode == 2
    assert cli(system, "replay", str(cid), "--step", "99").returncode == 2


@pytest.mark.edits_stored_cases
def test_verify_all_replays_every_case_with_a_progress_bar_and_a_summary(api, system):
    ids = [to_report_sent(api, harasser_identification="M") for _ in range(3)]
    with system.writing() as uow:
        case = uow.session.get(Case, ids[1])
        case.data = {**case.data, "behavior": "edited"}
        uow.commit()
    result = cli(system, "verify", "--all")
    assert result.returncode == 1, result.stderr
    assert f"case {ids[1]}: DIFFERS: differs at event seq 8: after the last event" in result.stdout
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("3 cases, ") and summary.endswith(
        "2 verified, 0 purged (chain verified, data destroyed), 1 differ, 0 broken")
    assert "3/3 cases" in result.stderr and "[####" in result.stderr
    without_key = cli(system, "verify", "--all", key=False)
    assert without_key.returncode == 2 and "needs the master key" in without_key.stderr
    assert cli(system, "verify", key=False).returncode == 0  # the chains alone need no key


def test_the_replay_api_answers_auditors_and_the_team_only(api, system, make_user):
    make_user("ed", "incident_team")
    cid = open_case(api, excluded_staff=["ed"])["id"]
    reply = api("audrey").get(f"/api/cases/{cid}/replay")
    assert reply.status_code == 200
    body = reply.get_json()
    assert body["outcome"] == "verified" and body["events"] == 1 and "state" not in body
    assert [e.type for e in events_of(system, cid)] == ["case_started"]  # a verdict shows no data: no view recorded
    assert api("tom").get(f"/api/cases/{cid}/replay?step=1").get_json()["state"]["data"]["region"] == "canada"
    assert events_of(system, cid)[-1].data == {"viewed": "replayed to event 1"}
    assert api("olga").get(f"/api/cases/{cid}/replay").status_code == 403
    assert api("orla").get(f"/api/cases/{cid}/replay").status_code == 403
    assert api("pol").get(f"/api/cases/{cid}/replay").status_code == 403
    assert api("ed").get(f"/api/cases/{cid}/replay").status_code == 404
    assert api("tom").get(f"/api/cases/{cid}/replay?step=x").status_code == 422
    assert api("tom").get(f"/api/cases/{cid}/replay?step=%C2%B2").status_code == 422  # a digit, but not 0-9
    unknown = api("tom").get(f"/api/cases/{cid}/replay?stpe=1")
    assert (unknown.status_code, unknown.get_json()["errors"]) == (422, {"stpe": ["Unknown query parameter."]})
    assert api("tom").get(f"/api/cases/{cid}/replay?step=9").status_code == 404
    assert api("tom").get("/api/cases/999/replay").status_code == 404


def test_the_state_after_an_event_before_a_move_is_on_the_version_that_ran_it(api, system, staff, tmp_path):
    cid, first, second = moved_case(api, system, staff, tmp_path)
    old_flow, new_flow = RENAMED_FLOW
    before = api("audrey").get(f"/api/cases/{cid}/replay?step=3").get_json()
    assert before["outcome"] == "verified" and before["process_version"] == second
    assert before["state"]["process_version"] == first
    assert old_flow in before["state"]["markers"]["path"]["safety_gate.bpmn"]
    assert new_flow not in before["state"]["markers"]["path"]["safety_gate.bpmn"]
    moved = api("audrey").get(f"/api/cases/{cid}/replay?step=9").get_json()["state"]
    assert (moved["type"], moved["process_version"]) == ("case_moved", second)
    assert new_flow in moved["markers"]["path"]["safety_gate.bpmn"]
    result = cli(system, "replay", str(cid), "--step", "3")
    assert result.returncode == 0, result.stderr
    assert f"  process version: {first[:12]}" in result.stdout.splitlines()


def test_the_replay_apis_step_is_a_documented_query_parameter(client):
    document = client.get("/api/openapi.json").get_json()
    parameters = document["paths"]["/api/cases/{case_id}/replay"]["get"]["parameters"]
    step = next(p for p in parameters if p["name"] == "step")
    assert (step["in"], step["required"], step["schema"]["type"], step["schema"]["minimum"]) == (
        "query", False, "integer", 1)


def test_moving_a_purged_case_answers_410_as_the_document_says(api, system):
    cid, _ = purged_case(api, system)
    reply = api("pol").post(f"/api/cases/{cid}/move", json={"version": "0" * 64})  # checked against the document
    assert reply.status_code == 410 and "purged" in reply.get_json()["error"]


def test_the_steps_that_run_diagram_code_document_its_failure(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    for path, method in (("/api/cases", "post"), ("/api/tasks/{task_id}", "post"),
                         ("/api/cases/{case_id}/messages/{name}", "post"), ("/api/reporter/{token}", "post")):
        assert "500" in paths[path][method]["responses"], (path, method)
    assert "500" not in paths["/api/tasks"]["get"]["responses"]  # a read runs no diagram code
