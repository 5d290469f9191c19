"""The one read-only walk over a file's LibCST tree that feeds every check (instead of
`cst.visit_batched`).

LibCST's own traversal rebuilds each node it passes, because its visitors may replace children;
that costs about as much as parsing the file. nnlint never changes the tree, so it walks the
children itself, in the lexical order LibCST declares for each node class (read once from the
class's `_visit_and_replace_children`), with an explicit stack instead of recursion.
Whitespace, comments, punctuation and operator tokens are not walked: no check or analysis visits
them, and they are a third of all nodes. Checks see the same `visit_<Node>` / `leave_<Node>`
calls, in the same order, as with `cst.visit_batched` (attribute visitors such as
`visit_Call_func` are not supported).
"""

from __future__ import annotations

import inspect
import re
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Type

import libcst as cst

Visitor = Callable[[cst.CSTNode], object]

# The field visits in LibCST's `_visit_and_replace_children`: `visit_required(self, "func", ...)`.
_FIELD_VISIT = re.compile(
    r"visit_(?:required|optional|sentinel|sequence|iterable|body_sequence|body_iterable)\(\s*self,\s*\"(\w+)\""
)

_TOKEN_BASES: Tuple[type, ...] = (
    cst.BaseParenthesizableWhitespace,
    cst.EmptyLine,
    cst.TrailingWhitespace,
    cst.Newline,
    cst.Comment,
    cst.LeftParen,
    cst.RightParen,
    cst.LeftSquareBracket,
    cst.RightSquareBracket,
    cst.LeftCurlyBrace,
    cst.RightCurlyBrace,
    cst.Comma,
    cst.Dot,
    cst.Colon,
    cst.Semicolon,
    cst.AssignEqual,
    cst.Asynchronous,
    cst.BaseBinaryOp,
    cst.BaseBooleanOp,
    cst.BaseCompOp,
    cst.BaseUnaryOp,
    cst.BaseAugOp,
)

_fields_by_class: Dict[Type[cst.CSTNode], Optional[Tuple[str, ...]]] = {}


def _fields(node_class: Type[cst.CSTNode]) -> Optional[Tuple[str, ...]]:
    """The class's child fields in source order; None when LibCST's source cannot be read (then
    the slower `node.children` gives the same order)."""
    if node_class not in _fields_by_class:
        try:
            source = inspect.getsource(node_class._visit_and_replace_children)
        except (OSError, TypeError):
            _fields_by_class[node_class] = None
        else:
            # dict.fromkeys: a field visited in two branches (`names` of ImportFrom) is listed once
            _fields_by_class[node_class] = tuple(dict.fromkeys(_FIELD_VISIT.findall(source)))
    return _fields_by_class[node_class]


_walked_by_type: Dict[type, bool] = {}


def _walked(value_type: type) -> bool:
    """Whether a field value of this type is a node to walk (abstract-class checks are slow, so
    the answer is kept per type)."""
    walked = _walked_by_type.get(value_type)
    if walked is None:
        walked = _walked_by_type[value_type] = issubclass(value_type, cst.CSTNode) and not issubclass(
            value_type, _TOKEN_BASES
        )
    return walked


def children(node: cst.CSTNode) -> List[cst.CSTNode]:
    """The node's children that carry code, in source order."""
    fields = _fields(type(node))
    if fields is None:
        return [child for child in node.children if _walked(type(child))]
    found: List[cst.CSTNode] = []
    for name in fields:
        value = getattr(node, name)
        value_type = type(value)
        if value_type is tuple or value_type is list:
            found.extend(child for child in value if _walked(type(child)))
        elif _walked(value_type):
            found.append(value)
    return found


def walk(
    module: cst.Module,
    visitors: Iterable[cst.BatchableCSTVisitor],
    before_visit: Visitor,
    after_leave: Visitor,
) -> None:
    visits: Dict[str, List[Visitor]] = {}
    leaves: Dict[str, List[Visitor]] = {}
    for visitor in visitors:
        for name, method in visitor.get_visitors().items():
            kind, _, node_name = name.partition("_")
            (visits if kind == "visit" else leaves).setdefault(node_name, []).append(method)
    nothing: Sequence[Visitor] = ()
    # (node, leaving): a node is pushed once to be visited and once more to be left
    stack: List[Tuple[cst.CSTNode, bool]] = [(module, False)]
    while stack:
        node, leaving = stack.pop()
        name = type(node).__name__
        if leaving:
            for method in leaves.get(name, nothing):
                method(node)
            after_leave(node)
            continue
        before_visit(node)
        for method in visits.get(name, nothing):
            method(node)
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(children(node)))
