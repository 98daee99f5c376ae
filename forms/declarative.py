"""Forms policy staff write without Python: a YAML definition compiled into a marshmallow form.

One file per user task, named `<task id>.form.yaml`, published with the diagrams (so a case keeps the
forms its version was published with):

    task: check_in_with_reporter
    title: Check in with the reporter
    fields:
      - name: checked_in
        type: tick
        label: I checked in with the reporter
      - name: how
        type: choice
        label: How did you check in?
        choices: {phone: Phone, in_person: In person}
      - name: call_notes
        type: text
        label: Notes from the call
        required: false
        required_if: {field: how, equals: phone}

Field types: string, text, boolean, tick (a box that must be ticked), choice, integer, datetime, list.
Optional keys: help, required (default true), public (text checked for names before it is accepted),
required_if {field, equals | in}.
"""
import re

import yaml
from marshmallow import ValidationError, validates_schema

from .base import Form, boolean, choice, integer, names, string, text, tick, when

SUFFIX = ".form.yaml"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
TYPES = {"string": string, "text": text, "boolean": boolean, "tick": tick, "choice": choice,
         "integer": integer, "datetime": when, "list": names}
TOP_KEYS = {"task", "title", "fields"}
FIELD_KEYS = {"name", "type", "label", "help", "required", "public", "choices", "required_if"}
RESERVED = {"typename", "task", "case", "data"}


class FormDefinitionError(Exception):
    """A form definition is wrong; names the file, the field and the line."""

    def __init__(self, message, file_name, field=None, line=None):
        self.message, self.file_name, self.field, self.line = message, file_name, field, line
        where = ", ".join(x for x in (file_name, f"line {line}" if line else None,
                                      f"field '{field}'" if field else None) if x)
        super().__init__(f"{where}: {message}")


class _Loader(yaml.SafeLoader):
    """yaml's safe loader, keeping the line of every mapping so errors can name it."""


def _mapping_with_line(loader, node):
    value = loader.construct_mapping(node, deep=True)
    return _Located(value, node.start_mark.line + 1)


class _Located(dict):
    def __init__(self, value, line):
        super().__init__(value)
        self.line = line


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def task_id_of(file_name: str) -> str:
    """The task id a form file is named after."""
    return file_name.rsplit("/", 1)[-1][: -len(SUFFIX)]


def compile_form(file_name: str, source: bytes):
    """Compile one definition into a Form class; raise FormDefinitionError naming what is wrong."""
    try:
        doc = yaml.load(source, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise FormDefinitionError(f"not valid YAML: {getattr(err, 'problem', err)}", file_name,
                                  line=mark.line + 1 if mark else None) from None
    if not isinstance(doc, dict):
        raise FormDefinitionError("the file must be a mapping with task, title and fields", file_name, line=1)
    line = getattr(doc, "line", None)
    unknown = set(doc) - TOP_KEYS
    if unknown:
        raise FormDefinitionError(f"unknown keys {', '.join(sorted(map(str, unknown)))} "
                                  f"(allowed: {', '.join(sorted(TOP_KEYS))})", file_name, line=line)
    task = task_id_of(file_name)
    if doc.get("task") != task:
        raise FormDefinitionError(f"'task' must be {task!r}, the task id the file is named after", file_name, line=line)
    if not isinstance(doc.get("title"), str) or not doc["title"].strip():
        raise FormDefinitionError("'title' must be a non-empty text", file_name, line=line)
    specs = doc.get("fields")
    if not isinstance(specs, list) or not specs:
        raise FormDefinitionError("'fields' must be a list of at least one field", file_name, line=line)
    declared, conditions = {}, []
    for spec in specs:
        name, field, condition = _field(file_name, spec, declared)
        declared[name] = field
        if condition:
            conditions.append((name, *condition))
    for name, other, allowed, where in conditions:
        if other not in declared:
            raise FormDefinitionError(f"required_if names field {other!r}, which this form does not have",
                                      file_name, name, where)
    attrs = {**declared, "title": doc["title"].strip(), "__module__": __name__}
    if conditions:
        attrs["_conditional_requirements"] = _conditional_rule(conditions)
    return type(f"Declared_{task}", (Form,), attrs)


def _field(file_name, spec, declared):
    line = getattr(spec, "line", None)
    if not isinstance(spec, dict):
        raise FormDefinitionError("each field must be a mapping with name, type and label", file_name, line=line)
    name = spec.get("name")
    if not isinstance(name, str) or not NAME.match(name) or name in RESERVED:
        raise FormDefinitionError(f"field name {name!r} must be lowercase letters, digits and _ (not a reserved "
                                  "word)", file_name, line=line)
    if name in declared:
        raise FormDefinitionError("this field is defined twice", file_name, name, line)
    unknown = set(spec) - FIELD_KEYS
    if unknown:
        raise FormDefinitionError(f"unknown keys {', '.join(sorted(map(str, unknown)))} "
                                  f"(allowed: {', '.join(sorted(FIELD_KEYS))})", file_name, name, line)
    kind = spec.get("type")
    if kind not in TYPES:
        raise FormDefinitionError(f"type {kind!r} is not one of {', '.join(TYPES)}", file_name, name, line)
    label = spec.get("label")
    if not isinstance(label, str) or not label.strip():
        raise FormDefinitionError("'label' must be a non-empty text", file_name, name, line)
    help_text = spec.get("help")
    if help_text is not None and not isinstance(help_text, str):
        raise FormDefinitionError("'help' must be a text", file_name, name, line)
    required = spec.get("required", True)
    public = spec.get("public", False)
    if not isinstance(required, bool) or not isinstance(public, bool):
        raise FormDefinitionError("'required' and 'public' must be true or false", file_name, name, line)
    if public and kind != "text":
        raise FormDefinitionError("only a text field can be public", file_name, name, line)
    if "choices" in spec and kind != "choice":
        raise FormDefinitionError("only a choice field has choices", file_name, name, line)
    if kind == "choice":
        choices = spec.get("choices")
        if not isinstance(choices, dict) or not choices or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in choices.items()):
            raise FormDefinitionError("'choices' must map each value to the label people read", file_name, name, line)
        field = choice(label, dict(choices), help=help_text, required=required)
    elif kind == "tick":
        if "required" in spec:
            raise FormDefinitionError("a tick is always required; use boolean for a yes/no question",
                                      file_name, name, line)
        field = tick(label, help=help_text)
    elif kind == "text":
        field = text(label, help=help_text, required=required, public=public)
    else:
        field = TYPES[kind](label, help=help_text, required=required)
    return name, field, _condition(file_name, name, spec.get("required_if"), line)


def _condition(file_name, name, rule, line):
    if rule is None:
        return None
    if not isinstance(rule, dict) or set(rule) - {"field", "equals", "in"} or "field" not in rule \
            or ("equals" in rule) == ("in" in rule):
        raise FormDefinitionError("required_if needs 'field' and either 'equals' or 'in'", file_name, name, line)
    allowed = [rule["equals"]] if "equals" in rule else rule["in"]
    if not isinstance(allowed, list) or not allowed:
        raise FormDefinitionError("required_if 'in' must be a list of values", file_name, name, line)
    return rule["field"], allowed, line


def _conditional_rule(conditions):
    @validates_schema
    def check(self, data, **kwargs):
        errors = {}
        for name, other, allowed, _ in conditions:
            if data.get(other) in allowed and data.get(name) in (None, "", []):
                shown = " or ".join(repr(v) for v in allowed)
                errors.setdefault(name, []).append(f"Required when '{other}' is {shown}.")
        if errors:
            raise ValidationError(errors)
    return check


def compile_forms(files: dict) -> dict:
    """Compile every `*.form.yaml` among a version's files: {task id: Form class}."""
    return {task_id_of(name): compile_form(name, data) for name, data in sorted(files.items())
            if name.endswith(SUFFIX)}
