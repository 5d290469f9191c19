"""Fixes of the pretrained family (what `--fix` rewrites; see each rule's doc, section Fix).

NNL301: a Normalize with the weights' statistics added to each pipeline that feeds the model
without normalizing (after ToTensor / ToDtype(scale=True); before albumentations' ToTensorV2).
NNL302: the Normalize's mean and std replaced by the weights' statistics, in the units it uses.
NNL303: `cv2.cvtColor(image, cv2.COLOR_BGR2RGB)` where the OpenCV image is read.
"""

from __future__ import annotations

import re
from typing import List, Optional, Sequence, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.index import Statement
from nnlint.analysis.names import argument, assigned_names, dotted_name
from nnlint.families.pretrained.statistics import Statistics
from nnlint.analysis.transforms import Pipeline
from nnlint.finding import Fix
from nnlint.rewrite import Rewrite, fix_builder, inserted, local_or_imported

# --- numbers ------------------------------------------------------------------------------------


def _number(value: float) -> str:
    text = f"{round(value, 4):.4f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _sequence(values: Sequence[float], like: Optional[cst.BaseExpression]) -> str:
    """Numbers written as a list when the original was one, else as a tuple."""
    inner = ", ".join(_number(v) for v in values)
    return f"[{inner}]" if isinstance(like, cst.List) else f"({inner})"


def _units(raw: Sequence[float], scale: float) -> float:
    """How the original numbers relate to [0, 1] statistics: 255 for 0-255 pixels, divided by
    albumentations' max_pixel_value (the statistics are multiplied by it)."""
    factor = 255.0 if all(v * scale > 1.5 for v in raw) else 1.0
    return factor / scale


# --- NNL302 -------------------------------------------------------------------------------------


@fix_builder
def weights_statistics(ctx: ModuleContext, call: cst.Call, raw_mean: Sequence[float], scale: float, expected: Statistics) -> Optional[Fix]:
    """`Normalize(CIFAR_MEAN, CIFAR_STD)` -> `Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))`:
    the arguments are replaced where the call stands (the constants may have other users)."""
    mean, std = argument(call, 0, "mean"), argument(call, 1, "std")
    if mean is None or std is None:
        return None
    units = _units(raw_mean, scale)
    rewrite = Rewrite(ctx)
    rewrite.replace(mean, _sequence([v * units for v in expected.mean], _literal_kind(ctx, mean, call)))
    rewrite.replace(std, _sequence([v * units for v in expected.std], _literal_kind(ctx, std, call)))
    return rewrite.fix(f"Normalize with the {expected.description} statistics the weights were trained with")


@fix_builder
def manual_weights_statistics(ctx: ModuleContext, node: cst.BinaryOperation, statement: Statement, raw_mean: Sequence[float], expected: Statistics) -> Optional[Fix]:
    """`(x / 255.0 - MEAN) / STD`: the numbers of MEAN and STD replaced in their literal (in its
    definition, when nothing else reads the name)."""
    assert isinstance(node.left, cst.BinaryOperation)
    units = _units(raw_mean, 1.0)
    rewrite = Rewrite(ctx)
    for operand, values in ((node.left.right, expected.mean), (node.right, expected.std)):
        literal = _literal_of(ctx, operand, statement)
        if literal is None:
            return None
        rewrite.replace(literal, _sequence([v * units for v in values], literal))
    return rewrite.fix(f"Normalize with the {expected.description} statistics the weights were trained with")


def _literal_kind(ctx: ModuleContext, expr: cst.BaseExpression, call: cst.Call) -> Optional[cst.BaseExpression]:
    if isinstance(expr, (cst.List, cst.Tuple)):
        return expr
    site = ctx.index.call_sites.get(call)
    if isinstance(expr, cst.Name) and site is not None and site.statement is not None:
        definition = ctx.fact(DataFlow).definition(expr.value, site.statement)
        if isinstance(definition.value, (cst.List, cst.Tuple)):
            return definition.value
    return None


def _literal_of(ctx: ModuleContext, expr: cst.BaseExpression, statement: Statement, depth: int = 0) -> Optional[cst.BaseExpression]:
    """The list/tuple literal of numbers an operand is written with: itself, the first argument of
    `np.array([...])`, or the value of a name that nothing else reads."""
    if depth > 3:
        return None
    if isinstance(expr, (cst.List, cst.Tuple)):
        return expr
    if isinstance(expr, cst.Call) and expr.args and isinstance(expr.args[0].value, (cst.List, cst.Tuple)):
        return expr.args[0].value
    if isinstance(expr, cst.Name):
        if len(re.findall(rf"(?<![\w.]){re.escape(expr.value)}\b", ctx.source)) != 2:
            return None  # read elsewhere too: changing the constant would change that code
        definition = ctx.fact(DataFlow).definition(expr.value, statement)
        if definition.kind == "assign" and definition.value is not None and definition.statement is not None:
            return _literal_of(ctx, definition.value, definition.statement, depth + 1)
    return None


# --- NNL301 -------------------------------------------------------------------------------------

# the op after which torchvision normalizes (a float tensor in [0, 1]) and the one albumentations
# normalizes before (it normalizes uint8 0-255 images)
_TENSOR_OPS = ("ToTensor", "ConvertImageDtype")
_ALBUMENTATIONS_TENSOR_OPS = ("ToTensorV2", "ToTensor")


@fix_builder
def add_normalize(ctx: ModuleContext, pipelines: List[Pipeline], statistics: Optional[Statistics]) -> Optional[Fix]:
    """A Normalize(mean, std) with the weights' statistics in every pipeline listed, as a new
    element of its Compose list."""
    if statistics is None or statistics.identity or not pipelines:
        return None
    rewrite = Rewrite(ctx)
    mean = _sequence(statistics.mean, cst.List([]))
    std = _sequence(statistics.std, cst.List([]))
    for pipeline in pipelines:
        elements_node, index, before, library = _insertion(ctx, pipeline)
        if elements_node is None:
            return None
        qualified = {
            "torchvision": "torchvision.transforms.v2.Normalize" if pipeline.v2 else "torchvision.transforms.Normalize",
            "albumentations": "albumentations.Normalize",
        }[library]
        spelled = local_or_imported(ctx, rewrite, qualified)
        if spelled is None:
            return None
        elements = list(elements_node.elements)
        arguments = f"mean={mean}, std={std}"
        to_float = next((i for i, e in enumerate(elements[:index]) if _op_name(_value(e)) == "ToFloat"), None)
        if library == "albumentations" and to_float is not None:
            # ToFloat(max_value=m) then Normalize on [0, 1] is Normalize(max_pixel_value=m) on the
            # pixels: it takes ToFloat's place
            limit = argument(_value(elements[to_float]), 0, "max_value")
            if limit is not None:
                arguments += f", max_pixel_value={ctx.code(limit)}"
            new = elements[to_float].with_changes(value=cst.parse_expression(f"{spelled}({arguments})"))
            elements[to_float] = new
        else:
            new = cst.Element(cst.parse_expression(f"{spelled}({arguments})"))
            elements = inserted(elements, index, new, before)
        rewrite.replace(elements_node, elements_node.with_changes(elements=elements))
    return rewrite.fix(f"Add Normalize with the {statistics.description} statistics to the pipeline")


def _insertion(ctx: ModuleContext, pipeline: Pipeline) -> Tuple[Optional[cst.List], int, bool, str]:
    """The list literal of a Compose pipeline, the index of the element to insert next to, whether
    to insert before it, and the library."""
    node = pipeline.node
    if not isinstance(node, cst.Call) or pipeline.library not in ("torchvision", "albumentations") or pipeline.built_from:
        return None, 0, False, ""
    first = argument(node, 0, "transforms")
    if not isinstance(first, cst.List) or not first.elements:
        return None, 0, False, ""
    calls = [_value(element) for element in first.elements]
    names = [_op_name(call) for call in calls]
    if pipeline.library == "albumentations":
        found = next((i for i, name in enumerate(names) if name in _ALBUMENTATIONS_TENSOR_OPS), None)
        return (first, found, True, "albumentations") if found is not None else (first, len(names) - 1, False, "albumentations")
    for index in range(len(names) - 1, -1, -1):
        call = calls[index]
        if names[index] in _TENSOR_OPS or (names[index] == "ToDtype" and isinstance(call, cst.Call) and _scales(call)):
            return first, index, False, "torchvision"
    return None, 0, False, ""


def _value(element: cst.BaseElement) -> Optional[cst.BaseExpression]:
    return element.value if isinstance(element, cst.Element) else None


def _op_name(expr: Optional[cst.BaseExpression]) -> Optional[str]:
    if isinstance(expr, cst.Call):
        name = dotted_name(expr.func)
        return name.split(".")[-1] if name else None
    return None


def _scales(call: cst.Call) -> bool:
    scale = argument(call, 1, "scale")
    return isinstance(scale, cst.Name) and scale.value == "True"


# --- NNL303 -------------------------------------------------------------------------------------


@fix_builder
def convert_to_rgb(ctx: ModuleContext, read: cst.Call, statement: Statement) -> Optional[Fix]:
    """`image = cv2.imread(p)` gets `image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)` on the next
    line (after an `if image is None` / `if not ok` check); a read used in place is wrapped."""
    convert = ctx.imports.local_name("cv2.cvtColor")
    flag = ctx.imports.local_name("cv2.COLOR_BGR2RGB")
    if convert is None or flag is None:
        return None
    rewrite = Rewrite(ctx)
    node = statement.node
    image = _image_target(node, read)
    if image is None:
        wrapped = cst.parse_expression(f"{convert}(__read__, {flag})")
        assert isinstance(wrapped, cst.Call)
        new = wrapped.with_changes(args=[wrapped.args[0].with_changes(value=read), wrapped.args[1]])
        return rewrite.replace(read, new).fix("Convert the image to RGB where it is read")
    after = _after_checks(ctx, statement, node)
    rewrite.insert_after(after, f"{image} = {convert}({image}, {flag})", indent=rewrite.indent_of(node))
    return rewrite.fix("Convert the image to RGB right after reading it")


def _image_target(node: cst.CSTNode, read: cst.Call) -> Optional[str]:
    """`image` in `image = cv2.imread(p)`, `frame` in `ok, frame = capture.read()`."""
    if not isinstance(node, cst.Assign) or node.value is not read or len(node.targets) != 1:
        return None
    target = node.targets[0].target
    if isinstance(target, cst.Name):
        return target.value
    if isinstance(target, cst.Tuple) and len(target.elements) == 2:
        names = list(assigned_names(target))
        if len(names) == 2 and isinstance(names[1], cst.Name):
            return names[1].value
    return None


def _after_checks(ctx: ModuleContext, statement: Statement, node: cst.CSTNode) -> cst.CSTNode:
    """The read, or the `if` right after it that tests what it read (`if not ok: break`)."""
    names = {n.value for t in node.targets for n in assigned_names(t.target) if isinstance(n, cst.Name)}
    following = statement.scope.statements[statement.position + 1 : statement.position + 2]
    for later in following:
        if later.blocks == statement.blocks and isinstance(later.node, cst.If) and any(
            re.search(rf"\b{re.escape(name)}\b", ctx.code(later.node.test)) for name in names
        ):
            return later.node
    return node
