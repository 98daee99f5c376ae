"""The shapes the JSON API sends: one marshmallow schema per response body.

The API dumps its answers through these schemas, so a key they do not declare is never sent, and the
OpenAPI document (web/openapi.py) is generated from them: what is documented is what is sent.
"""
from marshmallow import Schema, fields, validate

from engine.roles import MESSAGE_ROLES

FIELD_KINDS = ("string", "text", "boolean", "choice", "integer", "datetime", "list")
CASE_STATUSES = ("open", "closed", "purged")
MESSAGES = tuple(MESSAGE_ROLES)


def _text(description, **kwargs):
    return fields.String(required=True, metadata={"description": description}, **kwargs)


def _timestamp(description):
    return fields.String(required=True, metadata={"description": description, "format": "date-time"})


class TokenRequestSchema(Schema):
    """What POST /api/tokens takes."""

    username = _text("A staff account's username.")
    password = _text("Its password.")


class TokenSchema(Schema):
    """A bearer token for the Authorization header."""

    token = _text("Send it as `Authorization: Bearer <token>`; it expires after the configured hours.")


class TaskSchema(Schema):
    """What every view of a ready user task has."""

    id = _text("The task's id (a ready task of one case).")
    task = _text("The user task's BPMN id, which is also its form's key.")
    title = _text("The task's name for people.")
    role = _text("The role (lane) that completes it.")


class TaskSummarySchema(TaskSchema):
    """A ready task in a task list or a case."""

    case_id = fields.Integer(required=True, metadata={"description": "The case the task belongs to."})


def flat_dump(schema_class):
    """A fast `schema_class(many=True).dump` for rows whose values are already strings and integers.

    It keeps exactly the keys the schema declares, as the dump does, without marshmallow's work per field
    (an inbox of 100 tasks spent a third of a millisecond in it). Only for schemas of plain string and integer
    fields: anything else is refused here, at import.
    """
    declared = schema_class().fields
    plain = (fields.String, fields.Integer)
    odd = [name for name, field in declared.items() if type(field) not in plain or field.data_key or field.load_only]
    if odd:
        raise TypeError(f"{schema_class.__name__}: flat_dump takes plain string and integer fields, not {odd}")
    names = tuple(declared)

    def dump(rows):
        return [{name: row[name] for name in names} for row in rows]
    return dump


dump_task_summaries = flat_dump(TaskSummarySchema)


class FormFieldSchema(Schema):
    """One field of a task's form."""

    name = _text("The key to send in `data`.")
    type = _text("What kind of value the field takes.", validate=validate.OneOf(FIELD_KINDS))
    required = fields.Boolean(required=True)
    choices = fields.List(fields.String(), required=True, allow_none=True,
                          metadata={"description": "The allowed values of a choice field, else null."})
    label = _text("The question people read.")


class ReporterTaskSchema(TaskSchema):
    """The reporter's task behind their private link: no case id."""

    instructions = _text("What to do, rendered for this case (Markdown-like plain text).")
    fields = fields.List(fields.Nested(FormFieldSchema), required=True,
                         metadata={"description": "The form to send as `data`, in order."})


class TaskDetailSchema(ReporterTaskSchema):
    """A staff member's view of a ready task: its instructions and the fields of its form."""

    case_id = fields.Integer(required=True, metadata={"description": "The case the task belongs to."})


class CaseSchema(Schema):
    """A case as the caller may see it."""

    id = fields.Integer(required=True)
    status = _text("Where the case is.", validate=validate.OneOf(CASE_STATUSES))
    process_version = _text("Content hash of the process version the case runs on.")
    event_name = _text("The event where it happened.")
    created_at = _timestamp("When the case was opened (UTC).")
    data = fields.Dict(keys=fields.String(), required=True, metadata={
        "description": "The case data the caller may see; organizers get reporter details as '[redacted]' "
                       "and people's names as pseudonyms."})
    tasks = fields.List(fields.Nested(TaskSummarySchema), required=True,
                        metadata={"description": "The ready tasks of the case."})
    reporter_link = fields.String(required=True, allow_none=True, metadata={
        "description": "The reporter's private link while a reporter task waits, for the case's staff; else null."})



def _case_dump():
    """A fast `CaseSchema().dump` for a case view (engine/views.case_view with its link, see context.with_link).

    The same keys and values as the dump: the case's plain fields as they are, its data as it is (a dict of
    JSON values, as marshmallow's Dict without a value field leaves it), its tasks as task summaries. The
    schema's fields are checked here, at import: a field added to CaseSchema must be added here too.
    """
    expected = {"id": fields.Integer, "status": fields.String, "process_version": fields.String,
                "event_name": fields.String, "created_at": fields.String, "data": fields.Dict,
                "tasks": fields.List, "reporter_link": fields.String}
    declared = {name: type(field) for name, field in CaseSchema().fields.items()}
    if declared != expected:
        raise TypeError(f"CaseSchema has {declared}; dump_case knows {expected}")

    def dump(case):
        return {"id": case["id"], "status": case["status"], "process_version": case["process_version"],
                "event_name": case["event_name"], "created_at": case["created_at"], "data": case["data"],
                "tasks": dump_task_summaries(case["tasks"]), "reporter_link": case["reporter_link"]}
    return dump


dump_case = _case_dump()

class HistoryEventSchema(Schema):
    """One entry of a case's append-only history."""

    seq = fields.Integer(required=True, metadata={"description": "Position in the history, from 1."})
    at = _timestamp("When it happened (UTC).")
    actor = _text("Username of who did it, 'reporter' or 'system'.")
    role = _text("The role they acted in.")
    type = _text("What happened, e.g. case_started, task_completed, message_raised, case_viewed.")
    task = fields.String(required=True, allow_none=True,
                         metadata={"description": "The task's BPMN id or the message's name, if any."})
    data = fields.Dict(keys=fields.String(), required=True, allow_none=True, metadata={
        "description": "The data entered, as the caller may see it; null once the case was purged."})
    hash = _text("The event's hash in the case's hash chain: an export whose head hash is this one holds the "
                 "history up to this event.")


class ReceivedSchema(Schema):
    """The reporter's account was taken."""

    status = _text("Always 'received'.", validate=validate.OneOf(["received"]))


class MessageSchema(Schema):
    """What raising a message takes (the body may also be left empty)."""

    note = fields.String(metadata={"description": "A short note for the team."})


class ErrorSchema(Schema):
    """A refusal, in one sentence."""

    error = _text("What went wrong; it names no person of the case.")


class ValidationErrorSchema(Schema):
    """Submitted data that was refused, field by field; nothing was stored."""

    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True, metadata={
        "description": "Messages per field name; '_schema' for the body as a whole, 'Idempotency-Key' for "
                       "that header."})


class MovedSchema(Schema):
    """A case moved to another process version."""

    id = fields.Integer(required=True)
    process_version = _text("The version the case runs on now.")
    moved_from = _text("The version it ran on before.")
    status = fields.String(metadata={"description": "Where the case is."})


class MoveSchema(Schema):
    """What moving a case takes."""

    version = _text("The full hash of a published process version.")


class ChangeSchema(Schema):
    """One element added, removed or changed between two process versions."""

    kind = _text("task, lane, flow, condition, event, gateway, dmn rule, form, ...")
    id = _text("The element's id (for a form: its task's id).")
    file = fields.String(required=True, allow_none=True, metadata={"description": "The file it is in."})
    name = fields.String(required=True, allow_none=True)
    change = _text("added, removed or changed.", validate=validate.OneOf(["added", "removed", "changed"]))
    fields_ = fields.List(fields.String(), required=True, data_key="fields",
                          metadata={"description": "What changed in it."})


class VersionSchema(Schema):
    """A published process version."""

    hash = _text("Its content hash.")
    published_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    published_by = fields.String(required=True, allow_none=True)
    note = fields.String(required=True, allow_none=True, metadata={"description": "What changed and why."})
    based_on = fields.String(required=True, allow_none=True, metadata={"description": "The version it changed."})
    files = fields.List(fields.String(), required=True)
    changes = fields.List(fields.Nested(ChangeSchema), allow_none=True,
                          metadata={"description": "Its changes from the version it is based on."})


class VersionFileSchema(Schema):
    """One file of a published version."""

    name = _text("The file's name.")
    text = _text("Its content.")


class VersionDiffSchema(Schema):
    """What changed from one version to another."""

    from_ = fields.Nested(VersionSchema, required=True, data_key="from")
    to = fields.Nested(VersionSchema, required=True)
    changes = fields.List(fields.Nested(ChangeSchema), required=True)


class DraftErrorSchema(Schema):
    """Why a draft cannot be published."""

    file = fields.String(required=True, allow_none=True)
    element = fields.String(required=True, allow_none=True)
    line = fields.Integer(required=True, allow_none=True)
    message = _text("What is wrong.")


class DraftSchema(Schema):
    """Changed diagrams, tables and forms, validated and waiting to be published."""

    id = fields.Integer(required=True)
    author = _text("Who made it.")
    created_at = _timestamp("When (UTC).")
    based_on = _text("The version it changes.")
    status = _text("valid, invalid or published.", validate=validate.OneOf(["valid", "invalid", "published"]))
    errors = fields.List(fields.Nested(DraftErrorSchema), required=True)
    changes = fields.List(fields.Nested(ChangeSchema), required=True)
    version = fields.String(required=True, allow_none=True, metadata={"description": "Once published, its version."})
    files = fields.List(fields.String(), required=True)


class DraftRequestSchema(Schema):
    """What a draft takes: changed or new files, files to leave out, the base version, process tests."""

    files = fields.Dict(keys=fields.String(), values=fields.String(),
                        metadata={"description": "{\"name.bpmn\" | \"name.dmn\" | \"task.form.yaml\": text}"})
    remove = fields.List(fields.String())
    based_on = fields.String(validate=validate.Length(min=1),
                             metadata={"description": "A published version's hash (default: the latest)."})
    tests = fields.Dict(keys=fields.String(), values=fields.String(),
                        metadata={"description": "Process tests {\"name.yaml\": text}, run with bpmn/tests/."})


class PublishSchema(Schema):
    """What publishing a draft takes."""

    note = _text("What changes and why.")


class ReplayStateSchema(Schema):
    """The case as it stood after one event, replayed."""

    seq = fields.Integer(required=True)
    at = _timestamp("When the event happened (UTC).")
    type = _text("The event's type.")
    task = fields.String(required=True, allow_none=True)
    actor = _text("Who did it.")
    role = _text("In which role.")
    process_version = _text("The process version in force at that event (a moved case ran on several).")
    status = _text("open or closed.")
    ready = fields.List(fields.String(), required=True, metadata={"description": "Ready user tasks (BPMN ids)."})
    markers = fields.Dict(keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.List(
        fields.String())), required=True, metadata={"description": "completed/ready/active/path: {file: [ids]}."})
    data = fields.Dict(keys=fields.String(), required=True,
                       metadata={"description": "The case data then, as the caller may see it."})


class ReplaySchema(Schema):
    """The replay verdict of one case: verified, purged, differs (the first step) or broken."""

    case_id = fields.Integer(required=True)
    process_version = _text("The version the case runs on.")
    outcome = _text("verified, purged, differs or broken.",
                    validate=validate.OneOf(["verified", "purged", "differs", "broken"]))
    events = fields.Integer(required=True)
    checked = fields.Integer(required=True, metadata={"description": "Steps compared with a recorded state."})
    seq = fields.Integer(required=True, allow_none=True, metadata={"description": "The first event that differs."})
    problem = fields.String(required=True, allow_none=True)
    purged_at = fields.String(required=True, allow_none=True, metadata={
        "description": "When the case was purged (UTC): its chain still verifies, its data can no longer be replayed.",
        "format": "date-time"})
    description = _text("The verdict in one line.")
    state = fields.Nested(ReplayStateSchema, allow_none=True, metadata={
        "description": "With ?step=N, the case after event N; null if the replay did not get there or the case "
                       "was purged (its data no longer exists)."})
