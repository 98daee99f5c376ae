"""Writes a case's workflow state onto its row and keeps its ready tasks and reporter links in step."""
import secrets
from contextlib import contextmanager

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from .crypto import token_digest
from .errors import StaleCase

from .models import ReadyTaskRow, ReporterLink, utcnow
from .notifications import enqueue
from .roles import REPORTER


_READY_ROWS = (select(ReadyTaskRow).where(ReadyTaskRow.case_id == bindparam("case_id"))
               .order_by(ReadyTaskRow.ready_at, ReadyTaskRow.id))  # built once: every change runs it


def ready_rows(session, case_id):
    """The case's ready task rows, oldest first."""
    return session.scalars(_READY_ROWS, {"case_id": case_id}).all()


def store(session, runner, case, workflow):
    """Write the workflow state, its data snapshot, status and ready tasks onto the case; return the ready rows.

    The messages telling people of newly ready tasks are written here too, in the same transaction:
    a change that rolls back leaves no message behind.
    """
    with session.no_autoflush:
        case.state = runner.dumps(workflow)
        case.data, ready_tasks = runner.state(workflow)  # one walk of the task tree for both
        status = "closed" if runner.is_completed(workflow) or case.data.get("case_closed") else "open"
        if status == "closed" and case.status != "closed":
            case.closed_at = utcnow()
        case.status = status
        case.next_due = runner.next_due(workflow)
        case.updated_at = utcnow()
        ready = {t.id: t for t in ready_tasks}
        existing = {r.id: r for r in ready_rows(session, case.id)} if case.id is not None else {}
        rows, new = [], []
        for task_id, row in existing.items():
            if task_id in ready:
                if row.role != ready[task_id].role:
                    new.append(row)  # someone else acts on it now (the team took over on-site tasks): tell them
                row.role = ready[task_id].role
                row.title = ready[task_id].title  # a case moved to a newer version shows its wording
                rows.append(row)
            else:
                session.delete(row)
        for task_id, task in ready.items():
            if task_id in existing:
                continue
            row = ReadyTaskRow(id=task_id, case_id=case.id, task=task.task, title=task.title, lane=task.lane,
                               role=task.role, ready_at=utcnow())
            session.add(row)
            rows.append(row)
            new.append(row)
            if task.lane == REPORTER:
                token = secrets.token_urlsafe(32)
                session.add(ReporterLink(token_hash=token_digest(token), sealed_token=case.cipher.seal("reporter link", token),
                                         case_id=case.id, task_id=task_id))
        if any(r.lane == REPORTER for r in existing.values()):
            for link in session.scalars(select(ReporterLink).where(ReporterLink.case_id == case.id,
                                                                   ReporterLink.used_at.is_(None))):
                if link.task_id not in ready:
                    link.used_at = utcnow()
        enqueue(session, case, new)
    return sorted(rows, key=lambda r: (r.ready_at, r.id))


@contextmanager
def conflicts_are_stale():
    """A concurrent change to the same case (version, ready task or history seq clash) becomes StaleCase."""
    try:
        yield
    except (StaleDataError, IntegrityError):
        raise StaleCase("the case changed while you were working on it; reload and try again") from None


def flush(session):
    """Send the pending writes now (inside the transaction), mapping write conflicts to StaleCase."""
    with conflicts_are_stale():
        session.flush()


def commit(uow):
    """Commit, mapping write conflicts to StaleCase."""
    with conflicts_are_stale():
        uow.commit()
