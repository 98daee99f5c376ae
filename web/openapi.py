"""The OpenAPI 3.1 document of the JSON API, generated with apispec from the marshmallow schemas.

Paths and parameters come from the API blueprint's routes, summaries from the views' docstrings, shapes
from web/schemas.py and the task forms; this module only adds what HTTP does not say: which statuses
an operation answers, its request body, and whether it needs a bearer token.
"""
import inspect
import re
from dataclasses import dataclass

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import current_app

from engine.views import MAX_CASE_ID
from forms import INTAKE_FORM

from . import schemas
from .context import system

ERRORS = {
    401: "No valid bearer token (or, for POST /api/tokens, a wrong username or password).",
    403: "Your roles do not allow this.",
    404: "No such case, task, message or link, or one you may not know exists.",
    409: "The task was already completed, the case is not waiting for this, or it changed meanwhile.",
    410: "The case was purged at the end of its retention: its data no longer exists.",
    413: "The body is larger than 1 MiB.",
    422: "The data was refused, field by field; nothing was stored.",
    429: "Too many failed logins for this username lately; wait 15 minutes.",
    503: "The process definition is broken; nothing was stored.",
    500: "Code in the diagram failed while running this step (the answer names the element, never case data); "
         "nothing was stored.",
}
STEP = {
    "name": "step", "in": "query", "required": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": 999999999},
    "description": "Also answer the state after this event (its seq), with the data as it stood then; "
                   "a recorded view of the case's data. An event the case does not have gets a 404.",
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": "Send the same key again with the same request to get the stored answer instead of a "
                   "second change; a key reused for another request gets a 422.",
}
PATH_PARAMETERS = {
    "case_id": {"schema": {"type": "integer", "minimum": 1, "maximum": MAX_CASE_ID}, "description": "The case's id."},
    "task_id": {"schema": {"type": "string", "minLength": 1}, "description": "A ready task's id."},
    "name": {"schema": {"type": "string", "enum": list(schemas.MESSAGES)},
             "description": "safety_concern and attendee_distressed on an open case; appeal on a closed case "
                            "with a sanction (incident team)."},
    "version": {"schema": {"type": "string", "minLength": 1}, "description": "A process version's hash."},
    "old": {"schema": {"type": "string", "minLength": 1}, "description": "The earlier version's hash."},
    "new": {"schema": {"type": "string", "minLength": 1}, "description": "The later version's hash."},
    "file_name": {"schema": {"type": "string", "minLength": 1}, "description": "A file of the version."},
    "draft_id": {"schema": {"type": "integer", "minimum": 1, "maximum": MAX_CASE_ID}, "description": "A draft's id."},
    "token": {"schema": {"type": "string", "minLength": 1},
              "description": "The token of the reporter's private link: the link is the credential."},
}
TASK_DATA = ("The values of the task's own form: `x-task-forms` maps each task (its BPMN id, as in "
             "`task` of GET /api/tasks/{task_id}) to its form's schema, and GET /api/tasks/{task_id} lists the "
             "fields. A form also checks rules across fields (e.g. a reason when some answer is given).")


@dataclass(frozen=True)
class Operation:
    """What the routes do not say about one API view."""

    status: int
    response: str | None  # a component name; None for the OpenAPI document itself
    errors: tuple = ()
    body: str | None = None  # a component name
    many: bool = False
    public: bool = False  # no bearer token: public, or a private link in the path
    idempotent: bool = False  # takes an Idempotency-Key header
    query: tuple = ()  # its query parameters (OpenAPI parameter objects)


# keyed by the view function's name (its Flask endpoint in the "api" blueprint)
OPERATIONS = {
    "create_token": Operation(201, "Token", (401, 413, 429), body="TokenRequest", public=True),
    "openapi_document": Operation(200, None, public=True),
    "open_case": Operation(201, "Case", (401, 403, 409, 413, 422, 500, 503), body="Intake", idempotent=True),
    "get_case": Operation(200, "Case", (401, 403, 404, 409, 410, 503)),
    "history": Operation(200, "HistoryEvent", (401, 403, 404, 409), many=True),
    "raise_message": Operation(201, "Case", (401, 403, 404, 409, 410, 413, 422, 500, 503), body="Message",
                               idempotent=True),
    "list_tasks": Operation(200, "TaskSummary", (401,), many=True),
    "get_task": Operation(200, "TaskDetail", (401, 403, 404, 409, 503)),
    "complete_task": Operation(200, "Case", (401, 403, 404, 409, 410, 413, 422, 500, 503), body="TaskSubmission",
                               idempotent=True),
    "reporter_task": Operation(200, "ReporterTask", (404, 503), public=True),
    "complete_reporter_task": Operation(200, "Received", (404, 409, 413, 422, 500, 503), body="TaskSubmission",
                                        public=True, idempotent=True),
    "replay": Operation(200, "Replay", (401, 403, 404, 409, 422, 503), query=(STEP,)),
    "move_case": Operation(200, "Moved", (401, 403, 404, 409, 410, 413, 422, 503), body="Move"),
    "process_versions": Operation(200, "Version", (401, 403), many=True),
    "process_file": Operation(200, "VersionFile", (401, 403, 404)),
    "process_diff": Operation(200, "VersionDiff", (401, 403, 404)),
    "create_draft": Operation(201, "Draft", (401, 403, 404, 413, 422), body="DraftRequest"),
    "get_draft": Operation(200, "Draft", (401, 403, 404)),
    "publish_draft": Operation(201, "Version", (401, 403, 404, 413, 422), body="Publish"),
}
# nested shapes first: apispec then refers to them instead of registering them under a name of its own
RESPONSES = {
    "FormField": schemas.FormFieldSchema, "TaskSummary": schemas.TaskSummarySchema,
    "TaskDetail": schemas.TaskDetailSchema, "ReporterTask": schemas.ReporterTaskSchema, "Case": schemas.CaseSchema,
    "HistoryEvent": schemas.HistoryEventSchema, "Token": schemas.TokenSchema,
    "TokenRequest": schemas.TokenRequestSchema, "Message": schemas.MessageSchema, "Received": schemas.ReceivedSchema,
    "Error": schemas.ErrorSchema, "ValidationError": schemas.ValidationErrorSchema,
    "Moved": schemas.MovedSchema, "Move": schemas.MoveSchema,
    "Change": schemas.ChangeSchema, "Version": schemas.VersionSchema, "VersionFile": schemas.VersionFileSchema,
    "VersionDiff": schemas.VersionDiffSchema, "DraftError": schemas.DraftErrorSchema, "Draft": schemas.DraftSchema,
    "DraftRequest": schemas.DraftRequestSchema, "Publish": schemas.PublishSchema,
    "ReplayState": schemas.ReplayStateSchema, "Replay": schemas.ReplaySchema,
}


def document() -> dict:
    """The current app's document, built once: the forms are those of the running process version."""
    extensions = current_app.extensions
    if "openapi" not in extensions:
        extensions["openapi"] = build(current_app, system().processes.current.forms)
    return extensions["openapi"]


def build(app, task_forms: dict) -> dict:
    """The OpenAPI document of every route of the app's "api" blueprint; `task_forms` maps task id to form."""
    plugin = MarshmallowPlugin()
    spec = APISpec(title="incidents", version="1", openapi_version="3.1.0", plugins=[plugin], info={
        "description": "Code of Conduct incident response. Get a bearer token from POST /api/tokens. "
                       "Errors are {\"error\": \"...\"}, or {\"errors\": {field: [...]}} for refused data."})
    plugin.converter.add_attribute_function(_form_field_texts)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for name, schema in RESPONSES.items():
        spec.components.schema(name, schema=schema)
    _add_forms(spec, task_forms)
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint.startswith("api."):
            view = app.view_functions[rule.endpoint]
            spec.path(path=_openapi_path(rule.rule), operations=_operations(rule, view))
    document = spec.to_dict()
    document["security"] = [{"bearer": []}]
    return document


def _add_forms(spec, task_forms):
    """One component per form; a task's `data` is any of them, and `x-task-forms` says which one is whose."""
    spec.components.schema("Intake", schema=INTAKE_FORM)
    intake = spec.components.schemas["Intake"]
    intake["required"].remove("opened_by_role")  # cases.open_case fills in the first opening role held
    intake["properties"]["opened_by_role"]["description"] = "Defaults to the first case-opening role you hold."
    names = {}
    for task, form in sorted(task_forms.items()):
        name = form.__name__
        if name not in names.values():
            spec.components.schema(name, schema=form)
        names[task] = name
    refs = [{"$ref": f"#/components/schemas/{n}"} for n in sorted(set(names.values()))]
    spec.components.schema("TaskSubmission", {
        "type": "object", "additionalProperties": False, "required": ["data"],
        "properties": {"data": {"anyOf": refs, "description": TASK_DATA}},
        "x-task-forms": {task: f"#/components/schemas/{name}" for task, name in names.items()},
    })


def _form_field_texts(self, field, **kwargs):
    """A form field's label and help become its title and description."""
    meta = field.metadata
    return {key: meta[source] for key, source in (("title", "label"), ("description", "help")) if meta.get(source)}


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _operations(rule, view) -> dict:
    endpoint = rule.endpoint.split(".", 1)[1]
    op = OPERATIONS[endpoint]
    summary, _, description = (inspect.getdoc(view) or endpoint).partition("\n")
    operation = {
        "operationId": endpoint, "summary": summary.strip(), "responses": _responses(op),
        "parameters": [_path_parameter(name) for name in sorted(rule.arguments)]
                      + list(op.query) + ([IDEMPOTENCY_KEY] if op.idempotent else []),
    }
    if description.strip():
        operation["description"] = description.strip()
    if op.public:
        operation["security"] = []
    if op.body:
        operation["requestBody"] = {"required": op.body not in ("Message",), "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{op.body}"}}}}
    methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
    return {method.lower(): operation for method in methods}


def _path_parameter(name) -> dict:
    return {"name": name, "in": "path", "required": True, **PATH_PARAMETERS[name]}


def _responses(op) -> dict:
    if op.response is None:
        content, said = {"type": "object"}, "This document."
    else:
        ref = {"$ref": f"#/components/schemas/{op.response}"}
        content = {"type": "array", "items": ref} if op.many else ref
        said = inspect.getdoc(RESPONSES[op.response]).split("\n")[0]
        said = f"A list, each: {said[0].lower()}{said[1:]}" if op.many else said
    out = {str(op.status): {"description": said, "content": {"application/json": {"schema": content}}}}
    for status in op.errors:
        shape = "ValidationError" if status == 422 else "Error"
        out[str(status)] = {"description": ERRORS[status], "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{shape}"}}}}
    if not op.public:
        out.setdefault("401", {"description": ERRORS[401], "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
    return out
