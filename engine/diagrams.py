"""Loads, validates and lints a directory of BPMN diagrams and DMN tables into a process version."""
import ast
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from functools import lru_cache

from jinja2 import TemplateSyntaxError
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from forms.declarative import SUFFIX as FORM_SUFFIX, FormDefinitionError, compile_forms

from .errors import DiagramError, RestrictedCodeError
from .clock import put_timers_on_the_case_clock
from .event_subprocesses import isolate
from .instructions import check_template
from .loops import check_loop_markers, check_loops
from .roles import TASK_ROLES
from .scripting import compile_expression, compile_script
from .xmlsafe import parse_safely

TOP_PROCESS = "incident_response"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN, "spiffworkflow": SPIFF}


@dataclass(frozen=True)
class UserTaskSpec:
    """What the app needs to know of one user task: its id (= form key), title, lane and texts."""

    id: str
    name: str
    role: str
    documentation: str
    instructions: str
    file_name: str
    line: int


@dataclass
class ProcessVersion:
    """One validated set of diagrams, DMN tables and forms, identified by its content hash."""

    hash: str
    files: dict
    spec: object
    subprocess_specs: dict
    user_tasks: dict
    forms: dict
    messages: frozenset = field(default_factory=frozenset)
    event_subprocesses: frozenset = field(default_factory=frozenset)
    loop_caps: dict = field(default_factory=dict)


def is_version_file(name: str) -> bool:
    """Diagrams, DMN tables and declarative forms make up a process version."""
    return name.endswith((".bpmn", ".dmn", FORM_SUFFIX)) and "/" not in name and not name.startswith(".")


def read_directory(directory) -> dict:
    """The version files of a directory as {name: bytes}."""
    return {p.name: p.read_bytes() for p in sorted(Path(directory).iterdir()) if p.is_file() and is_version_file(p.name)}


def load_directory(directory, forms) -> ProcessVersion:
    """Load every .bpmn, .dmn and .form.yaml file of `directory`; raise DiagramError naming file, element, line."""
    if not Path(directory).is_dir():
        raise DiagramError(f"{directory} is not a directory")
    files = read_directory(directory)
    if not files:
        raise DiagramError(f"no .bpmn or .dmn files in {directory}")
    return load_files(files, forms)


def load_files(files: dict, forms: dict, stored=False) -> ProcessVersion:
    """Validate and parse diagram files given as {name: bytes} with the forms they use.

    A `stored` version (an older one, run for the cases that started on it) only needs a form for
    each of its own tasks: later releases may have added forms it never had. Declarative forms
    (`<task id>.form.yaml`) travel with the files, so a version keeps the ones it was published with.
    """
    for name in files:
        if not is_version_file(name):
            raise DiagramError("not a diagram (.bpmn), DMN table (.dmn) or form (.form.yaml)", name)
    forms = _with_declared_forms(files, forms)
    trees = {name: parse_safely(data, name) for name, data in files.items() if not name.endswith(FORM_SUFFIX)}
    _check_call_targets(trees)
    check_loop_markers(trees)
    parser = SpiffBpmnParser(validator=VALIDATOR)
    for name, tree in trees.items():
        try:
            if name.endswith(".dmn"):
                _validate_dmn(name, tree)
                parser.add_dmn_xml(tree, filename=name)
            else:
                parser.add_bpmn_xml(tree, filename=name)
        except ValidationException as err:
            raise _from_spiff(err, name) from None
    try:
        spec = parser.get_spec(TOP_PROCESS)
        subprocess_specs = parser.get_subprocess_specs(TOP_PROCESS)
    except ValidationException as err:
        raise _from_spiff(err, None) from None
    event_subprocesses = isolate(spec, *subprocess_specs.values())
    put_timers_on_the_case_clock(spec, *subprocess_specs.values())
    user_tasks = {}
    messages = set()
    for name, tree in trees.items():
        if name.endswith(".dmn"):
            _lint_dmn(name, tree)
            continue
        _lint_bpmn(name, tree)
        user_tasks.update(_user_tasks(name, tree))
        messages.update(m.get("name") for m in tree.iter(f"{{{BPMN}}}message"))
    _check_forms(user_tasks, forms, every_form_used=not stored)
    loop_caps = check_loops({n: t for n, t in trees.items() if n.endswith(".bpmn")}, forms, _dmn_outputs(trees))
    forms = {key: form for key, form in forms.items() if key in user_tasks} if stored else dict(forms)
    return ProcessVersion(
        hash=content_hash(files, forms), files={n: d.decode("utf-8") for n, d in files.items()},
        spec=spec, subprocess_specs=subprocess_specs, user_tasks=user_tasks, forms=forms,
        messages=frozenset(messages), event_subprocesses=event_subprocesses, loop_caps=loop_caps,
    )


def _with_declared_forms(files, forms):
    try:
        declared = compile_forms(files)
    except FormDefinitionError as err:
        raise DiagramError(err.message, err.file_name, err.field, err.line) from None
    both = sorted(set(declared) & set(forms))
    if both:
        raise DiagramError(f"task {both[0]!r} has a form in the code already; a declarative form is only for a "
                           "task that has none", f"{both[0]}{FORM_SUFFIX}", both[0])
    return {**forms, **declared}


def _check_call_targets(trees):
    """Every call activity calls a process defined in one of the files (Spiff's own error names neither)."""
    processes = {p.get("id") for name, tree in trees.items() if name.endswith(".bpmn")
                 for p in tree.iter(f"{{{BPMN}}}process")}
    for name, tree in trees.items():
        for node in tree.iter(f"{{{BPMN}}}callActivity"):
            target = node.get("calledElement")
            if target not in processes:
                raise DiagramError(f"calls process {target!r}, which no diagram defines "
                                   f"(known: {', '.join(sorted(processes))})", name, node.get("id"), node.sourceline)


def _localname(node):
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def _dmn_outputs(trees):
    """{decision id: [output names]} of every DMN table."""
    outputs = {}
    for name, tree in trees.items():
        if name.endswith(".dmn"):
            for decision in (n for n in tree.iter() if _localname(n) == "decision"):
                outputs[decision.get("id")] = [n.get("name") for n in decision.iter() if _localname(n) == "output"]
    return outputs


@lru_cache(maxsize=None)
def _dmn_validator(namespace):
    return BpmnValidator(DMN_SCHEMAS[namespace])


def _validate_dmn(name, tree):
    """A DMN file is DMN 1.1, 1.2 or 1.3 and valid against its schema (Spiff skips unknown namespaces)."""
    root = etree.QName(tree)
    if root.localname != "definitions" or root.namespace not in DMN_SCHEMAS:
        raise DiagramError(f"not a DMN file: the root element is {{{root.namespace}}}{root.localname}, expected "
                           f"definitions in one of {', '.join(sorted(DMN_SCHEMAS))}", name, line=tree.sourceline)
    _dmn_validator(root.namespace).validate(tree, name)


def content_hash(files: dict, forms: dict) -> str:
    """Hash the files' bytes and the forms' field descriptions: equal content, equal version."""
    return version_hash(files, describe_forms(forms))


def version_hash(files: dict, described_forms: dict) -> str:
    """The hash of files given as {name: bytes} and forms as described (what process_versions stores)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name] + b"\0")
    digest.update(json.dumps(described_forms, sort_keys=True).encode())
    return digest.hexdigest()


def describe_forms(forms: dict) -> dict:
    """Every form's field description, by task id: what a process version records of its forms."""
    return {key: form.describe() for key, form in sorted(forms.items())}


def _from_spiff(err, name):
    """Turn Spiff's ValidationException into a DiagramError with whatever location it carries."""
    message = str(err).split("\n")[0]
    return DiagramError(message, getattr(err, "file_name", None) or name,
                        getattr(err, "id", None) or None, getattr(err, "line_number", None) or None)


def _element_id(node):
    """The id of the nearest element that has one (a flow for its condition, a task for its script)."""
    while node is not None and node.get("id") is None:
        node = node.getparent()
    return node.get("id") if node is not None else None


def _lint_code(name, node, text, kind):
    """Compile one piece of diagram code under the restrictions, or raise DiagramError."""
    try:
        if kind == "script":
            compile_script(text)
        else:
            compile_expression(text)
    except RestrictedCodeError as err:
        raise DiagramError(f"{kind} {text!r} is not allowed: {err}", name, _element_id(node), node.sourceline) from None


def _lint_bpmn(name, tree):
    """Check every condition, script, timer and instruction template in one BPMN file."""
    # every place Spiff evaluates an expression: flow conditions, conditional events, loop conditions
    for tag in ("conditionExpression", "condition", "completionCondition", "loopCondition", "loopCardinality"):
        for node in tree.iter(f"{{{BPMN}}}{tag}"):
            _lint_code(name, node, (node.text or "").strip(), "condition")
    for tag in (f"{{{BPMN}}}script", f"{{{SPIFF}}}preScript", f"{{{SPIFF}}}postScript"):
        for node in tree.iter(tag):
            _lint_code(name, node, node.text or "", "script")
    for tag in ("timeDuration", "timeDate", "timeCycle"):
        for node in tree.iter(f"{{{BPMN}}}{tag}"):
            text = (node.text or "").strip()
            _lint_code(name, node, text, "timer expression")
            _check_timer_literal(name, node, text, tag)
    for node in tree.iter(f"{{{SPIFF}}}instructionsForEndUser"):
        try:
            check_template(node.text or "")
        except TemplateSyntaxError as err:
            raise DiagramError(f"instructions do not parse: {err.message}", name, _element_id(node),
                               node.sourceline + (err.lineno or 1) - 1) from None


def _check_timer_literal(name, node, text, tag):
    """A quoted timer value must be a valid ISO 8601 duration, date or cycle."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return  # an expression over case data: checked when it runs
    try:
        if not isinstance(value, str):
            raise ValueError("not a string")
        if tag == "timeDuration":
            TimerEventDefinition.parse_iso_duration(value)
        elif tag == "timeDate":
            TimerEventDefinition.get_datetime(value)
        else:
            TimerEventDefinition.parse_iso_recurring_interval(value)
    except Exception:
        raise DiagramError(f"timer value {text} is not a valid ISO 8601 {tag}", name,
                           _element_id(node), node.sourceline) from None


def _lint_dmn(name, tree):
    """Check every input expression and cell of the DMN tables in one file."""
    for node in tree.iter():
        if not isinstance(node.tag, str) or node.tag.split("}")[-1] != "text":
            continue
        parent = node.getparent().tag.split("}")[-1]
        text = (node.text or "").strip()
        if parent not in ("inputExpression", "inputEntry", "outputEntry") or text in ("", "-"):
            continue
        try:
            compile_expression(text)
        except RestrictedCodeError:
            if parent != "inputEntry":
                _lint_code(name, node, text, "DMN expression")
            _lint_code(name, node, f"dmninputexpr {text}", "DMN cell")


def _user_tasks(name, tree):
    """Collect the user tasks of one file with the lane (= role) each sits in."""
    lanes = {}
    for lane in tree.iter(f"{{{BPMN}}}lane"):
        for ref in lane.findall(f"{{{BPMN}}}flowNodeRef"):
            lanes[(ref.text or "").strip()] = lane.get("id")
    found = {}
    for node in tree.iter(f"{{{BPMN}}}userTask"):
        task_id = node.get("id")
        role = lanes.get(task_id)
        if role not in TASK_ROLES:
            raise DiagramError(f"user task is in lane {role!r}, which is not a role that completes tasks "
                               f"({', '.join(sorted(TASK_ROLES))})", name, task_id, node.sourceline)
        doc = node.find(f"{{{BPMN}}}documentation")
        instructions = node.find(f".//{{{SPIFF}}}instructionsForEndUser")
        found[task_id] = UserTaskSpec(
            id=task_id, name=node.get("name") or task_id, role=role,
            documentation=(doc.text or "").strip() if doc is not None else "",
            instructions=(instructions.text or "").strip() if instructions is not None else "",
            file_name=name, line=node.sourceline,
        )
    return found


def _check_forms(user_tasks, forms, every_form_used=True):
    """Every user task has a form and (for the version being published) every form has a user task."""
    for task_id, task in sorted(user_tasks.items()):
        if task_id not in forms:
            raise DiagramError("user task has no form (forms/ has no schema with this key)",
                               task.file_name, task_id, task.line)
    for key in sorted(set(forms) - set(user_tasks)) if every_form_used else ():
        raise DiagramError(f"form {key!r} has no user task with this id in any diagram", element_id=key)
