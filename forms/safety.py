"""Forms of the safety gate (PROCESS.md section 1)."""
from .base import Form, boolean, choice, tick, when

SUMMONED = {"security": "Security", "police": "Police", "both": "Security and police"}


class AssessSafetyForm(Form):
    title = "Assess safety"
    general_threat = boolean("Is there a general threat, or is anyone's safety in doubt?",
                             "Staff included. If yes, security or police are summoned next.")


class SummonSecurityForm(Form):
    title = "Summon security or police"
    summoned = choice("Who did you summon?", SUMMONED)
    summoned_at = when("When")


class AskVictimForm(Form):
    title = "Ask the victim about security or law enforcement"
    victim_requests_law_enforcement = boolean("Does the victim ask for security or law enforcement?")


class InvolveLawEnforcementForm(Form):
    title = "Involve security or law enforcement"
    involved = choice("Who did you involve?", SUMMONED)
    involved_at = when("When")


class SupportVictimForm(Form):
    title = "Support the victim"
    offered_private_place = tick("I offered the victim a private place to sit")
    explained_role_and_asked = tick("I explained who I am and asked what happened")
    gave_emergency_contacts = tick("I gave them the list of emergency contacts")
