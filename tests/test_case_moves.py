"""Moving a running case to a newer process version: allowed when what it did is unchanged, recorded in its
history, refused with the first difference otherwise; only policy staff move cases, and they see no case data."""
import shutil

import pytest
from sqlalchemy import select

from engine import case_moves, cases, history, timeline, views
from engine.config import ROOT
from engine.db import session_factories
from engine.errors import CaseClosed, MoveRefused, NotAllowed, NotFound
from engine.models import Case, CaseEvent, ReadyTaskRow
from engine.processes import ProcessRegistry
from engine.system import Incidents
from forms import FORMS

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)

INTAKE = {"event_name": "HackTest", "event_format": "in_person", "region": "europe", "opened_by_role": "onsite_staff",
          "reporter_anonymous": False, "reporter_name": "Rae Porter"}
TO_REVIEW = [
    ("call_incident_team", {"team_member_contacted": "Tess", "called_at": "2026-11-24T10:00"}),
    ("assess_safety", {"general_threat": False}),
    ("ask_victim_law_enforcement", {"victim_requests_law_enforcement": False}),
    ("support_victim", {"offered_private_place": True, "explained_role_and_asked": True, "gave_emergency_contacts": True}),
    ("choose_account_writer", {"written_by": "staff_transcription"}),
    ("transcribe_account", {"behavior": "Shouted at a mentor", "approximate_time": "22:00",
                            "harasser_identification": "Hal Arasser"}),
    ("send_report", {"report_reviewed": True}),
]


def do(system, actor, case, task, data):
    task_id = next(t["id"] for t in case["tasks"] if t["task"] == task)
    with system.writing() as uow:
        return cases.complete_task(uow, system.processes, actor, task_id, data)


def case_at_review(system, staff, **intake):
    with system.writing() as uow:
        case = cases.open_case(uow, system.processes, staff["onsite"], {**INTAKE, **intake})
    for task, data in TO_REVIEW:
        case = do(system, staff["onsite"], case, task, data)
    assert sorted(t["task"] for t in case["tasks"]) == ["add_organizer_view", "review_report"]
    return case


def publish(system, tmp_path, *edits):
    """A newer version of the diagrams (each edit: file, old text, new text), published like a release does."""
    directory = tmp_path / "bpmn"
    shutil.rmtree(directory, ignore_errors=True)
    shutil.copytree(ROOT / "bpmn", directory)
    for name, old, new in edits:
        path = directory / name
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new))
    read, write = session_factories(system.db, system.master_key)
    later = Incidents(system.settings, system.db, ProcessRegistry.from_directory(directory, FORMS), system.master_key,
                      read, write)
    with later.writing() as uow:
        later.processes.record_current(uow.session)
        uow.commit()
    return later


def move(system, actor, case_id, version=None):
    with system.writing() as uow:
        return case_moves.move_case(uow, system.processes, actor, case_id, version or system.processes.current.hash)


def snapshot(system, case_id):
    with system.reading() as uow:
        case = uow.session.get(Case, case_id)
        events = [(e.seq, e.type, e.hash) for e in uow.session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq))]
        ready = sorted((r.id, r.task, r.title) for r in uow.session.scalars(
            select(ReadyTaskRow).where(ReadyTaskRow.case_id == case_id)))
        return {"version": case.process_version, "state": case.state, "data": case.data, "events": events,
                "ready": ready, "row_version": case.version}


NEW_WORDING = [
    ("safety_gate.bpmn", 'name="Assess safety"', 'name="Check everyone is safe"'),
    ("decision.bpmn", 'name="Review the report against the Disciplinary Action Policy"',
     'name="Review the report (Disciplinary Action Policy)"'),
    ("decision.bpmn", 'name="Decide the course of action"', 'name="Decide what happens next"'),
    ("decision.bpmn", "Read the report and any earlier decisions", "First read the report and any earlier decisions"),
]


def test_a_case_moves_to_a_version_with_new_wording_and_the_move_is_in_its_history(system, staff, tmp_path):
    case = case_at_review(system, staff)
    old_version = case["process_version"]
    later = publish(system, tmp_path, *NEW_WORDING)
    moved = move(later, staff["policy"], case["id"])
    assert moved == {"id": case["id"], "process_version": later.processes.current.hash, "moved_from": old_version,
                     "tasks": ["add_organizer_view", "review_report"]}
    with later.writing() as uow:
        record = views.case_history(uow, staff["team"], case["id"])
    moves = [e for e in record if e["type"] == "case_moved"]
    assert len(moves) == 1 and record[-2] == moves[0]  # last, before the team's own view of the history
    assert moves[0]["data"] == {"from": old_version, "to": later.processes.current.hash}
    assert moves[0]["actor"] == "pol" and moves[0]["role"] == "policy"
    after = snapshot(later, case["id"])
    assert after["version"] == later.processes.current.hash
    titles = {task: title for _, task, title in after["ready"]}
    assert titles["review_report"] == "Review the report (Disciplinary Action Policy)"
    # the case goes on on the new version: what it has not reached yet comes from there
    view = do(later, staff["team"], moved | {"tasks": _tasks(later, case["id"])}, "review_report",
              {"policy_assessment": "A clear violation."})
    view = do(later, staff["organizer"], view, "add_organizer_view", {"organizer_view": "Nothing to add."})
    assert [(t["task"], t["title"]) for t in view["tasks"]] == [("decide_action", "Decide what happens next")]
    with later.reading() as uow:
        assert history.verify_case(uow.session, uow.session.get(Case, case["id"])).ok


def test_a_moved_cases_history_names_each_task_as_the_version_it_ran_on_names_it(system, staff, tmp_path):
    case = case_at_review(system, staff)
    later = publish(system, tmp_path, *NEW_WORDING)
    move(later, staff["policy"], case["id"])
    do(later, staff["team"], case | {"tasks": _tasks(later, case["id"])}, "review_report",
       {"policy_assessment": "A clear violation."})
    with later.writing() as uow:
        _, page = views.case_with_history(uow, later.processes, staff["team"], case["id"])
        story = timeline.timeline(uow, later.processes, staff["team"], case["id"], types=["task_completed"])
    page_titles = {e["task"]: e["title"] for e in page if e["type"] == "task_completed"}
    timeline_titles = {e["task"]: e["title"] for e in story["events"]}
    for titles in (page_titles, timeline_titles):
        assert titles["assess_safety"] == "Assess safety"  # completed before the move: the old version's title
        assert titles["review_report"] == "Review the report (Disciplinary Action Policy)"
    labels = next(e for e in page if e["task"] == "review_report")["labels"]
    assert labels["policy_assessment"] == "Assessment against the policy"


def _tasks(system, case_id):
    with system.reading() as uow:
        return [{"id": r.id, "task": r.task} for r in uow.session.scalars(
            select(ReadyTaskRow).where(ReadyTaskRow.case_id == case_id))]


@pytest.mark.parametrize("edit,reason", [
    # a gateway the case passed through no longer exists (renamed everywhere, drawing included)
    (("safety_gate.bpmn", "gw_general_threat", "gw_threat"), "'gw_general_threat' in process 'safety_gate' "
                                                             "(completed) is not in the new version"),
    # a completed script now sets different caps
    (("incident_response.bpmn", "max_wording_rounds = 5", "max_wording_rounds = 6"),
     "'init_case' in process 'incident_response' (completed) changed its script"),
    # the gateway that routed the case at intake now decides differently
    (("incident_response.bpmn", "opened_by_role == 'organizer'", "opened_by_role in ('organizer', 'auditor')"),
     "'gw_opened_by' in process 'incident_response' (completed) changed its conditions"),
    # a ready task moves to another lane
    (("decision.bpmn", '<bpmn:lane id="organizer" name="Organizers">\n        <bpmn:flowNodeRef>add_organizer_view'
                       "</bpmn:flowNodeRef>\n      </bpmn:lane>\n      <bpmn:lane id=\"incident_team\" name=\"Incident "
                       'Response Team">',
      '<bpmn:lane id="organizer" name="Organizers">\n      </bpmn:lane>\n      <bpmn:lane id="incident_team" '
      'name="Incident Response Team">\n        <bpmn:flowNodeRef>add_organizer_view</bpmn:flowNodeRef>'),
     "'add_organizer_view' in process 'decision' (ready or already fixed) changed its lane"),
])
def test_a_changed_or_removed_completed_task_refuses_the_move_and_changes_nothing(system, staff, tmp_path, edit,
                                                                                  reason):
    case = case_at_review(system, staff)
    later = publish(system, tmp_path, edit)
    before = snapshot(later, case["id"])
    with pytest.raises(MoveRefused) as err:
        move(later, staff["policy"], case["id"])
    assert reason in str(err.value)
    assert snapshot(later, case["id"]) == before
    # the refusal names elements, never the case's data
    for value in ("Rae Porter", "Hal Arasser", "Shouted", "HackTest", "Tess"):
        assert value not in str(err.value)


def test_a_change_to_what_follows_a_ready_task_is_refused(system, staff, tmp_path):
    case = case_at_review(system, staff)  # the engine has already created what follows the review tasks
    flow = '<bpmn:sequenceFlow id="flow_review_report_to_gw_join_review" sourceRef="review_report" ' \
           'targetRef="gw_join_review" />'
    inserted = ('<bpmn:sequenceFlow id="flow_review_report_to_gw_join_review" sourceRef="review_report" '
                'targetRef="note_review" />\n    <bpmn:scriptTask id="note_review"><bpmn:script>reviewed = True'
                '</bpmn:script></bpmn:scriptTask>\n    <bpmn:sequenceFlow id="flow_note_review" '
                'sourceRef="note_review" targetRef="gw_join_review" />')
    later = publish(system, tmp_path, ("decision.bpmn", flow, inserted))
    with pytest.raises(MoveRefused, match="'review_report' in process 'decision' .* changed its outgoing flows"):
        move(later, staff["policy"], case["id"])


def test_a_moved_case_runs_to_its_end_on_the_new_version(system, staff, tmp_path):
    case = case_at_review(system, staff)
    later = publish(system, tmp_path, ("incident_response.bpmn", "<bpmn:script>case_closed = True</bpmn:script>",
                                       "<bpmn:script>case_closed = True\nclosed_on_new_version = True</bpmn:script>"),
                    ("public_communication.bpmn", 'name="Is a public announcement needed?"',
                     'name="Announce it publicly?"'))
    view = move(later, staff["policy"], case["id"]) | {"tasks": _tasks(later, case["id"])}
    for who, task, data in [
        ("team", "review_report", {"policy_assessment": "A clear violation."}),
        ("organizer", "add_organizer_view", {"organizer_view": "Nothing to add."}),
        ("team", "decide_action", {"action": "no_action", "rationale": "First time.", "decided_with": "olga"}),
        ("onsite", "meet_harasser", {"report_summarized": True, "decision_notified": True,
                                     "harasser_disputes": False}),
        ("onsite", "inform_aware_people", {"informed_people": ["two mentors"], "no_details_shared": True,
                                           "message_text": "Against policy; action taken."}),
    ]:
        view = do(later, staff[who], view, task, data)
    assert [(t["task"], t["title"]) for t in view["tasks"]] == [("decide_announcement", "Announce it publicly?")]
    view = do(later, staff["team"], view, "decide_announcement", {"announcement_needed": False})
    view = do(later, staff["team"], view, "close_case", {"closing_summary": "Handled."})
    assert view["status"] == "closed" and view["data"]["closed_on_new_version"] is True
    assert view["process_version"] == later.processes.current.hash


def test_only_policy_staff_move_cases_and_excluded_ones_do_not_see_the_case(system, staff, tmp_path):
    case = case_at_review(system, staff)
    excluded = case_at_review(system, staff, excluded_staff=["pol"])
    later = publish(system, tmp_path, *NEW_WORDING)
    for who in ("onsite", "team", "auditor", "organizer"):
        with pytest.raises(NotAllowed):
            move(later, staff[who], case["id"])
    with pytest.raises(NotFound):
        move(later, staff["policy"], excluded["id"])
    with pytest.raises(NotFound):
        move(later, staff["policy"], 999999)
    with pytest.raises(NotFound, match="no process version"):
        move(later, staff["policy"], case["id"], "ab" * 32)
    assert move(later, staff["policy"], case["id"])["process_version"] == later.processes.current.hash
    with pytest.raises(MoveRefused, match="already runs on version"):
        move(later, staff["policy"], case["id"])


@pytest.mark.edits_stored_cases  # marks the case closed behind the engine's back
def test_a_closed_case_is_not_moved(system, staff, tmp_path):
    case = case_at_review(system, staff)
    with system.writing() as uow:
        uow.session.get(Case, case["id"]).status = "closed"
        uow.commit()
    later = publish(system, tmp_path, *NEW_WORDING)
    with pytest.raises(CaseClosed):
        move(later, staff["policy"], case["id"])


def test_the_api_moves_a_case_for_policy_staff_and_refuses_with_the_reason(system, staff, tmp_path):
    from web import create_app
    case = case_at_review(system, staff)
    later = publish(system, tmp_path, ("incident_response.bpmn", "max_wording_rounds = 5", "max_wording_rounds = 6"))
    client = create_app({"TESTING": True, "SETTINGS": system.settings, "INCIDENTS": later}).test_client()

    def post(user, body):
        token = client.post("/api/tokens", json={"username": user, "password": "correct horse battery"}).get_json()
        return client.post(f"/api/cases/{case['id']}/move", json=body,
                           headers={"Authorization": f"Bearer {token['token']}"})

    assert post("olga", {"version": later.processes.current.hash}).status_code == 403
    assert post("pol", {"version": "nope"}).status_code == 422
    assert post("pol", {"version": later.processes.current.hash, "x": 1}).status_code == 422
    refused = post("pol", {"version": later.processes.current.hash})
    assert refused.status_code == 409 and "'init_case'" in refused.get_json()["error"]
    newer = publish(system, tmp_path / "wording", *NEW_WORDING)
    moved = post("pol", {"version": newer.processes.current.hash})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["process_version"] == newer.processes.current.hash


def test_a_completed_task_whose_form_had_other_fields_refuses_the_move(system, staff, tmp_path):
    from engine.models import ProcessVersionRow
    case = case_at_review(system, staff)
    with system.writing() as uow:  # the case's version was published when this form had one field fewer
        row = uow.session.get(ProcessVersionRow, case["process_version"])
        row.forms = {**row.forms, "call_incident_team": row.forms["call_incident_team"][:1]}
        uow.commit()
    later = publish(system, tmp_path, *NEW_WORDING)
    with pytest.raises(MoveRefused, match="'call_incident_team' in process 'incident_response' \\(completed\\) "
                                          "changed its form fields"):
        move(later, staff["policy"], case["id"])
