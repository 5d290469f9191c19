"""Input preprocessing: the pipelines that turn images into model inputs, whether they normalize
and with which statistics, where images come from (and in which channel order), and the
evidence of normalization or BGR->RGB conversion anywhere in the module.

Built on the transform-pipeline facts (``analysis/transforms.py``): an *input pipeline* is a
pipeline fed to a dataset as ``transform=`` / ``transforms=`` (or under a transform-like keyword of
any call), or applied to an image in this module (not to a mask or label). It *normalizes* when it
holds a ``Normalize`` (torchvision v1/v2, albumentations, kornia), and it is *complete* when it
also turns the image into a tensor (``ToTensor``, ``PILToTensor``, ``ToImage``/``ToDtype``,
albumentations ``ToTensorV2``/``ToFloat``). A pipeline with an element the analysis does not
understand (``weights.transforms()`` inside a ``Compose``, a lambda, a class of the module) is
never said not to normalize.

Hand-written preprocessing (``ImageReads``): images read with OpenCV (BGR), PIL, torchvision.io
or imageio, followed forward through resizes, array and tensor conversions and arithmetic to
where they go: a transform pipeline, a model, or out of a ``Dataset.__getitem__``.

Evidence that a check must not overlook is collected by the checks during the one traversal
(``NormalizationEvidence.observe``): manual ``(x - mean) / std`` arithmetic, ``x * 2 - 1``,
``sub_(mean).div_(std)``, calls to normalizing helpers, and channel reversals
(``cvtColor(..., COLOR_BGR2RGB)``, ``img[..., ::-1]``, ``img[:, :, [2, 1, 0]]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Set, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import CarryPolicy, DataFlow, SinkHit, Sinks
from nnlint.analysis.index import CallSite, Scope, Statement
from nnlint.analysis.names import (
    sequence_elements,
    unpacked_index,
    argument,
    callee_terminal_name,
    dotted_name,
    keyword_arg,
    number_value,
    positional_args,
    string_value,
)
from nnlint.analysis.targets import is_target_like_name, kind_by_name
from nnlint.analysis.transforms import Pipeline, TransformPipelines
from nnlint.families.pretrained.pretrained_models import PretrainedModels
from nnlint.families.pretrained.statistics import LIBRARY_CONSTANTS

Triple = Tuple[float, float, float]

TO_TENSOR_OPS = frozenset({"ToTensor", "PILToTensor", "ToImage", "ToImageTensor", "ToDtype", "ConvertImageDtype", "ToTensorV2", "ToFloat", "ToPureTensor"})
NORMALIZE_NAMES = frozenset({"Normalize", "normalize"})
NORMALIZE_LIBRARIES = ("torchvision.transforms", "albumentations", "kornia")
# keywords under which a call receives an image pipeline (any callee)
TRANSFORM_KEYWORDS = frozenset(
    {"transform", "transforms", "image_transform", "img_transform", "train_transform", "val_transform", "test_transform",
     "transform_train", "transform_test", "transform_val", "input_transform"}
)
NORMALIZING_WORDS = re.compile(r"mean|std|stddev|sigma|\bmu\b|imagenet|normaliz|standardiz|127\.5|\b128\b|\b0\.5\b|pixel_mean|pixel_std", re.IGNORECASE)
HELPER_WORDS = re.compile(r"normaliz|standardiz|processor|feature_extractor|preprocess", re.IGNORECASE)
TRANSFORM_CALL_WORDS = re.compile(r"transform|preprocess|processor|tfm|augment|feature_extractor|^aug$|^tf$", re.IGNORECASE)
LOADER_FUNCTION_WORDS = re.compile(r"load|read|preprocess|prepare|image|img|frame|getitem", re.IGNORECASE)
BGR_SWAP_CODES = re.compile(r"COLOR_(BGR2RGB|BGRA2RGB|BGR2RGBA|BGRA2RGBA|RGB2BGR|RGBA2BGR|RGB2BGRA)$")
IMAGE_READERS = {
    "cv2.imread": "cv2", "cv2.imdecode": "cv2", "PIL.Image.open": "pil", "torchvision.io.read_image": "tensor",
    "torchvision.io.decode_image": "tensor", "torchvision.io.decode_jpeg": "tensor", "imageio.imread": "rgb",
    "imageio.v2.imread": "rgb", "imageio.v3.imread": "rgb", "skimage.io.imread": "rgb",
}
GRAYSCALE_FLAGS = frozenset({"cv2.IMREAD_GRAYSCALE", "cv2.IMREAD_UNCHANGED", "cv2.IMREAD_ANYDEPTH", "cv2.IMREAD_REDUCED_GRAYSCALE_2",
                             "cv2.IMREAD_REDUCED_GRAYSCALE_4", "cv2.IMREAD_REDUCED_GRAYSCALE_8"})
COLOR_FLAGS = frozenset({"cv2.IMREAD_COLOR", "cv2.IMREAD_COLOR_BGR", "cv2.IMREAD_ANYCOLOR", "cv2.IMREAD_REDUCED_COLOR_2",
                         "cv2.IMREAD_REDUCED_COLOR_4", "cv2.IMREAD_REDUCED_COLOR_8"})
TARGET_PATH_WORDS = re.compile(r"mask|label|seg|annot|anno|depth|gt|trimap|target", re.IGNORECASE)


# --- evidence seen during the traversal ---------------------------------------------------------


@dataclass
class NormalizationEvidence:
    """What a check saw while the tree was walked: manual normalizations and channel reversals."""

    manual: List[Tuple[cst.CSTNode, Optional[Statement]]] = field(default_factory=list)
    reversals: List[Tuple[cst.CSTNode, Optional[Statement]]] = field(default_factory=list)
    # calls of things named like normalizers or preprocessors (`normalize_batch(x)`, `processor(...)`)
    helpers: List[Tuple[cst.Call, Optional[Statement]]] = field(default_factory=list)

    def observe(self, ctx: ModuleContext, node: cst.CSTNode, statement: Optional[Statement]) -> None:
        if isinstance(node, cst.Call) and _is_helper_call(ctx, node):
            self.helpers.append((node, statement))
        elif is_manual_normalization(ctx, node):
            self.manual.append((node, statement))
        if is_channel_reversal(ctx, node):
            self.reversals.append((node, statement))


def _text(ctx: ModuleContext, node: cst.CSTNode) -> str:
    return ctx.code(node)


def is_manual_normalization(ctx: ModuleContext, node: cst.CSTNode) -> bool:
    """`(x - mean) / std`, `x - MEAN`, `x * 2 - 1`, `x / 127.5 - 1`, `x -= mean`, `x.sub_(m).div_(s)`,
    `normalize_image(x)`."""
    if isinstance(node, cst.BinaryOperation):
        operator = node.operator
        if isinstance(operator, cst.Divide):
            left = node.left
            if isinstance(left, cst.BinaryOperation) and isinstance(left.operator, cst.Subtract):
                return bool(NORMALIZING_WORDS.search(_text(ctx, left.right)) or NORMALIZING_WORDS.search(_text(ctx, node.right))
                            or isinstance(left.right, (cst.List, cst.Tuple, cst.Call)))
            return bool(re.search(r"std|sigma|stddev", _text(ctx, node.right), re.IGNORECASE))
        if isinstance(operator, cst.Subtract):
            right_text = _text(ctx, node.right)
            if re.search(r"mean|\bmu\b|pixel_mean|imagenet", right_text, re.IGNORECASE):
                return True
            if number_value(node.right) in (1.0, 0.5, 127.5, 128.0):
                left = node.left
                if isinstance(left, cst.BinaryOperation):
                    factor = number_value(left.right) if number_value(left.right) is not None else number_value(left.left)
                    if isinstance(left.operator, cst.Multiply) and factor in (2.0,):
                        return True
                    if isinstance(left.operator, cst.Divide) and factor in (127.5, 128.0, 255.0):
                        return True
            return False
        return False
    if isinstance(node, cst.AugAssign):
        if isinstance(node.operator, cst.SubtractAssign):
            return bool(re.search(r"mean|\bmu\b|127\.5|\b128\b", _text(ctx, node.value), re.IGNORECASE))
        if isinstance(node.operator, cst.DivideAssign):
            return bool(re.search(r"std|sigma|127\.5|\b128\b", _text(ctx, node.value), re.IGNORECASE))
        return False
    if isinstance(node, cst.Call):
        name = callee_terminal_name(node) or ""
        qualified = ctx.qualified_name(node.func)
        if qualified == "torch.nn.functional.normalize":
            return False  # L2 normalization of features
        if name in ("sub", "sub_", "div", "div_") and node.args:
            return bool(NORMALIZING_WORDS.search(_text(ctx, node.args[0].value)))
    return False


def _is_helper_call(ctx: ModuleContext, node: cst.Call) -> bool:
    name = callee_terminal_name(node) or ""
    return bool(HELPER_WORDS.search(name)) and ctx.qualified_name(node.func) != "torch.nn.functional.normalize"


def is_channel_reversal(ctx: ModuleContext, node: cst.CSTNode) -> bool:
    """`cv2.cvtColor(x, cv2.COLOR_BGR2RGB)`, `x[..., ::-1]`, `x[:, :, ::-1]`, `x[:, :, [2, 1, 0]]`,
    `x.transpose(2, 0, 1)[::-1]`, `np.flip(x, axis=2)`, `cv2.split`, `bgr2rgb(x)`."""
    if isinstance(node, cst.Subscript):
        elements = node.slice
        for index, element in enumerate(elements):
            part = element.slice
            if isinstance(part, cst.Index) and isinstance(part.value, (cst.List, cst.Tuple)):
                values = [number_value(e.value) for e in part.value.elements]
                if values in ([2.0, 1.0, 0.0], [2.0, 1.0, 0.0, 3.0]):
                    return True
            if _is_reverse_slice(part):
                if index >= 2:
                    return True
                if index == 1 and isinstance(elements[0].slice, cst.Index) and _is_ellipsis(elements[0].slice.value):
                    return True
                if index == 0 and len(elements) == 1:
                    value = node.value
                    if isinstance(value, cst.Call) and callee_terminal_name(value) in ("transpose", "permute"):
                        return True
        return False
    if isinstance(node, cst.Call):
        qualified = ctx.qualified_name(node.func) or ""
        name = (callee_terminal_name(node) or "").lower()
        if qualified == "cv2.cvtColor":
            code = argument(node, 1, "code")
            text = dotted_name(code) if code is not None else None
            return text is not None and bool(BGR_SWAP_CODES.search(text))
        if qualified in ("cv2.split", "cv2.merge"):
            return True
        if "bgr2rgb" in name or "rgb2bgr" in name or "to_rgb" in name or "bgr_to_rgb" in name:
            return True
        if qualified == "numpy.flip":
            axis = argument(node, 1, "axis")
            return axis is not None and number_value(axis) in (2.0, -1.0)
        if name == "flip" and qualified == "" and node.args:
            dims = node.args[0].value
            values = [number_value(e.value) for e in dims.elements] if isinstance(dims, (cst.List, cst.Tuple)) else [number_value(dims)]
            return values in ([0.0], [1.0])  # CHW channel axis, NCHW channel axis
    return False


def _is_reverse_slice(part: cst.BaseSlice) -> bool:
    return (
        isinstance(part, cst.Slice)
        and part.lower is None
        and part.upper is None
        and part.step is not None
        and number_value(part.step) == -1.0
    )


def _is_ellipsis(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Ellipsis)


# --- input pipelines ------------------------------------------------------------------------------


@dataclass(eq=False, repr=False)
class InputPipeline:
    pipeline: Pipeline
    use: cst.CSTNode  # where it is fed or applied
    statement: Statement

    @property
    def normalize_ops(self):
        return self.pipeline.ops_named("Normalize")

    @property
    def complete(self) -> bool:
        return any(op.name in TO_TENSOR_OPS for op in self.pipeline.ops)


@dataclass(eq=False, repr=False)
class NormalizeCall:
    """A Normalize construction or a functional normalize call, with its statistics when known."""

    node: cst.Call
    statement: Statement
    library: str  # torchvision | albumentations | kornia
    functional: bool
    mean: Optional[Tuple[float, ...]]
    std: Optional[Tuple[float, ...]]
    # albumentations max_pixel_value (statistics are multiplied by it); None when unknown
    scale: Optional[float] = 1.0


class InputPipelines:
    """Get it with ``ctx.fact(InputPipelines)``."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        self.transforms = ctx.fact(TransformPipelines)
        self._inputs: Optional[List[InputPipeline]] = None
        self._normalizes: Optional[List[NormalizeCall]] = None

    def inputs(self) -> List[InputPipeline]:
        """Pipelines of this module that images go through (fed to datasets or applied to images)."""
        if self._inputs is None:
            found: List[InputPipeline] = []
            seen: Set[int] = set()

            def add(pipelines: Iterable[Pipeline], use: cst.CSTNode, statement: Statement) -> None:
                for pipeline in pipelines:
                    if id(pipeline.node) not in seen:
                        seen.add(id(pipeline.node))
                        found.append(InputPipeline(pipeline, use, statement))

            if self.transforms.enabled:
                for feed in self.transforms.dataset_feeds():
                    if feed.site.statement is None:
                        continue
                    for expr in (feed.transform, feed.transforms):
                        if expr is not None:
                            resolved = self.transforms.resolve(expr, feed.site.statement)
                            add([p for p in resolved if not self._is_target_pipeline(p)], feed.node, feed.site.statement)
                for site in self.ctx.index.call_sites.values():
                    if site.statement is None:
                        continue
                    for arg in site.node.args:
                        if arg.keyword is not None and arg.keyword.value in TRANSFORM_KEYWORDS:
                            resolved = self.transforms.resolve(arg.value, site.statement)
                            add([p for p in resolved if not self._is_target_pipeline(p)], site.node, site.statement)
                for application in self.transforms.applications():
                    image = application.image
                    if image is None or application.statement is None or self._is_target(image):
                        continue
                    pipelines = [p for p in application.pipelines if not self._is_target_pipeline(p)]
                    if all(_conversion_only(p) for p in pipelines) and not self._feeds_model(application):
                        continue  # a lone ToTensor(): an input only where it visibly goes to the model
                    add(pipelines, application.node, application.statement)
            self._inputs = found
        return self._inputs

    def _feeds_model(self, application) -> bool:
        hit = self.flow.find_sink(application.node, application.statement, _ImageCarry(channel_order=False), _ModelInputSinks(self.ctx))
        return hit is not None and hit.description in ("model", "dataset", "loader")

    def _is_target_pipeline(self, pipeline: Pipeline) -> bool:
        """A pipeline bound to a name that says it is for masks, labels, depth..."""
        name = pipeline_name(pipeline)
        return name is not None and (kind_by_name(name.replace("transform", "").replace("tf", "")) is not None
                                     or is_target_like_name(name.replace("transform", "").replace("tf", "")))

    def _is_target(self, expr: cst.BaseExpression) -> bool:
        name = dotted_name(expr) or self.ctx.code(expr)
        return kind_by_name(name) is not None or is_target_like_name(name)

    def unnormalized(self) -> List[InputPipeline]:
        """Complete input pipelines with no normalization in them and nothing unknown."""
        return [
            item for item in self.inputs()
            if item.complete and not item.normalize_ops and not item.pipeline.unresolved
            and not any(self._may_normalize(op) for op in item.pipeline.ops)
        ]

    def _may_normalize(self, op) -> bool:
        """A Lambda or a transform class of this module whose code mentions normalization."""
        if op.library == "custom" or op.name in ("Lambda", "LinearTransformation", "ToNumpy"):
            node = op.node
            if op.library == "custom" and isinstance(node, cst.Call) and isinstance(node.func, cst.Name):
                info = self.ctx.index.class_by_name.get(node.func.value)
                if info is not None:
                    return bool(NORMALIZING_WORDS.search(self.ctx.code(info.node)))
            return True if op.library == "custom" else bool(NORMALIZING_WORDS.search(self.ctx.code(node)) or "2 - 1" in self.ctx.code(node))
        return False

    def normalize_calls(self) -> List[NormalizeCall]:
        """Every Normalize construction and functional normalize call of the module."""
        if self._normalizes is None:
            found: List[NormalizeCall] = []
            for site in self.ctx.index.call_sites.values():
                if site.statement is None:
                    continue
                qualified = self.ctx.qualified_name(site.node.func)
                if qualified is None or qualified.split(".")[-1] not in NORMALIZE_NAMES:
                    continue
                if not qualified.startswith(NORMALIZE_LIBRARIES):
                    continue
                found.append(self._normalize_call(site, qualified))
            self._normalizes = found
        return self._normalizes

    def _normalize_call(self, site: CallSite, qualified: str) -> NormalizeCall:
        call = site.node
        statement = site.statement
        assert statement is not None
        library = qualified.split(".")[0]
        functional = qualified.split(".")[-1] == "normalize"
        offset = 1 if functional else 0
        mean_expr = argument(call, offset, "mean")
        std_expr = argument(call, offset + 1, "std")
        starred = [arg.value for arg in call.args if arg.star == "*"]
        if starred and mean_expr is None and std_expr is None:
            pair = self.numbers_pair(starred[0], statement)
            mean, std = pair if pair is not None else (None, None)
        else:
            mean = self.numbers(mean_expr, statement) if mean_expr is not None else None
            std = self.numbers(std_expr, statement) if std_expr is not None else None
        scale: Optional[float] = 1.0
        if library == "albumentations":
            if mean_expr is None and not starred:
                mean = (0.485, 0.456, 0.406)
            if std_expr is None and not starred:
                std = (0.229, 0.224, 0.225)
            pixel = keyword_arg(call, "max_pixel_value")
            scale = 255.0 if pixel is None else self.number(pixel, statement)
            scale = scale / 255.0 if scale else None
            how = keyword_arg(call, "normalization")
            if how is not None and string_value(how) != "standard":
                mean = std = None
        return NormalizeCall(call, statement, library, functional, mean, std, scale)

    # -- numbers through constants and simple assignments --------------------------------------------

    def number(self, expr: cst.BaseExpression, statement: Statement, depth: int = 0) -> Optional[float]:
        values = self.numbers(expr, statement, depth)
        return values[0] if values is not None and len(values) == 1 else None

    def numbers(self, expr: Optional[cst.BaseExpression], statement: Statement, depth: int = 0) -> Optional[Tuple[float, ...]]:
        """The numbers a mean/std expression holds: a literal, a tuple/list, `[0.5] * 3`, a module
        constant, a simple assignment, `np.array([...])`, `torch.tensor([...])`, a library constant
        (`timm.data.IMAGENET_DEFAULT_MEAN`), `STATS["mean"]` of a literal dict."""
        if expr is None or depth > 6:
            return None
        value = number_value(expr)
        if value is not None:
            return (value,)
        if isinstance(expr, (cst.List, cst.Tuple)):
            items: List[float] = []
            for element in expr.elements:
                if isinstance(element, cst.StarredElement):
                    return None
                inner = self.numbers(element.value, statement, depth + 1)
                if inner is None or len(inner) != 1:
                    return None
                items.append(inner[0])
            return tuple(items) if items else None
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Multiply):
            for sequence, count in ((expr.left, expr.right), (expr.right, expr.left)):
                times = number_value(count)
                if times is not None and isinstance(sequence, (cst.List, cst.Tuple)):
                    inner = self.numbers(sequence, statement, depth + 1)
                    if inner is not None and times == int(times) and 0 < times <= 4:
                        return inner * int(times)
            return None
        if isinstance(expr, cst.Call):
            qualified = self.ctx.qualified_name(expr.func)
            if qualified in ("numpy.array", "numpy.asarray", "torch.tensor", "torch.Tensor", "torch.as_tensor",
                             "torch.FloatTensor", "builtins.tuple", "builtins.list", "numpy.float32"):
                args = positional_args(expr)
                return self.numbers(args[0], statement, depth + 1) if args else None
            return None
        if isinstance(expr, cst.Subscript):
            entry = self._dict_entry(expr, statement)
            return self.numbers(entry[0], entry[1], depth + 1) if entry is not None else None
        qualified = self.ctx.qualified_name(expr) if isinstance(expr, (cst.Name, cst.Attribute)) else None
        if qualified is not None and qualified in LIBRARY_CONSTANTS:
            return LIBRARY_CONSTANTS[qualified]
        found = self._definition_value(expr, statement)
        if found is not None:
            return self.numbers(found[0], found[1], depth + 1)
        return None

    def numbers_pair(self, expr: cst.BaseExpression, statement: Statement) -> Optional[Tuple[Tuple[float, ...], Tuple[float, ...]]]:
        """`stats = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))` for `Normalize(*stats)`."""
        found = self._definition_value(expr, statement) if isinstance(expr, cst.Name) else (expr, statement)
        if found is None or not isinstance(found[0], (cst.Tuple, cst.List)) or len(found[0].elements) != 2:
            return None
        mean = self.numbers(found[0].elements[0].value, found[1])
        std = self.numbers(found[0].elements[1].value, found[1])
        return (mean, std) if mean is not None and std is not None else None

    def _dict_entry(self, expr: cst.Subscript, statement: Statement) -> Optional[Tuple[cst.BaseExpression, Statement]]:
        """`STATS["cifar10"]` (or `STATS[DATASET]` with `DATASET = "cifar10"`) of a literal dict."""
        if len(expr.slice) != 1 or not isinstance(expr.slice[0].slice, cst.Index):
            return None
        index = expr.slice[0].slice.value
        key = string_value(index)
        if key is None:
            found = self._definition_value(index, statement)
            key = string_value(found[0]) if found is not None else None
        base = self._definition_value(expr.value, statement)
        if key is None or base is None or not isinstance(base[0], cst.Dict):
            return None
        for element in base[0].elements:
            if isinstance(element, cst.DictElement) and string_value(element.key) == key:
                return element.value, base[1]
        return None

    def _definition_value(self, expr: cst.BaseExpression, statement: Statement) -> Optional[Tuple[cst.BaseExpression, Statement]]:
        if isinstance(expr, cst.Name):
            definition = self.flow.definition(expr.value, statement)
            if definition.kind == "unpacked" and definition.statement is not None and definition.value is not None:
                # mean, std = STATS[DATASET]
                index = unpacked_index(definition.statement.node, expr.value)
                container = definition.value
                if isinstance(container, cst.Subscript):
                    found = self._dict_entry(container, definition.statement)
                else:
                    found = self._definition_value(container, definition.statement)
                elements = sequence_elements(found[0]) if found is not None else None
                if index is not None and elements is not None and index < len(elements):
                    return elements[index], found[1]  # type: ignore[index]
                return None
            if definition.kind == "assign" and definition.value is not None and definition.statement is not None:
                # a name bound more than once at module level is not a constant we can trust
                if definition.is_module_level and len(self.flow.module_definitions(expr.value)) > 1:
                    return None
                return definition.value, definition.statement
            return None
        dotted = dotted_name(expr)
        definitions = self.flow.self_attribute_definitions(dotted, statement) if dotted is not None else None
        if definitions and len(definitions) == 1:
            only = definitions[0]
            if only.kind == "assign" and only.value is not None and only.statement is not None:
                return only.value, only.statement
        return None

    # -- normalization that happens outside the pipelines --------------------------------------------

    def normalizer_applied(self) -> bool:
        """Whether a normalizing callable whose own statistics we cannot see is applied to data in
        this module: `weights.transforms()` / timm `create_transform` / a CLIP `preprocess` / a Hugging
        Face image processor, called rather than handed to a dataset."""
        names: Set[str] = set()
        for scope in self.ctx.index.scopes:
            for statement in scope.statements:
                node = statement.node
                if not isinstance(node, cst.Assign) or not isinstance(node.value, cst.Call):
                    continue
                if self._is_normalizer(node.value):
                    for target in node.targets:
                        for element in _targets(target.target):
                            dotted = dotted_name(element)
                            if dotted:
                                names.add(dotted)
                elif self._returns_preprocess(node.value):
                    for target in node.targets:
                        elements = _targets(target.target)
                        if len(elements) >= 2:
                            dotted = dotted_name(elements[-1])
                            if dotted:
                                names.add(dotted)
        for site in self.ctx.index.call_sites.values():
            func = site.node.func
            if isinstance(func, cst.Call) and self._is_normalizer(func):
                return True
            dotted = dotted_name(func)
            if dotted is not None and dotted in names:
                return True
        return False

    def _is_normalizer(self, call: cst.Call) -> bool:
        qualified = self.ctx.qualified_name(call.func) or ""
        name = callee_terminal_name(call) or ""
        if name == "transforms" and not call.args and isinstance(call.func, cst.Attribute):
            return True  # weights.transforms()
        if qualified.startswith("timm.data.") and qualified.endswith(("create_transform", "transforms_factory")):
            return True
        if qualified.startswith("transformers.") and name == "from_pretrained":
            owner = qualified.split(".")[-2]
            return "Processor" in owner or "FeatureExtractor" in owner
        if qualified.startswith("segmentation_models_pytorch.") and name == "get_preprocessing_fn":
            return True
        return False

    def _returns_preprocess(self, call: cst.Call) -> bool:
        qualified = self.ctx.qualified_name(call.func) or ""
        return qualified in ("clip.load", "open_clip.create_model_and_transforms", "open_clip.create_model_from_pretrained")


def pipeline_name(pipeline: Pipeline) -> Optional[str]:
    """`train_tf` for `train_tf = T.Compose([...])`, `self.mask_transform` for an attribute; else None."""
    statement = pipeline.statement
    node = statement.node if statement is not None else None
    if isinstance(node, cst.Assign) and len(node.targets) == 1 and node.value is pipeline.node:
        return dotted_name(node.targets[0].target)
    return pipeline.built_from


def _conversion_only(pipeline: Pipeline) -> bool:
    return bool(pipeline.ops) and all(op.name in TO_TENSOR_OPS for op in pipeline.ops)


def _targets(target: cst.BaseExpression) -> List[cst.BaseExpression]:
    if isinstance(target, (cst.Tuple, cst.List)):
        return [element.value for element in target.elements]
    return [target]


# --- hand-written image paths ----------------------------------------------------------------------


@dataclass(eq=False, repr=False)
class ImageRead:
    node: cst.Call  # the reading call
    statement: Statement
    kind: str  # cv2 (BGR) | pil | tensor | rgb
    color: bool  # a colour (3-channel) read
    target_like: bool  # assigned to / read from something named like a mask or label


@dataclass(frozen=True)
class _ImageCarry(CarryPolicy):
    """Operations after which an image is still the same image (in the same channel order, when
    `channel_order` is set: then colour conversions and channel reversals end the flow)."""

    channel_order: bool = True

    def carried_parts(self, node: cst.CSTNode, ctx: ModuleContext):
        if isinstance(node, cst.BinaryOperation):
            return (node.left, node.right)
        if isinstance(node, (cst.Tuple, cst.List)):
            return [element.value for element in node.elements]
        if isinstance(node, cst.Dict):
            return [element.value for element in node.elements if isinstance(element, cst.DictElement)]
        if isinstance(node, cst.IfExp):
            return (node.body, node.orelse)
        if isinstance(node, cst.Subscript):
            return () if self.channel_order and is_channel_reversal(ctx, node) else (node.value,)
        if isinstance(node, cst.Call):
            if self.channel_order and is_channel_reversal(ctx, node):
                return ()
            qualified = ctx.qualified_name(node.func) or ""
            args = positional_args(node)
            if qualified in ("cv2.split", "cv2.imwrite", "cv2.imshow") or (qualified == "cv2.cvtColor" and self.channel_order):
                return ()
            if qualified.startswith("cv2.") and args:
                return (args[0],)
            if qualified.split(".")[0] in ("numpy", "torch") and qualified.split(".")[-1] in CARRYING_FUNCTIONS:
                return tuple(args[:1])
            if qualified in ("PIL.Image.fromarray", "torchvision.transforms.functional.to_tensor",
                             "torchvision.transforms.functional.pil_to_tensor", "torchvision.transforms.functional.resize",
                             "torchvision.transforms.functional.center_crop", "torchvision.transforms.functional.to_pil_image"):
                return tuple(args[:1])
            if not qualified and isinstance(node.func, cst.Attribute) and node.func.attr.value in CARRYING_METHODS:
                return (node.func.value,)
        return ()


CARRYING_FUNCTIONS = frozenset(
    """asarray array ascontiguousarray float32 uint8 transpose expand_dims moveaxis stack concatenate clip pad copy
    from_numpy tensor as_tensor Tensor FloatTensor unsqueeze cat""".split()
)
CARRYING_METHODS = frozenset(
    """astype transpose copy reshape permute float double half unsqueeze to cuda cpu contiguous div sub mul add div_
    clip clamp resize crop convert numpy squeeze view unsqueeze_ __array__""".split()
)


class _ModelInputSinks(Sinks):
    """Where an image becomes a model input: a transform pipeline, a pretrained model, or the
    return of a Dataset's `__getitem__` (or of a loading helper nobody here calls)."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.transforms = ctx.fact(TransformPipelines)
        self.models = ctx.fact(PretrainedModels)
        self.flow = ctx.fact(DataFlow)

    def match_call(self, site: CallSite, carries: Callable[[cst.BaseExpression], bool]) -> Optional[SinkHit]:
        call = site.node
        if not any(carries(arg.value) for arg in call.args):
            return None
        application = self.transforms.application_of(call) if self.transforms.enabled else None
        if application is not None:
            return SinkHit(call, "transform")
        qualified = self.ctx.qualified_name(call.func)
        terminal = callee_terminal_name(call) or ""
        if self.flow.callee(site) is not None:
            return None  # a function of this module: the walk follows the image into it
        if qualified is None and TRANSFORM_CALL_WORDS.search(terminal):
            return SinkHit(call, "transform")
        if qualified is None and site.statement is not None and isinstance(call.func, (cst.Name, cst.Attribute)):
            for model in self.models.models():
                if self.models._connected(call.func, site.statement, model, 0, set()) is True:
                    return SinkHit(call, "model")
        return None

    def match_return(self, scope: Scope, node: cst.Return) -> Optional[SinkHit]:
        if scope.function_name == "__getitem__":
            return SinkHit(node, "dataset")
        if scope.function_name.startswith("_") or self.flow.callers(scope):
            return None
        if LOADER_FUNCTION_WORDS.search(scope.function_name):
            return SinkHit(node, "loader")
        return None


class ImageReads:
    """Get it with ``ctx.fact(ImageReads)``."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        self._reads: Optional[List[ImageRead]] = None
        self._sinks: Dict[Tuple[int, bool], Optional[SinkHit]] = {}

    def reads(self) -> List[ImageRead]:
        if self._reads is None:
            found: List[ImageRead] = []
            if self.ctx.imports.imports_any("cv2", "PIL", "torchvision", "imageio", "skimage"):
                for site in self.ctx.index.call_sites.values():
                    if site.statement is not None:
                        read = self._read(site)
                        if read is not None:
                            found.append(read)
            self._reads = found
        return self._reads

    def _read(self, site: CallSite) -> Optional[ImageRead]:
        call = site.node
        statement = site.statement
        assert statement is not None
        qualified = self.ctx.qualified_name(call.func)
        kind = IMAGE_READERS.get(qualified or "")
        color = True
        if kind is None:
            # `ok, frame = cap.read()` with `cap = cv2.VideoCapture(...)`
            if isinstance(call.func, cst.Attribute) and call.func.attr.value == "read" and not call.args:
                receiver = call.func.value
                if isinstance(receiver, cst.Name):
                    definition = self.flow.definition(receiver.value, statement)
                    value = definition.value if definition.kind == "assign" else None
                    if isinstance(value, cst.Call) and self.ctx.qualified_name(value.func) == "cv2.VideoCapture":
                        return ImageRead(call, statement, "cv2", True, False)
            return None
        if kind == "cv2":
            flags = argument(call, 1, "flags")
            if flags is not None:
                flag = self.ctx.qualified_name(flags) if isinstance(flags, (cst.Name, cst.Attribute)) else None
                value = number_value(flags)
                if flag in COLOR_FLAGS or value == 1.0:
                    color = True
                elif flag in GRAYSCALE_FLAGS or value in (0.0, -1.0, 2.0):
                    color = False
                else:
                    color = False  # not known: not said to be BGR
            elif qualified == "cv2.imdecode":
                color = False
        target_like = False
        node = statement.node
        if isinstance(node, cst.Assign):
            for target in node.targets:
                for element in _targets(target.target):
                    name = dotted_name(element) or ""
                    if name and (kind_by_name(name) is not None or is_target_like_name(name)):
                        target_like = True
        path = argument(call, 0, None)
        if path is not None and TARGET_PATH_WORDS.search(self.ctx.code(path)):
            target_like = True
        return ImageRead(call, statement, kind, color, target_like)

    def destination(self, read: ImageRead, channel_order: bool = True) -> Optional[SinkHit]:
        """Where the image goes first: a transform pipeline, a pretrained model, out of a
        Dataset's __getitem__ or an uncalled loading helper; None when the module does not show it
        (or, with `channel_order`, when a channel reversal / colour conversion comes first)."""
        key = (id(read.node), channel_order)
        if key not in self._sinks:
            policy = _ImageCarry(channel_order=channel_order)
            self._sinks[key] = self.flow.find_sink(read.node, read.statement, policy, _ModelInputSinks(self.ctx))
        return self._sinks[key]
