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
)

FUNCTIONAL = "torch.nn.functional."
LOSS_FUNCTIONS = frozenset(
    FUNCTIONAL + name
    for name in (
        "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
        "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "ctc_loss",
        "poisson_nll_loss", "gaussian_nll_loss", "margin_ranking_loss", "hinge_embedding_loss",
        "multilabel_margin_loss", "soft_margin_loss", "multilabel_soft_margin_loss",
        "cosine_embedding_loss", "multi_margin_loss", "triplet_margin_loss",
        "triplet_margin_with_distance_loss",
    )
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

LOSS_NAME = re.compile(r"loss|^nll$|^ce$|^mse$|^bce$|^kld?$", re.IGNORECASE)
# Names that contain "loss" but hold something else (weights, scales, histories, functions).
NOT_A_LOSS_NAME = re.compile(
    r"scale|weight|coef|factor|lambda|ratio|mult|alpha|beta|gamma|fn$|func|meter|avg|ema|hist|"
    r"list|log|dict|name|key|type|cls|track|record|buffer|queue|count|cap|max|min|clip|thresh|"
    r"mask|idx|index|ids|function|module|class|config|cfg|ceil|limit|bound|upper|lower|floor|grad|norm",
    re.IGNORECASE,
)
CRITERION_NAME = re.compile(r"loss|criterion|^crit$|^crit_|_crit$|objective", re.IGNORECASE)
# A module class that computes a loss: FocalLoss, DiceLoss, MyCriterion, or a subclass of one.
LOSS_CLASS_NAME = re.compile(r"(Loss|Criterion)$")


def looks_like_loss_name(name: str) -> bool:
    last = name.split(".")[-1]
    if last.isupper():
        return False  # MAX_LOSS, LOSS_SCALE: constants, not computed losses
    return bool(LOSS_NAME.search(last)) and not NOT_A_LOSS_NAME.search(last)


def is_loss_class(qualified: Optional[str]) -> bool:
    """`torch.nn.CrossEntropyLoss` and the other torch.nn loss modules."""
    return qualified is not None and qualified.startswith("torch.nn.") and qualified.endswith("Loss")


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

    def is_loss(self, expr: cst.BaseExpression, statement: Statement, depth: int = 0) -> bool:
        """Whether `expr` is a training loss (or per-sample losses): the result of a loss
        function or criterion, HF `outputs.loss`, arithmetic and reductions of losses, or a
        variable holding one."""
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
        return bool(CRITERION_NAME.search(dotted.split(".")[-1]))

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


# Operations after which a tensor still holds the autograd graph it was computed with.
GRAPH_KEEPING_METHODS = LOSS_PRESERVING_METHODS | frozenset(
    {"abs", "sqrt", "exp", "log", "pow", "neg", "square", "clamp", "sigmoid", "tanh", "squeeze_", "unsqueeze_"}
)
GRAPH_KEEPING_FUNCTIONS = TORCH_REDUCTIONS | frozenset({"torch.stack", "torch.cat", "torch.add", "torch.mul", "torch.sqrt", "torch.exp"})


def graph_loss(losses: "LossValues", expr: cst.BaseExpression, statement: Statement, depth: int = 0):
    """The loss tensor whose autograd graph `expr` still carries, as (expression, statement) where it
    is computed, or None: `loss`, `loss * x.size(0)`, `outputs.loss`, `criterion(out, y)` carry it;
    `loss.item()`, `loss.detach()`, `float(loss)`, `loss.data` and `loss.tolist()` do not. A name is
    followed to the assignment that reaches the statement; parameters and loop variables are not
    followed (None)."""
    if depth > LossValues.MAX_DEPTH:
        return None
    ctx = losses.ctx
    if isinstance(expr, cst.BinaryOperation):
        if isinstance(expr.operator, (cst.Add, cst.Subtract, cst.Multiply, cst.Divide)):
            return graph_loss(losses, expr.left, statement, depth + 1) or graph_loss(losses, expr.right, statement, depth + 1)
        return None
    if isinstance(expr, cst.UnaryOperation):
        return graph_loss(losses, expr.expression, statement, depth + 1)
    if isinstance(expr, cst.Attribute):
        if ctx.qualified_name(expr) is None and expr.attr.value == "loss":
            return expr, statement  # Hugging Face ModelOutput.loss
        return None
    if isinstance(expr, cst.Subscript):
        key = string_value_of_index(expr)
        if key is not None and looks_like_loss_name(key) and isinstance(expr.value, (cst.Name, cst.Attribute)):
            # res["train_loss"] with res = evaluate(...): the helper's dict decides, else the key
            decided = _dict_entry_from_helper(losses, expr.value, key, statement, depth)
            return (expr, statement) if decided is _NOT_VISIBLE else decided
        return None
    if isinstance(expr, cst.Call):
        qualified = ctx.qualified_name(expr.func)
        if qualified in LOSS_FUNCTIONS:
            return expr, statement
        if qualified in GRAPH_KEEPING_FUNCTIONS:
            for arg in positional_args(expr):
                found = graph_loss(losses, arg, statement, depth + 1)
                if found is not None:
                    return found
            return None
        if qualified is not None:
            return None
        receiver = method_receiver(expr)
        if receiver is not None and callee_terminal_name(expr) in GRAPH_KEEPING_METHODS:
            return graph_loss(losses, receiver, statement, depth + 1)
        returned = _returned_by_helper(losses, expr)
        if returned is not None:
            # a function of this module is judged by what it returns, not by its name
            # (calc_loss_loader() returning a mean of loss.item() values is a number)
            for result, where in returned:
                if graph_loss(losses, result, where, depth + 1) is not None:
                    return expr, statement  # total += train_step(batch), a helper returning the loss tensor
            return None
        if losses.is_criterion(expr.func, statement):
            return expr, statement
        return None
    if isinstance(expr, cst.Name):
        definition = losses.flow.definition(expr.value, statement)
        if definition.statement is None or definition.statement.scope is not statement.scope:
            return None
        if definition.kind == "assign" and definition.value is not None:
            found = graph_loss(losses, definition.value, definition.statement, depth + 1)
            if found is not None:
                return found
            value = definition.value
            returned = _returned_by_helper(losses, value)
            if returned is not None:
                # loss = train_step(batch): what the helper of this module returns
                for result, where in returned:
                    found = graph_loss(losses, result, where, depth + 1)
                    if found is not None:
                        return value, definition.statement
                return None
            # loss = model(x, y): a model (or helper of another module) that returns the loss
            if looks_like_loss_name(expr.value) and isinstance(value, cst.Call) and ctx.qualified_name(value.func) is None:
                if callee_terminal_name(value) not in GRAPH_KEEPING_METHODS | {"item", "detach", "tolist", "numpy"}:
                    return value, definition.statement
            return None
        if definition.kind == "augassign" and definition.value is not None:
            return graph_loss(losses, definition.value, definition.statement, depth + 1)  # loss += aux_loss
        if definition.kind == "unpacked" and looks_like_loss_name(expr.value) and isinstance(definition.value, cst.Call):
            value = definition.value  # logits, loss = model(x, y)
            decided = _unpacked_from_helper(losses, expr.value, definition, depth)
            if decided is not _NOT_VISIBLE:
                return None if decided is None else (value, definition.statement)
            if ctx.qualified_name(value.func) is None and callee_terminal_name(value) not in ("item", "detach", "tolist"):
                return value, definition.statement
        return None
    return None


# A helper's returns could not be paired with the part asked for: the caller decides otherwise.
_NOT_VISIBLE = object()


def _part_of_helper_result(losses: "LossValues", call: cst.BaseExpression, pick, depth: int):
    """What `pick` selects in each value a function of this module returns (a tuple element, a
    dict entry; a returned name is followed to the literal assigned to it): the loss it carries,
    None when no return carries one, or _NOT_VISIBLE when a return cannot be paired."""
    returned = _returned_by_helper(losses, call)
    if not returned:
        return _NOT_VISIBLE
    for result, where in returned:
        if isinstance(result, cst.Name):
            definition = losses.flow.definition(result.value, where)
            if definition.kind != "assign" or definition.value is None or definition.statement is None:
                return _NOT_VISIBLE
            result, where = definition.value, definition.statement
        part = pick(result)
        if part is None:
            return _NOT_VISIBLE
        found = graph_loss(losses, part, where, depth + 1)
        if found is not None:
            return found
    return None


def _unpacked_from_helper(losses: "LossValues", name: str, definition, depth: int):
    """`train_loss, acc = train(...)`: the element a function of this module returns at the
    position of `name` (see _part_of_helper_result)."""
    node = definition.statement.node if definition.statement is not None else None
    if not isinstance(node, cst.Assign) or len(node.targets) != 1:
        return _NOT_VISIBLE
    targets = sequence_elements(node.targets[0].target) or []
    position = next((index for index, target in enumerate(targets) if dotted_name(target) == name), None)
    if position is None:
        return _NOT_VISIBLE

    def element(result: cst.BaseExpression) -> Optional[cst.BaseExpression]:
        elements = sequence_elements(result)
        return elements[position] if elements is not None and len(elements) == len(targets) else None

    return _part_of_helper_result(losses, definition.value, element, depth)


def _dict_entry_from_helper(losses: "LossValues", holder: cst.BaseExpression, key: str, statement: Statement, depth: int):
    """`res["train_loss"]` with `res = evaluate(...)`: the entry of the dict literal a function of
    this module returns (see _part_of_helper_result)."""
    if not isinstance(holder, cst.Name):
        return _NOT_VISIBLE
    definition = losses.flow.definition(holder.value, statement)
    if definition.kind != "assign" or definition.value is None:
        return _NOT_VISIBLE

    def entry(result: cst.BaseExpression) -> Optional[cst.BaseExpression]:
        if not isinstance(result, cst.Dict):
            return None
        for element in result.elements:
            if isinstance(element, cst.DictElement) and string_value(element.key) == key:
                return element.value
        return None

    return _part_of_helper_result(losses, definition.value, entry, depth)


def _returned_by_helper(losses: "LossValues", value: cst.BaseExpression):
    """(return value, return statement) of a function of this module called by `value`, or None
    when `value` is not such a call (a model's forward counts as not visible here)."""
    if not isinstance(value, cst.Call):
        return None
    site = losses.ctx.index.call_sites.get(value)
    callee = losses.flow.callee(site) if site is not None else None
    if callee is None or callee.function_name == "forward":
        return None
    return [
        (statement.node.value, statement)
        for statement in callee.statements
        if isinstance(statement.node, cst.Return) and statement.node.value is not None
    ]
