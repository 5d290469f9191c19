"""Squashed outputs: values that went through softmax or sigmoid.

Get it with ``ctx.fact(Probabilities)``. ``squashed(expr, statement)`` answers "is this value
softmax (or sigmoid) output?" directly (`F.softmax(z, 1)`, `z.sigmoid()`, `nn.Softmax(1)(z)`,
`self.softmax(z)` with `self.softmax = nn.Softmax(1)`), through variables and shape-only
operations (`.view`, `.squeeze`, indexing), or as the output of a model whose forward (shown in
this module) ends in softmax/sigmoid on every path, or of an nn.Sequential whose last layer is
nn.Softmax/nn.Sigmoid. A definition counts only when it holds on every path to the use (not one
assigned under an `if` that does not also hold the use).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.index import Scope, Statement
from nnlint.analysis.names import argument, callee_terminal_name, method_receiver
from nnlint.analysis.remote import RemoteValues
from nnlint.families.layers.models import SEQUENTIAL, ModelFacts, ModuleClass

SOFTMAX_FUNCTIONS = frozenset({"torch.softmax", "torch.nn.functional.softmax", "torch.special.softmax"})
SIGMOID_FUNCTIONS = frozenset({"torch.sigmoid", "torch.nn.functional.sigmoid", "torch.special.expit"})
SOFTMAX_CLASSES = frozenset({"torch.nn.Softmax"})
SIGMOID_CLASSES = frozenset({"torch.nn.Sigmoid"})
# Operations that keep the values (only the shape, device or dtype changes).
SHAPE_METHODS = frozenset(
    {
        "view", "reshape", "squeeze", "unsqueeze", "flatten", "float", "double", "half", "bfloat16", "to",
        "cuda", "cpu", "contiguous", "permute", "transpose", "clone", "view_as", "reshape_as", "type_as",
    }
)
SHAPE_FUNCTIONS = frozenset({"torch.squeeze", "torch.flatten", "torch.reshape", "torch.unsqueeze", "torch.permute"})
# Blocks that may not run (a definition inside one does not hold after it).
CONDITIONAL_BLOCKS = (cst.If, cst.For, cst.While, cst.Try, cst.TryStar, cst.Match)

MAX_DEPTH = 8


@dataclass(frozen=True)
class Squashed:
    kind: str  # "softmax" or "sigmoid"
    # the call that applies it
    node: cst.CSTNode
    statement: Statement
    # the value it squashes (the logits), when the call shows it
    operand: Optional[cst.BaseExpression] = None
    # "Net.forward" when the value is a model's output
    via: Optional[str] = None


def holds_at(definition: Statement, use: Statement) -> bool:
    """A definition in the same scope holds at `use` on every path: every conditional block
    around the definition also encloses the use."""
    if definition.scope is not use.scope:
        return True
    around_definition = [b for b in definition.blocks if isinstance(b, CONDITIONAL_BLOCKS)]
    around_use = [b for b in use.blocks if isinstance(b, CONDITIONAL_BLOCKS)]
    return len(around_definition) <= len(around_use) and all(a is b for a, b in zip(around_definition, around_use))


class Probabilities:
    """Get it with ``ctx.fact(Probabilities)``."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        self.models = ctx.fact(ModelFacts)
        self._function_cache: Dict[int, Optional[Squashed]] = {}

    def squashed(self, expr: cst.BaseExpression, statement: Statement, depth: int = 0) -> Optional[Squashed]:
        if depth > MAX_DEPTH:
            return None
        if isinstance(expr, cst.Name):
            definition = self.flow.definition(expr.value, statement)
            if (
                definition.kind == "assign"
                and definition.value is not None
                and definition.statement is not None
                and holds_at(definition.statement, statement)
            ):
                return self.squashed(definition.value, definition.statement, depth + 1)
            return None
        if isinstance(expr, cst.Subscript):
            return self.squashed(expr.value, statement, depth + 1)
        if isinstance(expr, cst.IfExp):
            body = self.squashed(expr.body, statement, depth + 1)
            orelse = self.squashed(expr.orelse, statement, depth + 1)
            return body if body is not None and orelse is not None and body.kind == orelse.kind else None
        if isinstance(expr, cst.Call):
            return self._squashing_call(expr, statement, depth)
        return None

    def _squashing_call(self, call: cst.Call, statement: Statement, depth: int) -> Optional[Squashed]:
        qualified = self.ctx.qualified_name(call.func)
        if qualified in SOFTMAX_FUNCTIONS:
            return Squashed("softmax", call, statement, argument(call, 0, "input"))
        if qualified in SIGMOID_FUNCTIONS:
            return Squashed("sigmoid", call, statement, argument(call, 0, "input"))
        if qualified in SHAPE_FUNCTIONS:
            first = argument(call, 0, "input")
            return self.squashed(first, statement, depth + 1) if first is not None else None
        if qualified is not None:
            return None
        receiver = method_receiver(call)
        method = callee_terminal_name(call)
        if receiver is not None and not (isinstance(receiver, cst.Name) and receiver.value == "self"):
            # tensor methods: z.softmax(1), z.sigmoid(), p.view(-1)
            if method in ("softmax", "sigmoid"):
                return Squashed(method, call, statement, receiver)
            if method in SHAPE_METHODS:
                return self.squashed(receiver, statement, depth + 1)
        # nn.Softmax(dim=1)(x)
        if isinstance(call.func, cst.Call):
            return self._layer_output(call.func, call, statement, depth)
        # a helper of this module that returns probabilities: self._predict(x), probs(model, x)
        site = self.ctx.index.call_sites.get(call)
        callee = self.flow.callee(site) if site is not None else None
        if callee is not None and callee.function_name != "forward":
            found = self._function_result(callee)
            if found is not None:
                return Squashed(found.kind, found.node, found.statement, found.operand, via=callee.name)
            return None
        # self(x), self.forward(x) inside a module class; model(x), model.forward(x), self.softmax(x)
        target = call.func
        if isinstance(target, cst.Attribute) and target.attr.value == "forward":
            target = target.value
        if isinstance(target, cst.Name) and target.value == "self":
            module = self.models.enclosing_module_class(statement.scope)
            return self._model_output(module, call, statement) if module is not None else None
        built = self.models.constructors(target, statement)
        if not built:
            return self._project_model_output(target, call, statement)
        if len({self.models.layer_class(b) for b in built}) != 1:
            return None
        return self._layer_output(built[0], call, statement, depth)

    def _project_model_output(self, target: cst.BaseExpression, call: cst.Call, statement: Statement) -> Optional[Squashed]:
        """The output of a model whose class another file of the project defines (`model` built
        from model.py's `Net` in train.py and given to this module's `train_one_epoch`), read in
        that file."""
        remote = self.ctx.fact(RemoteValues)
        found = remote.class_of(remote.instance(target, statement))
        if found is None:
            return None
        module, info = found
        module_class = module.fact(ModelFacts).module_class(info)
        if module_class is None or not module_class.certain:
            return None
        return module.fact(Probabilities)._model_output(module_class, call, statement)

    def _layer_output(self, constructor: cst.Call, call: cst.Call, statement: Statement, depth: int) -> Optional[Squashed]:
        """The output of calling an object built by `constructor`."""
        layer = self.models.layer_class(constructor)
        operand = argument(call, 0, "input")
        if layer in SOFTMAX_CLASSES:
            return Squashed("softmax", call, statement, operand)
        if layer in SIGMOID_CLASSES:
            return Squashed("sigmoid", call, statement, operand)
        if layer in SEQUENTIAL:
            last = constructor.args[-1] if constructor.args else None
            if last is None or last.star or last.keyword is not None or not isinstance(last.value, cst.Call):
                return None
            kind = self.models.layer_class(last.value)
            if kind in SOFTMAX_CLASSES or kind in SIGMOID_CLASSES:
                name = "softmax" if kind in SOFTMAX_CLASSES else "sigmoid"
                return Squashed(name, last.value, statement, None, via="nn.Sequential")
            return None
        module = self.models.local_module_class(constructor)
        if module is not None:
            return self._model_output(module, call, statement)
        return None

    def _model_output(self, module: ModuleClass, call: cst.Call, statement: Statement) -> Optional[Squashed]:
        forward = module.forward
        found = self._function_result(forward) if forward is not None else None
        if found is None:
            return None
        return Squashed(found.kind, found.node, found.statement, found.operand, via=forward.name)

    def _function_result(self, scope: Scope) -> Optional[Squashed]:
        """What a function of this module returns, when every return is squashed the same way."""
        key = id(scope)
        if key not in self._function_cache:
            self._function_cache[key] = None  # guards recursion (self(x) inside forward)
            self._function_cache[key] = self._returns_squashed(scope)
        return self._function_cache[key]

    def _returns_squashed(self, scope: Scope) -> Optional[Squashed]:
        returns = [s for s in scope.statements if isinstance(s.node, cst.Return) and s.scope is scope]
        if not returns or not isinstance(scope.node, cst.FunctionDef):
            return None
        first: Optional[Squashed] = None
        for statement in returns:
            value = statement.node.value
            if value is None:
                return None
            found = self.squashed(value, statement)
            if found is None or (first is not None and found.kind != first.kind):
                return None
            first = first or found
        return first
