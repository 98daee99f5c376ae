"""The JSON API: bearer-token authentication and the same use cases as the pages."""
import hashlib

from flask import Blueprint, jsonify, request

from engine import audit, cases, users, views
from engine.errors import AuthenticationFailed, InvalidSubmission, NotFound, TaskNotReady
from engine.idempotency import Idempotency
from engine.uow import retrying

from .auth import api_actor
from .context import system, with_link

bp = Blueprint("api", __name__, url_prefix="/api")


def _body():
    """The request's JSON object, or a 422 naming the problem."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidSubmission({"_schema": ["Send a JSON object (Content-Type: application/json)."]})
    return body


def _write(scope, action):
    """Run a change, retrying on concurrent writes; with an Idempotency-Key a retry gets the stored answer."""
    key = request.headers.get("Idempotency-Key")
    idempotency = (Idempotency.for_request(scope, key, request.method, request.path, request.get_data())
                   if key else None)
    try:
        return retrying(system().writing, lambda uow: action(uow, idempotency))
    except (TaskNotReady, NotFound):
        if idempotency is None:
            raise
        with system().reading() as uow:  # a twin of this request may have committed meanwhile
            stored = idempotency.stored(uow.session)
        if stored is None:
            raise
        return stored


def _scope(actor):
    return f"user:{actor.username}"


def _data(body):
    if set(body) - {"data"}:
        raise InvalidSubmission({key: ["Unknown field."] for key in set(body) - {"data"}})
    return body.get("data")


@bp.route("/tokens", methods=("POST",))
def create_token():
    """Trade a username and password for a bearer token."""
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        raise AuthenticationFailed("send {\"username\", \"password\"}")
    with system().writing() as uow:
        actor = users.authenticate(uow, str(body.get("username", "")), str(body.get("password", "")))
    with system().writing() as uow:
        token = users.issue_token(uow, actor, system().settings.token_hours)
    return jsonify({"token": token}), 201


@bp.route("/cases", methods=("POST",))
def open_case():
    """Start a case from intake data."""
    actor = api_actor()
    body = _body()
    case = _write(_scope(actor), lambda uow, idem: cases.open_case(uow, system().processes, actor, body, idem))
    return jsonify(with_link(case)), 201


@bp.route("/cases/<int:case_id>")
def get_case(case_id):
    """One case with its data, ready tasks and (for its staff) the reporter's link."""
    actor = api_actor()
    return jsonify(with_link(retrying(system().writing, lambda uow: views.get_case(uow, actor, case_id))))


@bp.route("/cases/<int:case_id>/history")
def history(case_id):
    """The case's history in order."""
    actor = api_actor()
    return jsonify(retrying(system().writing, lambda uow: views.case_history(uow, actor, case_id)))


@bp.route("/cases/<int:case_id>/replay")
def replay(case_id):
    """Replay the case and compare it with its recorded state: verified, or the first step that differs.

    With ?step=N the answer also holds the state after event N (a recorded view of the case's data).
    """
    actor = api_actor()
    step = request.args.get("step")
    if step is not None and not step.isdigit():
        raise InvalidSubmission({"step": ["Give the number of an event (1, 2, ...)."]})
    step = int(step) if step is not None else None
    unit = system().writing if step is not None else system().reading
    return jsonify(retrying(unit, lambda uow: audit.replay_case(uow, system().processes, actor, case_id, step)))


@bp.route("/cases/<int:case_id>/messages/<name>", methods=("POST",))
def raise_message(case_id, name):
    """Raise safety_concern, attendee_distressed (open case) or appeal (closed, sanctioned case)."""
    actor = api_actor()
    body = request.get_json(silent=True) if request.data else {}
    case = _write(_scope(actor), lambda uow, idem: cases.raise_message(
        uow, system().processes, actor, case_id, name, body if body is not None else {}, idem))
    return jsonify(with_link(case)), 201


@bp.route("/tasks")
def list_tasks():
    """The ready tasks the caller may act on."""
    actor = api_actor()
    with system().reading() as uow:
        tasks = views.list_inbox(uow, actor)
    return jsonify([{k: t[k] for k in ("id", "case_id", "task", "title", "role")} for t in tasks])


@bp.route("/tasks/<task_id>")
def get_task(task_id):
    """A task with its instructions and fields."""
    actor = api_actor()
    with system().reading() as uow:
        return jsonify(_public_task(views.get_task(uow, system().processes, actor, task_id)))


@bp.route("/tasks/<task_id>", methods=("POST",))
def complete_task(task_id):
    """Complete a task with {"data": {...}}."""
    actor = api_actor()
    data = _data(_body())
    case = _write(_scope(actor), lambda uow, idem: cases.complete_task(
        uow, system().processes, actor, task_id, data, idem))
    return jsonify(with_link(case)), 200


@bp.route("/reporter/<token>")
def reporter_task(token):
    """The reporter's task through the private link."""
    with system().reading() as uow:
        return jsonify(_public_task(views.reporter_task(uow, system().processes, token)))


@bp.route("/reporter/<token>", methods=("POST",))
def complete_reporter_task(token):
    """Send the reporter's account through the private link."""
    data = _data(_body())
    scope = "reporter:" + hashlib.sha256(token.encode()).hexdigest()[:40]
    answer = _write(scope, lambda uow, idem: cases.complete_reporter_task(uow, system().processes, token, data, idem))
    return jsonify(answer), 200


def _public_task(view):
    fields = [{k: f[k] for k in ("name", "type", "required", "choices", "label")} for f in view["fields"]]
    return {**{k: v for k, v in view.items() if k not in ("fields", "documentation")}, "fields": fields}
