"""Pretrained weights and input preprocessing family.

NNL301 pretrained-without-normalize: a pretrained image model gets inputs from a pipeline that never
normalizes them.
NNL302 normalize-stats-mismatch: the Normalize statistics differ from those the weights were trained with.
NNL303 bgr-into-rgb-model: an OpenCV (BGR) image reaches a pretrained RGB model unconverted.
NNL304 unchecked-partial-load: `load_state_dict(..., strict=False)` whose missing/unexpected keys nobody looks at.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Set, Tuple

import libcst as cst

from nnlint.analysis.context import brief_text
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.index import Statement
from nnlint.analysis.names import (
    argument,
    callee_terminal_name,
    dotted_name,
    keyword_arg,
    method_receiver,
    positional_args,
    string_value_of_index,
)
from nnlint.analysis.objects import MODEL, TrainingObjects
from nnlint.analysis.remote import RemoteValues
from nnlint.analysis.targets import is_target_like_name, kind_by_name
from nnlint.analysis.transforms import Pipeline, TransformPipelines, library_of, pipeline_probe_input as _shared_pipeline_input
from nnlint.analysis.values import FixedValues
from nnlint.check import Check, Elsewhere
from nnlint.families.pretrained import fixes
from nnlint.families.pretrained.contracts import (
    BGR_INTO_RGB_MODEL,
    NORMALIZE_STATS_MISMATCH,
    PRETRAINED_WITHOUT_NORMALIZE,
    UNCHECKED_PARTIAL_LOAD,
    BgrIntoRgbInput,
    ExpectedStatistics,
    InputStatisticsInput,
    UncheckedPartialLoadInput,
)
from nnlint.families.pretrained.preprocessing import (
    ImageReads,
    InputPipelines,
    NormalizationEvidence,
    NormalizeCall,
    pipeline_name,
)
from nnlint.families.pretrained.pretrained_models import PretrainedModel, PretrainedModels
from nnlint.families.pretrained.statistics import LIBRARY_CONSTANTS, STATISTICS, Statistics
from nnlint.families.pretrained.wiring import ProjectInputs, converts_to_tensor, op_terminals


MEAN_TOLERANCE = 0.011
STD_TOLERANCE = 0.011
STD_RELATIVE = 0.06


def pipeline_probe_input(ctx, pipelines):
    """The shared pipeline description (``analysis.transforms``), with library constants that hold statistics
    (`timm.data.IMAGENET_DEFAULT_MEAN`) replaced by their values, so a probe needs no such library."""
    info = _shared_pipeline_input(ctx, pipelines)
    if info is not None:
        _inline_constants(info.names)
    return info


def _inline_constants(names: Dict[str, Dict[str, str]]) -> Dict[str, Dict[str, str]]:
    for key, entry in list(names.items()):
        if entry.get("kind") == "import" and entry.get("qualified") in LIBRARY_CONSTANTS:
            names[key] = {"kind": "value", "source": repr(tuple(LIBRARY_CONSTANTS[entry["qualified"]])), "origin": "library constant"}
    return names


def _triple(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


def _expected(model: PretrainedModel) -> ExpectedStatistics:
    stats = model.statistics
    return ExpectedStatistics(
        source=model.source,
        name=model.name,
        weights=model.weights,
        family=stats.family if stats else None,
        mean=list(stats.mean) if stats else None,
        std=list(stats.std) if stats else None,
    )


def _stats_text(stats: Optional[Statistics]) -> str:
    if stats is None:
        return "the mean/std of its pretraining data"
    return f"{stats.description} statistics (mean {_triple(stats.mean)}, std {_triple(stats.std)})"


def _fix_text(model: PretrainedModel) -> str:
    stats = model.statistics
    if model.source == "torchvision" and model.weights:
        return f"add Normalize({'mean=' + _triple(stats.mean) + ', std=' + _triple(stats.std) if stats else 'mean, std'}) after ToTensor(), or use {model.weights}.transforms()"
    if model.source == "timm":
        return "add Normalize(mean, std) with the values of timm.data.resolve_data_config({}, model=model), or build the pipeline with timm.data.create_transform(**config)"
    if model.source == "transformers":
        return "normalize with the checkpoint's image processor (AutoImageProcessor.from_pretrained(...).image_mean / image_std)"
    if model.source in ("clip", "open_clip"):
        return "use the `preprocess` transform the loader returns"
    if stats is not None:
        return f"add Normalize(mean={_triple(stats.mean)}, std={_triple(stats.std)}) after the tensor conversion"
    return "add the Normalize(mean, std) the weights were trained with after the tensor conversion"


class PretrainedInputsCheck(Check):
    rules = (PRETRAINED_WITHOUT_NORMALIZE, NORMALIZE_STATS_MISMATCH, BGR_INTO_RGB_MODEL)
    # every recognised pretrained construction contains one of these
    triggers = ("pretrained", "weights", "Weights", "clip", "dinov2", "segmentation_models_pytorch")

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.evidence = NormalizationEvidence()

    # -- evidence seen during the traversal ------------------------------------------------------

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if isinstance(node.operator, (cst.Divide, cst.Subtract)):
            self.evidence.observe(self.ctx, node, self.ctx.index.current_statement)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.evidence.observe(self.ctx, node, self.ctx.index.current_statement)

    def visit_Call(self, node: cst.Call) -> None:
        self.evidence.observe(self.ctx, node, self.ctx.index.current_statement)

    def visit_Subscript(self, node: cst.Subscript) -> None:
        self.evidence.observe(self.ctx, node, self.ctx.index.current_statement)

    # -- decisions -----------------------------------------------------------------------------------

    def finish(self) -> None:
        self._across_files()
        models = self.ctx.fact(PretrainedModels)
        consumers = [m for m in models.models() if not models.trained_elsewhere(m) and not models.fed_only_synthetic(m)]
        if not consumers:
            return
        self._without_normalize([m for m in consumers if m.needs_normalization])
        self._stats_mismatch([m for m in consumers if not m.internal])
        self._bgr(consumers)

    # NNL301 -----------------------------------------------------------------------------------------

    def _without_normalize(self, models: List[PretrainedModel]) -> None:
        if not models or self.evidence.manual:
            return
        inputs = self.ctx.fact(InputPipelines)
        if inputs.normalizer_applied() or any(self._unknown_helper(call, at) for call, at in self.evidence.helpers):
            return
        unnormalized = inputs.unnormalized()
        complete_normalizes = {
            id(op.node) for item in inputs.inputs() if item.complete for op in item.normalize_ops
        }
        loose = [call for call in inputs.normalize_calls() if id(call.node) not in complete_normalizes]
        if loose:
            return  # a Normalize applied on its own (to batches, after another pipeline)
        manual = [] if inputs.normalize_calls() else self._manual_inputs()
        if not unnormalized and not manual:
            return
        for model in models:
            if unnormalized:
                item = unnormalized[0]
                where = f"`{_pipeline_name(self.ctx, item.pipeline)}` ({self.ctx.line_of(item.pipeline.node)})"
                what = f"the pipeline {where}, which converts them to tensors ({_op_names(item.pipeline)}) but never normalizes them"
                probe = InputStatisticsInput(pipeline=pipeline_probe_input(self.ctx, [item.pipeline]), expected=_expected(model), manual=None)
            else:
                read, hit = manual[0]
                scope = read.statement.scope.name
                what = f"`{scope}` ({self.ctx.line_of(read.node)}), which reads them with `{brief_text(self.ctx.code(read.node), 40)}` and never normalizes them"
                probe = InputStatisticsInput(pipeline=None, expected=_expected(model), manual=scope)
            message = (
                f"{model.describe(self.ctx)} is loaded with pretrained weights, but its inputs come from {what}: the "
                f"network sees raw [0, 1] (or 0-255) pixels where its weights expect inputs standardized with "
                f"{_stats_text(model.statistics)}, so it starts from badly shifted features. Fix: {_fix_text(model)}."
            )
            fix = fixes.add_normalize(self.ctx, [item.pipeline for item in unnormalized], model.statistics) if unnormalized else None
            concise = f"inputs of pretrained {brief_text(model.name or 'model', 24)} are never normalized: normalize with its mean/std"
            self.report(model.report, PRETRAINED_WITHOUT_NORMALIZE, message, probe, short=concise, fix=fix)

    def _unknown_helper(self, call: cst.Call, statement: Optional[Statement]) -> bool:
        """A call named like a normalizer whose code this module does not show (nor a pipeline it knows)."""
        site = self.ctx.index.call_sites.get(call)
        if site is not None and self.ctx.fact(DataFlow).callee(site) is not None:
            return False  # a function of this module: its own arithmetic is seen
        pipelines = self.ctx.fact(TransformPipelines)
        application = pipelines.application_of(call) if pipelines.enabled else None
        if application is not None and all(not p.unresolved for p in application.pipelines):
            return False
        return True

    def _manual_inputs(self):
        reads = self.ctx.fact(ImageReads)
        found = []
        for read in reads.reads():
            if read.target_like:
                continue
            hit = reads.destination(read, channel_order=False)
            if hit is not None and hit.description in ("dataset", "model", "loader"):
                found.append((read, hit))
        return found

    # NNL301 and NNL302 across files --------------------------------------------------------------------

    def _across_files(self) -> None:
        """NNL301/NNL302 where this module's training loop feeds a pretrained model batches from a
        pipeline, and model or pipeline is built in another file of the project (`wiring.py`). The
        finding goes where the fix goes, the pipeline; the model's construction and the loop are its
        related locations. Evidence of normalization in this module (seen during the traversal) or in
        the other modules involved silences it."""
        if self.ctx.project is None or self.ctx.is_test_file:
            return
        inputs = self.ctx.fact(ProjectInputs)
        self._bgr_across_files(inputs)
        wirings = inputs.wirings()
        if not wirings or self.evidence.manual:
            return
        # a `Normalize(...)` of a transform library is a pipeline's op, judged with its pipeline
        helpers = [(call, at) for call, at in self.evidence.helpers if library_of(self.ctx.qualified_name(call.func))[0] is None]
        if any(self._unknown_helper(call, at) for call, at in helpers):
            return
        if self.ctx.fact(InputPipelines).normalizer_applied():
            return
        here = self.ctx.project.path
        reported: Set[Tuple[str, Tuple[int, ...]]] = set()
        for wiring in wirings:
            key = (wiring.pipeline.path, tuple(wiring.pipeline.at or ()))
            if key in reported or any(inputs.normalizes_elsewhere(path) for path in wiring.paths if path != here):
                continue
            reported.add(key)
            self._report_wiring(wiring)

    def _bgr_across_files(self, inputs: ProjectInputs) -> None:
        """NNL303 where the Dataset class of another file reads with OpenCV and returns BGR images
        that this module's loop (or `trainer.fit`) feeds to a pretrained RGB model."""
        if self.evidence.reversals:
            return  # a conversion here (on the batches): cannot tell what it converts
        remote = self.ctx.fact(RemoteValues)
        project = self.ctx.project
        assert project is not None
        reported: Set[Tuple[str, Tuple[int, ...]]] = set()
        for feeding in inputs.feedings():
            for module, read in inputs.bgr_reads(feeding):
                placed = remote.place(read.node)
                if placed is None or placed in reported:
                    continue
                reported.add(placed)
                model = feeding.model
                model_at = f"{project.display(model.remote.path)}:{remote.located(model.remote.at)[0]}"
                message = (
                    f"`{brief_text(module.code(read.node), 50)}` returns the image in BGR channel order, and "
                    f"{feeding.dataset.detail['class']}.__getitem__ hands it on without a BGR->RGB conversion; "
                    f"a training loop feeds these batches to {model.describe()} ({model_at}), which was trained on RGB "
                    f"images: red and blue are swapped in every input, which silently costs accuracy. Convert right "
                    f"after reading: cv2.cvtColor(image, cv2.COLOR_BGR2RGB)."
                )
                concise = (
                    f"BGR image from {brief_text(module.code(read.node), 24)} reaches RGB-trained "
                    f"{brief_text(model.name or 'model', 20)}: cv2.cvtColor(img, cv2.COLOR_BGR2RGB) first"
                )
                related = (
                    (Elsewhere(model.remote.path, remote.located(model.remote.at)), f"builds {model.describe()}"),
                    (feeding.model_call, "the Dataset's batches reach the model here"),
                )
                self.report(feeding.feed, BGR_INTO_RGB_MODEL, message, at=Elsewhere(*placed), related=related, short=concise)

    def _report_wiring(self, wiring) -> None:
        ops = op_terminals(wiring.pipeline)
        normalizes = [index for index, op in enumerate(ops) if op == "Normalize"]
        if normalizes:
            self._mismatch_across(wiring, normalizes[0])
        elif wiring.model.needs_normalization and converts_to_tensor(wiring.pipeline):
            self._without_normalize_across(wiring, ops)

    def _places(self, wiring) -> Tuple[str, str, str, Tuple]:
        """(where the model is built, where the pipeline is built, what feeds the batches to the
        model; the related locations)."""
        project = self.ctx.project
        assert project is not None
        model = wiring.model.remote
        located = self.ctx.fact(RemoteValues).located
        model_at = f"{project.display(model.path)}:{located(model.at)[0]}"
        pipeline_at = f"{project.display(wiring.pipeline.path)}:{located(wiring.pipeline.at)[0]}"
        if wiring.lightning:
            feeds = "`trainer.fit` trains the LightningModule, which runs it, on these batches"
            where = "trainer.fit trains the model on the pipeline's batches here"
        else:
            feeds = "a training loop feeds these batches to it"
            where = "the training loop feeds the pipeline's batches to the model here"
        related = ((Elsewhere(model.path, located(model.at)), f"builds {wiring.model.describe()}"), (wiring.model_call, where))
        return model_at, pipeline_at, feeds, related

    def _without_normalize_across(self, wiring, ops: List[str]) -> None:
        model = wiring.model
        model_at, pipeline_at, feeds, related = self._places(wiring)
        shown = ", ".join(dict.fromkeys(ops))
        message = (
            f"{model_at} builds {model.describe()}; {pipeline_at} builds its inputs with ({shown}) and never "
            f"normalizes them, and {feeds}: the network sees raw [0, 1] (or 0-255) pixels where its weights "
            f"expect inputs standardized with {_stats_text(model.statistics)}, so it starts from badly shifted "
            f"features. Fix: {_fix_text(model)}."
        )
        concise = f"inputs of pretrained {brief_text(model.name or 'model', 24)} (another file) are never normalized: add Normalize"
        at = Elsewhere(wiring.pipeline.path, self.ctx.fact(RemoteValues).located(wiring.pipeline.at))
        self.report(wiring.feed, PRETRAINED_WITHOUT_NORMALIZE, message, at=at, related=related, short=concise)

    def _mismatch_across(self, wiring, index: int) -> None:
        model = wiring.model
        expected = model.statistics
        call = wiring.pipeline.detail["calls"][index]
        if expected is None or expected.identity or call is None or call.at is None:
            return
        if not call.detail["qualified"].startswith("torchvision.transforms."):
            return
        mean = _numbers(call.detail["args"][0] if call.detail["args"] else call.detail["kwargs"].get("mean"))
        std = _numbers(call.detail["args"][1] if len(call.detail["args"]) > 1 else call.detail["kwargs"].get("std"))
        if mean is None or std is None:
            return
        found = _unit_scale(mean, std)
        if found is None or self._matches(found[0], found[1], expected):
            return
        mean, std = found
        model_at, pipeline_at, feeds, related = self._places(wiring)
        known = _known_family(mean, std)
        which = f" ({known})" if known else ""
        message = (
            f"this Normalize (in the pipeline at {pipeline_at}) uses mean {_triple(mean)}, std {_triple(std)}{which}, but "
            f"{model_at} builds {model.describe()}, trained on {_stats_text(expected)}, and "
            f"{feeds}: every input is shifted and rescaled "
            f"away from what the pretrained features expect. Use mean={_triple(expected.mean)}, std={_triple(expected.std)}."
        )
        concise = (
            f"Normalize stats are not {brief_text(model.name or 'the model', 20)}'s: "
            f"use mean={_triple(expected.mean)}, std={_triple(expected.std)}"
        )
        self.report(wiring.feed, NORMALIZE_STATS_MISMATCH, message, at=Elsewhere(call.path, self.ctx.fact(RemoteValues).located(call.at)), related=related, short=concise)

    # NNL302 -----------------------------------------------------------------------------------------

    def _stats_mismatch(self, models: List[PretrainedModel]) -> None:
        if not models or any(m.statistics is None for m in models):
            return
        families = {m.statistics.family for m in models if m.statistics is not None}
        if len(families) != 1:
            return
        model = models[0]
        expected = model.statistics
        assert expected is not None
        if expected.identity:
            return
        inputs = self.ctx.fact(InputPipelines)
        pipelines_of: Dict[int, Pipeline] = {}
        for item in inputs.inputs():
            for op in item.normalize_ops:
                pipelines_of.setdefault(id(op.node), item.pipeline)
        for call in inputs.normalize_calls():
            if self._is_target_normalize(call):
                continue
            if id(call.node) not in pipelines_of and not call.functional:
                continue  # not seen reaching any image here
            found = self._effective(call)
            if found is None:
                continue
            mean, std = found
            if self._matches(mean, std, expected):
                continue
            pipeline = pipelines_of.get(id(call.node))
            fix = fixes.weights_statistics(self.ctx, call.node, call.mean, call.scale, expected) if not call.functional else None
            self._report_mismatch(call.node, mean, std, model, pipeline, fix)
        for node, statement in self.evidence.manual:
            self._manual_mismatch(node, statement, model)

    def _effective(self, call: NormalizeCall) -> Optional[Tuple[Tuple[float, ...], Tuple[float, ...]]]:
        """Mean/std in [0, 1] pixel units, or None when unknown or not a forward normalization."""
        if call.mean is None or call.std is None or call.scale is None:
            return None
        mean = tuple(v * call.scale for v in call.mean)
        std = tuple(v * call.scale for v in call.std)
        return _unit_scale(mean, std)

    def _matches(self, mean, std, expected: Statistics) -> bool:
        """Equal up to rounding, in RGB or in BGR order (BGR-ordered statistics on a BGR image are
        right; whether the image is BGR is NNL303's question)."""
        means = mean * 3 if len(mean) == 1 else mean
        stds = std * 3 if len(std) == 1 else std
        if len(means) != 3 or len(stds) != 3:
            return True  # not three channels: another kind of input
        for order in (1, -1):
            mean_ok = all(abs(a - b) <= MEAN_TOLERANCE for a, b in zip(means[::order], expected.mean))
            std_ok = all(abs(a - b) <= max(STD_TOLERANCE, STD_RELATIVE * b) for a, b in zip(stds[::order], expected.std))
            if mean_ok and std_ok:
                return True
        return False

    def _is_target_normalize(self, call: NormalizeCall) -> bool:
        if call.functional:
            first = positional_args(call.node)[:1]
            name = dotted_name(first[0]) if first else None
            if name and (kind_by_name(name) is not None or is_target_like_name(name)):
                return True
        node = call.statement.node
        if isinstance(node, cst.Assign):
            for target in node.targets:
                name = dotted_name(target.target) or ""
                if name and (kind_by_name(name) is not None or is_target_like_name(name) or "denorm" in name.lower() or "unnorm" in name.lower() or "inv" in name.lower()):
                    return True
        return False

    def _report_mismatch(self, node: cst.CSTNode, mean, std, model: PretrainedModel, pipeline: Optional[Pipeline], fix) -> None:
        expected = model.statistics
        assert expected is not None
        known = _known_family(mean, std)
        which = f" ({known})" if known else ""
        message = (
            f"`{brief_text(self.ctx.code(node), 70)}` normalizes with mean {_triple(mean)}, std {_triple(std)}{which}, but "
            f"{model.describe(self.ctx)} ({self.ctx.line_of(model.node)}) was trained on "
            f"{_stats_text(expected)}: every input is shifted and rescaled away from what the pretrained features "
            f"expect, so the model fine-tunes (or predicts) from a degraded start. Use mean={_triple(expected.mean)}, "
            f"std={_triple(expected.std)}."
        )
        probe_pipeline = pipeline_probe_input(self.ctx, [pipeline]) if pipeline is not None else None
        probe = InputStatisticsInput(
            pipeline=probe_pipeline,
            normalize=self.ctx.fragment(node) if isinstance(node, cst.Call) else None,
            names=self._names(node),
            mean=list(mean),
            std=list(std),
            expected=_expected(model),
        )
        concise = (
            f"Normalize stats are not {brief_text(model.name or 'the model', 20)}'s: "
            f"use mean={_triple(expected.mean)}, std={_triple(expected.std)}"
        )
        self.report(node, NORMALIZE_STATS_MISMATCH, message, probe, short=concise, fix=fix)

    def _names(self, node: cst.CSTNode):
        statement = self.ctx.index.statement_of.get(node)
        site = self.ctx.index.call_sites.get(node) if isinstance(node, cst.Call) else None
        at = site.statement if site is not None else statement
        return _inline_constants(self.ctx.fact(FixedValues).resolve_for_probe([node], at)) if at is not None else {}

    def _manual_mismatch(self, node: cst.CSTNode, statement: Optional[Statement], model: PretrainedModel) -> None:
        """`(x - MEAN) / STD` with both sides resolved to numbers."""
        if statement is None or not isinstance(node, cst.BinaryOperation) or not isinstance(node.operator, cst.Divide):
            return
        left = node.left
        if not isinstance(left, cst.BinaryOperation) or not isinstance(left.operator, cst.Subtract):
            return
        inputs = self.ctx.fact(InputPipelines)
        mean = inputs.numbers(left.right, statement)
        std = inputs.numbers(node.right, statement)
        if mean is None or std is None or len(mean) not in (1, 3) or len(std) not in (1, 3):
            return
        found = _unit_scale(mean, std)
        if found is None or self._matches(found[0], found[1], model.statistics):
            return
        fix = fixes.manual_weights_statistics(self.ctx, node, statement, mean, model.statistics)
        self._report_mismatch(node, found[0], found[1], model, None, fix)

    # NNL303 -----------------------------------------------------------------------------------------

    def _bgr(self, models: List[PretrainedModel]) -> None:
        reads = self.ctx.fact(ImageReads)
        candidates = [r for r in reads.reads() if r.kind == "cv2" and r.color and not r.target_like]
        if not candidates:
            return
        read_scopes = {id(r.statement.scope) for r in reads.reads() if r.kind == "cv2"}
        converted_scopes: Set[int] = set()
        for node, statement in self.evidence.reversals:
            if statement is None or id(statement.scope) not in read_scopes:
                return  # a conversion somewhere else (on batches, in a helper): cannot tell what it converts
            converted_scopes.add(id(statement.scope))
        model = models[0]
        for read in candidates:
            if id(read.statement.scope) in converted_scopes:
                continue
            hit = reads.destination(read)
            if hit is None:
                continue
            where = {
                "transform": f"the transform call `{brief_text(self.ctx.code(hit.node), 50)}`",
                "model": f"the model call `{brief_text(self.ctx.code(hit.node), 50)}`",
                "dataset": "the model's inputs through the Dataset's __getitem__",
                "loader": f"the model's inputs through `{read.statement.scope.name}`",
            }[hit.description]
            message = (
                f"`{brief_text(self.ctx.code(read.node), 50)}` returns the image in BGR channel order, and it reaches {where} "
                f"({self.ctx.line_of(hit.node)}) without a BGR->RGB conversion, but {model.describe(self.ctx)} "
                f"({self.ctx.line_of(model.node)}) was trained on RGB images: red and blue are swapped in every "
                f"input, which silently costs accuracy. Convert right after reading: "
                f"cv2.cvtColor(image, cv2.COLOR_BGR2RGB)."
            )
            pipeline = None
            if hit.description == "transform":
                application = self.ctx.fact(TransformPipelines).application_of(hit.node)  # type: ignore[arg-type]
                if application is not None:
                    pipeline = pipeline_probe_input(self.ctx, application.pipelines[:1])
            probe = BgrIntoRgbInput(
                         read=self.ctx.code(read.node),
                         destination=hit.description,
                         pipeline=pipeline,
                         expected=_expected(model),
                     )
            concise = (
                f"BGR image from {self.ctx.brief(read.node, 24)} reaches RGB-trained {brief_text(model.name or 'model', 20)}: "
                "cv2.cvtColor(img, cv2.COLOR_BGR2RGB) first"
            )
            self.report(read.node, BGR_INTO_RGB_MODEL, message, probe, short=concise, fix=fixes.convert_to_rgb(self.ctx, read.node, read.statement))


def _pipeline_name(ctx, pipeline: Pipeline) -> str:
    """`train_tf` for `train_tf = T.Compose([...])`, else the start of the construction."""
    name = pipeline_name(pipeline)
    if name:
        return name
    statement = pipeline.statement
    if statement is not None and isinstance(statement.node, cst.Return):
        return f"{statement.scope.name}()"
    return brief_text(ctx.code(pipeline.node), 40)


def _op_names(pipeline: Pipeline) -> str:
    names: List[str] = []
    for op in pipeline.ops:
        if op.name not in names:
            names.append(op.name)
    return ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")


def _unit_scale(mean: Tuple[float, ...], std: Tuple[float, ...]) -> Optional[Tuple[Tuple[float, ...], Tuple[float, ...]]]:
    """Statistics in [0, 1] units; 0-255 statistics are divided by 255. None for an inverse
    normalization (negative means, stds above 1 in [0, 1] units) or nonsense."""
    if not mean or not std or any(s <= 0 for s in std):
        return None
    if all(m > 1.5 for m in mean) and all(m <= 255 for m in mean):
        mean = tuple(m / 255.0 for m in mean)
        std = tuple(s / 255.0 for s in std)
    if any(m < 0 or m > 1 for m in mean) or any(s > 1 for s in std):
        return None
    return mean, std


def _known_family(mean, std) -> Optional[str]:
    means = mean * 3 if len(mean) == 1 else mean
    stds = std * 3 if len(std) == 1 else std
    for stats in STATISTICS.values():
        if stats.identity:
            continue
        if all(abs(a - b) <= MEAN_TOLERANCE for a, b in zip(means, stats.mean)) and all(
            abs(a - b) <= max(STD_TOLERANCE, STD_RELATIVE * b) for a, b in zip(stds, stats.std)
        ):
            return f"{stats.description} statistics"
    if len(mean) == 1 and abs(mean[0] - 0.1307) < 0.002 and abs(std[0] - 0.3081) < 0.002:
        return "MNIST statistics"
    if len(means) == 3 and abs(means[0] - 0.4914) < 0.003 and abs(means[1] - 0.4822) < 0.003:
        return "CIFAR-10 statistics"
    if len(means) == 3 and abs(means[0] - 0.5071) < 0.003 and abs(means[1] - 0.4865) < 0.003:
        return "CIFAR-100 statistics"
    return None


# --- NNL304 ----------------------------------------------------------------------------------------


class UncheckedPartialLoadCheck(Check):
    rules = (UNCHECKED_PARTIAL_LOAD,)
    triggers = ("load_state_dict",)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.candidates: List[Tuple[cst.Call, Statement]] = []

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "load_state_dict":
            statement = self.ctx.index.current_statement
            if statement is not None:
                self.candidates.append((node, statement))

    def finish(self) -> None:
        if self.ctx.imports.another_framework_only():
            return  # e.g. MegEngine's load_state_dict returns nothing to inspect
        flow = self.ctx.fact(DataFlow)
        partial = [(call, statement) for call, statement in self.candidates if self._is_false(_strict_argument(call), statement, flow)]
        merged = self._merged_loads(partial)
        for call, statement in partial:
            if not self._discarded(call, statement):
                continue
            if call in merged or self._deliberate(call, statement, flow):
                continue
            receiver = self.ctx.code(call.func.value) if isinstance(call.func, cst.Attribute) else "model"
            message = (
                f"`{brief_text(self.ctx.code(call), 70)}` discards what it returns (the missing and unexpected keys): if the "
                f"checkpoint's keys carry a `module.` (DataParallel) or `model.` (Lightning) prefix, or a layer was "
                f"renamed, those weights are silently not loaded and {receiver} keeps its random initialization. Check "
                f"the result: `missing, unexpected = {receiver}.load_state_dict(..., strict=False)` and assert or log "
                f"that only the keys you meant to skip are missing."
            )
            concise = "load_state_dict(strict=False) result discarded: a failed load goes unnoticed; check the missing keys"
            self.report(call, UNCHECKED_PARTIAL_LOAD, message, UncheckedPartialLoadInput(call=self.ctx.code(call), receiver=receiver), short=concise)

    def _merged_loads(self, partial: List[Tuple[cst.Call, Statement]]) -> Set[cst.Call]:
        """Loads that put several checkpoints into one model one after the other (pretrained
        weights, then the adapter or LoRA weights): each checkpoint holds a part of the model by
        design. Two loads in different branches (`if resume: ... else: ...`) are alternatives, not
        a merge, so only loads in the same block sequence count."""
        groups: Dict[Tuple[int, str, Tuple[int, ...], frozenset], List[cst.Call]] = {}
        for call, statement in partial:
            receiver = call.func.value if isinstance(call.func, cst.Attribute) else None
            if receiver is None:
                continue
            key = (id(statement.scope), self.ctx.code(receiver), tuple(id(block) for block in statement.blocks), statement.else_of)
            groups.setdefault(key, []).append(call)
        return {call for calls in groups.values() if len(calls) > 1 for call in calls}

    def _is_false(self, expr: Optional[cst.BaseExpression], statement: Statement, flow, depth: int = 0) -> bool:
        if expr is None:
            return False
        if isinstance(expr, cst.Name):
            if expr.value == "False":
                return True
            if depth < 3:
                definition = flow.definition(expr.value, statement)
                if definition.kind == "assign" and definition.value is not None and definition.statement is not None:
                    if definition.is_module_level and len(flow.module_definitions(expr.value)) > 1:
                        return False
                    return self._is_false(definition.value, definition.statement, flow, depth + 1)
        return False

    def _deliberate(self, call: cst.Call, statement: Statement, flow) -> bool:
        """A partial load that the code shows is meant: keys removed from the checkpoint before
        loading, or a checkpoint loaded into a part of the model."""
        state = argument(call, 0, "state_dict")
        if state is not None and self._keys_removed(state, statement, flow):
            return True
        receiver = call.func.value if isinstance(call.func, cst.Attribute) else None
        if receiver is None:
            return False
        if self._keys_matched(receiver, statement) or (state is not None and self._made_from(state, receiver, statement, flow)):
            return True
        return self._part_of_model(receiver, statement, flow) and not self._whole_lightning_state(state)

    def _keys_matched(self, receiver: cst.BaseExpression, statement: Statement) -> bool:
        """`own = model.state_dict()`, then `k in own`, or a loop over `own` that tests each key with
        `in`, before the load: the checkpoint's keys were matched with the model's by hand."""
        model = self.ctx.code(receiver)
        own: Set[str] = set()
        loops: List[cst.CSTNode] = []
        for earlier in statement.scope.statements[: statement.position]:
            node = earlier.node
            if isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
                value = node.value
                if isinstance(value, cst.Call) and callee_terminal_name(value) == "state_dict" and not value.args:
                    if method_receiver(value) is not None and self.ctx.code(method_receiver(value)) == model:
                        own.add(node.targets[0].target.value)
                        continue
            if not own:
                continue
            if isinstance(node, cst.For) and _root_name(node.iter) in own:
                loops.append(node)
                continue
            for part in _header_parts(node):
                for operands in _membership_tests(part):
                    if any(_root_name(o) in own for o in operands) or any(loop in earlier.blocks for loop in loops):
                        return True
        return False

    def _made_from(self, state: cst.BaseExpression, receiver: cst.BaseExpression, statement: Statement, flow, depth: int = 0) -> bool:
        """The state was computed by calls given the model itself (`stats = norm_buffers(module)`,
        `stats = all_reduce(stats)`): its keys are the model's own."""
        if depth > 3:
            return False
        if isinstance(state, cst.Name):
            definition = flow.definition(state.value, statement)
            if definition.kind != "assign" or definition.value is None or definition.statement is None:
                return False
            return self._made_from(definition.value, receiver, definition.statement, flow, depth + 1)
        if not isinstance(state, cst.Call):
            return False
        model = self.ctx.code(receiver)
        if any(self.ctx.code(arg.value) == model for arg in state.args):
            return True
        return any(isinstance(arg.value, cst.Name) and self._made_from(arg.value, receiver, statement, flow, depth + 1) for arg in state.args)

    def _keys_removed(self, state: cst.BaseExpression, statement: Statement, flow) -> bool:
        """`{k: v for k, v in sd.items() if not k.startswith("head")}`, or `del sd["fc.weight"]` /
        `sd.pop(k)` before the load: the keys left out are left out on purpose."""
        if _filtering_comprehension(state):
            return True
        held = self.ctx.code(state)
        if isinstance(state, cst.Name):
            definition = flow.definition(state.value, statement)
            if definition.kind == "assign" and _filtering_comprehension(definition.value):
                return True
            if definition.kind == "assign" and _empty_dict(definition.value) and definition.statement is not None:
                if self._filled_selectively(held, definition.statement, statement):
                    return True
        for earlier in statement.scope.statements[: statement.position]:
            node = earlier.node
            if isinstance(node, cst.Del) and any(
                isinstance(target, cst.Subscript) and self.ctx.code(target.value) == held
                for target in _deleted_targets(node.target)
            ):
                return True
            for site in earlier.calls:
                receiver = method_receiver(site.node)
                if callee_terminal_name(site.node) == "pop" and receiver is not None and self.ctx.code(receiver) == held:
                    if not _stored_back(node, site.node, held, self.ctx):
                        return True
        return False

    def _filled_selectively(self, held: str, start: Statement, load: Statement) -> bool:
        """`kept = {}`, then a loop over the checkpoint that stores `kept[k] = v` only under an `if`
        without an `else`: the loop form of a filtering comprehension, so the keys it skips are
        skipped on purpose. A loop that stores every key (renaming some) filters nothing."""
        for earlier in start.scope.statements[start.position + 1 : load.position]:
            node = earlier.node
            if not (isinstance(node, cst.Assign) and len(node.targets) == 1):
                continue
            target = node.targets[0].target
            if not (isinstance(target, cst.Subscript) and self.ctx.code(target.value) == held):
                continue
            loops = [index for index, block in enumerate(earlier.blocks) if isinstance(block, (cst.For, cst.While))]
            if loops and any(
                isinstance(block, cst.If) and block.orelse is None for block in earlier.blocks[loops[-1] + 1 :]
            ):
                return True
        return False

    def _part_of_model(self, receiver: cst.BaseExpression, statement: Statement, flow, depth: int = 0) -> bool:
        """`model.backbone`, `self.model.encoder`, `self.encoder` inside a module, or a name bound to
        one of those: a sub-module, loaded from a checkpoint of that part alone."""
        if isinstance(receiver, cst.Name) and depth < 3:
            definition = flow.definition(receiver.value, statement)
            if definition.kind == "assign" and isinstance(definition.value, cst.Attribute) and definition.statement is not None:
                return self._part_of_model(definition.value, definition.statement, flow, depth + 1)
            return False
        if not isinstance(receiver, cst.Attribute) or receiver.attr.value in WRAPPED_MODEL_ATTRIBUTES:
            return False  # `model.module` is the whole model again
        owner = receiver.value
        if isinstance(owner, cst.Name) and owner.value == "self":
            info = self.ctx.index.enclosing_class(statement.scope)
            return info is not None and self.ctx.fact(TrainingObjects).is_module_class(info)
        return self.ctx.fact(TrainingObjects).kind(owner, statement) == MODEL

    def _whole_lightning_state(self, state: Optional[cst.BaseExpression]) -> bool:
        """`ckpt["state_dict"]` in a Lightning project: a Lightning checkpoint keeps the whole
        LightningModule's keys there, each prefixed by the attribute holding its sub-module, so
        loaded into a sub-module it matches nothing."""
        if not isinstance(state, cst.Subscript) or string_value_of_index(state) != "state_dict":
            return False
        return any(target.split(".")[0] in ("lightning", "pytorch_lightning") for target in self.ctx.imports.aliases.values())

    def _discarded(self, call: cst.Call, statement: Statement) -> bool:
        node = statement.node
        if isinstance(node, cst.Expr):
            return node.value is call
        if isinstance(node, cst.Assign) and node.value is call:
            names: List[str] = []
            for target in node.targets:
                elements = target.target.elements if isinstance(target.target, (cst.Tuple, cst.List)) else [target.target]
                for element in elements:
                    value = element.value if isinstance(element, (cst.Element, cst.StarredElement)) else element
                    if isinstance(value, cst.StarredElement):
                        value = value.value
                    if not isinstance(value, cst.Name):
                        return False  # stored on an object or in a container: may be looked at later
                    names.append(value.value)
            return not any(name != "_" and self._read_in_scope(name, statement) for name in names)
        return False

    def _read_in_scope(self, name: str, assignment: Statement) -> bool:
        """Whether `name` is read anywhere in the assignment's function (or, at module level, in the module)."""
        for statement in assignment.scope.statements:
            if statement is assignment:
                continue
            for node in _header_parts(statement.node):
                if _reads(node, name):
                    return True
        for child in assignment.scope.children:
            if _reads(child.node.body, name):
                return True
        return False


# Attributes of a wrapper that give back the whole model (DataParallel, torch.compile).
WRAPPED_MODEL_ATTRIBUTES = frozenset({"module", "_orig_mod"})


def _stored_back(node: cst.CSTNode, pop: cst.Call, held: str, ctx) -> bool:
    """`sd[k[len(prefix):]] = sd.pop(k)`: the key is renamed, not removed."""
    if not (isinstance(node, cst.Assign) and node.value is pop):
        return False
    return all(isinstance(t.target, cst.Subscript) and ctx.code(t.target.value) == held for t in node.targets)


def _empty_dict(value: Optional[cst.BaseExpression]) -> bool:
    """`{}`, `dict()`, `OrderedDict()`: a state dict assembled key by key afterwards."""
    if isinstance(value, cst.Dict):
        return not value.elements
    return isinstance(value, cst.Call) and not value.args and callee_terminal_name(value) in ("dict", "OrderedDict")


def _strict_argument(call: cst.Call) -> Optional[cst.BaseExpression]:
    """The `strict` argument of `load_state_dict(state, strict)`, by keyword or position."""
    strict = keyword_arg(call, "strict")
    if strict is None:
        args = positional_args(call)
        strict = args[1] if len(args) > 1 else None
    return strict


def _filtering_comprehension(value: Optional[cst.BaseExpression]) -> bool:
    """A dict comprehension with an `if`: it keeps some of the checkpoint's keys, not all."""
    if not isinstance(value, cst.DictComp):
        return False
    clause = value.for_in
    while clause is not None:
        if clause.ifs:
            return True
        clause = clause.inner_for_in
    return False


def _root_name(expr: cst.BaseExpression) -> Optional[str]:
    """`own` for `own`, `own.items()`, `own.keys()`, `list(own)`."""
    if isinstance(expr, cst.Call):
        if isinstance(expr.func, cst.Attribute) and expr.func.attr.value in ("items", "keys") and not expr.args:
            return _root_name(expr.func.value)
        if isinstance(expr.func, cst.Name) and expr.func.value in ("list", "sorted") and len(expr.args) == 1:
            return _root_name(expr.args[0].value)
        return None
    return expr.value if isinstance(expr, cst.Name) else None


def _membership_tests(node: cst.CSTNode) -> List[List[cst.BaseExpression]]:
    """The operands of every `a in b` / `a not in b` inside `node`."""
    found: List[List[cst.BaseExpression]] = []
    pending: List[cst.CSTNode] = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, cst.Comparison) and any(isinstance(c.operator, (cst.In, cst.NotIn)) for c in current.comparisons):
            found.append([current.left] + [c.comparator for c in current.comparisons])
        pending.extend(current.children)
    return found


def _deleted_targets(target: cst.BaseExpression) -> List[cst.BaseExpression]:
    return [e.value for e in target.elements] if isinstance(target, (cst.Tuple, cst.List)) else [target]


def _header_parts(node: cst.CSTNode) -> List[cst.CSTNode]:
    """The parts of a statement that belong to it alone (not the nested statements of a block)."""
    if isinstance(node, (cst.If, cst.While)):
        return [node.test]
    if isinstance(node, cst.For):
        return [node.iter]
    if isinstance(node, cst.With):
        return [item.item for item in node.items]
    if isinstance(node, cst.Match):
        return [node.subject]
    if isinstance(node, (cst.Try, cst.TryStar, cst.FunctionDef, cst.ClassDef)):
        return []
    if isinstance(node, cst.Assign):
        return [node.value] + [t.target for t in node.targets if not isinstance(t.target, (cst.Name, cst.Tuple, cst.List))]
    if isinstance(node, cst.AugAssign):
        return [node.value, node.target]
    if isinstance(node, cst.AnnAssign):
        return [node.value] if node.value is not None else []
    return [node]


def _reads(node: cst.CSTNode, name: str) -> bool:
    pending: List[cst.CSTNode] = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, cst.Name):
            if current.value == name:
                return True
            continue
        if isinstance(current, cst.Attribute):
            pending.append(current.value)  # `x.missing_keys` reads x; `obj.x` does not
            continue
        if isinstance(current, cst.Arg):
            pending.append(current.value)
            continue
        pending.extend(current.children)
    return False



def _numbers(value) -> Optional[Tuple[float, ...]]:
    """The numbers of a constant or a tuple/list of constants (a library constant by its value)."""
    if value is None:
        return None
    if value.kind == "const":
        qualified = value.detail.get("qualified")
        if qualified in LIBRARY_CONSTANTS:
            return tuple(float(v) for v in LIBRARY_CONSTANTS[qualified])
        number = value.detail.get("value")
        return (float(number),) if isinstance(number, (int, float)) and not isinstance(number, bool) else None
    if value.kind == "seq":
        numbers = [_numbers(item) for item in value.items]
        if numbers and all(n is not None and len(n) == 1 for n in numbers):
            return tuple(n[0] for n in numbers)  # type: ignore[index]
    return None
