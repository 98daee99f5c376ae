"""The one place that decides who may see a case and who may act on its tasks."""
from .errors import NotAllowed, NotFound
from .roles import AUDITOR, INCIDENT_TEAM, ONSITE_STAFF, ORGANIZER, POLICY, REPORTER, acting_role

FULL_READERS = frozenset({ONSITE_STAFF, INCIDENT_TEAM, AUDITOR})
# what organizers never see: the reporter's identity and statement, and who else was involved or aware
REPORTER_FIELDS = frozenset({"reporter_name", "harasser_identification", "behavior", "approximate_time",
                             "circumstances", "others_involved", "others_aware", "note", "informed_people",
                             "distress_notes", "follow_up_notes", "excluded_staff"})
# why a sanction was decided: organizers learn it only when the person asked for the reason to be shared
REASON_FIELDS = frozenset({"rationale", "policy_assessment", "reconsider_reason", "harasser_account",
                           "staff_notes", "closing_summary", "appeal_rationale"})
REDACTED = "[redacted]"
SANCTIONS = ("temporary_suspension", "permanent_ban")


def is_excluded(actor, case_data: dict) -> bool:
    """True when the reporter named this staff member as someone who must not be involved."""
    return actor.username in (case_data.get("excluded_staff") or [])


GLOBAL_READERS = frozenset({INCIDENT_TEAM, AUDITOR})
EVENT_READERS = frozenset({ONSITE_STAFF, ORGANIZER})
# the roles whose tasks reach every holder; on-site staff and organizers get only their events' tasks
GLOBAL_TASK_ROLES = frozenset({INCIDENT_TEAM})


def check_can_view(actor, case_data: dict) -> None:
    """Raise NotFound where the case must not seem to exist (excluded staff, other events' staff),
    NotAllowed for a role that sees no case data (policy staff)."""
    if actor.roles == frozenset({REPORTER}) or is_excluded(actor, case_data):
        raise NotFound("no such case")
    if actor.roles & GLOBAL_READERS:
        return
    if actor.roles & EVENT_READERS:
        if case_data.get("event_name") in actor.events:
            return
        raise NotFound("no such case")
    raise NotAllowed("your roles do not give access to case data")


AUDIT_READERS = frozenset({AUDITOR, INCIDENT_TEAM})


def check_can_audit(actor, case_data: dict) -> None:
    """Raise unless `actor` may open a case's audit views (timeline, replay, the case on its diagram)."""
    check_can_view(actor, case_data)
    if not actor.roles & AUDIT_READERS:
        raise NotAllowed("the case timeline and replay are for auditors and the Incident Response Team")


def check_can_act(actor, case_data: dict, role: str) -> None:
    """Raise unless `actor` may complete a task whose acting role is `role` on this case."""
    check_can_view(actor, case_data)
    if role not in actor.roles:
        raise NotAllowed(f"this task is for the role '{role}', which you do not hold")


def is_told_of_task(actor, case_data: dict, role: str) -> bool:
    """True when a ready task of this case for `role` belongs in `actor`'s inbox (and so in their notifications).

    The incident team hears of its tasks on every case; on-site staff and organizers only on their
    events' cases; excluded staff never; the reporter lane is no one's inbox (only the private link).
    """
    if role == REPORTER or role not in actor.roles:
        return False
    try:
        check_can_act(actor, case_data, role)
    except (NotFound, NotAllowed):
        return False
    return role in GLOBAL_TASK_ROLES or case_data.get("event_name") in actor.events


def check_can_raise(actor, case_data: dict, allowed_roles) -> None:
    """Raise unless `actor` may raise a message that `allowed_roles` may raise."""
    check_can_view(actor, case_data)
    if not (actor.roles & allowed_roles):
        raise NotAllowed("your roles may not raise this on a case")


def check_can_move(actor, case_data: dict) -> None:
    """Raise unless `actor` may move the case to another process version: policy staff only.

    Policy staff publish process versions and see no case data; the move shows them none.
    """
    if is_excluded(actor, case_data):
        raise NotFound("no such case")
    if POLICY not in actor.roles:
        check_can_view(actor, case_data)
        raise NotAllowed("only policy staff move cases to another process version")


def sees_reporter_link(actor, case_data: dict) -> bool:
    """Only the staff role of the case (normally on-site staff) is shown the reporter's private link."""
    return acting_role(ONSITE_STAFF, case_data) in actor.roles and not is_excluded(actor, case_data)


def visible_data(actor, data: dict, case_data: dict | None = None) -> dict:
    """The data as `actor` may see it.

    Organizers get stable pseudonyms for the reporter ("Reporter A") and for witnesses and others
    involved or aware ("Witness 1", numbered in the order the case records them), and the
    reporter's statement redacted; why a sanction was decided stays hidden unless the person
    asked for the reason to be shared.
    """
    if actor.roles & FULL_READERS:
        return data
    case_data = data if case_data is None else case_data
    hidden = REPORTER_FIELDS if case_data.get("reason_shared_with_organizers") else REPORTER_FIELDS | REASON_FIELDS
    witnesses = _witness_pseudonyms(case_data, data)
    out = {}
    # organizers enforce a suspension or ban, so they learn whom it concerns once it is notified
    sanctioned = case_data.get("action") in SANCTIONS and bool(case_data.get("notice_sent_at"))
    for key, value in data.items():
        if isinstance(value, dict):  # a nested record (an appeal, a message) is redacted by the same rules
            out[key] = visible_data(actor, value, case_data)
        elif value in (None, "", []) or key not in hidden or (key == "harasser_identification" and sanctioned):
            out[key] = value
        elif key == "reporter_name":
            out[key] = "Reporter A"
        elif key in WITNESS_LISTS and isinstance(value, list):
            out[key] = [witnesses.get(name, REDACTED) for name in value]
        else:
            out[key] = REDACTED
    return out


WITNESS_LISTS = ("others_involved", "others_aware", "informed_people")


def _witness_pseudonyms(*sources) -> dict:
    """Name -> "Witness N", numbered by first appearance in the case's lists of people."""
    names = []
    for source in sources:
        for field in WITNESS_LISTS:
            for name in source.get(field) or []:
                if isinstance(name, str) and name not in names:
                    names.append(name)
    return {name: f"Witness {index}" for index, name in enumerate(names, start=1)}
