"""The module index: scopes, statements in source order, call sites, classes and imports.

It is filled during the engine's single traversal (through ``before_visit``/``after_leave``), so
checks and derived facts never walk the tree again: they read these lists. While the traversal
runs, ``current_scope`` and ``current_statement`` tell a check where the node it visits sits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, FrozenSet, List, Optional, Set, Tuple, Union

import libcst as cst

from nnlint.analysis.imports import ImportTable
from nnlint.analysis.names import assigned_names
from nnlint.budget import NO_DEADLINE, Deadline

ScopeNode = Union[cst.Module, cst.FunctionDef]

# Compound statements whose bodies are nested blocks of the same scope.
BLOCK_TYPES = (cst.For, cst.While, cst.If, cst.With, cst.Try, cst.TryStar, cst.Match)


@dataclass(eq=False)
class ClassInfo:
    node: cst.ClassDef
    name: str
    defined_in: "Scope"
    methods: Dict[str, "Scope"] = field(default_factory=dict)

    @property
    def bases(self) -> List[cst.BaseExpression]:
        return [arg.value for arg in self.node.bases if arg.keyword is None]


@dataclass(eq=False)
class Statement:
    """A small statement (`loss.backward()`, `x = y`, `return z`) or the header of a compound
    statement (`for b in loader:`, `with torch.no_grad():`, `def f(...)`) within one scope."""

    node: cst.CSTNode
    scope: "Scope"
    # Enclosing compound statements inside the same scope, outermost first.
    blocks: Tuple[cst.CSTNode, ...]
    position: int
    calls: List["CallSite"] = field(default_factory=list)
    # ids of the enclosing `if` blocks whose else (or elif) branch holds this statement
    else_of: FrozenSet[int] = frozenset()

    def in_else_of(self, block: cst.CSTNode) -> bool:
        return id(block) in self.else_of


@dataclass(eq=False)
class CallSite:
    node: cst.Call
    scope: "Scope"
    statement: Optional[Statement]


@dataclass(eq=False)
class Scope:
    """The module body or one function body (nested functions are scopes of their own)."""

    node: ScopeNode
    name: str
    parent: Optional["Scope"]
    class_info: Optional[ClassInfo] = None  # set for methods: the class whose body defines them
    statements: List[Statement] = field(default_factory=list)
    calls: List[CallSite] = field(default_factory=list)
    children: List["Scope"] = field(default_factory=list)

    @property
    def is_module(self) -> bool:
        return isinstance(self.node, cst.Module)

    @property
    def function_name(self) -> str:
        return self.node.name.value if isinstance(self.node, cst.FunctionDef) else "<module>"

    def parameters(self) -> List[cst.Param]:
        if not isinstance(self.node, cst.FunctionDef):
            return []
        params = self.node.params
        every = list(params.posonly_params) + list(params.params) + list(params.kwonly_params)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                every.append(star)
        return every

    def parameter(self, name: str) -> Optional[cst.Param]:
        for param in self.parameters():
            if param.name.value == name:
                return param
        return None


class ModuleIndex:
    #: how many nodes the traversal visits between two looks at the time budget
    NODES_PER_DEADLINE_CHECK = 4096

    def __init__(self, deadline: Deadline = NO_DEADLINE, source: Optional[str] = None) -> None:
        self.deadline = deadline
        self._nodes_until_check = self.NODES_PER_DEADLINE_CHECK
        self.imports = ImportTable(source)
        # node -> index in module.body of the top-level statement that contains it (for positions)
        self.top_level_of: Dict[cst.CSTNode, int] = {}
        self._top_level_items: Dict[int, int] = {}
        self._current_top_level = -1
        self.module_scope: Optional[Scope] = None
        self.scopes: List[Scope] = []
        self._scope_of_function: Dict[cst.FunctionDef, Scope] = {}
        self.classes: List[ClassInfo] = []
        self.call_sites: Dict[cst.Call, CallSite] = {}
        self.statement_of: Dict[cst.CSTNode, Statement] = {}
        # module-level functions and classes by name
        self.functions: Dict[str, Scope] = {}
        self.class_by_name: Dict[str, ClassInfo] = {}
        # traversal state
        self._scope_stack: List[Scope] = []
        self._statement_stack: List[Statement] = []
        self._block_stack: List[cst.CSTNode] = []
        self._saved_blocks: List[List[cst.CSTNode]] = []
        self._else_of: Set[int] = set()
        self._saved_else: List[Set[int]] = []
        self._class_stack: List[Optional[ClassInfo]] = []
        self._enter: Dict[type, Callable[[cst.CSTNode], None]] = {}
        self._leave: Dict[type, Callable[[cst.CSTNode], None]] = {}
        self._build_dispatch()

    # -- what checks may ask during the traversal ---------------------------------------------

    @property
    def current_scope(self) -> Scope:
        return self._scope_stack[-1]

    @property
    def current_statement(self) -> Optional[Statement]:
        return self._statement_stack[-1] if self._statement_stack else None

    @property
    def current_class(self) -> Optional[ClassInfo]:
        """The class whose body directly contains the node being visited."""
        return self._class_stack[-1] if self._class_stack else None

    # -- lookups for derived facts -------------------------------------------------------------

    def scope_of_function(self, node: cst.FunctionDef) -> Optional[Scope]:
        return self._scope_of_function.get(node)

    def enclosing_class(self, scope: Scope) -> Optional[ClassInfo]:
        """The class of a method, also from inside functions nested in the method."""
        while scope is not None:
            if scope.class_info is not None:
                return scope.class_info
            scope = scope.parent
        return None

    # -- traversal hooks -------------------------------------------------------------------------

    def before_visit(self, node: cst.CSTNode) -> None:
        self._nodes_until_check -= 1
        if not self._nodes_until_check:
            self._nodes_until_check = self.NODES_PER_DEADLINE_CHECK
            self.deadline.check()
        top = self._top_level_items.get(id(node))
        if top is not None:
            self._current_top_level = top
        self.top_level_of[node] = self._current_top_level
        handler = self._enter.get(type(node))
        if handler is not None:
            handler(node)

    def after_leave(self, node: cst.CSTNode) -> None:
        handler = self._leave.get(type(node))
        if handler is not None:
            handler(node)

    def _build_dispatch(self) -> None:
        self._enter[cst.Module] = self._enter_module
        self._enter[cst.FunctionDef] = self._enter_function
        self._leave[cst.FunctionDef] = self._leave_function
        self._enter[cst.ClassDef] = self._enter_class
        self._leave[cst.ClassDef] = self._leave_class
        self._enter[cst.Call] = self._enter_call
        self._enter[cst.Else] = self._enter_else
        self._leave[cst.Else] = self._leave_else
        for block_type in BLOCK_TYPES:
            self._enter[block_type] = self._enter_block
            self._leave[block_type] = self._leave_block
        for small_type in _small_statement_types():
            self._enter[small_type] = self._enter_small_statement
            self._leave[small_type] = self._pop_statement

    def _record_statement(self, node: cst.CSTNode) -> Statement:
        scope = self.current_scope
        statement = Statement(node, scope, tuple(self._block_stack), len(scope.statements))
        if self._else_of:
            statement.else_of = frozenset(self._else_of)
        scope.statements.append(statement)
        self.statement_of[node] = statement
        return statement

    def _enter_module(self, node: cst.Module) -> None:
        self._top_level_items = {id(item): index for index, item in enumerate(node.body)}
        scope = Scope(node, "<module>", None)
        self.module_scope = scope
        self.scopes.append(scope)
        self._scope_stack.append(scope)

    def _enter_function(self, node: cst.FunctionDef) -> None:
        parent = self.current_scope
        self._statement_stack.append(self._record_statement(node))
        owner = self.current_class
        qualified = f"{owner.name}.{node.name.value}" if owner else node.name.value
        scope = Scope(node, qualified, parent, class_info=owner)
        parent.children.append(scope)
        self.scopes.append(scope)
        self._scope_of_function[node] = scope
        if owner is not None:
            owner.methods.setdefault(node.name.value, scope)
        elif parent.is_module:
            self.functions.setdefault(node.name.value, scope)
        self.imports.local_definitions.add(node.name.value)
        self.imports.local_definitions.update(param.name.value for param in scope.parameters())
        self._scope_stack.append(scope)
        self._saved_blocks.append(self._block_stack)
        self._block_stack = []
        self._saved_else.append(self._else_of)
        self._else_of = set()
        self._class_stack.append(None)

    def _leave_function(self, node: cst.FunctionDef) -> None:
        self._class_stack.pop()
        self._block_stack = self._saved_blocks.pop()
        self._else_of = self._saved_else.pop()
        self._scope_stack.pop()
        self._statement_stack.pop()

    def _enter_class(self, node: cst.ClassDef) -> None:
        self._statement_stack.append(self._record_statement(node))
        info = ClassInfo(node, node.name.value, self.current_scope)
        self.classes.append(info)
        if self.current_scope.is_module:
            self.class_by_name.setdefault(info.name, info)
        self.imports.local_definitions.add(info.name)
        self._class_stack.append(info)

    def _leave_class(self, node: cst.ClassDef) -> None:
        self._class_stack.pop()
        self._statement_stack.pop()

    def _enter_block(self, node: cst.CSTNode) -> None:
        parent = self._block_stack[-1] if self._block_stack else None
        if isinstance(parent, cst.If) and parent.orelse is node:
            self._else_of.add(id(parent))  # an elif is the else branch of the if above it
        self._statement_stack.append(self._record_statement(node))
        self._block_stack.append(node)
        if isinstance(node, cst.For):
            self._note_bindings(node.target)

    def _leave_block(self, node: cst.CSTNode) -> None:
        self._block_stack.pop()
        self._statement_stack.pop()
        parent = self._block_stack[-1] if self._block_stack else None
        if isinstance(parent, cst.If) and parent.orelse is node:
            self._else_of.discard(id(parent))

    def _enter_else(self, node: cst.Else) -> None:
        if self._block_stack:
            self._else_of.add(id(self._block_stack[-1]))

    def _leave_else(self, node: cst.Else) -> None:
        if self._block_stack:
            self._else_of.discard(id(self._block_stack[-1]))

    def _enter_small_statement(self, node: cst.CSTNode) -> None:
        self._statement_stack.append(self._record_statement(node))
        if isinstance(node, cst.Assign):
            for target in node.targets:
                self._note_bindings(target.target)
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
            self._note_bindings(node.target)
        elif isinstance(node, (cst.Import, cst.ImportFrom)):
            self.imports.add(node)

    def _pop_statement(self, node: cst.CSTNode) -> None:
        self._statement_stack.pop()

    def _enter_call(self, node: cst.Call) -> None:
        site = CallSite(node, self.current_scope, self.current_statement)
        self.call_sites[node] = site
        self.current_scope.calls.append(site)
        if site.statement is not None:
            site.statement.calls.append(site)

    def _note_bindings(self, target: cst.BaseExpression) -> None:
        for bound in assigned_names(target):
            if isinstance(bound, cst.Name):
                self.imports.local_definitions.add(bound.value)


def _small_statement_types() -> List[type]:
    found: List[type] = []
    pending = list(cst.BaseSmallStatement.__subclasses__())
    while pending:
        candidate = pending.pop()
        if candidate not in found:
            found.append(candidate)
            pending.extend(candidate.__subclasses__())
    return found
