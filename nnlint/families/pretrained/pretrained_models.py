"""Pretrained models: where a model with pretrained weights is built, which input statistics its
weights were trained with, and whether it is the model the module trains or evaluates.

Recognised constructions (matched by qualified name through the import table):

- torchvision builders (``resnet50``, ``models.vit_b_16``, ``deeplabv3_resnet50`` ...) with
  ``weights=`` (an enum member such as ``ResNet50_Weights.IMAGENET1K_V2`` or ``.DEFAULT``, a string
  such as ``"DEFAULT"`` / ``"IMAGENET1K_V2"`` / ``"ResNet50_Weights.DEFAULT"``, or a name bound to
  one), the legacy ``pretrained=True``, backbone weights (``weights_backbone=``,
  ``pretrained_backbone=True``); ``torchvision.models.get_model(name, weights=...)``;
  ``models.__dict__[arch](pretrained=True)`` / ``getattr(models, arch)(...)``;
  ``torch.hub.load("pytorch/vision", name, pretrained=True | weights=...)`` and the DINOv2 hub models;
- ``timm.create_model(name, pretrained=True)``;
- Hugging Face vision models ``*.from_pretrained(...)`` (image-classification / segmentation /
  vision classes, or ``Auto*`` classes with a vision checkpoint name);
- OpenAI ``clip.load(name)`` and ``open_clip.create_model_and_transforms(name, pretrained=...)``;
- segmentation_models_pytorch architectures (``encoder_weights`` defaults to ``"imagenet"``).

The statistics come from the one table in ``families/pretrained/statistics.py``; ``None`` when they are not
known with certainty. ``trained_elsewhere(model)`` tells whether the module trains some other,
unrelated model (an optimizer over parameters that do not contain the pretrained model's): then
the pretrained model is a frozen helper (a perceptual loss, a teacher) and the module's input
pipeline need not be its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Set, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.settings import Settings
from nnlint.analysis.index import CallSite, ClassInfo, Scope, Statement
from nnlint.analysis.names import (
    argument,
    callee_terminal_name,
    dotted_name,
    keyword_arg,
    positional_args,
    string_value,
)
from nnlint.families.pretrained.statistics import (
    CLIP_STATISTICS,
    HF_CHECKPOINTS,
    HF_IMAGE_CLASS_WORDS,
    HF_IMAGE_CLASSES,
    HF_VISION_PREFIXES,
    INTERNAL,
    OPEN_CLIP_ARCHITECTURES,
    OPEN_CLIP_TAG_PREFIXES,
    SMP_IMAGENET_ENCODERS,
    STATISTICS,
    TORCHVISION_BUILDERS,
    TORCHVISION_WEIGHT_EXCEPTIONS,
    UNKNOWN,
    Statistics,
    timm_known,
    timm_statistics,
)

ENUM_BUILDER: Dict[str, str] = {enum: builder for builder, (enum, _) in TORCHVISION_BUILDERS.items()}
SMP_ARCHITECTURES = frozenset(
    {"Unet", "UnetPlusPlus", "MAnet", "Linknet", "FPN", "PSPNet", "PAN", "DeepLabV3", "DeepLabV3Plus", "UPerNet", "Segformer", "DPT"}
)
# wrappers whose result is the model they wrap
WRAPPER_METHODS = frozenset({"to", "cuda", "cpu", "eval", "train", "float", "half", "double", "requires_grad_", "bfloat16", "share_memory"})
MAX_DEPTH = 5


@dataclass(eq=False, repr=False)
class PretrainedModel:
    node: cst.Call  # the construction call
    report: cst.CSTNode  # what a finding points at: the weights argument, else the call
    statement: Statement
    source: str  # torchvision | timm | hub | transformers | clip | open_clip | smp
    name: str  # resnet50, 'vit_base_patch16_224', google/vit-base-patch16-224, ... ("" when unknown)
    weights: Optional[str]  # ResNet50_Weights.IMAGENET1K_V2 when torchvision can resolve it
    statistics: Optional[Statistics]  # None when not known with certainty
    internal: bool = False  # the model normalizes its input itself (torchvision detection)
    backbone_only: bool = False

    @property
    def scope(self) -> Scope:
        return self.statement.scope

    @property
    def needs_normalization(self) -> bool:
        return not self.internal and not (self.statistics is not None and self.statistics.identity)

    def describe(self, ctx: ModuleContext) -> str:
        """`resnet50 (ResNet50_Weights.IMAGENET1K_V2)`, `timm 'resnet50'`..."""
        if self.source == "torchvision":
            weights = self.weights or "pretrained"
            what = f"{self.name or 'the torchvision model'} ({weights}{' backbone' if self.backbone_only else ''} weights)"
            return what
        if self.source == "timm":
            return f"timm model '{self.name}'" if self.name else "the timm model"
        if self.source == "transformers":
            return f"'{self.name}'" if self.name else "the Hugging Face model"
        if self.source in ("clip", "open_clip"):
            return f"CLIP '{self.name}'" if self.name else "the CLIP model"
        if self.source == "smp":
            return f"{self.name} with ImageNet encoder weights" if self.name else "the segmentation model"
        return self.name or "the pretrained model"


class PretrainedModels:
    """Get it with ``ctx.fact(PretrainedModels)``."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        self._models: Optional[List[PretrainedModel]] = None
        self._optimized: Optional[List[Tuple[cst.BaseExpression, Statement]]] = None
        self._elsewhere: Dict[int, bool] = {}

    # -- recognising constructions ---------------------------------------------------------------

    def models(self) -> List[PretrainedModel]:
        if self._models is None:
            found: List[PretrainedModel] = []
            if self.ctx.imports.imports_any("torchvision", "timm", "transformers", "clip", "open_clip", "segmentation_models_pytorch", "torch"):
                for site in self.ctx.index.call_sites.values():
                    if site.statement is None:
                        continue
                    model = self._model(site)
                    if model is not None:
                        found.append(model)
            self._models = found
        return self._models

    def _model(self, site: CallSite) -> Optional[PretrainedModel]:
        call = site.node
        qualified = self.ctx.qualified_name(call.func)
        statement = site.statement
        assert statement is not None
        if qualified is None:
            return self._dynamic_torchvision(call, statement)
        if qualified.startswith("torchvision.models."):
            builder = qualified.split(".")[-1]
            if builder == "get_model":
                name = self._string(argument(call, 0, "name"), statement)
                return self._torchvision(call, statement, name or "", name is not None)
            if builder in TORCHVISION_BUILDERS:
                return self._torchvision(call, statement, builder, True)
            return None
        if qualified in ("timm.create_model", "timm.models.create_model", "timm.models._factory.create_model"):
            return self._timm(call, statement)
        if qualified == "torch.hub.load":
            return self._hub(call, statement)
        if qualified.startswith("transformers.") and callee_terminal_name(call) == "from_pretrained":
            return self._transformers(call, statement, qualified)
        if qualified in ("clip.load",):
            name = self._string(argument(call, 0, "name"), statement) or ""
            return PretrainedModel(call, call, statement, "clip", name, None, STATISTICS[CLIP_STATISTICS])
        if qualified.startswith("open_clip.") and qualified.split(".")[-1] in (
            "create_model_and_transforms", "create_model", "create_model_from_pretrained",
        ):
            return self._open_clip(call, statement, qualified)
        if qualified.startswith("segmentation_models_pytorch.") and qualified.split(".")[-1] in SMP_ARCHITECTURES:
            return self._smp(call, statement, qualified)
        return None

    def _torchvision(self, call: cst.Call, statement: Statement, builder: str, builder_known: bool) -> Optional[PretrainedModel]:
        info = TORCHVISION_BUILDERS.get(builder)
        family = info[1] if info else None
        weights_arg = keyword_arg(call, "weights")
        weights = self._weights(weights_arg, statement, builder)
        report: Optional[cst.CSTNode] = _arg_node(call, "weights")
        backbone_only = False
        if weights is None:
            if self._flag(keyword_arg(call, "pretrained"), statement):
                weights = f"{info[0]}.DEFAULT" if info else "pretrained"
                report = _arg_node(call, "pretrained")
            elif builder in _BACKBONE_BUILDERS or builder == "get_model":
                backbone = self._weights(keyword_arg(call, "weights_backbone"), statement, None)
                if backbone is not None:
                    report = _arg_node(call, "weights_backbone")
                    weights, backbone_only = backbone, True
                elif self._flag(keyword_arg(call, "pretrained_backbone"), statement):
                    report = _arg_node(call, "pretrained_backbone")
                    weights, backbone_only = "ImageNet", True
        if weights is None or report is None:
            return None
        internal = family == INTERNAL
        statistics: Optional[Statistics] = None
        if backbone_only and not internal:
            family = "imagenet" if weights == "ImageNet" or _enum_family(weights) == "imagenet" else None
        elif not internal and weights.count(".") == 1:
            family = TORCHVISION_WEIGHT_EXCEPTIONS.get(weights, _enum_family(weights) or family)
        if not builder_known:
            family = None
        if family in STATISTICS:
            statistics = STATISTICS[family]
        if family == UNKNOWN:
            return None  # optical flow: not an image classifier with a known input convention
        shown = weights if weights.count(".") == 1 and weights.split(".")[0].endswith("_Weights") else None
        return PretrainedModel(call, report, statement, "torchvision", builder, shown, statistics, internal, backbone_only)

    def _dynamic_torchvision(self, call: cst.Call, statement: Statement) -> Optional[PretrainedModel]:
        """`models.__dict__[args.arch](pretrained=True)`, `getattr(models, arch)(weights="DEFAULT")`."""
        func = call.func
        module = None
        if isinstance(func, cst.Subscript) and isinstance(func.value, cst.Attribute) and func.value.attr.value == "__dict__":
            module = self.ctx.qualified_name(func.value.value)
        elif isinstance(func, cst.Call) and self.ctx.qualified_name(func.func) == "builtins.getattr":
            args = positional_args(func)
            module = self.ctx.qualified_name(args[0]) if args else None
        if module != "torchvision.models":
            return None
        weights = self._weights(keyword_arg(call, "weights"), statement, None)
        report = _arg_node(call, "weights")
        if weights is None and self._flag(keyword_arg(call, "pretrained"), statement):
            weights, report = "pretrained", _arg_node(call, "pretrained")
        if weights is None or report is None:
            return None
        return PretrainedModel(call, report, statement, "torchvision", "", None, None)

    def _timm(self, call: cst.Call, statement: Statement) -> Optional[PretrainedModel]:
        if not self._flag(keyword_arg(call, "pretrained"), statement):
            return None
        name_expr = argument(call, 0, "model_name")
        name = self._string(name_expr, statement)
        statistics = None
        if name is not None and keyword_arg(call, "pretrained_cfg") is None and keyword_arg(call, "pretrained_cfg_overlay") is None:
            statistics = timm_statistics(name)
            if statistics is None and not timm_known(name) and not name.startswith(("hf-hub:", "hf_hub:")):
                return None  # not a timm architecture we know has image weights
        return PretrainedModel(call, _arg_node(call, "pretrained") or call, statement, "timm", name or "", None, statistics)

    def _hub(self, call: cst.Call, statement: Statement) -> Optional[PretrainedModel]:
        repo = self._string(argument(call, 0, "repo_or_dir"), statement) or ""
        name = self._string(argument(call, 1, "model"), statement)
        repo_name = repo.split(":")[0]
        if repo_name == "pytorch/vision" and name is not None:
            return self._torchvision(call, statement, name, name in TORCHVISION_BUILDERS)
        if repo_name == "facebookresearch/dinov2" and name is not None and name.startswith("dinov2_"):
            if keyword_arg(call, "pretrained") is not None and not self._flag(keyword_arg(call, "pretrained"), statement):
                return None
            return PretrainedModel(call, call, statement, "hub", name, None, STATISTICS["imagenet"])
        return None

    def _transformers(self, call: cst.Call, statement: Statement, qualified: str) -> Optional[PretrainedModel]:
        owner = qualified.split(".")[-2]
        checkpoint = self._string(argument(call, 0, "pretrained_model_name_or_path"), statement)
        image_class = owner in HF_IMAGE_CLASSES or any(word in owner for word in HF_IMAGE_CLASS_WORDS)
        vision_checkpoint = checkpoint is not None and checkpoint.startswith(HF_VISION_PREFIXES)
        if owner.startswith("TF") or owner.startswith("Flax"):
            return None
        if "Processor" in owner or "FeatureExtractor" in owner or "Tokenizer" in owner or "Config" in owner:
            return None
        if not image_class and not (owner.startswith("Auto") and vision_checkpoint):
            return None
        if "MobileViT" in owner or (checkpoint or "").startswith("apple/mobilevit"):
            return None  # MobileViT checkpoints take BGR inputs in [0, 1]
        statistics = None
        if checkpoint is not None:
            for prefix, family in HF_CHECKPOINTS.items():
                if checkpoint.startswith(prefix):
                    statistics = STATISTICS[family]
        return PretrainedModel(call, _first_arg_node(call) or call, statement, "transformers", checkpoint or "", None, statistics)

    def _open_clip(self, call: cst.Call, statement: Statement, qualified: str) -> Optional[PretrainedModel]:
        name = self._string(argument(call, 0, "model_name"), statement) or ""
        pretrained_expr = argument(call, 1, "pretrained")
        if qualified.endswith("create_model_from_pretrained"):
            tag = self._string(pretrained_expr, statement)
        else:
            if pretrained_expr is None:
                return None
            tag = self._string(pretrained_expr, statement)
            if tag is None and not isinstance(self._value(pretrained_expr, statement), (cst.Name, cst.Attribute, cst.Subscript)):
                return None
        if name.startswith("hf-hub:"):
            statistics = None
        else:
            certain = name in OPEN_CLIP_ARCHITECTURES and tag is not None and tag.startswith(OPEN_CLIP_TAG_PREFIXES)
            statistics = STATISTICS[CLIP_STATISTICS] if certain else None
        report = _arg_node(call, "pretrained") or call
        return PretrainedModel(call, report, statement, "open_clip", name, None, statistics)

    def _smp(self, call: cst.Call, statement: Statement, qualified: str) -> Optional[PretrainedModel]:
        weights_expr = keyword_arg(call, "encoder_weights")
        encoder_expr = argument(call, 0, "encoder_name")
        encoder = self._string(encoder_expr, statement) if encoder_expr is not None else "resnet34"
        if weights_expr is None:
            weights = "imagenet"  # the default
        else:
            value = self._value(weights_expr, statement)
            weights = self._string(value, statement)
            if weights is None:
                return None
        statistics = STATISTICS["imagenet"] if weights == "imagenet" and encoder in SMP_IMAGENET_ENCODERS else None
        name = qualified.split(".")[-1]
        return PretrainedModel(call, _arg_node(call, "encoder_weights") or call, statement, "smp", name, None, statistics)

    # -- literal values ------------------------------------------------------------------------------

    def _flag(self, expr: Optional[cst.BaseExpression], statement: Statement) -> bool:
        """Whether a flag (`pretrained=...`) is certainly on: a literal, or a parameter, hparams or
        config entry whose value the code shows (`analysis.settings`)."""
        return expr is not None and self.ctx.fact(Settings).truth(expr, statement) is True

    def _value(self, expr: Optional[cst.BaseExpression], statement: Statement, depth: int = 0) -> Optional[cst.BaseExpression]:
        """The expression a name stands for through simple assignments (module constants too), and
        the branch of `W if pretrained else None` that a known flag selects."""
        while depth < MAX_DEPTH:
            if isinstance(expr, cst.IfExp):
                taken = self.ctx.fact(Settings).truth(expr.test, statement)
                if taken is None:
                    return expr
                expr, depth = (expr.body if taken else expr.orelse), depth + 1
                continue
            if not isinstance(expr, cst.Name) or expr.value in ("True", "False", "None"):
                return expr
            definition = self.flow.definition(expr.value, statement)
            if definition.kind == "param" and definition.scope is not None:
                # a parameter every call of the function passes the same way: `Embedder(weights)`
                passed = self.flow.argument_values(definition.scope, expr.value)
                if not passed or len({self.ctx.code(value) for value, _ in passed}) != 1:
                    return expr
                expr, statement = passed[0]
            elif definition.kind != "assign" or definition.value is None or definition.statement is None:
                return expr
            else:
                expr, statement = definition.value, definition.statement
            depth += 1
        return expr

    def _string(self, expr: Optional[cst.BaseExpression], statement: Statement) -> Optional[str]:
        if expr is None:
            return None
        value = self._value(expr, statement)
        text = string_value(value) if value is not None else None
        if text is None:  # `self.hparams.arch`, `cfg.model_name`: a setting the code shows
            setting = self.ctx.fact(Settings).literal(expr, statement)
            text = string_value(setting) if setting is not None else None
        return text

    def _weights(self, expr: Optional[cst.BaseExpression], statement: Statement, builder: Optional[str]) -> Optional[str]:
        """`ResNet50_Weights.IMAGENET1K_V2` (or `pretrained` when only that much is sure) for a
        weights argument that certainly names weights; None for None and what cannot be told."""
        value = self._value(expr, statement)
        if value is None or (isinstance(value, cst.Name) and value.value == "None"):
            return None
        text = string_value(value)
        enum = TORCHVISION_BUILDERS[builder][0] if builder in TORCHVISION_BUILDERS else None
        if text is not None:
            if "." in text:
                return text
            return f"{enum}.{text}" if enum else "pretrained"
        if isinstance(value, cst.Call):
            qualified = self.ctx.qualified_name(value.func)
            if qualified == "torchvision.models.get_weight":
                inner = self._string(argument(value, 0, "name"), statement)
                return inner or "pretrained"
            return None
        dotted = dotted_name(value)
        if dotted is None:
            return None
        parts = dotted.split(".")
        if len(parts) >= 2 and parts[-2].endswith("_Weights"):
            return f"{parts[-2]}.{parts[-1]}"
        return None

    # -- is it the model the module trains? ---------------------------------------------------------

    SYNTHETIC_TENSORS = frozenset(
        f"torch.{name}" for name in ("randn", "rand", "zeros", "ones", "empty", "full", "randint", "arange", "tensor")
    )

    def fed_only_synthetic(self, model: PretrainedModel) -> bool:
        """Whether every call of the model this module shows feeds it a tensor made up on the
        spot (`model(torch.randn(1, 3, 224, 224))`): a demo or a shape check, not a data path."""
        node = model.statement.node
        if not isinstance(node, cst.Assign) or len(node.targets) != 1:
            return False
        name = dotted_name(node.targets[0].target)
        if name is None:
            return False
        calls = [
            site
            for site in self.flow.call_sites_named(name.split(".")[-1])
            if site.statement is not None
            and dotted_name(site.node.func) == name
            and self.flow.definition(name, site.statement).statement is model.statement
        ]
        return bool(calls) and all(self._synthetic(site) for site in calls)

    def _synthetic(self, site: CallSite) -> bool:
        args = positional_args(site.node)
        if not args:
            return False
        value = args[0]
        if isinstance(value, cst.Name) and site.statement is not None:
            definition = self.flow.definition(value.value, site.statement)
            if definition.kind != "assign" or definition.value is None:
                return False
            value = definition.value
        while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value in ("to", "cuda", "float"):
            value = value.func.value  # torch.randn(...).to(device)
        return isinstance(value, cst.Call) and self.ctx.qualified_name(value.func) in self.SYNTHETIC_TENSORS

    def trained_elsewhere(self, model: PretrainedModel) -> bool:
        """Whether an optimizer (or a Hugging Face Trainer) of this module trains parameters that
        certainly do not contain the pretrained model's."""
        key = id(model)
        if key not in self._elsewhere:
            verdict = False
            for expr, statement in self._optimized_roots():
                if self._connected(expr, statement, model, 0, set()) is False:
                    verdict = True
                    break
            self._elsewhere[key] = verdict
        return self._elsewhere[key]

    def _optimized_roots(self) -> List[Tuple[cst.BaseExpression, Statement]]:
        if self._optimized is None:
            roots: List[Tuple[cst.BaseExpression, Statement]] = []
            for site in self.ctx.index.call_sites.values():
                if site.statement is None:
                    continue
                qualified = self.ctx.qualified_name(site.node.func) or ""
                short = qualified.split(".")[-1]
                if qualified.startswith("torch.optim.") and short[:1].isupper() and ".lr_scheduler." not in qualified and ".swa_utils." not in qualified:
                    params = argument(site.node, 0, "params")
                    if params is not None:
                        groups = list(self._parameter_owners(params, site.statement, 0))
                        roots.extend((owner, at) for owner, at in groups)
                elif qualified in ("transformers.Trainer", "transformers.Seq2SeqTrainer"):
                    owner = keyword_arg(site.node, "model")
                    if owner is not None:
                        roots.append((owner, site.statement))
            self._optimized = roots
        return self._optimized

    def _parameter_owners(self, expr: cst.CSTNode, statement: Statement, depth: int) -> Iterator[Tuple[cst.BaseExpression, Statement]]:
        """The modules whose `.parameters()` an optimizer's params expression takes."""
        if depth > 3:
            return
        pending: List[cst.CSTNode] = [expr]
        while pending:
            node = pending.pop()
            if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in (
                "parameters", "named_parameters",
            ):
                yield _strip_attributes(node.func.value), statement
                continue
            if isinstance(node, cst.Name) and depth < 3:
                definition = self.flow.definition(node.value, statement)
                if definition.kind == "assign" and definition.value is not None and definition.statement is not None:
                    yield from self._parameter_owners(definition.value, definition.statement, depth + 1)
                continue
            if isinstance(node, (cst.Lambda, cst.FunctionDef)):
                continue
            pending.extend(node.children)

    def _connected(self, expr: cst.BaseExpression, statement: Statement, model: PretrainedModel, depth: int, seen: Set[int]) -> Optional[bool]:
        """Whether the module `expr` is (or contains) the pretrained model: True, False, or None
        when the module does not show it."""
        if depth > MAX_DEPTH or id(expr) in seen:
            return None
        seen = seen | {id(expr)}
        if expr is model.node:
            return True
        if isinstance(expr, cst.Call):
            return self._connected_call(expr, statement, model, depth, seen)
        if isinstance(expr, cst.Name):
            if expr.value == "self":
                owner = self.ctx.index.enclosing_class(statement.scope)
                return self._class_contains(owner, model, depth, seen) if owner is not None else None
            definition = self.flow.definition(expr.value, statement)
            if definition.kind == "assign" and definition.value is not None and definition.statement is not None:
                return self._connected(definition.value, definition.statement, model, depth + 1, seen)
            if definition.kind == "param" and definition.scope is not None:
                return self._connected_param(definition.scope, expr.value, model, depth, seen)
            return None
        dotted = dotted_name(expr)
        if dotted is not None and dotted.startswith("self.") and dotted.count(".") == 1:
            definitions = self.flow.self_attribute_definitions(dotted, statement)
            if definitions is None:
                return None
            verdicts = [
                self._connected(d.value, d.statement, model, depth + 1, seen)
                for d in definitions
                if d.kind == "assign" and d.value is not None and d.statement is not None
            ]
            if any(v is True for v in verdicts):
                return True
            if verdicts and all(v is False for v in verdicts):
                return False
            return None
        if isinstance(expr, cst.Attribute):
            return self._connected(_strip_attributes(expr), statement, model, depth + 1, seen)
        return None

    def _connected_call(self, call: cst.Call, statement: Statement, model: PretrainedModel, depth: int, seen: Set[int]) -> Optional[bool]:
        if call is model.node:
            return True
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value in WRAPPER_METHODS and self.ctx.qualified_name(func) is None:
            return self._connected(func.value, statement, model, depth + 1, seen)
        args = [arg.value for arg in call.args]
        if any(self._connected(arg, statement, model, depth + 1, seen) is True for arg in args):
            return True  # nn.DataParallel(model), Wrapper(backbone)
        site = self.ctx.index.call_sites.get(call)
        callee = self.flow.callee(site) if site is not None else None
        if callee is not None and not callee.is_module:
            return _inside(model.scope, callee) or self._calls_reach(callee, model, depth)
        if isinstance(func, cst.Name):
            info = self.ctx.index.class_by_name.get(func.value)
            if info is not None and self.ctx.imports.qualify(func.value) is None:
                return self._class_contains(info, model, depth, seen)
        qualified = self.ctx.qualified_name(func)
        if qualified is not None and (qualified.startswith(("torchvision.models.", "timm.", "transformers.", "segmentation_models_pytorch.")) or qualified == "torch.hub.load"):
            return False  # another library model
        # torch.nn layers (a linear probe's head on the pretrained features) say nothing either way
        return None

    def _connected_param(self, scope: Scope, name: str, model: PretrainedModel, depth: int, seen: Set[int]) -> Optional[bool]:
        if not isinstance(scope.node, cst.FunctionDef):
            return None
        params = [p.name.value for p in list(scope.node.params.posonly_params) + list(scope.node.params.params)]
        if scope.class_info is not None and params and params[0] in ("self", "cls"):
            params = params[1:]
        sites: List[CallSite] = []
        if scope.function_name == "__init__" and scope.class_info is not None:
            named = self.flow.call_sites_named(scope.class_info.name)
            sites = [site for site in named if isinstance(site.node.func, cst.Name)]
        else:
            sites = self.flow.callers(scope)
        verdicts = []
        for site in sites:
            if site.statement is None or any(arg.star for arg in site.node.args):
                return None
            value = keyword_arg(site.node, name)
            if value is None and name in params:
                positional = positional_args(site.node)
                index = params.index(name)
                value = positional[index] if index < len(positional) else None
            if value is None:
                return None
            verdicts.append(self._connected(value, site.statement, model, depth + 1, seen))
        if any(v is True for v in verdicts):
            return True
        if verdicts and all(v is False for v in verdicts):
            return False
        return None

    def _class_contains(self, info: ClassInfo, model: PretrainedModel, depth: int, seen: Set[int]) -> Optional[bool]:
        for method in info.methods.values():
            if _inside(model.scope, method) or self._calls_reach(method, model, depth):
                return True
        # attributes set from constructor arguments: `self.backbone = backbone`
        init = info.methods.get("__init__")
        if init is not None:
            for statement in init.statements:
                node = statement.node
                if isinstance(node, cst.Assign) and isinstance(node.value, cst.Name) and init.parameter(node.value.value) is not None:
                    if self._connected_param(init, node.value.value, model, depth + 1, seen) is True:
                        return True
        return False

    def _calls_reach(self, scope: Scope, model: PretrainedModel, depth: int) -> bool:
        """Whether a function of this module builds the model through the helpers it calls."""
        if depth > 2:
            return False
        for site in scope.calls:
            callee = self.flow.callee(site)
            if callee is not None and not callee.is_module and callee is not scope:
                if _inside(model.scope, callee) or self._calls_reach(callee, model, depth + 1):
                    return True
            func = site.node.func
            if isinstance(func, cst.Name):
                info = self.ctx.index.class_by_name.get(func.value)
                if info is not None and self.ctx.imports.qualify(func.value) is None and depth < 2:
                    if any(_inside(model.scope, m) for m in info.methods.values()):
                        return True
        return False


_BACKBONE_BUILDERS = frozenset(name for name, (_, family) in TORCHVISION_BUILDERS.items()) - frozenset()


def _enum_family(weights: str) -> Optional[str]:
    enum = weights.split(".")[0]
    builder = ENUM_BUILDER.get(enum)
    return TORCHVISION_BUILDERS[builder][1] if builder else None


def _inside(scope: Scope, container: Scope) -> bool:
    while scope is not None:
        if scope is container:
            return True
        scope = scope.parent
    return False


def _strip_attributes(expr: cst.BaseExpression) -> cst.BaseExpression:
    """`model` for `model.fc.weight`; `self.model` for `self.model.head`."""
    while isinstance(expr, cst.Attribute):
        inner = expr.value
        if isinstance(inner, cst.Name) and inner.value == "self":
            return expr
        expr = inner
    return expr


def _is_true(expr: Optional[cst.BaseExpression]) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "True"


def _arg_node(call: cst.Call, keyword: str) -> Optional[cst.Arg]:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == keyword:
            return arg
    return None


def _first_arg_node(call: cst.Call) -> Optional[cst.CSTNode]:
    for arg in call.args:
        if arg.keyword is None and not arg.star:
            return arg.value
        if arg.keyword is not None and arg.keyword.value == "pretrained_model_name_or_path":
            return arg
    return None
