"""Forms of the decision stage (PROCESS.md section 3)."""
from marshmallow import ValidationError, validates_schema

from .base import Form, choice, forbid, require, string, text

ACTIONS = {
    "no_action": "No action", "warning": "Warning", "temporary_suspension": "Temporary suspension",
    "permanent_ban": "Permanent ban",
}
WARNING_FORMS = {"written": "Written", "verbal": "Verbal"}


class ReviewReportForm(Form):
    title = "Review the report against the Disciplinary Action Policy"
    policy_assessment = text("Assessment against the policy")


class OrganizerViewForm(Form):
    title = "Add the organizers' view"
    organizer_view = text("The organizers' view")


class DecideActionForm(Form):
    title = "Decide the course of action"
    action = choice("Course of action", ACTIONS)
    warning_form = choice("Written or verbal warning?", WARNING_FORMS, required=False)
    suspension_length = string("Length of the suspension", "For example: this event and the next 2 events.",
                               required=False)
    rationale = text("Rationale", "The exact cause, as it will be written in a notice.")
    decided_with = string("On-site staff member consulted")

    @validates_schema
    def _action_details(self, data, **kwargs):
        errors = {}
        action = data.get("action")
        require(errors, data, "suspension_length", action == "temporary_suspension",
                "A temporary suspension needs its length.")
        forbid(errors, data, "suspension_length", action and action != "temporary_suspension",
               "Only a temporary suspension has a length.")
        require(errors, data, "warning_form", action == "warning", "Say whether the warning is written or verbal.")
        forbid(errors, data, "warning_form", action and action != "warning", "Only a warning is written or verbal.")
        if errors:
            raise ValidationError(errors)
