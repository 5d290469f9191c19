"""Model layers family: mistakes in how nn.Module models are put together.

NNL503 functional-dropout-always-on: F.dropout in forward without training=self.training.
NNL504 unregistered-submodules: modules or parameters kept in a plain list/tuple/dict attribute.
NNL505 probabilities-into-logits-loss: softmax/sigmoid output into a loss that expects logits.
NNL506 view-as-permute: view/reshape that reorders a tensor's own dimensions.
NNL507 bias-before-batchnorm: Conv/Linear with bias directly followed by BatchNorm.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Set, Tuple

import libcst as cst

from nnlint.analysis.context import brief_text
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.index import Scope, Statement
from nnlint.analysis.names import (
    argument,
    callee_terminal_name,
    dotted_name,
    has_star_args,
    keyword_arg,
    number_value,
    positional_args,
)
from nnlint.analysis.remote import RemoteValues
from nnlint.analysis.values import FixedValues
from nnlint.check import Check, Elsewhere
from nnlint.families.layers import fixes
from nnlint.families.layers.contracts import (
    BIAS_BEFORE_BATCHNORM,
    FUNCTIONAL_DROPOUT,
    PROBABILITIES_INTO_LOGITS_LOSS,
    UNREGISTERED_SUBMODULES,
    VIEW_AS_PERMUTE,
    BiasBeforeBatchNormInput,
    FunctionalDropoutInput,
    ProbabilitiesIntoLogitsInput,
    UnregisteredSubmodulesInput,
    ViewAsPermuteInput,
)
from nnlint.families.layers.models import SEQUENTIAL, ModelFacts, ModuleClass
from nnlint.families.layers.probabilities import Probabilities, Squashed
from nnlint.families.layers.registration import PlainContainer, Registration
from nnlint.families.layers.shapes import ShapeNames


# --- NNL503 -----------------------------------------------------------------------------------

FUNCTIONAL = "torch.nn.functional."
DROPOUT_ON_BY_DEFAULT = frozenset(FUNCTIONAL + n for n in ("dropout", "dropout1d", "dropout2d", "dropout3d"))
DROPOUT_OFF_BY_DEFAULT = frozenset(FUNCTIONAL + n for n in ("alpha_dropout", "feature_alpha_dropout"))
# An `if` on one of these decides about training mode itself.
MODE_WORDS = re.compile(
    r"\btraining\b|\btrain\b|\bis_train\w*|\bdeterministic\b|\binference\b|\beval\w*|\bmc\b|\bmc_\w+|"
    r"\bmonte_carlo\b|\bstochastic\w*"
)


# A comment saying dropout is meant to stay on.
ON_PURPOSE = re.compile(
    r"always|on purpose|intentional|deliberate|by design|mc[ _-]?dropout|monte[ _-]?carlo|test[ _-]time|"
    r"at inference|during inference|in inference|eval mode too",
    re.IGNORECASE,
)


class FunctionalDropoutCheck(Check):
    rules = (FUNCTIONAL_DROPOUT,)
    triggers = ("dropout",)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.candidates: List[Tuple[cst.Call, Statement]] = []

    def visit_Call(self, node: cst.Call) -> None:
        statement = self.ctx.index.current_statement
        # `F.dropout(...)`, or any plain-name call: `from torch.nn.functional import dropout as drop`
        if statement is not None and ("dropout" in (callee_terminal_name(node) or "") or isinstance(node.func, cst.Name)):
            self.candidates.append((node, statement))

    def finish(self) -> None:
        models = self.ctx.fact(ModelFacts)
        for call, statement in self.candidates:
            qualified = self.ctx.qualified_name(call.func)
            if qualified not in DROPOUT_ON_BY_DEFAULT and qualified not in DROPOUT_OFF_BY_DEFAULT:
                continue
            if has_star_args(call) or argument(call, 2, "training") is not None:
                continue
            module = models.run_by_forward(statement.scope)
            if module is None or self._decides_mode_itself(statement) or self._says_on_purpose(call):
                continue
            self.report(
                call, FUNCTIONAL_DROPOUT, self._message(call, qualified, statement, module),
                self._probe_input(call, qualified, statement), short=self._concise(qualified), fix=fixes.pass_training_flag(self.ctx, call, statement),
            )

    def _says_on_purpose(self, call: cst.Call) -> bool:
        """A comment on the line says dropout stays on deliberately (Tacotron's prenet, MC dropout)."""
        line = self.ctx.position(call).start.line
        lines = self.ctx.source.splitlines()
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        comment = text.partition("#")[2]
        return bool(comment) and bool(ON_PURPOSE.search(comment))

    def _decides_mode_itself(self, statement: Statement) -> bool:
        """`if self.training: x = F.dropout(x, p)`, `F.dropout(x, p) if self.training else x`, or an
        earlier `if not self.training: return x` in the same function."""
        if MODE_WORDS.search(self.ctx.code(statement.node)):
            return True
        parameters = {p.name.value for p in statement.scope.parameters()} - {"self", "cls"}
        for block in statement.blocks:
            if isinstance(block, (cst.If, cst.While)):
                test = self.ctx.code(block.test)
                if MODE_WORDS.search(test):
                    return True
                # `if apply_dropout:` on an argument: the caller decides when dropout runs
                if any(re.search(rf"\b{re.escape(name)}\b", test) for name in parameters):
                    return True
        for earlier in statement.scope.statements[: statement.position]:
            if isinstance(earlier.node, cst.If) and MODE_WORDS.search(self.ctx.code(earlier.node.test)):
                return True
        return any(MODE_WORDS.fullmatch(name) for name in parameters)

    @staticmethod
    def _concise(qualified: str) -> str:
        name = qualified.rsplit(".", 1)[-1]
        if qualified in DROPOUT_OFF_BY_DEFAULT:
            return f"{name}() without training=: this dropout never runs; pass training=self.training"
        return f"{name}() without training=: stays on after model.eval(); pass training=self.training"

    def _message(self, call: cst.Call, qualified: str, statement: Statement, module: ModuleClass) -> str:
        name = qualified.rsplit(".", 1)[-1]
        code = self.ctx.brief(call, 60)
        scope = statement.scope
        if scope.class_info is not None:
            where = f"{scope.name}"
            fix = "Pass training=self.training"
        else:
            where = f"{scope.name}() (run by {module.name}.forward)"
            fix = f"Pass the module's self.training down to {scope.function_name}() and on as training="
        if qualified in DROPOUT_OFF_BY_DEFAULT:
            return (
                f"`{code}` in {where} leaves training at {name}'s default, False: this dropout never runs, not "
                f"even during training, so the regularization you configured is silently absent. {fix}."
            )
        layer = {"dropout": "nn.Dropout", "dropout1d": "nn.Dropout1d", "dropout2d": "nn.Dropout2d", "dropout3d": "nn.Dropout3d"}[name]
        return (
            f"`{code}` in {where} leaves training at its default, True: dropout stays on after model.eval(), so "
            f"validation and inference outputs are randomly corrupted and metrics are noisy and too low. "
            f"{fix} (or use an {layer} layer, which follows model.train()/eval())."
        )

    def _probe_input(self, call: cst.Call, qualified: str, statement: Statement) -> FunctionalDropoutInput:
        fixed = self.ctx.fact(FixedValues)
        first = argument(call, 0, "input")
        p = argument(call, 1, "p")
        return FunctionalDropoutInput(
            function=qualified,
            input=self.ctx.fragment(first) if first is not None else None,
            p=self.ctx.fragment(p) if p is not None else None,
            names=fixed.resolve_for_probe([p], statement) if p is not None else {},
        )


# --- NNL504 -----------------------------------------------------------------------------------

# torch.nn classes whose only state is the train/eval mode.
MODE_ONLY_LAYERS = frozenset(
    "torch.nn." + n for n in ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout")
)


class UnregisteredSubmodulesCheck(Check):
    rules = (UNREGISTERED_SUBMODULES,)
    # a class whose nn.Module ancestry the file shows names torch.nn, Lightning or transformers
    triggers = ("nn.", "torch.nn", "LightningModule", "PreTrainedModel")

    def finish(self) -> None:
        registration = self.ctx.fact(Registration)
        for module in self.ctx.fact(ModelFacts).module_classes():
            if not module.certain:
                continue  # a class with a forward and a base from elsewhere may not register at all
            for container in registration.plain_containers(module):
                fix = fixes.register_container(self.ctx, container.value, container.kind, container.parameters, container.attribute)
                self.report(
                    container.target, UNREGISTERED_SUBMODULES, self._message(module, container),
                    self._probe_input(container), short=self._concise(container), fix=fix,
                )

    # -- reporting -----------------------------------------------------------------------------------

    @staticmethod
    def _concise(container: PlainContainer) -> str:
        kind = container.kind
        if container.parameters:
            wrapper = "nn.ParameterDict" if kind == "dict" else "nn.ParameterList"
            what = "parameters"
        else:
            wrapper = "nn.ModuleDict" if kind == "dict" else "nn.ModuleList"
            what = "modules"
        return f"self.{brief_text(container.attribute, 24)} holds {what} in a plain {kind}: not registered; use {wrapper}"

    def _message(self, module: ModuleClass, container: PlainContainer) -> str:
        attribute, kind, stateful, parameters = container.attribute, container.kind, container.layers, container.parameters
        classes = []
        for call in stateful:
            name = self.ctx.code(call.func).split(".")[-1]
            if name not in classes:
                classes.append(name)
        what = ", ".join(classes[:3])
        if parameters:
            wrapper = "nn.ParameterDict" if kind == "dict" else "nn.ParameterList"
            return (
                f"self.{attribute} in {module.name} is a plain {kind} of nn.Parameter: nn.Module does not register "
                f"parameters held in a {kind}, so they are missing from model.parameters() and the optimizer never "
                f"updates them (nor does .to(device) move them or state_dict() save them). Use {wrapper}(...)."
            )
        wrapper = "nn.ModuleDict" if kind == "dict" else "nn.ModuleList"
        if all(self.ctx.qualified_name(call.func) in MODE_ONLY_LAYERS for call in stateful):
            return (
                f"self.{attribute} in {module.name} is a plain {kind} of modules ({what}): nn.Module does not register "
                f"modules held in a {kind}, so model.eval() never reaches them and they keep dropping activations at "
                f"evaluation and inference. Use {wrapper}(...)."
            )
        return (
            f"self.{attribute} in {module.name} is a plain {kind} of modules ({what}): nn.Module does not register "
            f"modules held in a {kind}, so their parameters are missing from model.parameters() (the optimizer never "
            f"trains them), and .to(device), state_dict() and .eval() skip them. Use {wrapper}(...)."
        )

    def _probe_input(self, container: PlainContainer) -> UnregisteredSubmodulesInput:
        attribute, kind, value, statement = container.attribute, container.kind, container.value, container.statement
        stateful, parameters = list(container.layers), container.parameters
        fixed = self.ctx.fact(FixedValues)
        count: Optional[cst.BaseExpression] = None
        if isinstance(value, (cst.ListComp, cst.GeneratorExp, cst.DictComp)) and value.for_in.inner_for_in is None:
            iterator = value.for_in.iter
            if isinstance(iterator, cst.Call) and callee_terminal_name(iterator) == "range" and len(iterator.args) == 1:
                count = iterator.args[0].value
        elements = stateful[:4]
        names = {}
        for element in elements:
            site = self.ctx.index.call_sites.get(element)
            names.update(fixed.resolve_for_probe([element], site.statement if site and site.statement else statement))
        if count is not None:
            names.update(fixed.resolve_for_probe([count], statement))
        return UnregisteredSubmodulesInput(
            attribute=attribute,
            container=kind,
            parameters=parameters,
            elements=[self.ctx.fragment(call) for call in elements],
            count=self.ctx.fragment(count) if count is not None else None,
            names=names,
        )


# --- NNL505 -----------------------------------------------------------------------------------

LOGITS_LOSSES = {
    "torch.nn.functional.cross_entropy": "softmax",
    "torch.nn.functional.binary_cross_entropy_with_logits": "sigmoid",
}
LOGITS_LOSS_CLASSES = {"torch.nn.CrossEntropyLoss": "softmax", "torch.nn.BCEWithLogitsLoss": "sigmoid"}


class ProbabilitiesIntoLogitsLossCheck(Check):
    rules = (PROBABILITIES_INTO_LOGITS_LOSS,)
    triggers = ("cross_entropy", "CrossEntropyLoss", "BCEWithLogitsLoss")

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.candidates: List[Tuple[cst.Call, Statement]] = []

    def visit_Call(self, node: cst.Call) -> None:
        statement = self.ctx.index.current_statement
        if statement is not None and node.args:
            self.candidates.append((node, statement))

    def finish(self) -> None:
        text = self.ctx.source
        loss_classes = "CrossEntropyLoss" in text or "BCEWithLogitsLoss" in text
        probabilities = self.ctx.fact(Probabilities)
        for call, statement in self.candidates:
            self.ctx.deadline.check()
            found = self._loss(call, statement, loss_classes)
            if found is None:
                continue
            expected, loss_text = found
            logits = argument(call, 0, "input")
            if logits is None:
                continue
            squashed = probabilities.squashed(logits, statement)
            if squashed is None or squashed.kind != expected:
                continue
            concise = (
                f"{self.ctx.brief(logits, 24)} is {squashed.kind} output but the loss expects logits: pass the raw logits"
            )
            remote = self.ctx.fact(RemoteValues)
            applied = remote.place(squashed.node)
            if applied is not None:
                # the model's class is another file's: its forward squashes, no fix here
                self.report(
                    call, PROBABILITIES_INTO_LOGITS_LOSS, self._message(call, logits, squashed, loss_text, applied),
                    self._probe_input(squashed, remote.home(squashed.node)), short=concise,
                    related=((Elsewhere(*applied), f"{squashed.via or 'the model'} ends in {squashed.kind}"),),
                )
                continue
            self.report(
                call, PROBABILITIES_INTO_LOGITS_LOSS, self._message(call, logits, squashed, loss_text),
                self._probe_input(squashed), short=concise, fix=fixes.drop_squashing(self.ctx, squashed, call, statement),
            )

    def _loss(self, call: cst.Call, statement: Statement, loss_classes: bool) -> Optional[Tuple[str, str]]:
        qualified = self.ctx.qualified_name(call.func)
        if qualified is None and isinstance(call.func, cst.Name):
            # loss_fn = F.cross_entropy
            definition = self.ctx.fact(DataFlow).definition(call.func.value, statement)
            if definition.kind == "assign" and isinstance(definition.value, (cst.Name, cst.Attribute)):
                aliased = self.ctx.qualified_name(definition.value)
                if aliased in LOGITS_LOSSES:
                    return LOGITS_LOSSES[aliased], f"{call.func.value} ({aliased.replace('torch.nn.functional.', 'F.')})"
        if qualified in LOGITS_LOSSES:
            return LOGITS_LOSSES[qualified], qualified.replace("torch.nn.functional.", "F.")
        if qualified is not None or not loss_classes:
            return None
        if isinstance(call.func, cst.Call):
            built = self.ctx.qualified_name(call.func.func)
            if built in LOGITS_LOSS_CLASSES:
                return LOGITS_LOSS_CLASSES[built], built.replace("torch.nn.", "nn.")
            return None
        if dotted_name(call.func) is None:
            return None
        models = self.ctx.fact(ModelFacts)
        built_class = models.single_class(models.constructors(call.func, statement))
        if built_class in LOGITS_LOSS_CLASSES:
            return LOGITS_LOSS_CLASSES[built_class], f"{self.ctx.code(call.func)} ({built_class.replace('torch.nn.', 'nn.')})"
        return None

    def _message(self, call: cst.Call, logits: cst.BaseExpression, squashed: Squashed, loss_text: str, elsewhere=None) -> str:
        value = self.ctx.brief(logits, 40)
        applied = self.ctx.brief(squashed.node, 50)
        if squashed.via and elsewhere is not None and self.ctx.project is not None:
            where = f"{self.ctx.project.display(elsewhere[0])}:{elsewhere[1][0]}"
            origin = f" ({squashed.via} ends in `{applied}`, {where})"
        elif squashed.via:
            origin = f" ({squashed.via} ends in `{applied}`)"
        elif squashed.node is logits:
            origin = ""
        else:
            origin = f" (it comes from `{applied}`)"
        if squashed.kind == "softmax":
            return (
                f"`{value}` is softmax probabilities{origin} and goes into {loss_text}, which applies log_softmax "
                f"itself: the loss sees values squashed into [0, 1], its gradients shrink and it can never approach 0 "
                f"(at least log(1 + (C-1)/e) for C classes), so training stalls. Pass the raw logits and apply softmax "
                f"only for predictions."
            )
        return (
            f"`{value}` is sigmoid probabilities{origin} and goes into {loss_text}, which applies sigmoid itself: "
            f"sigmoid is applied twice, the loss can never approach 0 (at least 0.31 for positives, 0.69 for negatives) "
            f"and gradients shrink. Pass the raw logits (or use nn.BCELoss on the probabilities)."
        )

    def _probe_input(self, squashed: Squashed, home=None) -> ProbabilitiesIntoLogitsInput:
        """`home`: the module of another file that holds the squashing code."""
        ctx = home or self.ctx
        fixed = ctx.fact(FixedValues)
        operand = squashed.operand
        return ProbabilitiesIntoLogitsInput(
            kind=squashed.kind,
            fragment=ctx.fragment(squashed.node),
            operand=ctx.fragment(operand) if operand is not None else None,
            names=fixed.resolve_for_probe([squashed.node], squashed.statement),
        )


# --- NNL506 -----------------------------------------------------------------------------------


class ViewAsPermuteCheck(Check):
    rules = (VIEW_AS_PERMUTE,)
    # the sizes it compares are read with x.shape or x.size(...)
    triggers = (".shape", ".size(")

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.candidates: List[Tuple[cst.Call, Statement]] = []

    def visit_Call(self, node: cst.Call) -> None:
        statement = self.ctx.index.current_statement
        if statement is not None and callee_terminal_name(node) in ("view", "reshape") and len(node.args) >= 1:
            self.candidates.append((node, statement))

    def finish(self) -> None:
        shapes = self.ctx.fact(ShapeNames)
        flow = self.ctx.fact(DataFlow)
        for call, statement in self.candidates:
            found = self._receiver_and_shape(call)
            if found is None:
                continue
            receiver, shape = found
            tensor = dotted_name(receiver)
            if tensor is None or len(shape) < 2:
                continue
            origin = flow.definition(tensor, statement)
            order = self._order(shape, tensor, origin, statement, shapes)
            if order is None:
                continue
            groups, ndim, assumed = order
            self.report(call, VIEW_AS_PERMUTE, self._message(call, tensor, shape, groups, ndim), ViewAsPermuteInput(
                tensor=tensor,
                method=callee_terminal_name(call) or "view",
                groups=[sorted(g) if g is not None else None for g in groups],
                ndim=ndim,
                assumed_ndim=assumed,
                fragment=self.ctx.code(call),
            ), short=self._concise(call, tensor, groups, ndim))

    def _receiver_and_shape(self, call: cst.Call):
        if has_star_args(call) or any(arg.keyword is not None for arg in call.args):
            return None
        qualified = self.ctx.qualified_name(call.func)
        if qualified == "torch.reshape":
            args = positional_args(call)
            if len(args) != 2 or not isinstance(args[1], (cst.Tuple, cst.List)):
                return None
            return args[0], [e.value for e in args[1].elements]
        if qualified is not None or not isinstance(call.func, cst.Attribute):
            return None
        args = positional_args(call)
        if len(args) == 1 and isinstance(args[0], (cst.Tuple, cst.List)):
            if any(isinstance(e, cst.StarredElement) for e in args[0].elements):
                return None
            args = [e.value for e in args[0].elements]
        return call.func.value, args

    def _order(self, shape, tensor, origin, statement, shapes: ShapeNames):
        """(groups, ndim, assumed) when two of the tensor's own dimensions provably come out of the
        view in another order; None otherwise. `groups[k]` is the set of the tensor's dimensions
        the k-th size stands for (empty for a literal 1, None when unknown)."""
        references = []
        ndims = set()
        for arg in shape:
            ref = shapes.dimension(arg, statement)
            if ref is not None and ref.tensor == tensor and ref.origin == origin:
                references.append(ref)
                if ref.ndim is not None:
                    ndims.add(ref.ndim)
            else:
                references.append(frozenset() if number_value(arg) == 1 else None)
        if len(ndims) > 1:
            return None
        ndim = next(iter(ndims)) if ndims else None
        groups: List[Optional[frozenset]] = []
        for ref in references:
            if ref is None or isinstance(ref, frozenset):
                groups.append(ref)
                continue
            normalized = ref.normalized(ndim)
            groups.append(normalized if normalized is not None else ref.indices)
        known = [g for g in groups if g]
        every = [i for g in known for i in g]
        if len(known) < 2 or len(every) != len(set(every)):
            return None  # fewer than two dimensions, or one used twice: nothing we can read
        if ndim is not None and any(i >= ndim for i in every):
            return None
        unknown = [p for p, g in enumerate(groups) if g is None]
        if ndim is not None:
            missing = frozenset(range(ndim)) - frozenset(every)
            if missing and not unknown:
                return None  # the dimensions left out must all be 1: cannot tell
            groups = [missing if g is None else g for g in groups]
            return (groups, ndim, False) if _reordered(groups) else None
        if min(every) >= 0 or max(every) < 0:
            # counted from one end only: the order does not depend on the rank
            if not _reordered(groups):
                return None
            return self._assume_rank(groups, every, unknown, len(shape))
        # counted from both ends (`n, c = x.shape[:2]`, `*_, h, w = x.shape`): reordered for
        # every rank the indices allow without naming one dimension twice
        lowest = max([i + 1 for i in every if i >= 0] + [-i for i in every if i < 0])
        ranks = [n for n in range(lowest, lowest + 12) if len({i % n for i in every}) == len(every)]
        if not ranks:
            return None
        for rank in ranks:
            if not _reordered([frozenset(i % rank for i in g) if g else g for g in groups]):
                return None
        rank = ranks[0]
        groups = [frozenset(i % rank for i in g) if g else g for g in groups]
        missing = frozenset(range(rank)) - frozenset(i for g in groups if g for i in g)
        if missing and len(unknown) == 1:
            groups = [missing if g is None else g for g in groups]
            return groups, rank, True
        return groups, (rank if not missing and not unknown else None), True

    @staticmethod
    def _assume_rank(groups, every, unknown, arguments):
        """The usual reading when the code does not show the rank: the sizes cover every
        dimension (for the probe, which says it assumed so)."""
        width = len(every)
        if min(every) < 0 and not unknown and set(every) == set(range(-width, 0)):
            return [frozenset(i % width for i in g) if g else g for g in groups], width, True
        if min(every) >= 0 and not unknown and set(every) == set(range(width)):
            return groups, width, True
        if min(every) >= 0 and len(unknown) == 1 and max(every) < arguments:
            missing = frozenset(range(arguments)) - frozenset(every)
            if len(missing) == 1:
                return [missing if g is None else g for g in groups], arguments, True
        return groups, None, False

    def _concise(self, call: cst.Call, tensor: str, groups, ndim) -> str:
        order = self._permute_order(groups, ndim)
        fix = f"{brief_text(tensor, 20)}.permute({', '.join(str(i) for i in order)})" if order is not None else "permute()"
        return f"{callee_terminal_name(call)}() reorders {brief_text(tensor, 20)}'s dimensions and scrambles the data: use {fix}"

    def _message(self, call: cst.Call, tensor: str, shape, groups, ndim) -> str:
        method = callee_terminal_name(call)
        order = self._permute_order(groups, ndim)
        if order is None:
            fix = f"{tensor}.permute(...) or .transpose(...) first"
        elif all(g is not None and len(g) == 1 for g in groups) and len(groups) == len(order):
            fix = f"{tensor}.permute({', '.join(str(i) for i in order)})"
        else:
            fix = f"{tensor}.permute({', '.join(str(i) for i in order)}).reshape(...)"
        return (
            f"`{self.ctx.brief(call, 60)}` lists {tensor}'s own dimensions in another order: {method}() only "
            f"reinterprets the memory, so values are scrambled across positions instead of moved to the new axes, "
            f"and the model trains on garbage without any error. Reorder the axes with {fix} "
            f"(.contiguous() before a view)."
        )

    @staticmethod
    def _permute_order(groups, ndim) -> Optional[List[int]]:
        if ndim is None:
            order = []
            for g in groups:
                if g is None:
                    return None
                order.extend(sorted(g))
            return order if sorted(order) == list(range(len(order))) else None
        order = []
        seen = set()
        for g in groups:
            if g is None:
                return None
            for i in sorted(g):
                if i not in seen:
                    seen.add(i)
                    order.append(i)
        return order if sorted(order) == list(range(ndim)) else None


# --- NNL507 -----------------------------------------------------------------------------------

# layer class -> (spatial dims, position of out_channels/out_features, position of bias)
BIASED_LAYERS: Dict[str, Tuple[int, int, int]] = {}
for _dims in (1, 2, 3):
    BIASED_LAYERS[f"torch.nn.Conv{_dims}d"] = (_dims, 1, 7)
    BIASED_LAYERS[f"torch.nn.ConvTranspose{_dims}d"] = (_dims, 1, 7)
    BIASED_LAYERS[f"torch.nn.LazyConv{_dims}d"] = (_dims, 0, 6)
    BIASED_LAYERS[f"torch.nn.LazyConvTranspose{_dims}d"] = (_dims, 0, 6)
BIASED_LAYERS["torch.nn.Linear"] = (1, 1, 2)
BIASED_LAYERS["torch.nn.LazyLinear"] = (1, 0, 1)
BATCH_NORMS: Dict[str, Optional[int]] = {
    "torch.nn.BatchNorm1d": 1, "torch.nn.BatchNorm2d": 2, "torch.nn.BatchNorm3d": 3,
    "torch.nn.LazyBatchNorm1d": 1, "torch.nn.LazyBatchNorm2d": 2, "torch.nn.LazyBatchNorm3d": 3,
    "torch.nn.SyncBatchNorm": None,
}


class BiasBeforeBatchNormCheck(Check):
    rules = (BIAS_BEFORE_BATCHNORM,)
    triggers = ("BatchNorm",)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.sequentials: List[Tuple[cst.Call, Statement]] = []
        self.added: List[Statement] = []

    def visit_Call(self, node: cst.Call) -> None:
        statement = self.ctx.index.current_statement
        if statement is not None and callee_terminal_name(node) in ("Sequential", "__init__") and node.args:
            self.sequentials.append((node, statement))

    def finish(self) -> None:
        models = self.ctx.fact(ModelFacts)
        self.reported: Set[int] = set()
        for call, statement in self.sequentials:
            if not models.is_sequential_call(call, statement):
                continue
            for segment in models.sequential_segments(call, statement):
                for first, second in zip(segment, segment[1:]):
                    self._pair(first, second, statement, statement, "in the same nn.Sequential")
        for module in models.module_classes():
            for scope in models.forward_scopes(module):
                if self.ctx.index.enclosing_class(scope) is module.info:
                    self._forward_pairs(scope)
        if self.added:
            self._added_pairs(models)

    def visit_Expr(self, node: cst.Expr) -> None:
        # `seq.add_module("conv", nn.Conv2d(...))`, `seq.append(...)`: candidates for _added_pairs
        if isinstance(node.value, cst.Call) and callee_terminal_name(node.value) in ("add_module", "append"):
            statement = self.ctx.index.current_statement
            if statement is not None:
                self.added.append(statement)

    def _added_pairs(self, models: ModelFacts) -> None:
        """Consecutive `seq.add_module(name, layer)` / `seq.append(layer)` on an nn.Sequential."""
        previous: Optional[Tuple[str, cst.BaseExpression, Statement]] = None
        for statement in self.added:
            call = statement.node.value
            method = callee_terminal_name(call)
            layer = argument(call, 1, "module") if method == "add_module" else argument(call, 0, None)
            receiver = dotted_name(call.func.value) if isinstance(call.func, cst.Attribute) else None
            if layer is None or receiver is None:
                previous = None
                continue
            if previous is not None and previous[0] == receiver and _consecutive_statements(previous[2], statement):
                built = models.constructors(call.func.value, statement)
                if built and all(self.ctx.qualified_name(b.func) in SEQUENTIAL for b in built):
                    self._pair(previous[1], layer, previous[2], statement, f"in the nn.Sequential {receiver}")
            previous = (receiver, layer, statement)

    def _forward_pairs(self, scope: Scope) -> None:
        """`self.bn(self.conv(x))` and `y = self.conv(x)` directly followed by `self.bn(y)`."""
        statements = scope.statements
        for site in scope.calls:
            call = site.node
            if site.statement is None or not _is_self_call(call):
                continue
            first = argument(call, 0, None)
            if isinstance(first, cst.Call) and _is_self_call(first):
                self._pair(first.func, call.func, site.statement, site.statement, f"in {scope.name}")
        for index, statement in enumerate(statements[:-1]):
            node = statement.node
            if not (isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name)):
                continue
            if not (isinstance(node.value, cst.Call) and _is_self_call(node.value)):
                continue
            name = node.targets[0].target.value
            following = statements[index + 1]
            after = following.node
            # `x = self.bn(x)`: the layer's output goes into the norm and nowhere else
            if following.blocks != statement.blocks or not isinstance(after, cst.Assign) or len(after.targets) != 1:
                continue
            if dotted_name(after.targets[0].target) != name or _count_name(after.value, name) != 1:
                continue
            for site in following.calls:
                call = site.node
                arg = argument(call, 0, None)
                if _is_self_call(call) and len(call.args) == 1 and isinstance(arg, cst.Name) and arg.value == name:
                    self._pair(node.value.func, call.func, statement, following, f"in {scope.name}")

    def _pair(self, first, second, first_statement: Statement, second_statement: Statement, where: str) -> None:
        models = self.ctx.fact(ModelFacts)
        layer = self._single(first, first_statement, models)
        norm = self._single(second, second_statement, models)
        if layer is None or norm is None or id(layer) in self.reported:
            return
        layer_class = self.ctx.qualified_name(layer.func)
        norm_class = self.ctx.qualified_name(norm.func)
        if layer_class not in BIASED_LAYERS or norm_class not in BATCH_NORMS:
            return
        dims, out_position, bias_position = BIASED_LAYERS[layer_class]
        if BATCH_NORMS[norm_class] is not None and BATCH_NORMS[norm_class] != dims:
            return
        if self._bias(layer, bias_position) is not True:
            return
        out_keyword = "out_features" if "Linear" in layer_class else "out_channels"
        out = argument(layer, out_position, out_keyword)
        features = argument(norm, 0, "num_features")
        if out is not None and features is not None:
            a, b = number_value(out), number_value(features)
            if a is not None and b is not None and a != b:
                return
        if "Linear" in layer_class:
            # a Linear acts on the last axis and BatchNorm1d on axis 1: the same features only when
            # the sizes say so (on (N, L, C) input they differ)
            if out is None or features is None:
                return
            a, b = number_value(out), number_value(features)
            if not (a is not None and a == b) and self.ctx.code(out) != self.ctx.code(features):
                return
        self.reported.add(id(layer))
        fixed = self.ctx.fact(FixedValues)
        names = {}
        for node, fallback in ((norm, second_statement), (layer, first_statement)):
            site = self.ctx.index.call_sites.get(node)
            names.update(fixed.resolve_for_probe([node], site.statement if site and site.statement else fallback))
        self.report(layer, BIAS_BEFORE_BATCHNORM, self._message(layer, norm, layer_class, where), BiasBeforeBatchNormInput(
            layer=self.ctx.fragment(layer),
            norm=self.ctx.fragment(norm),
            names=names,
        ), short=f"bias of {layer_class.rsplit('.', 1)[-1]} is cancelled by the BatchNorm after it: pass bias=False", fix=fixes.drop_bias(self.ctx, layer, bias_position))

    def _single(self, expr, statement: Statement, models: ModelFacts) -> Optional[cst.Call]:
        if isinstance(expr, cst.Call):
            qualified = self.ctx.qualified_name(expr.func)
            if qualified in BIASED_LAYERS or qualified in BATCH_NORMS:
                return expr
            return self._helper_result(expr, statement)
        built = models.constructors(expr, statement)
        if not built or len(built) != 1:
            return None
        found = built[0]
        if self.ctx.qualified_name(found.func) in BIASED_LAYERS or self.ctx.qualified_name(found.func) in BATCH_NORMS:
            return found
        return None

    def _helper_result(self, call: cst.Call, statement: Statement) -> Optional[cst.Call]:
        """`conv3x3(a, b)` where the module-level helper returns one layer construction."""
        returned = self.ctx.fact(ModelFacts).helper_constructions(call)
        if returned is None or len(returned) != 1:
            return None
        if self.ctx.qualified_name(returned[0].func) in BIASED_LAYERS:
            return returned[0]
        return None

    @staticmethod
    def _bias(layer: cst.Call, position: int) -> Optional[bool]:
        value = keyword_arg(layer, "bias")
        if value is None:
            if has_star_args(layer):
                return None
            positional = positional_args(layer)
            if len(positional) > position:
                value = positional[position]
        if value is None:
            return True
        if isinstance(value, cst.Name) and value.value in ("True", "False", "None"):
            return value.value == "True"
        number = number_value(value)
        if number is not None:
            return bool(number)
        return None

    def _message(self, layer: cst.Call, norm: cst.Call, layer_class: str, where: str) -> str:
        name = layer_class.rsplit(".", 1)[-1]
        default = "" if keyword_arg(layer, "bias") is not None else " (bias=True is the default)"
        return (
            f"`{self.ctx.brief(layer, 60)}` has a bias{default} but is followed directly by "
            f"`{self.ctx.brief(norm, 60)}` {where}: BatchNorm subtracts the per-channel batch mean, which cancels the "
            f"bias exactly, so those parameters get zero gradient and are wasted. Pass bias=False to {name}."
        )


def _reordered(groups) -> bool:
    """Whether some dimension comes out before a dimension that precedes it in memory."""
    for first in range(len(groups)):
        for second in range(first + 1, len(groups)):
            a, b = groups[first], groups[second]
            if a and b and a is not b and max(a) > min(b):
                return True
    return False


def _consecutive_statements(first: Statement, second: Statement) -> bool:
    return (
        first.scope is second.scope
        and second.position == first.position + 1
        and len(first.blocks) == len(second.blocks)
        and all(a is b for a, b in zip(first.blocks, second.blocks))
    )


def _count_name(expr: cst.CSTNode, name: str) -> int:
    """How often the bare name occurs in one expression."""
    count = 0
    pending = [expr]
    while pending:
        node = pending.pop()
        if isinstance(node, cst.Name):
            count += node.value == name
        elif isinstance(node, cst.Attribute):
            pending.append(node.value)  # `x.attr`: not the attribute's name
        else:
            pending.extend(node.children)
    return count


def _is_self_call(call: cst.Call) -> bool:
    func = call.func
    return isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self"
