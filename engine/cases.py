"""Changing cases: open one, complete a task, raise a message, take the reporter's account.

Each takes a unit of work and plain values and returns plain data; nothing here knows about HTTP.
"""
import logging
import threading
import weakref

from marshmallow import ValidationError
from sqlalchemy import select

from forms import INTAKE_FORM

from . import history, snapshots
from .access import check_can_act, check_can_raise, check_can_view
from .casestate import commit, flush, save_case, store
from .errors import CaseClosed, CasePurged, InvalidSubmission, NotAllowed, NotFound, TaskNotReady
from .faults import checkpoint
from .idempotency import finish
from .identities import identifying_words
from .models import Case, User, UserEvent, utcnow
from .roles import CASE_OPENING_ROLES, INCIDENT_TEAM, MESSAGE_ROLES, ONSITE_STAFF, OPEN_CASE_MESSAGES, REPORTER
from .users import REPORTER_ACTOR
from .views import case_view, load_case, ready_task, reporter_link_task

log = logging.getLogger(__name__)  # ids, task names and roles only: never case data


def validate(form_class, data) -> dict:
    """Load `data` through a form; raise InvalidSubmission with {field: [messages]} on any problem."""
    try:
        return _form(form_class).load({} if data is None else data)
    except ValidationError as err:
        raise InvalidSubmission(_flatten(err.messages)) from None


_forms = threading.local()


def _form(form_class):
    """This thread's instance of a form: a load keeps nothing on it, and building one copies every field (a
    twentieth of a millisecond a request). One per thread all the same (a worker's timer thread validates too)."""
    forms = _forms.__dict__.setdefault("by_class", weakref.WeakKeyDictionary())  # a retired version's go with it
    form = forms.get(form_class)
    if form is None:
        form = forms[form_class] = form_class()
    return form


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


def intake_data(intake) -> dict:
    """Validate intake data with the intake form: excluded staff sorted once each, no empty reporter name."""
    data = validate(INTAKE_FORM, intake)
    data["excluded_staff"] = sorted(set(data.get("excluded_staff") or []))
    if not data.get("reporter_name"):
        data.pop("reporter_name", None)
    return data


def clean_answers(form, answers, case_data) -> dict:
    """Validate a task's answers with its form and refuse public texts that name someone in the case."""
    clean = validate(form, answers)
    _check_public_texts(form, clean, case_data)
    return clean


def open_case(uow, processes, actor, intake, idempotency=None) -> dict:
    """Start a case from validated intake data; records the start in the history."""
    if idempotency is not None and (done := idempotency.stored(uow.session)) is not None:
        return done
    if not actor.roles & set(CASE_OPENING_ROLES):
        raise NotAllowed("only on-site staff, organizers and the incident team open cases")
    if isinstance(intake, dict) and "opened_by_role" not in intake:
        held = [r for r in CASE_OPENING_ROLES if r in actor.roles]
        intake = {**intake, "opened_by_role": held[0]}
    data = intake_data(intake)
    if data["opened_by_role"] not in actor.roles:
        raise InvalidSubmission({"opened_by_role": ["You can only open a case in a role you hold."]})
    _check_excluded(uow.session, actor, data["excluded_staff"])
    if INCIDENT_TEAM not in actor.roles and data["event_name"] not in actor.events:
        raise InvalidSubmission({"event_name": ["You are not assigned to this event; ask the Incident Response "
                                                "Team to open the case."]})
    # the case goes to the incident team when nobody on site is left once the excluded staff are taken out
    data["onsite_staff_available"] = _onsite_staff_left(uow.session, data["event_name"], data["excluded_staff"])
    session = uow.session
    runner = processes.runner(processes.latest_hash(session), session)
    now = utcnow()
    workflow = runner.start(data, at=now)
    case = Case(process_version=runner.version.hash, event_name=data["event_name"],
                excluded_staff=[session.info["master_key"].exclusion_digest(u) for u in data["excluded_staff"]])
    case.use_key(*session.info["master_key"].new_case_key())
    case.ready = []  # a new case has no ready tasks to read
    session.add(case)
    flush(session)
    rows = store(session, runner, case, workflow)
    history.append(session, case, actor.username, data["opened_by_role"], "case_started", None, None, data,
                   at=now, after=snapshots.of_case(case, rows))
    flush(session)
    log.info("case %s opened on version %s", case.id, case.process_version[:12])
    return finish(uow, idempotency, case_view(case, rows, actor, session), commit, case)


def _onsite_staff_left(session, event_name, excluded) -> bool:
    rows = session.execute(select(User.username, User.roles).join(UserEvent, UserEvent.user_id == User.id)
                           .where(UserEvent.event_name == event_name, User.active.is_(True)))
    return any(ONSITE_STAFF in roles and username not in excluded for username, roles in rows)


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


def complete_task(uow, processes, actor, task_id, data, idempotency=None) -> dict:
    """Validate `data` with the task's form, complete the task, run to the next wait and record it."""
    if idempotency is not None and (done := idempotency.stored(uow.session)) is not None:
        return done
    row, case = ready_task(uow.session, actor, task_id, for_change=True)
    check_can_view(actor, case.data)  # first: who may not see the case must not learn the task exists
    if row.lane == REPORTER:
        raise NotAllowed("the reporter completes this task through their private link")
    check_can_act(actor, case.data, row.role)
    rows = _complete(uow, processes, actor, case, row, data)
    return finish(uow, idempotency, case_view(case, rows, actor, uow.session), commit, case)


def raise_message(uow, processes, actor, case_id, name, payload, idempotency=None) -> dict:
    """Deliver a message (safety concern, attendee distressed, appeal) to a case that is waiting for it."""
    session = uow.session
    if idempotency is not None and (done := idempotency.stored(session)) is not None:
        return done
    case = load_case(session, case_id)
    if name not in MESSAGE_ROLES:
        check_can_view(actor, case.data)
        raise NotFound(f"unknown message '{name}'")
    check_can_raise(actor, case.data, MESSAGE_ROLES[name])
    if case.purged:
        raise CasePurged("this case was purged at the end of its retention; it takes no more messages")
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
    now = utcnow()
    runner.catch_message(workflow, name, message, at=now)
    if not {t.id for t in runner.ready_tasks(workflow)} - before:
        # a message nothing reacts to must not look accepted: a safety step would be silently lost
        raise TaskNotReady(f"this case is not waiting for '{name}'")
    rows = store(session, runner, case, workflow)
    history.append(session, case, actor.username, role, "message_raised", name, None, message, at=now,
                   after=snapshots.of_case(case, rows))
    flush(session)
    log.info("case %s: message %s raised by %s", case.id, name, role)
    return finish(uow, idempotency, case_view(case, rows, actor, session), commit, case)


def complete_reporter_task(uow, processes, token, data, idempotency=None) -> dict:
    """Complete the reporter's task through their private link; the link stops working afterwards."""
    if idempotency is not None and (done := idempotency.stored(uow.session)) is not None:
        return done
    link, row, case = reporter_link_task(uow.session, token)
    _complete(uow, processes, REPORTER_ACTOR, case, row, data)
    return finish(uow, idempotency, {"status": "received"}, commit, case)


# ------------------------------------------------------------------ helpers


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


def _complete(uow, processes, actor, case, row, data):
    session = uow.session
    runner = processes.runner(case.process_version, session)
    form = runner.version.forms[row.task]
    clean = clean_answers(form, data, case.data)
    checkpoint("after_validation")
    workflow = runner.loads(case.state)
    now = utcnow()
    runner.complete(workflow, row.id, clean, at=now)
    checkpoint("after_engine_step")
    rows = store(session, runner, case, workflow)
    history.append(session, case, actor.username, row.role, "task_completed", row.task, row.id, clean, at=now,
                   after=snapshots.of_case(case, rows))
    save_case(session, case)
    log.info("case %s: task %s completed by %s", case.id, row.task, row.role)
    checkpoint("after_flush")
    return rows
