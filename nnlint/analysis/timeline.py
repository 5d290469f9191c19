"""The training-step timeline: what happens, in which order, in one loop body or one function.

For every function and every `for`/`while` loop of the module there is a `Timeline`: the ordered
`Event`s of its body, those of the helper functions of this module it calls (two levels deep),
and those of a closure passed to `optimizer.step(closure)` (which run inside the step, before it).

Event kinds (``Event.kind``, an `EventKind`; what each adds is in ``Event.detail``, an `EventDetail`):

- ``forward``: a model called (`model(x)`, `self.model(x)`, `self(x)`, `model.forward(x)`)
- ``loss``: an assignment of a loss value computed in the statement (`loss = criterion(out, y)`,
  `loss = model(**batch).loss`)
- ``backward``: every form recognised by `analysis.training.backward_call` except
  `torch.autograd.grad` (it does not fill `.grad`); ``detail.form`` says which, ``scaler`` is
  the GradScaler's key for `scaler.scale(loss).backward()`
- ``clip``: `torch.nn.utils.clip_grad_norm_` / `clip_grad_value_` / `clip_grads_with_norm_`,
  `accelerator.clip_grad_norm_` / `clip_grad_value_`, `fabric.clip_gradients`, Lightning's
  `self.clip_gradients`, FSDP's `model.clip_grad_norm_`; ``detail.api`` is torch / accelerate /
  fabric / lightning / module, ``roots`` the models whose parameters are clipped
- ``unscale``: `scaler.unscale_(opt)`, `accelerator.unscale_gradients()`
- ``step``: an optimizer's step, `opt.step()` or `scaler.step(opt)` (target: the optimizer,
  ``scaler``: the GradScaler, ``roots``: the models it updates when visible)
- ``zero_grad``: `opt.zero_grad()`, `model.zero_grad()` (``detail.set_to_none``), and the
  loops `for p in model.parameters(): p.grad = None` (also `p.grad.zero_()`, `del p.grad`),
  reported at the `for`
- ``grad_write``: any other assignment to a `.grad` (gradients set by hand)
- ``scheduler_step``: `scheduler.step(...)` of an LR scheduler
- ``mode``: `model.train()` / `model.eval()` / `model.train(False)`; ``detail.training`` is
  True, False or None (unknown argument)
- ``call``: any other call that is not to a known library; ``roots`` holds the keys of its
  arguments, ``detail.receiver`` its receiver, ``detail.opaque`` marks a helper of this module
  that was not followed (too deep), ``detail.part_of_event`` a call in the same statement as an
  event (it computes the event's arguments); checks use them to stay silent where unknown code may
  do the work

Each event knows the object it acts on (``target``: a key from `analysis.objects`, in the terms of
the timeline's own scope: a helper's parameters are replaced by the caller's arguments), the
conditions under which it runs (``guards``: the enclosing `if`/`else` branches, nested loops,
`except` handlers, between the timeline's root and the event, call sites included), and the helper
calls it is reached through (``via``).
"""

from __future__ import annotations

import itertools
import enum
from dataclasses import dataclass, field, replace
from typing import Any, Dict, FrozenSet, Iterator, List, Optional, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.index import CallSite, Scope, Statement
from nnlint.analysis.names import argument, callee_terminal_name, dotted_name, keyword_arg, method_receiver, plain_names, positional_args
from nnlint.analysis.objects import (
    ACCELERATOR,
    FABRIC,
    MODEL,
    OPTIMIZER,
    SCALER,
    SCHEDULER,
    TrainingObjects,
    optimizer_root,
    related,
)
from nnlint.analysis.remote import RemoteValues
from nnlint.analysis.training import LossValues, backward_call, looks_like_loss_name, manual_optimization



class EventKind(str, enum.Enum):
    """What an event is (see the module's docstring for each)."""

    FORWARD = "forward"
    LOSS = "loss"
    BACKWARD = "backward"
    CLIP = "clip"
    UNSCALE = "unscale"
    STEP = "step"
    ZERO_GRAD = "zero_grad"
    GRAD_WRITE = "grad_write"
    SCHEDULER_STEP = "scheduler_step"
    MODE = "mode"
    CALL = "call"
    # a call of a helper of this module (or a step's closure), only while the timeline is built:
    # replaced by the helper's own events
    EXPAND = "expand"


# The kinds by their short names, as the checks use them.
FORWARD, LOSS, BACKWARD, CLIP, UNSCALE, STEP = (
    EventKind.FORWARD, EventKind.LOSS, EventKind.BACKWARD, EventKind.CLIP, EventKind.UNSCALE, EventKind.STEP
)
ZERO_GRAD, GRAD_WRITE, SCHEDULER_STEP, MODE, CALL, EXPAND = (
    EventKind.ZERO_GRAD, EventKind.GRAD_WRITE, EventKind.SCHEDULER_STEP, EventKind.MODE, EventKind.CALL, EventKind.EXPAND
)

TORCH_CLIP = {
    "torch.nn.utils.clip_grad_norm_": "norm",
    "torch.nn.utils.clip_grad_norm": "norm",
    "torch.nn.utils.clip_grad.clip_grad_norm_": "norm",
    "torch.nn.utils.clip_grad.clip_grad_norm": "norm",
    "torch.nn.utils.clip_grad_value_": "value",
    "torch.nn.utils.clip_grad.clip_grad_value_": "value",
    "torch.nn.utils.clip_grads_with_norm_": "norm",
}
# In-place methods on `p.grad` that clear it.
CLEARING_METHODS = frozenset({"zero_", "detach_", "fill_", "mul_", "requires_grad_"})
# Branches that may not run. A nested loop's body ("loop") is taken to run: in training code the
# inner loop over micro-batches or parameters does; `Event.in_nested_loop` tells it apart.
CONDITIONAL_BRANCHES = frozenset({"if", "else", "loop-else", "except", "try-else", "case"})
# Libraries whose functions never clip, unscale, step or clear gradients behind the code's back.
KNOWN_LIBRARIES = frozenset(
    {"torch", "builtins", "math", "numpy", "os", "sys", "time", "logging", "random", "json", "re", "collections",
     "itertools", "functools", "tqdm", "wandb", "pathlib", "shutil", "copy", "datetime", "warnings", "pickle",
     "torchvision", "PIL", "cv2", "matplotlib", "pandas", "yaml", "argparse", "typing", "dataclasses", "contextlib",
     "tensorboardX", "mlflow", "einops"}
)
NOT_A_MODEL_IN_MODE = ("trainer", "runner", "engine", "env", "pipeline", "pipe", "tokenizer")


@dataclass(frozen=True, eq=False)
class Guard:
    """One enclosing branch: `node` is the If/For/While/Try/Match, `branch` which part of it."""

    node: cst.CSTNode
    branch: str  # if, else, loop-else, except, try-else, case (conditional); loop, try, finally, with

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Guard) and other.node is self.node and other.branch == self.branch

    def __hash__(self) -> int:
        return hash((id(self.node), self.branch))

    @property
    def conditional(self) -> bool:
        return self.branch in CONDITIONAL_BRANCHES

    @property
    def is_loop(self) -> bool:
        return self.branch == "loop"

    @property
    def test(self) -> Optional[cst.BaseExpression]:
        """The condition of an if/while, the iterable of a for."""
        if isinstance(self.node, (cst.If, cst.While)):
            return self.node.test
        if isinstance(self.node, cst.For):
            return self.node.iter
        return None


@dataclass(frozen=True)
class RemoteSource:
    """Where in another module of the project an event's code is (from that module's summary)."""

    path: str
    at: Any  # [line, column, end_line, end_column]
    function: str


@dataclass
class EventDetail:
    """What an event's kind adds to it; each field names the kinds that set it (None or False
    elsewhere)."""

    # backward: how (`analysis.training.backward_call`'s form, "remote"); zero_grad and grad_write:
    # "parameter loop" or "assignment"
    form: Optional[str] = None
    scaler_enabled: Optional[bool] = None  # backward through a GradScaler: enabled? (None: unknown)
    scaler_node: Optional[cst.BaseExpression] = None  # backward through a GradScaler: the scaler
    api: Optional[str] = None  # clip: torch / accelerate / fabric / lightning / module; unscale: accelerate
    function: Optional[str] = None  # clip: "norm" or "value"
    limit: Optional[cst.BaseExpression] = None  # clip: the max norm or value
    parameters: Optional[cst.BaseExpression] = None  # clip: the parameters clipped
    set_to_none: Optional[str] = None  # zero_grad: the code of its set_to_none argument
    closure: Optional[str] = None  # step given a closure: "function" (followed) or "unknown"
    via_scaler: bool = False  # step: `scaler.step(optimizer)`
    arguments: Optional[int] = None  # scheduler_step: how many arguments it is given
    training: Optional[bool] = None  # mode: True, False, or None (unknown argument)
    callee: Optional[str] = None  # call: the called name
    qualified: Optional[str] = None  # call: its qualified name
    receiver: Optional[str] = None  # call: its receiver
    opaque: bool = False  # call: a helper that was not followed
    part_of_event: bool = False  # call: computes the arguments of an event of its statement
    remote_module: Optional[str] = None  # call of a function of another module: that module's path
    remote: Optional[RemoteSource] = None  # an event of a function of another module
    # expand: the call site, the helper it runs, the key of `self` there, and the optimizer step
    # that runs the helper as its closure
    site: Optional[CallSite] = None
    helper: Optional[Scope] = None
    self_key: Optional[str] = None
    then: Optional["Event"] = None


@dataclass(eq=False)
class Event:
    kind: EventKind
    node: cst.CSTNode
    statement: Statement  # where `node` is (in a helper for events reached through a call)
    anchor: Statement  # the statement of the timeline's own scope that leads to the event
    target: Optional[str] = None
    target_kind: Optional[str] = None
    roots: Optional[FrozenSet[str]] = None
    scaler: Optional[str] = None
    # what the target and the roots are (`TrainingObjects.identity`): None when not resolved
    identity: Optional[FrozenSet[int]] = None
    root_identity: Optional[FrozenSet[int]] = None
    # the scope whose names `roots` are written in (an optimizer's roots are named where it is built)
    root_scope: Optional[Scope] = None
    guards: Tuple[Guard, ...] = ()
    via: Tuple[CallSite, ...] = ()
    detail: EventDetail = field(default_factory=EventDetail)
    # the `with` statements around the event, outermost first, call sites' included (also those
    # outside the timeline's loop: `with torch.no_grad(): for x in loader: model(x)`)
    contexts: Tuple[cst.With, ...] = ()

    @property
    def conditions(self) -> Tuple[Guard, ...]:
        return tuple(guard for guard in self.guards if guard.conditional)

    @property
    def conditional(self) -> bool:
        return bool(self.conditions)

    @property
    def in_nested_loop(self) -> bool:
        return any(guard.is_loop for guard in self.guards)

    @property
    def depth(self) -> Tuple[int, int]:
        """How far the event sits from the timeline's root: (helper calls, nested loops)."""
        return len(self.via), sum(1 for guard in self.guards if guard.is_loop)

    def runs_whenever(self, other: "Event") -> bool:
        """Whether this event surely runs whenever `other` runs (its conditions are among
        `other`'s: same branches of the same ifs; nested loops are taken to run)."""
        given = set(other.conditions)
        return all(guard in given for guard in self.conditions)


@dataclass(eq=False)
class Timeline:
    kind: str  # "loop" or "function"
    root: cst.CSTNode  # the For/While, or the FunctionDef
    scope: Scope
    events: List[Event]
    # a function a framework calls once per batch, like a loop body (Lightning's training_step
    # under manual optimization)
    repeats: bool = False

    @property
    def cyclic(self) -> bool:
        """A loop body (or a per-batch function) runs again after its end: its last events precede
        its first ones."""
        return self.kind == "loop" or self.repeats

    def of(self, *kinds: EventKind) -> List[Event]:
        return [event for event in self.events if event.kind in kinds]

    def has(self, kind: EventKind) -> bool:
        return any(event.kind == kind for event in self.events)

    @property
    def is_training_step(self) -> bool:
        """It backpropagates and steps an optimizer."""
        return self.has(BACKWARD) and self.has(STEP)

    def position(self, event: Event) -> int:
        for index, candidate in enumerate(self.events):
            if candidate is event:
                return index
        raise ValueError("event not in this timeline")

    def after(self, event: Event) -> Iterator[Tuple[Event, bool]]:
        """Events after `event` in execution order, with whether the loop wrapped around to
        reach them (only loops wrap)."""
        index = self.position(event)
        for candidate in self.events[index + 1 :]:
            yield candidate, False
        if self.cyclic:
            for candidate in self.events[:index]:
                yield candidate, True

    def before(self, event: Event) -> Iterator[Tuple[Event, bool]]:
        """Events before `event`, nearest first, with whether the loop wrapped around."""
        index = self.position(event)
        for candidate in reversed(self.events[:index]):
            yield candidate, False
        if self.cyclic:
            for candidate in reversed(self.events[index + 1 :]):
                yield candidate, True

    def between(self, first: Event, last: Event) -> List[Event]:
        """Events strictly after `first` and before `last` (around the loop if needed)."""
        found = []
        for candidate, _ in self.after(first):
            if candidate is last:
                return found
            found.append(candidate)
        return found

    def find(self, node: cst.CSTNode) -> List[Event]:
        return [event for event in self.events if event.node is node]

    def paths(self, anchor: Event, max_decisions: int = 6) -> Optional[List[Tuple["Timeline", Event]]]:
        """The timeline seen along each combination of if/else decisions (ifs with the same test are
        one decision) that keeps `anchor`'s own conditions: each view holds only the events on that
        path, with the decided conditions dropped, and the view's copy of `anchor`. Events under an
        `except`, a `case` or a loop's `else` are left out of every view. None when there are more
        than `max_decisions` decisions."""
        own = set(anchor.conditions)
        # the anchor's own if/else conditions decide every if with the same test
        implied = {_test_text(guard.node): guard.branch == "if" for guard in own if guard.branch in ("if", "else")}
        decisions: Dict[str, int] = {}
        for event in self.events:
            for guard in event.conditions:
                if guard not in own and guard.branch in ("if", "else"):
                    text = _test_text(guard.node)
                    if text not in implied:
                        decisions.setdefault(text, len(decisions))
        if len(decisions) > max_decisions:
            return None
        views = []
        for choice in itertools.product((True, False), repeat=len(decisions)):
            kept: List[Event] = []
            copy_of_anchor = None
            for event in self.events:
                on_path = True
                for guard in event.conditions:
                    if guard in own:
                        continue
                    if guard.branch not in ("if", "else"):
                        on_path = False
                        break
                    text = _test_text(guard.node)
                    taken = implied[text] if text in implied else choice[decisions[text]]
                    if taken != (guard.branch == "if"):
                        on_path = False
                        break
                if not on_path:
                    continue
                copy = replace(event, guards=tuple(g for g in event.guards if g in own or not g.conditional))
                if event is anchor:
                    copy_of_anchor = copy
                kept.append(copy)
            if copy_of_anchor is not None:
                views.append((Timeline(self.kind, self.root, self.scope, kept, self.repeats), copy_of_anchor))
        return views

    def optimizers(self) -> FrozenSet[Optional[str]]:
        """Keys of the optimizers that step here (None for one that could not be named)."""
        return frozenset(event.target for event in self.of(STEP))

    def single_optimizer(self) -> Optional[str]:
        """The key of the only optimizer that steps here, or None when there are several."""
        optimizers = self.optimizers()
        if len(optimizers) == 1:
            (only,) = optimizers
            return only
        return None

    def concerns(self, event: Event, step: Event, assume_single: bool = True) -> Optional[bool]:
        """Whether `event` (a clip, unscale_, zero_grad, gradient write) acts on the gradients that the
        optimizer `step` applies: True, False, or None when the code does not tell. Objects are the
        same when their keys are related (`model`, `model.module`) and different only when both are
        resolved to disjoint constructions. With one optimizer in the timeline (and `assume_single`), an
        event whose relation cannot be told is taken to concern it."""
        fallback = True if assume_single and self.single_optimizer() is not None else None
        if event.target_kind == OPTIMIZER or event.kind == UNSCALE:
            if event.target is None or step.target is None:
                return True if fallback and event.target_kind == OPTIMIZER else None
            # both named in the timeline's terms
            return same_object({event.target}, event.identity, None, {step.target}, step.identity, None)
        roots = event.roots
        if not roots:
            return fallback
        optimizer_keys = {root[len("optimizer:") :] for root in roots if root.startswith("optimizer:")}
        models = {root for root in roots if not root.startswith("optimizer:")}
        if step.target is not None and step.target in optimizer_keys:
            return True
        if models and step.roots is not None:
            step_models = {root for root in step.roots if not root.startswith("optimizer:")}
            same = same_object(models, event.root_identity, event.root_scope, step_models, step.root_identity, step.root_scope)
            if same is not None:
                return same
        return fallback


def stepped_optimizer(step: Event) -> Optional[cst.BaseExpression]:
    """The optimizer a step event steps: `opt` in `opt.step()` and in `scaler.step(opt)`."""
    call = step.node
    if not isinstance(call, cst.Call):
        return None
    if step.detail.via_scaler:
        return argument(call, 0, "optimizer")
    return method_receiver(call)


def same_object(keys_a, identity_a, scope_a, keys_b, identity_b, scope_b) -> Optional[bool]:
    """True when two objects (or sets of them) overlap: related keys (the same name, also across
    scopes, is taken to be the same object) or a shared construction. False when both are resolved
    to disjoint constructions, or when unrelated names are written in the same scope (distinct
    variables, or distinct `self.` attributes of one class). None otherwise. A None scope means the
    timeline's own scope."""
    if any(related(a, b) for a in keys_a for b in keys_b):
        return True
    if identity_a is not None and identity_b is not None:
        return bool(identity_a & identity_b)
    if scope_a is scope_b:
        return False
    if all(key.startswith("self.") for key in list(keys_a) + list(keys_b)):
        owner_a = _class_of(scope_a)
        if owner_a is not None and owner_a is _class_of(scope_b):
            return False
    return None


_EMPTY_MODULE = cst.Module(body=[])


def _test_text(node: cst.CSTNode) -> str:
    """The source of an if's test (ifs with the same test take the same branch)."""
    test = getattr(node, "test", None)
    if test is None:
        return f"<{id(node)}>"
    return _EMPTY_MODULE.code_for_node(test)


def _class_of(scope: Optional[Scope]):
    while scope is not None:
        if scope.class_info is not None:
            return scope.class_info
        scope = scope.parent
    return None


class TrainingTimelines:
    """Get it with ``ctx.fact(TrainingTimelines)``."""

    MAX_HELPER_DEPTH = 2

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        self.objects = ctx.fact(TrainingObjects)
        self._losses: Optional[LossValues] = None
        self._direct: Dict[int, List[Event]] = {}
        self._expanded: Dict[Tuple[int, int], List[Event]] = {}
        self._branches: Dict[int, List[Tuple[int, str]]] = {}
        self._functions: Dict[int, Timeline] = {}
        self._loops: Dict[int, Timeline] = {}
        self._loop_events: Dict[int, Tuple[List[Event], Dict[int, List[Event]]]] = {}
        self._all: Optional[List[Timeline]] = None
        self._by_node: Optional[Dict[int, List[Tuple[Timeline, Event]]]] = None
        self._all_by_node: Optional[Dict[int, List[Tuple[Timeline, Event]]]] = None

    # -- public API ------------------------------------------------------------------------------

    def function(self, scope: Scope) -> Timeline:
        """The timeline of a function body (helpers and closures included)."""
        found = self._functions.get(id(scope))
        if found is None:
            repeats = (
                scope.function_name == "training_step"
                and scope.class_info is not None
                and manual_optimization(self.ctx, scope.class_info)
            )
            found = Timeline("function", scope.node, scope, list(self._events_of(scope, 0)), repeats=repeats)
            self._functions[id(scope)] = found
        return found

    def loop(self, loop: Statement) -> Timeline:
        """The timeline of one pass through a for/while loop's body."""
        found = self._loops.get(id(loop.node))
        if found is None:
            events = []
            outer = set(loop.blocks) | {loop.node}
            for event in self._events_in_loops(loop.scope).get(id(loop.node), []):
                anchor = event.anchor
                if self.branch(loop.node, anchor) != "loop":
                    continue
                guards = tuple(guard for guard in event.guards if guard.node not in outer)
                events.append(replace(event, guards=guards))
            found = Timeline("loop", loop.node, loop.scope, events)
            self._loops[id(loop.node)] = found
        return found

    def _events_in_loops(self, scope: Scope) -> Dict[int, List[Event]]:
        """The events of a scope's timeline grouped by each loop around them (by the loop node's
        id), in timeline order: one pass for all the loops of the scope, since a pass per loop
        would cost loops x events in a long script."""
        events = self._events_of(scope, 0)
        cached = self._loop_events.get(id(scope))
        if cached is None or cached[0] is not events:  # built again if the events were still growing
            by_loop: Dict[int, List[Event]] = {}
            for event in events:
                for block in event.anchor.blocks:
                    if isinstance(block, (cst.For, cst.While)):
                        by_loop.setdefault(id(block), []).append(event)
            cached = self._loop_events[id(scope)] = (events, by_loop)
        return cached[1]

    def module(self) -> Timeline:
        """The timeline of the module's own statements (helpers and closures included): what a
        script runs at top level."""
        scope = self.ctx.index.module_scope
        assert scope is not None
        return self.function(scope)

    def holding(self, node: cst.CSTNode) -> List[Tuple[Timeline, Event]]:
        """Every timeline (functions, loops and the module's) that holds an event at `node`, with
        its event there (one per way of reaching it)."""
        if self._all_by_node is None:
            by_node: Dict[int, List[Tuple[Timeline, Event]]] = {}
            for timeline in self.all() + [self.module()]:
                for event in timeline.events:
                    by_node.setdefault(id(event.node), []).append((timeline, event))
            self._all_by_node = by_node
        return self._all_by_node.get(id(node), [])

    def loops_holding(self, node: cst.CSTNode, kind: EventKind) -> List[Tuple[Timeline, Event]]:
        """The loop timelines holding an event of `kind` at `node`, innermost event first."""
        found = [(timeline, event) for timeline, event in self.holding(node) if event.kind == kind and timeline.kind == "loop"]
        return sorted(found, key=lambda pair: pair[1].depth)

    def all(self) -> List[Timeline]:
        """Every function's and every loop's timeline."""
        if self._all is None:
            timelines = []
            for scope in self.ctx.index.scopes:
                if not scope.is_module:
                    timelines.append(self.function(scope))
                for statement in scope.statements:
                    if isinstance(statement.node, (cst.For, cst.While)):
                        timelines.append(self.loop(statement))
            self._all = timelines
        return self._all

    def training_steps(self) -> List[Timeline]:
        """Timelines that backpropagate and step an optimizer."""
        return [timeline for timeline in self.all() if timeline.is_training_step]

    def step_holding(self, node: cst.CSTNode, repeating: bool = False) -> Optional[Tuple[Timeline, Event]]:
        """The training step (see `training_steps`) where the event at `node` sits closest to the
        root, and its event there; with `repeating`, only timelines that repeat (loops, Lightning's
        manual training_step)."""
        if self._by_node is None:
            by_node: Dict[int, List[Tuple[Timeline, Event]]] = {}
            for timeline in self.training_steps():
                for event in timeline.events:
                    by_node.setdefault(id(event.node), []).append((timeline, event))
            self._by_node = by_node
        best: Optional[Tuple[Timeline, Event]] = None
        for timeline, event in self._by_node.get(id(node), ()):
            if repeating and not timeline.cyclic:
                continue
            if best is None or event.depth < best[1].depth:
                best = (timeline, event)
        return best

    def innermost(self, timelines: List[Timeline], node: cst.CSTNode) -> Optional[Tuple[Timeline, Event]]:
        """Among `timelines`, the one where the event at `node` sits closest to the root (fewest
        helper calls, then fewest nested loops): the step it belongs to."""
        best: Optional[Tuple[Tuple[int, int], Timeline, Event]] = None
        for timeline in timelines:
            for event in timeline.find(node):
                if best is None or event.depth < best[0]:
                    best = (event.depth, timeline, event)
        return (best[1], best[2]) if best else None

    def branch(self, block: cst.CSTNode, statement: Statement) -> str:
        """Which part of the compound statement `block` (one of `statement.blocks`) holds it."""
        suites = self._branches.get(id(block))
        if suites is None:
            suites = self._branches[id(block)] = self._suites(block)
        chosen = suites[0][1] if suites else "with"
        for position, label in suites:
            if position <= statement.position:
                chosen = label
        return chosen

    # -- building --------------------------------------------------------------------------------

    def _events_of(self, scope: Scope, depth: int) -> List[Event]:
        key = (id(scope), depth)
        found = self._expanded.get(key)
        if found is not None:
            return found
        self._expanded[key] = []  # recursion guard
        events: List[Event] = []
        for event in self._direct_events(scope):
            if event.kind != EXPAND:
                events.append(event)
                continue
            site = event.detail.site
            callee = event.detail.helper
            assert site is not None and callee is not None
            if depth >= self.MAX_HELPER_DEPTH or callee is scope:
                events.append(replace(event, kind=CALL, detail=EventDetail(callee=callee.name, opaque=True)))
                then = event.detail.then
                if then is not None:
                    then.detail.closure = "unknown"
                    events.append(then)
                continue
            mapping = self._bindings(site, callee, event.detail.self_key)
            for inner in self._events_of(callee, depth + 1):
                # names of the callee become the caller's; roots named elsewhere stay as they are
                in_callee = inner.root_scope is callee
                events.append(
                    replace(
                        inner,
                        anchor=event.anchor,
                        guards=event.guards + inner.guards,
                        via=(site,) + inner.via,
                        contexts=event.contexts + inner.contexts,
                        target=_remap(inner.target, mapping),
                        roots=_remap_all(inner.roots, mapping) if in_callee else inner.roots,
                        root_scope=scope if in_callee else inner.root_scope,
                        scaler=_remap(inner.scaler, mapping),
                    )
                )
            if event.detail.then is not None:
                events.append(event.detail.then)  # the optimizer step that ran the closure
        self._expanded[key] = events
        return events

    def _direct_events(self, scope: Scope) -> List[Event]:
        found = self._direct.get(id(scope))
        if found is not None:
            return found
        ordered: List[Tuple[Tuple[int, int], Event]] = []
        lifted = set()
        for statement in scope.statements:
            guards = self._guards(statement)
            sequence = 0
            classified = [(site, self._classify(site, statement, guards)) for site in statement.calls]
            if sum(1 for _, events in classified if any(e.kind != CALL for e in events)) > 1:
                # several events in one statement: put them in the order they run
                by_site = {id(site.node): events for site, events in classified}
                classified = [(site, by_site[id(site.node)]) for site in _execution_order(statement.calls)]
            elif len(classified) > 1 and any(e.kind != CALL for _, events in classified for e in events):
                # unknown calls of a statement with one event are its arguments or receiver
                # (`clip_grad_norm_(get_params(optimizer), c)`): they run first, as part of it
                classified.sort(key=lambda item: not all(e.kind == CALL for e in item[1]))
                for _, events in classified:
                    for event in events:
                        if event.kind == CALL:
                            event.detail.part_of_event = True
            for _, events in classified:
                for event in events:
                    ordered.append(((statement.position, sequence), event))
                    sequence += 1
            clearing = self._grad_clearing(statement, guards, lifted)
            if clearing is not None:
                ordered.append(clearing)
            loss = self._loss_event(statement, guards)
            if loss is not None:
                ordered.append(((statement.position, sequence), loss))
        ordered.sort(key=lambda item: item[0])
        events = [event for _, event in ordered]
        self._direct[id(scope)] = events
        return events

    def _guards(self, statement: Statement) -> Tuple[Guard, ...]:
        guards = []
        for block in statement.blocks:
            if isinstance(block, cst.With):
                continue
            guards.append(Guard(block, self.branch(block, statement)))
        return tuple(guard for guard in guards if guard.branch not in ("try", "finally", "with"))

    def _suites(self, block: cst.CSTNode) -> List[Tuple[int, str]]:
        parts: List[Tuple[Any, str]] = []
        if isinstance(block, cst.If):
            parts = [(block.body, "if"), (block.orelse, "else")]
        elif isinstance(block, (cst.For, cst.While)):
            parts = [(block.body, "loop"), (block.orelse, "loop-else")]
        elif isinstance(block, (cst.Try, cst.TryStar)):
            parts = [(block.body, "try")] + [(handler, "except") for handler in block.handlers]
            parts += [(block.orelse, "try-else"), (block.finalbody, "finally")]
        elif isinstance(block, cst.Match):
            parts = [(case, "case") for case in block.cases]
        elif isinstance(block, cst.With):
            parts = [(block.body, "with")]
        suites = []
        for part, label in parts:
            position = self._first_position(part)
            if position is not None:
                suites.append((position, label))
        return suites

    def _first_position(self, part: Any) -> Optional[int]:
        if part is None:
            return None
        if isinstance(part, cst.If):  # elif
            first: Any = part
        else:
            wrappers = (cst.Else, cst.ExceptHandler, cst.ExceptStarHandler, cst.Finally, cst.MatchCase)
            suite = part.body if isinstance(part, wrappers) else part
            body = getattr(suite, "body", None)
            if not body:
                return None
            first = body[0]
            if isinstance(first, cst.SimpleStatementLine):
                first = first.body[0]
        statement = self.ctx.index.statement_of.get(first)
        return statement.position if statement is not None else None

    # -- classifying calls --------------------------------------------------------------------

    def _classify(self, site: CallSite, statement: Statement, guards: Tuple[Guard, ...]) -> List[Event]:
        call = site.node
        objects = self.objects
        terminal = callee_terminal_name(call)
        receiver = method_receiver(call)

        contexts = _contexts(statement)

        def event(kind: EventKind, **fields: Any) -> Event:
            return Event(kind, call, statement, statement, guards=guards, contexts=contexts, **fields)

        if terminal == "step" and receiver is not None and objects.kind(receiver, statement) in (OPTIMIZER, SCALER, SCHEDULER):
            return self._step(call, receiver, statement, guards, event)
        callee, self_key = self._callee(site, statement)
        if callee is not None:
            return [event(EXPAND, detail=EventDetail(site=site, helper=callee, self_key=self_key))]
        remote = self._remote_events(call, statement, guards, contexts)
        if remote is not None:
            return remote
        if terminal == "step" and receiver is not None:
            return self._step(call, receiver, statement, guards, event)
        found = backward_call(self.ctx, call)
        if found is not None:
            if not found.fills_grad:
                return []
            scaler = objects.key(found.scaler, statement) if found.scaler is not None else None
            detail = EventDetail(form=found.form)
            if found.scaler is not None:
                detail.scaler_enabled = objects.scaler_enabled(found.scaler, statement)
                detail.scaler_node = found.scaler
            value = found.value
            return [event(BACKWARD, target=objects.key(value, statement) if value is not None else None, scaler=scaler, detail=detail)]
        qualified = self.ctx.qualified_name(call.func)
        if qualified in TORCH_CLIP:
            return [self._torch_clip(call, qualified, statement, event)]
        if terminal in ("clip_grad_norm_", "clip_grad_value_", "clip_gradients") and receiver is not None:
            clip = self._method_clip(call, terminal, receiver, statement, event)
            return [clip] if clip is not None else []
        if terminal == "unscale_" and receiver is not None:
            optimizer = argument(call, 0, "optimizer")
            return [
                event(
                    UNSCALE,
                    target=objects.key(optimizer, statement) if optimizer is not None else None,
                    target_kind=OPTIMIZER,
                    identity=objects.identity(optimizer, statement),
                    scaler=objects.key(receiver, statement),
                )
            ]
        if terminal == "unscale_gradients":
            optimizer = argument(call, 0, "optimizer")
            target = objects.key(optimizer, statement) if optimizer is not None else None
            return [event(UNSCALE, target=target, detail=EventDetail(api="accelerate"))]
        if terminal == "zero_grad" and receiver is not None:
            kind = objects.kind(receiver, statement)
            set_to_none = keyword_arg(call, "set_to_none")
            detail = EventDetail(set_to_none=None if set_to_none is None else self.ctx.code(set_to_none))
            if kind == OPTIMIZER:
                return [event(ZERO_GRAD, detail=detail, **self._optimizer_fields(receiver, statement))]
            key = objects.key(receiver, statement)
            identity = objects.identity(receiver, statement)
            return [
                event(
                    ZERO_GRAD, target=key, target_kind=kind, roots=frozenset({key}) if key else None,
                    identity=identity, root_identity=identity, root_scope=statement.scope, detail=detail,
                )
            ]
        if terminal in ("train", "eval") and receiver is not None:
            mode = self._mode(call, terminal, receiver, statement, event)
            if mode is not None:
                return [mode]
        if qualified is None:
            forward = self._forward(call, receiver, statement, event)
            if forward is not None:
                return [forward]
        elif qualified.split(".")[0] in KNOWN_LIBRARIES:
            return []
        return [self._other_call(call, receiver, statement, event)]

    def _step(self, call: cst.Call, receiver, statement, guards, event) -> List[Event]:
        objects = self.objects
        kind = objects.kind(receiver, statement)
        args = positional_args(call)
        if kind == SCALER or (kind is None and args and objects.kind_by_name(args[0], statement) == OPTIMIZER and len(call.args) == 1):
            optimizer = argument(call, 0, "optimizer")
            if optimizer is None:
                return []
            return [
                event(
                    STEP,
                    scaler=objects.key(receiver, statement),
                    detail=EventDetail(via_scaler=True),
                    **self._optimizer_fields(optimizer, statement),
                )
            ]
        if kind == SCHEDULER:
            return [
                event(
                    SCHEDULER_STEP, target=objects.key(receiver, statement), target_kind=SCHEDULER,
                    detail=EventDetail(arguments=len(call.args)),
                )
            ]
        if kind != OPTIMIZER:
            return [self._other_call(call, receiver, statement, event)]
        step = event(STEP, **self._optimizer_fields(receiver, statement))
        closure = argument(call, 0, "closure")
        if closure is None:
            return [step]
        # the closure runs inside step(), before the update: its events come first
        closure_scope = None
        if isinstance(closure, cst.Name):
            definition = self.flow.definition(closure.value, statement)
            if definition.kind == "function" and definition.statement is not None:
                closure_scope = self.ctx.index.scope_of_function(definition.statement.node)  # type: ignore[arg-type]
        elif isinstance(closure, cst.Attribute) and dotted_name(closure.value) == "self":
            owner = self.ctx.index.enclosing_class(statement.scope)
            closure_scope = owner.methods.get(closure.attr.value) if owner is not None else None
        step.detail.closure = "function" if closure_scope is not None else "unknown"
        if closure_scope is None:
            return [step]
        site = self.ctx.index.call_sites[call]
        return [event(EXPAND, detail=EventDetail(site=site, helper=closure_scope, self_key="self", then=step))]

    # -- functions of other modules of the project ----------------------------------------------

    def _remote_events(self, call: cst.Call, statement: Statement, guards, contexts) -> Optional[List[Event]]:
        """The events of a function of another project module, from its summary, all at the call:
        what it does to the arguments it is given (steps the optimizer, switches the model's mode,
        backpropagates, in a loop of its own or not). An opaque call event follows them, since a
        summary does not show everything the function does (checks that need the whole story stay
        silent). None when the call does not run a project function of another file."""
        remote = self.ctx.fact(RemoteValues)
        callee = remote.callee(call)
        if callee is None or callee.kind != "function" or call.args and any(arg.star for arg in call.args):
            return None
        params = list(callee.data["params"])
        if params and params[0] in ("self", "cls") and "." in callee.name:
            params = params[1:]
        bound: Dict[str, cst.BaseExpression] = {}
        for position, arg in enumerate(call.args):
            name = arg.keyword.value if arg.keyword is not None else (params[position] if position < len(params) else None)
            if name is not None:
                bound[name] = arg.value
        events: List[Event] = []
        self._remote_effects(callee, bound, statement, guards, contexts, call, events, 0)
        if not events:
            return None
        events.append(Event(CALL, call, statement, statement, guards=guards, contexts=contexts,
                            detail=EventDetail(callee=callee.name, opaque=True, remote_module=callee.path)))
        return events

    def _remote_effects(self, callee, bound, statement: Statement, guards, contexts, call: cst.Call, events: List[Event], depth: int) -> None:
        objects = self.objects
        project = self.ctx.project
        for effect in callee.data["effects"]:
            target_value = effect.get("t") or {}
            argument_expr = bound.get(target_value.get("p")) if "p" in target_value else None
            extra = tuple(Guard(call, "loop") for _ in range(min(effect["loops"], 1)))
            if effect["cond"]:
                extra += (Guard(call, "if"),)
            fields: Dict[str, Any] = {}
            kind = effect["k"]
            if kind == "call":
                if depth >= self.MAX_HELPER_DEPTH or "n" not in effect["call"]:
                    continue
                inner = project.function(callee.path, effect["call"]["n"]) if project is not None else None
                if inner is None:
                    continue
                params = list(inner.data["params"])
                mapped = {}
                for name, value in zip(params, effect["args"]):
                    if "p" in value and value["p"] in bound:
                        mapped[name] = bound[value["p"]]
                for name, value in effect["kw"].items():
                    if "p" in value and value["p"] in bound:
                        mapped[name] = bound[value["p"]]
                self._remote_effects(inner, mapped, statement, guards + extra, contexts, call, events, depth + 1)
                continue
            if kind == "step":
                if argument_expr is None or objects.kind(argument_expr, statement) not in (OPTIMIZER, SCALER):
                    continue
                fields = self._optimizer_fields(argument_expr, statement)
                event_kind = STEP
            elif kind == "zero_grad":
                if argument_expr is None:
                    continue
                fields = {"target": objects.key(argument_expr, statement), "identity": objects.identity(argument_expr, statement)}
                event_kind = ZERO_GRAD
            elif kind == "backward":
                event_kind = BACKWARD
                fields = {"detail": EventDetail(form="remote")}
            elif kind == "mode":
                if argument_expr is None:
                    continue
                event_kind = MODE
                fields = {"target": objects.key(argument_expr, statement), "detail": EventDetail(training=effect["training"])}
            elif kind == "forward":
                if argument_expr is None:
                    continue
                event_kind = FORWARD
                fields = {"target": objects.key(argument_expr, statement), "target_kind": MODEL}
            else:
                continue
            fields.setdefault("detail", EventDetail()).remote = RemoteSource(callee.path, effect["at"], callee.name)
            events.append(Event(event_kind, call, statement, statement, guards=guards + extra, contexts=contexts, **fields))

    def _optimizer_fields(self, optimizer: cst.BaseExpression, statement: Statement) -> Dict[str, Any]:
        objects = self.objects
        owners = objects.optimizer_owners(optimizer, statement)
        return {
            "target": objects.key(optimizer, statement),
            "target_kind": OPTIMIZER,
            "identity": objects.identity(optimizer, statement),
            "roots": objects.roots_of(owners),
            "root_identity": objects.identity_of(owners),
            "root_scope": objects.scope_of(owners),
        }

    def _callee(self, site: CallSite, statement: Statement) -> Tuple[Optional[Scope], Optional[str]]:
        """The module function a call runs, and the key `self` stands for inside it."""
        callee = self.flow.callee(site)
        func = site.node.func
        if callee is not None:
            if callee.function_name == "forward" or _is_generator(callee):
                return None, None
            return callee, "self" if isinstance(func, cst.Attribute) else None
        # obj.method() / obj() on an instance of a class of this module
        receiver = func.value if isinstance(func, cst.Attribute) else func
        method = func.attr.value if isinstance(func, cst.Attribute) else "__call__"
        if dotted_name(receiver) is None or self.ctx.qualified_name(receiver) is not None:
            return None, None
        if method in ("forward", "parameters", "named_parameters", "state_dict"):
            return None, None
        found, _ = self.objects.sources(receiver, statement)
        for value, _ in found:
            if isinstance(value, cst.Call) and isinstance(value.func, cst.Name):
                info = self.ctx.index.class_by_name.get(value.func.value)
                if info is not None and method in info.methods and not _is_generator(info.methods[method]):
                    return info.methods[method], self.objects.key(receiver, statement)
        return None, None

    def _bindings(self, site: CallSite, callee: Scope, self_key: Optional[str]) -> Dict[str, Optional[str]]:
        """Callee parameter -> the caller's key for the argument bound to it."""
        mapping: Dict[str, Optional[str]] = {}
        if not isinstance(callee.node, cst.FunctionDef) or site.statement is None:
            return mapping
        params = [p.name.value for p in list(callee.node.params.posonly_params) + list(callee.node.params.params)]
        if callee.class_info is not None and params and params[0] in ("self", "cls"):
            mapping[params[0]] = self_key
            params = params[1:]
        for name in params + [p.name.value for p in callee.node.params.kwonly_params]:
            mapping[name] = None  # a parameter not bound to a named argument is unknown
        position = 0
        for arg in site.node.args:
            if arg.star:
                break
            name = arg.keyword.value if arg.keyword is not None else (params[position] if position < len(params) else None)
            if arg.keyword is None:
                position += 1
            if name is not None and name in mapping:
                mapping[name] = self.objects.key(arg.value, site.statement)
        return mapping

    def _torch_clip(self, call: cst.Call, qualified: str, statement: Statement, event) -> Event:
        function = TORCH_CLIP[qualified]
        parameters = argument(call, 0, "parameters")
        limit = argument(call, 1, "clip_value" if function == "value" else "max_norm")
        owners = self.objects.parameter_owners(parameters, statement) if parameters is not None else None
        detail = EventDetail(api="torch", function=function, limit=limit, parameters=parameters)
        return event(
            CLIP, roots=self.objects.roots_of(owners), root_identity=self.objects.identity_of(owners),
            root_scope=self.objects.scope_of(owners), detail=detail,
        )

    def _method_clip(self, call: cst.Call, terminal: str, receiver, statement: Statement, event) -> Optional[Event]:
        objects = self.objects
        kind = objects.kind(receiver, statement)
        receiver_name = dotted_name(receiver) or ""
        if terminal == "clip_gradients":
            if kind == FABRIC:
                module = argument(call, 0, "module")
                key = objects.key(module, statement) if module is not None else None
                limit = keyword_arg(call, "max_norm") or keyword_arg(call, "clip_val")
                function = "value" if keyword_arg(call, "clip_val") is not None else "norm"
                return event(
                    CLIP, roots=frozenset({key}) if key else None, root_identity=objects.identity(module, statement),
                    root_scope=statement.scope,
                    detail=EventDetail(api="fabric", function=function, limit=limit),
                )
            if receiver_name == "self":
                optimizer = argument(call, 0, "optimizer")
                key = objects.key(optimizer, statement) if optimizer is not None else None
                limit = argument(call, 1, "gradient_clip_val")
                detail = EventDetail(api="lightning", function="norm", limit=limit)
                return event(CLIP, roots=frozenset({optimizer_root(key)}) if key else None, detail=detail)
            return None
        function = "value" if terminal == "clip_grad_value_" else "norm"
        if kind == ACCELERATOR:
            parameters = argument(call, 0, "parameters")
            owners = objects.parameter_owners(parameters, statement) if parameters is not None else None
            limit = argument(call, 1, "clip_value" if function == "value" else "max_norm")
            detail = EventDetail(api="accelerate", function=function, limit=limit, parameters=parameters)
            return event(
                CLIP, roots=objects.roots_of(owners), root_identity=objects.identity_of(owners),
                root_scope=objects.scope_of(owners), detail=detail,
            )
        if kind == MODEL:
            key = objects.key(receiver, statement)
            return event(
                CLIP, roots=frozenset({key}) if key else None, root_identity=objects.identity(receiver, statement),
                root_scope=statement.scope,
                detail=EventDetail(api="module", function=function, limit=argument(call, 0, "max_norm")),
            )
        return None

    def _mode(self, call: cst.Call, terminal: str, receiver, statement: Statement, event) -> Optional[Event]:
        objects = self.objects
        kind = objects.kind(receiver, statement)
        name = (dotted_name(receiver) or "").split(".")[-1].lower()
        if kind not in (MODEL, None) or any(word in name for word in NOT_A_MODEL_IN_MODE):
            return None
        if terminal == "eval":
            if call.args:
                return None
            training: Optional[bool] = False
        else:
            mode = argument(call, 0, "mode")
            if mode is None:
                training = True
            elif isinstance(mode, cst.Name) and mode.value in ("True", "False"):
                training = mode.value == "True"
            else:
                training = None
            if kind is None and mode is not None and training is None:
                return None
        target = objects.key(receiver, statement)
        if target is None:
            target = _assigned_through(call, statement)  # model = Net().to(device).eval()
        return event(MODE, target=target, target_kind=kind, detail=EventDetail(training=training))

    def _forward(self, call: cst.Call, receiver, statement: Statement, event) -> Optional[Event]:
        func = call.func
        model = None
        if isinstance(func, (cst.Name, cst.Attribute)) and dotted_name(func) is not None:
            if dotted_name(func) == "self":
                model = func
            elif isinstance(func, cst.Attribute) and func.attr.value == "forward":
                model = func.value
            else:
                model = func
        if model is None:
            return None
        if dotted_name(model) != "self" and self.objects.kind(model, statement) != MODEL:
            return None
        if dotted_name(model) == "self":
            owner = self.ctx.index.enclosing_class(statement.scope)
            if owner is None or "forward" not in owner.methods:
                return None
        return event(FORWARD, target=self.objects.key(model, statement), target_kind=MODEL)

    def _other_call(self, call: cst.Call, receiver, statement: Statement, event) -> Event:
        keys = set()
        for expr in [arg.value for arg in call.args]:
            if dotted_name(expr) is not None:
                key = self.objects.key(expr, statement)
                if key:
                    keys.add(key)
        detail = EventDetail(
            callee=callee_terminal_name(call),
            qualified=self.ctx.qualified_name(call.func),
            receiver=dotted_name(receiver) if receiver is not None else None,
        )
        return event(CALL, roots=frozenset(keys), detail=detail)

    # -- statements that are events ---------------------------------------------------------------

    def _loss_event(self, statement: Statement, guards) -> Optional[Event]:
        node = statement.node
        if isinstance(node, cst.Assign) and len(node.targets) == 1:
            target, value = node.targets[0].target, node.value
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign)) and node.value is not None:
            target, value = node.target, node.value
        else:
            return None
        if not statement.calls or not isinstance(value, (cst.Call, cst.BinaryOperation, cst.Attribute, cst.Subscript)):
            return None
        name = dotted_name(target)
        if self._losses is None:
            self._losses = self.ctx.fact(LossValues)
        if name is not None and looks_like_loss_name(name):
            if self._losses.kinds.of(value, statement).is_plain:
                return None  # `val_loss = evaluate(...)` returning a float is no loss tensor
        elif not self._losses.is_loss(value, statement):
            return None
        return Event(LOSS, value, statement, statement, target=dotted_name(target), guards=guards, contexts=_contexts(statement))

    def _grad_clearing(self, statement: Statement, guards, lifted: set):
        """`p.grad = None`, `p.grad.zero_()`, `del p.grad` (reported at the loop over the
        parameters when there is one), or another write to `.grad`."""
        node = statement.node
        grad_owner: Optional[cst.BaseExpression] = None
        clears = True
        if isinstance(node, (cst.Assign, cst.AugAssign)):
            targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            for target in targets:
                if isinstance(target, cst.Attribute) and target.attr.value == "grad":
                    grad_owner = target.value
            if grad_owner is None:
                return None
            value = node.value
            if isinstance(node, cst.AugAssign):
                clears = isinstance(node.operator, cst.MultiplyAssign) and self.ctx.code(value) in ("0", "0.0")
            else:
                clears = (isinstance(value, cst.Name) and value.value == "None") or (
                    isinstance(value, cst.Call) and callee_terminal_name(value) in ("zeros_like", "zeros")
                )
        elif isinstance(node, cst.Del) and isinstance(node.target, cst.Attribute) and node.target.attr.value == "grad":
            grad_owner = node.target.value
        elif isinstance(node, cst.Expr) and isinstance(node.value, cst.Call):
            call = node.value
            if callee_terminal_name(call) not in CLEARING_METHODS or not isinstance(call.func, cst.Attribute):
                return None
            holder = call.func.value
            if isinstance(holder, cst.Attribute) and holder.attr.value == "data":
                holder = holder.value
            if not (isinstance(holder, cst.Attribute) and holder.attr.value == "grad"):
                return None
            grad_owner = holder.value
            if callee_terminal_name(call) in ("fill_", "mul_"):
                args = positional_args(call)
                clears = bool(args) and self.ctx.code(args[0]) in ("0", "0.0")
        else:
            return None
        kind = ZERO_GRAD if clears else GRAD_WRITE
        loop = self._parameter_loop(grad_owner, statement)
        if loop is not None:
            if (id(loop.node), kind) in lifted:
                return None
            lifted.add((id(loop.node), kind))
            owners = self.objects.parameter_owners(loop.node.iter, loop)  # type: ignore[union-attr]
            event = Event(
                kind, loop.node, loop, loop, roots=self.objects.roots_of(owners), root_identity=self.objects.identity_of(owners),
                root_scope=self.objects.scope_of(owners),
                guards=self._guards(loop), detail=EventDetail(form="parameter loop"), contexts=_contexts(loop),
            )
            return (loop.position, 10_000 if kind == ZERO_GRAD else 10_001), event
        owner = dotted_name(grad_owner)
        roots = frozenset({owner}) if owner else None
        event = Event(
            kind, node, statement, statement, roots=roots, root_scope=statement.scope, guards=guards,
            detail=EventDetail(form="assignment"), contexts=_contexts(statement),
        )
        return (statement.position, 10_000), event

    def _parameter_loop(self, owner: cst.BaseExpression, statement: Statement) -> Optional[Statement]:
        """The outermost enclosing `for` that walks the parameters whose `.grad` is cleared."""
        if not isinstance(owner, cst.Name):
            return None
        names = {owner.value}
        found: Optional[Statement] = None
        for block in reversed(statement.blocks):
            if not isinstance(block, cst.For):
                if found is None:
                    continue
                break
            bound = {n.value for n in plain_names(block.target)}
            if not bound & names:
                if found is None:
                    continue
                break
            found = self.ctx.index.statement_of.get(block)
            names = {n.value for n in plain_names(block.iter)}
        return found


def _assigned_through(call: cst.Call, statement: Statement) -> Optional[str]:
    """`model` for a call in the method chain assigned by `model = Net().eval().to(device)`."""
    node = statement.node
    if not isinstance(node, cst.Assign) or len(node.targets) != 1:
        return None
    target = dotted_name(node.targets[0].target)
    value = node.value
    while isinstance(value, cst.Call):
        if value is call:
            return target
        if not isinstance(value.func, cst.Attribute):
            return None
        value = value.func.value
    return None


def _contexts(statement: Statement) -> Tuple[cst.With, ...]:
    return tuple(block for block in statement.blocks if isinstance(block, cst.With))


def _is_generator(scope: Scope) -> bool:
    """A generator or context manager runs its body around the caller's code, not in place."""
    for statement in scope.statements:
        node = statement.node
        value = getattr(node, "value", None)
        if isinstance(value, (cst.Yield, cst.Await)) or (isinstance(node, cst.Expr) and isinstance(node.value, cst.Yield)):
            return True
    return False


def _remap(key: Optional[str], mapping: Dict[str, Optional[str]]) -> Optional[str]:
    if key is None or not mapping:
        return key
    prefix = ""
    if key.startswith("optimizer:"):
        prefix, key = "optimizer:", key[len("optimizer:") :]
    root, dot, rest = key.partition(".")
    if root not in mapping:
        return prefix + key
    replacement = mapping[root]
    if replacement is None:
        return None
    return prefix + replacement + dot + rest


def _remap_all(keys: Optional[FrozenSet[str]], mapping: Dict[str, Optional[str]]) -> Optional[FrozenSet[str]]:
    if keys is None or not mapping:
        return keys
    remapped = {_remap(key, mapping) for key in keys}
    if None in remapped:
        return None
    return frozenset(remapped)  # type: ignore[arg-type]


def _execution_order(calls: List[CallSite]) -> List[CallSite]:
    """Calls of one statement in the order they run: arguments and receivers before the call."""
    if len(calls) < 2:
        return calls
    members = {id(site.node): site for site in calls}
    ordered: List[CallSite] = []
    emitted = set()

    def visit(node: cst.CSTNode) -> None:
        for child in node.children:
            if isinstance(child, (cst.Lambda, cst.FunctionDef)):
                continue
            visit(child)
        if id(node) in members and id(node) not in emitted:
            emitted.add(id(node))
            ordered.append(members[id(node)])

    for site in calls:
        if id(site.node) not in emitted:
            visit(site.node)
    for site in calls:  # calls inside lambdas: after the rest
        if id(site.node) not in emitted:
            ordered.append(site)
    return ordered
