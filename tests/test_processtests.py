"""The process test runner: exact failure messages, mistakes in a file named by file and line, drafts caught.

The files policy staff ship are run by test_process_yaml.py; here small files written for each case
show what a broken test reports.
"""
import textwrap

import pytest

from engine.config import ROOT
from engine.diagrams import load_directory, load_files
from engine.errors import ProcessTestError
from engine.processtest_yaml import parse_duration, read_test
from engine.processtests import run_process_tests
from forms import FORMS

# Seven steps that bring a case opened by on-site staff to the decision stage (lines 2 to 22).
TO_DECISION = """\
steps:
  - task: call_incident_team
    answers:
      team_member_contacted: Tom from the team
      called_at: 2026-11-24T10:00
  - task: assess_safety
    answers: {general_threat: no}
  - task: ask_victim_law_enforcement
    answers: {victim_requests_law_enforcement: no}
  - task: support_victim
    answers: {offered_private_place: yes, explained_role_and_asked: yes, gave_emergency_contacts: yes}
  - task: choose_account_writer
    answers: {written_by: staff_transcription}
  - task: transcribe_account
    answers:
      harasser_identification: Jordan Blake, team 12
      behavior: Unwanted comments
      approximate_time: Saturday night
      others_aware: [Alex Moreno]
  - task: send_report
    answers: {report_reviewed: yes}
"""


def run(processes, text, name="case.yaml"):
    """Run one test file given as text on the current diagrams."""
    [result] = run_process_tests(processes.current, {name: "name: A test\n" + textwrap.dedent(text)})
    return result


def failures(processes, text):
    result = run(processes, text)
    assert not result.passed
    return list(result.failures)


# ------------------------------------------------------------------ failure messages


def test_a_task_that_is_not_ready_fails_naming_the_step_and_what_was_ready(processes):
    text = TO_DECISION + """\
  - task: decide_action
    answers: {action: no_action, rationale: r, decided_with: olga}
expect:
  status: open
"""
    assert failures(processes, text) == [
        "line 23: expected task 'decide_action' to be ready at step 8, got ready: add_organizer_view, review_report"]


def test_a_wrong_final_expectation_fails_with_the_exact_message_and_every_miss_is_reported(processes):
    text = TO_DECISION + """\
expect:
  ready: [decide_action]
  reached: [send_report, close_case]
  never_reached: [transcribe_account]
  data:
    written_by: reporter
    others_aware: [Alex Moreno]
    general_threat: 0
    summoned: security
  status: closed
"""
    assert failures(processes, text) == [
        "line 24: expected ready: decide_action at step 8 (the end), got ready: add_organizer_view, review_report",
        "line 25: expected task 'close_case' to have been reached at step 8 (the end), got never reached "
        "(ready: add_organizer_view, review_report)",
        "line 26: expected task 'transcribe_account' never reached at step 8 (the end), got reached",
        'line 28: expected written_by = "reporter" at step 8 (the end), got "staff_transcription"',
        "line 30: expected general_threat = 0 at step 8 (the end), got false",
        'line 31: expected summoned = "security" at step 8 (the end), got no value',
        "line 32: expected status closed at step 8 (the end), got open",
    ]


def test_a_failed_check_step_stops_the_test_there(processes):
    text = """\
steps:
  - check:
      ready: [assess_safety]
      data: {reporting_phone: "+1 409 202 6060"}
  - task: assess_safety
    answers: {general_threat: no}
expect:
  status: open
"""
    result = run(processes, text)
    assert result.failures == (
        "line 4: expected ready: assess_safety at step 1, got ready: call_incident_team",
        'line 5: expected reporting_phone = "+1 409 202 6060" at step 1, got "+44 800 808 5675"',
    )
    assert result.steps_run == 0


def test_answers_the_form_refuses_fail_with_the_forms_messages(processes):
    text = """\
steps:
  - task: call_incident_team
    answers: {team_member_contacted: Tom, called_at: yesterday, mood: fine}
expect:
  status: open
"""
    assert failures(processes, text) == [
        "line 3: expected the answers to 'call_incident_team' to be accepted at step 1, got refused: "
        "called_at: Not a valid datetime.; mood: Unknown field."]


def test_a_public_text_naming_someone_in_the_case_is_refused_as_the_app_refuses_it(processes):
    text = TO_DECISION + """\
  - task: review_report
    answers: {policy_assessment: Violation.}
  - task: add_organizer_view
    answers: {organizer_view: Known.}
  - task: decide_action
    answers: {action: no_action, rationale: r, decided_with: olga}
  - task: meet_harasser
    answers: {report_summarized: yes, decision_notified: yes, harasser_disputes: no}
  - task: inform_aware_people
    answers: {informed_people: [Alex Moreno], message_text: Jordan was warned., no_details_shared: yes}
expect:
  status: open
"""
    assert failures(processes, text) == [
        "line 31: expected the answers to 'inform_aware_people' to be accepted at step 12, got refused: "
        "message_text: This identifies someone involved in the case: Jordan. Leave out names and details."]


def test_expected_refusals_must_name_exactly_the_refused_fields(processes):
    text = """\
steps:
  - task: call_incident_team
    answers: {team_member_contacted: Tom, called_at: yesterday}
    refused: team_member_contacted
expect:
  status: open
"""
    assert failures(processes, text) == [
        "line 3: expected the answers to 'call_incident_team' to be refused for team_member_contacted at step 1, "
        "got refused: called_at: Not a valid datetime."]
    accepted = text.replace("yesterday", "2026-11-24T10:00")
    assert failures(processes, accepted) == [
        "line 3: expected the answers to 'call_incident_team' to be refused for team_member_contacted at step 1, "
        "got them accepted"]
    assert run(processes, text.replace("refused: team_member_contacted", "refused: [called_at]")).passed


def test_a_task_done_by_another_role_than_expected_fails(processes):
    text = """\
intake: {opened_by_role: organizer}
steps:
  - task: connect_onsite_staff
    answers: {onsite_staff_reached: no}
  - task: contact_team_now
    answers: {team_member_contacted: Tom, called_at: 2026-11-24T10:00}
  - task: assess_safety
    by: onsite_staff
    answers: {general_threat: no}
expect:
  status: open
"""
    assert failures(processes, text) == [
        "line 8: expected task 'assess_safety' to be done by onsite_staff at step 3, got incident_team"]


def test_a_message_the_case_is_not_waiting_for_fails_and_an_expected_refusal_passes(processes):
    text = """\
steps:
  - message: appeal
expect:
  status: open
"""
    assert failures(processes, text) == [
        "line 3: expected message 'appeal' to be taken at step 1, got refused: the case is not waiting for 'appeal'"]
    refused = run(processes, text.replace("  - message: appeal\n", "  - message: appeal\n    refused: yes\n"))
    assert refused.passed, refused.failures
    taken = failures(processes, text.replace("appeal", "safety_concern").replace(
        "  - message: safety_concern\n", "  - message: safety_concern\n    refused: yes\n"))
    assert taken == ["line 3: expected message 'safety_concern' to be refused at step 1, got it taken "
                     "(ready: call_incident_team, summon_security_now)"]


def test_intake_the_intake_form_refuses_fails_at_step_0_on_the_line_of_the_field(processes):
    text = """\
intake:
  region: atlantis
steps: []
expect:
  status: open
"""
    assert failures(processes, text) == [
        "line 3: expected the intake to be accepted at step 0, got refused: region: Must be one of: north_america, "
        "canada, europe, asia_pacific, india."]


def test_waiting_fires_due_timers_once(processes):
    text = """\
steps:
  - wait: 15 minutes
  - check:
      ready: [call_incident_team, unacknowledged_incident]
  - task: unacknowledged_incident
    answers: {followed_up: yes}
  - wait: 1 day
expect:
  ready: [call_incident_team]
"""
    result = run(processes, text)
    assert result.passed, result.failures
    early = failures(processes, text.replace("15 minutes", "PT14M"))
    assert early == ["line 5: expected ready: call_incident_team, unacknowledged_incident at step 2, "
                     "got ready: call_incident_team"]


# ------------------------------------------------------------------ mistakes in the file, named by file and line


@pytest.mark.parametrize("text, message", [
    ("name: t\nsteps: []\nexpect: {status: open}\nexpcet: {}\n",
     "unknown key 'expcet' in the test (did you mean 'expect'?)"),
    ("name: t\nsteps:\n  - task: assess_safety\n    anwsers: {general_threat: no}\nexpect: {status: open}\n",
     "unknown key 'anwsers' in step 1 (did you mean 'answers'?)"),
    ("name: t\nsteps: []\nexpect:\n  status: open\n  status: closed\n", "'status' is given twice in the same block"),
    ("name: t\nsteps: {task: assess_safety}\nexpect: {status: open}\n",
     "'steps' must be a list of steps, got a block of keys"),
    ("name: t\nsteps:\n  - task: assess_safety\n    answers: [general_threat]\nexpect: {status: open}\n",
     "'answers' must be a block of field: answer, got a list"),
    ("name: t\nsteps: []\nexpect:\n  status: finished\n",
     "'status' must be one of open, closed, completed, got 'finished'"),
    ("name: t\nsteps: []\nexpect:\n  reached: [assess_safety, 3]\n",
     "'reached' must be a list of task ids, but one item is the number 3"),
    ("name: t\nsteps:\n  - wait: a while\nexpect: {status: open}\n",
     "'a while' is not a duration such as '20 minutes', '2 hours' or 'PT20M'"),
    ("name: t\nsteps:\n  - message: fire_alarm\nexpect: {status: open}\n",
     "unknown message 'fire_alarm' (known: appeal, attendee_distressed, safety_concern)"),
    ("name: t\nsteps:\n  - message: appeal\n    by: organizer\nexpect: {status: open}\n",
     "'appeal' can only be raised by incident_team, not 'organizer'"),
    ("name: t\nsteps:\n  - task: assess_safety\n    by: auditor\nexpect: {status: open}\n",
     "'by' must be one of incident_team, onsite_staff, organizer, reporter, got 'auditor'"),
    ("name: t\nsteps:\n  - task: assess_safety\n    wait: 2 hours\nexpect: {status: open}\n",
     "step 1 needs exactly one of task, message, wait, check (it has task, wait)"),
    ("name: t\nsteps:\n  - assess_safety\nexpect: {status: open}\n",
     "step 1 must start with one of task:, message:, wait:, check:, got the text 'assess_safety'"),
    ("name: t\nsteps: []\nexpect:\n  data: {yes: 1}\n",
     "True is not a name: write names as words (put them in quotes if needed)"),
    ("name: t\nsteps: []\nexpect: {}\n", "expect expects nothing: give ready, reached, never_reached, data or status"),
    ("name: t\nintake: {onsite_staff_available: maybe}\nsteps: []\nexpect: {status: open}\n",
     "'onsite_staff_available' must be yes or no, got the text 'maybe'"),
    ("name: t\nsteps:\n  - task: [assess_safety\nexpect: {status: open}\n",
     "this is not valid YAML: expected ',' or ']', but got ':'"),
])
def test_a_malformed_file_is_refused_naming_file_and_line(processes, text, message):
    result = run_process_tests(processes.current, {"bad.yaml": text})[0]
    assert not result.passed
    [failure] = result.failures
    assert failure.startswith("bad.yaml, line ") and failure.endswith(f": {message}"), failure


def test_the_line_named_is_the_line_of_the_mistake(processes):
    text = "name: t\nsteps:\n  - task: assess_safety\n    answers:\n      general_threat: no\n    anwsers: {}\n" \
           "expect: {status: open}\n"
    assert run_process_tests(processes.current, {"bad.yaml": text})[0].failures == (
        "bad.yaml, line 6: unknown key 'anwsers' in step 1 (did you mean 'answers'?)",)


def test_unknown_task_ids_in_steps_and_expectations_are_refused_with_a_suggestion(processes):
    in_step = "name: t\nsteps:\n  - task: asses_safety\nexpect: {status: open}\n"
    in_expectation = "name: t\nsteps: []\nexpect:\n  never_reached:\n    - summon_security\n    - sumon_security\n"
    single = "name: t\nsteps: []\nexpect:\n  status: open\n  reached: clos_case\n"
    results = run_process_tests(processes.current, {"a.yaml": in_step, "b.yaml": in_expectation, "c.yaml": single})
    assert results[0].failures == (
        "a.yaml, line 3: unknown task id 'asses_safety': no user task of the process has it; did you mean "
        "'assess_safety'?",)
    assert results[1].failures == (
        "b.yaml, line 6: unknown task id 'sumon_security': no user task of the process has it; did you mean "
        "'summon_security'?",)
    assert results[2].failures == (
        "c.yaml, line 5: unknown task id 'clos_case': no user task of the process has it; did you mean 'close_case'?",)


def test_missing_keys_an_empty_file_and_an_unreadable_file_are_failures_not_crashes(processes, tmp_path):
    missing = run_process_tests(processes.current, {"m.yaml": "name: t\nsteps: []\n"})[0]
    assert missing.failures == ("m.yaml, line 1: the test needs 'expect'",)
    empty = run_process_tests(processes.current, {"e.yaml": "# nothing yet\n"})[0]
    assert empty.failures == ("e.yaml: the file is empty",)
    gone = tmp_path / "gone.yaml"
    assert run_process_tests(processes.current, [gone])[0].failures == (
        f"{gone}: cannot read the file: No such file or directory",)


def test_dates_and_times_stay_the_text_written_and_reach_the_form_as_text(processes):
    test = read_test("name: t\nsteps:\n  - task: call_incident_team\n    answers: {called_at: 2026-11-24T10:00:00Z,"
                     " team_member_contacted: 2026-11-24}\nexpect: {status: open}\n", "t.yaml")
    assert test.steps[0].answers == {"called_at": "2026-11-24T10:00:00Z", "team_member_contacted": "2026-11-24"}


def test_yaml_tags_that_build_python_objects_are_refused():
    with pytest.raises(ProcessTestError) as err:
        read_test("name: !!python/object/apply:os.system ['true']\nsteps: []\nexpect: {status: open}\n", "x.yaml")
    assert str(err.value) == ("x.yaml, line 1: this is not valid YAML: could not determine a constructor for the tag "
                              "'tag:yaml.org,2002:python/object/apply:os.system'")


def test_nested_aliases_that_would_expand_past_the_limit_are_refused_quickly():
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    text = "name: t\nsteps: []\nexpect: {status: open}\n" + "\n".join(levels) + "\n"
    with pytest.raises(ProcessTestError) as err:
        read_test(text, "bomb.yaml")
    assert str(err.value) == "bomb.yaml: the file holds more than 100000 values once its aliases (*name) are expanded"


def test_durations_read_as_people_write_them():
    assert parse_duration("20 minutes").total_seconds() == 1200
    assert parse_duration("1 hour and 30 minutes").total_seconds() == 5400
    assert parse_duration("PT2H").total_seconds() == 7200
    assert parse_duration("2 days").total_seconds() == 172800
    with pytest.raises(ValueError):
        parse_duration("20")


# ------------------------------------------------------------------ drafts: what publishing will call


def draft(change):
    """The current diagrams with one text replaced in incident_response.bpmn, loaded as a draft version."""
    files = {p.name: p.read_bytes() for p in sorted((ROOT / "bpmn").iterdir()) if p.suffix in (".bpmn", ".dmn")}
    old, new = change
    assert old.encode() in files["incident_response.bpmn"]
    files["incident_response.bpmn"] = files["incident_response.bpmn"].replace(old.encode(), new.encode())
    return load_files(files, FORMS)


def test_a_draft_that_lowers_the_revision_cap_fails_the_shipped_cap_test():
    version = draft(("max_decision_rounds = 3", "max_decision_rounds = 2"))
    [result] = run_process_tests(version, [ROOT / "bpmn" / "tests" / "14_decision_revision_cap.yaml"])
    assert result.failures == (
        "line 44: expected task 'reconsider_decision' to be ready at step 17, got ready: send_written_notice",)
    assert result.steps_run == 16


def test_a_draft_whose_gateway_breaks_mid_case_fails_the_test_instead_of_crashing():
    version = draft(("action in ('temporary_suspension', 'permanent_ban')", "acton in ('temporary_suspension',)"))
    results = run_process_tests(version, [ROOT / "bpmn" / "tests" / "11_temporary_suspension.yaml"])
    [failure] = results[0].failures
    assert failure.startswith(
        "line 53: expected step 18 to run, got an error in the diagrams: the diagram code at 'gw_sanctioned' "
        "failed: name 'acton' is not defined."), failure
    assert results[0].steps_run == 17


def test_the_shipped_tests_pass_on_a_fresh_parse_of_the_same_diagrams():
    version = load_directory(ROOT / "bpmn", FORMS)
    results = run_process_tests(version, sorted((ROOT / "bpmn" / "tests").glob("0*.yaml")))
    assert len(results) == 9 and all(result.passed for result in results)


def test_the_example_in_the_readme_is_a_well_formed_test_file():
    readme = (ROOT / "bpmn" / "tests" / "README.md").read_text()
    example = readme.split("## An example\n\n```yaml\n", 1)[1].split("```", 1)[0]
    test = read_test(example, "README.md")
    assert [step.kind for step in test.steps] == ["task", "task", "task", "message", "wait", "check"]
    assert test.steps[2].refused == ("suspension_length",)
    assert test.expect.status == "closed"
