"""Every loop has a cap: the real diagrams pass, an uncapped loop is refused naming file, flow and line,
and a case whose data takes a counter past its cap is stopped while it runs."""
import pytest

from engine.diagrams import load_files
from engine.errors import DiagramCodeFailed, DiagramError, RestrictedCodeError
from engine.loops import MAX_ROUNDS, Cap
from engine.scripting import RestrictedEnvironment
from forms import FORMS
from forms.base import Form, boolean
from tests.driver import CaseDriver
from tests.test_diagrams import edited, files

SEND_BACK = "wording_approved == False and wording_round &lt; max_wording_rounds"
COUNT_WORDING = "<spiffworkflow:postScript>wording_round = wording_round + 1</spiffworkflow:postScript>"


def refused(**changed):
    with pytest.raises(DiagramError) as err:
        load_files(files(**changed), FORMS)
    assert err.value.line and err.value.element_id and err.value.file_name, err.value
    return err.value


def test_the_real_diagrams_cap_both_of_their_loops():
    version = load_files(files(), FORMS)
    assert version.loop_caps == {"decision_round": Cap("max_decision_rounds", False),
                                 "wording_round": Cap("max_wording_rounds", False)}


def test_a_loop_whose_condition_compares_no_count_is_refused_naming_the_flow():
    err = refused(**edited("public_communication.bpmn", SEND_BACK, "wording_approved == False"))
    assert err.file_name == "public_communication.bpmn" and err.element_id == "flow_gw_wording_to_gw_join_draft"
    assert "without a cap" in str(err) and "wording_round" in str(err)


def test_a_loop_that_counts_nothing_is_refused():
    err = refused(**edited("public_communication.bpmn", COUNT_WORDING, ""))
    assert err.element_id == "flow_gw_wording_to_gw_join_draft" and "no script in it counts" in str(err)


def test_the_decision_loop_across_three_diagrams_needs_its_counting_script():
    err = refused(**edited("decision.bpmn", "decision_round = decision_round + 1", "decision_round = decision_round"))
    assert "without a cap" in str(err) and "no script in it counts" in str(err)
    assert err.file_name == "incident_response.bpmn" and err.element_id == "flow_gw_revised_to_gw_join_decision"
    # the loop runs through the three diagrams, and the message shows its path
    for element in ("gw_join_decision", "count_decision_round", "meet_harasser", "gw_revised"):
        assert element in err.message


def test_a_cycle_that_skips_the_counting_script_is_refused():
    # a second way back that goes round without passing "Draft the announcement" (which counts)
    shortcut = ('<bpmn:sequenceFlow id="flow_retry_approval" sourceRef="gw_wording" targetRef="approve_wording">'
                "<bpmn:conditionExpression>wording_round &lt; max_wording_rounds</bpmn:conditionExpression>"
                "</bpmn:sequenceFlow>\n    ")
    err = refused(**edited("public_communication.bpmn", '<bpmn:sequenceFlow id="flow_gw_wording_to_gw_join_draft"',
                           shortcut + '<bpmn:sequenceFlow id="flow_gw_wording_to_gw_join_draft"'))
    assert err.element_id == "flow_retry_approval" and "does not pass the script that counts" in str(err)


def test_a_script_in_the_loop_that_resets_the_counter_is_refused():
    reset = COUNT_WORDING.replace("wording_round + 1", "wording_round + 1\nmax_wording_rounds = 1000")
    err = refused(**edited("public_communication.bpmn", COUNT_WORDING, reset))
    assert err.element_id == "draft_announcement" and "max_wording_rounds" in str(err)


def test_a_form_in_the_loop_with_a_field_named_like_the_counter_is_refused():
    class Approve(Form):
        wording_approved = boolean("Approved?")
        wording_round = boolean("Sneaky")

    with pytest.raises(DiagramError) as err:
        load_files(files(), {**FORMS, "approve_wording": Approve})
    assert err.value.element_id == "approve_wording" and "wording_round" in str(err.value)


def test_a_call_activity_that_calls_its_own_process_is_refused():
    err = refused(**edited("decision.bpmn", '<bpmn:endEvent id="decision_end"',
                           '<bpmn:callActivity id="again" calledElement="decision" />\n    '
                           '<bpmn:endEvent id="decision_end"'))
    assert err.element_id == "again" and "recursive" in str(err)


@pytest.mark.parametrize("marker,ok", [
    ('<bpmn:standardLoopCharacteristics loopMaximum="3" />', True),
    ("<bpmn:standardLoopCharacteristics />", False),
    (f'<bpmn:standardLoopCharacteristics loopMaximum="{MAX_ROUNDS + 1}" />', False),
    ('<bpmn:standardLoopCharacteristics loopMaximum="three" />', False),
    ("<bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>len(others_aware)"
     "</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>", False),
])
def test_a_loop_task_needs_a_literal_maximum(marker, ok):
    changed = edited("decision.bpmn", "<bpmn:script>decision_round", marker + "\n      <bpmn:script>decision_round")
    if ok:
        load_files(files(**changed), FORMS)
        return
    err = refused(**changed)
    assert err.element_id == "count_decision_round" and "needs a cap" in str(err)


@pytest.mark.parametrize("cycle,ok", [('"R3/PT1H"', True), ('"R/PT1H"', False), ('"R1000/PT1H"', False),
                                      ("some_expression", False)])
def test_a_cycle_timer_needs_a_literal_repeat_count(cycle, ok):
    changed = edited("incident_response.bpmn", '<bpmn:timeDuration>"PT2H"</bpmn:timeDuration>',
                     f"<bpmn:timeCycle>{cycle}</bpmn:timeCycle>")
    if ok:
        load_files(files(**changed), FORMS)
        return
    err = refused(**changed)
    assert err.element_id == "report_overdue_def" and "repeat count" in str(err)


def test_the_cap_is_enforced_while_a_case_runs_even_where_the_lint_cannot_follow_the_data():
    # the counter starts at the cap outside the loop: the lint cannot see it, the running case stops at the count
    version = load_files(files(**edited("incident_response.bpmn", "decision_round = 0", "decision_round = 3")), FORMS)
    driver = CaseDriver(version)
    for task, data in [("call_incident_team", {"team_member_contacted": "T", "called_at": "2026-11-24T10:00"}),
                       ("assess_safety", {"general_threat": False}),
                       ("ask_victim_law_enforcement", {"victim_requests_law_enforcement": False}),
                       ("support_victim", {"offered_private_place": True, "explained_role_and_asked": True,
                                           "gave_emergency_contacts": True}),
                       ("choose_account_writer", {"written_by": "staff_transcription"}),
                       ("transcribe_account", {"behavior": "B", "approximate_time": "22:00", "harasser_identification": "H"})]:
        driver.complete(task, **data)
    before = driver.runner.dumps(driver.workflow)
    with pytest.raises(DiagramCodeFailed, match="decision_round would go past its cap of 3") as err:
        driver.complete("send_report", report_reviewed=True)
    assert err.value.element_id == "count_decision_round"
    assert driver.runner.dumps(driver.runner.loads(before)) == before


@pytest.mark.parametrize("cap,scope,ok", [
    (Cap("max_n", False), {"n": 3, "max_n": 3}, True), (Cap("max_n", False), {"n": 4, "max_n": 3}, False),
    (Cap("max_n", True), {"n": 4, "max_n": 3}, True), (Cap(2, False), {"n": 3}, False),
    (Cap("max_n", False), {"n": 1}, False), (Cap("max_n", False), {"n": 0}, True),
    (Cap("max_n", False), {"n": MAX_ROUNDS + 1, "max_n": 10 ** 6}, False),
])
def test_a_counting_script_may_not_pass_the_cap(cap, scope, ok):
    env = RestrictedEnvironment(loop_caps={"n": cap})
    data = {k: v for k, v in scope.items() if k != "n"} | {"n": scope["n"] - 1}
    if ok:
        env.execute("n = n + 1", data)
        assert data["n"] == scope["n"]
        return
    with pytest.raises(RestrictedCodeError):
        env.execute("n = n + 1", data)
    assert data["n"] == scope["n"] - 1


def test_a_loop_condition_is_linted_like_any_other_diagram_code():
    marker = ('<bpmn:standardLoopCharacteristics loopMaximum="3"><bpmn:loopCondition>open(&apos;/etc/passwd&apos;)'
              "</bpmn:loopCondition></bpmn:standardLoopCharacteristics>")
    err = refused(**edited("decision.bpmn", "<bpmn:script>decision_round", marker + "\n      <bpmn:script>decision_round"))
    assert err.element_id == "count_decision_round" and "open" in str(err)


def test_a_step_that_leaves_a_task_too_deep_for_the_engine_is_refused(monkeypatch):
    # SpiffWorkflow loses tasks deeper than 1000; here the limit is lowered to just below the next stage
    from engine import runtime
    driver = CaseDriver(load_files(files(), FORMS))
    driver.complete("call_incident_team", team_member_contacted="T", called_at="2026-11-24T10:00")
    live = runtime.TaskState.READY | runtime.TaskState.WAITING | runtime.TaskState.STARTED
    monkeypatch.setattr(runtime, "MAX_DEPTH", max(t.depth for t in driver.workflow.get_tasks(state=live)) + 1)
    driver.complete("assess_safety", general_threat=False)
    driver.complete("ask_victim_law_enforcement", victim_requests_law_enforcement=False)
    with pytest.raises(DiagramCodeFailed, match="steps long, close to what the engine can follow") as err:
        driver.complete("support_victim", offered_private_place=True, explained_role_and_asked=True,
                        gave_emergency_contacts=True)  # the safety gate ends: the main line moves on
    assert err.value.element_id in ("initial_report", "report_overdue", "choose_account_writer")


def test_one_counter_may_not_count_two_loops_with_different_caps():
    text = (files()["public_communication.bpmn"].decode()
            .replace("wording_round = wording_round + 1", "decision_round = decision_round + 1")
            .replace("wording_round &lt; max_wording_rounds", "decision_round &lt; max_wording_rounds"))
    err = refused(**{"public_communication.bpmn": text})
    assert "decision_round counts two loops with different caps" in str(err)
