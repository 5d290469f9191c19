"""Training vocabulary: what is a loss, and what drives the parameter update.

Shared by the rules about losses and training steps. "Drives the update" means the value
reaches `.backward()`, `accelerator.backward(...)`, `fabric.backward(...)`,
`self.manual_backward(...)`, `torch.autograd.backward/grad`, or is returned from a Lightning
`training_step` or a Hugging Face `Trainer.compute_loss` override (the framework backpropagates
what they return).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import CarryPolicy, DataFlow, SinkHit, Sinks
from nnlint.analysis.index import CallSite, ClassInfo, Scope, Statement
from nnlint.analysis.valuekinds import (
    GRAPH,
    LOSS_FUNCTIONS,
    NOT_A_LOSS_NAME,
    ValueKinds,
    is_loss_class,
    looks_like_criterion_name,
    looks_like_loss_name,
)
from nnlint.analysis.names import (
    argument,
    callee_terminal_name,
    dotted_name,
    keyword_arg,
    method_receiver,
    positional_args,
    sequence_elements,
    string_value,
    string_value_of_index,
    unpacked_index,
)

TORCH_REDUCTIONS = frozenset({"torch.mean", "torch.sum", "torch.nanmean", "torch.nansum", "builtins.sum"})

# Operations after which a value is still "the loss" (same tensor, reduced, moved or cast).
LOSS_PRESERVING_METHODS = frozenset(
    {"mean", "sum", "nanmean", "nansum", "squeeze", "unsqueeze", "view", "reshape", "flatten",
     "to", "cuda", "cpu", "float", "double", "half", "bfloat16", "contiguous", "clone",
     "mul", "div", "add", "sub", "mul_", "div_", "add_", "sub_", "masked_select"}
)

# The followed value is still the loss through arithmetic, reductions, casts and packing into the
# `loss` entry of a Lightning result dict; `scaler.scale(loss)` is the loss times the scale.
LOSS_CARRY = CarryPolicy(
    receiver_methods=LOSS_PRESERVING_METHODS,
    argument_methods=frozenset({"scale"}),
    functions=TORCH_REDUCTIONS | frozenset({"torch.stack", "torch.cat"}),
    dict_keys=frozenset({"loss"}),
)

# A module class that computes a loss: FocalLoss, DiceLoss, MyCriterion, or a subclass of one.
LOSS_CLASS_NAME = re.compile(r"(Loss|Criterion)$")


@dataclass(frozen=True)
class BackwardCall:
    """A call that runs backpropagation.

    form is one of:
    - ``tensor``: ``loss.backward()`` (also ``(loss / k).backward(create_graph=True)``)
    - ``scaled``: ``scaler.scale(loss).backward()`` (``scaler`` holds the GradScaler expression)
    - ``framework``: ``accelerator.backward(loss)``, ``fabric.backward(loss)``, ``engine.backward(loss)``,
      or a bare ``backward(loss)`` function
    - ``manual``: ``self.manual_backward(loss)`` (Lightning manual optimization)
    - ``autograd``: ``torch.autograd.backward(loss)``
    - ``grad``: ``torch.autograd.grad(loss, params)`` (returns gradients, does not fill ``.grad``)
    """

    node: cst.Call
    form: str
    # the receiver of `.backward()`/`.manual_backward()` (the loss, the scaled loss, the accelerator)
    receiver: Optional[cst.BaseExpression]
    # the first argument (`loss` of accelerator.backward(loss); the gradient of x.backward(g))
    argument: Optional[cst.BaseExpression]
    # the GradScaler of the scaled form
    scaler: Optional[cst.BaseExpression] = None

    @property
    def value(self) -> Optional[cst.BaseExpression]:
        """The value backpropagated: the loss (for the scaled form, the argument of scale())."""
        if self.form in ("framework", "manual", "autograd", "grad"):
            return self.argument
        if self.form == "scaled" and isinstance(self.receiver, cst.Call):
            return argument(self.receiver, 0, "outputs")
        return self.receiver

    @property
    def fills_grad(self) -> bool:
        """Whether it accumulates into the parameters' `.grad` (torch.autograd.grad does not)."""
        return self.form != "grad"


FRAMEWORK_RECEIVER = re.compile(r"accelerat|fabric|engine|deepspeed|strategy|booster|trainer|runner", re.IGNORECASE)


def backward_call(ctx: ModuleContext, call: cst.Call) -> Optional[BackwardCall]:
    """Whether a call runs backpropagation, and in which form (see BackwardCall)."""
    name = callee_terminal_name(call)
    if name not in ("backward", "manual_backward", "grad"):
        return None
    qualified = ctx.qualified_name(call.func)
    if qualified in ("torch.autograd.backward", "torch.autograd.grad"):
        form = "autograd" if qualified.endswith("backward") else "grad"
        first = argument(call, 0, "tensors" if form == "autograd" else "outputs")
        return BackwardCall(call, form, None, first)
    if name == "grad":
        return None
    receiver = method_receiver(call)
    first = argument(call, 0, "loss")
    if name == "manual_backward":
        return BackwardCall(call, "manual", receiver, first)
    if receiver is None:
        # a bare `backward(loss)`: some helper that backpropagates its argument
        return BackwardCall(call, "framework", None, first) if first is not None else None
    if (
        isinstance(receiver, cst.Call)
        and callee_terminal_name(receiver) == "scale"
        and isinstance(receiver.func, cst.Attribute)
        and len(receiver.args) >= 1
    ):
        return BackwardCall(call, "scaled", receiver, first, scaler=receiver.func.value)
    dotted = dotted_name(receiver)
    if first is not None and dotted is not None and not looks_like_loss_name(dotted):
        qualified_receiver = ctx.qualified_name(receiver)
        if FRAMEWORK_RECEIVER.search(dotted.split(".")[-1]) or (qualified_receiver or "").startswith("deepspeed"):
            return BackwardCall(call, "framework", receiver, first)
    return BackwardCall(call, "tensor", receiver, first)


class UpdateSinks(Sinks):
    """Reaching any of these means the value drives the parameter update."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx

    def match_call(self, site: CallSite, carries: Callable[[cst.BaseExpression], bool]) -> Optional[SinkHit]:
        call = site.node
        found = backward_call(self.ctx, call)
        if found is None:
            return None
        if found.form in ("autograd", "grad"):
            if found.argument is not None and carries(found.argument):
                return SinkHit(call, f"{self.ctx.qualified_name(call.func)}()")
            return None
        if found.form != "manual" and found.receiver is not None and carries(found.receiver):
            return SinkHit(call, "backward()")
        # accelerator.backward(loss), fabric.backward(loss), self.manual_backward(loss)
        if found.argument is not None and carries(found.argument):
            return SinkHit(call, f"{self.ctx.code(call.func)}()")
        return None

    def match_return(self, scope: Scope, node: cst.Return) -> Optional[SinkHit]:
        owner = scope.class_info
        if owner is None:
            return None
        if scope.function_name == "training_step" and not self._manual_optimization(owner):
            return SinkHit(node, f"being returned from {owner.name}.training_step (Lightning backpropagates it)")
        if scope.function_name == "compute_loss" and any(
            (dotted_name(base) or "").endswith("Trainer") for base in owner.bases
        ):
            return SinkHit(node, f"being returned from {owner.name}.compute_loss (the Trainer backpropagates it)")
        if scope.function_name == "forward" and self._is_loss_module(owner):
            return SinkHit(node, f"being returned from {owner.name}.forward (the loss this module computes is what training backpropagates)")
        return None

    def _is_loss_module(self, owner: ClassInfo) -> bool:
        if LOSS_CLASS_NAME.search(owner.name):
            return True
        return any(LOSS_CLASS_NAME.search((dotted_name(base) or "").split(".")[-1]) for base in owner.bases)

    def _manual_optimization(self, owner: ClassInfo) -> bool:
        """Lightning with `self.automatic_optimization = False` ignores what training_step returns."""
        return manual_optimization(self.ctx, owner)


class _ReturnOf(Sinks):
    """Reaching a `return` of one function (the value goes back to its callers)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def match_return(self, scope: Scope, node: cst.Return) -> Optional[SinkHit]:
        return SinkHit(node, "returned") if scope is self.scope else None


def manual_optimization(ctx: ModuleContext, owner: ClassInfo) -> bool:
    """Whether a (Lightning) class sets `self.automatic_optimization = False`: its training_step
    backpropagates, steps and clears by itself."""
    flow = ctx.fact(DataFlow)
    return any(
        isinstance(d.value, cst.Name) and d.value.value == "False"
        for d in flow.attribute_definitions(owner, "automatic_optimization")
    )


class LossValues:
    """Recognises loss values. Get it with ``ctx.fact(LossValues)``."""

    MAX_DEPTH = 5

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        self.update_sinks = UpdateSinks(ctx)
        self.kinds = ctx.fact(ValueKinds)

    def is_loss(self, expr: cst.BaseExpression, statement: Statement, depth: int = 0) -> bool:
        """Whether `expr` is a training loss (or per-sample losses): the result of a loss
        function or criterion, HF `outputs.loss`, arithmetic and reductions of losses, or a
        variable holding one."""
        if depth == 0 and self.kinds.of(expr, statement).is_plain:
            return False  # a number or a detached tensor, whatever it is called
        # a tensor that may carry a graph: which one is the loss, names tell
        if depth > self.MAX_DEPTH:
            return False
        if isinstance(expr, cst.Name):
            return self._is_loss_name(expr.value, statement, depth)
        if isinstance(expr, cst.Attribute):
            if self.ctx.qualified_name(expr) is not None:
                return False
            if expr.attr.value == "loss":
                return True  # HF ModelOutput.loss
            if isinstance(expr.value, cst.Name) and expr.value.value == "self":
                return looks_like_loss_name(expr.attr.value)
            return False
        if isinstance(expr, cst.Subscript):
            key = string_value_of_index(expr)
            return key is not None and looks_like_loss_name(key)
        if isinstance(expr, cst.BinaryOperation):
            if isinstance(expr.operator, (cst.Add, cst.Subtract, cst.Multiply, cst.Divide)):
                return self.is_loss(expr.left, statement, depth + 1) or self.is_loss(expr.right, statement, depth + 1)
            return False
        if isinstance(expr, cst.UnaryOperation):
            return self.is_loss(expr.expression, statement, depth + 1)
        if isinstance(expr, cst.Call):
            return self._is_loss_call(expr, statement, depth)
        return False

    def _is_loss_name(self, name: str, statement: Statement, depth: int) -> bool:
        """A variable named like a loss (`loss`, `kl_loss`, not `loss_weight`) holds one; so does a
        variable assigned a loss value (`l = criterion(out, y)`)."""
        if looks_like_loss_name(name):
            return True
        if NOT_A_LOSS_NAME.search(name.split(".")[-1]):
            return False  # `adaptive_weight = grad_norm_of_loss / ...` is a weight, whatever it is computed from
        definition = self.flow.definition(name, statement)
        if definition.kind in ("assign", "augassign") and definition.value is not None and definition.statement:
            return self.is_loss(definition.value, definition.statement, depth + 1)
        if definition.kind == "unpacked" and definition.value is not None and definition.statement is not None:
            # `logits, per_sample = self._forward(x, y)`: the element a helper of this module returns
            index = unpacked_index(definition.statement.node, name)
            if index is not None:
                kind = self.kinds.of(definition.value, definition.statement, (index,))
                return kind.what == GRAPH and kind.loss
        return False

    def _is_loss_call(self, call: cst.Call, statement: Statement, depth: int) -> bool:
        qualified = self.ctx.qualified_name(call.func)
        if qualified in LOSS_FUNCTIONS:
            return True
        if qualified in TORCH_REDUCTIONS:
            args = positional_args(call)
            return bool(args) and self.is_loss(args[0], statement, depth + 1)
        if qualified is not None:
            return False
        receiver = method_receiver(call)
        name = callee_terminal_name(call)
        if receiver is not None and name in LOSS_PRESERVING_METHODS:
            return self.is_loss(receiver, statement, depth + 1)
        return self.is_criterion(call.func, statement, depth)

    def is_criterion(self, func: cst.BaseExpression, statement: Statement, depth: int = 0) -> bool:
        """Whether calling `func` computes a loss: an instance of a torch.nn loss class, or a
        callable named like one (criterion, loss_fn, compute_loss, self.crit)."""
        dotted = dotted_name(func)
        if dotted is None:
            return False
        definition = self.flow.definition(dotted, statement)
        if definition.kind == "assign" and isinstance(definition.value, cst.Call):
            if is_loss_class(self.ctx.qualified_name(definition.value.func)):
                return True
        if dotted.startswith("self."):
            owner = self.ctx.index.enclosing_class(statement.scope)
            if owner is not None and "." not in dotted[5:]:
                for found in self.flow.attribute_definitions(owner, dotted[5:]):
                    if isinstance(found.value, cst.Call) and is_loss_class(self.ctx.qualified_name(found.value.func)):
                        return True
        return looks_like_criterion_name(dotted)

    def is_per_sample(self, expr: cst.BaseExpression, statement: Statement, depth: int = 0) -> bool:
        """Whether a loss value holds one loss per sample (reduction="none")."""
        if depth > self.MAX_DEPTH:
            return False
        if isinstance(expr, cst.Name):
            definition = self.flow.definition(expr.value, statement)
            if definition.kind == "assign" and definition.value is not None and definition.statement:
                return self.is_per_sample(definition.value, definition.statement, depth + 1)
            return False
        if not isinstance(expr, cst.Call):
            return False
        reduction = keyword_arg(expr, "reduction")
        if reduction is not None:
            return string_value(reduction) == "none"
        dotted = dotted_name(expr.func)
        if dotted is None:
            return False
        for constructor in self._constructors_of(dotted, statement):
            value = keyword_arg(constructor, "reduction")
            if value is not None and string_value(value) == "none":
                return True
        return False

    def _constructors_of(self, dotted: str, statement: Statement):
        definition = self.flow.definition(dotted, statement)
        if definition.kind == "assign" and isinstance(definition.value, cst.Call):
            yield definition.value
        if dotted.startswith("self."):
            owner = self.ctx.index.enclosing_class(statement.scope)
            if owner is not None:
                for found in self.flow.attribute_definitions(owner, dotted[5:]):
                    if isinstance(found.value, cst.Call):
                        yield found.value

    def reaches_update(
        self, node: cst.CSTNode, statement: Statement, also_tainted=()
    ) -> Optional[SinkHit]:
        """Where the loss value `node` drives the update, or None."""
        return self.flow.find_sink(node, statement, LOSS_CARRY, self.update_sinks, also_tainted)

    def returned(self, node: cst.CSTNode, statement: Statement, also_tainted=()) -> Optional[SinkHit]:
        """The `return` of the function holding `statement` that gives the loss value `node` back
        to its callers, or None."""
        return self.flow.find_sink(node, statement, LOSS_CARRY, _ReturnOf(statement.scope), also_tainted)


def graph_loss(losses: "LossValues", expr: cst.BaseExpression, statement: Statement):
    """The loss tensor whose autograd graph `expr` still carries, as (expression, statement) where it
    is computed, or None: `loss`, `loss * x.size(0)`, `outputs.loss`, `criterion(out, y)`, a helper
    of this module that returns the loss tensor carry it; `loss.item()`, `loss.detach()`,
    `float(loss)`, `loss.data`, a helper whose every return is a number, and anything computed
    under torch.no_grad() do not (see ValueKinds)."""
    return losses.kinds.loss_tensor(expr, statement)
