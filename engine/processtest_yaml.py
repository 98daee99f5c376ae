"""Reads a process test file (YAML written by policy staff) into steps and expectations.

The format is described for its authors in bpmn/tests/README.md. Only plain YAML values are read:
the loader is PyYAML's SafeLoader (what `yaml.safe_load` uses) with three changes: it remembers the
line of every key and list item, it refuses a key given twice, and it leaves dates and times as the
text written, so they reach the forms exactly as a browser sends them. Every mistake in the shape of
a file (unknown key, key given twice, wrong type, unknown message or role) is a ProcessTestError
naming the file and line. Task ids are checked against a process version by `check_task_ids`.
"""
import difflib
import re
from dataclasses import dataclass, field
from datetime import timedelta

import yaml
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from .errors import ProcessTestError
from .roles import MESSAGE_ROLES, TASK_ROLES

STATUSES = ("open", "closed", "completed")
DEFAULT_INTAKE = {
    "event_name": "Process test event", "event_format": "in_person", "region": "europe",
    "opened_by_role": "onsite_staff", "reporter_anonymous": False, "excluded_staff": [],
}
MAX_CHARACTERS = 1_000_000
MAX_VALUES = 100_000  # after aliases (*name) are expanded: a few nested aliases could otherwise fill the memory
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(second|minute|hour|day|week)s?\s*(?:,|and)?", re.IGNORECASE)


@dataclass(frozen=True)
class Expectations:
    """What must hold at a check step or at the end; `lines` gives the file line of each expectation."""

    line: int
    ready: tuple | None = None
    reached: tuple = ()
    never_reached: tuple = ()
    data: dict = field(default_factory=dict)
    status: str | None = None
    lines: dict = field(default_factory=dict)

    def line_of(self, key):
        """The line of an expectation: `key` is 'status', ('data', field) or ('reached', task) and so on."""
        return self.lines.get(key) or (self.lines.get(key[0]) if isinstance(key, tuple) else None) or self.line


@dataclass(frozen=True)
class Step:
    """One numbered step: complete a task, raise a message, let time pass, or check expectations."""

    number: int
    line: int
    kind: str
    task: str | None = None
    answers: dict = field(default_factory=dict)
    by: str | None = None
    refused: tuple | bool = ()
    message: str | None = None
    note: str | None = None
    wait: timedelta | None = None
    check: Expectations | None = None


@dataclass(frozen=True)
class ProcessTest:
    """One test file: the intake that opens the case, the steps in order and the final expectations."""

    file: str
    name: str
    intake: dict
    onsite_staff_available: bool
    intake_lines: dict
    steps: tuple
    expect: Expectations

    def task_references(self):
        """Every (task id, line) the file names, in steps and in expectations."""
        refs = [(s.task, s.line) for s in self.steps if s.kind == "task"]
        for expectations in [s.check for s in self.steps if s.kind == "check"] + [self.expect]:
            for key in ("ready", "reached", "never_reached"):
                for task in getattr(expectations, key) or ():
                    refs.append((task, expectations.line_of((key, task))))
        return refs


# ------------------------------------------------------------------ loading YAML with lines


class _Mapping(dict):
    """A YAML mapping that remembers its own line and the line of each key."""

    def __init__(self, line):
        super().__init__()
        self.line = line
        self.lines = {}


class _List(list):
    """A YAML list that remembers its own line and the line of each item."""

    def __init__(self, items, line, lines):
        super().__init__(items)
        self.line = line
        self.lines = lines


class _Loader(yaml.SafeLoader):
    """SafeLoader that records lines, refuses repeated keys and keeps dates as the text written."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _line(node):
    return node.start_mark.line + 1


def _construct_mapping(loader, node):
    loader.flatten_mapping(node)
    out = _Mapping(_line(node))
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise ProcessTestError(f"{key!r} is not a name: write names as words (put them in quotes if needed)",
                                   line=_line(key_node))
        if key in out:
            raise ProcessTestError(f"'{key}' is given twice in the same block", line=_line(key_node))
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = _line(key_node)
    return out


def _construct_list(loader, node):
    items = [loader.construct_object(child, deep=True) for child in node.value]
    return _List(items, _line(node), [_line(child) for child in node.value])


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_list)


def plain(value):
    """The same value with plain dicts and lists (no line bookkeeping), as JSON would give it."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def _count_values(value, budget):
    """Refuse a document whose values, with every alias expanded, number more than `budget`."""
    stack, seen = [value], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > budget:
            raise ProcessTestError(f"the file holds more than {budget} values once its aliases (*name) are expanded")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _load(text):
    if len(text) > MAX_CHARACTERS:
        raise ProcessTestError(f"the file is longer than {MAX_CHARACTERS} characters")
    try:
        document = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader: plain values only
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise ProcessTestError(f"this is not valid YAML: {err.problem or err.context}",
                               line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as err:
        raise ProcessTestError(f"this is not valid YAML: {err}") from None
    _count_values(document, MAX_VALUES)
    return document


# ------------------------------------------------------------------ checking the shape


def _kind(value):
    """How a value reads to someone who wrote it in YAML."""
    if isinstance(value, bool):
        return "yes/no"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, dict):
        return "a block of keys"
    if isinstance(value, list):
        return "a list"
    return "nothing" if value is None else type(value).__name__


def _keys(block, allowed, required, where):
    """Refuse keys outside `allowed` and missing `required` keys of a mapping."""
    for key in block:
        if key not in allowed:
            hint = difflib.get_close_matches(key, allowed, n=1)
            known = f"did you mean '{hint[0]}'?" if hint else f"known keys: {', '.join(allowed)}"
            raise ProcessTestError(f"unknown key '{key}' in {where} ({known})", line=block.lines[key])
    for key in required:
        if key not in block:
            raise ProcessTestError(f"{where} needs '{key}'", line=block.line)


def _get(block, key, kind, what, default=None):
    """The value of `key` when it has the right type (`what` says which, for the message), else an error."""
    if key not in block:
        return default
    value = block[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ProcessTestError(f"'{key}' must be {what}, got {_kind(value)}", line=block.lines[key])
    return value


def _names(block, key, what="a list of task ids"):
    """A list of names (task ids, fields), with a single name accepted as a list of one."""
    value = block.get(key)
    if isinstance(value, str):
        return (value,)
    items = _get(block, key, list, what, default=[])
    for item, line in zip(items, getattr(items, "lines", [])):
        if not isinstance(item, str):
            raise ProcessTestError(f"'{key}' must be {what}, but one item is {_kind(item)}", line=line)
    return tuple(items)


def _expectations(block, where):
    _keys(block, ("ready", "reached", "never_reached", "data", "status"), (), where)
    if not block:
        raise ProcessTestError(f"{where} expects nothing: give ready, reached, never_reached, data or status",
                               line=block.line)
    lines = {key: block.lines[key] for key in block}
    for key in ("ready", "reached", "never_reached"):
        value = block.get(key)
        for task, line in zip(value, value.lines) if isinstance(value, _List) else ():
            lines[(key, task)] = line
    data = _get(block, "data", dict, "a block of field: value", default=_Mapping(block.line))
    lines.update({("data", key): line for key, line in data.lines.items()})
    status = _get(block, "status", str, f"one of {', '.join(STATUSES)}")
    if status is not None and status not in STATUSES:
        raise ProcessTestError(f"'status' must be one of {', '.join(STATUSES)}, got {status!r}", line=lines["status"])
    return Expectations(line=block.line, ready=_names(block, "ready") if "ready" in block else None,
                        reached=_names(block, "reached"), never_reached=_names(block, "never_reached"),
                        data=plain(data), status=status, lines=lines)


def parse_duration(text) -> timedelta:
    """A duration written as '20 minutes', '1 hour 30 minutes', '2 days' or in ISO 8601 ('PT20M')."""
    text = text.strip()
    if text.upper().startswith("P"):
        try:
            return TimerEventDefinition.get_timedelta_from_start(TimerEventDefinition.parse_iso_duration(text.upper()))
        except Exception:
            raise ValueError(f"{text!r} is not an ISO 8601 duration") from None
    parts = _DURATION_PART.findall(text)
    if not parts or _DURATION_PART.sub("", text).strip():
        raise ValueError(f"{text!r} is not a duration such as '20 minutes', '2 hours' or 'PT20M'")
    return timedelta(seconds=sum(float(number) * _UNITS[unit.lower()] for number, unit in parts))


def _task_step(block, number):
    _keys(block, ("task", "answers", "by", "refused"), (), f"step {number}")
    task = _get(block, "task", str, "a task id")
    by = _get(block, "by", str, "a role")
    if by is not None and by not in TASK_ROLES:
        raise ProcessTestError(f"'by' must be one of {', '.join(sorted(TASK_ROLES))}, got {by!r}",
                               line=block.lines["by"])
    answers = _get(block, "answers", dict, "a block of field: answer", default={})
    refused = _names(block, "refused", "a list of the fields the form must refuse")
    return Step(number, block.line, "task", task=task, answers=plain(answers), by=by, refused=refused)


def _message_step(block, number):
    _keys(block, ("message", "by", "note", "refused"), (), f"step {number}")
    name = _get(block, "message", str, "a message name")
    if name not in MESSAGE_ROLES:
        raise ProcessTestError(f"unknown message {name!r} (known: {', '.join(sorted(MESSAGE_ROLES))})",
                               line=block.lines["message"])
    allowed = [role for role in ("onsite_staff", "incident_team", "organizer") if role in MESSAGE_ROLES[name]]
    by = _get(block, "by", str, "a role", default=allowed[0])
    if by not in allowed:
        raise ProcessTestError(f"'{name}' can only be raised by {', '.join(allowed)}, not {by!r}",
                               line=block.lines["by"])
    return Step(number, block.line, "message", message=name, by=by, note=_get(block, "note", str, "a text"),
                refused=_get(block, "refused", bool, "yes or no", default=False))


def _wait_step(block, number):
    _keys(block, ("wait",), (), f"step {number}")
    text = _get(block, "wait", str, "a duration such as '20 minutes' or 'PT20M'")
    try:
        return Step(number, block.line, "wait", wait=parse_duration(text))
    except ValueError as err:
        raise ProcessTestError(str(err), line=block.lines["wait"]) from None


def _check_step(block, number):
    _keys(block, ("check",), (), f"step {number}")
    check = _get(block, "check", dict, "a block of expectations")
    return Step(number, block.line, "check", check=_expectations(check, f"the check of step {number}"))


_STEP_KINDS = {"task": _task_step, "message": _message_step, "wait": _wait_step, "check": _check_step}


def _step(item, number, line):
    if not isinstance(item, dict):
        raise ProcessTestError(f"step {number} must start with one of task:, message:, wait:, check:, "
                               f"got {_kind(item)}", line=line)
    kinds = [kind for kind in _STEP_KINDS if kind in item]
    if len(kinds) != 1:
        found = f"it has {', '.join(kinds)}" if kinds else f"it has {', '.join(item) or 'nothing'}"
        raise ProcessTestError(f"step {number} needs exactly one of task, message, wait, check ({found})",
                               line=item.line)
    return _STEP_KINDS[kinds[0]](item, number)


def read_test(text, file_name) -> ProcessTest:
    """Parse one test file's text; raise ProcessTestError naming the file and line of the first mistake."""
    try:
        return _read(text, file_name)
    except ProcessTestError as err:
        raise ProcessTestError(err.message, file_name, err.line) from None


def _read(text, file_name):
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ProcessTestError(f"the file is not UTF-8 text (byte {err.start})") from None
    document = _load(text)
    if document is None:
        raise ProcessTestError("the file is empty")
    if not isinstance(document, dict):
        raise ProcessTestError(f"a test file is a block of keys (name, intake, steps, expect), got {_kind(document)}",
                               line=1)
    _keys(document, ("name", "description", "intake", "steps", "expect"), ("name", "steps", "expect"), "the test")
    name = _get(document, "name", str, "a text")
    _get(document, "description", str, "a text")
    intake = _get(document, "intake", dict, "a block of intake fields", default=_Mapping(1))
    available = _get(intake, "onsite_staff_available", bool, "yes or no", default=True)
    steps = _get(document, "steps", list, "a list of steps")
    expect = _get(document, "expect", dict, "a block of expectations")
    return ProcessTest(
        file=file_name, name=name,
        intake={**DEFAULT_INTAKE, **{k: plain(v) for k, v in intake.items() if k != "onsite_staff_available"}},
        onsite_staff_available=available, intake_lines={None: intake.line, **intake.lines},
        steps=tuple(_step(item, number, line) for number, (item, line) in enumerate(zip(steps, steps.lines), 1)),
        expect=_expectations(expect, "expect"),
    )


def check_task_ids(test, user_tasks) -> None:
    """Every task id the test names is a user task of the version; a typo would make a check that cannot fail."""
    for task, line in test.task_references():
        if task not in user_tasks:
            hint = difflib.get_close_matches(task, list(user_tasks), n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            raise ProcessTestError(f"unknown task id '{task}': no user task of the process has it{suggestion}",
                                   test.file, line)
