"""Fixes of the gradients family (what `--fix` rewrites; see each rule's doc, section Fix).

NNL102: the clip moved to just before the optimizer's step (after backward); before a GradScaler's
step, `scaler.unscale_(optimizer)` comes with it.
NNL103: `scaler.unscale_(optimizer)` inserted right before the clip.
NNL104: a zero_grad between backward and step moved to just after the step; a loop that never
clears gets `optimizer.zero_grad()` after its step.

Names come from the user's code (the scaler and optimizer as the step writes them), and an
inserted statement only goes where those names mean the same thing.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.index import Scope, Statement
from nnlint.analysis.timeline import BACKWARD, UNSCALE, Event, Guard, Timeline, stepped_optimizer
from nnlint.finding import Fix
from nnlint.rewrite import Rewrite, beside, fix_builder

# --- where statements go ------------------------------------------------------------------------


def unit(statement: Statement) -> cst.CSTNode:
    """What moves with a statement: the `if` around it when it is that `if`'s only statement and
    the `if` has no else (`if accelerator.sync_gradients: clip(...)` moves as a whole)."""
    node = statement.node
    for block in reversed(statement.blocks):
        if not (isinstance(block, cst.If) and block.orelse is None and _only_statement(block, node)):
            break
        node = block
    return node


def _only_statement(block: cst.If, node: cst.CSTNode) -> bool:
    body = block.body
    if not isinstance(body, cst.IndentedBlock) or len(body.body) != 1:
        return False
    line = body.body[0]
    return line is node or isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1 and line.body[0] is node


def valid_in(text: str, written_in: Scope, used_in: Scope) -> bool:
    """Whether a name written in one scope means the same in another: the same scope, or
    `self.<attr>` in two methods of one class."""
    if written_in is used_in:
        return True
    return (
        text.startswith("self.") and written_in.class_info is not None
        and written_in.class_info is used_in.class_info
    )


def _condition(guards: Sequence[Guard], ctx: ModuleContext) -> Optional[str]:
    """The test under which if/else branches run (`use_amp`, `not (scaler is None)`); None when a
    branch is not an if/else."""
    parts = []
    for guard in guards:
        if guard.branch not in ("if", "else") or guard.test is None:
            return None
        test = ctx.code(guard.test)
        parts.append(test if guard.branch == "if" else f"not ({test})")
    return " and ".join(parts)


def unscale_code(ctx: ModuleContext, backward: Event, step: Event, at: Statement, shared: Sequence[Guard]) -> Optional[str]:
    """`scaler.unscale_(optimizer)` for the scaled backward and the step, written for the scope of
    `at`, under the backward's conditions that `shared` does not hold already; None when the
    names would not mean the same there."""
    optimizer = stepped_optimizer(step)
    scaler = backward.scaler
    if optimizer is None or scaler is None:
        return None
    optimizer_text = ctx.code(optimizer)
    if not valid_in(scaler, backward.statement.scope, at.scope) or not valid_in(optimizer_text, step.statement.scope, at.scope):
        return None
    extra = [guard for guard in backward.conditions if guard not in shared]
    condition = _condition(extra, ctx)
    if condition is None:
        return None
    code = f"{scaler}.unscale_({optimizer_text})"
    if condition:
        code = f"if {condition}:\n{Rewrite(ctx).indent_unit()}{code}"
    return code


def _running(event: Event, step: Event) -> Optional[cst.CSTNode]:
    """The statement that runs `step`, in the scope of `event`: the step's own statement, or the
    call of the helper it is in."""
    if event.statement is event.anchor:
        return step.anchor.node
    if event.statement.scope is step.statement.scope:
        return step.statement.node
    return None


def _unscale_after(timeline: Timeline, step: Event) -> Optional[Event]:
    for event, _ in timeline.after(step):
        if event.kind == UNSCALE and timeline.concerns(event, step) is not False:
            return event
    return None


def _unscaled(timeline: Timeline, step: Event) -> bool:
    """An unscale_() that may be the step's optimizer's is already there."""
    return any(e.kind == UNSCALE and timeline.concerns(e, step) is not False for e in timeline.events)


# --- NNL102 -------------------------------------------------------------------------------------


@fix_builder
def clip_before_steps(ctx: ModuleContext, timeline: Timeline, clip: Event, steps: List[Event], closure_backward: Optional[Event]) -> Optional[Fix]:
    """Move the clip to just before each step that applies the gradients it should clip (one per
    if/else path), with `scaler.unscale_(optimizer)` before a GradScaler's step; inside an LBFGS
    closure, to just after its backward."""
    moved = unit(clip.statement)
    rewrite = Rewrite(ctx)
    if closure_backward is not None:
        if clip.statement is not clip.anchor:
            return None
        rewrite.move_after(moved, closure_backward.statement.node)
        return rewrite.fix("Move the clip into the closure, after backward()")
    targets = []
    for step in steps:
        target = _running(clip, step)
        if target is None:
            return None
        if any(t is target for t, _ in targets):
            continue
        prefix = ""
        late = _unscale_after(timeline, step)
        if late is not None:
            # `scaler.step(opt); scaler.unscale_(opt); clip(...)`: the unscale_ goes with the clip
            if late.statement.scope is not clip.statement.scope or len(steps) > 1:
                return None
            prefix = rewrite.code(late.statement.node)
            rewrite.delete(late.statement.node)
        elif step.detail.via_scaler and not _unscaled(timeline, step):
            backward = next((e for e in timeline.events if e.kind == BACKWARD and e.scaler == step.scaler), None)
            code = unscale_code(ctx, backward, step, step.statement, step.conditions) if backward is not None else None
            if code is None:
                return None
            prefix = code
        targets.append((target, prefix))
    if not targets:
        return None
    for target, prefix in targets:
        if not rewrite.copy_before(moved, target, prefix):
            return None
    rewrite.delete(moved)
    where = "before the optimizer step" if len(targets) == 1 else "before the optimizer step of each branch"
    return rewrite.fix(f"Move the clip {where}")


# --- NNL103 -------------------------------------------------------------------------------------


@fix_builder
def unscale_before_clip(ctx: ModuleContext, timeline: Timeline, clip: Event, backward: Event, step: Event) -> Optional[Fix]:
    """`scaler.unscale_(optimizer)` on the line before the clip (before the `if` that only
    clips), under the conditions of the scaled backward that the clip does not share."""
    if _unscaled(timeline, step):
        return None  # a second unscale_ in one step raises
    target = unit(clip.statement)
    code = unscale_code(ctx, backward, step, clip.statement, clip.conditions)
    if code is None:
        return None
    return Rewrite(ctx).insert_before(target, code).fix(f"Insert `{code.splitlines()[-1].strip()}` before the clip")


# --- NNL104 -------------------------------------------------------------------------------------


@fix_builder
def clear_after_step(ctx: ModuleContext, zero: Event, step: Event) -> Optional[Fix]:
    """Move the zero_grad from between backward and step to just after the step (in the same
    block as before, so it clears as often as it did)."""
    anchor = beside(zero, step)
    if anchor is None:
        return None
    return Rewrite(ctx).move_after(unit(zero.statement), anchor).fix("Move the zero_grad() after the optimizer step")


@fix_builder
def clear_every_step(ctx: ModuleContext, step: Event) -> Optional[Fix]:
    """`optimizer.zero_grad()` right after the step that never had its gradients cleared."""
    optimizer = stepped_optimizer(step)
    if optimizer is None or step.statement is not step.anchor:
        return None
    text = ctx.code(optimizer)
    return Rewrite(ctx).insert_after(step.statement.node, f"{text}.zero_grad()").fix(f"Call {text}.zero_grad() after the step")
