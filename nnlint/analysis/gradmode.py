"""Gradient mode: which statements run with autograd off.

`GradMode.grad_disabled(statement)` holds under `with torch.no_grad():`,
`torch.inference_mode()`, `torch.set_grad_enabled(False)`, or a decorator of the statement's
function (or of an enclosing one) that does the same. Tensors computed there carry no graph.
Get it with ``ctx.fact(GradMode)``.
"""

from __future__ import annotations

from typing import Dict, Optional

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.index import Scope, Statement
from nnlint.analysis.names import argument

GRAD_OFF = frozenset({
    "torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad", "torch.autograd.grad_mode.no_grad",
    "torch.autograd.inference_mode", "torch.autograd.grad_mode.inference_mode",
})


class GradMode:
    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self._disabled_scopes: Dict[int, bool] = {}

    def disables_grad(self, expr: cst.BaseExpression) -> bool:
        """`torch.no_grad()`, `torch.inference_mode()`, `torch.set_grad_enabled(False)` (also as a
        bare decorator `@torch.no_grad`)."""
        call = expr if isinstance(expr, cst.Call) else None
        func = call.func if call is not None else expr
        qualified = self.ctx.qualified_name(func) if isinstance(func, (cst.Name, cst.Attribute)) else None
        if qualified in GRAD_OFF:
            if call is not None and qualified.endswith("inference_mode"):
                mode = argument(call, 0, "mode")
                return mode is None or not (isinstance(mode, cst.Name) and mode.value == "False")
            return True
        if qualified in ("torch.set_grad_enabled", "torch.autograd.set_grad_enabled") and call is not None:
            mode = argument(call, 0, "mode")
            return isinstance(mode, cst.Name) and mode.value == "False"
        return False

    def with_disables_grad(self, block: cst.With) -> bool:
        return any(self.disables_grad(item.item) for item in block.items)

    def grad_disabled(self, statement: Statement) -> bool:
        """Whether the statement runs with gradients off, by a `with` around it or a decorator of
        its function (or of an enclosing one)."""
        if any(isinstance(block, cst.With) and self.with_disables_grad(block) for block in statement.blocks):
            return True
        return self.scope_grad_disabled(statement.scope)

    def scope_grad_disabled(self, scope: Optional[Scope]) -> bool:
        while scope is not None and not scope.is_module:
            cached = self._disabled_scopes.get(id(scope))
            if cached is None:
                node = scope.node
                cached = isinstance(node, cst.FunctionDef) and any(self.disables_grad(d.decorator) for d in node.decorators)
                if not cached:
                    # the def itself under `with torch.no_grad():` in its parent
                    statement = self.ctx.index.statement_of.get(node)
                    cached = statement is not None and any(
                        isinstance(b, cst.With) and self.with_disables_grad(b) for b in statement.blocks
                    )
                self._disabled_scopes[id(scope)] = cached
            if cached:
                return True
            scope = scope.parent
        return False
