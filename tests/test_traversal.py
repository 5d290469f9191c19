"""nnlint's own walk must give checks the same calls, in the same order, as LibCST's traversal."""

from pathlib import Path

import libcst as cst
import pytest

from nnlint.traversal import walk

FIXTURES = sorted((Path(__file__).parent.parent / "fixtures").rglob("*.py"))
WALKED = ("Call", "Name", "Attribute", "Subscript", "Assign", "AugAssign", "For", "While", "If", "With",
          "FunctionDef", "ClassDef", "Lambda", "Arg", "Param", "Decorator", "Return", "Expr", "Else",
          "ListComp", "DictComp", "GeneratorExp", "Integer", "SimpleString", "FormattedString", "Slice",
          "Match", "MatchCase", "MatchAs", "Try", "TryStar", "ExceptHandler", "Await", "Yield", "NamedExpr",
          "ImportFrom", "ImportAlias", "StarredElement", "TypeAlias", "Annotation", "IfExp", "Comparison")


class Recorder(cst.BatchableCSTVisitor):
    """Records visit_/leave_ calls of the node types checks care about."""

    def __init__(self):
        super().__init__()
        self.events = []
        for name in WALKED:
            setattr(self, f"visit_{name}", self._recorder("visit"))
            setattr(self, f"leave_{name}", self._recorder("leave"))

    def _recorder(self, kind):
        def record(node):
            self.events.append((kind, type(node).__name__, id(node)))

        return record

    def get_visitors(self):
        return {f"{kind}_{name}": getattr(self, f"{kind}_{name}") for name in WALKED for kind in ("visit", "leave")}


# Syntax the fixtures rarely use: every statement and expression form in one module.
EVERY_FORM = '''
from __future__ import annotations
import os.path as osp, sys
from .. import models
from x import (a as b, c)
from y import *
@decorator(arg=1)
@other
async def f(a, /, b: int = 2, *args, c, d=3, **kwargs) -> "T":
    global g
    nonlocal_value = lambda x, *y, z=1: x[1:2, ::3, ...]
    async with open(p) as fh, other() as (u, v):
        async for i in aiter():
            await g(i)
    x = [i async for i in s if i] + list({k: v for k, v in d.items()}) + [*a, *b]
    y = {1, 2} | {**d, "k": f"{x!r:>{w}}"} if (z := x) else (yield from gen())
    del x[0], y.attr
    assert x, "m"
    raise E from err
class K(Base, metaclass=M):
    attr: int = 1
    def m(self):
        try:
            pass
        except (A, B) as e:
            return e
        else:
            x @= y; z **= 2
        finally:
            print(not a, -b, ~c, a if b else c, a < b <= c, a is not b, a not in b)
        try:
            pass
        except* C:
            pass
match command.split():
    case [action, *rest] if action:
        pass
    case {"k": v, **kw} | Point(x=0, y=_):
        pass
    case _:
        pass
while True:
    break
else:
    continue_ = 1
type Alias[T] = list[T]
'''


def test_walk_matches_libcst_order_on_every_syntax_form():
    _assert_same_order(cst.parse_module(EVERY_FORM), minimum=40)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_walk_matches_libcst_order(path):
    text = path.read_text()
    # a package's __init__.py may be empty or four lines: at least one event per line, up to 50
    _assert_same_order(cst.parse_module(text), minimum=min(50, len(text.splitlines())))


def _assert_same_order(module, minimum):
    libcst_order, own_order = Recorder(), Recorder()
    hooks_libcst, hooks_own = [], []
    cst.visit_batched(module, [libcst_order], before_visit=lambda n: hooks_libcst.append(id(n)), after_leave=lambda n: None)
    walk(module, [own_order], before_visit=lambda n: hooks_own.append(id(n)), after_leave=lambda n: None)
    assert own_order.events == libcst_order.events
    assert len(own_order.events) >= minimum
    walked = set(hooks_own)
    # every node the walk reaches is one LibCST reaches too, in the same relative order
    assert [node for node in hooks_libcst if node in walked] == hooks_own


def test_walk_without_libcst_sources_falls_back_to_children(monkeypatch):
    # an installation without LibCST's .py sources (compiled or zipped) must walk the same nodes
    import nnlint.traversal as traversal

    def unreadable(obj):
        raise OSError("no source")

    monkeypatch.setattr(traversal, "_fields_by_class", {})
    monkeypatch.setattr(traversal.inspect, "getsource", unreadable)
    _assert_same_order(cst.parse_module(EVERY_FORM), minimum=40)
