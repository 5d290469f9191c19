"""Tensor shape names: which dimension of which tensor a value is.

Get it with ``ctx.fact(ShapeNames)``. ``dimension(expr, statement)`` gives a ``DimensionRef`` for
`x.shape[1]`, `x.size(1)`, `x.size()[1]`, `x.size(dim=1)`, `int(x.shape[1])`, a product of such
(`h * w`), and names bound from them: `b, c, h, w = x.shape`, `*_, h, w = x.size()`,
`n, c = x.shape[:2]`, `h, w = x.shape[2:]`, `c = x.size(1)`, `size = x.size(); size[1]`. The reference names the tensor and
the definition of the tensor the shape was read from, so a caller can tell whether the tensor it
looks at is still the same value (`x = x.permute(...)` in between makes it another one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import FrozenSet, Optional

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow, Definition
from nnlint.analysis.index import Statement
from nnlint.analysis.names import argument, callee_terminal_name, dotted_name, number_value

MAX_DEPTH = 6


@dataclass(frozen=True)
class DimensionRef:
    tensor: str  # dotted name of the tensor whose shape was read
    origin: Definition  # the tensor's definition where its shape was read
    indices: FrozenSet[int]  # the dimensions (several for a product such as h * w); may be negative
    ndim: Optional[int] = None  # the tensor's number of dimensions, when the code shows it

    def normalized(self, ndim: Optional[int]) -> Optional[FrozenSet[int]]:
        """Non-negative indices, or None when a negative index needs an unknown ndim."""
        if all(i >= 0 for i in self.indices):
            return self.indices
        if ndim is None:
            return None
        return frozenset(i % ndim for i in self.indices)


def _shape_of(expr: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    """`x` for `x.shape` and `x.size()`, else None."""
    if isinstance(expr, cst.Attribute) and expr.attr.value == "shape":
        return expr.value if dotted_name(expr.value) is not None else None
    if isinstance(expr, cst.Call) and callee_terminal_name(expr) == "size" and not expr.args:
        receiver = expr.func.value if isinstance(expr.func, cst.Attribute) else None
        return receiver if receiver is not None and dotted_name(receiver) is not None else None
    return None


def _integer(expr: Optional[cst.BaseExpression]) -> Optional[int]:
    value = number_value(expr) if expr is not None else None
    if value is None or value != int(value):
        return None
    return int(value)


def _single_index(subscript: cst.Subscript) -> Optional[cst.BaseSlice]:
    if len(subscript.slice) != 1:
        return None
    return subscript.slice[0].slice


class ShapeNames:
    """Get it with ``ctx.fact(ShapeNames)``."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)

    def _reference(self, tensor: cst.BaseExpression, statement: Statement, indices, ndim=None) -> DimensionRef:
        name = dotted_name(tensor)
        assert name is not None
        return DimensionRef(name, self.flow.definition(name, statement), frozenset(indices), ndim)

    def _shape_read(self, expr: cst.BaseExpression, statement: Statement, depth: int = 0):
        """(tensor, statement where its shape was read) for `x.shape`, `x.size()`, `list(x.shape)`,
        or a name holding one (`size = x.size()`); else None."""
        if isinstance(expr, cst.Call) and self.ctx.qualified_name(expr.func) in ("builtins.list", "builtins.tuple"):
            if len(expr.args) != 1:
                return None
            expr = expr.args[0].value
        tensor = _shape_of(expr)
        if tensor is not None:
            return tensor, statement
        if isinstance(expr, cst.Name) and depth < MAX_DEPTH:
            definition = self.flow.definition(expr.value, statement)
            if definition.kind == "assign" and definition.value is not None and definition.statement is not None:
                return self._shape_read(definition.value, definition.statement, depth + 1)
        return None

    def dimension(self, expr: cst.BaseExpression, statement: Statement, depth: int = 0) -> Optional[DimensionRef]:
        if depth > MAX_DEPTH:
            return None
        if isinstance(expr, cst.Subscript):
            read = self._shape_read(expr.value, statement)
            index = _single_index(expr)
            if read is not None and isinstance(index, cst.Index):
                position = _integer(index.value)
                if position is not None:
                    return self._reference(read[0], read[1], (position,))
            return None
        if isinstance(expr, cst.Call):
            terminal = callee_terminal_name(expr)
            if terminal == "size" and isinstance(expr.func, cst.Attribute) and dotted_name(expr.func.value) is not None:
                position = _integer(argument(expr, 0, "dim"))
                if position is not None and len(expr.args) == 1:
                    return self._reference(expr.func.value, statement, (position,))
                return None
            if self.ctx.qualified_name(expr.func) == "builtins.int" and len(expr.args) == 1:
                return self.dimension(expr.args[0].value, statement, depth + 1)
            return None
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Multiply):
            left = self.dimension(expr.left, statement, depth + 1)
            right = self.dimension(expr.right, statement, depth + 1)
            if left is None or right is None or (left.tensor, left.origin) != (right.tensor, right.origin):
                return None
            if left.indices & right.indices:
                return None
            return DimensionRef(left.tensor, left.origin, left.indices | right.indices, left.ndim or right.ndim)
        if isinstance(expr, cst.Name):
            definition = self.flow.definition(expr.value, statement)
            if definition.statement is None or definition.value is None:
                return None
            if definition.kind == "assign":
                return self.dimension(definition.value, definition.statement, depth + 1)
            if definition.kind == "unpacked":
                return self._unpacked(expr.value, definition)
        return None

    def _unpacked(self, name: str, definition: Definition) -> Optional[DimensionRef]:
        """`b, c, h, w = x.shape`, `*_, h, w = x.size()`, `n, c = x.shape[:2]`, `h, w = x.shape[2:]`."""
        node = definition.statement.node  # type: ignore[union-attr]
        if not isinstance(node, cst.Assign) or len(node.targets) != 1:
            return None
        target = node.targets[0].target
        if not isinstance(target, (cst.Tuple, cst.List)):
            return None
        elements = [element for element in target.elements]
        position = None
        star = None
        for index, element in enumerate(elements):
            if isinstance(element, cst.StarredElement):
                if star is not None:
                    return None
                star = index
            elif isinstance(element.value, cst.Name) and element.value.value == name:
                position = index
        if position is None:
            return None
        value = node.value
        offset, ndim = 0, None
        read = self._shape_read(value, definition.statement)  # type: ignore[arg-type]
        if read is None and isinstance(value, cst.Subscript):
            # x.shape[2:], x.shape[:2], x.shape[-2:]
            read = self._shape_read(value.value, definition.statement)  # type: ignore[arg-type]
            sliced = _single_index(value)
            if read is None or not isinstance(sliced, cst.Slice) or sliced.step is not None:
                return None
            lower = _integer(sliced.lower) if sliced.lower is not None else 0
            if lower is None:
                return None
            if sliced.upper is not None:
                upper = _integer(sliced.upper)
                if upper is None or (upper >= 0) != (lower >= 0):
                    return None
                if upper - lower != len(elements) or star is not None:
                    return None
            elif lower < 0 and -lower != len(elements):
                return None
            if star is not None and lower != 0:
                return None
            offset = lower
        elif read is not None and star is None:
            ndim = len(elements)
        if read is None:
            return None
        if star is not None and position > star:
            index = position - len(elements)  # counted from the end
        else:
            index = offset + position
        return self._reference(read[0], read[1], (index,), ndim)
