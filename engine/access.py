"""The one place that decides who may see a case and who may act on its tasks."""
from .errors import NotAllowed, NotFound
from .roles import AUDITOR, INCIDENT_TEAM, ONSITE_STAFF, ORGANIZER, REPORTER, acting_role

CASE_READERS = frozenset({ONSITE_STAFF, INCIDENT_TEAM, ORGANIZER, AUDITOR})
FULL_READERS = frozenset({ONSITE_STAFF, INCIDENT_TEAM, AUDITOR})
# what organizers never see: the reporter's identity and statement, and who else was involved or aware
REPORTER_FIELDS = frozenset({"reporter_name", "harasser_identification", "behavior", "approximate_time",
                             "circumstances", "others_involved", "others_aware", "note", "informed_people",
                             "distress_notes", "follow_up_notes"})
# why a sanction was decided: organizers learn it only when the person asked for the reason to be shared
REASON_FIELDS = frozenset({"rationale", "policy_assessment", "reconsider_reason", "harasser_account",
                           "staff_notes", "closing_summary", "appeal_rationale"})
REDACTED = "[redacted]"


def is_excluded(actor, case_data: dict) -> bool:
    """True when the reporter named this staff member as someone who must not be involved."""
    return actor.username in (case_data.get("excluded_staff") or [])


def check_can_view(actor, case_data: dict) -> None:
    """Raise NotFound for excluded staff (the case must not seem to exist), NotAllowed without a reading role."""
    if actor.roles == frozenset({REPORTER}) or is_excluded(actor, case_data):
        raise NotFound("no such case")
    if not (actor.roles & CASE_READERS):
        raise NotAllowed("your roles do not give access to case data")


def check_can_act(actor, case_data: dict, role: str) -> None:
    """Raise unless `actor` may complete a task whose acting role is `role` on this case."""
    check_can_view(actor, case_data)
    if role not in actor.roles:
        raise NotAllowed(f"this task is for the role '{role}', which you do not hold")


def check_can_raise(actor, case_data: dict, allowed_roles) -> None:
    """Raise unless `actor` may raise a message that `allowed_roles` may raise."""
    check_can_view(actor, case_data)
    if not (actor.roles & allowed_roles):
        raise NotAllowed("your roles may not raise this on a case")


def sees_reporter_link(actor, case_data: dict) -> bool:
    """Only the staff role of the case (normally on-site staff) is shown the reporter's private link."""
    return acting_role(ONSITE_STAFF, case_data) in actor.roles and not is_excluded(actor, case_data)


def visible_data(actor, data: dict, case_data: dict | None = None) -> dict:
    """The data as `actor` may see it: organizers get the reporter's identity and statement redacted."""
    if actor.roles & FULL_READERS:
        return data
    case_data = data if case_data is None else case_data
    hidden = REPORTER_FIELDS if case_data.get("reason_shared_with_organizers") else REPORTER_FIELDS | REASON_FIELDS
    return {key: REDACTED if key in hidden and value not in (None, "", []) else value for key, value in data.items()}
