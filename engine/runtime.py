"""Runs one case's workflow on its process version: start, ready tasks, complete, messages, state."""
import copy
import json
import logging
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timezone
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState

from .clock import CLOCKED, set_clock
from .errors import DiagramCodeFailed, NotFound, RestrictedCodeError, TaskNotReady
from .models import utcnow
from .roles import acting_role
from .scripting import restricted_script_engine
from .tasktree import install as install_fast_task_walk

# SpiffWorkflow's INFO and DEBUG records carry the whole task data (case data) as attributes: never emit them
logging.getLogger("spiff").setLevel(logging.WARNING)
install_fast_task_walk()  # same tasks, same order as SpiffWorkflow's walk, a fraction of the cost


@dataclass(frozen=True)
class ReadyTask:
    """A user task waiting for someone: its engine id, BPMN id, title, lane and acting role."""

    id: str
    task: str
    title: str
    lane: str
    role: str


_BOOKKEEPING = frozenset({"Root", "Start", "End"})
# SpiffWorkflow's task iterator stops at depth 1000, and a task deeper than that is silently lost (the case
# would look finished): refuse the step long before, whatever loop or diagram led there
MAX_DEPTH = 800
log = logging.getLogger(__name__)
# their messages name code, not data; any other error's message may quote a value from the case
_SAY_WHY = (RestrictedCodeError, NameError, SyntaxError)


@contextmanager
def running_diagram_code():
    """Turn a failure of diagram code during an engine step into DiagramCodeFailed (without case data)."""
    try:
        yield
    except (SpiffWorkflowException, RestrictedCodeError) as err:
        spec = getattr(getattr(err, "task", None), "task_spec", None) or getattr(err, "task_spec", None)
        element = getattr(spec, "bpmn_id", None) or getattr(spec, "name", None) or "unknown element"
        cause = _root_cause(err)
        reason = str(cause) if isinstance(cause, _SAY_WHY) else f"{type(cause).__name__} while running it"
        log.error("diagram code at %s failed: %s", element, reason)
        raise DiagramCodeFailed(element, reason) from None


_UNFINISHED = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def _check_depth(workflow):
    """Refuse a step that leaves a task at MAX_DEPTH or deeper in the task tree (see MAX_DEPTH).

    The tasks are read from each (sub)workflow's own table rather than by walking the tree, which
    costs as much as an engine step on a long case; a task the tree walk would not even reach counts too.
    """
    for flow in (workflow, *workflow.subprocesses.values()):
        for task in flow.tasks.values():
            if task.state & _UNFINISHED and task.depth >= MAX_DEPTH:
                element = task.task_spec.bpmn_id or task.task_spec.name
                raise DiagramCodeFailed(element, f"the case's path is {task.depth} steps long, close to what the "
                                                 "engine can follow: a loop in the diagram ran too often")


def _share_answers(task, answers):
    """Give the answers of a completed form to every other live task of its (sub)process.

    Parallel branches each carry their own copy of the data, and where they join SpiffWorkflow merges
    the copies, the branch finished last winning. Without this, the branch finished last would bring
    back the old value of what the other branch's form had just answered (round 2's review of a
    revised decision came out with round 1's assessment). Event sub-processes keep their own copy
    (they are other sub-workflows) and are not touched.
    """
    for other in task.workflow.tasks.values():
        if other is not task and other._state & _UNFINISHED:
            other.data.update(copy.deepcopy(answers))


def _root_cause(err):
    """The innermost exception under Spiff's wrappers (the RestrictedCodeError, TypeError, ...)."""
    while isinstance(err, SpiffWorkflowException) and err.__context__ is not None:
        err = err.__context__
    return err
_LIVE = TaskState.COMPLETED | TaskState.READY | TaskState.STARTED


class _StateOnlyConverter(BpmnWorkflowConverter):
    """Stores a workflow's state without its parsed diagram, which is cached per process version."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _serializer():
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = _StateOnlyConverter
    for plain, clocked in CLOCKED.items():  # a timer can sit in task data (seen events of a multiple event)
        config[clocked] = config[plain]
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


class CaseRunner:
    """Wraps SpiffWorkflow for one process version; every workflow it touches runs restricted code."""

    def __init__(self, version):
        self.version = version
        self._serializer = _serializer()
        self._script_engine = restricted_script_engine(version.loop_caps)

    def start(self, start_data: dict, at=None) -> BpmnWorkflow:
        """Create a workflow at time `at` (default now), hand it the intake data and run it to the first wait."""
        workflow = BpmnWorkflow(self.version.spec, self.version.subprocess_specs,
                                script_engine=self._script_engine)
        set_clock(workflow, at or utcnow())
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(start_data)
        with running_diagram_code():
            workflow.do_engine_steps()
        _check_depth(workflow)
        return workflow

    def dumps(self, workflow) -> str:
        """Serialize the workflow's state (not its diagram) to JSON text."""
        registry = self._serializer.registry
        registry._encoder_mode = True
        try:
            dct = self._serializer.to_dict(workflow)
            return json.dumps(dct, cls=self._serializer._encoder_cls, separators=(",", ":"))
        finally:
            registry._encoder_mode = False

    def loads(self, state: str) -> BpmnWorkflow:
        """Restore a workflow from `dumps` output, always with the restricted script engine."""
        dct = json.loads(state)
        workflow = self._serializer.registry.restore(
            dct, spec=self.version.spec, subprocess_specs=self.version.subprocess_specs)
        workflow.script_engine = self._script_engine
        return workflow

    def ready_tasks(self, workflow, case_data=None) -> list:
        """The user tasks waiting for input, with the role that acts on each (from the case's data)."""
        case_data = self.data(workflow) if case_data is None else case_data
        return self._ready_of(workflow.get_tasks(state=TaskState.READY, manual=True), case_data)

    def state(self, workflow) -> tuple:
        """(data, ready tasks) as `data` and `ready_tasks` give them, from one walk of the task tree."""
        tasks = workflow.get_tasks(state=_LIVE)
        data = self._data_of(workflow, tasks)
        return data, self._ready_of([t for t in tasks if t.state == TaskState.READY and t.task_spec.manual], data)

    def _ready_of(self, tasks, case_data) -> list:
        out = []
        for task in tasks:
            spec = self.version.user_tasks.get(task.task_spec.bpmn_id)
            if spec is None:
                continue
            out.append(ReadyTask(str(task.id), spec.id, spec.name, spec.role, acting_role(spec.role, case_data)))
        return out

    def complete(self, workflow, task_id: str, data: dict, at=None) -> None:
        """Put validated form data on a ready task, complete it at time `at` (default now), run to the next wait."""
        task = self._ready(workflow, task_id)
        set_clock(workflow, at or utcnow())
        task.data.update(data)
        _share_answers(task, data)
        with running_diagram_code():
            task.run()
            workflow.do_engine_steps()
        _check_depth(workflow)

    def catch_message(self, workflow, name: str, payload: dict, at=None) -> None:
        """Deliver a named message (e.g. safety_concern) at time `at` (default now) and run to the next wait."""
        set_clock(workflow, at or utcnow())
        with running_diagram_code():
            workflow.catch(BpmnEvent(MessageEventDefinition(name), payload))
            workflow.do_engine_steps()
        _check_depth(workflow)

    def refresh(self, workflow, at=None) -> None:
        """Fire the timers due by `at` (default now) and run to the next wait."""
        set_clock(workflow, at or utcnow())
        with running_diagram_code():
            workflow.refresh_timers()
            workflow.do_engine_steps()
        _check_depth(workflow)

    def data(self, workflow) -> dict:
        """The case's current data, read from its main line of work.

        That is the most recently completed main-line task plus every task still waiting for input.
        Event sub-processes (safety concern, distress) start from the intake data and keep their own
        copy, so they never supply case data; what they record is in the case history.
        """
        return self._data_of(workflow, workflow.get_tasks(state=_LIVE))

    def _data_of(self, workflow, tasks) -> dict:
        side = {id(sub) for parent_id, sub in workflow.subprocesses.items()
                if workflow.get_task_from_id(parent_id).task_spec.name in self.version.event_subprocesses}
        latest, frontier = None, []
        for task in tasks:
            name = task.task_spec.name
            if (id(task.workflow) in side or name in self.version.event_subprocesses
                    or name in _BOOKKEEPING or name.endswith(".EndJoin")):
                continue
            if task.state != TaskState.COMPLETED:
                frontier.append(task)
            elif latest is None or task.last_state_change >= latest.last_state_change:
                latest = task
        merged = {}
        for task in sorted(frontier + ([latest] if latest else []), key=lambda t: t.last_state_change):
            merged.update(task.data)
        return {k: v for k, v in merged.items() if not k.startswith("_")}

    def next_due(self, workflow):
        """When the earliest waiting timer of the workflow is due (UTC), or None."""
        due = []
        for event in workflow.waiting_events():
            if not event.event_type.endswith("TimerEventDefinition") or event.value is None:
                continue
            value = event.value["next"] if isinstance(event.value, dict) else event.value
            moment = TimerEventDefinition.get_datetime(value)
            due.append(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))
        return min(due) if due else None

    def is_completed(self, workflow) -> bool:
        """True when the workflow reached its end."""
        return workflow.is_completed()

    def _ready(self, workflow, task_id):
        try:
            task = workflow.get_task_from_id(uuid.UUID(task_id))
        except (ValueError, TypeError, KeyError):
            raise NotFound(f"no task {task_id}") from None
        if task is None:
            raise NotFound(f"no task {task_id}")
        if task.state != TaskState.READY or not task.task_spec.manual:
            raise TaskNotReady(f"task {task_id} is not waiting for input")
        return task
