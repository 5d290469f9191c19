"""Setup family: rules about how data, optimizer and scheduler are wired into training.

NNL601 train-loader-unshuffled: the DataLoader that feeds backward() never shuffles.
NNL602 optimizer-misses-new-layers: a layer is put on the model after the optimizer took its
parameters.
NNL603 scheduler-before-optimizer: scheduler.step() before optimizer.step() in an iteration, or an
epoch-based scheduler stepped every batch.
NNL604 loss-accumulated-with-graph: a running total of the loss tensor across iterations keeps
every iteration's autograd graph alive.

They read the training-step timeline (`analysis.timeline`), the training objects
(`analysis.objects`), the data loaders (`families/setup/loaders`) and the loss values
(`analysis.training`); when the code does not tell, they stay silent.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

import libcst as cst

from nnlint.analysis.context import brief_text
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.index import Statement
from nnlint.analysis.model_modes import ModelModes
from nnlint.analysis.names import (
    argument,
    callee_terminal_name,
    calls_in,
    dotted_name,
    keyword_arg,
    method_receiver,
    number_value,
    string_value,
)
from nnlint.analysis.objects import MODEL, OPTIMIZER, TrainingObjects, related
from nnlint.analysis.timeline import (
    BACKWARD,
    FORWARD,
    SCHEDULER_STEP,
    STEP,
    Event,
    Timeline,
    TrainingTimelines,
)
from nnlint.analysis.remote import RemoteValues
from nnlint.analysis.training import LOSS_CARRY, LossValues, UpdateSinks, graph_loss
from nnlint.analysis.values import FixedValues
from nnlint.check import Check, Elsewhere
from nnlint.families.setup import fixes
from nnlint.families.setup.contracts import (
    TRAIN_LOADER_UNSHUFFLED,
    OPTIMIZER_MISSES_NEW_LAYERS,
    SCHEDULER_BEFORE_OPTIMIZER,
    LOSS_ACCUMULATED_WITH_GRAPH,
    LossAccumulatedInput,
)
from nnlint.families.setup.loaders import DataLoaders


def _target_names(target: cst.BaseExpression) -> List[str]:
    if isinstance(target, (cst.Tuple, cst.List)):
        found: List[str] = []
        for element in target.elements:
            found.extend(_target_names(element.value))
        return found
    name = dotted_name(target)
    return [name] if name else []


def _target_name_nodes(target: cst.BaseExpression) -> List[cst.Name]:
    if isinstance(target, (cst.Tuple, cst.List)):
        return [name for element in target.elements for name in _target_name_nodes(element.value)]
    return [target] if isinstance(target, cst.Name) else []


def _loop_header(ctx, loop: cst.CSTNode) -> str:
    if isinstance(loop, cst.For):
        return f"for {ctx.brief(loop.target, 30)} in {ctx.brief(loop.iter, 40)}"
    if isinstance(loop, cst.While):
        return f"while {ctx.brief(loop.test, 40)}"
    return "the loop"


# -- NNL601 -----------------------------------------------------------------------------------------


class TrainLoaderUnshuffledCheck(Check):
    rules = (TRAIN_LOADER_UNSHUFFLED,)
    triggers = ("DataLoader",)

    def finish(self) -> None:
        if self.ctx.is_test_file:
            return  # unit tests read their toy data in order on purpose (determinism)
        loaders = self.ctx.fact(DataLoaders)
        for use in loaders.training_uses():
            shuffling = loaders.shuffling(use.call)
            if shuffling != "unshuffled":
                continue
            if loaders.dataset_order(use.call, use.statement) != "map":
                continue
            if use.timeline is not None and _carries_state(use.timeline):
                continue  # truncated backprop through time: batches must come in order
            self._report(use, loaders)
        project = self.ctx.project
        for remote in loaders.remote_uses:
            loader = remote.loader
            if loader.detail["order"] != "unshuffled" or project.dataset_order(loader.detail["dataset"]) != "map":
                continue
            if _carries_state(remote.timeline):
                continue
            self._report_remote(remote)

    def _report_remote(self, use) -> None:
        """The DataLoader is built in another file (where the fix goes); this module trains on it."""
        ctx = self.ctx
        project = ctx.project
        backward = use.timeline.of(BACKWARD)[0]
        here = f"{project.display(project.path)}:{ctx.position(use.statement.node).start.line}"
        message = (
            f"this DataLoader feeds the training loop `{_loop_header(ctx, use.timeline.root)}` at {here} (its "
            f"batches reach `{ctx.brief(backward.node, 40)}`) but reads the dataset in stored order "
            f"(no shuffle=True, no sampler): every epoch sees the same sequence, and data stored sorted by class "
            f"arrives in long runs. Pass shuffle=True (or a sampler such as RandomSampler or DistributedSampler)."
        )
        at = Elsewhere(use.loader.path, tuple(use.loader.at))
        related = ((use.statement.node, "the training loop that iterates it"),)
        concise = f"this DataLoader feeds training at {here} but never shuffles: pass shuffle=True or a sampler"
        self.report(use.statement.node, TRAIN_LOADER_UNSHUFFLED, message, short=concise, at=at, related=related)

    def _report(self, use, loaders: DataLoaders) -> None:
        ctx = self.ctx
        call = use.call
        shuffle = argument(call, 2, "shuffle")
        how = "shuffle=False" if shuffle is not None else "no shuffle=True"
        if use.timeline is not None:
            backward = use.timeline.of(BACKWARD)[0]
            fed = f"feeds the training loop `{_loop_header(ctx, use.timeline.root)}` (its batches reach `{ctx.brief(backward.node, 40)}`)"
        elif use.how == "lightning":
            fed = "is the training DataLoader of the LightningModule (train_dataloader)"
        else:
            fed = "is the training DataLoader given to trainer.fit()"
        message = (
            f"`{ctx.brief(call, 60)}` {fed} but reads the dataset in stored order ({how}, no sampler): every epoch "
            f"sees the same sequence, and data stored sorted by class or by source arrives in long runs, so "
            f"the updates chase one class at a time. Pass shuffle=True (or a sampler such as RandomSampler or "
            f"DistributedSampler)."
        )
        concise = f"the training DataLoader never shuffles ({how}): pass shuffle=True or a sampler"
        self.report(call, TRAIN_LOADER_UNSHUFFLED, message, short=concise, fix=fixes.shuffle_loader(ctx, call))


def _carries_state(timeline: Timeline) -> bool:
    """A model call whose output is fed back into the next call (`output, hidden = model(x, hidden)`):
    a stateful RNN that needs its batches in order."""
    for event in timeline.events:
        if event.kind != FORWARD or not isinstance(event.node, cst.Call):
            continue
        node = event.statement.node
        if not isinstance(node, cst.Assign):
            continue
        targets = {name for t in node.targets for name in _target_names(t.target)}
        arguments = {dotted_name(arg.value) for arg in event.node.args}
        if targets & arguments:
            return True
    return False


# -- NNL602 -----------------------------------------------------------------------------------------

# torch.nn modules without parameters: replacing a layer with one of these loses nothing.
PARAMETER_FREE = re.compile(
    r"^(Identity|Flatten|Unflatten|Dropout\w*|AlphaDropout|FeatureAlphaDropout|ReLU\d*|LeakyReLU|ELU|SELU|CELU|GELU|"
    r"SiLU|Mish|Sigmoid|Tanh|Softmax\d*|LogSoftmax|Softplus|Softsign|Hardswish|Hardsigmoid|Hardtanh|Tanhshrink|"
    r"Threshold|GLU|\w*Pool\d?d|AdaptiveAvgPool\w*|AdaptiveMaxPool\w*|Upsample\w*|PixelShuffle|PixelUnshuffle|"
    r"ZeroPad\dd|ConstantPad\dd|ReflectionPad\dd|ReplicationPad\dd|ChannelShuffle)$"
)
ADDING_METHODS = frozenset({"reset_classifier", "resize_token_embeddings", "add_module", "register_module"})


class OptimizerMissesNewLayersCheck(Check):
    rules = (OPTIMIZER_MISSES_NEW_LAYERS,)
    # the optimizer must have been built from the model's parameters
    triggers = ("parameters(",)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.candidates: List[Tuple[cst.CSTNode, str, cst.BaseExpression, Statement, str]] = []

    def visit_Assign(self, node: cst.Assign) -> None:
        statement = self.ctx.index.current_statement
        if statement is None or len(node.targets) != 1:
            return
        target = node.targets[0].target
        holder = target.value if isinstance(target, cst.Subscript) else target
        if not isinstance(holder, cst.Attribute) or dotted_name(holder) is None:
            return
        # model.fc = nn.Linear(...), model.classifier[-1] = nn.Linear(...)
        self.candidates.append((node, dotted_name(holder), node.value, statement, "assign"))

    def visit_Call(self, node: cst.Call) -> None:
        statement = self.ctx.index.current_statement
        terminal = callee_terminal_name(node)
        if statement is None:
            return
        receiver = method_receiver(node)
        if terminal in ADDING_METHODS and receiver is not None and dotted_name(receiver) is not None:
            self.candidates.append((node, dotted_name(receiver), node, statement, terminal))
        elif receiver is not None and dotted_name(receiver) is not None and not dotted_name(receiver).startswith("self"):
            # model.replace_head(10): a method of the model's own class that may put a layer on it
            self.candidates.append((node, dotted_name(receiver), node, statement, "method"))
        elif terminal == "setattr" and isinstance(node.func, cst.Name) and len(node.args) == 3:
            owner = dotted_name(node.args[0].value)
            name = string_value(node.args[1].value)
            if owner is not None and name is not None:
                self.candidates.append((node, f"{owner}.{name}", node.args[2].value, statement, "assign"))

    def finish(self) -> None:
        if not self.candidates:
            return
        objects = self.ctx.fact(TrainingObjects)
        optimizer_scopes: Dict[int, bool] = {}
        for node, path, value, statement, form in self.candidates:
            related: Tuple[Tuple[object, str], ...] = ()
            if form == "method":
                if not self._may_build_optimizer(statement.scope, optimizer_scopes):
                    continue  # (checked once per function: method calls are many)
                added = self._added_by_method(node, statement)
                if added is None:
                    continue
                new_layer, related = added
            else:
                new_layer = self._new_layer(form, node, value, objects)
            if new_layer is None:
                continue
            found = self._stale_optimizer(path, statement, objects)
            if found is None:
                continue
            optimizer_name, construction, where = found
            self._report(node, path, new_layer, optimizer_name, construction, form, related)

    def _may_build_optimizer(self, scope, seen: Dict[int, bool]) -> bool:
        """Whether some assignment of the function may build an optimizer (takes parameters, or
        calls something optimizer-like): a cheap filter, `_stale_optimizer` decides."""
        if id(scope) not in seen:
            seen[id(scope)] = any(
                isinstance(st.node, (cst.Assign, cst.AnnAssign))
                and any(
                    word in (dotted_name(site.node.func) or "").lower() for site in st.calls for word in ("parameters", "optim")
                )
                for st in scope.statements
            )
        return seen[id(scope)]

    def _added_by_method(self, call: cst.Call, statement: Statement):
        """`model.replace_head(10)` where the model's class (of this file or another file of the
        project) assigns a new layer on `self` in that method, on every path: (what it adds, the
        assignment as a related place), or None."""
        receiver = method_receiver(call)
        method = callee_terminal_name(call)
        if receiver is None or method is None:
            return None
        info = self.ctx.fact(DataFlow).instance_class(receiver, statement)
        module = self.ctx
        if info is None:
            remote = self.ctx.fact(RemoteValues)
            found = remote.class_of(remote.instance(receiver, statement))
            if found is None:
                return None
            module, info = found
        scope = info.methods.get(method)
        if scope is None or method.startswith("__"):
            return None
        check = self if module is self.ctx else OptimizerMissesNewLayersCheck(module)
        objects = module.fact(TrainingObjects)
        for inner in scope.statements:
            node = inner.node
            if inner.scope is not scope or inner.blocks or not isinstance(node, cst.Assign) or len(node.targets) != 1:
                continue
            target = node.targets[0].target
            holder = target.value if isinstance(target, cst.Subscript) else target
            if not (dotted_name(holder) or "").startswith("self."):
                continue
            new_layer = check._new_layer("assign", node, node.value, objects)
            if new_layer is None:
                continue
            place = self.ctx.fact(RemoteValues).place(node) if module is not self.ctx else None
            where = Elsewhere(*place) if place is not None else node
            return new_layer, ((where, f"{info.name}.{method}() assigns {new_layer}"),)
        return None

    def _new_layer(self, form: str, node: cst.CSTNode, value, objects: TrainingObjects) -> Optional[str]:
        """A description of the parameters the statement adds, or None when it adds none."""
        if form == "reset_classifier":
            classes = argument(node, 0, "num_classes")
            if classes is None or number_value(classes) == 0:
                return None
            return "a new classifier"
        if form == "resize_token_embeddings":
            return "new token embeddings"
        if form in ("add_module", "register_module"):
            value = argument(node, 1, "module")
            if value is None:
                return None
        while isinstance(value, cst.Call) and callee_terminal_name(value) in ("to", "cuda", "half", "float", "bfloat16") and isinstance(value.func, cst.Attribute) and isinstance(value.func.value, cst.Call):
            value = value.func.value
        if not isinstance(value, cst.Call):
            return None
        qualified = self.ctx.qualified_name(value.func) or ""
        terminal = callee_terminal_name(value) or ""
        if qualified in ("torch.nn.Parameter", "torch.nn.parameter.Parameter"):
            return "a new parameter"
        if qualified.startswith("torch.nn.") and terminal[:1].isupper():
            if PARAMETER_FREE.match(terminal) or terminal.endswith("Loss"):
                return None
            if terminal in ("Sequential", "ModuleList", "ModuleDict"):
                inner = [c for c in calls_in(value) if c is not value]
                if not any(self._has_parameters(c) for c in inner):
                    return None
            return f"a new {terminal}"
        if objects.constructor_kind(value) == MODEL:
            return f"a new {terminal}"
        return None

    def _has_parameters(self, call: cst.Call) -> bool:
        qualified = self.ctx.qualified_name(call.func) or ""
        terminal = callee_terminal_name(call) or ""
        if qualified.startswith("torch.nn.") and terminal[:1].isupper():
            return not PARAMETER_FREE.match(terminal) and terminal not in ("Sequential", "ModuleList", "ModuleDict")
        return isinstance(call.func, cst.Name) and call.func.value in self.ctx.index.class_by_name

    @staticmethod
    def _optimizes(call: cst.Call, where: Statement, path: str, objects: TrainingObjects, caller=None) -> bool:
        """The optimizer construction takes the parameters of the model `path` (`caller`: the call
        of the helper it is built in, whose argument for the helper's model parameter is `path`)."""
        params = argument(call, 0, "params")
        owners = objects.parameter_owners(params, where) if params is not None else None
        for kind, owner, owner_statement in owners or ():
            if kind != MODEL:
                continue
            key = objects.key(owner, owner_statement)
            if caller is not None and key is not None and where.scope.parameter(key) is not None:
                passed = objects.flow.argument_for(where.scope, key, caller.node)
                key = objects.key(passed, caller.statement) if passed is not None else None
            if key is not None and related(key, path):
                return True
        return False

    def _optimizer_from_helper(self, site, where: Statement, targets, path: str, objects: TrainingObjects):
        """`optimizer, scheduler = build_optimizer(model, cfg)`: a module function that builds the
        optimizer from the model it is given and returns it. (name, construction, statement)."""
        helper = objects.flow.callee(site)
        returns = [
            st for st in helper.statements
            if st.scope is helper and isinstance(st.node, cst.Return) and st.node.value is not None
        ]
        if len(targets) != 1 or len(returns) != 1:
            return None
        returned = returns[0].node.value
        names = _target_name_nodes(targets[0])
        if isinstance(targets[0], cst.Name):
            pairs = [(targets[0], returned)]
        elif isinstance(returned, (cst.Tuple, cst.List)) and len(returned.elements) == len(names):
            pairs = list(zip(names, (element.value for element in returned.elements)))
        else:
            return None
        for name_node, value in pairs:
            constructions, complete = objects.constructions(value, returns[0], OPTIMIZER)
            if complete and len(constructions) == 1:
                built, built_where = constructions[0]
                if self._optimizes(built, built_where, path, objects, site):
                    return name_node.value, built, where
        return None

    def _stale_optimizer(self, path: str, statement: Statement, objects: TrainingObjects):
        """The optimizer built earlier in the same function from the parameters of the model that
        `path` belongs to, still used afterwards and neither rebuilt nor given new parameters."""
        scope = statement.scope
        flow = self.ctx.fact(DataFlow)
        root = path.split(".")[0]
        found = None
        for earlier in scope.statements[: statement.position]:
            node = earlier.node
            if not isinstance(node, (cst.Assign, cst.AnnAssign)) or not isinstance(node.value, cst.Call):
                continue
            if any(block not in statement.blocks for block in earlier.blocks):
                continue  # built in a branch or loop the assignment is not in
            if root != "self" and flow.definition(root, earlier) != flow.definition(root, statement):
                continue  # the model was rebound in between
            targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            site = self.ctx.index.call_sites.get(node.value)
            if site is not None and flow.callee(site) is not None:
                found = self._optimizer_from_helper(site, earlier, targets, path, objects) or found
            elif objects.constructor_kind(node.value) == OPTIMIZER:
                names = [n for t in targets for n in _target_names(t)]
                if len(names) == 1 and self._optimizes(node.value, earlier, path, objects):
                    found = (names[0], node.value, earlier)
        if found is None:
            return None
        optimizer_name = found[0]
        used = False
        for later in scope.statements[statement.position + 1 :]:
            node = later.node
            if isinstance(node, (cst.Assign, cst.AnnAssign)) and node.value is not None:
                targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
                if optimizer_name in [n for t in targets for n in _target_names(t)]:
                    return None  # rebuilt
                if isinstance(node.value, cst.Call) and objects.constructor_kind(node.value) == OPTIMIZER:
                    return None  # a new optimizer (under another name) takes over
            for site in later.calls:
                if callee_terminal_name(site.node) == "add_param_group":
                    return None
                receiver = method_receiver(site.node)
                if receiver is not None and dotted_name(receiver) == optimizer_name:
                    used = True
                if any(dotted_name(arg.value) == optimizer_name for arg in site.node.args):
                    used = True
            if isinstance(node, cst.Return) and node.value is not None and re.search(
                rf"\b{re.escape(optimizer_name)}\b", self.ctx.code(node.value)
            ):
                used = True
        if not used and not optimizer_name.startswith("self."):
            return None
        return found

    def _report(
        self, node, path: str, new_layer: str, optimizer_name: str, construction: cst.Call, form: str, related=()
    ) -> None:
        ctx = self.ctx
        model = path.split(".")[0] if form == "assign" else path
        message = (
            f"`{ctx.brief(node, 60)}` puts {new_layer} on {model} after `{optimizer_name} = {ctx.brief(construction, 50)}` "
            f"took its parameters: the optimizer keeps the old parameters and never sees the new ones, so the new "
            f"layer stays at its random initialization (and the replaced one is still updated for nothing). Build "
            f"the optimizer after changing the model, or add the new parameters with "
            f"`{optimizer_name}.add_param_group(...)`."
        )
        concise = (
            f"{brief_text(new_layer, 30)} added after the optimizer took the parameters: never trained; "
            "build the optimizer after"
        )
        self.report(node, OPTIMIZER_MISSES_NEW_LAYERS, message, short=concise, related=related)


# -- NNL603 -----------------------------------------------------------------------------------------

TORCH_SCHEDULERS = ("torch.optim.lr_scheduler.", "transformers.", "diffusers.optimization.", "timm.scheduler.")
# Schedulers whose length is counted in epochs when built like this, and the argument that counts.
EPOCH_LENGTH = {"StepLR": (1, "step_size"), "MultiStepLR": (1, "milestones"), "CosineAnnealingLR": (1, "T_max"),
                "CosineAnnealingWarmRestarts": (1, "T_0")}
EPOCH_NAME = re.compile(r"^(n_|num_|max_|total_|nb_|train_|n|num|max|total)?epochs?$|_epochs?$|^epochs?_(num|count|total)$", re.IGNORECASE)
STEP_WORDS = re.compile(r"step|iter|batch|len|sample|update", re.IGNORECASE)
ITERATION_WORDS = re.compile(r"epoch|step|iter|batch|\bi\b|\bit\b|\bidx\b|\bn\b|global")


class SchedulerBeforeOptimizerCheck(Check):
    rules = (SCHEDULER_BEFORE_OPTIMIZER,)
    triggers = ("sched", "LR(", "warmup", "Warmup")

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.candidates: List[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        if callee_terminal_name(node) == "step" and not node.args and isinstance(node.func, cst.Attribute):
            self.candidates.append(node)

    def finish(self) -> None:
        if not self.candidates:
            return
        timelines = self.ctx.fact(TrainingTimelines)
        objects = self.ctx.fact(TrainingObjects)
        for node in self.candidates:
            holding = [(timeline, event) for timeline, event in timelines.loops_holding(node, SCHEDULER_STEP) if timeline.has(STEP)]
            if not holding:
                continue
            timeline, event = holding[0]
            if event.in_nested_loop:
                continue  # stepped in an inner loop that steps no optimizer (another training run, a list of schedulers)
            constructions = self._constructions(event, objects)
            if constructions is None:
                continue
            if self._before_optimizer(timeline, event, constructions, objects):
                continue
            self._per_batch(timeline, event, constructions)

    def _constructions(self, event: Event, objects: TrainingObjects) -> Optional[List[Tuple[cst.Call, Statement]]]:
        """The scheduler's constructions ([] when not visible); None when it is not a library scheduler
        (a class of this module, an unknown factory): its step() may mean anything."""
        receiver = method_receiver(event.node)
        if receiver is None:
            return None
        sources, _ = objects.sources(receiver, event.statement)
        calls = []
        for value, where in sources:
            if not isinstance(value, cst.Call):
                continue
            qualified = self.ctx.qualified_name(value.func) or ""
            terminal = callee_terminal_name(value) or ""
            if qualified.startswith(TORCH_SCHEDULERS) or re.match(r"get_\w*schedule", terminal):
                calls.append((value, where))
            else:
                return None
        return calls

    # (a) scheduler.step() before the optimizer's step in one iteration

    def _before_optimizer(self, timeline: Timeline, event: Event, constructions, objects: TrainingObjects) -> bool:
        for other, wrapped in timeline.before(event):
            if wrapped:
                break
            if other.kind == STEP and self._concerns(other, constructions, objects) is not False:
                return False
        if any(self._iteration_dependent(guard, timeline) for guard in event.conditions):
            return False  # `if epoch > 0: scheduler.step()` steps for the previous epoch
        for other, wrapped in timeline.after(event):
            if wrapped:
                break
            if other.kind == STEP and not any(g.branch == "except" for g in other.guards):
                if self._concerns(other, constructions, objects) is False:
                    continue
                self._report_order(timeline, event, other)
                return True
        return False

    def _concerns(self, step: Event, constructions, objects: TrainingObjects) -> Optional[bool]:
        if not constructions or step.identity is None:
            return None
        identities = set()
        for call, where in constructions:
            optimizer = argument(call, 0, "optimizer")
            identity = objects.identity(optimizer, where) if optimizer is not None else None
            if identity is None:
                return None
            identities |= identity
        return bool(identities & step.identity)

    def _iteration_dependent(self, guard, timeline: Timeline) -> bool:
        test = guard.test
        if test is None:
            return True
        text = self.ctx.code(test)
        names = set()
        root = timeline.root
        if isinstance(root, cst.For):
            names = {n for n in re.findall(r"\w+", self.ctx.code(root.target))}
        return bool(ITERATION_WORDS.search(text)) or any(re.search(rf"\b{re.escape(n)}\b", text) for n in names)

    def _report_order(self, timeline: Timeline, event: Event, step: Event) -> None:
        ctx = self.ctx
        nested = step.in_nested_loop and not event.in_nested_loop
        where = (
            f"at the top of `{_loop_header(ctx, timeline.root)}`, before the batch loop that runs `{ctx.brief(step.node, 40)}`"
            if nested
            else f"before `{ctx.brief(step.node, 40)}` in each iteration of `{_loop_header(ctx, timeline.root)}`"
        )
        remote = step.detail.remote
        related = ()
        if remote is not None:
            # the optimizer's step is in a function of another module that this loop calls
            place = f"{ctx.project.display(remote.path)}:{remote.at[0]}"
            where += f" (its optimizer.step() is at {place}, in {remote.function}())"
            related = ((Elsewhere(remote.path, tuple(remote.at)), "the optimizer step"),)
        message = (
            f"`{ctx.brief(event.node, 60)}` runs {where}: the first value of the schedule is skipped (PyTorch only "
            f"warns at run time), so every learning rate comes one step early and warmup or decay milestones shift. "
            f"Call it after `{ctx.brief(step.node, 40)}`."
        )
        fix = fixes.step_scheduler_after(ctx, event, step, ctx.brief(step.node, 40))
        concise = f"scheduler stepped before {ctx.brief(step.node, 30)}: the schedule runs one step early; step it after"
        self.report(event.node, SCHEDULER_BEFORE_OPTIMIZER, message, related=related, short=concise, fix=fix)

    # (b) an epoch-based scheduler stepped every batch

    def _per_batch(self, timeline: Timeline, event: Event, constructions) -> None:
        if len(constructions) != 1 or event.conditional or not isinstance(timeline.root, cst.For):
            return
        loop = self.ctx.index.statement_of.get(timeline.root)
        if loop is None or not self.ctx.fact(DataLoaders).batch_loop(loop):
            return
        if not any(e.kind == STEP and not e.conditional for e in timeline.events):
            return
        call, where = constructions[0]
        terminal = callee_terminal_name(call) or ""
        if terminal not in EPOCH_LENGTH or not (self.ctx.qualified_name(call.func) or "").startswith("torch.optim"):
            return
        position, keyword = EPOCH_LENGTH[terminal]
        length = argument(call, position, keyword)
        if length is None:
            return
        if not self._in_epochs(length, where, 0) and not self._within_epoch_count(length, loop):
            return
        ctx = self.ctx
        effects = {
            "StepLR": "the learning rate is cut by gamma every step_size batches instead of epochs, so it collapses within the first epochs",
            "MultiStepLR": "every milestone passes within the first epoch, so the learning rate is decayed almost at once",
            "CosineAnnealingLR": "the cosine runs its whole course within the first epoch(s) and then cycles up and down",
            "CosineAnnealingWarmRestarts": "the restarts come every few batches instead of every few epochs",
        }
        message = (
            f"`{ctx.brief(event.node, 60)}` runs every batch of `{_loop_header(ctx, timeline.root)}`, but "
            f"`{ctx.brief(call, 90)}` counts `{ctx.brief(length, 40)}` in epochs: {effects[terminal]}. Step it once "
            f"per epoch after the batch loop, or express the schedule in steps (multiply by the number of batches "
            f"per epoch)."
        )
        fix = fixes.step_scheduler_per_epoch(ctx, event.statement, timeline.root)
        concise = f"epoch-based {terminal} stepped every batch: the schedule runs far too fast; step it once per epoch"
        self.report(event.node, SCHEDULER_BEFORE_OPTIMIZER, message, short=concise, fix=fix)

    def _within_epoch_count(self, length: cst.BaseExpression, batch_loop: Statement) -> bool:
        """A literal length (`StepLR(opt, 30)`, `milestones=[30, 45]`) no larger than the number of epochs
        of the epoch loop around the batch loop (`for epoch in range(args.epochs)` with a default of 90,
        around it or around the call of the helper that holds it): an iteration schedule that short
        would be over within the first epoch, so the numbers count epochs."""
        elements = [e.value for e in length.elements] if isinstance(length, (cst.List, cst.Tuple)) else [length]
        numbers = [number_value(e) for e in elements]
        if not numbers or any(n is None or n <= 0 for n in numbers):
            return False
        epochs = self._epoch_count(batch_loop)
        if epochs is None and not batch_loop.scope.is_module:
            counts = {self._epoch_count(site.statement) for site in self.ctx.fact(DataFlow).callers(batch_loop.scope) if site.statement is not None}
            epochs = counts.pop() if len(counts) == 1 else None
        return epochs is not None and max(numbers) <= epochs

    def _epoch_count(self, statement: Statement) -> Optional[float]:
        """The literal number of epochs of the innermost `for ... in range(<epochs>)` around the
        statement: a literal (`range(90)`), or a bound named like an epoch count (a constant, an
        argparse default, a parameter whose every call gives the same number, its default
        included)."""
        loop = next((b for b in reversed(statement.blocks) if isinstance(b, cst.For) and b is not statement.node), None)
        if loop is None or not isinstance(loop.iter, cst.Call) or self.ctx.qualified_name(loop.iter.func) != "builtins.range":
            return None
        bound = loop.iter.args[-1].value if loop.iter.args else None
        if bound is not None and len(loop.iter.args) == 1 and number_value(bound) is not None:
            return number_value(bound)  # the loop around the batch loop runs the epochs
        name = dotted_name(bound) if bound is not None else None
        if name is None or not EPOCH_NAME.search(name.split(".")[-1]):
            return None
        if "." in name:  # args.epochs, opt.n_epochs: an argparse default
            value = self.ctx.fact(FixedValues).argparse_default(name.split(".")[-1])
            return number_value(value) if value is not None else None
        flow = self.ctx.fact(DataFlow)
        definition = flow.definition(name, statement)
        if definition.kind == "assign" and definition.value is not None:
            return number_value(definition.value)
        if definition.kind == "param" and definition.scope is not None and definition.param is not None:
            # def train(loader, epochs=90): what every call gives, else the default
            passed = flow.argument_values(definition.scope, name)
            values = {number_value(value) for value, _ in passed} if passed else {number_value(definition.param.default) if definition.param.default is not None else None}
            return values.pop() if len(values) == 1 else None
        return None

    def _in_epochs(self, expr: cst.BaseExpression, statement: Statement, depth: int) -> bool:
        """Whether a schedule length is provably a number of epochs: it is built from a variable named
        like the epoch count (args.epochs, num_epochs, cfg["epochs"]) and nothing that counts steps."""
        if depth > 4:
            return False
        if isinstance(expr, (cst.List, cst.Tuple)):
            return bool(expr.elements) and all(self._in_epochs(e.value, statement, depth + 1) for e in expr.elements)
        if isinstance(expr, cst.ListComp):
            return self._in_epochs(expr.elt, statement, depth + 1)
        names = list(_leaf_names(self.ctx, expr))
        if not names:
            return False
        if any(STEP_WORDS.search(name) for name, _ in names):
            return False  # steps_per_epoch, len(loader), total_iters
        if any(call for _, call in names):
            return False
        epochs = [name for name, _ in names if EPOCH_NAME.search(name)]
        if epochs:
            return True
        if isinstance(expr, cst.Name):
            definition = self.ctx.fact(DataFlow).definition(expr.value, statement)
            if definition.kind == "assign" and definition.value is not None and definition.statement is not None:
                return self._in_epochs(definition.value, definition.statement, depth + 1)
        return False


def _leaf_names(ctx, expr: cst.BaseExpression):
    """(last name part, is an unknown call) of the variables an arithmetic expression is built from;
    subscripts with a string key count as names (cfg["epochs"])."""
    pending: List[cst.CSTNode] = [expr]
    while pending:
        node = pending.pop()
        if isinstance(node, (cst.Name, cst.Attribute)):
            name = dotted_name(node)
            if name is not None:
                yield name.split(".")[-1], False
                continue
        if isinstance(node, cst.Subscript):
            key = None
            if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
                key = string_value(node.slice[0].slice.value)
            if key is not None:
                yield key, False
                continue
        if isinstance(node, cst.Call):
            qualified = ctx.qualified_name(node.func) or ""
            if qualified in ("builtins.int", "builtins.round", "math.ceil", "math.floor", "builtins.max", "builtins.min"):
                pending.extend(arg.value for arg in node.args)
                continue
            yield callee_terminal_name(node) or "call", True
            continue
        if isinstance(node, (cst.BinaryOperation, cst.UnaryOperation)):
            pending.extend(node.children)
            continue
        if isinstance(node, (cst.Integer, cst.Float)):
            continue
        pending.extend(child for child in node.children if isinstance(child, cst.BaseExpression))


# -- NNL604 -----------------------------------------------------------------------------------------


class LossAccumulatedWithGraphCheck(Check):
    rules = (LOSS_ACCUMULATED_WITH_GRAPH,)
    triggers = ("backward",)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        # (reported node, accumulator text, accumulator root name, added value, statement, form)
        self.candidates: List[Tuple[cst.CSTNode, str, cst.BaseExpression, Statement, str]] = []

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        statement = self.ctx.index.current_statement
        if statement is not None and isinstance(node.operator, (cst.AddAssign, cst.SubtractAssign)):
            self.candidates.append((node, self.ctx.code(node.target), node.value, statement, "augassign"))

    def visit_Assign(self, node: cst.Assign) -> None:
        # total = total + loss
        statement = self.ctx.index.current_statement
        if statement is None or len(node.targets) != 1 or not isinstance(node.value, cst.BinaryOperation):
            return
        target = self.ctx.code(node.targets[0].target)
        value = node.value
        if isinstance(value.operator, cst.Add) and self.ctx.code(value.left) == target:
            self.candidates.append((node, target, value.right, statement, "assign"))

    def visit_Call(self, node: cst.Call) -> None:
        statement = self.ctx.index.current_statement
        terminal = callee_terminal_name(node)
        receiver = method_receiver(node)
        if statement is None or receiver is None or not node.args or node.args[0].keyword is not None:
            return
        if terminal == "append" or (terminal == "update" and dotted_name(receiver) is not None):
            self.candidates.append((node, self.ctx.code(receiver), node.args[0].value, statement, terminal))

    def finish(self) -> None:
        if not self.candidates:
            return
        losses = self.ctx.fact(LossValues)
        modes = self.ctx.fact(ModelModes)
        timelines = self.ctx.fact(TrainingTimelines)
        for node, accumulator, value, statement, form in self.candidates:
            found = graph_loss(losses, value, statement)
            if found is None:
                continue
            leaf, leaf_statement = found
            if modes.grad_disabled(statement) or modes.grad_disabled(leaf_statement):
                continue
            if form == "update" and not self._accumulating_meter(node, statement):
                continue
            spanned = self._spanned_training_loop(accumulator, statement, timelines)
            if spanned is None:
                continue
            if self._backpropagated(node, accumulator, statement, spanned):
                continue
            self._report(node, accumulator, value, leaf, spanned, form)

    def _accumulating_meter(self, call: cst.Call, statement: Statement) -> bool:
        """`meter.update(loss, n)` on an instance of a class of this module whose update() adds its
        first argument to an attribute (an AverageMeter)."""
        receiver = method_receiver(call)
        info = self.ctx.fact(DataFlow).instance_class(receiver, statement) if receiver is not None else None
        update = info.methods.get("update") if info is not None else None
        if update is None or not isinstance(update.node, cst.FunctionDef):
            return False
        params = [p.name.value for p in update.node.params.params]
        if len(params) < 2:
            return False
        first = params[1]
        for inner in update.statements:
            node = inner.node
            if isinstance(node, cst.AugAssign) and (dotted_name(node.target) or "").startswith("self."):
                if any(n.value == first for n in _names(node.value)):
                    return True
        return False

    def _spanned_training_loop(self, accumulator: str, statement: Statement, timelines: TrainingTimelines) -> Optional[Timeline]:
        """The loop of training steps whose iterations the running total outlives: the innermost
        enclosing loop that steps an optimizer, inside the innermost loop that resets the total (or, with
        no optimizer step visible, the one that backpropagates). None when the total is reset every step."""
        root = re.split(r"[.\[]", accumulator)[0]
        loops = [block for block in reversed(statement.blocks) if isinstance(block, (cst.For, cst.While))]
        spanned: List[Timeline] = []
        for block in loops:
            loop = self.ctx.index.statement_of.get(block)
            if loop is None:
                return None
            timeline = timelines.loop(loop)
            if self._reset_in(accumulator, root, loop, statement):
                break
            spanned.append(timeline)
        if self._bounded(accumulator, root, statement):
            return None
        for timeline in spanned:
            if timeline.has(STEP) and timeline.has(BACKWARD):
                return timeline
        return None  # reset every optimizer step (micro-batch logging), or no training step visible

    def _reset_in(self, accumulator: str, root: str, loop: Statement, statement: Statement) -> bool:
        """The total is re-created on every pass through the loop's body (unconditionally)."""
        for inner in loop.scope.statements[loop.position + 1 :]:
            if loop.node not in inner.blocks:
                break
            inside = inner.blocks[inner.blocks.index(loop.node) + 1 :]
            if any(isinstance(b, (cst.If, cst.Try, cst.TryStar, cst.Match)) for b in inside):
                continue
            node = inner.node
            if isinstance(node, (cst.Assign, cst.AnnAssign)) and node.value is not None:
                if re.search(rf"(?<![\w.]){re.escape(accumulator)}(?![\w])", self.ctx.code(node.value)):
                    continue  # total = total + loss: an update, not a reset
                targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
                for target in targets:
                    text = self.ctx.code(target)
                    if text == accumulator or text == root or root in _target_names(target):
                        return True
            if isinstance(node, cst.Expr) and isinstance(node.value, cst.Call):
                call = node.value
                if callee_terminal_name(call) in ("clear", "zero_", "reset") and self.ctx.code(method_receiver(call) or call) == accumulator:
                    return True
        return False

    def _bounded(self, accumulator: str, root: str, statement: Statement) -> bool:
        """`deque(maxlen=...)`: it keeps a bounded window, not the whole run."""
        definition = self.ctx.fact(DataFlow).definition(accumulator, statement)
        value = definition.value
        return isinstance(value, cst.Call) and keyword_arg(value, "maxlen") is not None

    def _backpropagated(self, node, accumulator: str, statement: Statement, timeline: Timeline) -> bool:
        """The total is itself backpropagated (a micro-batch sum): `total.backward()`,
        `torch.stack(losses).mean().backward()`."""
        for event in timeline.of(BACKWARD):
            if event.target is not None and (event.target == accumulator or event.target.split(".")[0] == accumulator):
                return True
            if accumulator in self.ctx.code(event.node):
                return True
        flow = self.ctx.fact(DataFlow)
        sinks = UpdateSinks(self.ctx)
        if flow.find_sink(node, statement, LOSS_CARRY, sinks, also_tainted=(accumulator,)) is not None:
            return True
        # kept for a later backward: `loss = losses[i]`, `for loss in losses: loss.backward()`
        for later in statement.scope.statements[statement.position + 1 :]:
            node_later = later.node
            names: List[str] = []
            if isinstance(node_later, cst.Assign) and isinstance(node_later.value, cst.Subscript):
                if self.ctx.code(node_later.value.value) == accumulator:
                    names = [n for t in node_later.targets for n in _target_names(t.target)]
            elif isinstance(node_later, cst.For):
                iterable = node_later.iter
                while isinstance(iterable, cst.Call) and iterable.args and callee_terminal_name(iterable) in ("enumerate", "zip", "reversed"):
                    iterable = iterable.args[0].value
                if self.ctx.code(iterable) == accumulator:
                    names = _target_names(node_later.target)
            if names and flow.find_sink(later.node, later, LOSS_CARRY, sinks, also_tainted=names) is not None:
                return True
        return False

    def _report(self, node, accumulator: str, value, leaf, timeline: Timeline, form: str) -> None:
        ctx = self.ctx
        leaf_text = ctx.brief(_surface(ctx, value) or leaf, 30)
        if form == "append":
            what = f"`{ctx.brief(node, 60)}` keeps the loss tensor `{leaf_text}` in {accumulator} across iterations"
            fix = f"append `{leaf_text}.item()` (or `{leaf_text}.detach()`) instead"
        elif form == "update":
            what = f"`{ctx.brief(node, 60)}` adds the loss tensor `{leaf_text}` to the running totals of {accumulator} across iterations"
            fix = f"pass `{leaf_text}.item()` instead"
        else:
            what = f"`{ctx.brief(node, 60)}` adds the loss tensor `{leaf_text}` to the running total {accumulator} across iterations"
            fix = f"accumulate `{leaf_text}.item()` (or `{leaf_text}.detach()`) instead"
        message = (
            f"{what} of `{_loop_header(ctx, timeline.root)}` without .item() or .detach(): each iteration's autograd "
            f"graph stays referenced from {accumulator}, so memory grows every step until the total is dropped; "
            f"{fix}."
        )
        fix = fixes.detach_accumulated_loss(ctx, value, accumulator)
        concise = (
            f"loss tensor {leaf_text} kept in {brief_text(accumulator, 24)} with its graph: memory grows; use .item()"
        )
        self.report(
            node, LOSS_ACCUMULATED_WITH_GRAPH, message, LossAccumulatedInput(form, accumulator, ctx.code(value)),
            short=concise, fix=fix,
        )


def _surface(ctx, value: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    """The loss as the accumulating statement names it: `loss` in `loss * x.size(0)`."""
    while True:
        if isinstance(value, cst.BinaryOperation):
            value = value.left if not isinstance(value.left, (cst.Integer, cst.Float)) else value.right
        elif isinstance(value, cst.UnaryOperation):
            value = value.expression
        elif isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and callee_terminal_name(value) in (
            "mean", "sum", "cpu", "to", "cuda", "float", "double", "squeeze", "view", "reshape", "clone"
        ):
            value = value.func.value
        else:
            return value


def _names(node: cst.CSTNode):
    pending: List[cst.CSTNode] = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, cst.Name):
            yield current
        pending.extend(current.children)
