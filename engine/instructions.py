"""Renders the step instructions written in the diagrams, in Jinja's sandbox."""
from jinja2 import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

_ENV = ImmutableSandboxedEnvironment(autoescape=False, undefined=Undefined)


def check_template(text: str) -> None:
    """Raise jinja2.TemplateSyntaxError if the instructions do not parse."""
    _ENV.parse(text)


def render_instructions(text: str, data: dict) -> str:
    """Return the instructions as plain text with case data filled in; never runs code with power."""
    if not text:
        return ""
    try:
        return _ENV.from_string(text).render(**{k: v for k, v in data.items() if isinstance(k, str)})
    except Exception:
        # a template that fails on this case's data still shows its words, unrendered
        return text
