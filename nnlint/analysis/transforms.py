"""Transform pipelines: where they are built, which operations they hold, and where they are applied.

A *pipeline* is a value that transforms a sample when called: a torchvision v1 ``Compose([...])``,
a ``transforms.v2`` pipeline, an albumentations ``A.Compose([...], bbox_params=...,
keypoint_params=..., additional_targets=...)``, a kornia ``AugmentationSequential``, an
``nn.Sequential`` of transform modules, a plain list of transforms that the code loops over, or a
single transform (``T.RandomHorizontalFlip()``). Its *ops* are the transforms it holds, flattened
through nested containers (``RandomApply``, ``RandomChoice``, ``OneOf``, ``SomeOf``...), each
with its qualified name, its construction call and what it does to geometry.

Pipelines are found from where they are *used*: ``TransformPipelines.resolve(expr, statement)``
follows an expression back to the pipelines it can hold (through assignments, ``self.attr`` set in
any method, constructor arguments of this module's classes, helper functions that return a
pipeline, dict lookups, conditional expressions, lists built with ``append``/``extend``).
``applications()`` lists every call that applies a pipeline, with its inputs and whether the call
is joint (image and target in one call) or image-only; ``dataset_feeds()`` lists every dataset
construction that receives pipelines through ``transform=`` / ``target_transform=`` /
``transforms=``.

Checks ask questions of these facts; the pretrained-weights family reuses them to find
``Normalize`` ops (``Pipeline.ops_named("Normalize")``) and where each pipeline feeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import Constants, DataFlow, Definition, condition_value
from nnlint.analysis.flips import ManualGeometry, access_path
from nnlint.analysis.index import CallSite, ClassInfo, Scope, Statement
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
from nnlint.analysis.values import FixedValues
from nnlint.contracts import PipelineInput

# --- the catalogue of transforms ----------------------------------------------------------------

# Geometry kinds. Flips are "hflip"/"vflip"/"flip" (either axis); the others move pixels too.
FLIPS = frozenset({"hflip", "vflip", "flip", "transpose"})
GEOMETRIC = FLIPS | frozenset(
    {"rotate", "affine", "crop", "resized_crop", "perspective", "elastic", "resize", "pad", "policy", "zoom"}
)

# torchvision (v1 and v2 share names): name -> (geometry, random)
TORCHVISION_OPS: Dict[str, Tuple[Optional[str], bool]] = {
    "RandomHorizontalFlip": ("hflip", True),
    "RandomVerticalFlip": ("vflip", True),
    "RandomRotation": ("rotate", True),
    "RandomAffine": ("affine", True),
    "RandomCrop": ("crop", True),
    "RandomResizedCrop": ("resized_crop", True),
    "RandomSizedCrop": ("resized_crop", True),
    "RandomPerspective": ("perspective", True),
    "ElasticTransform": ("elastic", True),
    "RandomIoUCrop": ("crop", True),
    "RandomZoomOut": ("zoom", True),
    "ScaleJitter": ("resize", True),
    "RandomShortestSize": ("resize", True),
    "RandomResize": ("resize", True),
    "AutoAugment": ("policy", True),
    "RandAugment": ("policy", True),
    "TrivialAugmentWide": ("policy", True),
    "AugMix": ("policy", True),
    "Resize": ("resize", False),
    "CenterCrop": ("crop", False),
    "Pad": ("pad", False),
    "FiveCrop": ("crop", False),
    "TenCrop": ("crop", False),
}
# albumentations: name -> (geometry, random unless p=1)
ALBUMENTATIONS_OPS: Dict[str, Tuple[Optional[str], bool]] = {
    "HorizontalFlip": ("hflip", True),
    "VerticalFlip": ("vflip", True),
    "Flip": ("flip", True),
    "Transpose": ("transpose", True),
    "D4": ("flip", True),
    "RandomRotate90": ("rotate", True),
    "Rotate": ("rotate", True),
    "SafeRotate": ("rotate", True),
    "ShiftScaleRotate": ("affine", True),
    "Affine": ("affine", True),
    "RandomScale": ("resize", True),
    "Perspective": ("perspective", True),
    "ElasticTransform": ("elastic", True),
    "GridDistortion": ("elastic", True),
    "OpticalDistortion": ("elastic", True),
    "PiecewiseAffine": ("elastic", True),
    "ThinPlateSpline": ("elastic", True),
    "RandomCrop": ("crop", True),
    "RandomResizedCrop": ("resized_crop", True),
    "RandomSizedCrop": ("resized_crop", True),
    "RandomSizedBBoxSafeCrop": ("resized_crop", True),
    "BBoxSafeRandomCrop": ("crop", True),
    "AtLeastOneBBoxRandomCrop": ("crop", True),
    "CropNonEmptyMaskIfExists": ("crop", True),
    "RandomCropFromBorders": ("crop", True),
    "RandomCropNearBBox": ("crop", True),
    "CropAndPad": ("crop", True),
    "Resize": ("resize", False),
    "LongestMaxSize": ("resize", False),
    "SmallestMaxSize": ("resize", False),
    "CenterCrop": ("crop", False),
    "Crop": ("crop", False),
    "PadIfNeeded": ("pad", False),
}
KORNIA_OPS: Dict[str, Tuple[Optional[str], bool]] = {
    "RandomHorizontalFlip": ("hflip", True),
    "RandomVerticalFlip": ("vflip", True),
    "RandomRotation": ("rotate", True),
    "RandomRotation90": ("rotate", True),
    "RandomAffine": ("affine", True),
    "RandomCrop": ("crop", True),
    "RandomResizedCrop": ("resized_crop", True),
    "RandomPerspective": ("perspective", True),
    "RandomElasticTransform": ("elastic", True),
    "RandomThinPlateSpline": ("elastic", True),
    "RandomFisheye": ("elastic", True),
    "RandomShear": ("affine", True),
    "RandomTranslate": ("affine", True),
    "Resize": ("resize", False),
    "CenterCrop": ("crop", False),
    "PadTo": ("pad", False),
}
# Containers: their ops are the transforms they hold. Random ones draw which op runs.
CONTAINERS = {
    "torchvision": {"Compose": False, "RandomApply": True, "RandomChoice": True, "RandomOrder": False},
    "albumentations": {
        "Compose": False, "OneOf": True, "SomeOf": True, "Sequential": False, "OneOrOther": True,
        "ReplayCompose": False, "SelectiveChannelTransform": False,
    },
    "kornia": {"AugmentationSequential": False, "ImageSequential": False, "VideoSequential": False},
}
SEQUENTIAL = frozenset({"torch.nn.Sequential", "torch.nn.ModuleList"})
# the libraries and the qualified prefixes that name them
LIBRARY_PREFIXES = (
    ("torchvision.transforms.", "torchvision"),
    ("albumentations.", "albumentations"),
    ("kornia.augmentation.", "kornia"),
)
# albumentations call keywords that carry targets
ALBUMENTATIONS_TARGET_KEYWORDS = frozenset({"mask", "masks", "bboxes", "keypoints", "mask1", "mask2"})
MAX_DEPTH = 6


def library_of(qualified: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
    """("torchvision" | "albumentations" | "kornia", the op's class name) for a qualified name."""
    if qualified is None:
        return None, None
    for prefix, library in LIBRARY_PREFIXES:
        if qualified.startswith(prefix):
            rest = qualified[len(prefix) :]
            if library == "torchvision" and (rest.startswith("functional") or ".functional" in rest):
                return None, None
            return library, rest.split(".")[-1]
    return None, None


def is_v2(qualified: Optional[str]) -> bool:
    return qualified is not None and qualified.startswith("torchvision.transforms.v2")


# --- the facts ----------------------------------------------------------------------------------


@dataclass(eq=False, repr=False)
class TransformOp:
    """One transform inside a pipeline."""

    node: cst.Call  # its construction call
    qualified: str  # torchvision.transforms.RandomHorizontalFlip, or the module class name for custom ops
    library: str  # torchvision | albumentations | kornia | custom
    name: str  # RandomHorizontalFlip
    geometry: Optional[str]  # see GEOMETRIC; None for photometric and unknown ops
    random: bool  # draws new randomness on each call
    statement: Optional[Statement]
    v2: bool = False
    # a custom op (a class of this module) that transforms image and target together
    joint: bool = False

    @property
    def is_flip(self) -> bool:
        return self.geometry in FLIPS

    @property
    def is_random_geometric(self) -> bool:
        return self.random and self.geometry in GEOMETRIC


@dataclass(eq=False, repr=False)
class Pipeline:
    """A transform pipeline as built at one place of the code."""

    node: cst.CSTNode  # the construction expression: a Compose call, a list, a single op call
    library: str  # torchvision | albumentations | kornia | list | sequential | custom
    ops: List[TransformOp]
    statement: Optional[Statement]
    v2: bool = False
    bbox_params: Optional[cst.BaseExpression] = None
    keypoint_params: Optional[cst.BaseExpression] = None
    additional_targets: Dict[str, str] = field(default_factory=dict)  # albumentations: name -> kind
    # kornia AugmentationSequential(data_keys=[...])
    data_keys: Tuple[str, ...] = ()
    # the list name the ops were gathered from (`Compose(trans)` with `trans.append(...)`)
    built_from: Optional[str] = None
    # elements the pipeline holds that are not understood as transforms (`weights.transforms()`,
    # a lambda, an unknown name): what they do is not known
    unresolved: List[cst.CSTNode] = field(default_factory=list)

    def ops_named(self, *names: str) -> List[TransformOp]:
        return [op for op in self.ops if op.name in names]

    @property
    def flips(self) -> List[TransformOp]:
        return [op for op in self.ops if op.is_flip and op.random]

    @property
    def random_geometric(self) -> List[TransformOp]:
        return [op for op in self.ops if op.is_random_geometric]

    @property
    def geometric(self) -> List[TransformOp]:
        return [op for op in self.ops if op.geometry in GEOMETRIC]

    @property
    def is_joint_capable(self) -> bool:
        """Whether one call can transform image and targets together."""
        return self.v2 or self.library in ("albumentations", "kornia") or any(op.joint for op in self.ops)


@dataclass(eq=False, repr=False)
class Application:
    """A call that applies one of `pipelines` (several when the callee may hold either)."""

    node: cst.Call
    site: CallSite
    pipelines: List[Pipeline]
    # what is passed: ("image", expr), ("mask", expr), ... for keyword calls; ("0", expr), ("1", expr)
    # for positional ones
    inputs: List[Tuple[str, cst.BaseExpression]]
    joint: bool  # image and target(s) go through this one call together

    @property
    def image(self) -> Optional[cst.BaseExpression]:
        for role, expr in self.inputs:
            if role in ("image", "0", "input"):
                return expr
        return None

    @property
    def statement(self) -> Optional[Statement]:
        return self.site.statement

    @property
    def random_geometric(self) -> List[TransformOp]:
        seen: List[TransformOp] = []
        for pipeline in self.pipelines:
            seen.extend(op for op in pipeline.random_geometric if op not in seen)
        return seen


@dataclass(eq=False, repr=False)
class DatasetFeed:
    """A dataset constructed with transform arguments."""

    node: cst.Call
    site: CallSite
    qualified: Optional[str]  # torchvision.datasets.VOCSegmentation; None for a class of this module
    class_info: Optional[ClassInfo]
    transform: Optional[cst.BaseExpression]
    target_transform: Optional[cst.BaseExpression]
    transforms: Optional[cst.BaseExpression]


# torchvision dataset signatures: positions of transform / target_transform / transforms
DATASET_POSITIONS: Dict[str, Tuple[Optional[int], Optional[int], Optional[int]]] = {
    "MNIST": (2, 3, None), "FashionMNIST": (2, 3, None), "KMNIST": (2, 3, None), "EMNIST": (None, None, None),
    "QMNIST": (None, None, None), "SVHN": (2, 3, None), "USPS": (2, 3, None), "Omniglot": (2, 3, None),
    "CIFAR10": (2, 3, None), "CIFAR100": (2, 3, None), "VOCSegmentation": (None, None, None),
    "VOCDetection": (None, None, None), "CocoDetection": (2, 3, 4), "ImageFolder": (1, 2, None),
    "DatasetFolder": (None, None, None),
}


class TransformPipelines:
    """Get it with ``ctx.fact(TransformPipelines)``."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        # pipelines need a transform library; hand-written augmentation helpers need a flip
        self.enabled = ctx.imports.imports_any("torchvision", "albumentations", "kornia") or any(
            word in ctx.source for word in ("flip", "Flip", "FLIP", "::-1", "mirror")
        )
        self._pipelines: Dict[int, Optional[Pipeline]] = {}
        self._resolved: Dict[int, List[Pipeline]] = {}
        # call site id -> the application there (None: the call applies no pipeline)
        self._site_applications: Dict[int, Optional[Application]] = {}
        self._constructions: Optional[Dict[str, List[Tuple[CallSite, bool]]]] = None
        self._feeds: Optional[List[DatasetFeed]] = None
        self._custom_ops: Dict[int, Optional[Tuple[Optional[str], bool, bool]]] = {}
        self._summaries: Dict[int, Optional[Tuple[Optional[str], bool, bool]]] = {}
        self._helpers: Dict[Tuple[str, int], Optional[Pipeline]] = {}
        # while a pipeline is built: the elements of it that are not understood (a stack for nesting)
        self._unresolved_stack: List[List[cst.CSTNode]] = []

    # -- single ops --------------------------------------------------------------------------------

    def op(self, call: cst.Call, statement: Optional[Statement]) -> Optional[TransformOp]:
        """The transform a construction call builds, or None when it is not a transform."""
        qualified = self.ctx.qualified_name(call.func)
        library, name = library_of(qualified)
        if library is not None and name is not None and qualified is not None:
            table = {"torchvision": TORCHVISION_OPS, "albumentations": ALBUMENTATIONS_OPS, "kornia": KORNIA_OPS}[library]
            geometry, random = table.get(name, (None, name.startswith("Random")))
            if library == "albumentations" and name not in table:
                random = True  # photometric albumentations ops fire with probability p
            random = random and self._fires_randomly(call, library, name, geometry, statement)
            return TransformOp(call, qualified, library, name, geometry, random, statement, v2=is_v2(qualified))
        custom = self._custom_op(call, statement)
        if custom is not None:
            geometry, random, joint = custom
            name = dotted_name(call.func) or "transform"
            return TransformOp(call, name, "custom", name.split(".")[-1], geometry, random, statement, joint=joint)
        return None

    def literal(self, expr: Optional[cst.BaseExpression], statement: Optional[Statement], depth: int = 0) -> Optional[cst.BaseExpression]:
        """The literal a name stands for (`ROTATION = 90`, `DEGREES = (-30, 30)`), else the expression."""
        if isinstance(expr, cst.Name) and statement is not None and depth < 3:
            definition = self.flow.definition(expr.value, statement)
            if definition.kind == "assign" and definition.value is not None:
                return self.literal(definition.value, definition.statement, depth + 1)
            if definition.kind == "param" and definition.param is not None and definition.param.default is not None:
                return self.literal(definition.param.default, statement, depth + 1)
        return expr

    def _fires_randomly(self, call: cst.Call, library: str, name: str, geometry: Optional[str], statement=None) -> bool:
        """False for ops whose randomness is switched off: p=1 flips (always), p=0 (never),
        rotations over a one-point range (`RandomRotation((90, 90))`)."""
        probability = keyword_arg(call, "p")
        if probability is None and library in ("torchvision", "kornia") and geometry in FLIPS:
            args = positional_args(call)
            probability = args[0] if args else None
        probability = self.literal(probability, statement)
        value = number_value(probability) if probability is not None else None
        if value is not None and (value <= 0 or (value >= 1 and geometry in FLIPS)):
            return False
        if geometry == "rotate" and library in ("torchvision", "kornia"):
            degrees = self.literal(argument(call, 0, "degrees"), statement)
            low, high = rotation_range(degrees) if degrees is not None else (None, None)
            if low is not None and low == high:
                return False
        return True

    def _custom_op(self, call: cst.Call, statement: Optional[Statement]) -> Optional[Tuple[Optional[str], bool, bool]]:
        """A class of this module used as a transform: (geometry, random, joint) from its __call__."""
        name = call.func.value if isinstance(call.func, cst.Name) else None
        if name is None:
            return None
        info = self.ctx.index.class_by_name.get(name)
        if info is None or "__call__" not in info.methods:
            return None
        key = id(info)
        if key not in self._custom_ops:
            self._custom_ops[key] = None  # recursion guard
            self._custom_ops[key] = self.geometry_summary(info.methods["__call__"])
        return self._custom_ops[key]

    # -- what a function or transform class does to its inputs --------------------------------------

    def geometry_summary(self, scope: Scope) -> Optional[Tuple[Optional[str], bool, bool]]:
        """(geometry, random, joint) for a function that randomly flips (or applies random
        geometric transforms to) what it is given: a custom transform's __call__, an augment
        helper. None when it does no random geometry."""
        key = id(scope)
        if key in self._summaries:
            return self._summaries[key]
        self._summaries[key] = None
        params = [p.name.value for p in scope.parameters() if p.name.value not in ("self", "cls")]
        result: Optional[Tuple[Optional[str], bool, bool]] = None
        random_flips = [flip for flip in self.ctx.fact(ManualGeometry).flips_in(scope) if flip.random]
        if random_flips and params:
            by_draw: Dict[object, set] = {}
            for flip in random_flips:
                path = access_path(flip.operand)
                by_draw.setdefault(flip.draw, set()).add(path or id(flip.operand))
            joint = len(params) > 1 and any(len(paths) > 1 for paths in by_draw.values())
            axis = random_flips[0].axis
            result = ("vflip" if axis == "v" else "hflip", True, joint)
        else:
            for application in self.applications_in(scope):
                ops = application.random_geometric
                if ops:
                    result = (ops[0].geometry, True, application.joint)
                    break
        self._summaries[key] = result
        return result

    # -- pipelines from construction expressions -----------------------------------------------------

    def pipeline_at(self, node: cst.CSTNode, statement: Optional[Statement]) -> Optional[Pipeline]:
        """The pipeline a construction expression builds (a container call, a single op, a list)."""
        key = id(node)
        if key in self._pipelines:
            return self._pipelines[key]
        self._pipelines[key] = None
        self._unresolved_stack.append([])
        try:
            pipeline = self._build(node, statement)
        finally:
            unresolved = self._unresolved_stack.pop()
        if pipeline is not None:
            pipeline.unresolved = unresolved
        self._pipelines[key] = pipeline
        return pipeline

    def _note_unresolved(self, node: cst.CSTNode) -> None:
        if self._unresolved_stack:
            self._unresolved_stack[-1].append(node)

    def _ops_from(self, pipeline: Pipeline) -> List[TransformOp]:
        """A nested pipeline's ops, carrying what it did not understand into the enclosing one."""
        if self._unresolved_stack:
            self._unresolved_stack[-1].extend(pipeline.unresolved)
        return pipeline.ops

    def _build(self, node: cst.CSTNode, statement: Optional[Statement]) -> Optional[Pipeline]:
        if isinstance(node, (cst.List, cst.Tuple)):
            ops = list(self._ops_of_elements(node, statement, 0))
            return Pipeline(node, "list", ops, statement) if ops else None
        if not isinstance(node, cst.Call):
            return None
        qualified = self.ctx.qualified_name(node.func)
        library, name = library_of(qualified)
        if library is not None and name in CONTAINERS[library]:
            ops = list(self._container_ops(node, library, name, statement, 0))
            pipeline = Pipeline(node, library, ops, statement, v2=is_v2(qualified))
            if library == "albumentations":
                pipeline.bbox_params = keyword_arg(node, "bbox_params")
                pipeline.keypoint_params = keyword_arg(node, "keypoint_params")
                pipeline.additional_targets = self._additional_targets(keyword_arg(node, "additional_targets"), statement)
            elif library == "kornia":
                pipeline.data_keys = tuple(self._strings(keyword_arg(node, "data_keys"), statement))
            source = argument(node, 0, "transforms")
            if isinstance(source, cst.Name):
                pipeline.built_from = source.value
            return pipeline
        if qualified in SEQUENTIAL:
            ops = []
            for arg in node.args:
                if arg.keyword is None and arg.star != "**":
                    ops.extend(self._ops_of(arg.value, statement, 0) if not arg.star else self._ops_of(arg.value, statement, 0))
            return Pipeline(node, "sequential", ops, statement) if ops else None
        op = self.op(node, statement)
        if op is not None:
            return Pipeline(node, op.library, [op], statement, v2=op.v2)
        return None

    def _container_ops(self, call: cst.Call, library: str, name: str, statement, depth: int) -> Iterator[TransformOp]:
        random_container = CONTAINERS[library][name]
        if library == "kornia":
            sources = [arg.value for arg in call.args if arg.keyword is None]
        else:
            first = argument(call, 0, "transforms")
            sources = [first] if first is not None else []
        for source in sources:
            for op in self._ops_of(source, statement, depth + 1):
                if random_container and op.geometry is not None and not op.random:
                    op = TransformOp(op.node, op.qualified, op.library, op.name, op.geometry, True, op.statement, op.v2, op.joint)
                yield op

    def _ops_of(self, expr: cst.BaseExpression, statement, depth: int) -> Iterator[TransformOp]:
        """The ops an expression contributes to a container: a list, a name bound to a list (with
        its appends), a nested container, a single op. What is not understood is noted in the
        pipeline's `unresolved`."""
        if depth > MAX_DEPTH or expr is None:
            if expr is not None:
                self._note_unresolved(expr)
            return
        if isinstance(expr, (cst.List, cst.Tuple)):
            yield from self._ops_of_elements(expr, statement, depth)
        elif isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
            yield from self._ops_of(expr.left, statement, depth + 1)
            yield from self._ops_of(expr.right, statement, depth + 1)
        elif isinstance(expr, cst.IfExp):
            yield from self._ops_of(expr.body, statement, depth + 1)
            yield from self._ops_of(expr.orelse, statement, depth + 1)
        elif isinstance(expr, cst.Call):
            nested = self.pipeline_at(expr, statement)
            if nested is not None:
                yield from self._ops_from(nested)
            else:
                self._note_unresolved(expr)
        elif isinstance(expr, cst.Name) and statement is not None:
            found = list(self._ops_of_list_name(expr.value, statement, depth))
            if not found:
                definition = self.flow.definition(expr.value, statement)
                if not (definition.kind == "assign" and isinstance(definition.value, (cst.List, cst.Tuple))):
                    self._note_unresolved(expr)
            yield from found
        elif isinstance(expr, cst.Attribute) and statement is not None:
            resolution = self.resolve_all(expr, statement, depth + 1)
            if resolution.unknown or resolution.callables or not resolution.pipelines:
                self._note_unresolved(expr)
            for pipeline in resolution.pipelines:
                yield from self._ops_from(pipeline)
        else:
            self._note_unresolved(expr)

    def _ops_of_elements(self, node: cst.CSTNode, statement, depth: int) -> Iterator[TransformOp]:
        for element in node.elements:  # type: ignore[attr-defined]
            yield from self._ops_of(element.value, statement, depth + 1)

    def _ops_of_list_name(self, name: str, statement: Statement, depth: int) -> Iterator[TransformOp]:
        """`trans = [...]` plus every `trans.append(op)`, `trans.extend([...])`, `trans += [...]`
        and `trans.insert(i, op)` in the same scope."""
        definition = self.flow.definition(name, statement)
        if definition.kind == "assign" and definition.value is not None:
            if isinstance(definition.value, (cst.List, cst.Tuple, cst.BinaryOperation, cst.IfExp)):
                yield from self._ops_of(definition.value, definition.statement, depth + 1)
            else:
                for pipeline in self.resolve(definition.value, definition.statement, depth + 1):
                    yield from self._ops_from(pipeline)
        elif definition.kind == "param":
            for pipeline in self.resolve(cst.Name(name), statement, depth + 1):
                yield from self._ops_from(pipeline)
        scope = definition.scope or statement.scope
        for other in scope.statements:
            node = other.node
            if isinstance(node, cst.AugAssign) and dotted_name(node.target) == name:
                yield from self._ops_of(node.value, other, depth + 1)
            for site in other.calls:
                func = site.node.func
                if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == name:
                    method = func.attr.value
                    args = positional_args(site.node)
                    if method == "append" and args:
                        yield from self._ops_of(args[0], other, depth + 1)
                    elif method == "extend" and args:
                        yield from self._ops_of(args[0], other, depth + 1)
                    elif method == "insert" and len(args) == 2:
                        yield from self._ops_of(args[1], other, depth + 1)

    def _additional_targets(self, expr: Optional[cst.BaseExpression], statement) -> Dict[str, str]:
        found: Dict[str, str] = {}
        if isinstance(expr, cst.Dict):
            for element in expr.elements:
                if isinstance(element, cst.DictElement):
                    key, value = string_value(element.key), string_value(element.value)
                    if key and value:
                        found[key] = value
        return found

    def _strings(self, expr: Optional[cst.BaseExpression], statement) -> Iterator[str]:
        if isinstance(expr, (cst.List, cst.Tuple)):
            for element in expr.elements:
                text = string_value(element.value)
                if text is not None:
                    yield text
                else:
                    # DataKey.MASK and friends
                    name = dotted_name(element.value)
                    if name:
                        yield name.split(".")[-1].lower()

    # -- resolving an expression to the pipelines it may hold -------------------------------------------

    def resolve(self, expr: cst.BaseExpression, statement: Optional[Statement], depth: int = 0) -> List[Pipeline]:
        """The pipelines `expr` can evaluate to, as far as this module shows (empty when unknown)."""
        return self.resolve_all(expr, statement, depth).pipelines

    def resolve_all(
        self, expr: cst.BaseExpression, statement: Optional[Statement], depth: int = 0, constants: Constants = ()
    ) -> "Resolution":
        """Everything `expr` can evaluate to: pipelines, whether it can be None, whether some
        value could not be followed, and callables of this module (functions, lambdas).
        `constants` are the literal parameter values of the call that reached `expr`'s function
        (so `get_transforms(train=True)` follows only the training branch)."""
        if not self.enabled or statement is None or depth > MAX_DEPTH:
            return Resolution([], False, True, [])
        key = (id(expr), constants)
        cached = self._resolved.get(key)
        if cached is not None:
            return cached
        self._resolved[key] = Resolution([], False, True, [])  # recursion guard
        pipelines: List[Pipeline] = []
        none = unknown = False
        callables: List[Tuple[cst.CSTNode, Optional[Statement]]] = []
        for item in self._resolve(expr, statement, depth, constants):
            if isinstance(item, Pipeline):
                pipelines.append(item)
            elif item is _NONE:
                none = True
            elif item is _UNKNOWN:
                unknown = True
            else:
                callables.append(item)  # type: ignore[arg-type]
        found = Resolution(_unique(pipelines), none, unknown, callables)
        self._resolved[key] = found
        return found

    def _follow(
        self, expr: cst.BaseExpression, statement: Optional[Statement], depth: int, constants: Constants = ()
    ) -> Iterator[object]:
        found = self.resolve_all(expr, statement, depth + 1, constants)
        yield from found.pipelines
        if found.none:
            yield _NONE
        if found.unknown:
            yield _UNKNOWN
        yield from found.callables

    def _resolve(self, expr: cst.BaseExpression, statement: Statement, depth: int, constants: Constants = ()) -> Iterator[object]:
        if isinstance(expr, cst.Name) and expr.value == "None":
            yield _NONE
            return
        if isinstance(expr, cst.Lambda):
            yield (expr, statement)
            return
        if isinstance(expr, cst.Call):
            pipeline = self.pipeline_at(expr, statement)
            if pipeline is not None:
                yield pipeline
                return
            site = self.ctx.index.call_sites.get(expr)
            callee = self.flow.callee(site) if site is not None else None
            if callee is not None and not callee.is_module and callee.function_name != "__init__":
                returns = self._returns(callee, site)
                inner_constants = self.flow.call_constants(site, callee)
                for inner in returns:
                    if inner.node.value is not None:
                        yield from self._follow(inner.node.value, inner, depth, inner_constants)
                    else:
                        yield _NONE
                if not returns:
                    yield _NONE
                return
            yield _UNKNOWN
            return
        if isinstance(expr, (cst.List, cst.Tuple)):
            pipeline = self.pipeline_at(expr, statement)
            yield pipeline if pipeline is not None else _UNKNOWN
            return
        if isinstance(expr, cst.IfExp):
            taken = condition_value(expr.test, dict(constants))
            if taken is not False:
                yield from self._follow(expr.body, statement, depth, constants)
            if taken is not True:
                yield from self._follow(expr.orelse, statement, depth, constants)
            return
        if isinstance(expr, cst.BooleanOperation):
            yield from self._follow(expr.left, statement, depth, constants)
            yield from self._follow(expr.right, statement, depth, constants)
            return
        if isinstance(expr, cst.Subscript):
            yield from self._resolve_subscript(expr, statement, depth)
            return
        name = dotted_name(expr)
        if name is None:
            yield _UNKNOWN
            return
        if name.startswith("self.") and name.count(".") == 1:
            yield from self._resolve_attribute(name[5:], statement, depth)
            return
        if "." in name:
            yield _UNKNOWN
            return
        definition = self.flow.definition_given(name, statement, constants)
        yield from self._resolve_definition(name, definition, statement, depth, constants)

    def _returns(self, callee: Scope, site: CallSite) -> List[Statement]:
        """The return statements of `callee` that the call's literal arguments can reach."""
        return self.flow.reachable_returns(callee, dict(self.flow.call_constants(site, callee)))

    def _resolve_definition(
        self, name: str, definition: Definition, statement: Statement, depth: int, constants: Constants = ()
    ) -> Iterator[object]:
        if definition.kind == "assign" and definition.value is not None:
            value = definition.value
            if isinstance(value, (cst.List, cst.Tuple)) and definition.statement is not None:
                # a plain list of transforms, possibly grown with append/extend
                key = id(value)
                if key not in self._pipelines:
                    self._unresolved_stack.append([])
                    try:
                        ops = list(self._ops_of_list_name(name, statement, depth + 1))
                    finally:
                        unresolved = self._unresolved_stack.pop()
                    self._pipelines[key] = (
                        Pipeline(value, "list", ops, definition.statement, built_from=name, unresolved=unresolved)
                        if ops
                        else None
                    )
                pipeline = self._pipelines[key]
                yield pipeline if pipeline is not None else _UNKNOWN
                return
            yield from self._follow(value, definition.statement, depth, constants)
        elif definition.kind == "unpacked" and definition.statement is not None:
            # `train_tf, target_tf = get_transforms(train=True)`: that element of what the helper returns
            yield from self._unpacked(name, definition, depth, constants)
        elif definition.kind == "loop" and definition.value is not None:
            # `for t in self.transforms: x = t(x)` applies every op of the iterated pipeline in turn
            yield from self._follow(definition.value, definition.statement, depth)
        elif definition.kind == "param" and definition.scope is not None:
            yield from self._resolve_parameter(definition.scope, name, depth)
        elif definition.kind == "function" and definition.statement is not None:
            yield (definition.statement.node, definition.statement)
        else:
            yield _UNKNOWN

    def _unpacked(self, name: str, definition: Definition, depth: int, constants: Constants) -> Iterator[object]:
        node = definition.statement.node  # type: ignore[union-attr]
        index = unpacked_index(node, name)
        value = definition.value
        site = self.ctx.index.call_sites.get(value) if isinstance(value, cst.Call) else None
        callee = self.flow.callee(site) if site is not None else None
        if index is None or callee is None or callee.is_module:
            yield _UNKNOWN
            return
        inner_constants = self.flow.call_constants(site, callee)  # type: ignore[arg-type]
        for inner in self._returns(callee, site):  # type: ignore[arg-type]
            elements = sequence_elements(inner.node.value) if inner.node.value is not None else None
            if elements is None or index >= len(elements):
                yield _UNKNOWN
                continue
            yield from self._follow(elements[index], inner, depth, inner_constants)

    def _resolve_attribute(self, attribute: str, statement: Statement, depth: int) -> Iterator[object]:
        owner = self.ctx.index.enclosing_class(statement.scope)
        if owner is None:
            yield _UNKNOWN
            return
        definitions = self.flow.attribute_definitions(owner, attribute)
        for definition in definitions:
            if definition.kind == "assign" and definition.value is not None:
                yield from self._follow(definition.value, definition.statement, depth)
            else:
                yield _UNKNOWN
        if not definitions:
            # set by a base class's __init__ (VisionDataset stores transform/target_transform)
            passed = list(self._super_init_arguments(owner, attribute))
            for value, at in passed:
                yield from self._follow(value, at, depth)
            if not passed:
                yield _UNKNOWN

    def _super_init_arguments(self, owner: ClassInfo, attribute: str) -> Iterator[Tuple[cst.BaseExpression, Statement]]:
        init = owner.methods.get("__init__")
        if init is None:
            return
        for site in init.calls:
            func = site.node.func
            if (
                isinstance(func, cst.Attribute)
                and func.attr.value == "__init__"
                and isinstance(func.value, cst.Call)
                and callee_terminal_name(func.value) == "super"
                and site.statement is not None
            ):
                value = keyword_arg(site.node, attribute)
                if value is None and attribute in ("transforms", "transform", "target_transform"):
                    # VisionDataset(root, transforms, transform, target_transform)
                    index = {"transforms": 1, "transform": 2, "target_transform": 3}[attribute]
                    args = positional_args(site.node)
                    value = args[index] if index < len(args) else None
                if value is not None:
                    yield value, site.statement

    def _resolve_subscript(self, expr: cst.Subscript, statement: Statement, depth: int) -> Iterator[object]:
        """`data_transforms["train"]` with `data_transforms = {"train": T.Compose(...), ...}`."""
        container = dotted_name(expr.value)
        if container is None or len(expr.slice) != 1 or not isinstance(expr.slice[0].slice, cst.Index):
            yield _UNKNOWN
            return
        key = string_value(expr.slice[0].slice.value)
        if container.startswith("self.") and container.count(".") == 1:
            definitions = self.flow.self_attribute_definitions(container, statement) or []
        elif "." not in container:
            definitions = [self.flow.definition(container, statement)]
        else:
            definitions = []
        matched = False
        for definition in definitions:
            if definition.kind != "assign" or not isinstance(definition.value, cst.Dict):
                continue
            for element in definition.value.elements:
                if isinstance(element, cst.DictElement) and (key is None or string_value(element.key) == key):
                    matched = True
                    yield from self._follow(element.value, definition.statement, depth)
        if not matched:
            yield _UNKNOWN

    def _resolve_parameter(self, scope: Scope, name: str, depth: int) -> Iterator[object]:
        """A parameter holds what the callers pass: constructor calls of a class for __init__,
        calls of a helper otherwise; else its default."""
        param = scope.parameter(name)
        if param is None or not isinstance(scope.node, cst.FunctionDef):
            yield _UNKNOWN
            return
        sites = list(self._calls_of(scope))
        params = [p.name.value for p in list(scope.node.params.posonly_params) + list(scope.node.params.params)]
        if scope.class_info is not None and params and params[0] in ("self", "cls"):
            params = params[1:]
        for site in sites:
            if site.statement is None:
                continue
            if any(arg.star for arg in site.node.args):
                yield _UNKNOWN
                continue
            value = keyword_arg(site.node, name)
            if value is None and name in params:
                args = positional_args(site.node)
                index = params.index(name)
                value = args[index] if index < len(args) else None
            if value is not None:
                yield from self._follow(value, site.statement, depth)
            elif param.default is not None and scope.statements:
                yield from self._follow(param.default, scope.statements[0], depth)
            else:
                yield _UNKNOWN
        if not sites:
            # nobody here calls it: other modules may, with anything
            yield _UNKNOWN
            if param.default is not None and scope.statements:
                yield from self._follow(param.default, scope.statements[0], depth)

    def _calls_of(self, scope: Scope) -> Iterator[CallSite]:
        if scope.function_name == "__init__" and scope.class_info is not None:
            yield from self.constructor_calls(scope.class_info)
        else:
            yield from self.flow.callers(scope)

    def constructor_calls(self, info: ClassInfo) -> Iterator[CallSite]:
        """Calls that construct this module class: `Cls(...)`, and `super().__init__(...)` in subclasses."""
        is_module_class = self.ctx.index.class_by_name.get(info.name) is info
        for site, is_super in self._constructions_by_name().get(info.name, []):
            if is_super or is_module_class:
                yield site

    def _constructions_by_name(self) -> Dict[str, List[Tuple[CallSite, bool]]]:
        """Class name -> (site, is it `super().__init__(...)`) for `Name(...)` calls and for the
        `super().__init__(...)` of classes that name it as a base, in source order; built in one
        pass, since a pass per class would cost classes x calls."""
        if self._constructions is None:
            found: Dict[str, List[Tuple[CallSite, bool]]] = {}
            for site in self.ctx.index.call_sites.values():
                func = site.node.func
                if isinstance(func, cst.Name):
                    found.setdefault(func.value, []).append((site, False))
                elif (
                    isinstance(func, cst.Attribute)
                    and func.attr.value == "__init__"
                    and isinstance(func.value, cst.Call)
                    and callee_terminal_name(func.value) == "super"
                ):
                    owner = self.ctx.index.enclosing_class(site.scope)
                    bases = {dotted_name(base) for base in owner.bases} if owner is not None else set()
                    for base in bases - {None}:
                        found.setdefault(base, []).append((site, True))
            self._constructions = found
        return self._constructions

    # -- applications ------------------------------------------------------------------------------------

    def applications(self) -> List[Application]:
        """Every call in the module that applies a pipeline."""
        return self._applications_at(self.ctx.index.call_sites.values())

    def applications_in(self, scope: Scope) -> List[Application]:
        return self._applications_at(scope.calls)

    def application_of(self, call: cst.Call) -> Optional[Application]:
        site = self.ctx.index.call_sites.get(call)
        found = self._applications_at([site]) if site is not None else []
        return found[0] if found else None

    def _applications_at(self, sites: Iterable[CallSite]) -> List[Application]:
        """The applications among these call sites, each site judged once: a helper's summary asks
        for the applications in the helper, so judging every site again per question would cost
        helpers x calls."""
        if not self.enabled:
            return []
        found = []
        for site in sites:
            key = id(site)
            if key not in self._site_applications:
                self._site_applications[key] = self._application(site)
            application = self._site_applications[key]
            if application is not None:
                found.append(application)
        return found

    def _application(self, site: CallSite) -> Optional[Application]:
        call = site.node
        func = call.func
        if not call.args or site.statement is None:
            return None
        if isinstance(func, (cst.Name, cst.Attribute)):
            if self.ctx.qualified_name(func) is not None:
                return None  # a library function, not a pipeline held in a variable
            if isinstance(func, cst.Attribute) and not (isinstance(func.value, cst.Name) and func.value.value == "self"):
                return None
        elif not isinstance(func, (cst.Call, cst.Subscript)):
            return None
        pipelines = self.resolve(func, site.statement)
        if not pipelines:
            helper = self._helper_pipeline(site)
            if helper is None:
                return None
            pipelines = [helper]
        inputs: List[Tuple[str, cst.BaseExpression]] = []
        position = 0
        for arg in call.args:
            if arg.keyword is not None:
                inputs.append((arg.keyword.value, arg.value))
            elif not arg.star:
                inputs.append((str(position), arg.value))
                position += 1
        return Application(call, site, pipelines, inputs, self._is_joint(pipelines, inputs, site.statement))

    def _helper_pipeline(self, site: CallSite) -> Optional[Pipeline]:
        """A function or method of this module that randomly flips (or transforms) what it is
        given, seen as a one-op pipeline: `img = random_flip(img)`, `img = self._augment(img)`."""
        callee = self.flow.callee(site)
        if callee is None or callee.is_module or callee.function_name.startswith("__"):
            return None
        key = ("helper", id(callee))
        if key in self._helpers:
            return self._helpers[key]
        self._helpers[key] = None
        summary = self.geometry_summary(callee)
        pipeline = None
        if summary is not None:
            geometry, random, joint = summary
            op = TransformOp(site.node, callee.name, "custom", callee.function_name, geometry, random, site.statement, joint=joint)
            pipeline = Pipeline(callee.node, "custom", [op], site.statement)
        self._helpers[key] = pipeline
        return pipeline

    def _is_joint(self, pipelines: Sequence[Pipeline], inputs, statement: Statement) -> bool:
        roles = [role for role, _ in inputs]
        if any(p.library == "albumentations" for p in pipelines):
            return any(role != "image" for role in roles)
        positional = [expr for role, expr in inputs if role.isdigit()]
        if len(positional) > 1:
            return True
        if len(positional) == 1 and any(p.is_joint_capable for p in pipelines):
            # v2 / custom joint transforms take one structure holding image and target
            only = positional[0]
            if isinstance(only, (cst.Dict, cst.Tuple, cst.List)):
                return True
            if isinstance(only, cst.Name):
                definition = self.flow.definition(only.value, statement)
                if definition.kind == "assign" and isinstance(definition.value, (cst.Dict, cst.Tuple)):
                    return True
                if definition.kind == "param" and only.value in ("sample", "data", "inputs", "batch", "example", "item"):
                    return True
        return False

    # -- datasets fed with pipelines ------------------------------------------------------------------

    def dataset_feeds(self) -> List[DatasetFeed]:
        """Dataset constructions that receive transforms (`transform=`, `target_transform=`,
        `transforms=`): torchvision datasets, their subclasses here, and this module's classes."""
        if self._feeds is None:
            feeds: List[DatasetFeed] = []
            if self.enabled:
                for site in self.ctx.index.call_sites.values():
                    feed = self._feed(site)
                    if feed is not None:
                        feeds.append(feed)
            self._feeds = feeds
        return self._feeds

    def dataset_class(self, call: cst.Call) -> Tuple[Optional[str], Optional[ClassInfo]]:
        """(torchvision dataset qualified name, module class) a construction call builds; the
        qualified name is the torchvision base for a subclass defined here."""
        qualified = self.ctx.qualified_name(call.func)
        if qualified is not None:
            return (qualified if qualified.startswith("torchvision.datasets.") else None), None
        if isinstance(call.func, cst.Name):
            info = self.ctx.index.class_by_name.get(call.func.value)
            if info is not None:
                return self.torchvision_base(info), info
        return None, None

    def torchvision_base(self, info: ClassInfo, depth: int = 0) -> Optional[str]:
        for base in info.bases:
            qualified = self.ctx.qualified_name(base)
            if qualified is not None and qualified.startswith("torchvision.datasets."):
                return qualified
            name = dotted_name(base)
            inner = self.ctx.index.class_by_name.get(name or "")
            if inner is not None and inner is not info and depth < 4:
                found = self.torchvision_base(inner, depth + 1)
                if found:
                    return found
        return None

    def _feed(self, site: CallSite) -> Optional[DatasetFeed]:
        call = site.node
        qualified, info = self.dataset_class(call)
        if qualified is None and info is None:
            return None
        short = qualified.split(".")[-1] if qualified else None
        positions = DATASET_POSITIONS.get(short or "", (None, None, None)) if info is None else (None, None, None)
        transform = argument(call, positions[0], "transform")
        target_transform = argument(call, positions[1], "target_transform")
        transforms = argument(call, positions[2], "transforms")
        if transform is None and target_transform is None and transforms is None:
            return None
        return DatasetFeed(call, site, qualified, info, transform, target_transform, transforms)


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_NONE = _Marker("None")
_UNKNOWN = _Marker("unknown")


@dataclass(frozen=True, repr=False)
class Resolution:
    """What an expression may hold: pipelines; None; something not followed; callables of this
    module (a def statement or a lambda, with the statement they sit in)."""

    pipelines: List[Pipeline]
    none: bool
    unknown: bool
    callables: List[Tuple[cst.CSTNode, Optional[Statement]]]

    @property
    def only_none(self) -> bool:
        return self.none and not self.pipelines and not self.unknown and not self.callables


def rotation_range(degrees: cst.BaseExpression) -> Tuple[Optional[float], Optional[float]]:
    """(low, high) of a rotation range given as `d` (meaning -d..d) or `(a, b)`."""
    value = number_value(degrees)
    if value is not None:
        return -abs(value), abs(value)
    if isinstance(degrees, (cst.Tuple, cst.List)) and len(degrees.elements) == 2:
        low, high = number_value(degrees.elements[0].value), number_value(degrees.elements[1].value)
        if low is not None and high is not None:
            return low, high
    return None, None


def _unique(pipelines: Iterable[Pipeline]) -> List[Pipeline]:
    seen: Set[int] = set()
    found: List[Pipeline] = []
    for pipeline in pipelines:
        if id(pipeline.node) not in seen:
            seen.add(id(pipeline.node))
            found.append(pipeline)
    return found


def pipeline_probe_input(ctx, pipelines: List[Pipeline]) -> Optional[PipelineInput]:
    """What a probe needs to instantiate a pipeline: its construction code (or its ops when it
    was built up in a list), the library, and the resolution table of every name it uses."""
    if not pipelines:
        return None
    pipeline = pipelines[0]
    fixed = ctx.fact(FixedValues)
    names: Dict[str, Dict[str, str]] = {}
    ops = [ctx.fragment(op.node) for op in pipeline.ops]
    for op in pipeline.ops:
        if op.statement is not None:
            for key, value in fixed.resolve_for_probe([op.node], op.statement).items():
                names.setdefault(key, value)
    construction = None
    if pipeline.built_from is None and pipeline.library != "list" and pipeline.statement is not None:
        construction = ctx.fragment(pipeline.node)
        for key, value in fixed.resolve_for_probe([pipeline.node], pipeline.statement).items():
            names.setdefault(key, value)
    container = None
    if isinstance(pipeline.node, cst.Call):
        container = ctx.qualified_name(pipeline.node.func)
    return PipelineInput(
        library=pipeline.library,
        v2=pipeline.v2,
        construction=construction,
        container=container,
        ops=ops,
        op_names=[op.name for op in pipeline.ops],
        names=names,
    )
