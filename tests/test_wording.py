"""What people read in a history: values as yes/no/-, task titles and field labels from the real diagrams and forms."""
import pytest

from engine.wording import Wording, show


@pytest.mark.parametrize("value,shown", [
    (True, "yes"), (False, "no"), (None, "-"), ("", "-"), ([], "-"), (0, "0"), ("Tess", "Tess"),
    (["Witness 1", "Witness 2"], "Witness 1, Witness 2"), ([True, None], "yes, -"),
    ({"raised_by": "olga", "urgent": False}, "raised_by: olga; urgent: no"),
])
def test_values_are_shown_as_people_read_them(value, shown):
    assert show(value) == shown


def test_user_tasks_have_their_diagram_titles_and_nothing_else_has_one(processes):
    wording = Wording(processes, session=None)  # the current version needs no database
    version = processes.current.hash
    assert wording.title(version, "call_incident_team") == "Call the Incident Response Team"
    assert wording.title(version, "safety_concern") is None  # a message, not a user task
    assert wording.title(version, None) is None


def test_fields_are_labelled_by_the_intake_form_or_the_tasks_form(processes):
    wording = Wording(processes, session=None)
    version = processes.current.hash
    assert wording.labels(version, "case_started", None)["reporter_anonymous"] == \
        "Does the reporter want to stay anonymous?"
    assert wording.labels(version, "task_completed", "assess_safety") == {
        "general_threat": "Is there a general threat, or is anyone's safety in doubt?"}
    assert wording.labels(version, "message_raised", "safety_concern") == {}  # no form: fields keep their names
    assert wording.labels(version, "timer_fired", None) == {}
