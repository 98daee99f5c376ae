"""A script environment for diagram code: compile-time guarded, reduced builtins, time bound.

Scripts, gateway conditions, timer expressions and DMN cells come from diagrams that
policy staff edit, so they never run as plain Python (see notes/spiffworkflow.md).
"""
import builtins
import sys
import time
from functools import lru_cache

from RestrictedPython import compile_restricted_eval, compile_restricted_exec, safe_builtins
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import full_write_guard, guarded_iter_unpack_sequence, guarded_unpack_sequence
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from .codecompiler import GuardingTransformer
from .codeguards import (
    check_printable, guarded_binop, guarded_getattr, guarded_inplace, guarded_range,
    guarded_repr, guarded_round, guarded_str, guarded_sum,
)
from .errors import RestrictedCodeError

TIME_LIMIT_SECONDS = 1.0

# pow: C-level work the time limit cannot stop (`**` is guarded instead); the others have no use in a diagram
_LEFT_OUT = {"pow", "__build_class__", "setattr", "delattr"}
_BUILTINS = {k: v for k, v in safe_builtins.items() if k not in _LEFT_OUT}
_BUILTINS.update({name: getattr(builtins, name) for name in ("min", "max", "any", "all", "enumerate", "list",
                                                              "dict", "set")})
_BUILTINS.update({"range": guarded_range, "sum": guarded_sum, "round": guarded_round, "str": guarded_str,
                  "repr": guarded_repr})


_FORBIDDEN_NAMES = frozenset(name for name in dir(builtins) if name not in _BUILTINS)


def _check_names(result, kind):
    """Refuse Python builtins outside the allowed set (open, eval, getattr, ...) at compile time."""
    used = sorted(set(result.used_names or ()) & _FORBIDDEN_NAMES)
    if used:
        raise RestrictedCodeError(f"{kind} uses {', '.join(used)}, which diagram code may not use")


_GUARDS = {
    "__builtins__": _BUILTINS,
    "_getattr_": guarded_getattr,
    "_getitem_": default_guarded_getitem,
    "_getiter_": default_guarded_getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
    "_inplacevar_": guarded_inplace,
    "_binop_": guarded_binop,
    "_printable_": check_printable,
}


@lru_cache(maxsize=4096)
def compile_expression(expression: str):
    """Compile a condition or DMN cell under RestrictedPython, or raise RestrictedCodeError."""
    result = compile_restricted_eval(expression, "<diagram expression>", policy=GuardingTransformer)
    if result.errors or result.code is None:
        raise RestrictedCodeError("; ".join(result.errors) or f"cannot compile {expression!r}")
    _check_names(result, "expression")
    return result.code


@lru_cache(maxsize=1024)
def compile_script(script: str):
    """Compile a script task body under RestrictedPython, or raise RestrictedCodeError."""
    result = compile_restricted_exec(script, "<diagram script>", policy=GuardingTransformer)
    if result.errors or result.code is None:
        raise RestrictedCodeError("; ".join(result.errors) or "cannot compile script")
    _check_names(result, "script")
    return result.code


class _Deadline:
    """Stops diagram code that runs past the time limit (a `while True: pass`)."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        self.end = time.monotonic() + self.seconds
        self.previous = sys.gettrace()
        sys.settrace(self._global)
        return self

    def _global(self, frame, event, arg):
        if frame.f_code.co_filename.startswith("<diagram"):
            # a one-line loop emits no line events, so watch opcodes too
            frame.f_trace_opcodes = True
            return self._local
        return None

    def _local(self, frame, event, arg):
        if time.monotonic() > self.end:
            raise RestrictedCodeError(f"diagram code ran longer than {self.seconds} s and was stopped")
        return self._local

    def __exit__(self, *exc):
        sys.settrace(self.previous)
        return False


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """Evaluates and executes diagram code with RestrictedPython's guards and a time limit."""

    def __init__(self, time_limit=TIME_LIMIT_SECONDS, loop_caps=None):
        super().__init__({})
        self.time_limit = time_limit
        self.loop_caps = loop_caps or {}

    def evaluate(self, expression, context, external_context=None):
        """Return the value of a condition, timer or DMN expression over the task data."""
        code = compile_expression(expression)
        scope = dict(context)
        scope.update(external_context or {})
        scope.update(_GUARDS)
        with _Deadline(self.time_limit):
            value = eval(code, scope)
        return check_printable(value, "the value of the expression")

    def execute(self, script, context, external_context=None):
        """Run a script task; the variables it assigns become task data."""
        code = compile_script(script)
        scope = dict(context)
        scope.update(external_context or {})
        scope.update(_GUARDS)
        with _Deadline(self.time_limit):
            exec(code, scope)
        self._check_loop_caps(context, scope)
        for key, value in scope.items():
            if key not in _GUARDS and value is not context.get(key):
                check_printable(value, f"the value the script stores in {key}")
        for key in list(context):
            if key not in scope:
                del context[key]
        for key, value in scope.items():
            if key in _GUARDS or (external_context and key in external_context) or callable(value):
                continue
            context[key] = value
        return True

    def _check_loop_caps(self, before, after):
        """A script may not take a loop counter past the loop's cap (engine/loops.py).

        A counter may be set to 0 or less before its cap is set (a case's first script sets both).
        """
        for counter, cap in self.loop_caps.items():
            value = after.get(counter)
            if counter not in after or value == before.get(counter):
                continue
            if not isinstance(value, int) or isinstance(value, bool):
                raise RestrictedCodeError(f"the loop counter {counter} must be a whole number")
            limit = cap.limit(after)
            if limit is None and value > 0:
                raise RestrictedCodeError(f"the cap {cap.cap} of the loop counted by {counter} is not set to a "
                                          "whole number")
            if limit is not None and value > limit:
                raise RestrictedCodeError(f"{counter} would go past its cap of {limit}: the loop was stopped")

    def call_service(self, context, **kwargs):
        """Service tasks are not part of this process."""
        raise RestrictedCodeError("service tasks are not allowed")


def restricted_script_engine(loop_caps=None):
    """Return a Spiff script engine that runs diagram code only in the restricted environment.

    `loop_caps` ({counter: Cap}, from the process version) are enforced whenever a script counts.
    """
    return PythonScriptEngine(environment=RestrictedEnvironment(loop_caps=loop_caps))
