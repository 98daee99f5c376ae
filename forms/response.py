"""Forms of the response stage (PROCESS.md section 4) and the appeal."""
from marshmallow import ValidationError, validates_schema

from .base import Form, boolean, choice, forbid, require, text, tick, when

APPEAL_OUTCOMES = {"upheld": "Upheld", "reduced": "Reduced", "overturned": "Overturned"}


class MeetHarasserForm(Form):
    title = "Meet the alleged harasser in private"
    report_summarized = tick("I summarized the report made against them, without naming the reporter")
    decision_notified = tick("I told them the decision")
    harasser_disputes = boolean("Do they see it differently?")
    harasser_account = text("Their side of the story", required=False)

    @validates_schema
    def _account_when_disputed(self, data, **kwargs):
        errors = {}
        require(errors, data, "harasser_account", data.get("harasser_disputes") is True,
                "Record their side of the story.")
        forbid(errors, data, "harasser_account", data.get("harasser_disputes") is False,
               "Only recorded when they dispute the report.")
        if errors:
            raise ValidationError(errors)


class ReconsiderForm(Form):
    title = "Reconsider the decision?"
    decision_revised = boolean("Take the case back for a new decision?",
                               "The current decision stands unless you say otherwise.")
    reconsider_reason = text("Why")


class WrittenNoticeForm(Form):
    title = "Send the written notice"
    notice_sent_at = when("When the notice was sent")
    reason_shared_with_organizers = boolean("Did the person ask for the reason to be shared with organizers?")


class AcknowledgeSanctionForm(Form):
    title = "Note the suspension or ban"
    sanction_acknowledged = tick("We will make sure the person is not admitted while it lasts")


class DecideAppealForm(Form):
    title = "Decide the appeal"
    appeal_outcome = choice("Outcome", APPEAL_OUTCOMES)
    appeal_rationale = text("Rationale")
