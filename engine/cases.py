"""Use cases on cases: open one, list an inbox, read a case, complete a task, raise a message, read history.

Each takes a unit of work and plain values and returns plain data; nothing here knows about HTTP.
"""
from marshmallow import ValidationError
from sqlalchemy import desc, select

from forms import INTAKE_FORM

from . import history
from .access import check_can_act, check_can_raise, check_can_view, sees_reporter_link, visible_data
from .casestate import commit, flush, ready_rows, store
from .errors import CaseClosed, InvalidSubmission, NotAllowed, NotFound, TaskNotReady
from .faults import checkpoint
from .idempotency import finish
from .identities import identifying_words
from .instructions import render_instructions
from .models import Case, CaseEvent, ReadyTaskRow, ReporterLink, User
from .roles import AUDITOR, CASE_OPENING_ROLES, INCIDENT_TEAM, MESSAGE_ROLES, OPEN_CASE_MESSAGES, REPORTER
from .users import REPORTER_ACTOR


def validate(form_class, data) -> dict:
    """Load `data` through a form; raise InvalidSubmission with {field: [messages]} on any problem."""
    try:
        return form_class().load({} if data is None else data)
    except ValidationError as err:
        raise InvalidSubmission(_flatten(err.messages)) from None


def _flatten(messages) -> dict:
    """Turn marshmallow's nested messages into {field: [message, ...]}."""
    if not isinstance(messages, dict):
        return {"_schema": _leaves(messages)}
    return {str(key): _leaves(value) for key, value in messages.items()}


def _leaves(value) -> list:
    if isinstance(value, dict):
        return [f"item {int(k) + 1 if str(k).isdigit() else k}: {m}" for k, v in value.items() for m in _leaves(v)]
    if isinstance(value, list):
        return [m for v in value for m in _leaves(v)]
    return [str(value)]


def open_case(uow, processes, actor, intake, idempotency=None) -> dict:
    """Start a case from validated intake data; records the start in the history."""
    if idempotency is not None and (done := idempotency.stored(uow.session)) is not None:
        return done
    if not actor.roles & set(CASE_OPENING_ROLES):
        raise NotAllowed("only on-site staff, organizers and the incident team open cases")
    if isinstance(intake, dict) and "opened_by_role" not in intake:
        held = [r for r in CASE_OPENING_ROLES if r in actor.roles]
        intake = {**intake, "opened_by_role": held[0]}
    data = validate(INTAKE_FORM, intake)
    if data["opened_by_role"] not in actor.roles:
        raise InvalidSubmission({"opened_by_role": ["You can only open a case in a role you hold."]})
    data["excluded_staff"] = sorted(set(data.get("excluded_staff") or []))
    _check_excluded(uow.session, actor, data["excluded_staff"])
    if not data.get("reporter_name"):
        data.pop("reporter_name", None)
    session = uow.session
    processes.record_current(session)
    runner = processes.runner(processes.current.hash)
    workflow = runner.start(data)
    case = Case(process_version=runner.version.hash, event_name=data["event_name"],
                excluded_staff=list(data["excluded_staff"]), state="", data={})
    session.add(case)
    flush(session)
    rows = store(session, runner, case, workflow)
    history.append(session, case, actor.username, data["opened_by_role"], "case_started", None, None, data)
    flush(session)
    return finish(uow, idempotency, case_view(case, rows, actor, session), commit)


def _check_excluded(session, actor, usernames):
    """Excluded staff must be real accounts (a typo would exclude nobody) and not the person opening the case."""
    problems = []
    if actor.username in usernames:
        problems.append("You cannot exclude yourself from a case you open; ask a colleague to open it.")
    known = set(session.scalars(select(User.username).where(User.username.in_(usernames)))) if usernames else set()
    unknown = [name for name in usernames if name not in known]
    if unknown:
        problems.append(f"No staff account named: {', '.join(unknown)}.")
    if problems:
        raise InvalidSubmission({"excluded_staff": problems})


def list_inbox(uow, actor) -> list:
    """The ready tasks the actor's roles act on, newest case first; excluded cases never appear."""
    roles = sorted(actor.roles - {REPORTER})
    if not roles:
        return []
    rows = uow.session.execute(
        select(ReadyTaskRow, Case.excluded_staff, Case.event_name)
        .join(Case, Case.id == ReadyTaskRow.case_id)
        .where(ReadyTaskRow.role.in_(roles), ReadyTaskRow.lane != REPORTER)
        .order_by(desc(Case.created_at), desc(Case.id), ReadyTaskRow.ready_at)
    ).all()
    return [{**_summary(row), "event_name": event} for row, excluded, event in rows
            if actor.username not in (excluded or [])]


def get_case(uow, actor, case_id) -> dict:
    """The case's status, data, ready tasks and (for its staff) the reporter's private link.

    Run it in a writing unit of work: an auditor's or the incident team's view is recorded.
    """
    case = _case(uow.session, case_id)
    check_can_view(actor, case.data)
    view = case_view(case, ready_rows(uow.session, case.id), actor, uow.session)
    _record_access(uow, actor, case, "case")
    return view


def get_task(uow, processes, actor, task_id) -> dict:
    """A ready task with its rendered instructions and its form's fields, for someone who may complete it."""
    row, case = _ready_row(uow.session, actor, task_id)
    if row.lane == REPORTER:
        raise NotAllowed("the reporter completes this task through their private link")
    check_can_act(actor, case.data, row.role)
    return _task_view(processes, uow.session, row, case, actor)


def complete_task(uow, processes, actor, task_id, data, idempotency=None) -> dict:
    """Validate `data` with the task's form, complete the task, run to the next wait and record it."""
    if idempotency is not None and (done := idempotency.stored(uow.session)) is not None:
        return done
    row, case = _ready_row(uow.session, actor, task_id)
    if row.lane == REPORTER:
        raise NotAllowed("the reporter completes this task through their private link")
    check_can_act(actor, case.data, row.role)
    rows = _complete(uow, processes, actor, case, row, data)
    return finish(uow, idempotency, case_view(case, rows, actor, uow.session), commit)


def raise_message(uow, processes, actor, case_id, name, payload, idempotency=None) -> dict:
    """Deliver a message (safety concern, attendee distressed, appeal) to a case that is waiting for it."""
    session = uow.session
    if idempotency is not None and (done := idempotency.stored(session)) is not None:
        return done
    case = _case(session, case_id)
    if name not in MESSAGE_ROLES:
        check_can_view(actor, case.data)
        raise NotFound(f"unknown message '{name}'")
    check_can_raise(actor, case.data, MESSAGE_ROLES[name])
    if name in OPEN_CASE_MESSAGES and case.status == "closed":
        raise CaseClosed(f"the case is closed; '{name}' can only be raised on an open case")
    note = (payload or {}).get("note") if isinstance(payload, dict) else None
    extra = set(payload or {}) - {"note"} if isinstance(payload, dict) else {"_schema"}
    if extra or (note is not None and not isinstance(note, str)):
        raise InvalidSubmission({key: ["Unknown field." if key != "note" else "Not a string."]
                                 for key in (extra or {"note"})})
    runner = processes.runner(case.process_version, session)
    workflow = runner.loads(case.state)
    role = next(r for r in ("onsite_staff", "incident_team", "organizer") if r in actor.roles & MESSAGE_ROLES[name])
    message = {"raised_by": actor.username, "role": role}
    if note:
        message["note"] = note
    before = {t.id for t in runner.ready_tasks(workflow)}
    runner.catch_message(workflow, name, message)
    if not {t.id for t in runner.ready_tasks(workflow)} - before:
        # a message nothing reacts to must not look accepted: a safety step would be silently lost
        raise TaskNotReady(f"this case is not waiting for '{name}'")
    rows = store(session, runner, case, workflow)
    history.append(session, case, actor.username, role, "message_raised", name, None, message)
    flush(session)
    return finish(uow, idempotency, case_view(case, rows, actor, session), commit)


SANCTIONS = ("temporary_suspension", "permanent_ban")


def available_messages(actor, case: dict) -> list:
    """The messages `actor` may raise on the case now (a case view from get_case)."""
    names = []
    for name, roles in MESSAGE_ROLES.items():
        if not actor.roles & roles:
            continue
        if name in OPEN_CASE_MESSAGES and case["status"] == "open":
            names.append(name)
        elif (name == "appeal" and case["status"] == "closed" and case["data"].get("action") in SANCTIONS
              and not case["data"].get("appeal_outcome")):
            names.append(name)
    return names


def case_with_history(uow, actor, case_id) -> tuple:
    """The case page: the case and its history, recorded as one view for auditors and the incident team."""
    case = _case(uow.session, case_id)
    check_can_view(actor, case.data)
    _record_access(uow, actor, case, "case and history")
    return case_view(case, ready_rows(uow.session, case.id), actor, uow.session), _events(uow, actor, case)


def case_history(uow, actor, case_id) -> list:
    """Every event of the case in order: who, which role, when, which task, the data entered.

    Run it in a writing unit of work: an auditor's or the incident team's view is recorded first.
    """
    case = _case(uow.session, case_id)
    check_can_view(actor, case.data)
    _record_access(uow, actor, case, "history")
    return _events(uow, actor, case)


def _events(uow, actor, case) -> list:
    events = uow.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))
    return [{"seq": e.seq, "at": _iso(e.at), "actor": e.actor, "role": e.role, "type": e.type, "task": e.task,
             "data": visible_data(actor, e.data, case.data)} for e in events]


def reporter_task(uow, processes, token) -> dict:
    """The reporter's task behind a private link; NotFound once it is done or for any unknown link."""
    link, row, case = _reporter_link(uow.session, token)
    view = _task_view(processes, uow.session, row, case, REPORTER_ACTOR)
    view.pop("case_id")
    return view


def complete_reporter_task(uow, processes, token, data, idempotency=None) -> dict:
    """Complete the reporter's task through their private link; the link stops working afterwards."""
    if idempotency is not None and (done := idempotency.stored(uow.session)) is not None:
        return done
    link, row, case = _reporter_link(uow.session, token)
    _complete(uow, processes, REPORTER_ACTOR, case, row, data)
    return finish(uow, idempotency, {"status": "received"}, commit)


# ------------------------------------------------------------------ helpers


def case_view(case, rows, actor, session) -> dict:
    """The case as the API shows it (the reporter token is turned into a link by the web layer)."""
    token = None
    if sees_reporter_link(actor, case.data) and any(r.lane == REPORTER for r in rows):
        token = session.scalars(select(ReporterLink.token).where(
            ReporterLink.case_id == case.id, ReporterLink.used_at.is_(None))).first()
    return {"id": case.id, "status": case.status, "process_version": case.process_version,
            "event_name": case.event_name, "created_at": _iso(case.created_at), "data": visible_data(actor, case.data),
            "tasks": [_summary(r) for r in rows], "reporter_token": token}


def _summary(row) -> dict:
    return {"id": row.id, "case_id": row.case_id, "task": row.task, "title": row.title, "role": row.role}


def _task_view(processes, session, row, case, actor) -> dict:
    runner = processes.runner(case.process_version, session)
    spec = runner.version.user_tasks[row.task]
    form = runner.version.forms[row.task]
    instructions = render_instructions(spec.instructions, visible_data(actor, case.data))
    return {**_summary(row), "instructions": instructions,
            "documentation": spec.documentation,
            "fields": [{k: f[k] for k in ("name", "type", "required", "choices", "label", "help", "widget",
                                          "choice_labels")} for f in form.describe()]}


def _record_access(uow, actor, case, what):
    """Append a 'case_viewed' event when an auditor or the incident team opens a case's data or history."""
    role = next((r for r in (AUDITOR, INCIDENT_TEAM) if r in actor.roles), None)
    if role is None:
        return
    history.append(uow.session, case, actor.username, role, "case_viewed", None, None, {"viewed": what})
    commit(uow)


def _check_public_texts(form, clean, case_data):
    """Refuse public texts (announcements, what aware people are told) that name someone in the case."""
    errors = {}
    for field in form.describe():
        if field.get("public"):
            words = identifying_words(clean.get(field["name"]) or "", case_data)
            if words:
                errors[field["name"]] = [f"This identifies someone involved in the case: {', '.join(words)}. "
                                         "Leave out names and details."]
    if errors:
        raise InvalidSubmission(errors)


def _case(session, case_id) -> Case:
    case = session.get(Case, case_id) if isinstance(case_id, int) or str(case_id).isdigit() else None
    if case is None:
        raise NotFound("no such case")
    return case


def _ready_row(session, actor, task_id):
    row = session.get(ReadyTaskRow, str(task_id))
    if row is not None:
        return row, session.get(Case, row.case_id)
    done = session.scalars(select(CaseEvent).where(CaseEvent.task_id == str(task_id))).first()
    if done is None:
        raise NotFound("no such task")
    check_can_view(actor, session.get(Case, done.case_id).data)
    raise TaskNotReady("this task was already completed")


def _reporter_link(session, token):
    link = session.get(ReporterLink, str(token or ""))
    row = session.get(ReadyTaskRow, link.task_id) if link is not None and link.used_at is None else None
    if row is None:
        raise NotFound("this link is not valid (any more)")
    return link, row, session.get(Case, row.case_id)


def _complete(uow, processes, actor, case, row, data):
    session = uow.session
    runner = processes.runner(case.process_version, session)
    form = runner.version.forms[row.task]
    clean = validate(form, data)
    _check_public_texts(form, clean, case.data)
    checkpoint("after_validation")
    workflow = runner.loads(case.state)
    runner.complete(workflow, row.id, clean)
    checkpoint("after_engine_step")
    rows = store(session, runner, case, workflow)
    history.append(session, case, actor.username, row.role, "task_completed", row.task, row.id, clean)
    flush(session)
    checkpoint("after_flush")
    return rows


def _iso(value):
    return value.isoformat() if value is not None else None
