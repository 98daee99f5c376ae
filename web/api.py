"""The JSON API: bearer-token authentication and the same use cases as the pages."""
import hashlib

from flask import Blueprint, jsonify, request
from marshmallow import ValidationError

from engine import audit, case_moves, cases, publishing, users, views
from engine.errors import AuthenticationFailed, InvalidSubmission, NotFound, TaskNotReady
from engine.idempotency import Idempotency
from engine.uow import retrying

from . import openapi, schemas
from .auth import api_actor
from .context import system, with_link
from .schemas import (
    HistoryEventSchema, ReceivedSchema, ReporterTaskSchema, TaskDetailSchema,
    TokenSchema,
)

bp = Blueprint("api", __name__, url_prefix="/api")


def _body():
    """The request's JSON object, or a 422 naming the problem."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidSubmission({"_schema": ["Send a JSON object (Content-Type: application/json)."]})
    return body


def _write(scope, action):
    """Run a change, retrying on concurrent writes; with an Idempotency-Key a retry gets the stored answer."""
    idempotency = _idempotency(scope)
    return _retrying(lambda uow: action(uow, idempotency), lambda: idempotency)


def _change(action):
    """Check the bearer token and run a change as one unit of work (the token is read in the change's own
    transaction: one connection, one transaction per request), retrying on concurrent writes; with an
    Idempotency-Key, scoped to the token's user, a retry gets the stored answer."""
    checked = {}

    def attempt(uow):
        actor = api_actor(uow)
        checked["idempotency"] = _idempotency(f"user:{actor.username}")
        return action(uow, actor, checked["idempotency"])
    return _retrying(attempt, lambda: checked.get("idempotency"))


def _idempotency(scope):
    key = request.headers.get("Idempotency-Key")
    return (Idempotency.for_request(scope, key, request.method, request.path, request.get_data())
            if key is not None else None)  # an empty key is refused, not taken as no key


def _retrying(attempt, idempotency_of):
    try:
        return retrying(system().writing, attempt)
    except (TaskNotReady, NotFound):
        idempotency = idempotency_of()
        if idempotency is None:
            raise
        with system().reading() as uow:  # a twin of this request may have committed meanwhile
            stored = idempotency.stored(uow.session)
        if stored is None:
            raise
        return stored


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
    return jsonify(TokenSchema().dump({"token": token})), 201


@bp.route("/openapi.json")
def openapi_document():
    """This API described as an OpenAPI 3.1 document."""
    return jsonify(openapi.document())


@bp.route("/cases", methods=("POST",))
def open_case():
    """Start a case from intake data."""
    case = _change(lambda uow, actor, idem: cases.open_case(uow, system().processes, actor, _body(), idem))
    return _case(case), 201


@bp.route("/cases/<int:case_id>")
def get_case(case_id):
    """One case with its data, ready tasks and (for its staff) the reporter's link."""
    actor = api_actor()
    return _case(retrying(system().writing, lambda uow: views.get_case(uow, actor, case_id)))


@bp.route("/cases/<int:case_id>/history")
def history(case_id):
    """The case's history in order."""
    actor = api_actor()
    return jsonify(HistoryEventSchema(many=True).dump(
        retrying(system().writing, lambda uow: views.case_history(uow, actor, case_id))))


@bp.route("/cases/<int:case_id>/replay")
def replay(case_id):
    """Replay the case and compare it with its recorded state: verified, or the first step that differs.

    With ?step=N the answer also holds the state after event N (a recorded view of the case's data).
    """
    actor = api_actor()
    unknown = sorted(set(request.args) - {"step"})
    if unknown:
        raise InvalidSubmission({name: ["Unknown query parameter."] for name in unknown})
    step = request.args.get("step")
    if step is not None and not (step.isascii() and step.isdigit() and len(step) <= 9):
        raise InvalidSubmission({"step": ["Give the number of an event (1, 2, ...)."]})
    step = int(step) if step is not None else None
    unit = system().writing if step is not None else system().reading
    found = retrying(unit, lambda uow: audit.replay_case(uow, system().processes, actor, case_id, step))
    return jsonify(schemas.ReplaySchema().dump(found))


@bp.route("/cases/<int:case_id>/messages/<name>", methods=("POST",))
def raise_message(case_id, name):
    """Raise safety_concern, attendee_distressed (open case) or appeal (closed, sanctioned case)."""
    case = _change(lambda uow, actor, idem: cases.raise_message(
        uow, system().processes, actor, case_id, name,
        _body() if request.data else {}, idem))  # no body is no note; any body must be a JSON object
    return _case(case), 201


@bp.route("/cases/<int:case_id>/move", methods=("POST",))
def move_case(case_id):
    """Move an open case to another published process version (policy staff): {"version": hash}."""
    actor = api_actor()
    body = _body()
    if set(body) != {"version"}:
        raise InvalidSubmission({key: ["Unknown field."] for key in set(body) - {"version"}} or
                                {"version": ["Give the process version to move the case to."]})
    moved = retrying(system().writing, lambda uow: case_moves.move_case(
        uow, system().processes, actor, case_id, body["version"]))
    return jsonify(schemas.MovedSchema().dump(moved))


@bp.route("/tasks")
def list_tasks():
    """The ready tasks the caller may act on."""
    with system().reading() as uow:
        tasks = views.list_inbox(uow, api_actor(uow))
    return jsonify(schemas.dump_task_summaries(tasks))


@bp.route("/tasks/<task_id>")
def get_task(task_id):
    """A task with its instructions and fields."""
    with system().reading() as uow:
        return jsonify(TaskDetailSchema().dump(views.get_task(uow, system().processes, api_actor(uow), task_id)))


@bp.route("/tasks/<task_id>", methods=("POST",))
def complete_task(task_id):
    """Complete a task with {"data": {...}}."""
    case = _change(lambda uow, actor, idem: cases.complete_task(
        uow, system().processes, actor, task_id, _data(_body()), idem))
    return _case(case), 200


@bp.route("/reporter/<token>")
def reporter_task(token):
    """The reporter's task through the private link."""
    with system().reading() as uow:
        return jsonify(ReporterTaskSchema().dump(views.reporter_task(uow, system().processes, token)))


@bp.route("/reporter/<token>", methods=("POST",))
def complete_reporter_task(token):
    """Send the reporter's account through the private link."""
    data = _data(_body())
    scope = "reporter:" + hashlib.sha256(token.encode()).hexdigest()[:40]
    answer = _write(scope, lambda uow, idem: cases.complete_reporter_task(uow, system().processes, token, data, idem))
    return jsonify(ReceivedSchema().dump(answer)), 200


@bp.route("/process/versions")
def process_versions():
    """Published versions, newest first, with what each changed."""
    actor = api_actor()
    with system().reading() as uow:
        listed = publishing.list_versions(uow, actor)
    return jsonify(schemas.VersionSchema(many=True).dump(
        [{**v, "changes": None if v["changes"] is None else _changes(v["changes"])} for v in listed]))


@bp.route("/process/versions/<version>/files/<file_name>")
def process_file(version, file_name):
    """One file of a published version."""
    actor = api_actor()
    with system().reading() as uow:
        text = publishing.version_file(uow, actor, version, file_name)
    return jsonify(schemas.VersionFileSchema().dump({"name": file_name, "text": text}))


@bp.route("/process/diff/<old>/<new>")
def process_diff(old, new):
    """What changed from one version to another."""
    actor = api_actor()
    with system().reading() as uow:
        found = publishing.compare(uow, actor, old, new)
    return jsonify(schemas.VersionDiffSchema().dump({"from_": found["from"], "to": found["to"],
                                                     "changes": _changes(found["changes"])}))


@bp.route("/process/drafts", methods=("POST",))
def create_draft():
    """Validate changed files as a draft: {"files": {name: text}, "remove": [...], "based_on": hash,
    "tests": {name.yaml: text}} (process tests run on the draft with bpmn/tests/)."""
    actor = api_actor()
    body = _load(schemas.DraftRequestSchema, _body())
    with system().writing() as uow:
        draft = publishing.create_draft(uow, system().processes, actor, body.get("files") or {},
                                        body.get("remove") or [], body.get("based_on"), body.get("tests"))
    return jsonify(_draft(draft)), 201


def _load(schema, body) -> dict:
    """The body checked against its documented schema: wrong types and unknown fields are a 422."""
    try:
        return schema().load(body)
    except ValidationError as err:
        raise InvalidSubmission({k: v if isinstance(v, list) else [str(v)] for k, v in err.messages.items()}) from None


def _changes(changes):
    return [{**{k: v for k, v in c.items() if k != "fields"}, "fields_": c["fields"]} for c in changes]


def _draft(draft):
    return schemas.DraftSchema().dump({**draft, "changes": _changes(draft["changes"])})


@bp.route("/process/drafts/<int:draft_id>")
def get_draft(draft_id):
    """A draft with its errors and changes."""
    actor = api_actor()
    with system().reading() as uow:
        return jsonify(_draft(publishing.get_draft(uow, system().processes, actor, draft_id)))


@bp.route("/process/drafts/<int:draft_id>/publish", methods=("POST",))
def publish_draft(draft_id):
    """Publish a valid draft: {"note": "what changes and why"}."""
    actor = api_actor()
    body = _load(schemas.PublishSchema, _body())
    with system().writing() as uow:
        version = publishing.publish_draft(uow, system().processes, actor, draft_id, body.get("note"))
    return jsonify(schemas.VersionSchema().dump(version)), 201


def _case(case):
    """A case view as the API sends it: the reporter token turned into a link, only the documented keys."""
    return jsonify(schemas.dump_case(with_link(case)))
