"""The reporter's private link: no account, one task, and nothing about the rest of the case."""
from flask import Blueprint, render_template, request

from engine import cases, views
from engine.errors import InvalidSubmission
from engine.uow import retrying

from .context import system
from .formdata import from_html
from .markup import instructions_html

bp = Blueprint("reporter", __name__)


@bp.route("/r/<token>", methods=("GET", "POST"))
def task(token):
    """Show the reporter's task and take their account; the link stops working once it is sent."""
    with system().reading() as uow:
        view = views.reporter_task(uow, system().processes, token)
    values, errors = {}, {}
    if request.method == "POST":
        values = request.form
        try:
            data = from_html(view["fields"], request.form)
            retrying(system().writing, lambda uow: cases.complete_reporter_task(uow, system().processes, token, data))
        except InvalidSubmission as err:
            errors = err.errors
        else:
            return render_template("reporter/done.html")
    return render_template("reporter/task.html", task=view, instructions=instructions_html(view["instructions"]),
                           values=values, errors=errors), (422 if errors else 200)
