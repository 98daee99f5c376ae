"""Forms: labelled fields, unknown fields rejected, PROCESS.md's choices and conditional rules."""
import pytest

from engine.cases import validate
from engine.errors import InvalidSubmission
from forms import FORMS, INTAKE_FORM

TYPES = {"string", "text", "boolean", "integer", "choice", "datetime", "list"}


def errors_of(form, data):
    with pytest.raises(InvalidSubmission) as err:
        validate(form, data)
    return err.value.errors


@pytest.mark.parametrize("key", sorted(FORMS) + ["intake"])
def test_every_field_has_a_label_and_a_known_type(key):
    form = INTAKE_FORM if key == "intake" else FORMS[key]
    for field in form.describe():
        assert field["label"] and field["type"] in TYPES, (key, field["name"])
        assert (field["choices"] is not None) == (field["type"] == "choice")


@pytest.mark.parametrize("key", sorted(FORMS))
def test_unknown_fields_are_rejected(key):
    assert errors_of(FORMS[key], {"not_a_field": 1})["not_a_field"] == ["Unknown field."]


def test_the_reporters_form_asks_nothing_about_penalties_or_withdrawal():
    for field in FORMS["write_account"].describe():
        words = (field["name"] + " " + field["label"] + " " + field["help"]).lower()
        assert not any(w in words for w in ("penalt", "withdraw", "sanction", "punish", "ban", "suspen"))


def test_the_reporter_and_staff_record_the_same_account_fields():
    names = [f["name"] for f in FORMS["write_account"].describe()]
    assert names == [f["name"] for f in FORMS["transcribe_account"].describe()]
    assert names == ["harasser_identification", "behavior", "approximate_time", "circumstances",
                     "others_involved", "others_aware"]


def test_choices_are_the_ones_process_md_names():
    def choices(key, field):
        return next(f["choices"] for f in FORMS[key].describe() if f["name"] == field)
    assert choices("decide_action", "action") == ["no_action", "warning", "temporary_suspension", "permanent_ban"]
    assert choices("summon_security", "summoned") == ["security", "police", "both"]
    assert choices("choose_account_writer", "written_by") == ["reporter", "staff_transcription"]
    assert choices("decide_announcement", "announcer") == ["onsite_staff", "organizer"]
    assert choices("decide_appeal", "appeal_outcome") == ["upheld", "reduced", "overturned"]
    intake = {f["name"]: f["choices"] for f in INTAKE_FORM.describe()}
    assert intake["event_format"] == ["in_person", "digital"]
    assert intake["region"] == ["north_america", "canada", "europe", "asia_pacific", "india"]


def test_a_temporary_suspension_needs_its_length():
    base = {"rationale": "r", "decided_with": "Olga"}
    assert errors_of(FORMS["decide_action"], {**base, "action": "temporary_suspension"}) == {
        "suspension_length": ["A temporary suspension needs its length."]}
    assert errors_of(FORMS["decide_action"], {**base, "action": "permanent_ban", "suspension_length": "2"}) == {
        "suspension_length": ["Only a temporary suspension has a length."]}
    ok = validate(FORMS["decide_action"], {**base, "action": "temporary_suspension", "suspension_length": "2 events"})
    assert ok["suspension_length"] == "2 events"


def test_a_warning_is_written_or_verbal():
    base = {"rationale": "r", "decided_with": "Olga", "action": "warning"}
    assert "warning_form" in errors_of(FORMS["decide_action"], base)
    assert validate(FORMS["decide_action"], {**base, "warning_form": "verbal"})["warning_form"] == "verbal"


def test_supporting_the_victim_needs_every_checklist_item():
    full = {"offered_private_place": True, "explained_role_and_asked": True, "gave_emergency_contacts": True}
    for item in full:
        assert errors_of(FORMS["support_victim"], {**full, item: False}) == {
            item: ["This must be done before you can continue."]}
    assert validate(FORMS["support_victim"], full) == full


def test_a_disputed_report_needs_the_harassers_account():
    base = {"report_summarized": True, "decision_notified": True}
    assert errors_of(FORMS["meet_harasser"], {**base, "harasser_disputes": True}) == {
        "harasser_account": ["Record their side of the story."]}
    assert validate(FORMS["meet_harasser"], {**base, "harasser_disputes": True, "harasser_account": "no"})


def test_announcer_defaults_to_onsite_staff_when_an_announcement_is_needed():
    assert validate(FORMS["decide_announcement"], {"announcement_needed": True})["announcer"] == "onsite_staff"
    assert "announcer" in errors_of(FORMS["decide_announcement"], {"announcement_needed": False,
                                                                    "announcer": "organizer"})


def test_sending_wording_back_needs_feedback():
    assert "wording_feedback" in errors_of(FORMS["approve_wording"], {"wording_approved": False})


def test_datetimes_are_stored_as_iso_text():
    out = validate(FORMS["call_incident_team"], {"team_member_contacted": "T", "called_at": "2026-11-24T10:00"})
    assert out["called_at"] == "2026-11-24T10:00:00"
    assert "called_at" in errors_of(FORMS["call_incident_team"], {"team_member_contacted": "T", "called_at": "soon"})


def test_nested_typename_keys_are_rejected():
    errors = errors_of(FORMS["inform_aware_people"], {"informed_people": ["a"], "no_details_shared": True,
                                                      "x": {"typename": "BpmnWorkflow"}})
    assert "x.typename" in errors


def test_a_form_checks_each_submission_on_its_own_and_each_thread_has_its_own_instance():
    import threading

    from engine.cases import _form
    bad = errors_of(INTAKE_FORM, {"event_format": "on the moon"})
    assert "event_format" in bad and "event_name" in bad
    intake = {"event_name": "Hack", "event_format": "in_person", "region": "europe",
              "opened_by_role": "onsite_staff", "reporter_anonymous": True}
    assert validate(INTAKE_FORM, intake)["event_name"] == "Hack"  # nothing of the refused one lingers
    assert set(errors_of(INTAKE_FORM, {**intake, "region": "mars"})) == {"region"}
    other = []
    thread = threading.Thread(target=lambda: other.append(_form(INTAKE_FORM)))
    thread.start()
    thread.join()
    assert _form(INTAKE_FORM) is _form(INTAKE_FORM) and other[0] is not _form(INTAKE_FORM)
