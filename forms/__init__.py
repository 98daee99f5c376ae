"""One marshmallow form per user task, keyed by the task's BPMN id, and the intake form."""
from .communication import (
    ApproveWordingForm, CloseCaseForm, DecideAnnouncementForm, DeliverAnnouncementForm, DistressForm,
    DraftAnnouncementForm, InformAwarePeopleForm, StaffAnnouncementForm,
)
from .decision import DecideActionForm, OrganizerViewForm, ReviewReportForm
from .escalation import FollowUpForm
from .intake import CallIncidentTeamForm, ContactTeamNowForm, IntakeForm, OnsiteStaffReachedForm
from .report import AccountForm, ChooseWriterForm, SendReportForm
from .response import (
    AcknowledgeSanctionForm, DecideAppealForm, MeetHarasserForm, ReconsiderForm, WrittenNoticeForm,
)
from .safety import (
    AskVictimForm, AssessSafetyForm, InvolveLawEnforcementForm, SummonSecurityForm, SupportVictimForm,
)

INTAKE_FORM = IntakeForm

FORMS = {
    "connect_onsite_staff": OnsiteStaffReachedForm,
    "reach_onsite_staff": OnsiteStaffReachedForm,
    "contact_team_now": ContactTeamNowForm,
    "call_incident_team": CallIncidentTeamForm,
    "assess_safety": AssessSafetyForm,
    "summon_security": SummonSecurityForm,
    "summon_security_now": SummonSecurityForm,
    "ask_victim_law_enforcement": AskVictimForm,
    "involve_law_enforcement": InvolveLawEnforcementForm,
    "support_victim": SupportVictimForm,
    "choose_account_writer": ChooseWriterForm,
    "write_account": AccountForm,
    "transcribe_account": AccountForm,
    "send_report": SendReportForm,
    "review_report": ReviewReportForm,
    "add_organizer_view": OrganizerViewForm,
    "decide_action": DecideActionForm,
    "meet_harasser": MeetHarasserForm,
    "reconsider_decision": ReconsiderForm,
    "send_written_notice": WrittenNoticeForm,
    "acknowledge_sanction": AcknowledgeSanctionForm,
    "inform_aware_people": InformAwarePeopleForm,
    "decide_announcement": DecideAnnouncementForm,
    "draft_announcement": DraftAnnouncementForm,
    "approve_wording": ApproveWordingForm,
    "deliver_announcement": DeliverAnnouncementForm,
    "deliver_announcement_staff": StaffAnnouncementForm,
    "close_case": CloseCaseForm,
    "decide_appeal": DecideAppealForm,
    "respond_to_distress": DistressForm,
    "unacknowledged_incident": FollowUpForm,
    "initial_report_overdue": FollowUpForm,
}
