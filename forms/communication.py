"""Forms of public communication and closing (PROCESS.md section 5)."""
from marshmallow import ValidationError, post_load, validates_schema

from .base import Form, boolean, choice, forbid, names, require, string, text, tick, when

ANNOUNCERS = {"onsite_staff": "On-site staff (the default)", "organizer": "An organizer, after the team approves"}


class InformAwarePeopleForm(Form):
    title = "Tell the people who were aware"
    informed_people = names("Who you told", "One per line, or how many people.", required=True)
    message_text = text("What you told them", "That it is against policy and official action was taken. "
                        "No names, no details.", public=True)
    no_details_shared = tick("I told them it is against policy and action was taken, with no specific details")


class DecideAnnouncementForm(Form):
    title = "Is a public announcement needed?"
    announcement_needed = boolean("Is a public announcement needed?")
    announcer = choice("Who delivers it?", ANNOUNCERS, "On-site staff unless there is a reason for organizers.",
                       required=False)

    @validates_schema
    def _announcer_only_when_needed(self, data, **kwargs):
        errors = {}
        forbid(errors, data, "announcer", data.get("announcement_needed") is False,
               "Only chosen when an announcement is needed.")
        if errors:
            raise ValidationError(errors)

    @post_load
    def _default_announcer(self, data, **kwargs):
        if data.get("announcement_needed") and not data.get("announcer"):
            data["announcer"] = "onsite_staff"
        return data


class DraftAnnouncementForm(Form):
    title = "Draft the announcement"
    announcement_text = text("Exact wording", "Must not name or identify anyone involved.", public=True)
    announcement_timing = string("When it will be delivered")


class ApproveWordingForm(Form):
    title = "Approve the announcement wording"
    wording_approved = boolean("Approve this wording?")
    wording_feedback = text("What to change", required=False)

    @validates_schema
    def _feedback_when_sent_back(self, data, **kwargs):
        errors = {}
        require(errors, data, "wording_feedback", data.get("wording_approved") is False,
                "Say what to change when you send it back.")
        if errors:
            raise ValidationError(errors)


class DeliverAnnouncementForm(Form):
    title = "Deliver the approved announcement"
    delivered_at = when("When it was delivered")


class StaffAnnouncementForm(Form):
    title = "Make the public announcement"
    announcement_text = text("What you announced", "Must not name or identify anyone involved.", public=True)
    delivered_at = when("When")


class DistressForm(Form):
    title = "Respond to a distressed attendee"
    feelings_acknowledged = tick("I acknowledged their feelings and expressed regret")
    reassured = tick("I reassured them it is taken seriously, without private details")
    channels_offered = tick("I offered channels: on-site staff, or writing to incidents@mlh.io")
    distress_notes = text("Notes", required=False)


class CloseCaseForm(Form):
    title = "Close the case"
    closing_summary = text("Closing summary", "No private details.")
