"""Policy staff publish new process versions: drafts are validated, running cases keep their version."""
import os
import subprocess
import sys

import pytest

from engine.config import ROOT
from engine.versiondiff import diff
from forms.declarative import FormDefinitionError, compile_form
from tests.conftest import MASTER_KEY
from tests.test_api import open_case

both_databases = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)

MAIN = "incident_response.bpmn"
NEW_TASK_FORM = """\
task: check_in_with_reporter
title: Check in with the reporter
fields:
  - name: checked_in
    type: tick
    label: I checked in with the reporter
  - name: how
    type: choice
    label: How did you check in?
    choices: {phone: Phone, in_person: In person}
  - name: call_notes
    type: text
    label: Notes from the call
    required: false
    required_if: {field: how, equals: phone}
"""


def main_diagram():
    return (ROOT / "bpmn" / MAIN).read_text()


def with_new_task(xml):
    """The main diagram with a team task between public communication and closing the case."""
    xml = xml.replace('<bpmn:sequenceFlow id="flow_public_communication_to_close_case" sourceRef="public_communication" '
                      'targetRef="close_case" />',
                      '<bpmn:sequenceFlow id="flow_public_communication_to_close_case" sourceRef="public_communication" '
                      'targetRef="check_in_with_reporter" />'
                      '<bpmn:sequenceFlow id="flow_check_in_to_close" sourceRef="check_in_with_reporter" '
                      'targetRef="close_case" />')
    xml = xml.replace('<bpmn:incoming>flow_public_communication_to_close_case</bpmn:incoming>\n'
                      '      <bpmn:outgoing>flow_close_case_to_mark_closed</bpmn:outgoing>',
                      '<bpmn:incoming>flow_check_in_to_close</bpmn:incoming>\n'
                      '      <bpmn:outgoing>flow_close_case_to_mark_closed</bpmn:outgoing>')
    xml = xml.replace('<bpmn:userTask id="close_case" name="Close the case">',
                      '<bpmn:userTask id="check_in_with_reporter" name="Check in with the reporter">'
                      '<bpmn:incoming>flow_public_communication_to_close_case</bpmn:incoming>'
                      '<bpmn:outgoing>flow_check_in_to_close</bpmn:outgoing></bpmn:userTask>\n'
                      '    <bpmn:userTask id="close_case" name="Close the case">')
    xml = xml.replace('<bpmn:flowNodeRef>close_case</bpmn:flowNodeRef>',
                      '<bpmn:flowNodeRef>close_case</bpmn:flowNodeRef><bpmn:flowNodeRef>check_in_with_reporter'
                      '</bpmn:flowNodeRef>')
    assert xml.count("check_in_with_reporter") == 4 and xml.count("flow_check_in_to_close") == 3
    return xml


@both_databases
def test_a_new_step_with_a_declarative_form_is_published_and_only_new_cases_use_it(api, system, monkeypatch):
    # a new step before closing changes every shipped process path; their updates are not what this tests
    monkeypatch.setattr("engine.publishing.process_tests", lambda processes: {})
    before = open_case(api)
    draft = api("pol").post("/api/process/drafts", json={"files": {
        MAIN: with_new_task(main_diagram()), "check_in_with_reporter.form.yaml": NEW_TASK_FORM}})
    assert draft.status_code == 201, draft.get_json()
    draft = draft.get_json()
    assert draft["status"] == "valid" and draft["errors"] == []
    changes = {(c["kind"], c["id"], c["change"]) for c in draft["changes"]}
    assert {("task", "check_in_with_reporter", "added"), ("flow", "flow_check_in_to_close", "added"),
            ("form", "check_in_with_reporter", "added")} <= changes
    assert ("flow", "flow_public_communication_to_close_case", "changed") in changes
    assert ("lane", "incident_team", "changed") in changes

    refused = api("pol").post(f"/api/process/drafts/{draft['id']}/publish", json={"note": " "})
    assert refused.status_code == 422 and "note" in refused.get_json()["errors"]
    published = api("pol").post(f"/api/process/drafts/{draft['id']}/publish",
                                json={"note": "Check in with the reporter before closing"})
    assert published.status_code == 201
    version = published.get_json()["hash"]
    again = api("pol").post(f"/api/process/drafts/{draft['id']}/publish", json={"note": "twice"})
    assert again.status_code == 422

    after = open_case(api)
    assert after["process_version"] == version != before["process_version"]
    assert api("tom").get(f"/api/cases/{before['id']}").get_json()["process_version"] == before["process_version"]
    versions = api("audrey").get("/api/process/versions").get_json()
    assert versions[0]["hash"] == version and versions[0]["published_by"] == "pol"
    assert versions[0]["note"] == "Check in with the reporter before closing"
    assert versions[0]["based_on"] == before["process_version"]
    assert ("task", "check_in_with_reporter", "added") in {(c["kind"], c["id"], c["change"])
                                                           for c in versions[0]["changes"]}
    # the published version carries its form: a worker that never saw the draft loads it from the database
    with system.reading() as uow:
        from engine.processes import ProcessRegistry
        from forms import FORMS
        fresh = ProcessRegistry.from_directory(ROOT / "bpmn", FORMS)
        form = fresh.runner(version, uow.session).version.forms["check_in_with_reporter"]
    assert form().validate({"checked_in": True, "how": "phone"}) == {
        "call_notes": ["Required when 'how' is 'phone'."]}
    assert form().validate({"checked_in": True, "how": "in_person"}) == {}


@both_databases
def test_a_broken_draft_names_file_element_and_line_and_is_never_published(api):
    current = open_case(api)["process_version"]
    xml = main_diagram().replace('<bpmn:flowNodeRef>close_case</bpmn:flowNodeRef>', '')
    xml = xml.replace('<bpmn:lane id="organizer" name="Organizers">',
                      '<bpmn:lane id="organizer" name="Organizers"><bpmn:flowNodeRef>close_case</bpmn:flowNodeRef>')
    xml = xml.replace('<bpmn:lane id="organizer"', '<bpmn:lane id="volunteers"')
    draft = api("pol").post("/api/process/drafts", json={"files": {MAIN: xml}}).get_json()
    assert draft["status"] == "invalid"
    [error] = draft["errors"]
    assert error["file"] == MAIN and error["element"] and error["line"] > 0, error
    assert api("pol").post(f"/api/process/drafts/{draft['id']}/publish", json={"note": "x"}).status_code == 422
    assert open_case(api)["process_version"] == current
    doctype = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>'
    draft = api("pol").post("/api/process/drafts", json={"files": {MAIN: doctype}}).get_json()
    assert draft["status"] == "invalid" and "DOCTYPE" in draft["errors"][0]["message"]
    bad_form = api("pol").post("/api/process/drafts", json={"files": {
        MAIN: with_new_task(main_diagram()),
        "check_in_with_reporter.form.yaml": NEW_TASK_FORM.replace("type: choice", "type: dropdown")}}).get_json()
    assert bad_form["errors"][0]["file"] == "check_in_with_reporter.form.yaml"
    assert bad_form["errors"][0]["element"] == "how" and bad_form["errors"][0]["line"] == 7
    unchanged = api("pol").post("/api/process/drafts", json={"files": {MAIN: main_diagram()}}).get_json()
    assert unchanged["status"] == "invalid" and unchanged["errors"][0]["message"] == "nothing changed"
    named = api("pol").post("/api/process/drafts", json={"files": {"../etc/passwd": "x"}})
    assert named.status_code == 422


@both_databases
def test_only_policy_staff_publish_and_case_readers_do_not_see_versions(api):
    for user in ("olga", "tom", "orla", "audrey"):
        assert api(user).post("/api/process/drafts", json={"files": {}}).status_code == 403
    assert api("orla").get("/api/process/versions").status_code == 403
    assert api("olga").get("/api/process/versions").status_code == 403
    assert api("pol").get("/api/process/versions").status_code == 200


@both_databases
def test_incidents_publish_from_the_command_line(system, staff, tmp_path):
    (tmp_path / MAIN).write_text(main_diagram().replace('name="Close the case"', 'name="Close the case now"'))
    env = {**os.environ, "INCIDENTS_DATABASE_URL": system.settings.database_url, "INCIDENTS_MASTER_KEY": MASTER_KEY,
           "PYTHONPATH": str(ROOT)}

    def publish(*args):
        return subprocess.run([sys.executable, "-m", "cli.main", "publish", *args], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    done = publish(str(tmp_path / MAIN), "--note", "Clearer title", "--by", "pol")
    assert done.returncode == 0, done.stderr
    assert "changed  task       close_case name" in done.stdout and "published version" in done.stdout
    assert publish(str(tmp_path / MAIN), "--note", "x", "--by", "olga").returncode == 1  # not policy staff
    (tmp_path / "broken.bpmn").write_text("<not-closed>")
    broken = publish(str(tmp_path / "broken.bpmn"), "--note", "x", "--by", "pol")
    assert broken.returncode == 1 and "broken.bpmn" in broken.stderr


def test_the_diff_lists_conditions_lanes_and_forms():
    old = {MAIN: main_diagram()}
    new_xml = main_diagram().replace('<bpmn:flowNodeRef>close_case</bpmn:flowNodeRef>', '')
    new_xml = new_xml.replace('<bpmn:userTask id="close_case" name="Close the case">',
                              '<bpmn:userTask id="close_case" name="Close it">')
    changes = diff(old, {MAIN: new_xml}, {"close_case": [{"name": "a"}]}, {"close_case": [{"name": "b"}]})
    assert {"kind": "task", "id": "close_case", "file": MAIN, "name": "Close it", "change": "changed",
            "fields": ["lane", "name"]} in changes
    assert any(c["kind"] == "lane" and c["id"] == "incident_team" and c["fields"] == ["tasks"] for c in changes)
    assert {"kind": "form", "id": "close_case", "file": MAIN, "name": None, "change": "changed",
            "fields": ["a", "b"]} in changes
    dmn = (ROOT / "bpmn" / "regional_contacts.dmn").read_text()
    cell = diff({"r.dmn": dmn}, {"r.dmn": dmn.replace("+44 800 808 5675", "+44 800 000 0000")}, {}, {})
    assert [c["kind"] for c in cell] == ["dmn rule"] and cell[0]["fields"] == ["cells"]


@pytest.mark.parametrize("text, message, line", [
    ("task: other\ntitle: T\nfields: []\n", "'task' must be 'x'", 1),
    ("task: x\ntitle: T\nfields:\n  - {name: a, type: tick, label: A, required: false}\n", "always required", 4),
    ("task: x\ntitle: T\nfields:\n  - {name: a, type: text, label: A, required_if: {field: b, equals: 1}}\n",
     "does not have", 4),
    ("task: x\ntitle: T\nextra: 1\nfields: []\n", "unknown keys extra", 1),
    ("task: x\ntitle: T\nfields:\n  - {name: A B, type: text, label: A}\n", "lowercase", 4),
    ("task: [\n", "not valid YAML", 2),
    ("!!python/object:os.system\n", "not valid YAML", 1),
])
def test_form_definitions_are_checked_with_the_line(text, message, line):
    with pytest.raises(FormDefinitionError) as err:
        compile_form("x.form.yaml", text.encode())
    assert message in str(err.value) and err.value.line == line, str(err.value)


@both_databases
def test_a_draft_that_breaks_a_process_test_is_refused_with_the_test_failure(api):
    # the decision revision cap is a tested path (bpmn/tests/14_decision_revision_cap.yaml)
    assert "max_decision_rounds = 3" in main_diagram()
    draft = api("pol").post("/api/process/drafts", json={"files": {
        MAIN: main_diagram().replace("max_decision_rounds = 3", "max_decision_rounds = 2")}}).get_json()
    assert draft["status"] == "invalid"
    assert any(e["file"] == "tests/14_decision_revision_cap.yaml" and "expected" in e["message"]
               for e in draft["errors"]), draft["errors"]
    # a draft may bring its own process tests: a failing one blocks it too
    own = api("pol").post("/api/process/drafts", json={
        "files": {MAIN: main_diagram().replace('name="Close the case"', 'name="Close it"')},
        "tests": {"mine.yaml": "name: mine\nintake: {}\nsteps: []\n"}}).get_json()
    assert own["status"] == "invalid" and own["errors"][0]["file"] == "tests/mine.yaml"


TITLE_TEST = """\
name: The first step's title
intake: {event_name: HackTest, event_format: in_person, region: europe, opened_by_role: onsite_staff,
         reporter_anonymous: no}
steps: []
expect:
  ready: [call_incident_team]
  data: {staff_role: onsite_staff}
"""


@both_databases
def test_process_tests_published_with_a_version_bind_the_next_draft(api):
    renamed = main_diagram().replace('name="Close the case"', 'name="Close the case now"')
    draft = api("pol").post("/api/process/drafts", json={"files": {MAIN: renamed},
                                                         "tests": {"first_step.yaml": TITLE_TEST}}).get_json()
    assert draft["status"] == "valid", draft["errors"]
    assert api("pol").post(f"/api/process/drafts/{draft['id']}/publish", json={"note": "title"}).status_code == 201
    # the next draft starts from that version: breaking its new test is refused, naming the test
    broken = renamed.replace("staff_role = 'onsite_staff' if", "staff_role = 'organizer' if")
    assert broken != renamed
    later = api("pol").post("/api/process/drafts", json={"files": {MAIN: broken}}).get_json()
    assert later["status"] == "invalid"
    assert any(e["file"] == "tests/first_step.yaml" for e in later["errors"]), later["errors"]


def test_the_diff_lists_removed_elements_and_changed_conditions():
    xml = main_diagram()
    assert "onsite_staff_available" in xml
    changed = xml.replace("staff_role = 'onsite_staff' if onsite_staff_available", "staff_role = 'onsite_staff' if True")
    removed = xml.replace('<bpmn:sequenceFlow id="flow_close_case_to_mark_closed" sourceRef="close_case" '
                          'targetRef="mark_closed" />', '')
    assert changed != xml and removed != xml
    kinds = {(c["kind"], c["change"]) for c in diff({MAIN: xml}, {MAIN: changed}, {}, {})}
    assert ("task", "changed") in kinds  # the init_case script
    gone = diff({MAIN: xml}, {MAIN: removed}, {}, {})
    assert {"kind": "flow", "id": "flow_close_case_to_mark_closed", "file": MAIN, "name": None, "change": "removed",
            "fields": []} in gone
    conditions = [c for c in diff({"d.bpmn": (ROOT / "bpmn" / "response.bpmn").read_text()},
                                  {"d.bpmn": (ROOT / "bpmn" / "response.bpmn").read_text().replace(
                                      "decision_round &lt; max_decision_rounds", "decision_round &lt; 2")}, {}, {})]
    assert [(c["kind"], c["change"], c["fields"]) for c in conditions] == [("condition", "changed", ["condition"])]


@both_databases
def test_a_draft_id_beyond_the_id_column_is_not_found(api):
    assert api("pol").get("/api/process/drafts/2147483648").status_code == 404
    assert api("pol").post("/api/process/drafts/2147483648/publish", json={"note": "x"}).status_code == 404
