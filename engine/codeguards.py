"""Size guards for diagram code: no single operation may build a huge value in C.

The time limit (engine/scripting.py) stops a Python-level loop between two steps, but one C-level
operation runs to its end before the next step: `10 ** 10 ** 10`, `'a' * 10 ** 9`, `1 << 10 ** 10`,
`sum(range(10 ** 12))` or `'x'.join(...)` of a huge list would hang a worker for minutes or exhaust
its memory. So the compiler routes `**`, `<<`, `*`, `+` and `%` through `guarded_binop`, which
checks the size of the result before computing it; constant expressions are computed (with the
same checks) when a diagram is loaded, so `10 ** 10 ** 10` is refused at publication with its
element and line. Methods that can amplify a value (`str.join`, `str.replace`, `list.extend`,
`list.sort`) are wrapped the same way, methods that pad or format (`ljust`, `zfill`, `format`,
`translate`, ...) are not available, and nothing is reachable through a type (`str.join(...)`).
`str`, `repr`, f-strings, `%` and the values a script stores refuse what would print huge
(`[big_list] * 1000` is small in memory but not as text or JSON). The compiler that inserts these
calls is engine/codecompiler.py.
"""
import operator
import re
from itertools import repeat

from RestrictedPython.Guards import safer_getattr

from .errors import RestrictedCodeError

MAX_INT_BITS = 65_536  # about 19,700 decimal digits
MAX_LENGTH = 1_000_000  # characters of a string, items of a list or tuple, numbers in a range
MAX_FORMAT_WIDTH = 1_000
MAX_SORTED = 100_000  # sorting is the slowest C-level loop on a list

_OPS = {
    "**": operator.pow, "<<": operator.lshift, "*": operator.mul, "+": operator.add, "%": operator.mod,
    "-": operator.sub, "/": operator.truediv, "//": operator.floordiv, ">>": operator.rshift,
    "|": operator.or_, "&": operator.and_, "^": operator.xor,
}
_INPLACE = {
    "**=": operator.ipow, "<<=": operator.ilshift, "*=": operator.imul, "+=": operator.iadd, "%=": operator.imod,
    "-=": operator.isub, "/=": operator.itruediv, "//=": operator.ifloordiv, ">>=": operator.irshift,
    "|=": operator.ior, "&=": operator.iand, "^=": operator.ixor,
}
_SEQUENCES = (str, bytes, list, tuple)
_NUMBERS = (int, float, complex)


def _is_int(value):
    return isinstance(value, int)


def _too_big(what):
    raise RestrictedCodeError(f"{what} is too large for diagram code")


def _check_pow(base, exponent):
    if _is_int(base) and _is_int(exponent) and exponent > 0 and abs(base) > 1:
        if exponent > MAX_INT_BITS or base.bit_length() * exponent > MAX_INT_BITS:
            _too_big(f"a power with exponent {exponent}")


def _check_lshift(value, shift):
    if _is_int(value) and _is_int(shift) and value and shift > 0:
        if shift > MAX_INT_BITS or value.bit_length() + shift > MAX_INT_BITS:
            _too_big(f"a shift by {shift} bits")


def _check_mul(left, right):
    if _is_int(left) and _is_int(right):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            _too_big("the product of two numbers")
        return
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, _SEQUENCES) and _is_int(count) and len(sequence) * count > MAX_LENGTH:
            _too_big(f"repeating a {type(sequence).__name__} {count} times")


def _check_add(left, right):
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES) and len(left) + len(right) > MAX_LENGTH:
        _too_big(f"joining two {type(left).__name__}s")


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?")


def _check_mod(left, right):
    if isinstance(left, (str, bytes)):
        check_printable(right, "the values to format")
        text = left.decode("latin-1") if isinstance(left, bytes) else left
        for match in _PERCENT_SPEC.finditer(text):
            _check_widths(match.group(1), match.group(2))


def _check_widths(*widths):
    for width in widths:
        if width == "*" or (width and int(width) > MAX_FORMAT_WIDTH):
            raise RestrictedCodeError(f"a format width or precision above {MAX_FORMAT_WIDTH} (or '*') "
                                      "is not allowed in diagram code")


def logical_size(value, budget=MAX_LENGTH) -> int:
    """Characters and items `value` would print as, counting shared parts each time; stops once past `budget`.

    `[big_list] * 1000` takes little memory but prints (and stores as JSON) 1000 copies of big_list.
    """
    stack, total = [value], 0
    while stack and total <= budget:
        item = stack.pop()
        if isinstance(item, (str, bytes)):
            total += len(item)
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += len(item) + 1
            if total <= budget:
                stack.extend(item)
        elif isinstance(item, dict):
            total += len(item) + 1
            if total <= budget:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 1
        else:
            total += 1
    return total


def check_printable(value, what="the value"):
    """Refuse a value that would print (or be stored) as more than MAX_LENGTH characters and items."""
    if logical_size(value) > MAX_LENGTH:
        _too_big(what)
    return value


_CHECKS = {"**": _check_pow, "<<": _check_lshift, "*": _check_mul, "+": _check_add, "%": _check_mod}


def guarded_binop(op, left, right):
    """`left op right`, refused with RestrictedCodeError when the result would be too large."""
    check = _CHECKS.get(op)
    if check is not None:
        check(left, right)
    return _OPS[op](left, right)


def guarded_inplace(op, left, right):
    """`left op= right` (`n += 1`) with the same checks as `guarded_binop`."""
    if op not in _INPLACE:
        raise RestrictedCodeError(f"operator {op} is not allowed in diagram code")
    check = _CHECKS.get(op[:-1])
    if check is not None:
        check(left, right)
    return _INPLACE[op](left, right)


# ------------------------------------------------------------------ builtins


def guarded_range(*args):
    """`range`, refused when it would count more than MAX_LENGTH numbers."""
    numbers = range(*args)
    if len(numbers) > MAX_LENGTH:
        _too_big(f"a range of {len(numbers)} numbers")
    return numbers


def guarded_sum(iterable, start=0):
    """`sum` of numbers only (summing lists or strings in C is quadratic), at most MAX_LENGTH of them."""
    items = _bounded_list(iterable, "sum")
    # map keeps the check in C: a Python-level loop here would run under the time limit's tracer
    if not (isinstance(start, _NUMBERS) and all(map(isinstance, items, repeat(_NUMBERS)))):
        raise RestrictedCodeError("sum adds numbers only in diagram code")
    return sum(items, start)


def guarded_round(number, ndigits=None):
    """`round`, refused for more than MAX_FORMAT_WIDTH digits (round(5, -10 ** 7) computes 10 ** 10 ** 7)."""
    if isinstance(ndigits, int) and abs(ndigits) > MAX_FORMAT_WIDTH:
        _too_big(f"rounding to {ndigits} digits")
    return round(number, ndigits) if ndigits is not None else round(number)


def guarded_repr(value):
    """`repr`, refused for a value that would print huge."""
    return repr(check_printable(value))


class _GuardedStr(type):
    """Makes `str` in diagram code check what it prints, while `isinstance(x, str)` still works."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, str)

    def __subclasscheck__(cls, other):
        return issubclass(other, str)

    def __call__(cls, *args, **kwargs):
        if args:
            check_printable(args[0])
        return str(*args, **kwargs)


guarded_str = _GuardedStr("str", (), {"__doc__": "`str` for diagram code (see _GuardedStr)."})


def _bounded_list(iterable, what):
    if hasattr(iterable, "__len__") and len(iterable) > MAX_LENGTH:
        _too_big(f"{what} over {len(iterable)} items")
    items = list(iterable)
    if len(items) > MAX_LENGTH:
        _too_big(f"{what} over {len(items)} items")
    return items


# ------------------------------------------------------------------ attributes

_METHODS = {
    str: {"lower", "upper", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith",
          "find", "rfind", "index", "rindex", "count", "isdigit", "isalpha", "isalnum", "isspace", "isupper",
          "islower", "isnumeric", "isdecimal", "istitle", "title", "capitalize", "casefold", "swapcase",
          "partition", "rpartition", "removeprefix", "removesuffix", "join", "replace", "encode"},
    bytes: {"decode", "startswith", "endswith", "count", "find", "index", "split", "strip", "lower", "upper"},
    list: {"append", "extend", "insert", "pop", "remove", "index", "count", "reverse", "sort", "clear", "copy"},
    tuple: {"index", "count"},
    dict: {"get", "keys", "values", "items", "pop", "popitem", "setdefault", "update", "clear", "copy"},
    set: {"add", "discard", "remove", "pop", "clear", "copy", "union", "intersection", "difference",
          "symmetric_difference", "issubset", "issuperset", "isdisjoint", "update"},
    frozenset: {"copy", "union", "intersection", "difference", "symmetric_difference", "issubset", "issuperset",
                "isdisjoint"},
    int: {"bit_length", "real", "imag", "numerator", "denominator", "conjugate"},
    float: {"is_integer", "real", "imag", "conjugate"},
}


def _join(sep):
    def join(iterable):
        items = _bounded_list(iterable, "join")
        if all(map(isinstance, items, repeat(str))) and (
                sum(map(len, items)) + len(sep) * max(len(items) - 1, 0) > MAX_LENGTH):
            _too_big("the joined string")
        return sep.join(items)
    return join


def _replace(text):
    def replace(old, new, count=-1):
        if isinstance(old, str) and isinstance(new, str):
            hits = text.count(old) if count < 0 else min(count, text.count(old))
            if len(text) + hits * (len(new) - len(old)) > MAX_LENGTH:
                _too_big("the replaced string")
        return text.replace(old, new, count)
    return replace


def _extend(items):
    def extend(more):
        more = _bounded_list(more, "extend")
        if len(items) + len(more) > MAX_LENGTH:
            _too_big("the extended list")
        items.extend(more)
    return extend


def _sort(items):
    def sort(*, key=None, reverse=False):
        if len(items) > MAX_SORTED:
            _too_big(f"sorting {len(items)} items")
        items.sort(key=key, reverse=reverse)
    return sort


_WRAPPED = {(str, "join"): _join, (str, "replace"): _replace, (list, "extend"): _extend, (list, "sort"): _sort}


def guarded_getattr(obj, name, default=None):
    """Attribute access for diagram code: plain values offer only the methods listed above.

    Types offer nothing (`str.join(sep, items)` would skip the guards), and everything else goes
    through RestrictedPython's `safer_getattr` (no names starting with `_`, no `str.format`).
    """
    if isinstance(obj, type):
        raise RestrictedCodeError(f"attributes of {obj.__name__} itself are not available in diagram code")
    for kind in type(obj).__mro__:
        allowed = _METHODS.get(kind)
        if allowed is None:
            continue
        if name not in allowed:
            raise RestrictedCodeError(f"{kind.__name__}.{name} is not available in diagram code")
        wrap = _WRAPPED.get((kind, name))
        return wrap(obj) if wrap else getattr(obj, name)
    return safer_getattr(obj, name, default)
