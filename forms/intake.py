"""The intake form that opens a case and the first steps of PROCESS.md section 0."""
from marshmallow import ValidationError, validates_schema

from .base import Form, boolean, choice, forbid, names, string, when

EVENT_FORMATS = {"in_person": "In person", "digital": "Digital (Slack/Discord)"}
REGIONS = {
    "north_america": "North America", "canada": "Canada", "europe": "Europe",
    "asia_pacific": "Asia-Pacific", "india": "India",
}
OPENERS = {"onsite_staff": "On-site staff", "organizer": "An organizer", "incident_team": "The Incident Response Team"}


class IntakeForm(Form):
    title = "Open a case"
    event_name = string("Event", "The hackathon where it happened.")
    event_format = choice("Event format", EVENT_FORMATS)
    region = choice("Region", REGIONS, "Decides which reporting line is shown.")
    opened_by_role = choice("Who received the concern?", OPENERS)
    reporter_anonymous = boolean("Does the reporter want to stay anonymous?")
    reporter_name = string("Reporter's name", "Leave empty if the reporter stays anonymous.", required=False)
    excluded_staff = names("Staff the reporter does not want involved",
                           "Usernames, one per line. They will not see or act on this case.")

    @validates_schema
    def _anonymous_has_no_name(self, data, **kwargs):
        errors = {}
        forbid(errors, data, "reporter_name", data.get("reporter_anonymous"),
               "An anonymous reporter's name is not recorded: leave this empty.")
        if errors:
            raise ValidationError(errors)


class OnsiteStaffReachedForm(Form):
    title = "Was on-site staff reached?"
    onsite_staff_reached = boolean("Did you reach on-site staff?")


class ContactTeamNowForm(Form):
    title = "Contact the Incident Response Team now"
    team_member_contacted = string("Team member you reached")
    called_at = when("When you reached them")


class CallIncidentTeamForm(Form):
    title = "Call the Incident Response Team"
    team_member_contacted = string("Team member you spoke to")
    called_at = when("When you called")
