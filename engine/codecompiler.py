"""The compiler for diagram code: RestrictedPython's, plus the size guards of engine/codeguards.py.

It routes `**`, `<<`, `*`, `+` and `%` through `_binop_` and f-string values through `_printable_`,
refuses imports, classes, set unpacking and huge or computed format widths, and computes constant
expressions with the same guards, so `10 ** 10 ** 10` is a compile error naming its line.
"""
import ast
import operator
import re

from RestrictedPython.transformer import RestrictingNodeTransformer, copy_locations

from .codeguards import MAX_FORMAT_WIDTH, guarded_binop
from .errors import RestrictedCodeError

_AST_OPS = {
    ast.Pow: "**", ast.LShift: "<<", ast.Mult: "*", ast.Add: "+", ast.Mod: "%", ast.Sub: "-", ast.Div: "/",
    ast.FloorDiv: "//", ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^",
}
_GUARDED_OPS = frozenset({"**", "<<", "*", "+", "%"})


class GuardingTransformer(RestrictingNodeTransformer):
    """RestrictedPython's compiler, which also routes size-changing operators through `_binop_`.

    Constant expressions are computed here, with the same guards, so a constant too large for
    diagram code is a compile error (and the lint names the diagram element and line).
    """

    def visit_BinOp(self, node):
        try:
            _constant_value(node)
        except RestrictedCodeError as err:
            self.error(node, str(err))
        node = self.node_contents_visit(node)
        op = _AST_OPS.get(type(node.op))
        if op not in _GUARDED_OPS:
            return node
        call = ast.Call(func=ast.Name("_binop_", ast.Load()), args=[ast.Constant(op), node.left, node.right],
                        keywords=[])
        copy_locations(call, node)
        return call

    def visit_FormattedValue(self, node):
        """f'{x}': the value is checked like str(x) would be, and its format spec may not pad hugely."""
        spec = node.format_spec
        if spec is not None:
            if any(isinstance(part, ast.FormattedValue) for part in spec.values):
                self.error(node, "a computed format spec (f'{x:{n}}') is not allowed in diagram code")
            for part in spec.values:
                if isinstance(part, ast.Constant):
                    for width in re.findall(r"\d+", str(part.value)):
                        if int(width) > MAX_FORMAT_WIDTH:
                            self.error(node, f"a format width above {MAX_FORMAT_WIDTH} is not allowed "
                                             "in diagram code")
        node = self.node_contents_visit(node)
        checked = ast.Call(func=ast.Name("_printable_", ast.Load()), args=[node.value], keywords=[])
        copy_locations(checked, node.value)
        node.value = checked
        return node

    def visit_Import(self, node):
        self.error(node, "import is not allowed in diagram code")
        return node

    visit_ImportFrom = visit_Import

    def visit_ClassDef(self, node):
        self.error(node, "class definitions are not allowed in diagram code")
        return node

    def visit_Set(self, node):
        if any(isinstance(item, ast.Starred) for item in node.elts):
            self.error(node, "unpacking into a set ({*items}) is not allowed in diagram code")
        return self.node_contents_visit(node)


_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert}


def _constant_value(node):
    """The value of a constant expression built with guarded operators, or a marker if not constant."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_constant_value(item) for item in node.elts]
        if any(item is _NOT_CONSTANT for item in items):
            return _NOT_CONSTANT
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        value = _constant_value(node.operand)
        return value if value is _NOT_CONSTANT else _UNARY[type(node.op)](value)
    if isinstance(node, ast.BinOp) and type(node.op) in _AST_OPS:
        left, right = _constant_value(node.left), _constant_value(node.right)
        if left is _NOT_CONSTANT or right is _NOT_CONSTANT:
            return _NOT_CONSTANT
        try:
            return guarded_binop(_AST_OPS[type(node.op)], left, right)
        except RestrictedCodeError:
            raise
        except Exception:
            return _NOT_CONSTANT  # 'a' ** 2 and the like fail when the code runs, not here
    return _NOT_CONSTANT


_NOT_CONSTANT = object()
