"""Where a case stands on its diagrams: completed, ready and waiting elements and the sequence flows taken.

Element ids are grouped by diagram file, since two files may reuse an id. A flow counts as taken when
the engine reached its target from its source: the nearest ancestor of a reached task that is a BPMN
element is the element it came from.
"""
from dataclasses import dataclass

from SpiffWorkflow.util.task import TaskState

from .diagrams import BPMN
from .xmlsafe import parse_safely

REACHED = TaskState.COMPLETED | TaskState.READY | TaskState.STARTED | TaskState.WAITING


@dataclass(frozen=True)
class Layout:
    """What a process version's files say about placement: which file holds a process, which flow joins two elements."""

    file_of: dict  # process or sub-process id -> file name
    flows: dict  # file name -> {(source id, target id): [flow ids]}


_LAYOUTS = {}


def layout(version) -> Layout:
    """The layout of a process version, read from its files once."""
    found = _LAYOUTS.get(version.hash)
    if found is None:
        file_of, flows = {}, {}
        for name, text in sorted(version.files.items()):
            if not name.endswith(".bpmn"):
                continue
            tree = parse_safely(text.encode("utf-8"), name)
            for tag in ("process", "subProcess"):
                for node in tree.iter(f"{{{BPMN}}}{tag}"):
                    file_of[node.get("id")] = name
            pairs = flows.setdefault(name, {})
            for flow in tree.iter(f"{{{BPMN}}}sequenceFlow"):
                pairs.setdefault((flow.get("sourceRef"), flow.get("targetRef")), []).append(flow.get("id"))
        found = _LAYOUTS[version.hash] = Layout(file_of, flows)
    return found


def markers(workflow, version) -> dict:
    """{"completed"|"ready"|"active"|"path": {file: [element ids]}} for the workflow as it stands."""
    where = layout(version)
    out = {kind: {} for kind in ("completed", "ready", "active", "path")}

    def add(kind, name, element_id):
        ids = out[kind].setdefault(name, [])
        if element_id not in ids:
            ids.append(element_id)

    for task in workflow.get_tasks(state=REACHED):
        element_id = getattr(task.task_spec, "bpmn_id", None)
        name = where.file_of.get(task.workflow.spec.name)
        if element_id is None or name is None:
            continue
        if task.state == TaskState.COMPLETED:
            add("completed", name, element_id)
        elif task.state == TaskState.READY and task.task_spec.manual:
            add("ready", name, element_id)
        elif task.state in (TaskState.STARTED, TaskState.WAITING):
            add("active", name, element_id)
        source = _came_from(task)
        for flow_id in where.flows.get(name, {}).get((source, element_id), []) if source else []:
            add("path", name, flow_id)
    return {kind: {name: sorted(ids) for name, ids in files.items()} for kind, files in out.items()}


def _came_from(task):
    parent = task.parent
    while parent is not None and getattr(parent.task_spec, "bpmn_id", None) is None:
        parent = parent.parent
    return parent.task_spec.bpmn_id if parent is not None else None
