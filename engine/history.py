"""The case history: append-only events chained by hashes, and the check that finds the first broken link."""
import hashlib
import json
from dataclasses import dataclass
from datetime import timezone
from types import SimpleNamespace

from sqlalchemy import event, func, insert, select

from .crypto import public
from .models import EVENT_DATA, Case, CaseEvent, utcnow
from .statements import Prepared
from .writes import hold

GENESIS = "0" * 64


class HistoryIsAppendOnly(Exception):
    """Raised when anything tries to change or remove a recorded case event."""


@event.listens_for(CaseEvent, "before_update")
def _refuse_update(mapper, connection, target):
    raise HistoryIsAppendOnly("case events are never changed")


@event.listens_for(CaseEvent, "before_delete")
def _refuse_delete(mapper, connection, target):
    raise HistoryIsAppendOnly("case events are never deleted")


def canonical(fields: dict) -> bytes:
    """The one byte encoding an event's hash covers: sorted keys, no spaces, UTF-8."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# recorded from revision 0009 on; left out of the hashed fields when empty, so older chains still verify
OPTIONAL_FIELDS = ("after", "data_mac")


def hashed_fields(e) -> dict:
    """The fields of an event (a CaseEvent or anything with the same attributes) that its hash covers."""
    fields = {"case_id": e.case_id, "seq": e.seq, "at": e.at.astimezone(timezone.utc).isoformat(),
              "actor": e.actor, "role": e.role, "type": e.type, "task": e.task, "task_id": e.task_id,
              "sealed_data": e.sealed_data, "process_version": e.process_version}
    for name in OPTIONAL_FIELDS:
        if getattr(e, name, None) is not None:
            fields[name] = getattr(e, name)
    return fields


def event_hash(prev_hash: str, e) -> str:
    """SHA-256 over the previous event's hash and this event's canonical encoding.

    It covers the data as stored (sealed), so a chain still verifies without keys and after a purge.
    """
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(hashed_fields(e))).hexdigest()


_ADD_EVENT = Prepared(insert(CaseEvent.__table__).inline())  # built once: every change runs it


def append(session, case, actor, role, kind, task, task_id, data, readable_after_purge=False, at=None,
           after=None) -> SimpleNamespace:
    """Append one event to the case's history, chained to the one before it; returns its recorded fields.

    Its data is sealed with the case key, unless it must stay readable after the key is destroyed
    (only for data that names no one); sealed data also gets a keyed digest, so an export's plaintext
    can be checked without the key. `at` is the moment the engine step ran (default now) and `after`
    the case's state after it (snapshots.of_case), for events that change the state. The event is
    held for the change's transaction (engine/writes.py; a twin change that took the same place in the
    chain fails when it is sent, as StaleCase); the case's new head is set on `case` for its own write.
    """
    prev = case.head_hash or GENESIS
    if readable_after_purge:
        sealed, mac = public(data), None
    else:
        sealed, mac = case.cipher.seal(EVENT_DATA, data), case.cipher.digest(EVENT_DATA, data)
    e = SimpleNamespace(case_id=case.id, seq=(case.last_seq or 0) + 1, at=at or utcnow(), actor=actor, role=role,
                        type=kind, task=task, task_id=task_id, sealed_data=sealed,
                        process_version=case.process_version, after=after, data_mac=mac, prev_hash=prev)
    e.hash = event_hash(prev, e)
    hold(session, _ADD_EVENT, vars(e))
    case.last_seq = e.seq
    case.head_hash = e.hash
    return e


@dataclass(frozen=True)
class ChainReport:
    """The outcome of checking one case's chain: ok, or the first broken link."""

    case_id: int
    events: int
    problem: str | None = None

    @property
    def ok(self):
        return self.problem is None


def events_of(session, case_id) -> list:
    """The case's events in history order."""
    return list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)
                                .order_by(CaseEvent.seq, CaseEvent.id)))


def versions_of(session, case_id) -> list:
    """The process versions the case's events ran on, in the order the case reached them."""
    rows = session.execute(select(CaseEvent.process_version, func.min(CaseEvent.seq))
                           .where(CaseEvent.case_id == case_id).group_by(CaseEvent.process_version))
    return [version for version, _ in sorted(rows, key=lambda row: row[1])]


def verify_case(session, case) -> ChainReport:
    """Recompute the case's chain from its first event; name the first event that does not fit."""
    return verify_events(case, events_of(session, case.id))


def verify_events(case, rows) -> ChainReport:
    """Check the chain of `rows` (the case's events in order) against the head the case records."""
    prev, expected_seq, count = GENESIS, 1, 0
    for e in rows:
        count += 1
        if e.seq != expected_seq:
            what = "missing" if e.seq > expected_seq else "duplicated or inserted"
            return ChainReport(case.id, count, f"event seq {e.seq}: expected seq {expected_seq} (an event is {what})")
        if e.prev_hash != prev:
            return ChainReport(case.id, count, f"event seq {e.seq}: does not follow the event before it "
                                               "(inserted, removed or reordered)")
        if event_hash(prev, e) != e.hash:
            return ChainReport(case.id, count, f"event seq {e.seq}: its content does not match its hash (edited)")
        prev, expected_seq = e.hash, expected_seq + 1
    if count != (case.last_seq or 0) or prev != (case.head_hash or GENESIS):
        return ChainReport(case.id, count, f"after event seq {count}: the case records {case.last_seq} events "
                                           "(events were removed from the end)")
    return ChainReport(case.id, count)


def one_snapshot(session) -> None:
    """Make the session's next transaction read one consistent snapshot (cases and events from the same moment)."""
    if session.bind.dialect.name == "postgresql":
        # otherwise a completion committed between two reads looks like a removed or an extra event
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def verify_all(session):
    """Yield a ChainReport for every case, in id order, all read from one snapshot of the database."""
    one_snapshot(session)
    for case in session.scalars(select(Case).order_by(Case.id)):
        yield verify_case(session, case)
