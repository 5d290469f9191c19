"""Fixes of the setup family (what `--fix` rewrites; see each rule's doc, section Fix).

NNL601: `shuffle=True` on the training DataLoader.
NNL603: `scheduler.step()` moved after the optimizer's step, or out of the batch loop to once per epoch.
NNL604: `.item()` (or `.detach()` where the total is used as a tensor later) on the loss added to the total.
"""

from __future__ import annotations

import re
from typing import Optional

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.index import Statement
from nnlint.analysis.names import positional_args
from nnlint.analysis.timeline import Event
from nnlint.finding import Applicability, Fix
from nnlint.rewrite import Rewrite, beside, fix_builder, with_keyword

# --- NNL601 -----------------------------------------------------------------------------------


@fix_builder
def shuffle_loader(ctx: ModuleContext, call: cst.Call) -> Optional[Fix]:
    """`DataLoader(ds, batch_size=32)` -> `DataLoader(ds, batch_size=32, shuffle=True)`; a
    `shuffle=False` (keyword or third positional argument) becomes True."""
    rewrite = Rewrite(ctx)
    positional = positional_args(call)
    if len(positional) > 2:
        rewrite.replace(positional[2], "True")
    else:
        rewrite.replace(call, with_keyword(call, "shuffle", "True"))
    # another DataLoader (or a sampler argument set to None) may not take shuffle as torch's does
    unsafe = ctx.qualified_name(call.func) != "torch.utils.data.DataLoader" or any(
        arg.keyword is not None and "sampler" in arg.keyword.value for arg in call.args
    )
    return rewrite.fix("Pass shuffle=True", Applicability.UNSAFE if unsafe else Applicability.SAFE)


# --- NNL603 -----------------------------------------------------------------------------------


@fix_builder
def step_scheduler_after(ctx: ModuleContext, scheduler: Event, step: Event, step_text: str) -> Optional[Fix]:
    """Move `scheduler.step()` below the optimizer's step: below the step itself when both sit in
    the same block, else below the statement of the scheduler's block that holds the step (the
    `if` of gradient accumulation, the batch loop, the call of the helper that steps), so the
    scheduler keeps its frequency."""
    anchor = beside(scheduler, step)
    if anchor is None:
        return None
    rewrite = Rewrite(ctx).move_after(scheduler.statement.node, anchor)
    return rewrite.fix(f"Move the scheduler step after `{step_text}`")


@fix_builder
def step_scheduler_per_epoch(ctx: ModuleContext, scheduler: Statement, batch_loop: cst.CSTNode) -> Optional[Fix]:
    """Move `scheduler.step()` from the body of the batch loop to just after the loop."""
    if batch_loop not in scheduler.blocks or scheduler.blocks[-1] is not batch_loop:
        return None  # stepped in a block inside the loop body: not a plain per-batch step
    rewrite = Rewrite(ctx).move_after(scheduler.node, batch_loop)
    return rewrite.fix("Step the scheduler once per epoch, after the batch loop")


# --- NNL604 -----------------------------------------------------------------------------------

# what the total (or an element of it) is asked later that a Python number cannot answer
_TENSOR_USE = r"\s*\.\s*(?:item|cpu|cuda|detach|numpy|tolist|to|clone|backward|float|double|half|mean|sum|size|dim|shape|squeeze|view|reshape|device|dtype)\b"


@fix_builder
def detach_accumulated_loss(ctx: ModuleContext, added: cst.BaseExpression, accumulator: str) -> Optional[Fix]:
    """`total += loss` -> `total += loss.item()`; the operand that carries the loss in `loss *
    x.size(0)` gets the call. `.detach()` instead of `.item()` when the total (or an element of a
    list of losses) is used as a tensor later (`total.item()`,
    `torch.stack(history)`), so that code keeps working."""
    operand = _loss_operand(added)
    method = "detach" if _used_as_tensor(ctx.source, accumulator) else "item"
    bare = not isinstance(operand, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)) and not operand.lpar
    target = operand.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()]) if bare else operand
    new = cst.Call(func=cst.Attribute(value=target, attr=cst.Name(method)))
    return Rewrite(ctx).replace(operand, new).fix(f"Accumulate `{ctx.code(operand)}.{method}()`")


def _loss_operand(added: cst.BaseExpression) -> cst.BaseExpression:
    """The operand of a product that is not a number or a size (`loss` in `loss * x.size(0)`);
    the whole expression when both operands may be tensors."""
    while isinstance(added, cst.BinaryOperation):
        if _counts(added.right):
            added = added.left
        elif _counts(added.left):
            added = added.right
        else:
            break
    return added


def _counts(expr: cst.BaseExpression) -> bool:
    """A literal number or a size (`x.size(0)`, `len(batch)`, `inputs.shape[0]`, `batch_size`)."""
    if isinstance(expr, (cst.Integer, cst.Float)):
        return True
    text = re.sub(r"\s+", "", cst.Module([]).code_for_node(expr))
    return bool(re.search(r"\.size\(|\.shape\[|^len\(|size$|count$|^n$|numel", text))


def _used_as_tensor(source: str, accumulator: str) -> bool:
    every = {accumulator}
    # `for value in self.history` / `[v.item() for v in history]`: the elements count too
    every.update(re.findall(rf"\bfor\s+(\w+)\s+in\s+{re.escape(accumulator)}\b", source))
    for name in every:
        escaped = re.escape(name)
        if re.search(rf"(?<![\w.]){escaped}(?:\[[^\]]*\])?{_TENSOR_USE}", source):
            return True
        if re.search(rf"\btorch\.\w+\(\s*\[?\s*{escaped}\b", source):
            return True
    return False
