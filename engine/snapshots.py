"""What a case looked like after an event: its ready tasks and a keyed digest of its data.

Every event that changes a case's state records this (case_events.after, covered by the hash chain),
computed here from what was just stored; replay recomputes it from the re-executed workflow and
compares. The data is only digested (with a key derived from the case key, see crypto.digest), so
the record reveals nothing and is unreadable once the case is purged. Ready tasks keep their engine
ids so a replay can tell apart two waiting tasks of the same kind (two distressed attendees).
"""
import json

DATA = "case data"


def snapshot(cipher, ready, data: dict) -> str:
    """The canonical text of a state: `ready` tasks (anything with .task and .id) and the data's digest."""
    return json.dumps({"ready": sorted([t.task, t.id] for t in ready), "data": cipher.digest(DATA, data)},
                      sort_keys=True, separators=(",", ":"))


def of_case(case, rows) -> str:
    """The snapshot of a case as `casestate.store` just left it (`rows`: its ready task rows)."""
    return snapshot(case.cipher, rows, case.data)


def parse(text: str | None) -> dict | None:
    """A recorded snapshot as {"ready": [[task, id], ...], "data": digest}, or None for older events."""
    return None if text is None else json.loads(text)


def ready_tasks(parsed: dict) -> list:
    """The sorted task ids (BPMN ids) of a parsed snapshot, one per waiting task."""
    return sorted(task for task, _ in parsed["ready"])
