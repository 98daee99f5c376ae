"""Diagram code runs restricted: no imports, no files, no dunder walks, and a time limit."""
import time

import pytest

from engine.errors import RestrictedCodeError
from engine.scripting import RestrictedEnvironment


@pytest.fixture
def env():
    return RestrictedEnvironment(time_limit=0.5)


def test_scripts_assign_task_data(env):
    data = {"decision_round": 1}
    env.execute("decision_round = decision_round + 1\ncapped = decision_round >= 2", data)
    assert data == {"decision_round": 2, "capped": True}


def test_conditions_read_task_data(env):
    assert env.evaluate("action in ('temporary_suspension', 'permanent_ban')", {"action": "permanent_ban"}) is True


@pytest.mark.parametrize("code", [
    "import os", "__import__('os')", "open('/etc/passwd').read()", "().__class__.__base__.__subclasses__()",
    "f.__globals__", "getattr(f, '__globals__')", "eval('1')", "exec('x = 1')",
])
def test_escapes_are_rejected(env, code):
    with pytest.raises((RestrictedCodeError, ImportError, NameError)):
        env.execute(code, {"f": lambda: None})


def test_an_endless_loop_is_stopped_within_the_limit(env):
    started = time.monotonic()
    with pytest.raises(RestrictedCodeError, match="longer than"):
        env.execute("while True: pass", {})
    assert time.monotonic() - started < 2


def test_a_rejected_script_leaves_the_data_unchanged(env):
    data = {"a": 1}
    with pytest.raises(RestrictedCodeError):
        env.execute("a = 2\nb = ().__class__", data)
    assert data == {"a": 1}
