"""Manual geometry: flips written by hand, the random draws that gate them, and what helper
functions and transform classes of the module do to the values they are given.

A *manual flip* is a call or slice that mirrors an array or image: ``TF.hflip(x)``,
``torch.flip(x, dims=[-1])``, ``x.flip(-1)``, ``np.fliplr(x)``, ``np.flip(x, axis=1)``,
``cv2.flip(x, 1)``, ``x.transpose(Image.FLIP_LEFT_RIGHT)``, ``ImageOps.mirror(x)``,
``x[:, ::-1]``. It is *random* when an enclosing ``if`` (or conditional expression) tests a
random draw (``random.random() < p``, ``np.random.rand() > 0.5``, ``torch.rand(1) < self.p``, or
a name assigned such a draw). Two flips gated by the same draw (one ``if``, or two ``if``s on the
same drawn name) flip together; two flips under separate draws flip independently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.index import Scope, Statement
from nnlint.analysis.names import argument, callee_terminal_name, dotted_name, number_value, positional_args, string_value

RANDOM_FUNCTIONS = frozenset(
    {
        "random.random", "random.uniform", "random.randint", "random.randrange", "random.choice", "random.choices",
        "random.getrandbits", "random.sample", "random.gauss", "random.triangular", "random.betavariate",
        "numpy.random.rand", "numpy.random.random", "numpy.random.uniform", "numpy.random.randint",
        "numpy.random.choice", "numpy.random.random_sample", "numpy.random.binomial", "numpy.random.randn",
        "numpy.random.normal", "numpy.random.sample", "numpy.random.ranf", "numpy.random.permutation",
        "torch.rand", "torch.randint", "torch.randn", "torch.bernoulli", "torch.randperm", "torch.rand_like",
        "torch.multinomial", "torch.randint_like",
    }
)
RANDOM_METHODS = frozenset({"random", "rand", "uniform", "integers", "randint", "choice", "binomial", "random_sample", "randn", "normal"})
RANDOM_TENSOR_METHODS = frozenset({"uniform_", "bernoulli_", "random_", "normal_", "bernoulli"})
RNG_RECEIVER_WORDS = ("rng", "random", "generator", "prng", "rand_state", "randomstate", "rs", "np_random")
RNG_FACTORIES = frozenset({"numpy.random.default_rng", "numpy.random.RandomState", "random.Random", "torch.Generator"})

H_FLIP_FUNCTIONS = frozenset(
    {
        "torchvision.transforms.functional.hflip", "torchvision.transforms.v2.functional.hflip",
        "torchvision.transforms.v2.functional.horizontal_flip", "kornia.geometry.transform.hflip",
        "kornia.geometry.hflip", "numpy.fliplr", "torch.fliplr", "PIL.ImageOps.mirror",
        "torchvision.transforms.functional_tensor.hflip",
    }
)
V_FLIP_FUNCTIONS = frozenset(
    {
        "torchvision.transforms.functional.vflip", "torchvision.transforms.v2.functional.vflip",
        "torchvision.transforms.v2.functional.vertical_flip", "kornia.geometry.transform.vflip",
        "kornia.geometry.vflip", "numpy.flipud", "torch.flipud", "PIL.ImageOps.flip",
    }
)
# Modules whose functions never flip; a flip-named call on them is not ours to judge.
SEEDING_WORDS = ("seed", "rng_state", "set_state", "setstate", "fork_rng")


@dataclass(eq=False, repr=False)
class ManualFlip:
    node: cst.CSTNode  # the flipping call or slice
    operand: cst.BaseExpression  # what is flipped
    axis: str  # "h", "v" or "hv"
    statement: Statement
    branch: Optional[cst.CSTNode]  # the innermost random `if` (or conditional expression) gating it
    draw: Optional[object]  # identity of the random draw: equal draws flip together

    @property
    def random(self) -> bool:
        return self.branch is not None


def access_path(expr: cst.BaseExpression) -> Optional[str]:
    """`img`, `self.img`, `sample['image']`, `target['boxes']`: a value's stable name, else None."""
    name = dotted_name(expr)
    if name is not None:
        return name
    if isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index):
        key = string_value(expr.slice[0].slice.value)
        base = access_path(expr.value)
        if key is not None and base is not None:
            return f"{base}[{key!r}]"
    return None


def root_of(path: str) -> str:
    return path.split("[")[0].split(".")[0] if not path.startswith("self.") else ".".join(path.split("[")[0].split(".")[:2])


def names_in(node: cst.CSTNode) -> Iterator[str]:
    """Access paths used in an expression or statement (outermost chains only)."""
    pending: List[cst.CSTNode] = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, (cst.Name, cst.Attribute, cst.Subscript)):
            path = access_path(current)  # type: ignore[arg-type]
            if path is not None:
                yield path
                if isinstance(current, cst.Subscript):
                    yield root_of(path)
                continue
        if isinstance(current, cst.Attribute):
            pending.append(current.value)
            continue
        if isinstance(current, cst.Arg):
            pending.append(current.value)
            continue
        if isinstance(current, (cst.Lambda, cst.FunctionDef, cst.ClassDef)):
            continue
        if isinstance(current, cst.Call):
            # `mask.long()` uses mask; `np.array(mask)` uses mask (not the function's name)
            if isinstance(current.func, cst.Attribute):
                pending.append(current.func.value)
            elif not isinstance(current.func, cst.Name):
                pending.append(current.func)
            pending.extend(current.args)
            continue
        pending.extend(current.children)


def written_paths(statement: Statement) -> List[str]:
    """What a statement assigns to (names, attributes, subscripts and their roots)."""
    node = statement.node
    targets: List[cst.BaseExpression] = []
    if isinstance(node, cst.Assign):
        targets = [t.target for t in node.targets]
    elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
        targets = [node.target]
    elif isinstance(node, cst.For):
        targets = [node.target]
    found: List[str] = []
    pending = list(targets)
    while pending:
        target = pending.pop()
        if isinstance(target, (cst.Tuple, cst.List)):
            pending.extend(element.value for element in target.elements)
            continue
        if isinstance(target, cst.StarredElement):
            pending.append(target.value)
            continue
        while isinstance(target, cst.Subscript) and access_path(target) is None:
            target = target.value  # x[:, 0] = ... writes x
        path = access_path(target)
        if path is not None:
            found.append(path)
            found.append(root_of(path))
    return found


class ManualGeometry:
    """Get it with ``ctx.fact(ManualGeometry)``."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        self._flips: Dict[int, List[ManualFlip]] = {}
        self._draws: Dict[int, Optional[object]] = {}
        # every flip call's text holds one of these words; a slice flip holds "::-1"
        source = ctx.source
        self._calls_possible = any(word in source for word in ("flip", "Flip", "FLIP", "mirror"))
        self._slices_possible = "::-1" in source or ":: -1" in source

    # -- random draws ----------------------------------------------------------------------------------

    def is_random_call(self, call: cst.Call, statement: Optional[Statement] = None) -> bool:
        qualified = self.ctx.qualified_name(call.func)
        if qualified in RANDOM_FUNCTIONS:
            return True
        if qualified is not None or not isinstance(call.func, cst.Attribute):
            return False
        method = call.func.attr.value
        if method in RANDOM_TENSOR_METHODS:
            return True
        if method not in RANDOM_METHODS:
            return False
        receiver = call.func.value
        if isinstance(receiver, cst.Call):
            return self.ctx.qualified_name(receiver.func) in RNG_FACTORIES
        name = (dotted_name(receiver) or "").split(".")[-1].lower()
        return any(name == word or name.endswith("_" + word) or name.startswith(word) for word in RNG_RECEIVER_WORDS)

    def draw_of(self, expr: cst.BaseExpression, statement: Statement, depth: int = 0) -> Optional[object]:
        """The identity of the random draw an expression tests: the expression's own node when
        it draws directly, the drawing assignment when it reads a drawn name; None if it is not
        random."""
        direct = self._contains_random_call(expr, statement)
        if direct:
            return ("draw", id(expr))
        if depth > 3:
            return None
        for path in names_in(expr):
            if "[" in path:
                continue
            definition = self.flow.definition(path, statement) if "." not in path or path.startswith("self.") else None
            if definition is None or definition.kind not in ("assign", "unpacked") or definition.value is None:
                continue
            if definition.statement is None:
                continue
            inner = self.draw_of(definition.value, definition.statement, depth + 1)
            if inner is not None:
                return ("name", id(definition.statement.node))
        return None

    def _contains_random_call(self, expr: cst.CSTNode, statement: Statement) -> bool:
        pending: List[cst.CSTNode] = [expr]
        while pending:
            node = pending.pop()
            if isinstance(node, cst.Call) and self.is_random_call(node, statement):
                return True
            if isinstance(node, (cst.Lambda,)):
                continue
            pending.extend(node.children)
        return False

    def random_branch(self, statement: Statement, node: Optional[cst.CSTNode] = None) -> Tuple[Optional[cst.CSTNode], Optional[object]]:
        """The innermost random `if` (or conditional expression inside the statement around
        `node`) that gates a statement, with its draw identity."""
        if node is not None and _has_ifexp(statement.node):
            found = self._random_ifexp(statement, node)
            if found[0] is not None:
                return found
        for block in reversed(statement.blocks):
            if isinstance(block, cst.If):
                draw = self.draw_of(block.test, statement)
                if draw is not None:
                    return block, draw
        return None, None

    def _random_ifexp(self, statement: Statement, node: cst.CSTNode) -> Tuple[Optional[cst.CSTNode], Optional[object]]:
        pending: List[cst.CSTNode] = [statement.node]
        while pending:
            current = pending.pop()
            if isinstance(current, cst.IfExp) and (_contains(current.body, node) or _contains(current.orelse, node)):
                draw = self.draw_of(current.test, statement)
                if draw is not None:
                    return current, draw
            if isinstance(current, (cst.FunctionDef, cst.ClassDef, cst.IndentedBlock)):
                continue
            pending.extend(current.children)
        return None, None

    def has_reseeding(self, scope: Scope) -> bool:
        """Whether a function seeds or restores an RNG state (the same draws for two calls)."""
        for site in scope.calls:
            name = (callee_terminal_name(site.node) or "").lower()
            if any(word in name for word in SEEDING_WORDS):
                return True
        return False

    # -- flips -------------------------------------------------------------------------------------------

    def flip_of(self, node: cst.CSTNode) -> Optional[Tuple[cst.BaseExpression, str]]:
        """(operand, axis) when a call or subscript mirrors its operand."""
        if isinstance(node, cst.Subscript):
            return _slice_flip(node)
        if not isinstance(node, cst.Call):
            return None
        terminal = callee_terminal_name(node) or ""
        if "flip" not in terminal and terminal not in ("transpose", "mirror"):
            return None
        qualified = self.ctx.qualified_name(node.func)
        args = positional_args(node)
        if qualified in H_FLIP_FUNCTIONS:
            return (args[0], "h") if args else None
        if qualified in V_FLIP_FUNCTIONS:
            return (args[0], "v") if args else None
        if qualified == "torch.flip":
            operand = argument(node, 0, "input")
            axis = _dims_axis(argument(node, 1, "dims"))
            return (operand, axis) if operand is not None and axis else None
        if qualified == "numpy.flip":
            operand = argument(node, 0, "m")
            axis = _numpy_axis(argument(node, 1, "axis"))
            return (operand, axis) if operand is not None and axis else None
        if qualified == "cv2.flip":
            operand = argument(node, 0, "src")
            code = argument(node, 1, "flipCode")
            value = number_value(code) if code is not None else None
            if operand is None or value is None:
                return None
            return operand, ("h" if value > 0 else "v" if value == 0 else "hv")
        if qualified is not None or not isinstance(node.func, cst.Attribute):
            return None
        method = node.func.attr.value
        receiver = node.func.value
        if method == "flip":
            axis = _dims_axis(argument(node, 0, "dims")) if args or node.args else None
            if axis is None and len(args) > 1:
                axis = _dims_axis(cst.List([cst.Element(a) for a in args]))
            return (receiver, axis) if axis else None
        if method == "fliplr":
            return receiver, "h"
        if method == "flipud":
            return receiver, "v"
        if method == "transpose" and len(args) == 1:
            name = (dotted_name(args[0]) or "").split(".")[-1]
            if name == "FLIP_LEFT_RIGHT":
                return receiver, "h"
            if name == "FLIP_TOP_BOTTOM":
                return receiver, "v"
        return None

    def flips_in(self, scope: Scope) -> List[ManualFlip]:
        """Every manual flip in a function, random or not."""
        key = id(scope)
        cached = self._flips.get(key)
        if cached is not None:
            return cached
        found: List[ManualFlip] = []
        if not self._calls_possible and not self._slices_possible:
            self._flips[key] = found
            return found
        for statement in scope.statements:
            if isinstance(statement.node, (cst.FunctionDef, cst.ClassDef)):
                continue
            if self._calls_possible:
                for site in statement.calls:
                    flipped = self.flip_of(site.node)
                    if flipped is not None:
                        found.append(self._manual_flip(site.node, flipped, statement))
            if self._slices_possible and self._may_slice_flip(statement):
                for subscript in _subscripts(statement.node):
                    flipped = _slice_flip(subscript)
                    if flipped is not None:
                        found.append(self._manual_flip(subscript, flipped, statement))
        self._flips[key] = found
        return found

    def _may_slice_flip(self, statement: Statement) -> bool:
        # slice flips only count under a random branch (a fixed [::-1] is mostly BGR<->RGB)
        return any(isinstance(block, cst.If) for block in statement.blocks) or _has_ifexp(statement.node)

    def _manual_flip(self, node: cst.CSTNode, flipped: Tuple[cst.BaseExpression, str], statement: Statement) -> ManualFlip:
        branch, draw = self.random_branch(statement, node)
        if isinstance(node, cst.Subscript) and branch is None:
            return ManualFlip(node, flipped[0], flipped[1], statement, None, None)
        return ManualFlip(node, flipped[0], flipped[1], statement, branch, draw)


def _contains(haystack: cst.CSTNode, needle: cst.CSTNode) -> bool:
    pending = [haystack]
    while pending:
        node = pending.pop()
        if node is needle:
            return True
        pending.extend(node.children)
    return False


def _has_ifexp(node: cst.CSTNode) -> bool:
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, cst.IfExp):
            return True
        if isinstance(current, (cst.IndentedBlock, cst.FunctionDef, cst.ClassDef)):
            continue
        pending.extend(current.children)
    return False


def _subscripts(node: cst.CSTNode) -> Iterator[cst.Subscript]:
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, (cst.IndentedBlock, cst.FunctionDef, cst.ClassDef)):
            continue  # a compound statement's header only; its body has statements of its own
        if isinstance(current, cst.Subscript):
            yield current
        pending.extend(current.children)


def _is_reverse(element: cst.SubscriptElement) -> bool:
    part = element.slice
    if not isinstance(part, cst.Slice) or part.lower is not None or part.upper is not None or part.step is None:
        return False
    return number_value(part.step) == -1


def _is_full(element: cst.SubscriptElement) -> bool:
    part = element.slice
    if isinstance(part, cst.Slice):
        return part.lower is None and part.upper is None and part.step is None
    return isinstance(part.value, cst.Ellipsis) if isinstance(part, cst.Index) else False


def _slice_flip(node: cst.Subscript) -> Optional[Tuple[cst.BaseExpression, str]]:
    """`x[::-1]` / `x[::-1, :]` (rows: vertical), `x[:, ::-1]` / `x[:, ::-1, :]` (columns of an
    HWC/HW array: horizontal). Reversals on a third axis are channel swaps (BGR<->RGB), not flips."""
    elements = list(node.slice)
    reversed_at = [i for i, element in enumerate(elements) if _is_reverse(element)]
    if len(reversed_at) != 1:
        return None
    position = reversed_at[0]
    others = [element for i, element in enumerate(elements) if i != position]
    if not all(_is_full(element) for element in others):
        return None
    if any(isinstance(e.slice, cst.Index) and isinstance(e.slice.value, cst.Ellipsis) for e in elements[:position]):
        return None  # x[..., ::-1]: the last axis, channels for images
    if len(elements) > 3:
        return None
    if position == 0:
        return node.value, "v"
    if position == 1:
        return node.value, "h"
    return None


def _axis_values(expr: Optional[cst.BaseExpression]) -> Optional[List[float]]:
    if expr is None:
        return None
    value = number_value(expr)
    if value is not None:
        return [value]
    if isinstance(expr, (cst.List, cst.Tuple)):
        values = [number_value(element.value) for element in expr.elements]
        if values and all(v is not None for v in values):
            return values  # type: ignore[return-value]
    return None


def _dims_axis(expr: Optional[cst.BaseExpression]) -> Optional[str]:
    """Spatial axes of a torch flip: -1/3 (width), -2/2 (height of CHW/NCHW). 0 and 1 are channel
    or batch axes for image tensors and do not count."""
    values = _axis_values(expr)
    if not values:
        return None
    axes = set()
    for value in values:
        if value in (-1, 3):
            axes.add("h")
        elif value in (-2, 2):
            axes.add("v")
        else:
            return None
    return "".join(sorted(axes, key="hv".index))


def _numpy_axis(expr: Optional[cst.BaseExpression]) -> Optional[str]:
    """Spatial axes of an np.flip on an HW/HWC array: 1 (width), 0 (height)."""
    values = _axis_values(expr)
    if not values:
        return None
    axes = set()
    for value in values:
        if value == 1:
            axes.add("h")
        elif value == 0:
            axes.add("v")
        else:
            return None
    return "".join(sorted(axes, key="hv".index))
