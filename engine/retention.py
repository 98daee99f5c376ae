"""Retention: closed cases past their retention date are purged by destroying their keys (crypto-shredding).

The old row versions are then wiped from the database files (VACUUM; on SQLite also the WAL). The
history stays: its events are sealed with the destroyed key, so they can no longer be read, but the
chain covers the sealed bytes and still verifies. The purge itself is recorded, readable, in the history.
"""
from datetime import datetime

from sqlalchemy import delete, select

from . import history
from .casestate import commit
from .db import wipe_free_space
from .models import Case, IdempotencyRow, Notification, ReadyTaskRow, ReporterLink, utcnow
from .uow import retrying

PURGER_ROLE = "system"


def purgeable(session, closed_before: datetime) -> list[int]:
    """Ids of the cases closed before `closed_before` whose keys still exist."""
    return list(session.scalars(select(Case.id).where(Case.status == "closed", Case.closed_at < closed_before,
                                                      Case.wrapped_key.is_not(None)).order_by(Case.id)))


def purge_closed_before(system, closed_before: datetime, operator: str) -> list[int]:
    """Purge every case closed before `closed_before`, one transaction each; returns the purged ids."""
    if closed_before > utcnow():
        raise ValueError("the retention date is in the future: only cases already closed before it can be purged")
    with system.reading() as uow:
        candidates = purgeable(uow.session, closed_before)
    done = []
    for case_id in candidates:
        if retrying(system.writing, lambda uow: _purge(uow, case_id, closed_before, operator)):
            done.append(case_id)
    if done:  # the old row versions still hold the keys until the files are rewritten
        wipe_free_space(system.db, ("cases", "ready_tasks", "reporter_links", "idempotency_keys", "notifications"))
    return done


def _purge(uow, case_id, closed_before, operator) -> bool:
    session = uow.session
    case = session.get(Case, case_id)
    if case is None or case.purged or case.status != "closed" or not case.closed_at < closed_before:
        return False  # reopened by an appeal, or purged by someone else, since the list was made
    history.append(session, case, operator, PURGER_ROLE, "case_purged", None, None,
                   {"closed_at": case.closed_at.isoformat(), "closed_before": closed_before.isoformat()},
                   readable_after_purge=True)
    # and who was told of its tasks: with the exclusions gone, those rows would show the case to excluded staff
    for table in (ReadyTaskRow, ReporterLink, IdempotencyRow, Notification):
        session.execute(delete(table).where(table.case_id == case.id))
    case.wrapped_key = None  # the only copy of the case key: everything sealed with it is now unreadable
    case.sealed_state, case.sealed_data = "", None
    case.status, case.purged_at, case.next_due = "purged", utcnow(), None
    case.excluded_staff = []  # whom the reporter distrusted is part of what is destroyed
    commit(uow)
    return True
