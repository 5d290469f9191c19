"""The bridge from this module's code to what the project's other modules give.

Get it with ``ctx.fact(RemoteValues)``. `value(expr, statement)` follows a name of this module back
to the call that bound it (`train_loader, val_loader = get_loaders(cfg)`, `model = build_model()`,
`ds = make_datasets()[0]`) and asks the project's summaries (`analysis.project_values`) what that
call of a project function or class gives. Only values built in ANOTHER file are answered (this
module's own code is the other facts' business); anything else is None. Without project analysis
(`--no-project`, stdin) every answer is None.

`abstract(expr, statement)` answers for values built HERE from what other files give
(`DataLoader(datasets.ImageFolder(root, transform=build_transform()))` with `build_transform` in
`data.py`): the expression, with this module's local names followed back to what they were
assigned, is written in the summaries' vocabulary and evaluated by the project. A parameter of a
function or of a class's `__init__` takes the values its call sites anywhere in the project pass
(`self.transform = transform` in `datasets.py`, given a pipeline by `train.py`).
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

    # -- values built here from what other modules give --------------------------------------------

    def abstract(self, expr: cst.BaseExpression, statement: Statement) -> Optional[Remote]:
        """What `expr` is, evaluated with the project's summaries (its own module included);
        None when unknown or without project analysis."""
        if self.project is None:
            return None
        param = self._parameter(expr, statement)
        if param is not None:
            return self._passed(*param)
        return self.project.evaluate(self.tree(expr, statement), self.project.path, {})

    def tree(self, expr: cst.BaseExpression, statement: Statement, depth: int = 0) -> Dict[str, Any]:
        """`expr` as a summary value of this module, local names replaced by their values."""
        if depth > MAX_DEPTH:
            return UNKNOWN
        constant = literal(expr)
        if constant is not UNKNOWN:
            return constant
        if isinstance(expr, cst.Name):
            definition = self.flow.definition(expr.value, statement)
            if definition.kind == "assign" and definition.value is not None and definition.statement is not None:
                return self.tree(definition.value, definition.statement, depth + 1)
            if definition.kind == "unpacked" and definition.value is not None and definition.statement is not None:
                node = definition.statement.node
                if isinstance(node, cst.Assign) and len(node.targets) == 1:
                    names = [dotted_name(e) for e in sequence_elements(node.targets[0].target) or ()]
                    if expr.value in names:
                        return {"item": self.tree(definition.value, definition.statement, depth + 1), "i": names.index(expr.value)}
                return UNKNOWN
            if definition.kind in ("import", "class", "function", "unknown"):
                return {"n": expr.value}  # resolved by the project (a global, an import, a builtin: unknown)
            return UNKNOWN
        if isinstance(expr, cst.Attribute):
            name = dotted_name(expr)
            if name is not None and name.startswith("self."):
                definitions = self.flow.self_attribute_definitions(name, statement) if name.count(".") == 1 else None
                if definitions and len(definitions) == 1 and definitions[0].kind == "assign":
                    only = definitions[0]
                    if only.value is not None and only.statement is not None:
                        return self.tree(only.value, only.statement, depth + 1)
                return UNKNOWN
            if name is not None:
                root = self.flow.definition(name.split(".")[0], statement)
                if root.kind in ("import", "class", "function"):
                    return {"n": name}
            return {"attr": self.tree(expr.value, statement, depth + 1), "a": expr.attr.value}
        if isinstance(expr, cst.Call):
            if any(arg.star for arg in expr.args):
                return UNKNOWN
            position = self.ctx.position(expr)
            return {
                "call": self.tree(expr.func, statement, depth + 1),
                "args": [self.tree(a.value, statement, depth + 1) for a in expr.args if a.keyword is None],
                "kw": {a.keyword.value: self.tree(a.value, statement, depth + 1) for a in expr.args if a.keyword is not None},
                "at": [position.start.line, position.start.column + 1, position.end.line, position.end.column + 1],
            }
        if isinstance(expr, (cst.Tuple, cst.List)):
            if any(isinstance(e, cst.StarredElement) for e in expr.elements):
                return UNKNOWN
            return {"seq": [self.tree(e.value, statement, depth + 1) for e in expr.elements]}
        if isinstance(expr, cst.IfExp):
            either = {"either": [self.tree(expr.body, statement, depth + 1), self.tree(expr.orelse, statement, depth + 1)]}
            if isinstance(expr.test, (cst.Name, cst.Attribute)) or literal(expr.test) is not UNKNOWN:
                either["if"] = self.tree(expr.test, statement, depth + 1)
            return either
        if isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index):
            index = literal(expr.slice[0].slice.value).get("c")
            if isinstance(index, (int, str)) and not isinstance(index, bool):
                return {"item": self.tree(expr.value, statement, depth + 1), "i": index}
        return UNKNOWN

    def _parameter(self, expr: cst.BaseExpression, statement: Statement, depth: int = 0):
        """(function scope, parameter name) when `expr` holds a parameter's value as it was passed
        (through local names and a single `self.<attribute>` assignment)."""
        if depth > MAX_DEPTH:
            return None
        name = dotted_name(expr)
        if name is None:
            return None
        if name.startswith("self.") and name.count(".") == 1:
            definitions = self.flow.self_attribute_definitions(name, statement)
            if not definitions or len(definitions) != 1 or definitions[0].kind != "assign":
                return None
            only = definitions[0]
            if only.value is None or only.statement is None:
                return None
            return self._parameter(only.value, only.statement, depth + 1)
        if "." in name:
            return None
        definition = self.flow.definition(name, statement)
        if definition.kind == "assign" and definition.value is not None and definition.statement is not None:
            return self._parameter(definition.value, definition.statement, depth + 1)
        if definition.kind == "param" and definition.scope is not None and definition.scope.parameter(name) is not None:
            return definition.scope, name
        return None

    def _passed(self, scope, name: str) -> Optional[Remote]:
        """The values the call sites of the project pass for parameter `name` of the function of
        `scope` (a module-level function, or the `__init__` of a module-level class): one value, an
        `either` of several, None when a call site passes something unknown or there is none."""
        assert self.project is not None
        owner = scope.class_info
        if scope.parent is None or not scope.parent.is_module and owner is None:
            return None
        if owner is not None:
            if scope.function_name != "__init__" or not owner.defined_in.is_module:
                return None
            sites = self.project.constructions(self.project.path, owner.name)
            symbol = self.project.symbol(self.project.path, f"{owner.name}.__init__")
        else:
            sites = self.project.callers(self.project.path, scope.function_name)
            symbol = self.project.symbol(self.project.path, scope.function_name)
        if symbol is None or symbol.data is None or not sites:
            return None
        params = list(symbol.data["params"])
        if owner is not None and params and params[0] in ("self", "cls"):
            params = params[1:]
        found: List[Remote] = []
        for caller_path, record in sites:
            if name in record["kw"]:
                passed = record["kw"][name]
            elif name in params and params.index(name) < len(record["args"]):
                passed = record["args"][params.index(name)]
            elif name in symbol.data["defaults"] and UNKNOWN not in record["args"]:
                caller_path, passed = self.project.path, symbol.data["defaults"][name]
            else:
                return None
            value = self.project.evaluate(passed, caller_path, {})
            if value is None:
                return None
            found.extend(options(value))
        if len(found) == 1:
            return found[0]
        return Remote("either", self.project.path, None, items=found)

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
