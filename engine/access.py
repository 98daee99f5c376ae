"""The one place that decides who may see a case and who may act on its tasks."""
from .errors import NotAllowed, NotFound
from .roles import AUDITOR, INCIDENT_TEAM, ONSITE_STAFF, ORGANIZER, REPORTER, acting_role

CASE_READERS = frozenset({ONSITE_STAFF, INCIDENT_TEAM, ORGANIZER, AUDITOR})


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
