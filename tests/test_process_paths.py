"""Every path through the incident process, driven on the real diagrams with form-validated data.

Each test opens a case with CaseDriver, walks it with the small step helpers below and checks the
exact user tasks visited, the ready tasks at the forks, the data recorded and who acts.
"""
import pytest

from engine.config import ROOT
from engine.diagrams import load_directory
from engine.errors import InvalidSubmission
from forms import FORMS

from .driver import CaseDriver

WHEN = "2026-11-24T10:00"
WHEN_STORED = "2026-11-24T10:00:00"
SANCTIONS = ("temporary_suspension", "permanent_ban")
ACTION_DETAILS = {
    "no_action": {},
    "warning": {"warning_form": "written"},
    "temporary_suspension": {"suspension_length": "this event and the next 2 events"},
    "permanent_ban": {},
}
ACCOUNT = {
    "harasser_identification": "Tall person, team 12, blue badge",
    "behavior": "Repeated unwanted comments after being asked to stop",
    "approximate_time": "around 21:00 on Saturday",
    "circumstances": "At the hardware table",
    "others_involved": ["a teammate"],
    "others_aware": ["two mentors", "a volunteer"],
}

# The user tasks of each stage, in the order the simplest path visits them.
STAFF_CALLS_TEAM = ["call_incident_team"]
SAFE_VICTIM_DECLINES = ["assess_safety", "ask_victim_law_enforcement", "support_victim"]
TRANSCRIBED_REPORT = ["choose_account_writer", "transcribe_account", "send_report"]
DECISION = ["review_report", "add_organizer_view", "decide_action"]
WRITTEN_NOTICE = ["send_written_notice", "acknowledge_sanction"]
NO_ANNOUNCEMENT = ["inform_aware_people", "decide_announcement"]
CLOSE = ["close_case"]
UP_TO_DECISION = STAFF_CALLS_TEAM + SAFE_VICTIM_DECLINES + TRANSCRIBED_REPORT


# ------------------------------------------------------------------ fixture


@pytest.fixture
def version(processes):
    """The current diagrams, freshly parsed for each test (the same files as `processes.current`).

    A fresh parse per test (~30 ms) keeps every path independent of the others even if the engine
    ever leaked state into a parsed spec again (see engine/event_subprocesses.py and the test
    `test_a_message_on_one_case_does_not_change_how_other_cases_of_the_version_end`).
    """
    fresh = load_directory(ROOT / "bpmn", FORMS)
    assert set(fresh.user_tasks) == set(processes.current.user_tasks)
    return fresh


# ------------------------------------------------------------------ step helpers


def open_case(version, **intake):
    """A new case on the current diagrams (on-site staff opens it unless told otherwise)."""
    return CaseDriver(version, **intake)


def call_team(driver):
    driver.complete("call_incident_team", team_member_contacted="Tom from the team", called_at=WHEN)


def take_case(driver, opened_by="onsite_staff", reached=True):
    """Intake: whoever received the concern gets it to on-site staff (or the team takes over)."""
    if opened_by == "organizer":
        driver.complete("connect_onsite_staff", onsite_staff_reached=reached)
        if not reached:
            driver.complete("contact_team_now", team_member_contacted="Tom from the team", called_at=WHEN)
    elif opened_by == "incident_team":
        driver.complete("reach_onsite_staff", onsite_staff_reached=reached)
    if reached:
        call_team(driver)


def pass_safety_gate(driver, threat=False, police=False):
    driver.complete("assess_safety", general_threat=threat)
    if threat:
        driver.complete("summon_security", summoned="security", summoned_at=WHEN)
    else:
        driver.complete("ask_victim_law_enforcement", victim_requests_law_enforcement=police)
        if police:
            driver.complete("involve_law_enforcement", involved="police", involved_at=WHEN)
    support_victim(driver)


def support_victim(driver):
    driver.complete("support_victim", offered_private_place=True, explained_role_and_asked=True,
                    gave_emergency_contacts=True)


def file_report(driver, writer="staff_transcription"):
    driver.complete("choose_account_writer", written_by=writer)
    driver.complete("write_account" if writer == "reporter" else "transcribe_account", **ACCOUNT)
    driver.complete("send_report", report_reviewed=True, staff_notes="Reporter was calm and clear.")


def review(driver):
    """Both parallel decision inputs: the team's review and the organizers' view."""
    driver.complete("review_report", policy_assessment="Clear violation of the policy.")
    driver.complete("add_organizer_view", organizer_view="First concern about this person.")


def decide(driver, action="no_action", **details):
    review(driver)
    driver.complete("decide_action", action=action, rationale=f"Rationale for {action}.",
                    decided_with="olga", **{**ACTION_DETAILS[action], **details})


def meet_harasser(driver, disputes=False):
    extra = {"harasser_account": "They say it was a joke."} if disputes else {}
    driver.complete("meet_harasser", report_summarized=True, decision_notified=True,
                    harasser_disputes=disputes, **extra)


def reconsider(driver, revised):
    driver.complete("reconsider_decision", decision_revised=revised, reconsider_reason="Their account.")


def notify_sanction(driver):
    driver.complete("send_written_notice", notice_sent_at=WHEN, reason_shared_with_organizers=False)
    driver.complete("acknowledge_sanction", sanction_acknowledged=True)


def inform_aware(driver):
    driver.complete("inform_aware_people", informed_people=["two mentors", "a volunteer"], no_details_shared=True,
                    message_text="Against policy; action taken.")


def decide_announcement(driver, announcer=None):
    """announcer None: no announcement; 'default': needed, announcer left to its default."""
    if announcer is None:
        driver.complete("decide_announcement", announcement_needed=False)
    elif announcer == "default":
        driver.complete("decide_announcement", announcement_needed=True)
    else:
        driver.complete("decide_announcement", announcement_needed=True, announcer=announcer)


def draft_and_review(driver, approved, draft=1):
    driver.complete("draft_announcement", announcement_text=f"Draft {draft}: action was taken.",
                    announcement_timing="at the closing ceremony")
    if approved:
        driver.complete("approve_wording", wording_approved=True)
    else:
        driver.complete("approve_wording", wording_approved=False, wording_feedback=f"Shorter than draft {draft}.")


def staff_announce(driver):
    driver.complete("deliver_announcement_staff", announcement_text="A Code of Conduct violation was handled.",
                    delivered_at=WHEN)


def communicate(driver, announcer=None, rejections=0):
    """Public communication, with `rejections` drafts sent back before approval (organizer only)."""
    inform_aware(driver)
    decide_announcement(driver, announcer)
    if announcer in ("onsite_staff", "default"):
        staff_announce(driver)
    elif announcer == "organizer":
        for draft in range(1, rejections + 1):
            draft_and_review(driver, approved=False, draft=draft)
        draft_and_review(driver, approved=True, draft=rejections + 1)
        driver.complete("deliver_announcement", delivered_at=WHEN)


def close(driver):
    driver.complete("close_case", closing_summary="Handled; no private details here.")


def respond_to_distress(driver, notes):
    driver.complete("respond_to_distress", feelings_acknowledged=True, reassured=True, channels_offered=True,
                    distress_notes=notes)


def to_decision(version, **intake):
    """A case opened by on-site staff, past the safety gate and the report, waiting for the decision."""
    driver = open_case(version, **intake)
    call_team(driver)
    pass_safety_gate(driver)
    file_report(driver)
    assert driver.ready == ["add_organizer_view", "review_report"]
    return driver


def run_case(version, opened_by="onsite_staff", reached=True, threat=False, police=False,
             writer="staff_transcription", actions=("no_action",), last_disputed=False,
             announcer=None, rejections=0, appeal_outcome=None):
    """A whole case: every action but the last is disputed and revised; the last stands."""
    driver = open_case(version, opened_by_role=opened_by)
    take_case(driver, opened_by, reached)
    pass_safety_gate(driver, threat, police)
    file_report(driver, writer)
    for number, action in enumerate(actions, start=1):
        decide(driver, action)
        if number < len(actions):
            meet_harasser(driver, disputes=True)
            reconsider(driver, revised=True)
    meet_harasser(driver, disputes=last_disputed)
    if last_disputed and "reconsider_decision" in driver.ready:
        reconsider(driver, revised=False)
    if actions[-1] in SANCTIONS:
        notify_sanction(driver)
    communicate(driver, announcer, rejections)
    close(driver)
    if appeal_outcome:
        driver.message("appeal", raised_by="tom", role="incident_team")
        driver.complete("decide_appeal", appeal_outcome=appeal_outcome, appeal_rationale="Reviewed the appeal.")
    return driver


# ------------------------------------------------------------------ intake


def test_a_case_opened_by_onsite_staff_starts_by_calling_the_incident_team(version):
    driver = open_case(version)
    assert driver.ready == ["call_incident_team"]
    assert driver.role_of("call_incident_team") == "onsite_staff"
    assert driver.data["reporting_phone"] == "+44 800 808 5675"
    assert driver.data["reporting_email"] == "incidents@mlh.io"
    call_team(driver)
    assert driver.ready == ["assess_safety"]
    assert driver.role_of("assess_safety") == "onsite_staff"
    assert driver.data["staff_role"] == "onsite_staff"
    assert driver.data["team_member_contacted"] == "Tom from the team"
    assert driver.data["called_at"] == WHEN_STORED
    assert driver.visited == ["call_incident_team"]


def test_an_organizer_who_reaches_onsite_staff_hands_them_the_case(version):
    driver = open_case(version, opened_by_role="organizer")
    assert driver.ready == ["connect_onsite_staff"]
    assert driver.role_of("connect_onsite_staff") == "organizer"
    driver.complete("connect_onsite_staff", onsite_staff_reached=True)
    assert driver.ready == ["call_incident_team"]
    assert driver.role_of("call_incident_team") == "onsite_staff"
    call_team(driver)
    assert driver.ready == ["assess_safety"]
    assert driver.role_of("assess_safety") == "onsite_staff"
    assert driver.data["onsite_staff_reached"] is True
    assert driver.data["staff_role"] == "onsite_staff"
    assert driver.visited == ["connect_onsite_staff", "call_incident_team"]


def test_an_organizer_who_cannot_reach_onsite_staff_contacts_the_team_which_takes_the_staff_role(version):
    driver = open_case(version, opened_by_role="organizer", region="canada")
    driver.complete("connect_onsite_staff", onsite_staff_reached=False)
    assert driver.ready == ["contact_team_now"]
    assert driver.role_of("contact_team_now") == "organizer"
    assert driver.data["reporting_phone"] == "+1 343 453 4532"
    driver.complete("contact_team_now", team_member_contacted="Tom from the team", called_at=WHEN)
    assert driver.ready == ["assess_safety"]
    assert driver.role_of("assess_safety") == "incident_team"
    assert driver.data["onsite_staff_reached"] is False
    assert driver.data["staff_role"] == "incident_team"
    assert driver.visited == ["connect_onsite_staff", "contact_team_now"]


def test_the_incident_team_that_reaches_onsite_staff_hands_them_the_case(version):
    driver = open_case(version, opened_by_role="incident_team")
    assert driver.ready == ["reach_onsite_staff"]
    assert driver.role_of("reach_onsite_staff") == "incident_team"
    driver.complete("reach_onsite_staff", onsite_staff_reached=True)
    assert driver.ready == ["call_incident_team"]
    call_team(driver)
    assert driver.role_of("assess_safety") == "onsite_staff"
    assert driver.data["staff_role"] == "onsite_staff"
    assert driver.visited == ["reach_onsite_staff", "call_incident_team"]


def test_the_incident_team_that_cannot_reach_onsite_staff_runs_the_whole_case_in_the_staff_role(version):
    driver = open_case(version, opened_by_role="incident_team")
    driver.complete("reach_onsite_staff", onsite_staff_reached=False)
    assert driver.ready == ["assess_safety"]
    assert driver.data["staff_role"] == "incident_team"
    staff_tasks = []

    def complete_as_team(task, **data):
        assert driver.role_of(task) == "incident_team", task
        staff_tasks.append(task)
        driver.complete(task, **data)

    complete_as_team("assess_safety", general_threat=False)
    complete_as_team("ask_victim_law_enforcement", victim_requests_law_enforcement=False)
    complete_as_team("support_victim", offered_private_place=True, explained_role_and_asked=True,
                     gave_emergency_contacts=True)
    complete_as_team("choose_account_writer", written_by="staff_transcription")
    complete_as_team("transcribe_account", **ACCOUNT)
    complete_as_team("send_report", report_reviewed=True)
    decide(driver)
    complete_as_team("meet_harasser", report_summarized=True, decision_notified=True, harasser_disputes=False)
    complete_as_team("inform_aware_people", informed_people=["3"], no_details_shared=True,
                     message_text="Against policy; action taken.")
    decide_announcement(driver, "onsite_staff")
    complete_as_team("deliver_announcement_staff", announcement_text="Action was taken.", delivered_at=WHEN)
    close(driver)
    assert driver.visited == (["reach_onsite_staff"] + SAFE_VICTIM_DECLINES + TRANSCRIBED_REPORT + DECISION
                              + ["meet_harasser"] + NO_ANNOUNCEMENT + ["deliver_announcement_staff"] + CLOSE)
    assert "call_incident_team" not in driver.visited and "contact_team_now" not in driver.visited
    assert len(staff_tasks) == 9
    assert driver.runner.is_completed(driver.workflow)


# ------------------------------------------------------------------ safety gate


def test_a_general_threat_summons_security_without_asking_the_victim(version):
    driver = open_case(version)
    call_team(driver)
    driver.complete("assess_safety", general_threat=True)
    assert driver.ready == ["summon_security"]
    assert driver.role_of("summon_security") == "onsite_staff"
    driver.complete("summon_security", summoned="both", summoned_at=WHEN)
    assert driver.ready == ["support_victim"]
    support_victim(driver)
    assert driver.ready == ["choose_account_writer"]
    assert driver.visited == ["call_incident_team", "assess_safety", "summon_security", "support_victim"]
    assert driver.data["general_threat"] is True
    assert driver.data["summoned"] == "both"
    assert driver.data["summoned_at"] == WHEN_STORED
    assert driver.data.get("victim_requests_law_enforcement") is None


def test_without_a_threat_the_victim_is_asked_and_nobody_is_involved_when_they_decline(version):
    driver = open_case(version)
    call_team(driver)
    driver.complete("assess_safety", general_threat=False)
    assert driver.ready == ["ask_victim_law_enforcement"]
    driver.complete("ask_victim_law_enforcement", victim_requests_law_enforcement=False)
    assert driver.ready == ["support_victim"]
    support_victim(driver)
    assert driver.visited == STAFF_CALLS_TEAM + SAFE_VICTIM_DECLINES
    assert driver.data["general_threat"] is False
    assert driver.data["victim_requests_law_enforcement"] is False
    assert driver.data.get("summoned") is None and driver.data.get("involved") is None
    assert driver.data["offered_private_place"] is True
    assert driver.data["explained_role_and_asked"] is True
    assert driver.data["gave_emergency_contacts"] is True


def test_without_a_threat_law_enforcement_is_involved_at_the_victims_request(version):
    driver = open_case(version)
    call_team(driver)
    driver.complete("assess_safety", general_threat=False)
    driver.complete("ask_victim_law_enforcement", victim_requests_law_enforcement=True)
    assert driver.ready == ["involve_law_enforcement"]
    assert driver.role_of("involve_law_enforcement") == "onsite_staff"
    driver.complete("involve_law_enforcement", involved="police", involved_at=WHEN)
    assert driver.ready == ["support_victim"]
    support_victim(driver)
    assert driver.visited == ["call_incident_team", "assess_safety", "ask_victim_law_enforcement",
                              "involve_law_enforcement", "support_victim"]
    assert driver.data["victim_requests_law_enforcement"] is True
    assert driver.data["involved"] == "police"
    assert driver.data["involved_at"] == WHEN_STORED
    assert driver.data.get("summoned") is None


def test_supporting_the_victim_needs_every_checklist_item_ticked(version):
    driver = open_case(version)
    call_team(driver)
    driver.complete("assess_safety", general_threat=False)
    driver.complete("ask_victim_law_enforcement", victim_requests_law_enforcement=False)
    with pytest.raises(InvalidSubmission):
        driver.complete("support_victim", offered_private_place=True, explained_role_and_asked=True,
                        gave_emergency_contacts=False)
    assert driver.ready == ["support_victim"]
    support_victim(driver)
    assert driver.ready == ["choose_account_writer"]


# ------------------------------------------------------------------ initial report


def test_the_reporter_writes_their_own_account_in_the_reporter_lane(version):
    driver = open_case(version)
    call_team(driver)
    pass_safety_gate(driver)
    driver.complete("choose_account_writer", written_by="reporter")
    assert driver.ready == ["write_account"]
    assert driver.role_of("write_account") == "reporter"
    driver.complete("write_account", **ACCOUNT)
    assert driver.ready == ["send_report"]
    assert driver.role_of("send_report") == "onsite_staff"
    driver.complete("send_report", report_reviewed=True)
    assert driver.ready == ["add_organizer_view", "review_report"]
    assert driver.visited == (STAFF_CALLS_TEAM + SAFE_VICTIM_DECLINES
                              + ["choose_account_writer", "write_account", "send_report"])
    assert driver.data["written_by"] == "reporter"
    for field, value in ACCOUNT.items():
        assert driver.data[field] == value
    assert driver.data["report_reviewed"] is True


def test_staff_transcribe_the_account_when_the_reporter_cannot_write(version):
    driver = open_case(version)
    call_team(driver)
    pass_safety_gate(driver)
    driver.complete("choose_account_writer", written_by="staff_transcription")
    assert driver.ready == ["transcribe_account"]
    assert driver.role_of("transcribe_account") == "onsite_staff"
    driver.complete("transcribe_account", **ACCOUNT)
    driver.complete("send_report", report_reviewed=True)
    assert driver.visited == UP_TO_DECISION
    assert driver.data["written_by"] == "staff_transcription"
    assert driver.data["behavior"] == ACCOUNT["behavior"]
    assert driver.data["others_aware"] == ACCOUNT["others_aware"]


# ------------------------------------------------------------------ decision and response


def test_the_review_and_the_organizers_view_run_in_parallel_before_the_decision(version):
    driver = to_decision(version)
    assert driver.role_of("review_report") == "incident_team"
    assert driver.role_of("add_organizer_view") == "organizer"
    driver.complete("add_organizer_view", organizer_view="Known to the organizers.")
    assert driver.ready == ["review_report"]
    driver.complete("review_report", policy_assessment="Violation.")
    assert driver.ready == ["decide_action"]
    assert driver.role_of("decide_action") == "incident_team"
    assert driver.data["decision_round"] == 1
    assert driver.data["organizer_view"] == "Known to the organizers."
    assert driver.data["policy_assessment"] == "Violation."


def test_no_action_goes_from_the_meeting_straight_to_public_communication(version):
    driver = to_decision(version)
    decide(driver, "no_action")
    assert driver.ready == ["meet_harasser"]
    assert driver.role_of("meet_harasser") == "onsite_staff"
    meet_harasser(driver)
    assert driver.ready == ["inform_aware_people"]
    communicate(driver)
    close(driver)
    assert driver.visited == UP_TO_DECISION + DECISION + ["meet_harasser"] + NO_ANNOUNCEMENT + CLOSE
    assert driver.data["action"] == "no_action"
    assert driver.data["rationale"] == "Rationale for no_action."
    assert driver.data.get("warning_form") is None and driver.data.get("suspension_length") is None
    assert driver.data["harasser_disputes"] is False
    assert driver.data.get("harasser_account") is None


def test_a_warning_records_whether_it_is_written_or_verbal_and_sends_no_notice(version):
    driver = to_decision(version)
    decide(driver, "warning", warning_form="verbal")
    meet_harasser(driver)
    assert driver.ready == ["inform_aware_people"]
    communicate(driver)
    close(driver)
    assert driver.visited == UP_TO_DECISION + DECISION + ["meet_harasser"] + NO_ANNOUNCEMENT + CLOSE
    assert driver.data["action"] == "warning"
    assert driver.data["warning_form"] == "verbal"
    assert driver.data.get("notice_sent_at") is None


def test_a_warning_needs_its_form_and_a_suspension_needs_its_length(version):
    driver = to_decision(version)
    review(driver)
    with pytest.raises(InvalidSubmission):
        driver.complete("decide_action", action="warning", rationale="r", decided_with="olga")
    with pytest.raises(InvalidSubmission):
        driver.complete("decide_action", action="temporary_suspension", rationale="r", decided_with="olga")
    assert driver.ready == ["decide_action"]


def test_a_temporary_suspension_records_its_length_and_is_notified_in_writing_then_acknowledged(version):
    driver = to_decision(version)
    decide(driver, "temporary_suspension", suspension_length="two events")
    meet_harasser(driver)
    assert driver.ready == ["send_written_notice"]
    assert driver.role_of("send_written_notice") == "incident_team"
    driver.complete("send_written_notice", notice_sent_at=WHEN, reason_shared_with_organizers=False)
    assert driver.ready == ["acknowledge_sanction"]
    assert driver.role_of("acknowledge_sanction") == "organizer"
    driver.complete("acknowledge_sanction", sanction_acknowledged=True)
    assert driver.ready == ["inform_aware_people"]
    communicate(driver)
    close(driver)
    assert driver.visited == (UP_TO_DECISION + DECISION + ["meet_harasser"] + WRITTEN_NOTICE
                              + NO_ANNOUNCEMENT + CLOSE)
    assert driver.data["action"] == "temporary_suspension"
    assert driver.data["suspension_length"] == "two events"
    assert driver.data["notice_sent_at"] == WHEN_STORED
    assert driver.data["reason_shared_with_organizers"] is False
    assert driver.data["sanction_acknowledged"] is True


def test_a_permanent_ban_is_notified_in_writing_then_acknowledged_by_the_organizers(version):
    driver = to_decision(version)
    decide(driver, "permanent_ban")
    meet_harasser(driver)
    assert driver.ready == ["send_written_notice"]
    notify_sanction(driver)
    communicate(driver)
    close(driver)
    assert driver.visited == (UP_TO_DECISION + DECISION + ["meet_harasser"] + WRITTEN_NOTICE
                              + NO_ANNOUNCEMENT + CLOSE)
    assert driver.data["action"] == "permanent_ban"
    assert driver.data.get("suspension_length") is None
    assert driver.data["sanction_acknowledged"] is True


@pytest.mark.parametrize("action", ["no_action", "warning", "temporary_suspension", "permanent_ban"])
def test_only_suspensions_and_bans_get_a_written_notice_and_an_organizer_acknowledgement(version, action):
    driver = run_case(version, actions=(action,))
    notified = action in SANCTIONS
    assert ("send_written_notice" in driver.visited) is notified
    assert ("acknowledge_sanction" in driver.visited) is notified
    assert driver.data["action"] == action
    assert driver.data["case_closed"] is True


def test_a_disputed_decision_that_is_not_revised_stands(version):
    driver = to_decision(version)
    decide(driver, "warning")
    meet_harasser(driver, disputes=True)
    assert driver.ready == ["reconsider_decision"]
    assert driver.role_of("reconsider_decision") == "onsite_staff"
    reconsider(driver, revised=False)
    assert driver.ready == ["inform_aware_people"]
    communicate(driver)
    close(driver)
    assert driver.visited == (UP_TO_DECISION + DECISION + ["meet_harasser", "reconsider_decision"]
                              + NO_ANNOUNCEMENT + CLOSE)
    assert driver.data["harasser_disputes"] is True
    assert driver.data["harasser_account"] == "They say it was a joke."
    assert driver.data["decision_revised"] is False
    assert driver.data["decision_round"] == 1
    assert driver.data["action"] == "warning"
    assert driver.data.get("decision_capped") is None


def test_a_dispute_must_record_the_harassers_side_of_the_story(version):
    driver = to_decision(version)
    decide(driver)
    with pytest.raises(InvalidSubmission):
        driver.complete("meet_harasser", report_summarized=True, decision_notified=True, harasser_disputes=True)
    assert driver.ready == ["meet_harasser"]


def test_a_revised_decision_goes_back_to_the_decision_stage_and_the_new_decision_applies(version):
    driver = to_decision(version)
    decide(driver, "temporary_suspension")
    first = {key: driver.data[key] for key in ("action", "suspension_length", "decision_round")}
    assert first == {"action": "temporary_suspension", "suspension_length": "this event and the next 2 events",
                     "decision_round": 1}
    meet_harasser(driver, disputes=True)
    reconsider(driver, revised=True)
    assert driver.ready == ["add_organizer_view", "review_report"]
    assert driver.data["decision_round"] == 2
    assert driver.data["decision_revised"] is False  # reset for the new round
    assert driver.data["reconsider_reason"] == "Their account."
    decide(driver, "warning")
    assert driver.data["action"] == "warning"
    assert driver.data["warning_form"] == "written"
    meet_harasser(driver, disputes=False)
    assert driver.ready == ["inform_aware_people"]  # a warning: no written notice any more
    communicate(driver)
    close(driver)
    assert driver.visited == (UP_TO_DECISION + DECISION + ["meet_harasser", "reconsider_decision"]
                              + DECISION + ["meet_harasser"] + NO_ANNOUNCEMENT + CLOSE)
    assert driver.visited.count("decide_action") == 2
    assert driver.data["decision_round"] == 2
    assert driver.data.get("decision_capped") is None


def test_decision_revisions_stop_at_the_cap_and_the_last_decision_stands(version):
    driver = to_decision(version)
    assert driver.data["max_decision_rounds"] == 3
    for round_number, action in enumerate(["warning", "temporary_suspension"], start=1):
        decide(driver, action)
        assert driver.data["decision_round"] == round_number
        meet_harasser(driver, disputes=True)
        assert driver.ready == ["reconsider_decision"]
        reconsider(driver, revised=True)
    decide(driver, "permanent_ban")
    assert driver.data["decision_round"] == 3
    meet_harasser(driver, disputes=True)
    assert "reconsider_decision" not in driver.ready
    assert driver.ready == ["send_written_notice"]
    assert driver.data["decision_capped"] is True
    assert driver.data["decision_revised"] is False
    assert driver.data["action"] == "permanent_ban"
    notify_sanction(driver)
    communicate(driver)
    close(driver)
    round_with_revision = DECISION + ["meet_harasser", "reconsider_decision"]
    assert driver.visited == (UP_TO_DECISION + round_with_revision * 2 + DECISION + ["meet_harasser"]
                              + WRITTEN_NOTICE + NO_ANNOUNCEMENT + CLOSE)
    assert driver.visited.count("decide_action") == 3
    assert driver.visited.count("reconsider_decision") == 2


# ------------------------------------------------------------------ public communication


def test_no_announcement_goes_straight_to_closing_the_case(version):
    driver = to_decision(version)
    decide(driver)
    meet_harasser(driver)
    inform_aware(driver)
    assert driver.ready == ["decide_announcement"]
    assert driver.role_of("decide_announcement") == "incident_team"
    decide_announcement(driver, None)
    assert driver.ready == ["close_case"]
    assert driver.role_of("close_case") == "incident_team"
    assert driver.data["announcement_needed"] is False
    assert driver.data.get("announcer") is None
    assert driver.data["informed_people"] == ["two mentors", "a volunteer"]
    assert driver.data["no_details_shared"] is True


def test_onsite_staff_make_the_announcement_by_default(version):
    driver = to_decision(version)
    decide(driver)
    meet_harasser(driver)
    inform_aware(driver)
    decide_announcement(driver, "default")
    assert driver.data["announcer"] == "onsite_staff"
    assert driver.ready == ["deliver_announcement_staff"]
    assert driver.role_of("deliver_announcement_staff") == "onsite_staff"
    staff_announce(driver)
    assert driver.ready == ["close_case"]
    close(driver)
    assert driver.visited == (UP_TO_DECISION + DECISION + ["meet_harasser"] + NO_ANNOUNCEMENT
                              + ["deliver_announcement_staff"] + CLOSE)
    assert driver.data["announcement_needed"] is True
    assert driver.data["delivered_at"] == WHEN_STORED
    assert driver.data.get("wording_approved") is None


def test_an_organizer_announcement_sent_back_once_is_redrafted_approved_and_delivered(version):
    driver = to_decision(version)
    decide(driver)
    meet_harasser(driver)
    inform_aware(driver)
    decide_announcement(driver, "organizer")
    assert driver.ready == ["draft_announcement"]
    assert driver.role_of("draft_announcement") == "organizer"
    driver.complete("draft_announcement", announcement_text="Draft 1", announcement_timing="tonight")
    assert driver.ready == ["approve_wording"]
    assert driver.role_of("approve_wording") == "incident_team"
    assert driver.data["wording_round"] == 1
    driver.complete("approve_wording", wording_approved=False, wording_feedback="Do not mention the team.")
    assert driver.ready == ["draft_announcement"]
    assert driver.data["wording_feedback"] == "Do not mention the team."
    driver.complete("draft_announcement", announcement_text="Draft 2", announcement_timing="at closing")
    assert driver.data["wording_round"] == 2
    driver.complete("approve_wording", wording_approved=True)
    assert driver.ready == ["deliver_announcement"]
    assert driver.role_of("deliver_announcement") == "organizer"
    driver.complete("deliver_announcement", delivered_at=WHEN)
    assert driver.ready == ["close_case"]
    close(driver)
    assert driver.visited == (UP_TO_DECISION + DECISION + ["meet_harasser"] + NO_ANNOUNCEMENT
                              + ["draft_announcement", "approve_wording"] * 2 + ["deliver_announcement"] + CLOSE)
    assert driver.data["announcer"] == "organizer"
    assert driver.data["announcement_text"] == "Draft 2"
    assert driver.data["announcement_timing"] == "at closing"
    assert driver.data["wording_approved"] is True
    assert driver.data["delivered_at"] == WHEN_STORED
    assert driver.data.get("wording_capped") is None


def test_sending_the_wording_back_needs_feedback(version):
    driver = to_decision(version)
    decide(driver)
    meet_harasser(driver)
    inform_aware(driver)
    decide_announcement(driver, "organizer")
    driver.complete("draft_announcement", announcement_text="Draft 1", announcement_timing="tonight")
    with pytest.raises(InvalidSubmission):
        driver.complete("approve_wording", wording_approved=False)
    assert driver.ready == ["approve_wording"]


def test_wording_sent_back_five_times_hands_the_announcement_to_onsite_staff(version):
    driver = to_decision(version)
    decide(driver)
    meet_harasser(driver)
    inform_aware(driver)
    decide_announcement(driver, "organizer")
    assert driver.data["max_wording_rounds"] == 5
    for draft in range(1, 6):
        assert driver.ready == ["draft_announcement"]
        draft_and_review(driver, approved=False, draft=draft)
        assert driver.data["wording_round"] == draft
    assert driver.ready == ["deliver_announcement_staff"]
    assert driver.role_of("deliver_announcement_staff") == "onsite_staff"
    assert driver.data["wording_capped"] is True
    assert driver.data["announcer"] == "onsite_staff"
    staff_announce(driver)
    close(driver)
    assert driver.visited == (UP_TO_DECISION + DECISION + ["meet_harasser"] + NO_ANNOUNCEMENT
                              + ["draft_announcement", "approve_wording"] * 5 + ["deliver_announcement_staff"]
                              + CLOSE)
    assert "deliver_announcement" not in driver.visited
    assert driver.runner.is_completed(driver.workflow)


# ------------------------------------------------------------------ messages on an open case


def test_distress_logged_twice_gives_two_responses_that_do_not_disturb_the_main_flow(version):
    driver = to_decision(version)
    decide(driver, "warning")
    assert driver.ready == ["meet_harasser"]
    before = {key: driver.data[key] for key in ("action", "warning_form", "decision_round", "staff_role")}
    driver.message("attendee_distressed", raised_by="olga", role="onsite_staff", note="upset friend")
    driver.message("attendee_distressed", raised_by="orla", role="organizer", note="angry teammate")
    assert driver.ready == ["meet_harasser", "respond_to_distress", "respond_to_distress"]
    assert driver.role_of("respond_to_distress") == "onsite_staff"
    respond_to_distress(driver, "First attendee.")
    assert driver.ready == ["meet_harasser", "respond_to_distress"]
    respond_to_distress(driver, "Second attendee.")
    assert driver.ready == ["meet_harasser"]
    assert {key: driver.data[key] for key in before} == before
    meet_harasser(driver)
    communicate(driver)
    close(driver)
    assert driver.visited == (UP_TO_DECISION + DECISION + ["respond_to_distress", "respond_to_distress",
                                                           "meet_harasser"] + NO_ANNOUNCEMENT + CLOSE)
    assert driver.runner.is_completed(driver.workflow)


def test_a_safety_concern_during_the_decision_summons_security_while_the_decision_goes_on(version):
    driver = to_decision(version)
    driver.complete("review_report", policy_assessment="Violation.")
    assert driver.ready == ["add_organizer_view"]
    driver.message("safety_concern", raised_by="olga", role="onsite_staff", note="person came back")
    assert driver.ready == ["add_organizer_view", "summon_security_now"]
    assert driver.role_of("summon_security_now") == "onsite_staff"
    driver.complete("add_organizer_view", organizer_view="Seen arguing earlier.")
    assert driver.ready == ["decide_action", "summon_security_now"]
    driver.complete("summon_security_now", summoned="security", summoned_at=WHEN)
    assert driver.ready == ["decide_action"]
    driver.complete("decide_action", action="permanent_ban", rationale="Threat.", decided_with="olga")
    assert driver.data["decision_round"] == 1
    meet_harasser(driver)
    notify_sanction(driver)
    communicate(driver)
    close(driver)
    assert driver.visited == (UP_TO_DECISION + ["review_report", "add_organizer_view", "summon_security_now",
                                                "decide_action", "meet_harasser"]
                              + WRITTEN_NOTICE + NO_ANNOUNCEMENT + CLOSE)
    assert "summon_security" not in driver.visited


def test_a_distress_response_left_open_at_closing_can_still_be_done_and_then_the_case_finishes(version):
    driver = to_decision(version)
    decide(driver)
    meet_harasser(driver)
    communicate(driver)
    driver.message("attendee_distressed", raised_by="olga", role="onsite_staff")
    assert driver.ready == ["close_case", "respond_to_distress"]
    close(driver)
    assert driver.ready == ["respond_to_distress"]
    assert not driver.runner.is_completed(driver.workflow)
    respond_to_distress(driver, "After closing.")
    assert driver.ready == []
    assert driver.runner.is_completed(driver.workflow)
    assert driver.closed
    assert driver.data["case_closed"] is True
    assert driver.visited == (UP_TO_DECISION + DECISION + ["meet_harasser"] + NO_ANNOUNCEMENT + CLOSE
                              + ["respond_to_distress"])


# ------------------------------------------------------------------ closing and appeal


def test_a_no_action_case_is_fully_completed_when_it_is_closed(version):
    driver = to_decision(version)
    decide(driver, "no_action")
    meet_harasser(driver)
    communicate(driver)
    assert driver.data["case_closed"] is False
    assert not driver.closed
    close(driver)
    assert driver.ready == []
    assert driver.runner.is_completed(driver.workflow)
    assert driver.closed
    assert driver.data["case_closed"] is True
    assert driver.data["closing_summary"] == "Handled; no private details here."


def test_an_appeal_on_a_closed_suspended_case_is_decided_by_the_incident_team(version):
    driver = run_case(version, actions=("temporary_suspension",))
    assert driver.ready == []
    assert driver.closed is True
    assert driver.data["case_closed"] is True
    assert not driver.runner.is_completed(driver.workflow)  # waiting for a possible appeal
    driver.message("appeal", raised_by="tom", role="incident_team", note="[Appeal] email of 24 Nov")
    assert driver.ready == ["decide_appeal"]
    assert driver.role_of("decide_appeal") == "incident_team"
    assert driver.data["appeal"]["raised_by"] == "tom"
    driver.complete("decide_appeal", appeal_outcome="reduced", appeal_rationale="Length halved.")
    assert driver.ready == []
    assert driver.runner.is_completed(driver.workflow)
    assert driver.data["appeal_outcome"] == "reduced"
    assert driver.data["appeal_rationale"] == "Length halved."
    assert driver.data["action"] == "temporary_suspension"
    assert driver.visited == (UP_TO_DECISION + DECISION + ["meet_harasser"] + WRITTEN_NOTICE
                              + NO_ANNOUNCEMENT + CLOSE + ["decide_appeal"])


# ------------------------------------------------------------------ coverage


def escalated(version):
    """A case where on-site staff calls late and the report is late: both escalation timers fire."""
    driver = open_case(version)
    driver.elapse(14)
    assert driver.ready == ["call_incident_team"]
    driver.elapse(2)
    assert driver.ready == ["call_incident_team", "unacknowledged_incident"]
    assert driver.role_of("unacknowledged_incident") == "incident_team"
    driver.complete("unacknowledged_incident", followed_up=True)
    driver.complete("call_incident_team", team_member_contacted="Tess", called_at=WHEN)
    driver.complete("assess_safety", general_threat=False)
    driver.complete("ask_victim_law_enforcement", victim_requests_law_enforcement=False)
    driver.complete("support_victim", offered_private_place=True, explained_role_and_asked=True,
                    gave_emergency_contacts=True)
    driver.elapse(121)
    assert driver.ready == ["choose_account_writer", "initial_report_overdue"]
    driver.complete("initial_report_overdue", followed_up=True, follow_up_notes="Reporter needed a break.")
    assert driver.ready == ["choose_account_writer"]
    return driver


def test_late_calls_and_late_reports_escalate_to_the_team_and_the_case_goes_on(version):
    driver = escalated(version)
    assert driver.visited[:2] == ["unacknowledged_incident", "call_incident_team"]
    driver.elapse(500)
    assert driver.ready == ["choose_account_writer"]  # each escalation fires once


def test_every_user_task_is_visited_by_some_path(processes, version):
    runs = [
        run_case(version),
        run_case(version, opened_by="organizer", reached=False, threat=True, writer="reporter",
                 actions=("warning", "temporary_suspension"), last_disputed=True, announcer="organizer",
                 rejections=1, appeal_outcome="upheld"),
        run_case(version, opened_by="incident_team", reached=True, police=True,
                 actions=("permanent_ban",), announcer="onsite_staff"),
        run_case(version, opened_by="organizer", reached=True, actions=("no_action",), announcer="default"),
    ]
    with_messages = to_decision(version)
    with_messages.message("safety_concern", raised_by="olga", role="onsite_staff")
    with_messages.message("attendee_distressed", raised_by="olga", role="onsite_staff")
    with_messages.complete("summon_security_now", summoned="police", summoned_at=WHEN)
    respond_to_distress(with_messages, "Calmed down.")
    runs.append(with_messages)
    runs.append(escalated(version))
    visited = {task for run in runs for task in run.visited}
    assert set(processes.current.user_tasks) - visited == set()
    assert visited <= set(processes.current.user_tasks)


# ------------------------------------------------------------------ defects found once, kept as regressions


def test_safety_concern_and_distress_go_to_the_team_when_it_holds_the_staff_role(version):
    driver = open_case(version, opened_by_role="incident_team")
    driver.complete("reach_onsite_staff", onsite_staff_reached=False)
    driver.message("safety_concern", raised_by="tom", role="incident_team")
    driver.message("attendee_distressed", raised_by="tom", role="incident_team")
    assert driver.role_of("assess_safety") == "incident_team"
    assert driver.role_of("summon_security_now") == "incident_team"
    assert driver.role_of("respond_to_distress") == "incident_team"


def test_a_ban_that_replaces_a_suspension_carries_no_suspension_length(version):
    driver = to_decision(version)
    decide(driver, "temporary_suspension")
    meet_harasser(driver, disputes=True)
    reconsider(driver, revised=True)
    decide(driver, "permanent_ban")
    assert driver.data["action"] == "permanent_ban"
    assert driver.data.get("suspension_length") is None


def test_a_case_closed_while_a_distress_response_is_open_shows_as_closed(version):
    driver = to_decision(version)
    decide(driver)
    meet_harasser(driver)
    communicate(driver)
    driver.message("attendee_distressed", raised_by="olga", role="onsite_staff")
    close(driver)
    assert driver.ready == ["respond_to_distress"]
    assert driver.data.get("case_closed") is True
    assert driver.closed


def test_a_message_on_one_case_does_not_change_how_other_cases_of_the_version_end(version):
    first = open_case(version)
    first.message("attendee_distressed", raised_by="olga", role="onsite_staff")
    second = run_case(version)
    assert second.ready == []
    assert second.runner.is_completed(second.workflow)
    assert second.data.get("case_closed") is True


@pytest.mark.parametrize("organizers_first", [False, True])
def test_answers_given_in_one_parallel_branch_survive_the_join_in_a_later_round(version, organizers_first):
    """Round 2's review and organizers' view run in parallel again: each branch starts with round 1's answers,
    and the branch finished last must not bring the other's old answer back (a lost update)."""
    driver = to_decision(version)
    driver.complete("review_report", policy_assessment="Round 1 assessment.")
    driver.complete("add_organizer_view", organizer_view="Round 1 view.")
    driver.complete("decide_action", action="temporary_suspension", rationale="R1.", decided_with="olga",
                    **ACTION_DETAILS["temporary_suspension"])
    meet_harasser(driver, disputes=True)
    reconsider(driver, revised=True)
    steps = [("review_report", {"policy_assessment": "Round 2 assessment."}),
             ("add_organizer_view", {"organizer_view": "Round 2 view."})]
    for task, answers in (reversed(steps) if organizers_first else steps):
        driver.complete(task, **answers)
        assert {k: driver.data[k] for k in answers} == answers
    assert driver.ready == ["decide_action"]
    assert driver.data["policy_assessment"] == "Round 2 assessment."
    assert driver.data["organizer_view"] == "Round 2 view."
