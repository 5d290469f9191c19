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
from dataclasses import dataclass
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
# how deep `tree` writes one value: nested calls, containers and the local names it follows
TREE_DEPTH = 16


@dataclass(frozen=True)
class Context:
    """One call site's values for the parameters of the function of `scope`."""

    scope: Scope
    values: Tuple[Tuple[str, Optional[Remote]], ...]


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
        self._contexts: Dict[int, Optional[List[Context]]] = {}
        self._placed: Dict[int, int] = {}
        self._nodes: List[cst.CSTNode] = []
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
        """An instance of a project class, like `value`, also through methods that return their
        receiver (`Net().to(device)`), `accelerator.prepare`, and a parameter of a function, from
        what its call sites anywhere in the project pass (`train_one_epoch(model, ...)` in
        train.py)."""
        if self.project is None or depth > MAX_DEPTH:
            return None
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in PASSTHROUGH_METHODS:
            return self.instance(expr.func.value, statement, depth + 1)
        if isinstance(expr, cst.Call) and self._prepares(expr, statement) and len(expr.args) == 1:
            return self.instance(expr.args[0].value, statement, depth + 1)  # model = accelerator.prepare(model)
        dotted = dotted_name(expr)
        if dotted is not None and dotted.startswith("self.") and dotted.count(".") == 1:
            # self.model, assigned once in the class (`self.model = model.to(device)` in __init__)
            assigned = self.flow.self_attribute_definitions(dotted, statement) or []
            if len(assigned) == 1 and assigned[0].kind == "assign" and assigned[0].value is not None and assigned[0].statement is not None:
                return self.instance(assigned[0].value, assigned[0].statement, depth + 1)
            return None
        if isinstance(expr, cst.Name):
            definition = self.flow.definition(expr.value, statement)
            at = definition.statement
            if definition.kind == "param" and definition.scope is not None:
                return self.parameter_instance(definition.scope, expr.value)
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

    def parameter_instance(self, scope: Scope, name: str) -> Optional[Remote]:
        """The instance of a project class that every call site of the function of `scope` (or
        construction of its class, for `__init__`) passes for parameter `name`."""
        if self.project is None:
            return None
        passed = self._passed_values(scope, name)
        return passed if passed is not None and passed.kind == "instance" else None

    def class_of(self, value: Optional[Remote]) -> Optional[Tuple[ModuleContext, ClassInfo]]:
        """The class of an instance of a class defined in another file, in that file's module."""
        if value is None or value.kind != "instance" or not self.elsewhere_path(value.detail["class_path"]):
            return None
        module = self.module(value.detail["class_path"])
        info = module.index.class_by_name.get(value.detail["class"]) if module is not None else None
        return (module, info) if module is not None and info is not None else None

    def elsewhere_path(self, path: str) -> bool:
        return self.project is not None and bool(path) and path != self.project.path

    # -- values built here from what other modules give --------------------------------------------

    def abstract(
        self, expr: cst.BaseExpression, statement: Statement, context: Optional[Context] = None
    ) -> Optional[Remote]:
        """What `expr` is, evaluated with the project's summaries (its own module included); None
        when unknown or without project analysis. `context`: one call site's values for the
        parameters of the function `statement` is in (see `contexts`); without it a parameter is
        what every call site passes (an `either` when they differ)."""
        if self.project is None:
            return None
        value = self.tree(expr, statement, context)
        return self.project.evaluate(value, self.project.path, dict(context.values) if context is not None else {})

    def contexts(self, scope: Scope) -> Optional[List[Context]]:
        """One `Context` per call site, anywhere in the project, of the function of `scope` (a
        module-level function, or the `__init__` of a module-level class): the value each
        parameter gets there (passed, else its default). None when there is no call site or one
        passes `*args`; unknown values are None. Values evaluated per call site stay paired
        (`fit(resnet, loader_a)` and `fit(cnn, loader_b)` never give `resnet` with `loader_b`)."""
        assert self.project is not None
        key = id(scope)
        if key in self._contexts:
            return self._contexts[key]
        self._contexts[key] = None
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
        found: List[Context] = []
        for caller_path, record in sites:
            if UNKNOWN in record["args"] and len(record["args"]) < len(params):
                return None  # `f(*args)`: which parameter gets what cannot be told
            values = {name: self._argument(caller_path, record, params, symbol, name) for name in params}
            found.append(Context(scope, tuple(sorted(values.items()))))
        self._contexts[key] = found
        return found

    def _argument(self, caller_path: str, record: Dict[str, Any], params: List[str], callee: Symbol, name: str, depth: int = 0) -> Optional[Remote]:
        """What the call `record` (in `caller_path`) passes for parameter `name` of `callee`. A
        parameter of the caller handed on (`def build(split, transform): return Dataset(...,
        transform=transform)`) is what the caller's own call sites pass, two levels deep."""
        assert self.project is not None
        if name in record["kw"]:
            passed = record["kw"][name]
        elif name in params and params.index(name) < len(record["args"]):
            passed = record["args"][params.index(name)]
        elif name in callee.data["defaults"]:
            return self.project.evaluate(callee.data["defaults"][name], callee.path, {})
        else:
            return None
        value = self.project.evaluate(passed, caller_path, {})
        scope = record.get("scope", "")
        if value is not None or "p" not in passed or depth >= 2 or not scope or "." in scope or scope == "<module>":
            return value
        caller = self.project.function(caller_path, scope)
        if caller is None:
            return None
        found: List[Remote] = []
        for outer_path, outer in self.project.callers(caller_path, scope):
            inner = self._argument(outer_path, outer, list(caller.data["params"]), caller, passed["p"], depth + 1)
            if inner is None:
                return None
            found.extend(option for option in options(inner) if not any(_same(option, seen) for seen in found))
        if not found:
            return None
        return found[0] if len(found) == 1 else Remote("either", caller_path, None, items=found)

    def _passed_values(self, scope: Scope, name: str) -> Optional[Remote]:
        """What the call sites of the project pass for parameter `name` of the function of `scope`:
        one value (the same construction at every site), an `either` of several, None when a call
        site passes something unknown or there is none."""
        found: List[Remote] = []
        for context in self.contexts(scope) or [None]:
            value = dict(context.values).get(name) if context is not None else None
            if value is None:
                return None
            for option in options(value):
                if not any(_same(option, seen) for seen in found):
                    found.append(option)
        if len(found) == 1:
            return found[0]
        assert self.project is not None
        return Remote("either", self.project.path, None, items=found)

    def tree(self, expr: cst.BaseExpression, statement: Statement, context: Optional[Context] = None, depth: int = 0) -> Dict[str, Any]:
        """`expr` as a summary value of this module, local names replaced by their values. A
        parameter of the context's function is `{"p": name}`; one of another function is what its
        call sites pass (`{"known": Remote}`)."""
        if depth > TREE_DEPTH:
            return UNKNOWN
        constant = literal(expr)
        if constant is not UNKNOWN:
            return constant
        if isinstance(expr, cst.Name):
            definition = self.flow.definition(expr.value, statement)
            if definition.kind == "assign" and definition.value is not None and definition.statement is not None:
                return self.tree(definition.value, definition.statement, context, depth + 1)
            if definition.kind == "unpacked" and definition.value is not None and definition.statement is not None:
                node = definition.statement.node
                if isinstance(node, cst.Assign) and len(node.targets) == 1:
                    names = [dotted_name(e) for e in sequence_elements(node.targets[0].target) or ()]
                    if expr.value in names:
                        container = self.tree(definition.value, definition.statement, context, depth + 1)
                        return {"item": container, "i": names.index(expr.value)}
                return UNKNOWN
            if definition.kind == "param" and definition.scope is not None:
                if context is not None and definition.scope is context.scope:
                    return {"p": expr.value}
                passed = self._passed_values(definition.scope, expr.value)
                return {"known": passed} if passed is not None else UNKNOWN
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
                        return self.tree(only.value, only.statement, context, depth + 1)
                return UNKNOWN
            if name is not None:
                root = self.flow.definition(name.split(".")[0], statement)
                if root.kind in ("import", "class", "function"):
                    return {"n": name}
            return {"attr": self.tree(expr.value, statement, context, depth + 1), "a": expr.attr.value}
        if isinstance(expr, cst.Call):
            if any(arg.star for arg in expr.args):
                return UNKNOWN
            return {
                "call": self.tree(expr.func, statement, context, depth + 1),
                "args": [self.tree(a.value, statement, context, depth + 1) for a in expr.args if a.keyword is None],
                "kw": {
                    a.keyword.value: self.tree(a.value, statement, context, depth + 1) for a in expr.args if a.keyword is not None
                },
                "at": self._place_of(expr),
            }
        if isinstance(expr, (cst.Tuple, cst.List)):
            if any(isinstance(e, cst.StarredElement) for e in expr.elements):
                return UNKNOWN
            return {"seq": [self.tree(e.value, statement, context, depth + 1) for e in expr.elements]}
        if isinstance(expr, cst.IfExp):
            either = {
                "either": [self.tree(expr.body, statement, context, depth + 1), self.tree(expr.orelse, statement, context, depth + 1)]
            }
            if isinstance(expr.test, (cst.Name, cst.Attribute)) or literal(expr.test) is not UNKNOWN:
                either["if"] = self.tree(expr.test, statement, context, depth + 1)
            return either
        if isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index):
            index = literal(expr.slice[0].slice.value).get("c")
            if isinstance(index, (int, str)) and not isinstance(index, bool):
                return {"item": self.tree(expr.value, statement, context, depth + 1), "i": index}
        return UNKNOWN

    def _place_of(self, node: cst.CSTNode) -> List[int]:
        """A stand-in `at` for a construction of this module: `[0, k, 0, 0]` names the k-th node
        placed; `located(at)` gives its real position. Positions cost a layout of the statement, so
        only the ones a finding reports are computed (`located`)."""
        key = id(node)
        if key not in self._placed:
            self._placed[key] = len(self._nodes)
            self._nodes.append(node)
        return [0, self._placed[key], 0, 0]

    def located(self, at: List[int]) -> Tuple[int, int, int, int]:
        """[line, column, end line, end column] of a construction (1-based columns)."""
        if at[0] != 0:
            return tuple(at)  # type: ignore[return-value]
        position = self.ctx.position(self._nodes[at[1]])
        return (position.start.line, position.start.column + 1, position.end.line, position.end.column + 1)

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

    def project_function(
        self, func: cst.BaseExpression, containing: Tuple[str, ...] = ()
    ) -> Optional[Tuple[ModuleContext, Scope]]:
        """The module-level function of another project file that a callee names, in that file's
        module. `containing`: texts one of which that file must hold to be worth parsing."""
        symbol = self._symbol(func)
        if symbol is None or symbol.kind != "function" or "." in symbol.name:
            return None
        if containing and not any(text in line for line in self.project.lines(symbol.path) for text in containing):
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


def _same(a: Remote, b: Remote) -> bool:
    """The same construction (one call site's value reaching a parameter from several sites)."""
    return a is b or (a.at is not None and a.kind == b.kind and a.path == b.path and a.at == b.at)


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
