"""Small, pure helpers for reading LibCST expressions."""

from __future__ import annotations

import ast
from typing import Iterator, List, Optional, Sequence

import libcst as cst


def dotted_name(expr: cst.BaseExpression) -> Optional[str]:
    """`a.b.c` for a Name or an Attribute chain of Names; None for anything else."""
    parts: List[str] = []
    while isinstance(expr, cst.Attribute):
        parts.append(expr.attr.value)
        expr = expr.value
    if not isinstance(expr, cst.Name):
        return None
    parts.append(expr.value)
    return ".".join(reversed(parts))


def callee_terminal_name(call: cst.Call) -> Optional[str]:
    """The last identifier of what is called: `step` for `opt.step()`, `clamp` for `torch.clamp(...)`."""
    func = call.func
    if isinstance(func, cst.Name):
        return func.value
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return None


def method_receiver(call: cst.Call) -> Optional[cst.BaseExpression]:
    """`x` for `x.method(...)`, else None."""
    return call.func.value if isinstance(call.func, cst.Attribute) else None


def positional_args(call: cst.Call) -> List[cst.BaseExpression]:
    """Positional arguments in order, stopping at the first *args (positions after it are unknown)."""
    values = []
    for arg in call.args:
        if arg.keyword is not None or arg.star == "**":
            continue
        if arg.star == "*":
            break
        values.append(arg.value)
    return values


def keyword_arg(call: cst.Call, name: str) -> Optional[cst.BaseExpression]:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    return None


def argument(call: cst.Call, position: Optional[int], keyword: Optional[str]) -> Optional[cst.BaseExpression]:
    """The argument given by keyword, or else at a positional index."""
    if keyword is not None:
        value = keyword_arg(call, keyword)
        if value is not None:
            return value
    if position is not None:
        positional = positional_args(call)
        if position < len(positional):
            return positional[position]
    return None


def has_star_args(call: cst.Call) -> bool:
    return any(arg.star for arg in call.args)


def number_value(expr: cst.BaseExpression) -> Optional[float]:
    """The value of a numeric literal, a signed one, or arithmetic on literals (`2 * 1e3`)."""
    if isinstance(expr, (cst.Integer, cst.Float)):
        return float(expr.evaluated_value)
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, (cst.Minus, cst.Plus)):
        inner = number_value(expr.expression)
        if inner is None:
            return None
        return -inner if isinstance(expr.operator, cst.Minus) else inner
    if isinstance(expr, cst.BinaryOperation):
        left, right = number_value(expr.left), number_value(expr.right)
        if left is None or right is None:
            return None
        operator = expr.operator
        try:
            if isinstance(operator, cst.Add):
                return left + right
            if isinstance(operator, cst.Subtract):
                return left - right
            if isinstance(operator, cst.Multiply):
                return left * right
            if isinstance(operator, cst.Divide):
                return left / right
            if isinstance(operator, cst.Power):
                return float(left**right)
        except (ArithmeticError, OverflowError):
            return None
    return None


def string_value(expr: cst.BaseExpression) -> Optional[str]:
    """The value of a plain string literal (no f-strings, no implicit concatenation)."""
    if isinstance(expr, cst.SimpleString):
        try:
            value = ast.literal_eval(expr.value)
        except (ValueError, SyntaxError):
            return None
        return value if isinstance(value, str) else None
    return None


def is_none(expr: Optional[cst.BaseExpression]) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"


def assigned_names(target: cst.BaseExpression) -> Iterator[cst.BaseExpression]:
    """The Name/Attribute/Subscript targets inside an assignment target (tuples unpacked)."""
    if isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from assigned_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from assigned_names(target.value)
    else:
        yield target


def sequence_elements(expr: cst.BaseExpression) -> Optional[Sequence[cst.BaseExpression]]:
    """Elements of a tuple/list literal without starred parts, else None."""
    if isinstance(expr, (cst.Tuple, cst.List)):
        if any(isinstance(element, cst.StarredElement) for element in expr.elements):
            return None
        return [element.value for element in expr.elements]
    return None


def string_value_of_index(expr: cst.Subscript) -> Optional[str]:
    """`"cap"` for `cfg["cap"]`: the string key of a one-index subscript."""
    if len(expr.slice) != 1 or not isinstance(expr.slice[0].slice, cst.Index):
        return None
    return string_value(expr.slice[0].slice.value)


def unpacked_index(assignment: cst.CSTNode, name: str) -> Optional[int]:
    """Position of `name` in the tuple target of `a, name, c = ...` (None if not there)."""
    if not isinstance(assignment, cst.Assign):
        return None
    for target in assignment.targets:
        elements = sequence_elements(target.target)
        if elements is not None:
            for index, element in enumerate(elements):
                if dotted_name(element) == name:
                    return index
    return None


def calls_in(expr: cst.CSTNode, outermost: bool = False) -> List[cst.Call]:
    """The calls inside an expression, not looking into lambdas and nested functions; with
    `outermost`, not into the arguments of a call found either (`[Block() for _ in range(n)]`
    gives Block() and range(n))."""
    found: List[cst.Call] = []
    pending: List[cst.CSTNode] = [expr]
    while pending:
        node = pending.pop()
        if isinstance(node, cst.Call):
            found.append(node)
            if outermost:
                continue
        if isinstance(node, (cst.Lambda, cst.FunctionDef)):
            continue
        pending.extend(node.children)
    return found


def plain_names(node: cst.CSTNode) -> Iterator[cst.Name]:
    """The plain names an expression or target reads: `images`, and `batch` of `batch["image"]` or
    `batch.image` (an attribute's name is not a variable)."""
    pending: List[cst.CSTNode] = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, cst.Name):
            yield current
        elif isinstance(current, cst.Attribute):
            pending.append(current.value)
        else:
            pending.extend(current.children)
