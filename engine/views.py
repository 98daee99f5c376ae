"""Reading cases: the inbox, a case, its history, a task's page; views by auditors and the team are recorded.

Each takes a unit of work and plain values and returns plain data; nothing here knows about HTTP.
"""
import json
import uuid

from sqlalchemy import Text, bindparam, cast, select

from . import history
from .access import (
    EVENT_READERS, GLOBAL_TASK_ROLES, SANCTIONS, check_can_act, check_can_view, sees_reporter_link, visible_data,
)
from .caserecords import case_of_task
from .casestate import commit, ready_rows
from .crypto import token_digest
from .errors import NotAllowed, NotFound, TaskNotReady
from .instructions import render_instructions
from .models import Case, CaseEvent, MAX_ID, ReadyTaskRow, ReporterLink
from .roles import AUDITOR, INCIDENT_TEAM, MESSAGE_ROLES, OPEN_CASE_MESSAGES, REPORTER
from .users import REPORTER_ACTOR
from .wording import Wording


MAX_CASE_ID = MAX_ID  # case ids are 32-bit integer columns; a larger id names no case


# The inbox and a task's completion run these on every request: built once, from the tables (building a
# statement, and loading through the mapped classes, cost more than running it)
_RT, _C = ReadyTaskRow.__table__, Case.__table__
# (the exclusions as their JSON text: decoded only where the reader's digest appears in it, not for every row)
_INBOX_COLUMNS = select(_RT.c.id, _RT.c.case_id, _RT.c.task, _RT.c.title, _RT.c.role, _RT.c.ready_at,
                        cast(_C.c.excluded_staff, Text).label("excluded_staff"), _C.c.event_name)
_INBOX_BY_ROLE = (_INBOX_COLUMNS.join(_C, _C.c.id == _RT.c.case_id)
                  .where(_RT.c.role.in_(bindparam("roles", expanding=True)), _RT.c.lane != REPORTER))
_INBOX_AT_EVENTS = (_INBOX_COLUMNS.select_from(_C).join(_RT, _RT.c.case_id == _C.c.id)
                    .where(_C.c.event_name.in_(bindparam("events", expanding=True)),
                           _RT.c.role.in_(bindparam("roles", expanding=True)), _RT.c.lane != REPORTER))

_RL = ReporterLink.__table__
_OPEN_LINK = select(_RL.c.sealed_token).where(_RL.c.case_id == bindparam("case_id"), _RL.c.used_at.is_(None))


def list_inbox(uow, actor) -> list:
    """The ready tasks the actor's roles act on, newest case first; excluded cases never appear."""
    everywhere = sorted(actor.roles & GLOBAL_TASK_ROLES)
    at_events = sorted(actor.roles & EVENT_READERS)
    if not everywhere and not at_events:
        return []
    # two index-driven queries rather than one OR (which scans every ready task): the tasks of roles that act
    # everywhere (by role), and those of the actor's events (by the cases' event_name, then their tasks)
    rows = []
    if everywhere:
        rows += uow.session.execute(_INBOX_BY_ROLE, {"roles": everywhere})
    local = [role for role in at_events if role not in everywhere]
    if local and actor.events:
        rows += uow.session.execute(_INBOX_AT_EVENTS, {"events": sorted(actor.events), "roles": local})
    # newest case first (case ids grow as cases open; created_at sits behind the state in the row, which
    # SQLite would read through its overflow pages for every case), each case's tasks oldest first; the rows
    # taken apart as the tuples they are (a Row's attributes cost a third of a millisecond for 100 tasks)
    rows.sort(key=_newest_case_first)
    mine = uow.session.info["master_key"].exclusion_digest(actor.username)  # rows keep digests, not names
    return [{"id": task_id, "case_id": case_id, "task": task, "title": title, "role": role, "event_name": event}
            for task_id, case_id, task, title, role, _, excluded, event in rows if not _excludes(excluded, mine)]


def _newest_case_first(row):  # an _INBOX_COLUMNS row: (id, case_id, task, title, role, ready_at, ...)
    return -row[1], row[5]


def _excludes(excluded_json, digest) -> bool:
    return bool(excluded_json) and digest in excluded_json and digest in json.loads(excluded_json)


def get_case(uow, actor, case_id) -> dict:
    """The case's status, data, ready tasks and (for its staff) the reporter's private link.

    Run it in a writing unit of work: an auditor's or the incident team's view is recorded.
    """
    case = load_case(uow.session, case_id)
    check_can_view(actor, case.data)
    view = case_view(case, ready_rows(uow.session, case.id), actor, uow.session)
    record_access(uow, actor, case, "case")
    return view


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


def case_with_history(uow, processes, actor, case_id) -> tuple:
    """The case page: the case and its history, recorded as one view for auditors and the incident team.

    Each event also carries what people read for it: its task's title and its fields' labels, as the process
    version it ran on defines them (names and values stay as `actor` may see them).
    """
    case = load_case(uow.session, case_id)
    check_can_view(actor, case.data)
    record_access(uow, actor, case, "case and history")
    wording = Wording(processes, uow.session)
    events = [{**_event(actor, e, case), "title": wording.title(e.process_version, e.task),
               "labels": wording.labels(e.process_version, e.type, e.task)} for e in _event_rows(uow, case)]
    return case_view(case, ready_rows(uow.session, case.id), actor, uow.session), events


def case_history(uow, actor, case_id) -> list:
    """Every event of the case in order: who, which role, when, which task, the data entered.

    Run it in a writing unit of work: an auditor's or the incident team's view is recorded first.
    """
    case = load_case(uow.session, case_id)
    check_can_view(actor, case.data)
    record_access(uow, actor, case, "history")
    return _events(uow, actor, case)


def _events(uow, actor, case) -> list:
    return [_event(actor, e, case) for e in _event_rows(uow, case)]


def _event_rows(uow, case):
    return uow.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))


def _event(actor, e, case) -> dict:
    return {"seq": e.seq, "at": _iso(e.at), "actor": e.actor, "role": e.role, "type": e.type, "task": e.task,
            "data": _event_data(actor, e, case), "hash": e.hash}


def _event_data(actor, event, case):
    data = event.data
    return None if data is None else visible_data(actor, data, case.data)  # None: sealed with a purged key


def get_task(uow, processes, actor, task_id) -> dict:
    """A ready task with its rendered instructions and its form's fields, for someone who may complete it."""
    row, case = ready_task(uow.session, actor, task_id)
    check_can_view(actor, case.data)  # first: who may not see the case must not learn the task exists
    if row.lane == REPORTER:
        raise NotAllowed("the reporter completes this task through their private link")
    check_can_act(actor, case.data, row.role)
    return _task_view(processes, uow.session, row, case, actor)


def reporter_task(uow, processes, token) -> dict:
    """The reporter's task behind a private link; NotFound once it is done or for any unknown link."""
    link, row, case = reporter_link_task(uow.session, token)
    view = _task_view(processes, uow.session, row, case, REPORTER_ACTOR)
    view.pop("case_id")
    return view


def case_view(case, rows, actor, session) -> dict:
    """The case as the API shows it (the reporter token is turned into a link by the web layer)."""
    token = None
    if sees_reporter_link(actor, case.data) and any(r.lane == REPORTER for r in rows):
        # a link this change made is not written yet (engine/writes.py): it is on its row
        token = next((r.link for r in rows if getattr(r, "link", None)), None)
        if token is None:
            sealed = session.connection().execute(_OPEN_LINK, {"case_id": case.id}).scalar()
            token = case.cipher.open("reporter link", sealed) if sealed else None
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


def record_access(uow, actor, case, what, role=None):
    """Append a 'case_viewed' event when an auditor or the incident team opens a case's data or history.

    `role` records someone who is no user (the command line's operator) under that role.
    """
    role = role or next((r for r in (AUDITOR, INCIDENT_TEAM) if r in actor.roles), None)
    if role is None:
        return
    history.append(uow.session, case, actor.username, role, "case_viewed", None, None, {"viewed": what},
                   readable_after_purge=True)
    commit(uow)


def load_case(session, case_id) -> Case:
    """The case with this id, or NotFound."""
    try:
        key = int(case_id)
    except (TypeError, ValueError):
        key = None
    case = session.get(Case, key) if key is not None and 0 < key <= MAX_CASE_ID else None
    if case is None:
        raise NotFound("no such case")
    return case


def ready_task(session, actor, task_id, for_change=False):
    """The ready task (a ReadyRow) and its case (a CaseRecord, for `caserecords.save`; locked `for_change`);
    TaskNotReady if it was completed, NotFound if it never existed."""
    if not _is_task_id(task_id):
        raise NotFound("no such task")
    found = case_of_task(session.connection(), session.info["master_key"], str(task_id), for_change)
    if found is not None:
        return found
    done = session.scalars(select(CaseEvent).where(CaseEvent.task_id == str(task_id))).first()
    if done is None:
        raise NotFound("no such task")
    check_can_view(actor, session.get(Case, done.case_id).data)
    raise TaskNotReady("this task was already completed")


def _is_task_id(value) -> bool:
    """Task ids are UUIDs; anything else names no task (and may hold what a database refuses, like NUL)."""
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def reporter_link_task(session, token):
    """The link, its ready reporter task and case; NotFound once the task is done."""
    link = session.get(ReporterLink, token_digest(str(token or "")))
    row = session.get(ReadyTaskRow, link.task_id) if link is not None and link.used_at is None else None
    if row is None:
        raise NotFound("this link is not valid (any more)")
    return link, row, session.get(Case, row.case_id)


def _iso(value):
    return value.isoformat() if value is not None else None
