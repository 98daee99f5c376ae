"""Writes a case's workflow state onto its row and keeps its ready tasks and reporter links in step."""
import secrets
from contextlib import contextmanager

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from .caserecords import CaseRecord, ReadyRow, ready_rows_of, save
from .crypto import token_digest
from .errors import StaleCase
from .models import ReadyTaskRow, ReporterLink, utcnow
from .notifications import enqueue
from .roles import REPORTER
from .statements import Prepared
from .writes import hold, send_held


_READY_ROWS = (select(ReadyTaskRow).where(ReadyTaskRow.case_id == bindparam("case_id"))
               .order_by(ReadyTaskRow.ready_at, ReadyTaskRow.id))  # built once: every view of a case runs it


def ready_rows(session, case_id):
    """The case's ready task rows (mapped), oldest first."""
    return session.scalars(_READY_ROWS, {"case_id": case_id}).all()


# every change of state runs these: built once, from the tables, run on the unit of work's connection
_RT, _RL = ReadyTaskRow.__table__, ReporterLink.__table__
_ADD_READY = Prepared(insert(_RT).inline())
_DROP_READY = Prepared(delete(_RT).where(_RT.c.id == bindparam("b_id")))  # one id each (an IN list varies)
_RETITLE_READY = Prepared(update(_RT).where(_RT.c.id == bindparam("b_id"))
                          .values(role=bindparam("b_role"), title=bindparam("b_title")))
_ADD_LINK = Prepared(insert(_RL).inline())
_LINKS_DONE = (update(_RL).where(_RL.c.case_id == bindparam("b_case_id"), _RL.c.used_at.is_(None),
                                 _RL.c.task_id.not_in(bindparam("b_ready", expanding=True)))
               .values(used_at=bindparam("b_used_at", type_=_RL.c.used_at.type)))


def store(session, runner, case, workflow):
    """Write the workflow state, its data snapshot, status and ready tasks onto the case; return the ready rows.

    The ready tasks, reporter links and the messages telling people of newly ready tasks are held for the
    caller's transaction (engine/writes.py), sent when the case is written (`save_case`, `flush`) or at the
    latest at commit: a change that rolls back leaves none of them behind. The case's own columns are set on
    `case` (a mapped Case or a CaseRecord).
    """
    now = utcnow()
    case.state = runner.dumps(workflow)
    case.data, ready_tasks = runner.state(workflow)  # one walk of the task tree for both
    status = "closed" if runner.is_completed(workflow) or case.data.get("case_closed") else "open"
    if status == "closed" and case.status != "closed":
        case.closed_at = now
    case.status = status
    case.next_due = runner.next_due(workflow)
    case.updated_at = now
    ready = {t.id: t for t in ready_tasks}
    existing = {r.id: r for r in ready_rows_of(session.connection(), case)}
    rows, new, gone, retitled, links = [], [], [], [], []
    for task_id, row in existing.items():
        if task_id not in ready:
            gone.append(task_id)
            continue
        task = ready[task_id]
        if row.role != task.role:
            new.append(row)  # someone else acts on it now (the team took over on-site tasks): tell them
        if (row.role, row.title) != (task.role, task.title):  # a case moved to a newer version shows its wording
            row.role, row.title = task.role, task.title
            retitled.append({"b_id": row.id, "b_role": row.role, "b_title": row.title})
        rows.append(row)
    for task_id, task in ready.items():
        if task_id in existing:
            continue
        row = ReadyRow(task_id, case.id, task.task, task.title, task.lane, task.role, utcnow())  # in engine order
        rows.append(row)
        new.append(row)
        if task.lane == REPORTER:
            token = row.link = secrets.token_urlsafe(32)  # the case view shows it before it is written
            links.append({"token_hash": token_digest(token), "sealed_token": case.cipher.seal("reporter link", token),
                          "case_id": case.id, "task_id": task_id, "created_at": now})
    # written with the case (writes.send_held, with or right after its own write); nothing reads them before
    if gone:
        hold(session, _DROP_READY, [{"b_id": task_id} for task_id in gone])
    if retitled:
        hold(session, _RETITLE_READY, retitled)
    added = [vars_of(row) for row in rows if row.id not in existing]
    if added:
        hold(session, _ADD_READY, added)
    if links:
        hold(session, _ADD_LINK, links)
    if any(r.lane == REPORTER for r in existing.values()):
        hold(session, _LINKS_DONE, {"b_case_id": case.id, "b_ready": sorted(ready), "b_used_at": now})
    enqueue(session, case, new)
    rows.sort(key=lambda r: (r.ready_at, r.id))
    case.ready = rows  # what the case's ready tasks are now, for a later step of the same change
    return rows


def vars_of(row: ReadyRow) -> dict:
    """A ReadyRow as the column values of its row."""
    return {"id": row.id, "case_id": row.case_id, "task": row.task, "title": row.title, "lane": row.lane,
            "role": row.role, "ready_at": row.ready_at}


@contextmanager
def conflicts_are_stale():
    """A concurrent change to the same case (version, ready task or history seq clash) becomes StaleCase."""
    try:
        yield
    except (StaleDataError, IntegrityError):
        raise StaleCase("the case changed while you were working on it; reload and try again") from None


def flush(session):
    """Send the pending writes now (inside the transaction), held ones first, mapping write conflicts to
    StaleCase."""
    send_held(session)
    with conflicts_are_stale():
        session.flush()


def save_case(session, case):
    """Write the case's changed columns now (inside the transaction) and what its change held: a CaseRecord
    with its own statement (sent with the held writes when its row is locked), a mapped Case by a flush; a
    concurrent change becomes StaleCase."""
    if isinstance(case, CaseRecord):
        save(session, case)
        send_held(session)
    else:
        flush(session)


def commit(uow):
    """Commit, mapping write conflicts to StaleCase."""
    with conflicts_are_stale():
        uow.commit()
