"""Forms of the initial report (PROCESS.md section 2).

The account forms deliberately have no field about penalties or withdrawing the complaint.
"""
from .base import Form, choice, names, string, text, tick

WRITERS = {"reporter": "The reporter writes it (private link)", "staff_transcription": "I transcribe it"}


class ChooseWriterForm(Form):
    title = "Can the reporter write their account?"
    written_by = choice("Who writes the account?", WRITERS)


class AccountForm(Form):
    title = "The account"
    harasser_identification = text("Who did it?", "Name, or anything that identifies them (badge, team, looks).")
    behavior = text("What happened?", "The behaviour that was not OK.")
    approximate_time = string("About when did it happen?")
    circumstances = text("Where and in what situation?", required=False)
    others_involved = names("Other people involved", "One per line.")
    others_aware = names("Other people who know about it", "One per line.")


class SendReportForm(Form):
    title = "Review and send the report"
    report_reviewed = tick("I reviewed the account and it is ready for the Incident Response Team")
    staff_notes = text("Notes for the team", required=False)
