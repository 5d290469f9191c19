"""Gradient family: rules about the order of the calls in one training step.

NNL102 clip-grad-misordered: gradient clipping before backward() or after optimizer.step().
NNL103 clip-grad-while-scaled: clipping GradScaler-scaled gradients without unscale_() first.
NNL104 zero-grad-misplaced: zero_grad() between backward() and step(), or never at all.

All three read the training-step timeline (`analysis.timeline`): each event is judged in the
innermost timeline that backpropagates and steps (a loop body or a step function, helpers of the
module included). When the timeline cannot tell (objects not resolved, unknown code that receives
the optimizer or the scaler, events only under other conditions) the checks stay silent.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import libcst as cst

from nnlint.analysis.context import brief_text
from nnlint.analysis.names import callee_terminal_name, number_value
from nnlint.analysis.objects import SCALER, SCALER_NAME, TrainingObjects, related
from nnlint.analysis.timeline import (
    BACKWARD,
    CALL,
    CLIP,
    FORWARD,
    GRAD_WRITE,
    STEP,
    TORCH_CLIP,
    UNSCALE,
    ZERO_GRAD,
    Event,
    Timeline,
    TrainingTimelines,
    stepped_optimizer,
)
from nnlint.analysis.remote import RemoteValues
from nnlint.analysis.values import FixedValues
from nnlint.check import Check, Elsewhere
from nnlint.families.gradients import fixes
from nnlint.families.gradients.contracts import (
    CLIP_MISORDERED,
    CLIP_WHILE_SCALED,
    ZERO_GRAD_MISPLACED,
    ClipMisorderedInput,
    ClipWhileScaledInput,
    ZeroGradMisplacedInput,
)


# A threshold this large only reads the gradient norm.
NORM_READOUT = 1e5
CLIP_NAMES = frozenset({"clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "clip_grads_with_norm_", "clip_gradients"})
# Unknown calls with these names may do the work of the events we look for.
SUSPECT_CALL = ("backward", "clip", "unscale", "zero_grad", "zero_", "clear", "reset_grad")
ENVIRONMENT = re.compile(r"env|sim|game|world|scheduler|sched|ema|meter|timer|progress|pbar|profiler|tracker")


def _clearing(ctx, node: cst.CSTNode) -> str:
    """How a message quotes a gradient clearing: a long `for p in ...: p.grad = None` loop in one line."""
    if isinstance(node, cst.For) and len(ctx.code(node)) > 60:
        return f"for {ctx.code(node.target)} in {ctx.code(node.iter)}: ... .grad = None"
    return ctx.brief(node, 60)


def suspect_call(event: Event, keys: Set[Optional[str]]) -> bool:
    """An unknown call that may backpropagate, clip, unscale, step or clear gradients: a helper we
    did not look into, a call given one of `keys` (the optimizer, the scaler) as an argument, or a
    telling name (`clear_grads(model)`, `trainer.optimizer_step()`)."""
    if event.kind != CALL or event.detail.part_of_event:
        return False
    if event.detail.opaque:
        return True
    if event.roots and any(key in event.roots for key in keys if key):
        return True
    name = (event.detail.callee or "").lower()
    if name == "step" or name.endswith("_step"):
        receiver = (event.detail.receiver or "").lower()
        return not ENVIRONMENT.search(receiver)
    return any(word in name for word in SUSPECT_CALL)


class _StepCheck(Check):
    """Shared plumbing: which calls to look at, and the timelines they belong to."""

    interesting: frozenset = frozenset()

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.candidates: List[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        if callee_terminal_name(node) in self.interesting:
            self.candidates.append(node)
        elif self.interesting is CLIP_NAMES and isinstance(node.func, cst.Name):
            if self.ctx.qualified_name(node.func) in TORCH_CLIP:
                self.candidates.append(node)  # from torch.nn.utils import clip_grad_norm_ as clip

    def placed(self, node: cst.CSTNode, loops_only: bool = False) -> Optional[Tuple[Timeline, Event]]:
        """The innermost training step holding the event at `node` (with `loops_only`, the innermost
        that repeats: a loop body, or Lightning's training_step under manual optimization)."""
        return self.ctx.fact(TrainingTimelines).step_holding(node, repeating=loops_only)

    def backward_before(self, timeline: Timeline, event: Event) -> Optional[Event]:
        for candidate, _ in timeline.before(event):
            if candidate.kind == BACKWARD:
                return candidate
        return None


# -- NNL102 ---------------------------------------------------------------------------------------


class ClipOrder:
    """Where a clip sits relative to the backward() and step() of its training step."""

    def __init__(self, timeline: Timeline, clip: Event) -> None:
        self.timeline = timeline
        self.clip = clip
        keys = set(timeline.optimizers()) | {e.scaler for e in timeline.of(BACKWARD, STEP)}
        self.previous, self.previous_wrapped = self._nearest(timeline.before(clip), keys)
        self.next, self.next_wrapped = self._nearest(timeline.after(clip), keys)

    def _nearest(self, events: Iterator[Tuple[Event, bool]], keys) -> Tuple[Optional[Event], bool]:
        """The nearest backward or step of the clipped parameters' optimizer; an event we cannot
        judge (a step of an optimizer that may or may not be concerned, an unknown call that may do
        the work) is returned as well so that the caller stays silent."""
        for event, wrapped in events:
            if event.kind == BACKWARD:
                return event, wrapped
            if event.kind == STEP:
                concerned = self.timeline.concerns(self.clip, event)
                if concerned is False:
                    continue
                return event, wrapped
            if suspect_call(event, keys):
                return event, wrapped
        return None, False

    def relevant_step(self, event: Optional[Event]) -> bool:
        return event is not None and event.kind == STEP and self.timeline.concerns(self.clip, event) is True

    @property
    def before_backward(self) -> bool:
        following = self.next
        return (
            following is not None
            and following.kind == BACKWARD
            and not self.next_wrapped
            and following.runs_whenever(self.clip)
            and (self.previous is None or self.relevant_step(self.previous))
            and any(self.relevant_step(step) for step, _ in self.timeline.after(following) if step.kind == STEP)
        )

    @property
    def after_step(self) -> bool:
        previous = self.previous
        return (
            self.relevant_step(previous)
            and previous.runs_whenever(self.clip)
            and (self.next is None or self.next.kind == BACKWARD)
        )

    @property
    def between(self) -> bool:
        """Between a backward and the step of its optimizer: where clipping belongs."""
        return self.previous is not None and self.previous.kind == BACKWARD and self.relevant_step(self.next)


class _ClipCheck(_StepCheck):
    """Checks of gradient clipping: each clipping call that clips something, in its training step,
    is judged by `judge`."""

    interesting = CLIP_NAMES

    def finish(self) -> None:
        if not self.candidates:
            return
        fixed = self.ctx.fact(FixedValues)
        for node in self.candidates:
            found = self.placed(node)
            if found is None:
                continue
            timeline, clip = found
            if clip.kind == CLIP and not _clips_nothing(clip, fixed):
                self.judge(timeline, clip, fixed)

    def judge(self, timeline: Timeline, clip: Event, fixed: FixedValues) -> None:
        raise NotImplementedError


class ClipMisorderedCheck(_ClipCheck):
    rules = (CLIP_MISORDERED,)
    triggers = ("clip_grad", "clip_gradients")

    def judge(self, timeline: Timeline, clip: Event, fixed: FixedValues) -> None:
        verdict = self._verdict(timeline, clip)
        if verdict is not None:
            order, view, view_clip, anchor = verdict
            self._report(view, view_clip, anchor, order, fixed, self._fix(timeline, clip))

    def _verdict(self, timeline: Timeline, clip: Event):
        """Misplaced on every path through the step (if/else decisions): the order, and the path's view."""
        views = timeline.paths(clip)
        if not views:
            return None
        found = None
        for view, view_clip in views:
            order = ClipOrder(view, view_clip)
            if order.before_backward:
                verdict = ("before_backward", view, view_clip, order.next)
            elif order.after_step:
                verdict = ("after_step", view, view_clip, order.previous)
            else:
                return None
            found = found or verdict
        return found

    def _fix(self, timeline: Timeline, clip: Event):
        """Move the clip before the step of every path (see fixes.clip_before_steps)."""
        originals = {id(event.node): event for event in timeline.events}
        steps: List[Event] = []
        closure_backward = None
        for view, view_clip in timeline.paths(clip) or ():
            order = ClipOrder(view, view_clip)
            if order.before_backward:
                backward = order.next
                step = next((e for e, _ in view.after(backward) if e.kind == STEP and view.concerns(view_clip, e)), None)
                if step is not None and any(site.node is step.node for site in backward.via):
                    closure_backward = originals.get(id(backward.node))
            else:
                step = order.previous
            if step is None or id(step.node) not in originals:
                return None
            steps.append(originals[id(step.node)])
        return fixes.clip_before_steps(self.ctx, timeline, clip, steps, closure_backward)

    def _report(self, timeline: Timeline, clip: Event, anchor: Event, order: str, fixed: FixedValues, fix) -> None:
        ctx = self.ctx
        clip_text = ctx.brief(clip.node, 60)
        if order == "before_backward":
            backward = anchor
            step = next((e for e, _ in timeline.after(backward) if e.kind == STEP and timeline.concerns(clip, e)), None)
            step_text = ctx.brief(step.node, 60) if step is not None else "step()"
            in_closure = step is not None and any(site.node is step.node for site in backward.via)
            where = (
                f"into the closure, right after `{ctx.brief(backward.node, 60)}`"
                if in_closure
                else f"between `{ctx.brief(backward.node, 60)}` and `{step_text}`"
            )
            concise = f"gradient clipping runs before {ctx.brief(backward.node, 30)}: it never takes effect; move it after backward"
            message = (
                f"`{clip_text}` runs before `{ctx.brief(backward.node, 60)}` in the same training step: it clips the "
                f"previous step's gradients (already applied or zeroed), and `{step_text}` then applies the new "
                f"gradients unclipped, so clipping never takes effect. Move it {where}."
            )
        else:
            step = anchor
            backward = self.backward_before(timeline, step)
            backward_text = ctx.brief(backward.node, 60) if backward is not None else "backward()"
            concise = f"gradient clipping runs after {ctx.brief(step.node, 30)}: it never takes effect; move it before the step"
            message = (
                f"`{clip_text}` runs after `{ctx.brief(step.node, 60)}`: the update has already used the unclipped "
                f"gradients, and the clipped ones are only zeroed or added to the next step's, so clipping never "
                f"takes effect. Move it between `{backward_text}` and `{ctx.brief(step.node, 60)}`."
            )
        probe_input = ClipMisorderedInput(**_clip_fields(ctx, clip, fixed), order=order)
        self.report(clip.node, CLIP_MISORDERED, message, probe_input, short=concise, fix=fix)


def _clips_nothing(clip: Event, fixed: FixedValues) -> bool:
    """`clip_grad_norm_(params, float("inf"))`, a huge or a None limit: used to measure the norm only."""
    limit = clip.detail.limit
    if limit is None:
        return clip.detail.api in ("torch", "accelerate", "module")
    if isinstance(limit, cst.Name) and limit.value == "None":
        return True
    value = number_value(limit)
    if value is not None and value >= NORM_READOUT:
        return True  # clip_grad_norm_(params, 1e9): reads the norm, clips nothing
    return fixed.is_infinite(limit)


def _clip_fields(ctx, clip: Event, fixed: FixedValues) -> Dict[str, Any]:
    """The fields of a ClipInput for this clipping event."""
    limit = clip.detail.limit
    return {
        "clip": ctx.code(clip.node),
        "api": clip.detail.api,
        "function": clip.detail.function or "norm",
        "limit": ctx.code(limit) if limit is not None else None,
        "names": fixed.resolve_for_probe([limit], clip.statement) if limit is not None else {},
    }


# -- NNL103 ---------------------------------------------------------------------------------------


class ClipWhileScaledCheck(_ClipCheck):
    rules = (CLIP_WHILE_SCALED,)
    triggers = ("clip_grad",)

    def judge(self, timeline: Timeline, clip: Event, fixed: FixedValues) -> None:
        if clip.detail.api != "torch":
            return
        # on some path through the step (the AMP branch of `if scaler: ... else: ...`)
        for view, view_clip in timeline.paths(clip) or ():
            order = ClipOrder(view, view_clip)
            if not order.relevant_step(order.next):
                continue  # not before a step: NNL102's business
            backward = self._scaled_backward_before(view, view_clip)
            if backward is not None:
                # the fix reads the events as written, with the conditions the path decided
                originals = {id(event.node): event for event in timeline.events}
                fix = fixes.unscale_before_clip(
                    self.ctx, timeline, clip, originals[id(backward.node)], originals[id(order.next.node)]
                ) if id(backward.node) in originals and id(order.next.node) in originals else None
                self._report(view, view_clip, backward, order.next, fixed, fix)
                break

    def _scaled_backward_before(self, timeline: Timeline, clip: Event) -> Optional[Event]:
        keys = set(timeline.optimizers()) | {e.scaler for e in timeline.of(BACKWARD, STEP) if e.scaler}
        for event, _ in timeline.before(clip):
            if event.kind == UNSCALE:
                return None
            if event.kind == STEP and timeline.concerns(clip, event) is not False:
                return None
            if suspect_call(event, keys):
                return None
            if event.kind == BACKWARD:
                if event.detail.form != "scaled" or not self._is_grad_scaler(timeline, event):
                    return None
                return event
        return None

    def _is_grad_scaler(self, timeline: Timeline, backward: Event) -> bool:
        enabled = backward.detail.scaler_enabled
        if enabled is not None:
            return enabled
        # not constructed in this module: a scaler named so and used with step()/update()
        scaler = backward.scaler
        if scaler is None or not SCALER_NAME.search(scaler.split(".")[-1]):
            return False
        objects = self.ctx.fact(TrainingObjects)
        node = backward.detail.scaler_node
        if node is not None and objects.kind(node, backward.statement) not in (SCALER, None):
            return False
        return any(step.scaler == scaler for step in timeline.of(STEP))

    def _report(self, timeline: Timeline, clip: Event, backward: Event, step: Event, fixed: FixedValues, fix) -> None:
        ctx = self.ctx
        scaler = backward.scaler or "scaler"
        optimizer = stepped_optimizer(step)
        optimizer_text = ctx.code(optimizer) if optimizer is not None else "optimizer"
        limit = clip.detail.limit
        limit_text = ctx.code(limit) if limit is not None else "max_norm"
        objects = self.ctx.fact(TrainingObjects)
        scaler_node = backward.detail.scaler_node
        init_scale = objects.init_scale(scaler_node, backward.statement) if scaler_node is not None else None
        scale_text = f"init_scale={ctx.code(init_scale)}" if init_scale is not None else "65536 at the start"
        if clip.detail.function == "value":
            effect = (
                f"every gradient element is compared with {limit_text} while multiplied by the loss scale "
                f"({scale_text}), so the effective threshold is {limit_text} divided by the scale and almost "
                f"every element is cut far below what you intended"
            )
        else:
            effect = (
                f"the norm it measures is the true norm times the loss scale ({scale_text}), so it clips on "
                f"almost every step and, once `{scaler}.step()` unscales, the applied gradient norm is {limit_text} "
                f"divided by the scale: updates thousands of times too small"
            )
        message = (
            f"`{ctx.brief(clip.node, 60)}` clips the gradients of `{ctx.brief(backward.node, 60)}` while they are still "
            f"scaled: {effect}. Call `{scaler}.unscale_({optimizer_text})` right before clipping."
        )
        probe_input = ClipWhileScaledInput(
            **_clip_fields(ctx, clip, fixed),
            init_scale=ctx.code(init_scale) if init_scale is not None else None,
            scale_names=fixed.resolve_for_probe([init_scale], backward.statement) if init_scale is not None else {},
        )
        concise = f"gradients clipped while still scaled by the GradScaler: call {brief_text(scaler, 20)}.unscale_(optimizer) first"
        self.report(clip.node, CLIP_WHILE_SCALED, message, probe_input, short=concise, fix=fix)


# -- NNL104 ---------------------------------------------------------------------------------------


class ZeroGradMisplacedCheck(_StepCheck):
    rules = (ZERO_GRAD_MISPLACED,)
    triggers = ("backward",)
    interesting = frozenset({"step"})

    def finish(self) -> None:
        reported: Set[int] = set()
        for node in self.candidates:
            found = self.placed(node)
            if found is not None and found[1].kind == STEP:
                timeline, step = found
                zero = self._cleared_before_step(timeline, step)
                if zero is not None and id(zero.node) not in reported:
                    reported.add(id(zero.node))
                    self._report_cleared(timeline, zero, step)
                    continue
            found = self.placed(node, loops_only=True)
            if found is not None and found[1].kind == STEP and id(node) not in reported:
                timeline, step = found
                if self._never_cleared(timeline, step):
                    reported.add(id(node))
                    self._report_never_cleared(timeline, step)
        self._never_cleared_elsewhere(reported)

    def _never_cleared_elsewhere(self, reported: Set[int]) -> None:
        """A loop that calls a function of another project file that backpropagates and steps the
        optimizer it is given (`train_step(model, x, y, optimizer)` from engine.py), while neither
        that function (read in its file) nor the loop clears the gradients. Reported at the call."""
        remote = self.ctx.fact(RemoteValues)
        if not remote.active:
            return
        timelines = self.ctx.fact(TrainingTimelines)
        for site in list(self.ctx.index.call_sites.values()):
            call = site.node
            if id(call) in reported or site.statement is None or remote.callee(call) is None:
                continue
            # the innermost training loop where the call's function steps (its events share the call)
            found = [pair for pair in timelines.loops_holding(call, STEP) if pair[0].is_training_step]
            if not found or found[0][1].detail.remote is None:
                continue
            timeline, step = found[0]
            optimizer = self._passed_optimizer(call, step)
            if optimizer is None or not self._plain_optimizer(step, timeline, optimizer):
                continue
            if self._never_cleared(timeline, step, seen_through=call):
                reported.add(id(call))
                self._report_never_cleared(timeline, step, optimizer)

    def _passed_optimizer(self, call: cst.Call, step: Event) -> Optional[cst.BaseExpression]:
        """The argument of `call` that is the optimizer a function of another file steps."""
        objects = self.ctx.fact(TrainingObjects)
        passed = [arg.value for arg in call.args if step.target is not None and objects.key(arg.value, step.statement) == step.target]
        return passed[0] if len(passed) == 1 else None

    def _clears_nothing(self, call: cst.Call) -> bool:
        """The function of another project file that `call` runs, read in its file: nothing in it
        clears gradients or calls code that might (so its summary told the whole story)."""
        found = self.ctx.fact(RemoteValues).project_function(call.func)
        if found is None:
            return False
        module, scope = found
        events = module.fact(TrainingTimelines).function(scope).events
        if not any(e.kind == STEP for e in events) or not any(e.kind == BACKWARD for e in events):
            return False
        return not any(e.kind in (ZERO_GRAD, GRAD_WRITE) or suspect_call(e, set()) for e in events)

    # (a) zero_grad between backward and step

    def _cleared_before_step(self, timeline: Timeline, step: Event) -> Optional[Event]:
        if step.detail.closure == "unknown":
            return None  # its closure may backpropagate inside the step
        keys = {step.target, step.scaler}
        for event, _ in timeline.before(step):
            if event.kind == BACKWARD:
                return None
            if event.kind == STEP and event.target == step.target:
                return None
            if suspect_call(event, keys):
                return None
            if event.kind == GRAD_WRITE and timeline.concerns(event, step) is not False:
                return None
            if event.kind != ZERO_GRAD:
                continue
            concerned = self._concerns(timeline, event, step)
            if concerned is None:
                return None
            if concerned and event.runs_whenever(step):
                return event
        return None

    def _concerns(self, timeline: Timeline, zero: Event, step: Event) -> Optional[bool]:
        """Whether clearing `zero` clears what `step` applies. When the code does not tell and only
        one optimizer steps here, an optimizer's zero_grad is taken to be that optimizer's, and a
        model's only when that model is the one run forward here."""
        concerned = timeline.concerns(zero, step, assume_single=False)
        if concerned is not None or timeline.single_optimizer() is None:
            return concerned
        if zero.target_kind == "optimizer":
            return True
        models = {f.target for f in timeline.events if f.kind == FORWARD}
        if zero.target is not None and len(models) == 1 and related(next(iter(models)) or "", zero.target):
            return True  # the only model trained here (not a teacher, not the other network of a GAN)
        return None

    def _report_cleared(self, timeline: Timeline, zero: Event, step: Event) -> None:
        ctx = self.ctx
        backward = self.backward_before(timeline, zero)
        backward_text = ctx.brief(backward.node, 60) if backward is not None else "backward()"
        message = (
            f"`{_clearing(ctx, zero.node)}` runs after `{backward_text}` and before `{ctx.brief(step.node, 60)}`: the "
            f"gradients are cleared before the optimizer uses them, so every update sees zero gradients and the "
            f"model does not learn. Clear them before the forward pass or after `{ctx.brief(step.node, 60)}`."
        )
        probe_input = ZeroGradMisplacedInput("cleared_before_step", ctx.code(step.node), zero_grad=ctx.code(zero.node))
        concise = f"{ctx.brief(zero.node, 30)} clears the gradients before {ctx.brief(step.node, 30)} uses them: move it"
        self.report(zero.node, ZERO_GRAD_MISPLACED, message, probe_input, short=concise, fix=fixes.clear_after_step(ctx, zero, step))

    # (b) never cleared

    def _never_cleared(self, timeline: Timeline, step: Event, seen_through: Optional[cst.Call] = None) -> bool:
        """`seen_through`: the call of a function of another file whose events the loop holds; its
        opaque remainder does not count when that function, read in its file, clears nothing."""
        if step.detail.closure == "unknown" or step.target is None:
            return False
        if seen_through is None and not self._plain_optimizer(step, timeline):
            return False
        keys = {step.target, step.scaler}
        for event in timeline.events:
            if event.kind in (ZERO_GRAD, GRAD_WRITE) and self._concerns(timeline, event, step) is not False:
                return False
            if event.node is seen_through and event.kind == CALL and event.detail.remote_module:
                if not self._clears_nothing(seen_through):
                    return False
                continue
            if suspect_call(event, keys):
                return False
        return any(event.kind == BACKWARD for event in timeline.events)

    def _plain_optimizer(self, step: Event, timeline: Timeline, expr: Optional[cst.BaseExpression] = None) -> bool:
        """A torch-style optimizer whose step() leaves .grad alone, built outside this loop
        (`expr`: the optimizer, when the step is not a call on it here)."""
        objects = self.ctx.fact(TrainingObjects)
        expr = expr if expr is not None else stepped_optimizer(step)
        if expr is None:
            return False
        sources, _ = objects.sources(expr, step.statement)
        for value, where in sources:
            if isinstance(value, cst.Call):
                if isinstance(value.func, cst.Name) and value.func.value in self.ctx.index.class_by_name:
                    return False  # an optimizer class of this module: its step() may clear
                if timeline.kind == "loop" and timeline.root in where.blocks:
                    return False  # a fresh optimizer every iteration
            qualified = self.ctx.qualified_name(value.func) if isinstance(value, cst.Call) else None
            if qualified and qualified.split(".")[0] in ("deepspeed", "colossalai", "apex"):
                return False
        return True

    def _report_never_cleared(self, timeline: Timeline, step: Event, passed: Optional[cst.BaseExpression] = None) -> None:
        """`passed`: the optimizer given to a function of another file that steps it."""
        ctx = self.ctx
        optimizer = passed if passed is not None else stepped_optimizer(step)
        optimizer_text = ctx.code(optimizer) if optimizer is not None else "optimizer"
        backward = self.backward_before(timeline, step)
        backward_text = ctx.brief(backward.node, 60) if backward is not None else "backward()"
        if timeline.kind == "loop":
            where = "the loop"
        else:
            where = f"{timeline.scope.name} (Lightning does not clear them under manual optimization)"
        message = (
            f"`{ctx.brief(step.node, 60)}` applies the gradients of `{backward_text}` every iteration, but nothing in "
            f"{where} clears them (no `{optimizer_text}.zero_grad()`): gradients accumulate over the whole run and "
            f"each update uses the sum of all past gradients. Call `{optimizer_text}.zero_grad()` once per step, "
            f"before backward() or after `{ctx.brief(step.node, 60)}`."
        )
        concise = f"gradients are never cleared, so they accumulate: call {brief_text(optimizer_text, 24)}.zero_grad() every step"
        probe_input = ZeroGradMisplacedInput("never_cleared", ctx.code(step.node))
        source = step.detail.remote
        if passed is not None and source is not None and ctx.project is not None:
            # the step and the backward are in another file: name them, no fix here
            message = (
                f"`{ctx.brief(step.node, 60)}` runs `{source.function}()` of {ctx.project.display(source.path)}, which "
                f"backpropagates and steps `{optimizer_text}` every iteration, but neither it nor the loop clears the "
                f"gradients (no `{optimizer_text}.zero_grad()`): gradients accumulate over the whole run and each update "
                f"uses the sum of all past gradients. Call `{optimizer_text}.zero_grad()` once per step, in the loop or "
                f"in `{source.function}()` before backward()."
            )
            related = tuple(
                (Elsewhere(e.detail.remote.path, tuple(e.detail.remote.at)), f"{source.function}() {what}")
                for e, what in ((backward, "backpropagates"), (step, "steps the optimizer"))
                if e is not None and e.detail.remote is not None
            )
            self.report(step.node, ZERO_GRAD_MISPLACED, message, probe_input, short=concise, related=related)
            return
        self.report(step.node, ZERO_GRAD_MISPLACED, message, probe_input, short=concise, fix=fixes.clear_every_step(ctx, step))
