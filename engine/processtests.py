"""Runs process tests (YAML files, see engine/processtest_yaml.py) on a loaded process version, without a database.

Each test opens a case on the version's diagrams with the CaseRunner the app uses, validates the
intake and every answer exactly as the app does (engine/cases.py), saves and restores the workflow
before every step as each request of the app does, and reports each failure as
"line L: expected X at step N, got Y". The first step that cannot be done ends the test.
"""
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from .cases import clean_answers, intake_data
from .errors import IncidentsError, InvalidSubmission, ProcessTestError
from .processtest_yaml import check_task_ids, read_test
from .roles import OPEN_CASE_MESSAGES
from .runtime import CaseRunner

TEST_USER = "process-test"


@dataclass(frozen=True)
class Result:
    """The outcome of one test file: its failures (none when it passed), steps done and diagram elements run."""

    file: str
    name: str
    failures: tuple
    steps_run: int = 0
    elements: frozenset = frozenset()

    @property
    def passed(self) -> bool:
        """True when nothing failed."""
        return not self.failures


class _Failed(Exception):
    """A step could not be done or a check did not hold; each message says what was expected and what happened."""

    def __init__(self, *messages):
        super().__init__(*messages)
        self.messages = messages


def run_process_tests(version, files) -> list:
    """Run each test file on `version`: `files` is {name: text or bytes} or an iterable of paths.

    A file that cannot be read or parsed gives a failed Result naming file and line; this never raises
    for a bad test, so publishing code can refuse a draft on any failed Result.
    """
    if isinstance(files, Mapping):
        return [run_file(version, name, text) for name, text in files.items()]
    return [_run_path(version, Path(path)) for path in files]


def _run_path(version, path):
    try:
        text = path.read_bytes()
    except OSError as err:
        problem = ProcessTestError(f"cannot read the file: {err.strerror}", str(path))
        return Result(str(path), path.stem, (problem.describe(),))
    return run_file(version, str(path), text)


def run_file(version, name, text) -> Result:
    """Parse one test file (text or bytes) and run it on `version`."""
    try:
        test = read_test(text, name)
        check_task_ids(test, version.user_tasks)
    except ProcessTestError as err:
        return Result(name, Path(name).stem, (err.describe(),))
    return run_test(version, test)


def run_test(version, test) -> Result:
    """Run one parsed test: the intake, every step in order, then the final expectations."""
    case = None
    step_number = 0
    try:
        case = _Case(CaseRunner(version), _intake(test))
        for step in test.steps:
            step_number = step.number
            _STEPS[step.kind](case, step)
        step_number = len(test.steps) + 1
        failures = _check(case, test.expect, f"step {step_number} (the end)")
    except _Failed as err:
        failures = list(err.messages)
    except (SpiffWorkflowException, IncidentsError) as err:
        line = _line_of(test, step_number)
        failures = [f"line {line}: expected step {step_number} to run, got {_diagram_error(err)}"]
    done = max(step_number - 1, 0) if failures else len(test.steps)
    return Result(test.file, test.name, tuple(failures), done, case.elements() if case else frozenset())


def _diagram_error(err):
    """Where in the diagrams the engine failed, and its first line of explanation."""
    spec = getattr(err, "task_spec", None)
    task = getattr(err, "task", None)
    where = f" at element '{spec.bpmn_id}'" if getattr(spec, "bpmn_id", None) else ""
    if where and task is not None and getattr(task.workflow.spec, "file", None):
        where += f" ({Path(task.workflow.spec.file).name})"
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return f"an error in the diagrams{where}: {text}"


def _line_of(test, number):
    if 1 <= number <= len(test.steps):
        return test.steps[number - 1].line
    return test.intake_lines[None] if number == 0 else test.expect.line


def _intake(test):
    try:
        data = intake_data(test.intake)
    except InvalidSubmission as err:
        field = next(iter(sorted(err.errors)), None)
        raise _Failed(f"line {test.intake_lines.get(field, test.intake_lines[None])}: expected the intake to be "
                      f"accepted at step 0, got refused: {_refusal(err)}") from None
    return {**data, "onsite_staff_available": test.onsite_staff_available}


def _refusal(err):
    return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in sorted(err.errors.items()))


# ------------------------------------------------------------------ a case without a database


class _Case:
    """One case on the engine alone: its workflow, and every user task that was ever ready."""

    def __init__(self, runner, start):
        self.runner = runner
        self.workflow = runner.start(start)
        self.reached = set()
        self.observe()

    def restore(self):
        """Save and load the workflow, as every request of the app does."""
        self.workflow = self.runner.loads(self.runner.dumps(self.workflow))

    def observe(self):
        self.reached.update(task.task for task in self.ready())

    def ready(self):
        return self.runner.ready_tasks(self.workflow)

    def data(self):
        return self.runner.data(self.workflow)

    def status(self):
        """open, closed (closed but still waiting: an appeal, a distress response) or completed."""
        if self.runner.is_completed(self.workflow):
            return "completed"
        return "closed" if self.data().get("case_closed") else "open"

    def ready_text(self):
        names = sorted(task.task for task in self.ready())
        return f"ready: {', '.join(names)}" if names else f"no task ready (the case is {self.status()})"

    def elements(self):
        """BPMN ids of the diagram elements this case ran through."""
        return frozenset(task.task_spec.bpmn_id for task in self.workflow.get_tasks(state=TaskState.COMPLETED)
                         if task.task_spec.bpmn_id)


def _fail(step, expected, got):
    raise _Failed(f"line {step.line}: expected {expected} at step {step.number}, got {got}")


def _do_task(case, step):
    case.restore()
    ready = [task for task in case.ready() if task.task == step.task]
    if not ready:
        _fail(step, f"task '{step.task}' to be ready", case.ready_text())
    if step.by and ready[0].role != step.by:
        _fail(step, f"task '{step.task}' to be done by {step.by}", ready[0].role)
    form = case.runner.version.forms[step.task]
    try:
        clean = clean_answers(form, step.answers, case.data())
    except InvalidSubmission as err:
        if step.refused and sorted(err.errors) == sorted(step.refused):
            return
        expected = (f"the answers to '{step.task}' to be refused for {', '.join(step.refused)}" if step.refused
                    else f"the answers to '{step.task}' to be accepted")
        _fail(step, expected, f"refused: {_refusal(err)}")
    if step.refused:
        _fail(step, f"the answers to '{step.task}' to be refused for {', '.join(step.refused)}", "them accepted")
    case.runner.complete(case.workflow, ready[0].id, clean)
    case.observe()


def _raise_message(case, step):
    case.restore()
    saved = case.runner.dumps(case.workflow)
    refusal = None
    if step.message in OPEN_CASE_MESSAGES and case.status() != "open":
        refusal = f"refused: the case is {case.status()}"
    else:
        before = {task.id for task in case.ready()}
        payload = {"raised_by": TEST_USER, "role": step.by, **({"note": step.note} if step.note else {})}
        case.runner.catch_message(case.workflow, step.message, payload)
        if not {task.id for task in case.ready()} - before:
            refusal = f"refused: the case is not waiting for '{step.message}'"
    if refusal is None and step.refused:
        _fail(step, f"message '{step.message}' to be refused", f"it taken ({case.ready_text()})")
    if refusal is not None:
        case.workflow = case.runner.loads(saved)  # the app stores nothing for a refused message
        if not step.refused:
            _fail(step, f"message '{step.message}' to be taken", refusal)
    case.observe()


def _wait(case, step):
    """Let time pass for the case's timers: move every waiting due time back, then fire what is due."""
    case.restore()
    for task in case.workflow.get_tasks():
        if isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition):
            value = task.internal_data.get("event_value")
            if isinstance(value, str):
                task.internal_data["event_value"] = (datetime.fromisoformat(value) - step.wait).isoformat()
            elif isinstance(value, dict) and isinstance(value.get("next"), str):
                value["next"] = (datetime.fromisoformat(value["next"]) - step.wait).isoformat()
    case.runner.refresh(case.workflow)
    case.observe()


def _check_step(case, step):
    case.restore()
    failures = _check(case, step.check, f"step {step.number}")
    if failures:
        raise _Failed(*failures)


_STEPS = {"task": _do_task, "message": _raise_message, "wait": _wait, "check": _check_step}


# ------------------------------------------------------------------ expectations


def _check(case, expect, at) -> list:
    """Every unmet expectation of `expect`, one message each."""
    failures = []

    def fail(key, expected, got):
        failures.append(f"line {expect.line_of(key)}: expected {expected} at {at}, got {got}")

    if expect.ready is not None:
        ready = sorted(task.task for task in case.ready())
        if ready != sorted(expect.ready):
            fail("ready", f"ready: {', '.join(sorted(expect.ready)) or 'nothing'}", case.ready_text())
    for task in expect.reached:
        if task not in case.reached:
            fail(("reached", task), f"task '{task}' to have been reached", f"never reached ({case.ready_text()})")
    for task in expect.never_reached:
        if task in case.reached:
            fail(("never_reached", task), f"task '{task}' never reached", "reached")
    data = case.data()
    for key, value in expect.data.items():
        if not _same(data.get(key), value):
            got = _show(data[key]) if key in data else "no value"
            fail(("data", key), f"{key} = {_show(value)}", got)
    if expect.status is not None and case.status() != expect.status:
        fail("status", f"status {expect.status}", case.status())
    return failures


def _same(actual, expected) -> bool:
    """Equal as JSON values: yes/no is not a number, a missing value equals null, lists and blocks compare deeply."""
    if expected is None:
        return actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and actual == expected
    if isinstance(expected, dict):
        return (isinstance(actual, dict) and actual.keys() == expected.keys()
                and all(_same(actual[k], expected[k]) for k in expected))
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(actual) == len(expected)
                and all(_same(a, e) for a, e in zip(actual, expected)))
    return type(actual) is type(expected) and actual == expected or (
        isinstance(actual, (int, float)) and isinstance(expected, (int, float)) and actual == expected)


def _show(value):
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def every_element(version) -> frozenset:
    """BPMN ids of every element of the version's diagrams that a case can run through."""
    specs = [version.spec, *version.subprocess_specs.values()]
    return frozenset(spec.bpmn_id for process in specs for spec in process.task_specs.values() if spec.bpmn_id)
