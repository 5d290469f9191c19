"""Patterns the pipeline makes itself: values drawn at random or built from sizes and constants,
never read from a sample or its annotation.

A masked-image-modelling pipeline returns `(image, mask)` where the mask says which patches the
encoder hides: `np.random.permutation` then index assignment into `np.zeros`, `torch.rand(n) < p`,
`torch.ones(h, w)`. Such a value is no label of the image, whatever it is called, and the image's
flips and crops do not apply to it. ``ctx.fact(PipelinePatterns).made(expr, statement)`` tells.

A value is made by the pipeline when it is
- a literal, a size (`x.shape`, `len(x)`, `x.size(0)`), or a configuration attribute (`self.ratio`
  set in `__init__`);
- a random draw (`numpy.random.*`, `torch.rand*`, `random.*`) or a fresh constant tensor or array
  (`zeros`, `ones`, `full`, `arange`, `eye`, their `*_like` forms): the arguments only give sizes;
- computed from such values only (arithmetic, comparisons, conversions, tensor methods, indexing
  by such values), and written after it was made only with such values (`mask[idx] = 1`; a canvas
  that `cv2.fillPoly(mask, polygon, 1)` draws an annotation into is not made by the pipeline);
- what a function, method or callable object of this module returns on every path.
Parameters count when every caller in the module passes such a value.
"""

from __future__ import annotations

import re
from typing import Dict, List, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow, Definition
from nnlint.analysis.index import Statement
from nnlint.analysis.names import callee_terminal_name, dotted_name, method_receiver
from nnlint.analysis.valuekinds import ValueKinds

RANDOM = re.compile(r"^(numpy\.random\.|random\.|torch\.(rand|randn|randint|randperm|bernoulli|multinomial|normal)(_like)?$)")
FRESH = re.compile(
    r"^(numpy|torch)\.(zeros|ones|full|empty|arange|linspace|eye|tri|zeros_like|ones_like|full_like|empty_like)$"
)
SIZE_ATTRIBUTES = frozenset({"shape", "ndim", "dtype", "device", "size", "height", "width", "h", "w"})
SIZE_METHODS = frozenset({"size", "dim", "numel", "__len__"})
CONFIG_METHODS = frozenset({"__init__", "setup", "__post_init__"})
LIBRARY_ROOTS = ("numpy.", "torch.", "math.", "builtins.", "einops.")

MAX_DEPTH = 24


class PipelinePatterns:
    """Get it with ``ctx.fact(PipelinePatterns)``."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        self.kinds = ctx.fact(ValueKinds)
        self._memo: Dict[Tuple[int, int], bool] = {}

    def made(self, expr: cst.BaseExpression, statement: Statement, depth: int = 0) -> bool:
        """Whether `expr`, evaluated in `statement`, is a pattern the pipeline makes itself."""
        if depth > MAX_DEPTH:
            return False
        key = (id(expr), id(statement))
        found = self._memo.get(key)
        if found is not None:
            return found
        self._memo[key] = False  # a value made through itself is not shown to be made
        found = self._made(expr, statement, depth)
        self._memo[key] = found
        return found

    def made_name(self, name: str, statement: Statement, depth: int = 0) -> bool:
        definition = self.flow.definition(name, statement)
        return self._made_binding(name, definition, statement, depth)

    # -- expressions ----------------------------------------------------------------------------------

    def _made(self, expr: cst.BaseExpression, statement: Statement, depth: int) -> bool:
        if isinstance(expr, (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.Ellipsis)):
            return True
        if isinstance(expr, cst.Name):
            if expr.value in ("True", "False", "None"):
                return True
            return self.made_name(expr.value, statement, depth)
        if isinstance(expr, cst.Attribute):
            return self._made_attribute(expr, statement, depth)
        if isinstance(expr, cst.Subscript):
            return self.made(expr.value, statement, depth + 1) and all(
                self.made(element.slice.value, statement, depth + 1)
                for element in expr.slice
                if isinstance(element.slice, cst.Index)
            )  # slice bounds only say how much of a made value is kept
        if isinstance(expr, cst.Call):
            return self._made_call(expr, statement, depth)
        parts = _operands(expr)
        return parts is not None and all(self.made(part, statement, depth + 1) for part in parts)

    def _made_attribute(self, expr: cst.Attribute, statement: Statement, depth: int) -> bool:
        if expr.attr.value in SIZE_ATTRIBUTES:
            return True  # a size, whatever it is the size of
        qualified = self.ctx.qualified_name(expr)
        if qualified is not None:
            return qualified.startswith(("numpy.", "torch.", "math."))  # np.pi, torch.bool
        dotted = dotted_name(expr)
        if dotted is not None and dotted.startswith("self.") and dotted.count(".") == 1:
            definitions = self.flow.self_attribute_definitions(dotted, statement) or []
            # configuration: set once when the object is built
            return bool(definitions) and all(
                d.statement is not None and d.statement.scope.function_name in CONFIG_METHODS for d in definitions
            )
        if expr.attr.value in ("T", "mT"):
            return self.made(expr.value, statement, depth + 1)
        return False

    def _made_call(self, call: cst.Call, statement: Statement, depth: int) -> bool:
        qualified = self.ctx.qualified_name(call.func)
        args = [arg.value for arg in call.args]
        if qualified is not None:
            if RANDOM.match(qualified) or FRESH.match(qualified) or qualified == "builtins.len":
                return True  # the arguments only give sizes, probabilities and fill values
            if qualified.startswith(LIBRARY_ROOTS):
                return all(self.made(arg, statement, depth + 1) for arg in args)
            return False
        callee = self.kinds.callee(call, statement)
        if callee is not None:
            returns = [s for s in callee.statements if isinstance(s.node, cst.Return)]
            return bool(returns) and all(
                s.node.value is not None and self.made(s.node.value, s, depth + 1) for s in returns  # type: ignore[union-attr]
            )
        receiver = method_receiver(call)
        if receiver is None or dotted_name(receiver) == "self":
            return False
        if callee_terminal_name(call) in SIZE_METHODS:
            return True
        return self.made(receiver, statement, depth + 1) and all(self.made(arg, statement, depth + 1) for arg in args)

    # -- names ----------------------------------------------------------------------------------------

    def _made_binding(self, name: str, definition: Definition, use: Statement, depth: int) -> bool:
        at = definition.statement
        if definition.kind in ("assign", "unpacked", "loop") and definition.value is not None and at is not None:
            made = self.made(definition.value, at, depth + 1)
        elif definition.kind == "augassign" and definition.value is not None and at is not None:
            made = self.made(definition.value, at, depth + 1) and self.made_name(name, at, depth + 1)
        elif definition.kind == "param" and definition.scope is not None:
            values = self.flow.argument_values(definition.scope, name)
            return bool(values) and all(self.made(value, where, depth + 1) for value, where in values)
        else:
            return False
        return made and not self._written_with_other_data(name, at, use, depth)

    def _written_with_other_data(self, name: str, made_at: Statement, use: Statement, depth: int) -> bool:
        """Whether, between where `name` was made and `use`, something not made by the pipeline is
        written into it: `mask[y0:y1, x0:x1] = 1` with a box's corners, `cv2.fillPoly(mask, poly, 1)`."""
        if made_at.scope is not use.scope:
            return False
        for statement in made_at.scope.statements[made_at.position + 1 : use.position]:
            node = statement.node
            if isinstance(node, cst.Assign):
                for target in node.targets:
                    if _rooted_at(target.target, name) and isinstance(target.target, cst.Subscript):
                        written: List[cst.BaseExpression] = [node.value] + _index_parts(target.target)
                        if not all(self.made(part, statement, depth + 1) for part in written):
                            return True
            elif isinstance(node, cst.AugAssign) and _rooted_at(node.target, name):
                if not self.made(node.value, statement, depth + 1):
                    return True
            elif isinstance(node, cst.Expr) and isinstance(node.value, cst.Call):
                call = node.value
                receiver = method_receiver(call)
                given = any(_rooted_at(arg.value, name) for arg in call.args)
                if given or (receiver is not None and _rooted_at(receiver, name)):
                    others = [arg.value for arg in call.args if not _rooted_at(arg.value, name)]
                    if not all(self.made(part, statement, depth + 1) for part in others):
                        return True
        return False


def _operands(expr: cst.BaseExpression):
    """The parts an expression is computed from, for the kinds whose result is made when every part is."""
    if isinstance(expr, cst.BinaryOperation):
        return [expr.left, expr.right]
    if isinstance(expr, cst.UnaryOperation):
        return [expr.expression]
    if isinstance(expr, cst.BooleanOperation):
        return [expr.left, expr.right]
    if isinstance(expr, cst.Comparison):
        return [expr.left] + [c.comparator for c in expr.comparisons]
    if isinstance(expr, cst.IfExp):
        return [expr.body, expr.orelse]  # the test only chooses between made values
    if isinstance(expr, (cst.Tuple, cst.List)):
        return [e.value for e in expr.elements]
    return None


def _rooted_at(expr: cst.BaseExpression, name: str) -> bool:
    while isinstance(expr, (cst.Subscript, cst.Attribute)):
        expr = expr.value
    return isinstance(expr, cst.Name) and expr.value == name


def _index_parts(target: cst.Subscript) -> List[cst.BaseExpression]:
    parts: List[cst.BaseExpression] = []
    for element in target.slice:
        piece = element.slice
        if isinstance(piece, cst.Index):
            parts.append(piece.value)
        elif isinstance(piece, cst.Slice):
            parts.extend(bound for bound in (piece.lower, piece.upper, piece.step) if bound is not None)
    return parts
