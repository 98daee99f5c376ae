"""Moving a running case to another process version (nothing to do with Alembic's schema migrations).

A case may move only if everything it has done, and everything already fixed for it, is unchanged
in the target version. Precisely, every task of the case's workflow state (in the main process and
in every running sub-process) is looked up by its process and element id in the target version:
- a task the case completed must have the same element type, incoming and outgoing flows,
  conditions and default flow of a gateway, script, pre- and post-script, called process, event
  (timer expression, message), DMN table and, for a user task, lane (= role) and form fields
  (as recorded when each version was published): the case did this work and took this path;
- a task that is ready, running, waiting (a timer, a message, a join) or already decided for the
  case (SpiffWorkflow's FUTURE state) must have the same type, incoming and outgoing flows,
  pre-script, called process, event and, for a user task, lane and form fields: the engine has
  already created what follows it, and its form is what the assignee sees;
- every other task in the state (a prediction the engine made, a cancelled branch) must still
  exist, since the state cannot be loaded otherwise.
Names, documentation and instructions may change (new wording), and so may everything the case has
not reached. Then the state must load on the target version, the ready tasks must be the same
(ids, elements, lanes and acting roles) and the case data identical. The move is recorded in the
history as a `case_moved` event {"from", "to"}. Refusals name the first difference by element id,
which is process definition, never case data: policy staff, who move cases, see no case data.
"""
import json
import re

from sqlalchemy import select
from SpiffWorkflow.util.task import TaskState

from . import history
from .access import check_can_move
from .casestate import commit, flush, store
from .diagrams import describe_forms
from .errors import CaseClosed, CasePurged, InvalidSubmission, MoveRefused, NotFound
from .models import ProcessVersionRow
from .roles import POLICY
from .views import load_case

_DONE = "completed"
_FIXED = "ready or already fixed"
_OTHER = "predicted or cancelled"
_LEVELS = {TaskState.COMPLETED: _DONE, TaskState.READY: _FIXED, TaskState.STARTED: _FIXED,
           TaskState.WAITING: _FIXED, TaskState.FUTURE: _FIXED}
# the order differences are looked for in: what the case did, what it is doing, what is fixed for it, the rest
_RANK = {TaskState.COMPLETED: 0, TaskState.READY: 1, TaskState.STARTED: 1, TaskState.WAITING: 1, TaskState.FUTURE: 2}
_VERSION = re.compile(r"^[0-9a-f]{64}$")


def move_case(uow, processes, actor, case_id, target_version) -> dict:
    """Move an open case to `target_version` if nothing it did changes there; raise MoveRefused naming why not."""
    session = uow.session
    case = load_case(session, case_id)
    check_can_move(actor, case.data)
    if case.purged:
        raise CasePurged("this case was purged at the end of its retention")
    if case.status != "open":
        raise CaseClosed("the case is closed; only open cases are moved to another process version")
    source_hash = case.process_version
    if not isinstance(target_version, str) or not _VERSION.match(target_version):
        raise InvalidSubmission({"version": ["Give the full process version hash (64 hexadecimal digits)."]})
    if target_version == source_hash:
        raise MoveRefused(f"the case already runs on version {source_hash[:12]}")
    source = processes.runner(source_hash, session)
    target = _target_runner(processes, session, target_version)
    state = json.loads(case.state)
    difference = first_difference(source.version, target.version, state,
                                  _recorded_forms(session, source.version), _recorded_forms(session, target.version))
    if difference:
        raise MoveRefused(f"case {case.id} cannot move to version {target_version[:12]}: {difference}")
    workflow = _same_after_loading(source, target, case)
    case.process_version = target_version
    rows = store(session, target, case, workflow)
    history.append(session, case, actor.username, POLICY, "case_moved", None, None,
                   {"from": source_hash, "to": target_version}, readable_after_purge=True)
    flush(session)
    commit(uow)
    return {"id": case.id, "process_version": target_version, "moved_from": source_hash,
            "tasks": sorted(row.task for row in rows)}


def _target_runner(processes, session, version_hash):
    if version_hash == processes.current.hash:
        processes.record_current(session)
    elif session.scalar(select(ProcessVersionRow.hash).where(ProcessVersionRow.hash == version_hash)) is None:
        raise NotFound(f"no process version {version_hash[:12]} has been published")
    return processes.runner(version_hash, session)


def _recorded_forms(session, version) -> dict:
    """The form fields as recorded when the version was published (older rows recorded none)."""
    row = session.get(ProcessVersionRow, version.hash)
    described = row.forms if row is not None and row.forms is not None else describe_forms(version.forms)
    return json.loads(json.dumps(described))


def _same_after_loading(source, target, case):
    """The case's workflow on the target version, if it has the same ready tasks and data there."""
    try:
        original = source.loads(case.state)
        workflow = target.loads(case.state)
        before = [(t.id, t.task, t.lane, t.role) for t in source.ready_tasks(original, case.data)]
        after = [(t.id, t.task, t.lane, t.role) for t in target.ready_tasks(workflow, case.data)]
        same_data = source.data(original) == target.data(workflow)
        target.loads(target.dumps(workflow))
    except Exception as err:  # noqa: BLE001 - any failure here means the state does not fit the version
        raise MoveRefused(f"the case's state does not load on the new version ({type(err).__name__})") from None
    if before != after:
        raise MoveRefused("the ready tasks would differ on the new version "
                          f"({', '.join(t[1] for t in before)} -> {', '.join(t[1] for t in after)})")
    if not same_data:
        raise MoveRefused("the case data would read differently on the new version")
    return workflow


# ------------------------------------------------------------------ comparing the two versions


def first_difference(source, target, state: dict, source_forms: dict, target_forms: dict):
    """The first task of `state` whose element is gone or changed in `target` (as a sentence), or None.

    Missing elements are reported first, then changes, each in the order the case reached them.
    """
    tasks = sorted(_tasks(source, state), key=lambda t: (_RANK.get(t[4], len(_RANK)), t[3]))
    for process, name, level, _, _ in tasks:
        if _spec(target, process, name) is None:
            return f"'{name}' in process '{process}' ({level}) is not in the new version"
        if _spec(source, process, name) is None:
            return f"'{name}' in process '{process}' ({level}) is not in the case's own version"
    for process, name, level, _, _ in tasks:
        if level == _OTHER:
            continue
        before = _fingerprint(source, source_forms, _spec(source, process, name), level)
        after = _fingerprint(target, target_forms, _spec(target, process, name), level)
        changed = [key for key in before if before[key] != after.get(key)]
        if changed:
            return f"'{name}' in process '{process}' ({level}) changed its {changed[0].replace('_', ' ')}"
    return None


def _tasks(version, state):
    """(process id, task spec name, level, last change, state) of every task in a serialized workflow."""
    yield from _level(version.spec.name, state["tasks"])
    for sub in state.get("subprocesses", {}).values():
        yield from _level(sub["spec"], sub["tasks"])


def _level(process, tasks):
    for task in tasks.values():
        state = task["state"]
        yield process, task["task_spec"], _LEVELS.get(state, _OTHER), task.get("last_state_change") or 0, state


def _spec(version, process, name):
    spec = version.spec if process == version.spec.name else version.subprocess_specs.get(process)
    return None if spec is None else spec.task_specs.get(name)


def _fingerprint(version, forms, spec, level) -> dict:
    """What must stay the same of a task spec for a task at `level`."""
    out = {"element_type": type(spec).__name__, "incoming_flows": sorted(s.name for s in spec.inputs),
           "outgoing_flows": sorted(s.name for s in spec.outputs), "pre_script": getattr(spec, "prescript", None),
           "called_process": getattr(spec, "spec", None), "event": _event(spec)}
    task = version.user_tasks.get(spec.bpmn_id) if spec.bpmn_id else None
    if task is not None and type(spec).__name__ == "UserTask":
        out["lane"] = task.role
        out["form_fields"] = forms.get(spec.bpmn_id)
    if level == _DONE:
        out["script"] = getattr(spec, "script", None)
        out["post_script"] = getattr(spec, "postscript", None)
        out["conditions"] = sorted((str(c.args[0]) if c is not None else "", t)
                                   for c, t in getattr(spec, "cond_task_specs", []))
        out["default_flow"] = getattr(spec, "default_task_spec", None)
        out["DMN_table"] = _decision_table(spec)
    return out


def _event(spec):
    definition = getattr(spec, "event_definition", None)
    if definition is None:
        return None
    return (type(definition).__name__, getattr(definition, "expression", None), getattr(definition, "name", None),
            getattr(definition, "message_var", None))


def _decision_table(spec):
    engine = getattr(spec, "dmnEngine", None)
    table = getattr(engine, "decision_table", None)
    if table is None:
        return None
    return (str(table.hit_policy), [(i.name, i.expression) for i in table.inputs], [o.name for o in table.outputs],
            [([e.lhs for e in r.inputEntries], [e.text for e in r.outputEntries]) for r in table.rules])
