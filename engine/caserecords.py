"""Cases and their ready tasks as plain records, read and written with prebuilt Core statements.

Completing a task, a reporter's account and a message change one case: they read the case with its
ready task, run the engine, and write the case back with the history event, ready tasks and
messages. Through the mapped classes that bookkeeping cost more than the engine step (the
identity map, the flush's sorting, an object per row); these statements are built once, from the
tables, and run on the unit of work's connection. The case is still written only if nobody changed
it meanwhile (its `version`), as the mapped Case's version counter guarantees.
"""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, case, select, update

from .errors import StaleCase
from .models import Case, ReadyTaskRow, SealedCase
from .notifications import staff_columns, told_of
from .statements import Prepared, fetch, run
from .writes import STALE, hold

_C, _RT = Case.__table__, ReadyTaskRow.__table__
CASE_COLUMNS = tuple(c.name for c in _C.c)
# what a change of state may write back; anything else changes through the mapped Case
WRITTEN = ("status", "last_seq", "head_hash", "next_due", "sealed_state", "sealed_data", "updated_at", "closed_at")


@dataclass(slots=True)
class ReadyRow:
    """A ready task as its row holds it (the same attributes as ReadyTaskRow)."""

    id: str
    case_id: int
    task: str
    title: str
    lane: str
    role: str
    ready_at: datetime
    link: str | None = None  # the reporter's private link of a reporter task made ready by this change


class CaseRecord(SealedCase):
    """A case row read with a Core statement: the attributes of a mapped Case, written back by `save`."""

    def __init__(self, values, master_key):
        self.__dict__.update(values)
        self._master = master_key
        self._read_version = values["version"]
        self.locked = False  # read with a row lock held until the transaction ends

    def _master_key(self):
        return self._master

    def __setattr__(self, name, value):
        if name in _FIXED:
            raise AttributeError(f"a case's {name} changes through the mapped Case, not a CaseRecord")
        object.__setattr__(self, name, value)


_FIXED = frozenset(CASE_COLUMNS) - set(WRITTEN)

_TASK, _ALL = _RT.alias("task"), _RT.alias("ready")
_BIG = ("sealed_state", "sealed_data")  # read once, on the row of the task asked for, not on each ready task's row
# the task asked for, its case and every ready task of that case (oldest first), in one statement
_ASKED = _ALL.c.id == _TASK.c.id
_CASE_OF_TASK = (select(*[c.label(f"rt_{c.name}") for c in _ALL.c],
                        *[c for c in _C.c if c.name not in _BIG],
                        *[case((_ASKED, _C.c[name]), else_=None).label(name) for name in _BIG],
                        # who may be told of the tasks the change makes ready (notifications.enqueue)
                        *[case((_ASKED, column), else_=None).label(name)
                          for name, column in zip(("staff", "hook"), staff_columns(_C.c.event_name))])
                 .select_from(_TASK).join(_C, _C.c.id == _TASK.c.case_id).join(_ALL, _ALL.c.case_id == _C.c.id)
                 .where(_TASK.c.id == bindparam("task_id")).order_by(_ALL.c.ready_at, _ALL.c.id))
# for a change: the case row stays the change's own until it commits (PostgreSQL; SQLite's write lock already
# keeps every other writer out), so its version check cannot fail and its write can go out with the others
_FOR_CHANGE, _FOR_READING = Prepared(_CASE_OF_TASK.with_for_update(of=_C)), Prepared(_CASE_OF_TASK)
_READY_OF_CASE = select(*_RT.c).where(_RT.c.case_id == bindparam("case_id")).order_by(_RT.c.ready_at, _RT.c.id)
_SAVE = Prepared(update(_C).where(_C.c.id == bindparam("b_id"), _C.c.version == bindparam("b_version"))
                 .values(version=bindparam("b_new_version", type_=_C.c.version.type),
                         **{name: bindparam(f"b_{name}", type_=_C.c[name].type) for name in WRITTEN}))


def case_of_task(connection, master_key, task_id, for_change=False):
    """(the ready task's ReadyRow, its CaseRecord with its ready tasks and who may be told of new ones), or None
    when no task of that id is ready; `for_change` locks the case row until the transaction ends."""
    rows = fetch(connection, _FOR_CHANGE if for_change else _FOR_READING, {"task_id": task_id})
    asked = next((row for row in rows if row["rt_id"] == task_id), None)
    if asked is None:
        return None
    ready = [ReadyRow(*(row[f"rt_{c.name}"] for c in _RT.c)) for row in rows]
    record = CaseRecord({name: asked[name] for name in CASE_COLUMNS}, master_key)
    record.ready = ready
    record.told = told_of(record.event_name, asked["staff"], asked["hook"])
    record.locked = for_change and connection.dialect.name == "postgresql"
    return next(r for r in ready if r.id == task_id), record


def ready_rows_of(connection, case) -> list:
    """The case's ready tasks as ReadyRows, oldest first: those known already (`case.ready`), else from the table."""
    return case.ready if case.ready is not None else ready_of_case(connection, case.id)


def ready_of_case(connection, case_id) -> list:
    """The case's ready tasks as ReadyRows, oldest first."""
    return [ReadyRow(*row) for row in connection.execute(_READY_OF_CASE, {"case_id": case_id})]


def save(session, case: CaseRecord) -> None:
    """Write the record's changed state back, or raise StaleCase if someone changed the case since it was read.

    A record read with its row locked cannot have been changed by anyone else: its write is held and goes out
    with the change's other writes (engine/writes.py). Otherwise it is written now and its version checked.
    """
    params = {f"b_{name}": getattr(case, name) for name in WRITTEN}
    params.update(b_id=case.id, b_version=case._read_version, b_new_version=case._read_version + 1)
    if case.locked:
        hold(session, _SAVE, params)
    elif run(session.connection(), _SAVE, params) != 1:
        raise StaleCase(STALE)
    object.__setattr__(case, "version", case._read_version + 1)
