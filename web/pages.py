"""Staff pages: inbox, opening a case, the case page, the task page and the notifications sent."""
from flask import Blueprint, g, redirect, render_template, request, url_for

from engine import cases, notifications, views
from engine.access import AUDIT_READERS
from engine.errors import InvalidSubmission
from engine.uow import retrying
from engine.roles import CASE_OPENING_ROLES, INCIDENT_TEAM
from forms import INTAKE_FORM

from .auth import login_required
from .context import reporter_url, system
from .formdata import from_html
from .markup import instructions_html

bp = Blueprint("pages", __name__)

STATUS_LABELS = {"pending": "waiting to be sent", "sending": "being sent", "sent": "sent", "failed": "not delivered",
                 "outbox": "shown here only", "skipped": "not sent", "unknown": "may have been sent"}
MESSAGE_LABELS = {"safety_concern": "Raise a safety concern", "attendee_distressed": "Log a distressed attendee",
                  "appeal": "Record an appeal"}


@bp.route("/")
@login_required
def inbox():
    """The ready tasks of the user's roles, newest case first."""
    with system().reading() as uow:
        tasks = views.list_inbox(uow, g.actor)
    may_open = bool(g.actor.roles & set(CASE_OPENING_ROLES))
    return render_template("pages/inbox.html", tasks=tasks, may_open=may_open)


@bp.route("/cases/new", methods=("GET", "POST"))
@login_required
def new_case():
    """The intake form; opening a case leads to its page."""
    fields = INTAKE_FORM.describe()
    values, errors = {}, {}
    if request.method == "POST":
        values = request.form
        data = from_html(fields, request.form)
        try:
            with system().writing() as uow:
                case = cases.open_case(uow, system().processes, g.actor, data)
        except InvalidSubmission as err:
            errors = err.errors
        else:
            return redirect(url_for("pages.case", case_id=case["id"]))
    if not values and len(g.actor.events) == 1:
        values = {"event_name": next(iter(g.actor.events))}  # the usual case: staff work one event
    return render_template("pages/new_case.html", fields=fields, values=values, errors=errors), \
        (422 if errors else 200)


@bp.route("/cases/<int:case_id>")
@login_required
def case(case_id):
    """Status, current tasks, the reporter's link (for on-site staff) and the full history."""
    view, history = retrying(system().writing, lambda uow: views.case_with_history(
        uow, system().processes, g.actor, case_id))
    messages = [(name, MESSAGE_LABELS[name]) for name in views.available_messages(g.actor, view)]
    return render_template("pages/case.html", case=view, history=history, messages=messages,
                           reporter_link=reporter_url(view["reporter_token"]),
                           may_audit=bool(g.actor.roles & AUDIT_READERS))


@bp.route("/cases/<int:case_id>/messages/<name>", methods=("POST",))
@login_required
def raise_message(case_id, name):
    """Raise a safety concern, a distressed attendee or an appeal on the case."""
    note = request.form.get("note", "").strip()
    retrying(system().writing, lambda uow: cases.raise_message(
        uow, system().processes, g.actor, case_id, name, {"note": note} if note else {}))
    return redirect(url_for("pages.case", case_id=case_id))


@bp.route("/tasks/<task_id>", methods=("GET", "POST"))
@login_required
def task(task_id):
    """The step's instructions and its form; errors shown next to the fields, values kept."""
    with system().reading() as uow:
        view = views.get_task(uow, system().processes, g.actor, task_id)
    values, errors = {}, {}
    if request.method == "POST":
        values = request.form
        try:
            data = from_html(view["fields"], request.form)
            retrying(system().writing, lambda uow: cases.complete_task(uow, system().processes, g.actor, task_id, data))
        except InvalidSubmission as err:
            errors = err.errors
        else:
            return redirect(url_for("pages.case", case_id=view["case_id"]))
    return render_template("pages/task.html", task=view, instructions=instructions_html(view["instructions"]),
                           values=values, errors=errors), (422 if errors else 200)


@bp.route("/outbox")
@login_required
def outbox():
    """The notifications sent to the user and how each went; the incident team can list everyone's."""
    everyone = request.args.get("all") == "1"
    with system().reading() as uow:
        messages = notifications.list_for(uow, g.actor, everyone=everyone)
    return render_template("pages/outbox.html", messages=messages, everyone=everyone,
                           may_see_all=INCIDENT_TEAM in g.actor.roles, STATUS_LABELS=STATUS_LABELS)
