"""The bridge from this module's code to what the project's other modules give.

Get it with ``ctx.fact(RemoteValues)``. `value(expr, statement)` follows a name of this module back
to the call that bound it (`train_loader, val_loader = get_loaders(cfg)`, `model = build_model()`,
`ds = make_datasets()[0]`) and asks the project's summaries (`analysis.project_values`) what that
call of a project function or class gives. Only values built in ANOTHER file are answered (this
module's own code is the other facts' business); anything else is None. Without project analysis
(`--no-project`, stdin) every answer is None.

Where a family's evidence is code of another file that a summary does not describe (a model
class's `forward`, a Dataset's `__getitem__`), `project_class(callee)` and `project_function(callee)`
give that code in the other file's own parsed module, with its own single-file facts
(`ModuleContext` of that file, one hop: its facts do not follow imports further). Nodes of such a
module are placed in findings with `place(node)`.
"""

from __future__ import annotations

import hashlib
import io
import tokenize
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.index import CallSite, ClassInfo, Scope, Statement
from nnlint.analysis.names import dotted_name, number_value, sequence_elements, string_value, unpacked_index
from nnlint.analysis.project_values import PASSTHROUGH_METHODS, Remote, Symbol
from nnlint.analysis.summaries import UNKNOWN
from nnlint.traversal import walk

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
        self._modules: Dict[str, Optional[ModuleContext]] = {}

    @property
    def active(self) -> bool:
        return self.project is not None

    def callee(self, call: cst.Call) -> Optional[Symbol]:
        """The project function or class (of another file) a call of this module runs."""
        found = self._symbol(call.func)
        return found if found is not None and found.kind in ("function", "class") else None

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

    def instance(self, expr: cst.BaseExpression, statement: Statement, depth: int = 0) -> Optional[Remote]:
        """Like `value`, also through methods that return their receiver (`Net().to(device)`) and
        through a parameter of a module-level function, from what its callers anywhere in the
        project pass (`train_one_epoch(model, ...)` in train.py)."""
        if self.project is None or depth > MAX_DEPTH:
            return None
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in PASSTHROUGH_METHODS:
            return self.instance(expr.func.value, statement, depth + 1)
        if isinstance(expr, cst.Call) and self._prepares(expr, statement) and len(expr.args) == 1:
            return self.instance(expr.args[0].value, statement, depth + 1)  # model = accelerator.prepare(model)
        if isinstance(expr, cst.Name):
            definition = self.flow.definition(expr.value, statement)
            at = definition.statement
            if definition.kind == "param" and definition.scope is not None:
                return self._passed(definition.scope, expr.value)
            if definition.kind == "assign" and definition.value is not None and at is not None:
                return self.instance(definition.value, at, depth + 1)
            if definition.kind == "unpacked" and isinstance(definition.value, cst.Call) and at is not None:
                # model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
                index = unpacked_index(at.node, expr.value)
                if self._prepares(definition.value, at) and index is not None and index < len(definition.value.args):
                    return self.instance(definition.value.args[index].value, at, depth + 1)
        return self.value(expr, statement, depth)

    def _prepares(self, call: cst.Call, statement: Statement) -> bool:
        """`accelerator.prepare(...)` of an `accelerate.Accelerator`: it returns its arguments, wrapped."""
        if not isinstance(call.func, cst.Attribute) or call.func.attr.value != "prepare":
            return False
        if any(arg.star or arg.keyword is not None for arg in call.args):
            return False
        receiver = call.func.value
        if not isinstance(receiver, cst.Name):
            return False
        built = self.flow.definition(receiver.value, statement).value
        return isinstance(built, cst.Call) and (self.ctx.qualified_name(built.func) or "").startswith("accelerate.")

    def _passed(self, scope: Scope, name: str) -> Optional[Remote]:
        """The one instance of a project class every call of the function passes for `name`."""
        assert self.project is not None
        if scope.class_info is not None or scope.parent is None or not scope.parent.is_module:
            return None
        if not isinstance(scope.node, cst.FunctionDef):
            return None
        positional = [p.name.value for p in list(scope.node.params.posonly_params) + list(scope.node.params.params)]
        found: Optional[Remote] = None
        records = self.project.callers(self.project.path, scope.function_name)
        for path, record in records:
            value = record["kw"].get(name)
            if value is None and name in positional and positional.index(name) < len(record["args"]):
                value = record["args"][positional.index(name)]
            passed = self.project.evaluate(value, path, {}) if value is not None else None
            if passed is None or passed.kind != "instance" or (found is not None and passed.detail != found.detail):
                return None
            found = found or passed
        return found

    def class_of(self, value: Optional[Remote]) -> Optional[Tuple[ModuleContext, ClassInfo]]:
        """The class of an instance of a class defined in another file, in that file's module."""
        if value is None or value.kind != "instance" or not self.elsewhere_path(value.detail["class_path"]):
            return None
        module = self.module(value.detail["class_path"])
        info = module.index.class_by_name.get(value.detail["class"]) if module is not None else None
        return (module, info) if module is not None and info is not None else None

    def elsewhere_path(self, path: str) -> bool:
        return self.project is not None and bool(path) and path != self.project.path

    def elsewhere(self, remote: Remote) -> bool:
        return self.project is not None and bool(remote.path) and remote.path != self.project.path

    # -- the code of other files -------------------------------------------------------------------

    def module(self, path: str) -> Optional[ModuleContext]:
        """The parsed module of another project file, with its own (single-file) facts; None when
        it cannot be read or parsed. Parsed once per linted file, only when a check asks."""
        if path not in self._modules:
            self._modules[path] = _parse(path, self.ctx)
        return self._modules[path]

    def project_class(self, func: cst.BaseExpression) -> Optional[Tuple[ModuleContext, ClassInfo]]:
        """The class of another project file that a callee (`GPT`, `model.GPT`) names, in that
        file's module."""
        symbol = self._symbol(func)
        if symbol is None or symbol.kind != "class":
            return None
        module = self.module(symbol.path)
        info = module.index.class_by_name.get(symbol.name) if module is not None else None
        return (module, info) if info is not None else None

    def project_function(self, func: cst.BaseExpression) -> Optional[Tuple[ModuleContext, Scope]]:
        """The module-level function of another project file that a callee names, in that file's
        module."""
        symbol = self._symbol(func)
        if symbol is None or symbol.kind != "function" or "." in symbol.name:
            return None
        module = self.module(symbol.path)
        scope = module.index.functions.get(symbol.name) if module is not None else None
        return (module, scope) if scope is not None else None

    def _symbol(self, func: cst.BaseExpression) -> Optional[Symbol]:
        if self.project is None:
            return None
        name = dotted_name(func)
        if name is None or name.split(".")[0] == "self":
            return None
        found = self.project.symbol(self.project.path, name)
        if found is None or found.path == self.project.path:
            return None
        return found

    def calls_elsewhere(self, scope: Scope) -> List[Tuple[ModuleContext, CallSite]]:
        """The calls of a module-level function of this module that other files of the project
        make (`loss = bounded_ce(model(x), y)` in engine.py), each in its file's module."""
        if self.project is None or scope.class_info is not None or scope.parent is None or not scope.parent.is_module:
            return []
        found = []
        for path, record in self.project.callers(self.project.path, scope.function_name):
            module = self.module(path) if path != self.project.path else None
            site = _call_at(module, record) if module is not None else None
            if site is not None:
                found.append((module, site))
        return found

    def home(self, node: cst.CSTNode) -> Optional[ModuleContext]:
        """The module of another file that holds `node` (None for a node of this module)."""
        for module in self._modules.values():
            if module is not None and node in module.index.top_level_of:
                return module
        return None

    def place(self, node: cst.CSTNode) -> Optional[Tuple[str, Tuple[int, int, int, int]]]:
        """(path, (line, column, end_line, end_column)) of a node of another file's module, 1-based
        columns; None for a node of this module."""
        module = self.home(node)
        if module is None:
            return None
        position = module.position(node)
        return module.path, (
            position.start.line, position.start.column + 1, position.end.line, position.end.column + 1,
        )


def _call_at(module: ModuleContext, record: Dict[str, Any]) -> Optional[CallSite]:
    """The call site of a module that a summary's call record (callee name, place) describes."""
    line, column = record["at"][0], record["at"][1]
    for site in module.index.call_sites.values():
        if site.statement is None or dotted_name(site.node.func) != record["f"]:
            continue
        start = module.position(site.node).start
        if (start.line, start.column + 1) == (line, column):
            return site
    return None


# Modules of other files parsed in this process, by path and content: the files of a project that
# import the same model.py share its parse and its facts (a bounded number, least recently used out).
_PARSED: "OrderedDict[Tuple[str, str], Optional[ModuleContext]]" = OrderedDict()
MAX_PARSED = 16


def _parse(path: str, importer: ModuleContext) -> Optional[ModuleContext]:
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    key = (path, hashlib.sha256(data).hexdigest())
    if key in _PARSED:
        _PARSED.move_to_end(key)
        module = _PARSED[key]
        if module is not None:
            module.deadline = importer.deadline  # its facts are computed within the importer's budget
        return module
    module = _parse_text(path, data, importer)
    _PARSED[key] = module
    if len(_PARSED) > MAX_PARSED:
        _PARSED.popitem(last=False)
    return module


def _parse_text(path: str, data: bytes, importer: ModuleContext) -> Optional[ModuleContext]:
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        text = data.decode(encoding)
        tree = cst.parse_module(text)
    except Exception:  # noqa: BLE001 - an unreadable module tells nothing; its own lint reports it
        return None
    module = ModuleContext(path, text, tree, importer.deadline)
    try:
        walk(tree, [], before_visit=module.index.before_visit, after_leave=module.index.after_leave)
    except RecursionError:
        return None
    return module


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
