"""Model-mode family: rules about train() and eval().

NNL501 eval-mode-missing: evaluation code runs a model that is still in training mode.
NNL502 train-mode-not-restored: model.eval() inside the training loop and no model.train() before
the next optimizer step.

Both read the training-step timeline (`analysis.timeline`) through `analysis.model_modes`: the nearest
mode switch before a model call (looking through helpers and up through callers, around loops),
and what follows a model.eval() in the loop that holds it. Models whose definition the module shows
and that have neither dropout nor normalization layers are never flagged; where the code does not
tell (helpers of other modules given the model, models of unknown kind), the checks stay silent.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Set, Tuple

import libcst as cst

from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.index import ClassInfo, Scope, Statement
from nnlint.analysis.model_modes import ModeFound, ModelModes, called_model
from nnlint.analysis.names import argument, callee_terminal_name, dotted_name, method_receiver
from nnlint.analysis.objects import MODULE_BASE, related
from nnlint.analysis.timeline import BACKWARD, FORWARD, MODE, Event, Timeline, TrainingTimelines
from nnlint.check import Check, Elsewhere
from nnlint.families.mode import fixes
from nnlint.families.mode.contracts import EVAL_MODE_MISSING, TRAIN_MODE_NOT_RESTORED, ModelModeInput


# Functions whose name says they evaluate.
EVAL_FUNCTION = re.compile(
    r"(^|_)(val|valid|validate|validation|eval|evaluate|evaluation|test|testing|predict|prediction|inference|infer|"
    r"accuracy|metric|metrics)(_|$)"
)
# Hooks the frameworks call with the model already in evaluation mode.
FRAMEWORK_CLASS = re.compile(r"LightningModule$|LightningDataModule$|Trainer$|Callback$")


def _kinds(layers: Optional[Tuple[str, ...]]) -> Tuple[List[str], List[str], List[str]]:
    """(dropout, normalization, other) layer names; a library model ("BatchNorm/Dropout": which
    of the two it has is not visible) counts as other, so that no message names a kind it lacks."""
    layers = layers or ()
    dropout = [name for name in layers if "ropout" in name and "/" not in name]
    norm = [name for name in layers if "Norm" in name and "ropout" not in name]
    other = [name for name in layers if name not in dropout and name not in norm]
    return dropout, norm, other


def in_training_mode(layers: Optional[Tuple[str, ...]]) -> str:
    """What the model's layers do when it evaluates in training mode."""
    dropout, norm, other = _kinds(layers)
    parts = []
    if dropout:
        parts.append(f"{'/'.join(dropout)} keeps dropping activations at random")
    if norm:
        parts.append(f"{'/'.join(norm)} normalizes with each batch's own statistics and keeps updating its running averages")
    if other or not parts:
        parts.append("its dropout and normalization layers, whichever it has, behave as in training")
    return "; ".join(parts)


def in_evaluation_mode(layers: Optional[Tuple[str, ...]]) -> str:
    """What the model's layers do when it trains in evaluation mode."""
    dropout, norm, other = _kinds(layers)
    parts = []
    if dropout:
        parts.append(f"{'/'.join(dropout)} is switched off")
    if norm:
        parts.append(f"{'/'.join(norm)} uses its frozen running statistics and stops updating them")
    if other or not parts:
        parts.append("any dropout is off and any BatchNorm statistics are frozen")
    return "; ".join(parts)


def _where(scope: Scope) -> str:
    return "the module's top level" if scope.is_module else f"{scope.name}()"


def _framework_class(info: Optional[ClassInfo]) -> bool:
    """Lightning modules, Hugging Face Trainer subclasses, callbacks, and nn.Module classes
    themselves (whoever owns the model sets its mode). A class with a `forward` method is a module
    even when its base is imported from a framework (`class Encoder(FairseqEncoder)`)."""
    if info is None:
        return False
    if "forward" in info.methods:
        return True
    for base in info.bases:
        name = (dotted_name(base) or "").split(".")[-1]
        if FRAMEWORK_CLASS.search(name) or MODULE_BASE.search(name):
            return True
    return False


class EvalModeMissingCheck(Check):
    rules = (EVAL_MODE_MISSING,)
    # gradients off, or a function named like evaluation (see EVAL_FUNCTION)
    triggers = (
        "no_grad", "inference_mode", "set_grad_enabled", "def val", "def eval", "def test", "def predict", "def infer",
        "_val", "_eval", "_test", "_predict", "_infer", "accuracy", "metric",
    )

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.candidates: List[Tuple[cst.Call, Statement]] = []

    def visit_Call(self, node: cst.Call) -> None:
        statement = self.ctx.index.current_statement
        if statement is not None and dotted_name(node.func) is not None:
            self.candidates.append((node, statement))

    def finish(self) -> None:
        if not self.candidates:
            return
        modes = self.ctx.fact(ModelModes)
        timelines = self.ctx.fact(TrainingTimelines)
        reported: Set[Tuple[int, str]] = set()
        evaluation: Dict[int, Optional[str]] = {}
        if self.ctx.is_test_file:
            return  # unit tests run models for their shapes and values, not to evaluate them
        for node, statement in self.candidates:
            scope = statement.scope
            if id(scope) not in evaluation:
                evaluation[id(scope)] = self._evaluation_scope(scope, modes)
            why = evaluation[id(scope)]
            if why == "":
                continue
            if why is None and modes.grad_disabled(statement):
                why = "under torch.no_grad()"
            if why is None:
                continue
            timeline = timelines.module() if scope.is_module else timelines.function(scope)
            forward = next((e for e in timeline.find(node) if e.kind == FORWARD and not e.via), None)
            if forward is None or forward.target is None or forward.target == "self":
                continue
            if (id(scope), forward.target) in reported:
                continue
            if _discarded(node, statement) or self._training_code(timelines, forward, statement):
                continue
            finding = self._verdict(node, statement, modes)
            if finding is None:
                if self.ctx.project is not None and self._remote_verdict(node, statement, timeline, why):
                    reported.add((id(scope), forward.target))
                continue
            reported.add((id(scope), forward.target))
            found, layers = finding
            self._report(node, statement, forward, why, found, layers)

    def _remote_verdict(self, node: cst.Call, statement: Statement, timeline: Timeline, why: str) -> bool:
        """`evaluate(net, loader)` whose `net` is a parameter: what `net` is, and its mode, is known
        only from the functions's callers in other modules of the project. Reported when every such
        call passes a model with BatchNorm/Dropout that the caller never puts in evaluation mode,
        the function does not either, and no call of this module runs it."""
        scope = statement.scope
        project = self.ctx.project
        func = node.func
        if scope.is_module or scope.class_info is not None or not isinstance(func, cst.Name):
            return False
        if scope.parameter(func.value) is None or self.ctx.fact(DataFlow).definition(func.value, statement).kind != "param":
            return False
        if self.ctx.fact(ModelModes).callers(scope) or any(
            e.kind in (MODE, "call") and (e.target == func.value or func.value in (e.roots or ()))
            for e in timeline.events
        ):
            return False
        params = [p.name.value for p in scope.parameters()]
        position = params.index(func.value)
        callers = project.callers(project.path, scope.function_name)
        if not callers:
            return False
        models = []
        for caller_path, record in callers:
            value = record["kw"].get(func.value, record["args"][position] if position < len(record["args"]) else None)
            if value is None or "?" in value:
                return False
            model = project.evaluate(value, caller_path, {})
            layers = project.mode_layers(model)
            if not layers or project.may_switch_to_eval(caller_path, record["scope"], value, record["at"]):
                return False
            models.append((caller_path, record, model, layers))
        ctx = self.ctx
        caller_path, record, model, layers = models[0]
        call_place = f"{project.display(caller_path)}:{record['at'][0]}"
        built = f"{project.display(model.path)}:{model.line}" if model.at else call_place
        related = tuple(
            (Elsewhere(path, tuple(rec["at"])), f"calls {scope.function_name}() with a model in training mode")
            for path, rec, _, _ in models
        )
        if model.at:
            related += ((Elsewhere(model.path, tuple(model.at)), "builds the model"),)
        context = "" if why.startswith("in ") else f", {why},"
        message = (
            f"`{ctx.brief(node, 50)}` in {_where(scope)}{context} evaluates `{func.value}`, the model {call_place} passes "
            f"(built at {built}), which is never put in evaluation mode: {in_training_mode(layers)}, so "
            f"predictions and metrics are wrong and change from run to run. Call `{func.value}.eval()` at the start "
            f"of {scope.function_name}() (and `.train()` before training resumes)."
        )
        probe_input = ModelModeInput("NNL501", list(layers), func.value)
        concise = f"`{func.value}` (passed at {call_place}) evaluates in training mode: call {func.value}.eval() first"
        self.report(node, EVAL_MODE_MISSING, message, probe_input, short=concise, related=related)
        return True

    def _evaluation_scope(self, scope: Scope, modes: ModelModes) -> Optional[str]:
        """Why code in this function evaluates (its name, its decorator, how it is called); None when
        nothing says so, "" when it must not be judged (methods of models, Lightning modules, Trainer
        subclasses: whoever owns the model sets its mode)."""
        if scope.is_module:
            return None
        owner = self.ctx.index.enclosing_class(scope)
        if _framework_class(owner):
            return ""
        current: Optional[Scope] = scope
        while current is not None and not current.is_module:
            if EVAL_FUNCTION.search(current.function_name):
                return f"in {current.function_name}()"
            current = current.parent
        if modes.scope_grad_disabled(scope):
            return "under torch.no_grad()"
        callers = modes.callers(scope)
        for site in callers:
            if site.statement is not None and modes.grad_disabled(site.statement):
                return f"called under torch.no_grad() in {_where(site.scope)}"
            if not site.scope.is_module and EVAL_FUNCTION.search(site.scope.function_name):
                return f"called from {site.scope.function_name}()"
        return None

    def _training_code(self, timelines: TrainingTimelines, forward: Event, statement: Statement) -> bool:
        """The call is part of a training step (a teacher, a target network, an EMA model, samples
        for logging in the training loop): the innermost loop around it backpropagates, or, outside
        loops, its function does."""
        for block in reversed(statement.blocks):
            if isinstance(block, (cst.For, cst.While)):
                loop = self.ctx.index.statement_of.get(block)
                return loop is not None and timelines.loop(loop).has(BACKWARD)
        scope = statement.scope
        timeline = timelines.module() if scope.is_module else timelines.function(scope)
        return any(e.kind == BACKWARD and not e.in_nested_loop for e in timeline.events)

    def _verdict(self, node: cst.Call, statement: Statement, modes: ModelModes):
        model = called_model(node)
        if model is None:
            return None
        results = modes.mode_before(node, statement)
        layers = modes.layers(model, statement)
        if layers == ():
            return None
        for found in results:
            if found.state == "train" and found.trained_since:
                return found, layers
        for found in results:
            if found.state == "default" and layers:
                return found, layers
        return None

    def _report(self, node: cst.Call, statement: Statement, forward: Event, why: str, found: ModeFound, layers) -> None:
        ctx = self.ctx
        model = ctx.code(called_model(node))
        if found.state == "train" and found.event is not None:
            switch = found.event
            state = (
                f"{model} is still in training mode here (last set by `{ctx.brief(switch.node, 50)}` in "
                f"{_where(switch.statement.scope)}, and no eval() since)"
            )
        else:
            state = f"{model} is never put in evaluation mode (modules start in training mode)"
        where = _where(statement.scope)
        context = "" if why.startswith("in ") else f", {why},"
        message = (
            f"`{ctx.brief(node, 50)}` in {where}{context} evaluates {model}, but {state}: "
            f"{in_training_mode(layers)}, so predictions and metrics are wrong and change from run to run. "
            f"Call `{model}.eval()` before evaluating (and `{model}.train()` before training resumes)."
        )
        probe_input = ModelModeInput("NNL501", list(layers or ()), model)
        short_message = f"{ctx.brief(called_model(node), 30)} evaluates in training mode: call .eval() before evaluating"
        self.report(node, EVAL_MODE_MISSING, message, probe_input, short=short_message)


INSPECTING_ATTRIBUTES = frozenset({"size", "shape", "dtype", "device", "ndim", "dim", "requires_grad"})
INSPECTING_CALLS = frozenset({"print", "len", "type", "isinstance", "repr", "str", "id"})
# Output only looked at as images (GAN samples, reconstructions): not predictions or metrics.
VISUALIZING_CALLS = frozenset({
    "save_image", "make_grid", "imsave", "imshow", "imwrite", "add_image", "add_images", "add_figure", "show_images",
    "plot_images", "show",
})


def _discarded(node: cst.Call, statement: Statement) -> bool:
    """The output is not used to predict or measure anything: `model(x)` as a statement of its own
    (run for its side effects, such as refreshing BatchNorm statistics), or assigned to names that
    are only printed, inspected for their shape (`y = net(x); print(y.size())`) or saved as images
    (`save_image(netG(z), ...)`: GAN samples)."""
    target = statement.node
    if isinstance(target, cst.Expr) and target.value is node:
        return True
    if _only_shown(node, target):
        return True
    if not isinstance(target, cst.Assign) or target.value is not node:
        return False
    names = {n for t in target.targets for n in _target_names(t.target)}
    if not names or any("." in name for name in names):
        return False
    if names == {"_"}:
        return True
    for later in statement.scope.statements[statement.position + 1 :]:
        for part in _own_parts(later.node):
            if _used_beyond_inspection(part, names, isinstance(later.node, cst.Assert)):
                return False
    return True


def _only_shown(node: cst.Call, expr: cst.BaseExpression) -> bool:
    """`save_image(netG(z).detach(), path)`: the call sits only in the arguments of image-saving calls."""
    pending: List[Tuple[cst.CSTNode, bool]] = [(expr, False)]
    while pending:
        current, shown = pending.pop()
        if current is node:
            return shown
        if isinstance(current, cst.Call) and callee_terminal_name(current) in VISUALIZING_CALLS:
            pending.extend((arg, True) for arg in current.args)
            continue
        pending.extend((child, shown) for child in current.children)
    return False


def _own_parts(node: cst.CSTNode) -> List[cst.CSTNode]:
    """The parts of a statement that are its own (a compound statement's header, not its body)."""
    if isinstance(node, (cst.For,)):
        return [node.target, node.iter]
    if isinstance(node, (cst.If, cst.While)):
        return [node.test]
    if isinstance(node, cst.With):
        return [item for item in node.items]
    if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Try, cst.TryStar, cst.Match)):
        return []
    return [node]


def _used_beyond_inspection(node: cst.CSTNode, names: Set[str], in_assert: bool) -> bool:
    pending: List[Tuple[cst.CSTNode, bool]] = [(node, in_assert)]
    while pending:
        current, inspected = pending.pop()
        if isinstance(current, cst.Name):
            if current.value in names and not inspected:
                return True
            continue
        if isinstance(current, cst.Attribute):
            if current.attr.value in INSPECTING_ATTRIBUTES:
                pending.append((current.value, True))
            else:
                pending.append((current.value, inspected))
            continue
        if isinstance(current, cst.Call):
            quiet = inspected or (isinstance(current.func, cst.Name) and current.func.value in INSPECTING_CALLS) or (
                callee_terminal_name(current) in VISUALIZING_CALLS
            )
            pending.append((current.func, inspected))
            pending.extend((arg, quiet) for arg in current.args)
            continue
        pending.extend((child, inspected) for child in current.children)
    return False


class TrainModeNotRestoredCheck(Check):
    rules = (TRAIN_MODE_NOT_RESTORED,)
    triggers = ("eval()", "train(False", "train(mode=False")

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.candidates: List[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        terminal = callee_terminal_name(node)
        if terminal == "eval" and not node.args and isinstance(node.func, cst.Attribute):
            self.candidates.append(node)
        elif terminal == "train" and node.args and isinstance(node.func, cst.Attribute):
            mode = argument(node, 0, "mode")
            if isinstance(mode, cst.Name) and mode.value == "False":
                self.candidates.append(node)

    def finish(self) -> None:
        if not self.candidates:
            return
        modes = self.ctx.fact(ModelModes)
        timelines = self.ctx.fact(TrainingTimelines)
        for node in self.candidates:
            holding = [
                (timeline, event)
                for timeline, event in timelines.loops_holding(node, MODE)
                if event.detail.training is False and timeline.is_training_step
            ]
            for timeline, event in holding:
                if event.target is None or self._rebuilt_in_loop(timeline, event.target):
                    break
                after = modes.mode_after_eval(timeline, event)
                if after.state == "nothing":
                    continue
                if after.state == "trains":
                    self._judge(node, timeline, event, after, modes)
                break

    def _validates(self, evaluation: Event, after, modes: ModelModes) -> bool:
        """The eval() is there to evaluate: it sits in a function named like evaluation, or the model's
        next call runs with gradients off or in such a function."""
        def evaluating(event: Event) -> bool:
            scopes = [event.statement.scope] + [site.scope for site in event.via]
            return any(not s.is_module and EVAL_FUNCTION.search(s.function_name) for s in scopes)

        if evaluating(evaluation):
            return True
        first = after.first_forward
        return first is not None and first is not after.forward and (modes.event_grad_disabled(first) or evaluating(first))

    def _last_pass(self, timeline: Timeline, evaluation: Event) -> bool:
        """eval() only on the last pass: under `if epoch == epochs - 1:`, or followed by `break` /
        `return` in its block (early stopping, the final test)."""
        targets = set()
        if isinstance(timeline.root, cst.For):
            targets = set(_target_names(timeline.root.target))
        for guard in evaluation.conditions:
            test = guard.test
            if isinstance(test, cst.Comparison) and any(isinstance(c.operator, cst.Equal) for c in test.comparisons):
                names = {dotted_name(test.left)} | {dotted_name(c.comparator) for c in test.comparisons}
                if names & targets or any(isinstance(c.comparator, cst.BinaryOperation) for c in test.comparisons):
                    return True
        anchor = evaluation.anchor
        block = next((b for b in reversed(anchor.blocks) if isinstance(b, cst.If)), None)
        if block is None or timeline.root not in anchor.blocks or anchor.blocks.index(block) < anchor.blocks.index(timeline.root):
            return False
        for later in anchor.scope.statements[anchor.position + 1 :]:
            if block not in later.blocks:
                break
            if isinstance(later.node, (cst.Break, cst.Return)):
                return True
        return False

    def _rebuilt_in_loop(self, timeline: Timeline, key: str) -> bool:
        """A fresh model each iteration (cross-validation folds, restarts) starts in training mode."""
        root = key.split(".")[0]
        loop = timeline.root
        for statement in timeline.scope.statements:
            if loop not in statement.blocks:
                continue
            node = statement.node
            targets = []
            if isinstance(node, cst.Assign):
                targets = [t.target for t in node.targets]
            elif isinstance(node, cst.AnnAssign):
                targets = [node.target]
            for target in targets:
                for name in _target_names(target):
                    if name == root or related(name, key):
                        return True
        return False

    def _judge(self, node: cst.Call, timeline: Timeline, evaluation: Event, after, modes: ModelModes) -> None:
        receiver = method_receiver(node)
        if receiver is None or after.forward is None or evaluation.target is None:
            return
        trained = after.forward.target or ""
        if evaluation.target.startswith(trained + ".") and not evaluation.target.endswith(".module"):
            return  # `model.backbone.eval()`: BatchNorm of a part frozen on purpose
        if not self._validates(evaluation, after, modes):
            return  # eval() to train in evaluation mode on purpose, not to validate
        if self._last_pass(timeline, evaluation):
            return
        layers = modes.layers(receiver, evaluation.statement)
        if layers == ():
            return
        ctx = self.ctx
        model = ctx.code(receiver)
        step = after.event
        forward = after.forward
        loop_text = _loop_text(ctx, timeline)
        train_scope = forward.statement.scope if forward is not None else timeline.scope
        where_eval = _where(evaluation.statement.scope)
        message = (
            f"`{ctx.brief(node, 50)}` in {where_eval} switches {model} to evaluation mode inside {loop_text}, and "
            f"nothing switches it back before `{ctx.brief(step.node, 50)}` trains it again (no {model}.train() in "
            f"{_where(train_scope)} or anywhere in between): after the first evaluation, training runs in "
            f"evaluation mode ({in_evaluation_mode(layers)}). Call `{model}.train()` at the start of each "
            f"training phase."
        )
        probe_input = ModelModeInput("NNL502", list(layers or ()), model)
        short_message = f"{ctx.brief(receiver, 30)} stays in eval mode when training resumes: call .train() before training"
        self.report(node, TRAIN_MODE_NOT_RESTORED, message, probe_input, short=short_message, fix=fixes.train_after_evaluation(ctx, evaluation, receiver))


def _loop_text(ctx, timeline: Timeline) -> str:
    root = timeline.root
    if isinstance(root, cst.For):
        return f"the loop `for {ctx.code(root.target)} in {ctx.brief(root.iter, 40)}`"
    if isinstance(root, cst.While):
        return f"the loop `while {ctx.brief(root.test, 40)}`"
    return "the training loop"


def _target_names(target: cst.BaseExpression) -> List[str]:
    if isinstance(target, (cst.Tuple, cst.List)):
        names: List[str] = []
        for element in target.elements:
            names.extend(_target_names(element.value))
        return names
    name = dotted_name(target)
    return [name] if name else []
