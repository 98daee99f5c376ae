"""Diagram code runs restricted: no imports, no files, no dunder walks, and a time limit."""
import time

import pytest

from engine.errors import RestrictedCodeError
from engine.scripting import RestrictedEnvironment, compile_script


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


@pytest.mark.parametrize("code", [
    "x = 10 ** 10 ** 10", "x = 'a' * 10 ** 9", "x = [0] * 10 ** 9", "x = 1 << 10 ** 10", "x = '%1000000000d' % 1",
    "x = f'{1:>1000000000}'", "x = f'{1:>{n}}'", "class A: pass", "x = {*range(3)}", "from os import path",
])
def test_constant_blowups_and_forbidden_forms_are_refused_at_compile_time(code):
    with pytest.raises(RestrictedCodeError):
        compile_script(code)


@pytest.mark.parametrize("code,reason", [
    ("x = n ** n ** n", "a power with exponent 10000000000"),
    ("x = n\nx **= 10 ** 9", "a power with exponent 1000000000"),
    ("x = 'ab' * (n * 10 ** 8)", "repeating a str"),
    ("x = (n * 10 ** 8) * [0]", "repeating a list"),
    ("x = 1 << (n * 10 ** 9)", "a shift by"),
    ("s = 'a'\nfor i in range(40): s = s + s", "joining two strs"),
    ("s = ['a']\nfor i in range(40): s += s", "joining two lists"),
    ("l = [1]\nfor i in range(40): l.extend(l)", "the extended list"),
    ("x = ('a' * 1000).replace('', 'b' * 1000)", "the replaced string"),
    ("x = ('b' * 1000).join(['a'] * 10 ** 4)", "the joined string"),
    ("x = sum(range(n * 10 ** 11))", "a range of"),
    ("x = sum([[0]] * 1000, [])", "sum adds numbers only"),
    ("x = 'a'.ljust(10 ** 9)", "str.ljust is not available"),
    ("x = 'a'.center(10 ** 9)", "str.center is not available"),
    ("x = '{}'.format(1)", "str.format is not available"),
    ("x = (1).to_bytes(10 ** 9, 'big')", "int.to_bytes is not available"),
    ("x = str.join('', ['a'])", "attributes of str itself"),
    ("x = '%*d' % (10 ** 9, 1)", "format width"),
])
def test_operations_that_would_build_a_huge_value_are_refused_before_they_run(env, code, reason):
    started = time.monotonic()
    data = {"n": 10}
    with pytest.raises(RestrictedCodeError, match=reason):
        env.execute(code, data)
    assert time.monotonic() - started < 0.5 and data == {"n": 10}


@pytest.mark.parametrize("code,value", [
    ("x = 2 ** 10 + 3 * 4 - 7 // 2", 1033), ("x = 'a' * 3 + 'b'", "aaab"), ("x = [1] * 2 + [3]", [1, 1, 3]),
    ("x = 2 ** 0.5 > 1.41", True), ("x = (-1) ** (10 ** 100)", 1), ("x = 10 ** -2", 0.01),
    ("x = ', '.join(['a', 'b'])", "a, b"), ("x = 'a-b'.replace('-', '+').upper()", "A+B"),
    ("x = sum(range(5))", 10), ("x = f'{n:>4}|{n:.2f}'", "  10|10.00"), ("x = 'n=%d' % n", "n=10"),
    ("x = {'a': n}.get('a')", 10), ("x = sorted_ok = min([3, 1])", 1), ("x = 1 << 10", 1024),
    ("x = n\nx += 1", 11), ("x = n\nx **= 2", 100),
])
def test_ordinary_diagram_code_still_works(env, code, value):
    data = {"n": 10}
    env.execute(code, data)
    assert data["x"] == value


def test_a_sum_over_a_big_range_finishes_well_inside_the_limit(env):
    data = {}
    env.execute("x = sum(range(10 ** 6))", data)
    assert data["x"] == 499999500000


@pytest.mark.parametrize("code,reason", [
    ("x = round(5, -10 ** 7)", "rounding to"),
    ("l = ['a' * 1000] * 1000\nx = str([l] * 1000)", "too large"),
    ("l = ['a' * 1000] * 1000\nx = repr([l] * 1000)", "too large"),
    ("l = ['a' * 1000] * 1000\nx = f'{[l] * 1000}'", "too large"),
    ("l = ['a' * 1000] * 1000\nx = '%s' % ([l] * 1000,)", "too large"),
    ("l = ['a' * 100] * 1000\nx = [l] * 1000", "the value the script stores in x"),
    ("x = []\nx.append(x)", "the value the script stores in x"),
    ("x = list(range(10 ** 6))\nx.sort()", "sorting"),
])
def test_values_that_would_print_or_store_huge_are_refused(env, code, reason):
    started = time.monotonic()
    data = {"n": 10}
    with pytest.raises(RestrictedCodeError, match=reason):
        env.execute(code, data)
    assert time.monotonic() - started < 1 and data == {"n": 10}


def test_str_still_converts_and_still_works_with_isinstance(env):
    data = {"n": 10}
    env.execute("x = str(n) + str([1, 2])\ny = isinstance(x, str) and not isinstance(n, str)\nz = repr('a')", data)
    assert data["x"] == "10[1, 2]" and data["y"] is True and data["z"] == "'a'"


def test_an_expression_whose_value_is_huge_is_refused(env):
    with pytest.raises(RestrictedCodeError, match="the value of the expression"):
        env.evaluate("[l] * 1000", {"l": ["a" * 1000] * 1000})
