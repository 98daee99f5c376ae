"""The base of every task form: unknown fields rejected, labelled fields, a plain description."""
from datetime import datetime

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, pre_load, validate

FORBIDDEN_KEYS = frozenset({"typename"})  # breaks SpiffWorkflow's serializer if stored in task data
MUST_TICK = "This must be done before you can continue."
NUL_MESSAGE = "Remove the NUL character (\\u0000): it cannot be stored."


def _meta(kind, label, help, **extra):
    # "kind", not "type": OpenAPI generators copy a field's "type" metadata into the JSON Schema type
    return {"kind": kind, "label": label, "help": help or "", **extra}


def string(label, help=None, required=True, max_length=300):
    """A one-line text field."""
    return fields.String(required=required, validate=validate.Length(min=1 if required else 0, max=max_length),
                         metadata=_meta("string", label, help))


def text(label, help=None, required=True, public=False):
    """A multi-line text field; `public` text is checked for names of people in the case before it is accepted."""
    return fields.String(required=required, validate=validate.Length(min=1 if required else 0, max=20000),
                         metadata=_meta("text", label, help, public=public))


def boolean(label, help=None, required=True):
    """A yes/no question; both answers are valid, but one must be given."""
    return fields.Boolean(required=required, metadata=_meta("boolean", label, help))


def tick(label, help=None):
    """A checklist item that must be ticked."""
    return fields.Boolean(required=True, validate=validate.Equal(True, error=MUST_TICK),
                          metadata=_meta("boolean", label, help, widget="checkbox"))


def choice(label, choices, help=None, required=True):
    """One of a fixed set of values; `choices` maps value to the label people read."""
    return fields.String(required=required, validate=validate.OneOf(list(choices)),
                         metadata=_meta("choice", label, help, choices=dict(choices)))


def integer(label, help=None, required=True, minimum=0):
    """A whole number."""
    return fields.Integer(required=required, strict=False, validate=validate.Range(min=minimum),
                          metadata=_meta("integer", label, help))


def when(label, help=None, required=True):
    """A date and time (ISO 8601; a browser's datetime-local value is accepted)."""
    return fields.DateTime(required=required, metadata=_meta("datetime", label, help))


def names(label, help=None, required=False):
    """A list of short entries (one per line in the web form)."""
    return fields.List(fields.String(validate=validate.Length(min=1, max=300)), required=required,
                       metadata=_meta("list", label, help))


def _unstorable(value, path=""):
    """Yield (path, message) for what the engine cannot store anywhere in `value`: reserved keys, NUL characters
    (PostgreSQL text refuses them)."""
    if isinstance(value, str):
        if "\x00" in value:
            yield path.rstrip(".") or "_schema", NUL_MESSAGE
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in FORBIDDEN_KEYS:
                yield f"{path}{key}", "This name is reserved and cannot be used."
            yield from _unstorable(key, f"{path}{key}.")
            yield from _unstorable(item, f"{path}{key}.")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unstorable(item, f"{path}{index}.")


class Form(Schema):
    """A task form: validates submitted data and describes its fields for pages and the API."""

    title = ""

    class Meta:
        unknown = RAISE

    @pre_load
    def _reject_unstorable(self, data, **kwargs):
        if not isinstance(data, dict):
            raise ValidationError("The submission must be an object of field values.", "_schema")
        errors = {}
        for path, message in _unstorable(data):
            errors.setdefault(path, []).append(message)
        if errors:
            raise ValidationError(errors)
        return data

    @post_load
    def _plain_values(self, data, **kwargs):
        """JSON values only (datetimes as ISO 8601), and every field present: an optional field left
        empty is None, so a step done again (a revised decision) never keeps a stale earlier answer."""
        out = {name: None for name in self.fields}
        out.update({key: value.isoformat() if isinstance(value, datetime) else value for key, value in data.items()})
        return out

    @classmethod
    def describe(cls):
        """Return the fields as [{name, type, required, choices, label, help}] in declaration order."""
        out = []
        for name, field in cls._declared_fields.items():
            meta = field.metadata
            choices = meta.get("choices")
            out.append({
                "name": name, "type": meta["kind"], "required": bool(field.required),
                "choices": list(choices) if choices else None,
                "choice_labels": dict(choices) if choices else None,
                "label": meta["label"], "help": meta["help"], "widget": meta.get("widget"),
                "public": bool(meta.get("public")),
            })
        return out


def require(errors, data, field, condition, message):
    """Record `message` against `field` when `condition` holds and the field is empty."""
    if condition and not data.get(field):
        errors.setdefault(field, []).append(message)


def forbid(errors, data, field, condition, message):
    """Record `message` against `field` when `condition` holds and the field is filled in."""
    if condition and data.get(field) not in (None, "", []):
        errors.setdefault(field, []).append(message)
