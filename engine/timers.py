"""Fires due timers: loads only cases whose earliest timer is due, one case per transaction, each once."""
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from . import history, snapshots
from .background import run_every
from .casestate import commit, store
from .errors import StaleCase
from .models import Case, utcnow

log = logging.getLogger(__name__)
SYSTEM = "system"
RETRY_LATER = timedelta(minutes=5)


@dataclass(frozen=True)
class TickReport:
    """What one tick did: cases looked at and tasks the timers created."""

    cases: int
    tasks: int


def tick(system, now=None) -> TickReport:
    """Fire every timer due by `now`; safe to run from several processes at once (row locks, SKIP LOCKED).

    Without `now` each case runs on the time it is reached; a given `now` is the clock of every case
    (tests use it to let time pass).
    """
    clock = now
    now = now or utcnow()
    seen, fired = set(), 0
    while True:
        case_id = None
        try:
            with system.writing() as uow:
                query = (select(Case).where(Case.next_due <= now, Case.id.not_in(seen) if seen else True)
                         .order_by(Case.next_due).limit(1))
                if uow.session.bind.dialect.name == "postgresql":
                    query = query.with_for_update(skip_locked=True)
                case = uow.session.scalars(query).first()
                if case is None:
                    break
                case_id = case.id
                seen.add(case_id)
                fired += _fire(uow, system.processes, case, clock or utcnow())
        except StaleCase:
            continue  # someone changed the case meanwhile; the next tick sees its new due time
        except Exception:
            if case_id is None:
                raise  # the database itself failed, not one case
            # one case that cannot be run must not stop the escalations of every other case
            log.exception("timers of case %s could not be fired; retrying in %s", case_id, RETRY_LATER)
            _postpone(system, case_id, now + RETRY_LATER)
    return TickReport(len(seen), fired)


def _postpone(system, case_id, when):
    with system.writing() as uow:
        case = uow.session.get(Case, case_id)
        if case is not None and case.next_due is not None and case.next_due < when:
            case.next_due = when
            commit(uow)


def _fire(uow, processes, case, now) -> int:
    session = uow.session
    runner = processes.runner(case.process_version, session)
    workflow = runner.loads(case.state)
    before, due_before = {t.id for t in runner.ready_tasks(workflow)}, case.next_due
    runner.refresh(workflow, at=now)
    rows = store(session, runner, case, workflow)
    new = [r.task for r in rows if r.id not in before]
    if not new and case.next_due == due_before:
        return 0  # nothing fired by the engine's clock yet: leave it for the next tick, write nothing
    # a timer fired: it created tasks, or moved on to other timers (or to none)
    history.append(session, case, SYSTEM, SYSTEM, "timer_fired", None, None, {"tasks": sorted(new)},
                   readable_after_purge=True, at=now, after=snapshots.of_case(case, rows))
    commit(uow)
    return len(new)


def start_background_ticker(system, seconds: float):
    """Every `seconds`, adopt changed diagrams that validate and run `tick`, in a daemon thread.

    `incidents serve` runs one in each worker.
    """
    def once():
        if system.processes.reload():  # changed diagrams are adopted only if they validate
            with system.writing() as uow:
                system.processes.record_current(uow.session)
                uow.commit()
        report = tick(system)
        if report.tasks:
            log.info("timers fired: %d tasks in %d cases", report.tasks, report.cases)
    return run_every(seconds, "incidents-ticker", once)
