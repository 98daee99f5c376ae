"""A case's timeline for auditors: every event with who, which role, when, the task, the process version,
and the data entered shown as a change from the step before (from a replay of the case).

Each use case takes a unit of work and plain values and returns plain data; nothing here knows about HTTP.
"""
from dataclasses import asdict

from .access import check_can_audit, visible_data
from .audit import read_snapshot, recorded, verdict
from .replay import STATE_CHANGING
from .views import load_case, record_access
from .wording import Wording

TYPES = ("case_started", "task_completed", "message_raised", "timer_fired", "case_moved", "case_viewed",
         "case_purged")


def timeline(uow, processes, actor, case_id, types=(), roles=()) -> dict:
    """The case's events, optionally only those of some types and roles; opening it is a recorded view."""
    case = load_case(uow.session, case_id)
    check_can_audit(actor, case.data)
    record_access(uow, actor, case, "timeline")
    case, rows = read_snapshot(uow.session, case_id)
    return entries(uow.session, processes, actor, case, rows, types, roles)


def entries(session, processes, actor, case, rows, types=(), roles=()) -> dict:
    """The timeline of `case` from its event `rows`, as `actor` may see it (None: unredacted, for the operator).

    No access check and no record of the view here: the caller does both.
    """
    events = recorded(rows)
    after = {}  # seq -> the case data after that event, for every event the replay reproduced

    def on_step(event, replayer):
        after[event.seq] = replayer.data() if event.type in STATE_CHANGING else None
    found = verdict(session, processes, case, rows, on_step)
    wording = Wording(processes, session)
    current = case.data

    def see(data):
        return data if actor is None or data is None else visible_data(actor, data, current)
    out, before = [], {}
    for event, row in zip(events, rows):
        replayed = event.seq in after
        now = after.get(event.seq) if after.get(event.seq) is not None else before
        entered = see(event.data)
        out.append({"seq": event.seq, "at": event.at.isoformat(), "actor": event.actor, "role": event.role,
                    "type": event.type, "task": event.task, "title": wording.title(row.process_version, event.task),
                    "process_version": row.process_version, "hash": row.hash,
                    "entered": entered, "replayed": replayed,
                    "changes": changes(see(before), see(now), entered) if replayed else None})
        before = now
    shown = [e for e in out if (not types or e["type"] in types) and (not roles or e["role"] in roles)]
    return {"case": {"id": case.id, "status": case.status, "event_name": case.event_name,
                     "process_version": case.process_version, "head_hash": case.head_hash},
            "verdict": {**asdict(found), "description": found.describe()},
            "events": shown, "total": len(out),
            "types": [t for t in TYPES if any(e["type"] == t for e in out)],
            "roles": sorted({e["role"] for e in out}),
            "selected": {"types": sorted(types), "roles": sorted(roles)}}


def changes(before: dict, after: dict, entered: dict | None) -> list:
    """The step as a change: each field entered (new, changed or unchanged) and each other field the step changed.

    Entries are {"field", "value", "before", "kind"}; kind is "new", "changed", "unchanged", "removed", or
    "recorded" for what the event recorded without it becoming case data (a message's note).
    """
    out = []
    for field, value in (entered or {}).items():
        if field not in after or after[field] != value:
            kind = "recorded"
        elif field not in before:
            kind = "new"
        else:
            kind = "unchanged" if before[field] == value else "changed"
        out.append({"field": field, "value": value, "before": before.get(field), "kind": kind, "entered": True})
    for field in sorted(set(before) | set(after)):
        if field in (entered or {}) or before.get(field, _GONE) == after.get(field, _GONE):
            continue
        kind = "removed" if field not in after else ("new" if field not in before else "changed")
        out.append({"field": field, "value": after.get(field), "before": before.get(field), "kind": kind,
                    "entered": False})
    return out


_GONE = object()
