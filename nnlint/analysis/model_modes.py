"""Model modes: which models behave differently in training and evaluation mode, which code
evaluates, and which mode a model is in at some point of the code.

Get it with ``ctx.fact(ModelModes)``.

- `layers(expr, statement)`: the mode-dependent layers of the model `expr` (Dropout, BatchNorm,
  ...): a tuple of their names, `()` when the module shows the model's definition and it has none
  (a pure MLP), or None when the layers cannot be seen (a model class imported from elsewhere).
  Models of torchvision, timm and Hugging Face count as mode-dependent.
- `grad_disabled(statement)`: the statement runs under `torch.no_grad()` / `torch.inference_mode()`
  / `torch.set_grad_enabled(False)` (a `with` block or a decorator of its function).
- `mode_before(node)`: for the event at `node` (a model call, usually), the mode the model is in
  when it runs, along each way of reaching it that the module shows: the nearest `model.train()` /
  `model.eval()` before it in the training-step timeline (loops wrap around: the last statements
  of a loop body run before its first ones in the next iteration), looking through the helper
  functions called before it and up through the functions that call the code. Calls that may switch
  the mode where we cannot see (helpers of other modules given the model) make the answer unknown.
- `mode_after(timeline, event)`: from a `model.eval()`, what happens first in a loop: the model is
  switched back to training, or an optimizer step trains it in evaluation mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.gradmode import GradMode
from nnlint.analysis.index import CallSite, ClassInfo, Scope, Statement
from nnlint.analysis.names import argument, callee_terminal_name, calls_in, dotted_name, method_receiver, number_value
from nnlint.analysis.objects import MODEL, MODEL_CONSTRUCTOR_PREFIXES, TrainingObjects, related
from nnlint.analysis.timeline import BACKWARD, CALL, FORWARD, MODE, STEP, Event, Timeline, TrainingTimelines

# How many plain renames (`net = model`) are followed back to the construction of a model.
MAX_RENAMES = 4

# torch.nn layers whose behaviour depends on the mode; the value names the argument that can switch
# the dependence off (a dropout probability of 0, InstanceNorm without running statistics).
MODE_DEPENDENT_LAYERS: Dict[str, Optional[Tuple[int, str, str]]] = {
    "Dropout": (0, "p", "nonzero"),
    "Dropout1d": (0, "p", "nonzero"),
    "Dropout2d": (0, "p", "nonzero"),
    "Dropout3d": (0, "p", "nonzero"),
    "AlphaDropout": (0, "p", "nonzero"),
    "FeatureAlphaDropout": (0, "p", "nonzero"),
    "BatchNorm1d": None,
    "BatchNorm2d": None,
    "BatchNorm3d": None,
    "LazyBatchNorm1d": None,
    "LazyBatchNorm2d": None,
    "LazyBatchNorm3d": None,
    "SyncBatchNorm": None,
    "InstanceNorm1d": (-1, "track_running_stats", "true"),
    "InstanceNorm2d": (-1, "track_running_stats", "true"),
    "InstanceNorm3d": (-1, "track_running_stats", "true"),
    "TransformerEncoderLayer": (-1, "dropout", "default-on"),
    "TransformerDecoderLayer": (-1, "dropout", "default-on"),
    "Transformer": (-1, "dropout", "default-on"),
    "MultiheadAttention": (-1, "dropout", "nonzero-keyword"),
    "LSTM": (-1, "dropout", "nonzero-keyword"),
    "GRU": (-1, "dropout", "nonzero-keyword"),
    "RNN": (-1, "dropout", "nonzero-keyword"),
}
FUNCTIONAL_DEPENDENT = frozenset(
    "torch.nn.functional." + name
    for name in ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout", "batch_norm")
)
# Containers whose arguments are the layers.
CONTAINERS = frozenset({"Sequential", "ModuleList", "ModuleDict"})
# Libraries whose model constructors give models with BatchNorm or Dropout.
LIBRARY_MODELS = MODEL_CONSTRUCTOR_PREFIXES + ("transformers.", "torchvision.models")
# Code in __init__ that builds no layer of unknown kind.
NEUTRAL_ROOTS = frozenset({"builtins", "math", "numpy", "einops", "functools", "itertools", "collections", "copy", "typing", "warnings", "logging"})


# Calls given the model that do not switch its mode (wrapping, logging, saving, EMA updates).
NEUTRAL_CALLS = re.compile(
    r"^(prepare\w*|setup\w*|wrap\w*|unwrap\w*|watch|log\w*|print\w*|info|debug|warning|summary|count\w*|"
    r"save\w*|load\w*|to|cuda|cpu|update|update_parameters|step|zero_grad|parameters|named_parameters|"
    r"state_dict|register\w*|apply|requires_grad_|numel|get_\w+|set_seed|seed\w*|plot\w*|visuali[sz]e\w*|"
    r"checkpoint\w*|broadcast\w*|barrier|all_reduce\w*|gather\w*|reduce\w*|clip\w*|measure\w*|time\w*|"
    r"gradient\w*|accumulate|autocast|no_sync|join|len|isinstance|hasattr|getattr|str|repr|format)$"
)
# Words of a method name that may switch the mode; matched at the start of a word of a snake_case or
# camelCase name: `train_epoch`, `setEvalMode` and `freeze_bn` may switch it, `save_pretrained`
# does not.
MODE_WORDS = ("train", "eval", "mode", "freeze", "fit", "test", "valid", "infer", "predict")
NAME_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def may_name_a_mode_switch(name: str) -> bool:
    return any(word.lower().startswith(MODE_WORDS) for word in NAME_WORDS.findall(name))


@dataclass(frozen=True)
class ModeFound:
    """The mode a model is in at one point, along one way of reaching it.

    state: "eval", "train" (an explicit `train()` decided), "default" (the model was built and never
    switched: modules start in training mode), or "unknown".
    """

    state: str
    # the deciding `model.train()` / `model.eval()` (in the timeline where it was found)
    event: Optional[Event] = None
    timeline: Optional[Timeline] = None
    # a backward pass ran between the deciding event and the point asked about
    trained_since: bool = False
    # the helper calls through which the point was reached (outermost first)
    chain: Tuple[CallSite, ...] = ()


@dataclass(frozen=True)
class AfterEval:
    """What follows a `model.eval()` in a loop: `restored` (a train() comes first), `trains` (a
    forward of the model, a backward and an optimizer step that updates it come first; `forward` is
    that training forward), `superseded` (another unconditional eval() of the model comes first),
    `unknown` or `nothing`."""

    state: str
    event: Optional[Event] = None
    forward: Optional[Event] = None
    # the first call of the model after eval(): the evaluation itself, usually
    first_forward: Optional[Event] = None


class ModelModes:
    MAX_CLASS_DEPTH = 4
    MAX_CALLER_DEPTH = 2

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        self.objects = ctx.fact(TrainingObjects)
        self.timelines = ctx.fact(TrainingTimelines)
        self._class_layers: Dict[int, Optional[Tuple[str, ...]]] = {}
        self.grad = ctx.fact(GradMode)
        self._callers: Dict[int, List[CallSite]] = {}
        self._receiver_classes: Dict[int, FrozenSet[str]] = {}

    # -- layers ------------------------------------------------------------------------------------

    def layers(self, expr: cst.BaseExpression, statement: Statement) -> Optional[Tuple[str, ...]]:
        """Mode-dependent layers of the model `expr`: names, `()` for visibly none, None if unknown."""
        found, complete = self.objects.sources(expr, statement)
        calls = [value for value, _ in found if isinstance(value, cst.Call)]
        if not calls:
            return None
        return _union([self.construction_layers(call) for call in calls], not complete or len(calls) != len(found))

    def construction_layers(self, call: cst.Call, depth: int = 0) -> Optional[Tuple[str, ...]]:
        """Mode-dependent layers a construction builds (see `layers`)."""
        if depth > self.MAX_CLASS_DEPTH:
            return None
        qualified = self.ctx.qualified_name(call.func) or ""
        terminal = callee_terminal_name(call) or ""
        if qualified.startswith("torch.nn."):
            if terminal in CONTAINERS:
                return self._layers_of_arguments(call, depth)
            dependent = self._torch_layer(call, terminal)
            if dependent is not None:
                return dependent
            return () if terminal[:1].isupper() else None
        if qualified.startswith(LIBRARY_MODELS) or terminal == "create_model":
            return ("BatchNorm/Dropout",)
        if terminal == "from_pretrained" and "Model" in self.ctx.code(call.func):
            return ("Dropout",)
        if isinstance(call.func, cst.Name) and qualified == "":
            info = self.ctx.index.class_by_name.get(call.func.value)
            if info is not None:
                return self.class_layers(info, depth + 1)
        return None

    def _torch_layer(self, call: cst.Call, terminal: str) -> Optional[Tuple[str, ...]]:
        if terminal not in MODE_DEPENDENT_LAYERS:
            return None
        switch = MODE_DEPENDENT_LAYERS[terminal]
        if switch is None:
            return (terminal,)
        position, keyword, rule = switch
        value = argument(call, position if position >= 0 else None, keyword)
        if rule == "true":
            return (terminal,) if isinstance(value, cst.Name) and value.value == "True" else ()
        if rule == "nonzero-keyword":
            if value is None:
                return ()
            number = number_value(value)
            return () if number == 0 else (terminal,)
        number = number_value(value) if value is not None else None
        return () if number == 0 else (terminal,)

    def _layers_of_arguments(self, call: cst.Call, depth: int) -> Optional[Tuple[str, ...]]:
        found: List[Optional[Tuple[str, ...]]] = []
        pending = [inner for arg in call.args for inner in calls_in(arg.value, outermost=True)]
        while pending:
            inner = pending.pop()
            layers = self.construction_layers(inner, depth + 1)
            if layers is None and self._neutral_call(inner):
                # OrderedDict([("fc", nn.Linear(...))]), layers + [nn.Dropout()]
                pending.extend(c for arg in inner.args for c in calls_in(arg.value, outermost=True))
                if isinstance(inner.func, cst.Attribute):
                    pending.extend(calls_in(inner.func.value, outermost=True))
            else:
                found.append(layers)
        return _union(found, False)

    def class_layers(self, info: ClassInfo, depth: int = 0) -> Optional[Tuple[str, ...]]:
        """Mode-dependent layers of a module class of this module (see `layers`)."""
        key = id(info)
        if key in self._class_layers:
            return self._class_layers[key]
        self._class_layers[key] = None  # recursion guard
        names: List[str] = []
        unknown = False
        for base in info.bases:
            qualified = self.ctx.qualified_name(base) or ""
            if qualified in ("torch.nn.Module", "torch.nn.modules.module.Module"):
                continue
            base_info = self.ctx.index.class_by_name.get(dotted_name(base) or "") if not qualified else None
            if base_info is not None:
                inherited = self.class_layers(base_info, depth + 1)
                if inherited is None:
                    unknown = True
                else:
                    names.extend(inherited)
                continue
            if "LightningModule" in qualified or (dotted_name(base) or "").endswith("LightningModule"):
                continue
            unknown = True
        building = self._building_scopes(info)
        scopes = self._class_scopes(info)
        scopes.extend(scope for scope in building if scope not in scopes)
        for scope in scopes:
            for site in scope.calls:
                call = site.node
                qualified = self.ctx.qualified_name(call.func) or ""
                if qualified in FUNCTIONAL_DEPENDENT:
                    names.append("F." + qualified.rsplit(".", 1)[-1])
                    continue
                if scope not in building:
                    continue
                layers = self.construction_layers(call, depth + 1)
                if layers is None:
                    if not self._neutral_call(call) and not self._helper_call(call, site):
                        unknown = True
                else:
                    names.extend(layers)
        unique = tuple(dict.fromkeys(names))
        result = unique if unique else (None if unknown else ())
        self._class_layers[key] = result
        return result

    def _class_scopes(self, info: ClassInfo) -> List[Scope]:
        scopes: List[Scope] = []
        pending = list(info.methods.values())
        while pending:
            scope = pending.pop()
            scopes.append(scope)
            pending.extend(scope.children)
        return scopes

    def _building_scopes(self, info: ClassInfo) -> List[Scope]:
        """`__init__` and the helpers it calls (methods of the class, functions of the module),
        where the layers are built."""
        init = info.methods.get("__init__")
        if init is None:
            return []
        found: List[Scope] = []
        pending = [init]
        while pending and len(found) < 20:
            scope = pending.pop()
            if scope in found:
                continue
            found.append(scope)
            pending.extend(scope.children)
            for site in scope.calls:
                callee = self.flow.callee(site)
                if callee is not None and callee.function_name != "forward":
                    pending.append(callee)
        return found

    def _neutral_call(self, call: cst.Call) -> bool:
        """Calls in a constructor that build no layer: builtins, math, tensors, method calls on
        values (`layers.append(...)`, `super().__init__()`)."""
        qualified = self.ctx.qualified_name(call.func)
        if qualified is not None:
            root = qualified.split(".")[0]
            if root in NEUTRAL_ROOTS:
                return True
            if root == "torch" and not qualified.startswith("torch.nn.") and qualified.split(".")[-1][:1].islower():
                return True  # torch.zeros, torch.randn, torch.linspace ...
            if qualified.startswith("torch.nn.init.") or qualified.startswith("torch.nn.functional."):
                return True
            return False
        return isinstance(call.func, cst.Attribute)

    def _helper_call(self, call: cst.Call, site: CallSite) -> bool:
        """A call to a function of this module (already looked into as a building scope)."""
        return self.flow.callee(site) is not None

    # -- gradient mode -----------------------------------------------------------------------------

    def disables_grad(self, expr: cst.BaseExpression) -> bool:
        return self.grad.disables_grad(expr)

    def with_disables_grad(self, block: cst.With) -> bool:
        return self.grad.with_disables_grad(block)

    def grad_disabled(self, statement: Statement) -> bool:
        return self.grad.grad_disabled(statement)

    def scope_grad_disabled(self, scope: Optional[Scope]) -> bool:
        return self.grad.scope_grad_disabled(scope)

    def event_grad_disabled(self, event: Event) -> bool:
        """Whether an event runs with gradients off: a `with` around it or around a call site it is
        reached through, or a decorator of a function on the way."""
        if any(self.with_disables_grad(block) for block in event.contexts):
            return True
        if self.scope_grad_disabled(event.statement.scope):
            return True
        return any(self.scope_grad_disabled(site.scope) for site in event.via)

    # -- the mode at some point --------------------------------------------------------------------

    def mode_before(self, node: cst.CSTNode, statement: Statement) -> List[ModeFound]:
        """The mode of the model at the event `node` (in `statement`), one answer per way of
        reaching it (see the module docstring)."""
        return self._mode_in_scope(node, statement, statement.scope, (), 0)

    def _mode_in_scope(
        self, node: cst.CSTNode, statement: Statement, scope: Scope, chain: Tuple[CallSite, ...], depth: int
    ) -> List[ModeFound]:
        anchor = chain[0].statement if chain else statement
        if anchor is None:
            return [ModeFound("unknown", chain=chain)]
        timelines: List[Timeline] = []
        for block in reversed(anchor.blocks):
            if isinstance(block, (cst.For, cst.While)):
                loop = self.ctx.index.statement_of.get(block)
                if loop is not None:
                    timelines.append(self.timelines.loop(loop))
        timelines.append(self.timelines.module() if scope.is_module else self.timelines.function(scope))
        wanted = tuple(site.node for site in chain)
        copy: Optional[Event] = None
        for timeline in timelines:
            copy = next(
                (e for e in timeline.find(node) if tuple(site.node for site in e.via) == wanted),
                None,
            )
            if copy is None:
                return [ModeFound("unknown", chain=chain)]
            if copy.target is None and chain:
                # helper(Generator()): a model built right at the call has never been switched
                return [self._initial_mode(node, statement, chain)]
            found = self._walk_before(timeline, copy, chain)
            if found is not None:
                return [found]
        assert copy is not None
        if scope.is_module:
            return [self._initial_mode(node, statement, chain)]
        if depth >= self.MAX_CALLER_DEPTH:
            return [ModeFound("unknown", chain=chain)]
        callers = self.callers(scope)
        if not callers:
            return [self._initial_mode(node, statement, chain)]
        results: List[ModeFound] = []
        for site in callers:
            if site.statement is None:
                results.append(ModeFound("unknown", chain=chain))
                continue
            results.extend(self._mode_in_scope(node, statement, site.scope, (site,) + chain, depth + 1))
        return results

    def callers(self, scope: Scope) -> List[CallSite]:
        """Call sites of this module that run the function: `helper(...)`, `self.helper(...)`, and
        `obj.method(...)` on an instance of its class."""
        cached = self._callers.get(id(scope))
        if cached is None:
            cached = self._callers[id(scope)] = self._find_callers(scope)
        return cached

    def _find_callers(self, scope: Scope) -> List[CallSite]:
        sites = list(self.flow.callers(scope))
        if scope.class_info is not None and scope.function_name != "forward":
            seen = {id(site.node) for site in sites}
            name = scope.function_name
            for site in self.flow.call_sites_named(name):
                func = site.node.func
                if id(site.node) in seen or not isinstance(func, cst.Attribute):
                    continue
                if site.statement is None or dotted_name(func.value) in ("self", "cls", None):
                    continue
                if scope.class_info.name in self._receiver_classes_of(site, func.value, site.statement):
                    sites.append(site)
        return sites

    def _receiver_classes_of(self, site: CallSite, receiver: cst.BaseExpression, statement: Statement) -> FrozenSet[str]:
        """The names called to build the receiver of `obj.method(...)` (`Trainer` for `obj =
        Trainer(...)`), once per call site: every class with a method of that name asks."""
        found = self._receiver_classes.get(id(site))
        if found is None:
            sources, _ = self.objects.sources(receiver, statement)
            found = frozenset(
                value.func.value for value, _ in sources if isinstance(value, cst.Call) and isinstance(value.func, cst.Name)
            )
            self._receiver_classes[id(site)] = found
        return found

    def _initial_mode(self, node: cst.CSTNode, statement: Statement, chain: Tuple[CallSite, ...]) -> ModeFound:
        """No switch before the point: the mode the model was built in (training, except for
        Hugging Face `from_pretrained`, which returns a model in evaluation mode), when the model's
        construction is visible."""
        model = _called_model(node)
        if model is None:
            return ModeFound("unknown", chain=chain)
        if self._built_in_eval_mode(model, statement):
            return ModeFound("eval", chain=chain)
        found, complete = self.objects.sources(model, statement)
        if not complete or not found:
            return ModeFound("unknown", chain=chain)
        for value, _ in found:
            if not isinstance(value, cst.Call) or self.objects.constructor_kind(value) != MODEL:
                return ModeFound("unknown", chain=chain)
            if callee_terminal_name(value) == "from_pretrained":
                return ModeFound("eval", chain=chain)
        return ModeFound("default", chain=chain)

    def _built_in_eval_mode(self, model: cst.BaseExpression, statement: Statement, renames: int = 0) -> bool:
        """`model = resnet50(weights=...).eval()` or `self.model = ....eval()` in every assignment of the
        attribute (also `.train(False)`, through `.to(device)` and other calls chained after it, and
        through plain renames)."""
        if isinstance(model, cst.Name):
            definitions = [self.flow.definition(model.value, statement)]
        else:
            definitions = self.flow.self_attribute_definitions(dotted_name(model) or "", statement) or []
        if not definitions or renames > MAX_RENAMES:
            return False
        for definition in definitions:
            if definition.kind != "assign" or definition.value is None or definition.statement is None:
                return False
            value = definition.value
            switched = None
            while switched is None and isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute):
                if value.func.attr.value == "eval" and not value.args:
                    switched = True
                elif value.func.attr.value == "train" and value.args:
                    mode = argument(value, 0, "mode")
                    switched = isinstance(mode, cst.Name) and mode.value == "False"
                value = value.func.value
            if switched is None:
                switched = self._built_in_eval_mode(value, definition.statement, renames + 1)
            if not switched:
                return False
        return True

    def _walk_before(self, timeline: Timeline, copy: Event, chain: Tuple[CallSite, ...]) -> Optional[ModeFound]:
        key = copy.target
        if key is None:
            return ModeFound("unknown", chain=chain)
        trained = False
        for event, _ in timeline.before(copy):
            if event.kind == BACKWARD:
                trained = True
            elif event.kind == MODE:
                concerned = self.mode_concerns(event, key, timeline)
                if concerned is None:
                    return ModeFound("unknown", event, timeline, trained, chain)
                if not concerned:
                    continue
                training = event.detail.training
                if training is None:
                    return ModeFound("unknown", event, timeline, trained, chain)
                if not training:
                    return ModeFound("eval", event, timeline, trained, chain)
                if event.conditional and not event.runs_whenever(copy):
                    return ModeFound("unknown", event, timeline, trained, chain)
                return ModeFound("train", event, timeline, trained, chain)
            elif event.kind == CALL and self.may_switch(event, key):
                return ModeFound("unknown", event, timeline, trained, chain)
        return None

    def mode_after_eval(self, timeline: Timeline, evaluation: Event) -> AfterEval:
        """From `model.eval()` on, around the loop: what comes first (see `AfterEval`)."""
        key = evaluation.target
        if key is None:
            return AfterEval("unknown", evaluation)
        forward: Optional[Event] = None
        first_forward: Optional[Event] = None
        backpropagated = False
        for event, _ in timeline.after(evaluation):
            if event.kind == MODE:
                concerned = self.mode_concerns(event, key, timeline)
                if concerned is None:
                    return AfterEval("unknown", event)
                if concerned and event.detail.training is not False:
                    return AfterEval("restored" if event.detail.training else "unknown", event)
                if concerned and not event.conditional:
                    # the code that follows sets evaluation mode itself (a linear probe's training
                    # epoch): that eval() decides the mode of the next steps, and is judged on its own
                    return AfterEval("superseded", event)
            elif event.kind == CALL and self.may_switch(event, key):
                return AfterEval("unknown", event)
            elif event.kind == FORWARD and event.target is not None and related(event.target, key):
                forward, backpropagated = event, False
                first_forward = first_forward or event
            elif event.kind == BACKWARD and forward is not None:
                backpropagated = True
            elif event.kind == STEP and forward is not None and backpropagated:
                trains = self._step_trains(timeline, event, key)
                if trains is None:
                    return AfterEval("unknown", event)
                if trains:
                    return AfterEval("trains", event, forward, first_forward)
        return AfterEval("nothing")

    def _step_trains(self, timeline: Timeline, step: Event, key: str) -> Optional[bool]:
        """Whether the optimizer step updates the model `key`: its parameters are the model's, or
        (not visible) the model is the only one run forward in the loop."""
        if step.roots is not None:
            models = {root for root in step.roots if not root.startswith("optimizer:")}
            if any(related(root, key) or self._attribute_built_from(key, root, timeline) for root in models):
                return True
            if models and len(models) == len(step.roots):
                return False
        forwarded = {e.target for e in timeline.events if e.kind == FORWARD}
        if len(forwarded) == 1 and next(iter(forwarded)) is not None and related(next(iter(forwarded)), key):
            return True
        return None

    def _attribute_built_from(self, key: str, root: str, timeline: Timeline) -> bool:
        """`self.model = model.to(device)` in the class: the trainer's `self.model` is the `model` its
        optimizer was built from (`AdamW(model.parameters())` in `__init__`)."""
        owner = self.ctx.index.enclosing_class(timeline.scope)
        if owner is None or not key.startswith("self.") or "." in root:
            return False
        for definition in self.flow.attribute_definitions(owner, key[len("self."):]):
            value = definition.value
            while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute):
                value = value.func.value  # model.to(device).cuda()
            if definition.kind == "assign" and isinstance(value, cst.Name) and value.value == root:
                return True
        return False

    def mode_concerns(self, event: Event, key: str, timeline: Timeline) -> Optional[bool]:
        """Whether a train()/eval() event switches the model `key` (names in the timeline's terms):
        True for the same or a related name, False for a distinct variable, None when unsure (a loop
        variable, an element of a list, an unresolved expression)."""
        target = event.target
        if target is None:
            return None
        if related(target, key):
            return True
        receiver = method_receiver(event.node) if isinstance(event.node, cst.Call) else None
        if receiver is None:
            return None
        if dotted_name(receiver) is None:
            return False  # `cnn = resnet18().eval()`: a new model under another name
        root = (dotted_name(receiver) or "").split(".")[0]
        if root == "self":
            return False if target.startswith("self.") and key.startswith("self.") else None
        definition = self.flow.definition(root, event.statement)
        if definition.kind in ("assign", "param", "unpacked", "with", "augassign"):
            return False
        return None

    def may_switch(self, event: Event, key: str) -> bool:
        """Whether an unknown call may switch the model's mode: a helper not looked into, a call given
        the model, a method of the model named like a mode switch."""
        detail = event.detail
        call = event.node if isinstance(event.node, cst.Call) else None
        name = detail.callee or (callee_terminal_name(call) if call is not None else "") or ""
        receiver = detail.receiver
        if detail.opaque:
            if call is None:
                return True
            if isinstance(call.func, cst.Attribute) and dotted_name(call.func.value) == "self":
                return True
            return self._given_model(call, event.statement, key)
        if detail.part_of_event:
            return False
        if receiver is not None and related(receiver, key):
            return may_name_a_mode_switch(name)
        if event.roots and any(self._may_be_model(root, key, event) for root in event.roots):
            return not NEUTRAL_CALLS.match(name)
        return False

    def _may_be_model(self, root: str, key: str, event: Event) -> bool:
        """Whether an argument of a call (named in the call's own scope) may be the model `key`
        (named in the timeline's scope): the same name, or, inside a helper, one of its parameters."""
        if related(root, key):
            return True
        if not event.via:
            return False
        name = root.split(".")[0]
        if name == "self":
            return True
        scope = event.statement.scope
        if scope.parameter(name) is None:
            return False
        if len(event.via) == 1 and name == root:
            # what the helper got for that parameter, written where the timeline is: the output of
            # the model's forward (`compute_loss(criterion, model(x), y)`) is not the model
            site = event.via[0]
            passed = self.flow.argument_for(scope, name, site.node) if site.statement is not None else None
            if passed is not None and self._forward_output(passed, key, site.statement):
                return False
            if passed is not None and dotted_name(passed) is not None:
                passed_key = self.objects.key(passed, site.statement)
                return passed_key is None or related(passed_key, key)
        return True

    def _forward_output(self, expr: cst.BaseExpression, key: str, statement: Statement) -> bool:
        """`model(x)` or `model.forward(x)` of the model `key`."""
        if not isinstance(expr, cst.Call):
            return False
        model = _called_model(expr)
        if model is None or dotted_name(model) is None:
            return False
        called = self.objects.key(model, statement)
        return called is not None and related(called, key)

    def _given_model(self, call: cst.Call, statement: Statement, key: str) -> bool:
        for arg in call.args:
            if dotted_name(arg.value) is not None:
                argument_key = self.objects.key(arg.value, statement)
                if argument_key is None or related(argument_key, key):
                    return True
        return False


def _called_model(node: cst.CSTNode) -> Optional[cst.BaseExpression]:
    """The model of a forward call: `model` in `model(x)` and `model.forward(x)`."""
    if not isinstance(node, cst.Call):
        return None
    func = node.func
    if isinstance(func, cst.Attribute) and func.attr.value == "forward":
        return func.value
    return func


def called_model(node: cst.CSTNode) -> Optional[cst.BaseExpression]:
    return _called_model(node)


def _union(found: List[Optional[Tuple[str, ...]]], unknown: bool) -> Optional[Tuple[str, ...]]:
    """The layer names of several parts together: None when some part is unknown and none has layers."""
    names: List[str] = []
    for layers in found:
        if layers is None:
            unknown = True
        else:
            names.extend(n for n in layers if n not in names)
    if names:
        return tuple(names)
    return None if unknown else ()
