"""The bridge from this module's code to what the project's other modules give.

Get it with ``ctx.fact(RemoteValues)``. `value(expr, statement)` follows a name of this module back
to the call that bound it (`train_loader, val_loader = get_loaders(cfg)`, `model = build_model()`,
`ds = make_datasets()[0]`) and asks the project's summaries (`analysis.project_values`) what that
call of a project function or class gives. Only values built in ANOTHER file are answered (this
module's own code is the other facts' business); anything else is None. Without project analysis
(`--no-project`, stdin) every answer is None.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.index import Statement
from nnlint.analysis.names import dotted_name, number_value, sequence_elements, string_value
from nnlint.analysis.project_values import Remote, Symbol
from nnlint.analysis.summaries import UNKNOWN

MAX_DEPTH = 6


def literal(expr: cst.BaseExpression) -> Dict[str, Any]:
    """A literal argument as a summary value (`{"c": True}`); anything else is unknown."""
    if isinstance(expr, cst.Name) and expr.value in ("True", "False", "None"):
        return {"c": {"True": True, "False": False, "None": None}[expr.value]}
    text = string_value(expr)
    if text is not None:
        return {"c": text}
    number = number_value(expr)
    if number is not None:
        return {"c": number}
    return UNKNOWN


class RemoteValues:
    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.project = ctx.project
        self.flow = ctx.fact(DataFlow)

    @property
    def active(self) -> bool:
        return self.project is not None

    def callee(self, call: cst.Call) -> Optional[Symbol]:
        """The project function or class (of another file) a call of this module runs."""
        if self.project is None:
            return None
        name = dotted_name(call.func)
        if name is None or name.split(".")[0] == "self":
            return None
        found = self.project.symbol(self.project.path, name)
        if found is None or found.kind not in ("function", "class") or found.path == self.project.path:
            return None
        return found

    def call(self, call: cst.Call) -> Optional[Remote]:
        callee = self.callee(call)
        if callee is None:
            return None
        assert self.project is not None
        args = [self.project.evaluate(literal(a.value), self.project.path, {}) for a in call.args if a.keyword is None and not a.star]
        kwargs = {a.keyword.value: self.project.evaluate(literal(a.value), self.project.path, {}) for a in call.args if a.keyword is not None}
        if any(a.star for a in call.args):
            return None
        return self.project.call_result(callee, args, kwargs)

    def value(self, expr: cst.BaseExpression, statement: Statement, depth: int = 0) -> Optional[Remote]:
        """What the project's other modules make of `expr` (a name, a call, an element of either)."""
        if self.project is None or depth > MAX_DEPTH:
            return None
        if isinstance(expr, cst.Call):
            return self.call(expr)
        if isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index):
            index = number_value(expr.slice[0].slice.value)
            container = self.value(expr.value, statement, depth + 1)
            return _item(container, index)
        if not isinstance(expr, cst.Name):
            return None
        definition = self.flow.definition(expr.value, statement)
        if definition.statement is None or definition.value is None:
            return None
        if definition.kind == "assign":
            return self.value(definition.value, definition.statement, depth + 1)
        if definition.kind == "unpacked":
            node = definition.statement.node
            if not isinstance(node, cst.Assign) or len(node.targets) != 1:
                return None
            elements = sequence_elements(node.targets[0].target)
            names = [dotted_name(element) for element in elements or ()]
            if expr.value not in names:
                return None
            container = self.value(definition.value, definition.statement, depth + 1)
            return _item(container, names.index(expr.value))
        return None

    def elsewhere(self, remote: Remote) -> bool:
        return self.project is not None and bool(remote.path) and remote.path != self.project.path


def _item(container: Optional[Remote], index: Optional[float]) -> Optional[Remote]:
    if container is None or container.kind != "seq" or index is None or index != int(index):
        return None
    position = int(index)
    if -len(container.items) <= position < len(container.items):
        return container.items[position]
    return None


def options(value: Optional[Remote]) -> List[Remote]:
    """The values an `either` may be (a value that is not one is its own only option)."""
    if value is None:
        return []
    return list(value.items) if value.kind == "either" else [value]
