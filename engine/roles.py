"""The roles of PROCESS.md and who acts on a task in a given lane."""

REPORTER = "reporter"
ONSITE_STAFF = "onsite_staff"
INCIDENT_TEAM = "incident_team"
ORGANIZER = "organizer"
AUDITOR = "auditor"
POLICY = "policy"

STAFF_ROLES = frozenset({ONSITE_STAFF, INCIDENT_TEAM, ORGANIZER, AUDITOR, POLICY})
TASK_ROLES = frozenset({REPORTER, ONSITE_STAFF, INCIDENT_TEAM, ORGANIZER})
CASE_OPENING_ROLES = (ONSITE_STAFF, ORGANIZER, INCIDENT_TEAM)
MESSAGE_ROLES = {
    "safety_concern": frozenset({ONSITE_STAFF, INCIDENT_TEAM, ORGANIZER}),
    "attendee_distressed": frozenset({ONSITE_STAFF, INCIDENT_TEAM, ORGANIZER}),
    "appeal": frozenset({INCIDENT_TEAM}),
}
OPEN_CASE_MESSAGES = frozenset({"safety_concern", "attendee_distressed"})


def acting_role(lane: str, case_data: dict) -> str:
    """The role that completes a task in `lane`: the team takes on-site tasks when nobody on site was reached."""
    if lane == ONSITE_STAFF:
        return case_data.get("staff_role") or ONSITE_STAFF
    return lane
