"""Replay: re-executes a case's recorded events from the start, in a fresh workflow on its pinned process version.

Each event is applied at the time it was recorded (the engine's timers run on that clock, see
clock.py), and the result is compared with what the event recorded about the state after it
(snapshots.py): the ready tasks and a keyed digest of the case data. Events recorded before
snapshots existed are only checked by what they carry themselves (a fired timer names the tasks it
created); the final state is always compared with the case as stored. Nothing here reads the
database: the caller hands in the decrypted events.
"""
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import snapshots

STATE_CHANGING = frozenset({"case_started", "task_completed", "message_raised", "timer_fired"})
ACCESS = frozenset({"case_viewed"})


@dataclass(frozen=True)
class Recorded:
    """One history event as replay needs it: what happened, when, and (decrypted) the data entered."""

    seq: int
    at: datetime
    type: str
    task: str | None
    task_id: str | None
    data: dict | None
    after: dict | None
    actor: str = ""
    role: str = ""
    process_version: str | None = None


class Divergence(Exception):
    """The replay does not reproduce the record at event `seq`; `problem` says how."""

    def __init__(self, seq, problem):
        self.seq = seq
        self.problem = problem
        super().__init__(f"event seq {seq}: {problem}")


class Replayer:
    """Applies recorded events one by one to a fresh workflow and checks each against its recorded state."""

    def __init__(self, runner, cipher, runner_for=None):
        self.runner = runner
        self.runner_for = runner_for  # version hash -> CaseRunner, for a case moved to another version
        self.cipher = cipher
        self.workflow = None
        self.checked = 0  # events compared with a recorded state
        self._data, self._ready = {}, []  # after the last step: one walk of the task tree each
        self._ids = {}  # recorded engine task id -> replayed engine task id
        self._mapped = set()  # replayed ids that have a recorded twin
        self._since = {}  # replayed task id -> the step it became ready at
        self._step = 0

    def apply(self, event: Recorded) -> None:
        """Re-execute one event (raise Divergence if it cannot be), then compare with its recorded state."""
        self._step += 1
        before = {t.id for t in self._ready}
        if event.type == "case_started":
            if self.workflow is not None:
                raise Divergence(event.seq, "the case is started a second time")
            self._engine(event, lambda: setattr(self, "workflow", self.runner.start(event.data, at=event.at)))
        elif self.workflow is None:
            raise Divergence(event.seq, "the history does not begin with case_started")
        elif event.type == "task_completed":
            task = self._match(event)
            self._engine(event, lambda: self.runner.complete(self.workflow, task.id, event.data, at=event.at))
        elif event.type == "message_raised":
            self._engine(event, lambda: self.runner.catch_message(self.workflow, event.task, event.data,
                                                                  at=event.at))
            if not {t.id for t in self._ready} - before:
                raise Divergence(event.seq, f"the message '{event.task}' started nothing in the replay")
        elif event.type == "timer_fired":
            self._engine(event, lambda: self.runner.refresh(self.workflow, at=event.at))
            new = sorted(t.task for t in self._ready if t.id not in before)
            if event.data is not None and new != sorted(event.data.get("tasks", [])):
                raise Divergence(event.seq, f"the timers created {new} in the replay, "
                                            f"the record says {sorted(event.data.get('tasks', []))}")
        elif event.type == "case_moved":
            self._move(event)
        elif event.type not in ACCESS and event.type != "case_purged":
            raise Divergence(event.seq, f"unknown event type '{event.type}'")
        if event.type in STATE_CHANGING:
            for task in self._ready:
                self._since.setdefault(task.id, self._step)
            self._compare(event)

    def data(self) -> dict:
        """The case data as it stands in the replay (a copy)."""
        return json.loads(json.dumps(self._data))

    def ready(self) -> list:
        """The ready user tasks of the replay (runtime.ReadyTask)."""
        return list(self._ready)

    def status(self) -> str:
        """"closed" once the process ended or the case was closed, else "open" (as casestate.store decides)."""
        if self.workflow is None:
            return "open"
        return "closed" if self.runner.is_completed(self.workflow) or self._data.get("case_closed") else "open"

    def twin_of(self, recorded_id: str) -> str | None:
        """The replay's engine id of the task the live case knew as `recorded_id`, once paired."""
        return self._ids.get(recorded_id)

    # ------------------------------------------------------------------ helpers

    def _move(self, event):
        """The case moved to another version: its state goes on, unchanged, on that version's diagrams."""
        target = (event.data or {}).get("to")
        if self.runner_for is None or not target:
            raise Divergence(event.seq, "a move to another version cannot be replayed here")
        runner = self.runner_for(target)
        self._engine(event, lambda: setattr(self, "workflow", runner.loads(self.runner.dumps(self.workflow))))
        self.runner = runner

    def _engine(self, event, action):
        try:
            action()
            self._data, self._ready = self.runner.state(self.workflow)
        except Divergence:
            raise
        except Exception as err:  # the engine refused what the live case did: that is the difference
            first_line = str(err).splitlines()[0] if str(err) else ""
            raise Divergence(event.seq, f"the engine failed: {type(err).__name__}: {first_line}") from None

    def _match(self, event):
        """The replayed twin of a recorded task: by engine id once known, else the oldest ready one of its kind."""
        twin = self._ids.get(event.task_id)
        if twin is not None:
            found = [t for t in self._ready if t.id == twin]
            if not found:
                raise Divergence(event.seq, f"task '{event.task}' was completed in the record but is not "
                                            "waiting in the replay")
            return found[0]
        candidates = [t for t in self._ready if t.task == event.task and t.id not in self._mapped]
        if not candidates:
            raise Divergence(event.seq, f"task '{event.task}' was completed in the record but is not ready in "
                                        f"the replay (ready: {sorted(t.task for t in self._ready)})")
        chosen = min(candidates, key=lambda t: self._since.get(t.id, 0))
        self._pair(event.task_id, chosen.id)
        return chosen

    def _compare(self, event):
        if event.after is None:
            return
        recorded, replayed = snapshots.ready_tasks(event.after), sorted(t.task for t in self._ready)
        if recorded != replayed:
            raise Divergence(event.seq, f"ready tasks differ: recorded {recorded}, replay {replayed}")
        if self.cipher.digest(snapshots.DATA, self._data) != event.after["data"]:
            raise Divergence(event.seq, "the case data differs from what was recorded after this event")
        self.checked += 1
        self._pair_new(event.after["ready"])

    def _pair_new(self, recorded_ready):
        """Pair tasks that became ready in this step with their recorded twins, kind by kind, oldest first."""
        waiting = {}
        for task, recorded_id in recorded_ready:
            if recorded_id not in self._ids:
                waiting.setdefault(task, []).append(recorded_id)
        for task in sorted(self._ready, key=lambda t: self._since.get(t.id, 0)):
            if task.id not in self._mapped and waiting.get(task.task):
                self._pair(waiting[task.task].pop(0), task.id)

    def _pair(self, recorded_id, replayed_id):
        if recorded_id is not None:
            self._ids[recorded_id] = replayed_id
            self._mapped.add(replayed_id)


def compare_final(replayer, stored_data: dict, stored_ready: list, stored_status: str,
                  stored_state: str | None = None) -> str | None:
    """How the replay's final state differs from the case as stored (field names only, never values), or None.

    Compared: the ready task rows, the case data, the status and, from the stored workflow state
    itself, its ready tasks, its data and when its next timer is due (within TIMER_SLACK: events
    recorded before the case clock existed started timers a few milliseconds before their time).
    """
    replayed_ready = sorted(t.task for t in replayer.ready())
    if sorted(stored_ready) != replayed_ready:
        return f"ready tasks differ: stored {sorted(stored_ready)}, replay {replayed_ready}"
    data = replayer.data()
    problem = _data_difference("the case data", _plain(stored_data), data)
    if problem is None and stored_status in ("open", "closed") and replayer.status() != stored_status:
        problem = f"the case is {stored_status} but the replay is {replayer.status()}"
    if problem is None and stored_state is not None:
        problem = _state_difference(replayer, stored_state, replayed_ready, data)
    return problem


TIMER_SLACK = timedelta(seconds=5)


def _state_difference(replayer, stored_state, replayed_ready, data):
    runner = replayer.runner
    try:
        stored = runner.loads(stored_state)
    except Exception as err:  # a state that does not load is as different as it gets
        return f"the stored workflow state does not load ({type(err).__name__})"
    ready = sorted(t.task for t in runner.ready_tasks(stored))
    if ready != replayed_ready:
        return f"the stored workflow state has other ready tasks: {ready}, replay {replayed_ready}"
    problem = _data_difference("the stored workflow state's data", _plain(runner.data(stored)), data)
    if problem is not None:
        return problem
    due, replayed_due = runner.next_due(stored), runner.next_due(replayer.workflow)
    if (due is None) != (replayed_due is None) or (due is not None and abs(due - replayed_due) > TIMER_SLACK):
        return f"the stored workflow's next timer is due {_when(due)}, in the replay {_when(replayed_due)}"
    return None


def _data_difference(what, stored, replayed):
    if stored == replayed:
        return None
    fields = sorted(k for k in set(stored) | set(replayed) if stored.get(k, _MISSING) != replayed.get(k, _MISSING))
    return f"{what} differs in: {', '.join(fields)}"


def _plain(value):
    return json.loads(json.dumps(value))


def _when(moment):
    return moment.isoformat() if moment is not None else "never"


_MISSING = object()
