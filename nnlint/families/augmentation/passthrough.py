"""torchvision.transforms.v2 called on an image and a plain-tensor target: v2 transforms PIL images
and `tv_tensors` (Image, Mask, BoundingBoxes, KeyPoints, Video); a plain `torch.Tensor` is treated
as an image only when no PIL image or `tv_tensors.Image` is in the sample (then only the first
one), and numpy arrays are never transformed. So `v2.RandomHorizontalFlip()(pil_image, mask)` with
`mask = torch.from_numpy(...)` flips the image and hands the mask back untouched: NNL201, though
both went through one call. `tv_tensors.Mask(mask)` is the fix (and the near-miss that stays
silent).

What a value is comes from its construction, followed through this module's assignments: a PIL
image (`Image.open`, `.convert()`, `Image.fromarray`, `to_pil_image`), a tv_tensor, a plain tensor
(`torch.from_numpy`, `torch.tensor`, `torch.as_tensor`, ... and `.long()`, `.float()`, ... of one)
or an array (`np.array`, `np.asarray`, `np.load`, `cv2.imread`). Anything else is unknown, and
unknown stays silent.
"""

from __future__ import annotations

from typing import Iterator, List, Optional

import libcst as cst

from nnlint.analysis.context import ModuleContext, brief_text
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.flips import access_path
from nnlint.analysis.index import Statement
from nnlint.analysis.targets import SpatialTargets, kind_by_name
from nnlint.analysis.transforms import Application

PIL = "pil"
TV_IMAGE = "tv_image"
TV_TARGET = "tv_target"
PLAIN = "plain"  # a torch.Tensor that is no tv_tensor
ARRAY = "array"

PIL_MAKERS = frozenset({"PIL.Image.open", "PIL.Image.fromarray", "PIL.Image.new", "torchvision.transforms.functional.to_pil_image",
                        "torchvision.transforms.v2.functional.to_pil_image"})
PIL_METHODS = frozenset({"convert", "resize", "crop", "rotate", "copy"})
TV_IMAGE_MAKERS = frozenset({"torchvision.tv_tensors.Image", "torchvision.transforms.v2.functional.to_image",
                             "torchvision.datapoints.Image"})
TV_TARGET_PREFIXES = ("torchvision.tv_tensors.", "torchvision.datapoints.")
TENSOR_MAKERS = frozenset({"torch.from_numpy", "torch.tensor", "torch.as_tensor", "torch.Tensor", "torch.LongTensor",
                           "torch.FloatTensor", "torch.ByteTensor", "torchvision.io.read_image", "torchvision.io.decode_image",
                           "torchvision.transforms.functional.pil_to_tensor", "torchvision.transforms.functional.to_tensor"})
TENSOR_METHODS = frozenset({"long", "float", "int", "byte", "half", "to", "unsqueeze", "squeeze", "clone", "contiguous",
                            "permute", "cuda", "cpu", "type"})
ARRAY_MAKERS = frozenset({"numpy.array", "numpy.asarray", "numpy.load", "numpy.ascontiguousarray", "cv2.imread"})
ARRAY_METHODS = frozenset({"astype", "copy", "squeeze", "transpose"})
MAX_DEPTH = 6


class SampleKinds:
    """Get it with ``ctx.fact(SampleKinds)``: what kind of value v2 sees in a sample."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)

    def kind(self, expr: cst.BaseExpression, statement: Statement, depth: int = 0) -> Optional[str]:
        if depth > MAX_DEPTH:
            return None
        if isinstance(expr, cst.Name):
            definition = self.flow.definition(expr.value, statement)
            if definition.kind == "assign" and definition.value is not None and definition.statement is not None:
                return self.kind(definition.value, definition.statement, depth + 1)
            return None
        if not isinstance(expr, cst.Call):
            return None
        qualified = self.ctx.qualified_name(expr.func)
        if qualified is not None:
            if qualified in PIL_MAKERS:
                return PIL
            if qualified in TV_IMAGE_MAKERS:
                return TV_IMAGE
            if qualified.startswith(TV_TARGET_PREFIXES):
                return TV_TARGET
            if qualified in TENSOR_MAKERS:
                return PLAIN
            if qualified in ARRAY_MAKERS:
                return ARRAY
            return None
        if isinstance(expr.func, cst.Attribute):
            inner = self.kind(expr.func.value, statement, depth + 1)
            method = expr.func.attr.value
            if inner == PIL and method in PIL_METHODS:
                return PIL
            if inner == PLAIN and method in TENSOR_METHODS:
                return PLAIN
            if inner == ARRAY and method in ARRAY_METHODS:
                return ARRAY
        return None


def passed_through(ctx: ModuleContext, application: Application) -> Iterator[tuple]:
    """(target path, target kind, PLAIN or ARRAY) for each spatial target that a transforms.v2 call
    hands back untouched."""
    statement = application.statement
    pipelines = application.pipelines
    if statement is None or not pipelines or not application.random_geometric:
        return
    if not all(p.v2 and p.library == "torchvision" and not any(op.joint for op in p.ops) for p in pipelines):
        return
    if any(not role.isdigit() for role, _ in application.inputs):
        return
    positional: List[cst.BaseExpression] = [expr for _, expr in application.inputs]
    if len(positional) < 2:
        return
    kinds = ctx.fact(SampleKinds)
    if kinds.kind(positional[0], statement) not in (PIL, TV_IMAGE, PLAIN):
        return  # with an array first, the first plain tensor would be taken for the image
    targets = ctx.fact(SpatialTargets)
    for expr in positional[1:]:
        path = access_path(expr)
        if path is None or targets.generated(path, statement):
            continue
        evidence = targets.evidence(path, statement)
        kind = evidence.kind if evidence is not None else kind_by_name(path)
        made = kinds.kind(expr, statement)
        if kind is None or made not in (PLAIN, ARRAY):
            continue
        yield path, kind, made


def message(ctx: ModuleContext, call: cst.Call, image: str, target: str, what: str, ops: str, made: str) -> str:
    held = "a numpy array" if made == ARRAY else "a plain tensor"
    return (
        f"`{brief_text(ctx.code(call), 60)}` runs a transforms.v2 pipeline ({ops}) on {image} and {target}, but "
        f"{target} is {held}: v2 transforms PIL images and tv_tensors, and hands plain tensors and arrays next to "
        f"an image back untouched, so {target} is never flipped or cropped with the image and the {what} no "
        f"longer lines up. Wrap it: `tv_tensors.Mask({target})` (tv_tensors.BoundingBoxes for boxes)."
    )


def concise(target: str) -> str:
    return f"v2 passes plain-tensor {brief_text(target, 20)} through untransformed: wrap it in tv_tensors.Mask"
