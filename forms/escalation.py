"""Forms of the escalation tasks the diagram's timers create."""
from .base import Form, text, tick


class FollowUpForm(Form):
    title = "Follow up"
    followed_up = tick("I followed up with on-site staff (or the team took the case over)")
    follow_up_notes = text("Notes", required=False)
