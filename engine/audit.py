"""Auditors' use cases: verify a case (hash chain and replay), its state after any event, the case on its diagram.

Each takes a unit of work and plain values and returns plain data; nothing here knows about HTTP.
Whatever shows case data records the view in the history first, like every other auditor's view.
"""
import getpass
from dataclasses import asdict, dataclass
from types import SimpleNamespace

from sqlalchemy import func, select

from . import history, snapshots
from .access import check_can_audit, visible_data
from .casestate import ready_rows
from .crypto import MasterKeyError
from .errors import NotFound
from .markers import markers
from .models import Case
from .replay import STATE_CHANGING, Divergence, Recorded, Replayer, compare_final
from .views import load_case, record_access

OPERATOR = "operator"  # the role recorded for the command line, which reads cases with the master key
REDRAWN = STATE_CHANGING | {"case_moved"}  # the events after which the diagram is marked afresh


@dataclass(frozen=True)
class Verdict:
    """What checking one case found: verified, purged (chain verified, data destroyed), differs, or broken."""

    case_id: int
    outcome: str
    events: int
    checked: int = 0
    seq: int | None = None
    problem: str | None = None
    purged_at: str | None = None  # when the case's key was destroyed (ISO time), for a purged case

    @property
    def ok(self) -> bool:
        return self.outcome in ("verified", "purged")

    def describe(self) -> str:
        """One line for people: the outcome and, for a failure, where and how."""
        if self.outcome == "verified":
            return (f"verified: {self.events} events replay to the recorded state "
                    f"({self.checked} compared step by step)")
        if self.outcome == "purged":
            return (f"purged on {self._purge_day()}: the history chain still verifies ({self.events} events), "
                    "but the case data was destroyed and can no longer be replayed")
        if self.outcome == "broken":
            purged = (f" (the case was purged on {self._purge_day()}: its data can no longer be replayed)"
                      if self.purged_at else "")
            return f"hash chain broken at {self.problem}{purged}"
        return f"differs at event seq {self.seq}: {self.problem}"

    def _purge_day(self) -> str:
        return self.purged_at[:10] if self.purged_at else "an unrecorded day"


def operator_name() -> str:
    """How the command line's user appears in a history."""
    return f"command line ({getpass.getuser()})"


def need_key(session) -> None:
    """Raise MasterKeyError unless the session can open case data."""
    if session.info.get("master_key") is None:
        raise MasterKeyError("replaying a case needs its data: set INCIDENTS_MASTER_KEY or INCIDENTS_MASTER_KEY_FILE")


def recorded(rows) -> list:
    """The case's event rows as replay takes them, decrypted."""
    return [Recorded(seq=e.seq, at=e.at, type=e.type, task=e.task, task_id=e.task_id, data=e.data,
                     after=snapshots.parse(e.after), actor=e.actor, role=e.role, process_version=e.process_version)
            for e in rows]


def replay_events(session, processes, case, events, on_step=None):
    """Replay `events` on the case's pinned version; returns (replayer, Divergence or None).

    `on_step(event, replayer)` runs after each event that replayed as recorded.
    """
    # a case runs on the version it started on, unless a recorded move took it to another
    first = next((e.process_version for e in events if e.process_version), None) or case.process_version
    replayer = Replayer(processes.runner(first, session), case.cipher,
                        runner_for=lambda version: processes.runner(version, session))
    try:
        for event in events:
            if event.type == "case_purged":
                break
            replayer.apply(event)
            if on_step is not None:
                on_step(event, replayer)
    except Divergence as diverged:
        return replayer, diverged
    return replayer, None


def verdict(session, processes, case, rows=None, on_step=None) -> Verdict:
    """Check one case: its hash chain, then a replay of every event against the recorded and stored state.

    `on_step` sees every step that replayed as recorded (see replay_events).
    """
    rows = history.events_of(session, case.id) if rows is None else rows
    chain = history.verify_events(case, rows)
    purged_at = case.purged_at.isoformat() if case.purged and case.purged_at else None
    if not chain.ok:
        return Verdict(case.id, "broken", chain.events, problem=chain.problem, purged_at=purged_at)
    if case.purged:
        return Verdict(case.id, "purged", chain.events, purged_at=purged_at)
    need_key(session)
    replayer, diverged = replay_events(session, processes, case, recorded(rows), on_step)
    if diverged is not None:
        return Verdict(case.id, "differs", len(rows), replayer.checked, diverged.seq, diverged.problem)
    final = compare_final(replayer, case.data, [r.task for r in ready_rows(session, case.id)], case.status,
                          case.state)
    if final is not None:
        last = rows[-1].seq if rows else 0
        return Verdict(case.id, "differs", len(rows), replayer.checked, last,
                       f"after the last event, compared with the case as stored: {final}")
    return Verdict(case.id, "verified", len(rows), replayer.checked)


def verify_cases(session, processes):
    """Yield a Verdict for every case in id order, all read from one snapshot; memory stays flat."""
    history.one_snapshot(session)
    for case_id in list(session.scalars(select(Case.id).order_by(Case.id))):
        yield verdict(session, processes, session.get(Case, case_id))
        session.expunge_all()


def count_cases(session) -> int:
    """How many cases there are (for a progress bar)."""
    return session.scalar(select(func.count()).select_from(Case))


def read_snapshot(session, case_id):
    """The case and its events, read from one snapshot in a fresh transaction (the access check ran in another)."""
    if session.in_transaction():
        session.rollback()  # only reads happened in it (an access record was committed already)
    history.one_snapshot(session)
    case = load_case(session, case_id)
    return case, history.events_of(session, case.id)


def audit_summary(uow, actor, case_id) -> dict:
    """The case's id, event, status and process version for its audit pages (no case data: not a recorded view)."""
    case = load_case(uow.session, case_id)
    check_can_audit(actor, case.data)
    return {"id": case.id, "event_name": case.event_name, "status": case.status,
            "process_version": case.process_version, "events": case.last_seq}


def replay_case(uow, processes, actor, case_id, step=None) -> dict:
    """The replay verdict of one case; with `step`, also its state after event `step` (a recorded view).

    A purged case has no state left to show: asking for one records no view (as on the command line).
    """
    case = load_case(uow.session, case_id)
    check_can_audit(actor, case.data)
    if step is not None:
        _check_step(case, step)
    if step is not None and not case.purged:
        record_access(uow, actor, case, f"replayed to event {step}")
    return _replay_view(uow.session, processes, actor, case, step)


def operator_replay(uow, processes, operator, case_id, step=None) -> dict:
    """The same for the command line's operator (no user account; a view of data is recorded all the same)."""
    case = load_case(uow.session, case_id)
    if step is not None:
        _check_step(case, step)
    if step is not None and not case.purged:
        record_access(uow, SimpleNamespace(username=operator), case, f"replayed to event {step} (command line)",
                      role=OPERATOR)
    return _replay_view(uow.session, processes, None, case, step, steps=True)


def diagram(uow, processes, actor, case_id) -> dict:
    """Every step of the case for the diagram view: markers, ready tasks and the data after each event.

    Each step is drawn on the process version in force at it: a case moved to another version has its
    earlier steps on the version they ran on, marked by that version's elements and flows.
    """
    case = load_case(uow.session, case_id)
    check_can_audit(actor, case.data)
    record_access(uow, actor, case, "diagram replay")
    session = uow.session
    case, rows = read_snapshot(session, case_id)
    ran_on = list(dict.fromkeys([*(e.process_version for e in rows), case.process_version]))
    versions = {version: _bpmn_files(processes.runner(version, session).version) for version in ran_on}
    out = {"case_id": case.id, "process_version": case.process_version, "versions": versions, "steps": []}
    last = {"markers": _empty_markers(), "ready": [], "data": {}}

    def on_step(event, replayer):
        version = replayer.runner.version  # a replayed move switches it, as the move did in the case
        if event.type in REDRAWN:
            last.update(markers=markers(replayer.workflow, version),
                        ready=sorted(t.task for t in replayer.ready()),
                        data=visible_data(actor, replayer.data(), case.data))
        out["steps"].append({**_event_summary(event), "process_version": version.hash,
                             "file": _file_of(version, event), **last})
    found = verdict(session, processes, case, rows, on_step)
    out["verdict"] = {**asdict(found), "description": found.describe()}
    return out


def process_file(uow, processes, actor, case_id, name, version=None) -> str:
    """The text of one diagram file of a process version the case ran on (default: the one it runs on now).

    No case data; access is still checked, and only the versions in the case's own history are served.
    """
    case = load_case(uow.session, case_id)
    check_can_audit(actor, case.data)
    version = version or case.process_version
    if version != case.process_version and version not in history.versions_of(uow.session, case.id):
        raise NotFound(f"case {case.id} never ran on process version {version[:12]}")
    files = processes.runner(version, uow.session).version.files
    if name not in files:
        raise NotFound(f"process version {version[:12]} has no file '{name}'")
    return files[name]


# ------------------------------------------------------------------ helpers

def _check_step(case, step):
    if not 1 <= step <= (case.last_seq or 0):
        raise NotFound(f"case {case.id} has no event {step} (it has {case.last_seq or 0})")


def _bpmn_files(version):
    return sorted(name for name in version.files if name.endswith(".bpmn"))


def _empty_markers():
    return {"completed": {}, "ready": {}, "active": {}, "path": {}}


def _event_summary(event) -> dict:
    return {"seq": event.seq, "at": event.at.isoformat(), "type": event.type, "task": event.task,
            "actor": event.actor, "role": event.role}


def _file_of(version, event):
    spec = version.user_tasks.get(event.task) if event.type == "task_completed" else None
    return spec.file_name if spec is not None else None


def _replay_view(session, processes, actor, case, step, steps=False) -> dict:
    """The verdict; with `steps` each event and the ready tasks after it; with `step` the state after that event."""
    case, rows = read_snapshot(session, case.id)
    walked, state = [], None

    def on_step(event, replayer):
        nonlocal state
        walked.append({**_event_summary(event), "ready": sorted(t.task for t in replayer.ready())})
        if event.seq == step:
            data, version = replayer.data(), replayer.runner.version  # the version in force at that event
            state = {**_event_summary(event), "process_version": version.hash, "status": replayer.status(),
                     "ready": sorted(t.task for t in replayer.ready()),
                     "markers": markers(replayer.workflow, version),
                     "data": data if actor is None else visible_data(actor, data, case.data)}
    found = verdict(session, processes, case, rows, on_step)
    out = {"case_id": case.id, "process_version": case.process_version, **asdict(found),
           "description": found.describe()}
    if steps:
        out["steps"] = walked
    if step is not None:
        out["state"] = state
    return out
