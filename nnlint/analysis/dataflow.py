"""Data flow inside one module: where a name's value comes from, and where a value goes.

Flow is followed in source order over the index's statements, through assignments, augmented
assignments, helper functions that return the value, and helper functions that receive it as an
argument. It is deliberately simple (no branch sensitivity, no aliasing through containers):
checks use it to be *sure* a value reaches a place, so what it cannot follow counts as not
reaching.
"""

from __future__ import annotations

import ast
from bisect import bisect_left
from dataclasses import dataclass
from typing import Callable, Dict, FrozenSet, Iterable, Iterator, List, Optional, Set, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.index import CallSite, ClassInfo, Scope, Statement
from nnlint.analysis.names import (
    assigned_names,
    positional_args,
    callee_terminal_name,
    dotted_name,
    has_star_args,
    keyword_arg,
    sequence_elements,
    string_value,
)

# --- where values come from -------------------------------------------------------------------


@dataclass(frozen=True)
class Definition:
    """How a name got its value at some point of the code.

    kind is one of: assign (value is the assigned expression), augassign (value is the added
    expression), loop (value is the iterable), with (value is the context expression), param,
    function, class, import, unknown.
    """

    kind: str
    value: Optional[cst.BaseExpression] = None
    statement: Optional[Statement] = None
    param: Optional[cst.Param] = None
    scope: Optional[Scope] = None

    @property
    def is_module_level(self) -> bool:
        return self.scope is not None and self.scope.is_module


UNKNOWN = Definition("unknown")


def _bindings_of(statement: Statement) -> Iterator[Tuple[str, Definition]]:
    """The names a statement binds and how."""
    node = statement.node
    scope = statement.scope
    if isinstance(node, cst.Assign):
        for target in node.targets:
            yield from _assignment_bindings(target.target, node.value, "assign", statement)
    elif isinstance(node, cst.AnnAssign) and node.value is not None:
        yield from _assignment_bindings(node.target, node.value, "assign", statement)
    elif isinstance(node, cst.AugAssign):
        key = dotted_name(node.target)
        if key is not None:
            yield key, Definition("augassign", node.value, statement, scope=scope)
    elif isinstance(node, cst.For):
        for bound in assigned_names(node.target):
            key = dotted_name(bound)
            if key is not None:
                yield key, Definition("loop", node.iter, statement, scope=scope)
    elif isinstance(node, cst.With):
        for item in node.items:
            if item.asname is not None:
                for bound in assigned_names(item.asname.name):
                    key = dotted_name(bound)
                    if key is not None:
                        yield key, Definition("with", item.item, statement, scope=scope)
    elif isinstance(node, cst.FunctionDef):
        yield node.name.value, Definition("function", None, statement, scope=scope)
    elif isinstance(node, cst.ClassDef):
        yield node.name.value, Definition("class", None, statement, scope=scope)
    elif isinstance(node, (cst.Import, cst.ImportFrom)) and not isinstance(node.names, cst.ImportStar):
        for alias in node.names:
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            else:
                local = (dotted_name(alias.name) or "").split(".")[0]
            yield local, Definition("import", None, statement, scope=scope)


def _assignment_bindings(
    target: cst.BaseExpression, value: cst.BaseExpression, kind: str, statement: Statement
) -> Iterator[Tuple[str, Definition]]:
    targets = sequence_elements(target)
    values = sequence_elements(value)
    if targets is None and isinstance(target, (cst.Tuple, cst.List)):
        # `*rest, h, w = x.shape`: every name is bound, none element-wise
        for bound in assigned_names(target):
            key = dotted_name(bound)
            if key is not None:
                yield key, Definition("unpacked", value, statement, scope=statement.scope)
        return
    if targets is not None:
        # `x, y = a, b` pairs element-wise; `x, y = f()` leaves both unknown
        for index, element in enumerate(targets):
            element_value = values[index] if values is not None and len(values) == len(targets) else None
            if element_value is None:
                for bound in assigned_names(element):
                    key = dotted_name(bound)
                    if key is not None:
                        yield key, Definition("unpacked", value, statement, scope=statement.scope)
            else:
                yield from _assignment_bindings(element, element_value, kind, statement)
        return
    key = dotted_name(target)
    if key is not None:
        yield key, Definition(kind, value, statement, scope=statement.scope)


class _ScopeBindings:
    """name -> definitions in statement order, for one scope."""

    def __init__(self, scope: Scope) -> None:
        self.positions: Dict[str, List[int]] = {}
        self.definitions: Dict[str, List[Definition]] = {}
        for statement in scope.statements:
            for name, definition in _bindings_of(statement):
                self.positions.setdefault(name, []).append(statement.position)
                self.definitions.setdefault(name, []).append(definition)

    def before(self, name: str, position: int) -> Optional[Definition]:
        positions = self.positions.get(name)
        if not positions:
            return None
        index = bisect_left(positions, position)
        return self.definitions[name][index - 1] if index > 0 else None

    def last(self, name: str) -> Optional[Definition]:
        definitions = self.definitions.get(name)
        return definitions[-1] if definitions else None

    def all(self, name: str) -> List[Definition]:
        return self.definitions.get(name, [])


# --- literal parameter values and the branches they decide -----------------------------------------

#: (parameter name, literal source) pairs, sorted: hashable, so facts can cache per call context
Constants = Tuple[Tuple[str, str], ...]


def literal_code(expr: cst.BaseExpression) -> Optional[str]:
    """Source of a literal (number, string, True/False/None, tuple/list of literals), else None."""
    if isinstance(expr, (cst.Integer, cst.Float, cst.SimpleString)):
        return expr.value
    if isinstance(expr, cst.Name) and expr.value in ("True", "False", "None"):
        return expr.value
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        inner = literal_code(expr.expression)
        return f"-{inner}" if inner is not None else None
    if isinstance(expr, (cst.Tuple, cst.List)):
        parts = [literal_code(element.value) for element in expr.elements]
        return None if None in parts else "(" + ", ".join(parts) + ",)"  # type: ignore[arg-type]
    return None


def _literal(expr: cst.BaseExpression, values: Dict[str, str]):
    """(known, value) of an expression made of literals and parameters with known values."""
    if isinstance(expr, cst.Name) and expr.value in values:
        code = values[expr.value]
    else:
        code = literal_code(expr)
    if code is None:
        return False, None
    try:
        return True, ast.literal_eval(code)
    except (ValueError, SyntaxError):
        return False, None


def condition_value(test: cst.BaseExpression, values: Dict[str, str]) -> Optional[bool]:
    """The truth of an `if` test when it only reads parameters of known literal value:
    `train`, `not train`, `split == "train"`, `mode in ("train", "finetune")`, `a and b`."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        inner = condition_value(test.expression, values)
        return None if inner is None else not inner
    if isinstance(test, cst.BooleanOperation):
        left, right = condition_value(test.left, values), condition_value(test.right, values)
        if isinstance(test.operator, cst.And):
            return False if False in (left, right) else (True if left and right else None)
        return True if True in (left, right) else (False if left is False and right is False else None)
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        known_left, left = _literal(test.left, values)
        known_right, right = _literal(test.comparisons[0].comparator, values)
        if not (known_left and known_right):
            return None
        operator = test.comparisons[0].operator
        try:
            if isinstance(operator, (cst.Equal, cst.Is)):
                return left == right
            if isinstance(operator, (cst.NotEqual, cst.IsNot)):
                return left != right
            if isinstance(operator, cst.In):
                return left in right
            if isinstance(operator, cst.NotIn):
                return left not in right
        except TypeError:
            return None
        return None
    if isinstance(test, cst.Name) and test.value in values:
        known, value = _literal(test, values)
        return bool(value) if known else None
    return None


# --- where values go --------------------------------------------------------------------------


@dataclass(frozen=True)
class CarryPolicy:
    """Which operations pass a value on into their result, for one question.

    For "is this still the loss?" arithmetic, reductions and device moves carry the value; a call
    to a loss function or a model does not (the value became an input of something else).
    """

    binary_operators: Tuple[type, ...] = (cst.Add, cst.Subtract, cst.Multiply, cst.Divide)
    unary_operators: Tuple[type, ...] = (cst.Minus, cst.Plus)
    # x.method(...) carries x
    receiver_methods: FrozenSet[str] = frozenset()
    # anything.method(x, ...) carries its first positional argument (scaler.scale(loss))
    argument_methods: FrozenSet[str] = frozenset()
    # qualified functions whose positional arguments are all carried (torch.mean(x), sum([...]))
    functions: FrozenSet[str] = frozenset()
    # tuple/list elements are carried
    containers: bool = True
    # dict values carried only under these string keys (None: every value)
    dict_keys: Optional[FrozenSet[str]] = None

    def carried_parts(self, node: cst.CSTNode, ctx: ModuleContext) -> Iterable[cst.BaseExpression]:
        if isinstance(node, cst.BinaryOperation):
            if isinstance(node.operator, self.binary_operators):
                return (node.left, node.right)
        elif isinstance(node, cst.UnaryOperation):
            if isinstance(node.operator, self.unary_operators):
                return (node.expression,)
        elif isinstance(node, cst.IfExp):
            return (node.body, node.orelse)
        elif isinstance(node, (cst.Tuple, cst.List)):
            if self.containers:
                return [element.value for element in node.elements]
        elif isinstance(node, cst.Dict):
            return [
                element.value
                for element in node.elements
                if isinstance(element, cst.DictElement)
                and (self.dict_keys is None or string_value(element.key) in self.dict_keys)
            ]
        elif isinstance(node, cst.Call):
            return self._carried_by_call(node, ctx)
        return ()

    def _carried_by_call(self, call: cst.Call, ctx: ModuleContext) -> List[cst.BaseExpression]:
        parts: List[cst.BaseExpression] = []
        qualified = ctx.qualified_name(call.func)
        if qualified is not None and qualified in self.functions:
            return [arg.value for arg in call.args if arg.keyword is None]
        if isinstance(call.func, cst.Attribute):
            method = call.func.attr.value
            if method in self.receiver_methods and qualified is None:
                parts.append(call.func.value)
            if method in self.argument_methods and call.args and call.args[0].keyword is None:
                parts.append(call.args[0].value)
        return parts


@dataclass(frozen=True)
class SinkHit:
    """The place a followed value reached, with a short description for messages."""

    node: cst.CSTNode
    description: str


class Sinks:
    """What counts as "reached" for one question. Subclasses override the two hooks."""

    def match_call(self, site: CallSite, carries: Callable[[cst.BaseExpression], bool]) -> Optional[SinkHit]:
        return None

    def match_return(self, scope: Scope, node: cst.Return) -> Optional[SinkHit]:
        return None


class DataFlow:
    """Per-module data-flow queries. Get it with ``ctx.fact(DataFlow)``."""

    MAX_CALL_DEPTH = 2

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self._bindings: Dict[int, _ScopeBindings] = {}
        self._calls_by_name: Optional[Dict[str, List[CallSite]]] = None
        self._attribute_definitions: Dict[Tuple[int, str], List[Definition]] = {}
        self._instance_calls_by_class: Optional[Dict[int, List[CallSite]]] = None
        self._direct_calls_index: Optional[Dict[Tuple[Optional[int], str], List[CallSite]]] = None

    # -- definitions -----------------------------------------------------------------------------

    def _scope_bindings(self, scope: Scope) -> _ScopeBindings:
        bindings = self._bindings.get(id(scope))
        if bindings is None:
            bindings = self._bindings[id(scope)] = _ScopeBindings(scope)
        return bindings

    def definition(self, name: str, statement: Statement) -> Definition:
        """The definition of a (dotted) name that reaches `statement`: the last binding before it
        in its scope, else a parameter, else the binding in an enclosing scope."""
        scope: Optional[Scope] = statement.scope
        found = self._scope_bindings(scope).before(name, statement.position)
        if found is not None:
            return found
        if "." not in name and scope.parameter(name) is not None:
            return Definition("param", param=scope.parameter(name), scope=scope)
        scope = scope.parent
        while scope is not None:
            # an enclosing scope has usually run to completion when the inner function runs
            found = self._scope_bindings(scope).last(name)
            if found is not None:
                return found
            if "." not in name and scope.parameter(name) is not None:
                return Definition("param", param=scope.parameter(name), scope=scope)
            scope = scope.parent
        return UNKNOWN

    def bindings_in(self, scope: Scope, name: str) -> List[Definition]:
        """Every binding of a (dotted) name in one scope, in statement order."""
        return self._scope_bindings(scope).all(name)

    # -- definitions along the branches a call takes ---------------------------------------------

    def call_constants(self, site: CallSite, callee: Scope) -> Constants:
        """The literal value each parameter of `callee` gets at this call (passed, or its default):
        `(("train", "True"),)` for `get_transforms(train=True)`."""
        if not isinstance(callee.node, cst.FunctionDef) or has_star_args(site.node):
            return ()
        signature = callee.node.params
        positional = [p for p in list(signature.posonly_params) + list(signature.params)]
        if callee.class_info is not None and positional and positional[0].name.value in ("self", "cls"):
            positional = positional[1:]
        values: Dict[str, cst.BaseExpression] = {}
        for param in positional + list(signature.kwonly_params):
            if param.default is not None:
                values[param.name.value] = param.default
        index = 0
        for arg in site.node.args:
            if arg.keyword is not None:
                values[arg.keyword.value] = arg.value
            elif index < len(positional):
                values[positional[index].name.value] = arg.value
                index += 1
        return tuple(sorted((name, literal_code(value)) for name, value in values.items() if literal_code(value) is not None))

    def definition_given(self, name: str, statement: Statement, constants: Constants) -> Definition:
        """Like `definition`, skipping bindings in `if` branches that the parameter values in
        `constants` rule out (`if train: tf = ... else: tf = ...` with train=True)."""
        if not constants:
            return self.definition(name, statement)
        bindings = self._scope_bindings(statement.scope)
        positions = bindings.positions.get(name, [])
        definitions = bindings.definitions.get(name, [])
        values = dict(constants)
        for index in range(bisect_left(positions, statement.position) - 1, -1, -1):
            candidate = definitions[index]
            if candidate.statement is None or self._feasible(candidate.statement, statement, values):
                return candidate
        return self.definition(name, statement)

    @staticmethod
    def _feasible(binding: Statement, use: Statement, values: Dict[str, str]) -> bool:
        for block in binding.blocks:
            if block in use.blocks or not isinstance(block, cst.If):
                continue
            taken = condition_value(block.test, values)
            if taken is not None and taken == binding.in_else_of(block):
                return False
        return True

    def with_derived_flags(self, scope: Scope, values: Dict[str, str]) -> Dict[str, str]:
        """`values` plus the flags the function computes from them once, unconditionally:
        `train = optimizer is not None` with optimizer=None adds train=False."""
        derived = dict(values)
        bindings = self._scope_bindings(scope)
        for statement in scope.statements:
            node = statement.node
            if statement.scope is not scope or statement.blocks or not isinstance(node, cst.Assign):
                continue
            if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
                continue
            name = node.targets[0].target.value
            truth = condition_value(node.value, derived)
            if truth is not None and len(bindings.positions.get(name, [])) == 1 and scope.parameter(name) is None:
                derived[name] = str(truth)
        return derived

    @staticmethod
    def branch_verdict(statement: Statement, values: Dict[str, str]) -> Optional[bool]:
        """Whether `statement` runs, as far as `if` tests on known parameter values decide it:
        False when some test rules it out, True when every enclosing block is such an `if` that
        leads to it, None otherwise (loops, unknown tests)."""
        certain = True
        for block in statement.blocks:
            if not isinstance(block, cst.If):
                certain = False
                continue
            taken = condition_value(block.test, values)
            if taken is None:
                certain = False
            elif taken == statement.in_else_of(block):
                return False
        return True if certain else None

    def reachable_returns(self, callee: Scope, values: Dict[str, str]) -> List[Statement]:
        """The return statements of `callee` that literal parameter values let run, in order,
        stopping after the first one that certainly runs."""
        found = []
        for statement in callee.statements:
            if not isinstance(statement.node, cst.Return) or statement.scope is not callee:
                continue
            verdict = self.branch_verdict(statement, values)
            if verdict is False:
                continue
            found.append(statement)
            if verdict is True:
                break
        return found

    def module_definitions(self, name: str) -> List[Definition]:
        module_scope = self.ctx.index.module_scope
        return self._scope_bindings(module_scope).all(name) if module_scope else []

    def self_attribute_definitions(self, dotted: str, statement: Statement) -> Optional[List[Definition]]:
        """`self.<attribute>` read in a method: every assignment of it in the methods of the class;
        None when `dotted` is not `self.<attribute>` or no class encloses the statement."""
        if not dotted.startswith("self.") or dotted.count(".") != 1:
            return None
        owner = self.ctx.index.enclosing_class(statement.scope)
        return self.attribute_definitions(owner, dotted[len("self."):]) if owner is not None else None

    def attribute_definitions(self, class_info: ClassInfo, attribute: str) -> List[Definition]:
        """Every `self.<attribute> = ...` in the methods of a class."""
        key = (id(class_info), attribute)
        cached = self._attribute_definitions.get(key)
        if cached is None:
            cached = []
            for method in class_info.methods.values():
                cached.extend(self._scope_bindings(method).all(f"self.{attribute}"))
            self._attribute_definitions[key] = cached
        return cached

    # -- callers and callees -----------------------------------------------------------------------

    def call_sites_named(self, name: str) -> List[CallSite]:
        if self._calls_by_name is None:
            by_name: Dict[str, List[CallSite]] = {}
            for site in self.ctx.index.call_sites.values():
                terminal = callee_terminal_name(site.node)
                if terminal is not None:
                    by_name.setdefault(terminal, []).append(site)
            self._calls_by_name = by_name
        return self._calls_by_name.get(name, [])

    def callers(self, scope: Scope) -> List[CallSite]:
        """Call sites in this module that call the function of `scope`: `helper(...)` for a
        module-level function, `self.helper(...)` inside the same class for a method, and
        `instance(...)` for the `forward` of a module class (`model = Net(); model(x)`). Constructions
        (`Net(...)` for `__init__`) are left out: see `callers_and_constructions`."""
        if scope.is_module:
            return []
        name = scope.function_name
        sites: List[CallSite] = []
        if scope.class_info is None and scope.parent is not None and scope.parent.is_module:
            if self.ctx.index.functions.get(name) is scope:
                sites.extend(self._direct_calls().get((None, name), []))
        elif scope.class_info is not None:
            sites.extend(self._direct_calls().get((id(scope.class_info), name), []))
        if scope.class_info is not None and name == "forward":
            sites.extend(self._instance_calls(scope.class_info))
        return sites

    def _direct_calls(self) -> Dict[Tuple[Optional[int], str], List[CallSite]]:
        """Every `name(...)` under (None, name) and every `self.name(...)` / `cls.name(...)` under
        (id of the enclosing class, name), in source order: built in one pass, so that finding a
        function's callers never scans every call with the same name (`__init__`, `step`)."""
        if self._direct_calls_index is None:
            index: Dict[Tuple[Optional[int], str], List[CallSite]] = {}
            for site in self.ctx.index.call_sites.values():
                func = site.node.func
                if isinstance(func, cst.Name):
                    index.setdefault((None, func.value), []).append(site)
                elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value in ("self", "cls"):
                    owner = self.ctx.index.enclosing_class(site.scope)
                    if owner is not None:
                        index.setdefault((id(owner), func.attr.value), []).append(site)
            self._direct_calls_index = index
        return self._direct_calls_index

    def constructions(self, class_info: ClassInfo) -> List[CallSite]:
        """`Embedder(weights)`: the calls of this module that build an instance of one of its classes."""
        sites = []
        for site in self.call_sites_named(class_info.name):
            if isinstance(site.node.func, cst.Name) and site.statement is not None:
                definition = self.definition(class_info.name, site.statement)
                if definition.kind == "class" and definition.statement is not None and definition.statement.node is class_info.node:
                    sites.append(site)
        return sites

    def callers_and_constructions(self, scope: Scope) -> List[CallSite]:
        """`callers`, with the constructions `Cls(...)` of a module-level class for its `__init__`."""
        sites = [site for site in self.callers(scope) if site.statement is not None]
        owner = scope.class_info
        if scope.function_name == "__init__" and owner is not None and owner.defined_in.is_module:
            sites.extend(self.constructions(owner))
        return sites

    @staticmethod
    def argument_for(scope: Scope, name: str, call: cst.Call) -> Optional[cst.BaseExpression]:
        """The expression `call` passes for parameter `name` of the function of `scope`; None when it
        passes none or that cannot be told (`*args`)."""
        if not isinstance(scope.node, cst.FunctionDef):
            return None
        value = keyword_arg(call, name)
        if value is not None:
            return value
        params = [p.name.value for p in list(scope.node.params.posonly_params) + list(scope.node.params.params)]
        if scope.class_info is not None and params and params[0] in ("self", "cls"):
            params = params[1:]
        if name not in params or has_star_args(call):
            return None
        index = params.index(name)
        positional = positional_args(call)
        return positional[index] if index < len(positional) else None

    def argument_values(self, scope: Scope, name: str) -> Optional[List[Tuple[cst.BaseExpression, Statement]]]:
        """What every call of `scope` this module shows passes for `name` (the parameter's default
        where a call passes nothing); None when some call cannot be read or there is no call."""
        parameter = scope.parameter(name)
        found = []
        for site in self.callers_and_constructions(scope):
            value = self.argument_for(scope, name, site.node)
            if value is None and not has_star_args(site.node) and parameter is not None:
                value = parameter.default
            if value is None:
                return None
            found.append((value, site.statement))
        return found or None

    def _instance_calls(self, class_info: ClassInfo) -> List[CallSite]:
        """Calls of instances of a class: `criterion(out, y)` after `criterion = FocalLoss()`."""
        if self._instance_calls_by_class is None:
            # one pass over the calls for every class: a pass per class would cost classes x calls
            by_class: Dict[int, List[CallSite]] = {}
            for site in self.ctx.index.call_sites.values():
                if site.statement is not None:
                    instance_of = self.instance_class(site.node.func, site.statement)
                    if instance_of is not None:
                        by_class.setdefault(id(instance_of), []).append(site)
            self._instance_calls_by_class = by_class
        return self._instance_calls_by_class.get(id(class_info), [])

    def instance_class(self, expr: cst.BaseExpression, statement: Statement) -> Optional[ClassInfo]:
        """The class of this module that `expr` (a name or `self.attr`) is an instance of, when
        the module shows the construction: `net = Net(...)`, `self.net = Net(...).to(device)`."""
        dotted = dotted_name(expr)
        if dotted is None:
            return None
        values: List[Optional[cst.BaseExpression]] = []
        definition = self.definition(dotted, statement)
        if definition.kind == "assign":
            values.append(definition.value)
        else:
            values.extend(d.value for d in self.self_attribute_definitions(dotted, statement) or () if d.kind == "assign")
        for value in values:
            # strip `.to(device)`, `.cuda()`, `.train()` and other chained calls
            while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and isinstance(value.func.value, cst.Call):
                value = value.func.value
            if isinstance(value, cst.Call) and isinstance(value.func, cst.Name):
                found = self.ctx.index.class_by_name.get(value.func.value)
                if found is not None and self.ctx.imports.qualify(value.func.value) is None:
                    return found
        return None

    def callee(self, site: CallSite) -> Optional[Scope]:
        """The function of this module a call runs, when the module shows it."""
        func = site.node.func
        if isinstance(func, cst.Name):
            definition = self.definition(func.value, site.statement) if site.statement else UNKNOWN
            if definition.kind == "function":
                return self.ctx.index.scope_of_function(definition.statement.node)  # type: ignore[arg-type]
            if site.statement is not None:
                instance_of = self.instance_class(func, site.statement)
                if instance_of is not None:
                    return instance_of.methods.get("forward")
            return None
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
            owner = self.ctx.index.enclosing_class(site.scope)
            if owner is not None:
                method = owner.methods.get(func.attr.value)
                if method is not None:
                    return method
                # self.criterion(...) where self.criterion = FocalLoss()
                instance_of = self.instance_class(func, site.statement) if site.statement else None
                if instance_of is not None:
                    return instance_of.methods.get("forward")
        return None

    # -- following a value forward -------------------------------------------------------------

    def carries(
        self,
        expr: cst.BaseExpression,
        policy: CarryPolicy,
        is_source: Callable[[cst.BaseExpression], bool],
    ) -> bool:
        """Whether `expr`'s value is (built from) a source value through operations the policy
        says carry it."""
        pending: List[cst.BaseExpression] = [expr]
        while pending:
            node = pending.pop()
            if is_source(node):
                return True
            pending.extend(policy.carried_parts(node, self.ctx))
        return False

    def find_sink(
        self,
        start: cst.CSTNode,
        statement: Statement,
        policy: CarryPolicy,
        sinks: Sinks,
        also_tainted: Iterable[str] = (),
    ) -> Optional[SinkHit]:
        """Follow the value of `start` (a node inside `statement`) forward and return the first
        sink it reaches, or None.

        `also_tainted` names values that hold the followed value from `statement` on (for
        in-place operations such as `loss.clamp_(max=5)`).
        """
        return self._walk(start, statement, set(also_tainted), policy, sinks, None, 0, set())

    def _walk(
        self,
        start: Optional[cst.CSTNode],
        statement: Statement,
        tainted: Set[str],
        policy: CarryPolicy,
        sinks: Sinks,
        return_to: Optional[CallSite],
        depth: int,
        seen: Set[Tuple[int, int]],
    ) -> Optional[SinkHit]:
        """One forward walk through a scope from `statement` on. `return_to` is the call site a
        return continues at when the walk entered this function through that call."""
        key = (id(start), id(statement))
        if key in seen or depth > self.MAX_CALL_DEPTH:
            return None
        seen.add(key)

        def is_source(node: cst.BaseExpression) -> bool:
            if node is start:
                return True
            if tainted and isinstance(node, (cst.Name, cst.Attribute)):
                return dotted_name(node) in tainted
            return False

        def carries(expr: cst.BaseExpression) -> bool:
            return self.carries(expr, policy, is_source)

        for current in statement.scope.statements[statement.position :]:
            self.ctx.deadline.check()
            for site in current.calls:
                hit = sinks.match_call(site, carries)
                if hit is not None:
                    return hit
                receiving = self._callee_receiving(site, carries)
                if receiving is not None:
                    callee, parameters = receiving
                    hit = self._walk(
                        None, callee.statements[0], parameters, policy, sinks, site, depth + 1, seen
                    )
                    if hit is not None:
                        return hit
            node = current.node
            if isinstance(node, (cst.Assign, cst.AnnAssign)) and node.value is not None:
                targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
                for target in targets:
                    _update_taint(target, node.value, tainted, carries)
            elif isinstance(node, cst.AugAssign):
                name = dotted_name(node.target)
                if name is not None and carries(node.value):
                    tainted.add(name)
            elif isinstance(node, cst.Return) and node.value is not None and carries(node.value):
                hit = sinks.match_return(current.scope, node)
                if hit is not None:
                    return hit
                # back to the call that brought us here (one level up again), or else up to
                # every caller of this function (one level further from the start)
                callers = [return_to] if return_to is not None else self.callers(current.scope)
                caller_depth = depth - 1 if return_to is not None else depth + 1
                for caller in callers:
                    if caller.statement is not None:
                        hit = self._walk(
                            caller.node, caller.statement, set(), policy, sinks, None, caller_depth, seen
                        )
                        if hit is not None:
                            return hit
        return None

    def _callee_receiving(
        self, site: CallSite, carries: Callable[[cst.BaseExpression], bool]
    ) -> Optional[Tuple[Scope, Set[str]]]:
        """The module function a call passes the followed value to, and the parameters that get it."""
        if has_star_args(site.node) or not any(carries(arg.value) for arg in site.node.args):
            return None
        callee = self.callee(site)
        if callee is None or not isinstance(callee.node, cst.FunctionDef) or not callee.statements:
            return None
        signature = callee.node.params
        params = [p.name.value for p in list(signature.posonly_params) + list(signature.params)]
        if callee.class_info is not None and params and params[0] in ("self", "cls"):
            params = params[1:]
        receiving: Set[str] = set()
        position = 0
        for arg in site.node.args:
            if arg.keyword is not None:
                if carries(arg.value):
                    receiving.add(arg.keyword.value)
                continue
            if position < len(params) and carries(arg.value):
                receiving.add(params[position])
            position += 1
        return (callee, receiving) if receiving else None


def _update_taint(
    target: cst.BaseExpression,
    value: cst.BaseExpression,
    tainted: Set[str],
    carries: Callable[[cst.BaseExpression], bool],
) -> None:
    """After `target = value`: the target holds the followed value exactly when the value carries it."""
    targets = sequence_elements(target)
    values = sequence_elements(value)
    if targets is not None and values is not None and len(targets) == len(values):
        for element_target, element_value in zip(targets, values):
            _update_taint(element_target, element_value, tainted, carries)
        return
    carried = carries(value)
    for bound in assigned_names(target):
        name = dotted_name(bound)
        if name is None:
            continue
        if carried:
            tainted.add(name)
        else:
            tainted.discard(name)
