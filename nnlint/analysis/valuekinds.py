"""Value kinds: what a value is, decided by where it comes from, never by its name.

``ctx.fact(ValueKinds).of(expr, statement)`` answers with a `Kind`:

- ``graph``: a tensor that carries an autograd graph: computed, with gradients on, from a model's
  output, by a loss function or loss module, or from another graph tensor;
- ``detached``: a tensor or array that carries none: ``.detach()``, ``.data``, ``.numpy()``,
  comparisons and integer casts, a fresh tensor (``torch.tensor``, ``torch.zeros``), numpy
  results, or anything computed under ``torch.no_grad()`` / ``inference_mode()``;
- ``number``: a plain Python value (a number, a bool, None, a string): literals, ``.item()``,
  ``float()``, ``int()``, ``len()``, ``.tolist()``, ``math.*``, arithmetic and ``sum`` of numbers,
  or a call of a function of this module (also a method) whose every return is one;
- ``unknown``: what the module does not show.

Values are followed through assignments, augmented assignments (``total += loss.item()``),
tuple unpacking of what a function of this module returns, ``self.<attr>`` assignments, and the
arguments every caller in the module passes to a parameter.

``Kind.loss`` says a graph tensor is a loss: computed by a loss function or loss module (a
torch.nn loss, a module of this file whose forward returns one), or the ``.loss`` of a model's
output. Names never override a kind. They only break a tie: a call of something this module does
not show (a model or criterion given as a parameter) may return a graph tensor or not, and among
graph tensors only the name tells a loss from another output (``loss = model(x, y)``,
``criterion(out, y)``, ``out["loss"]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Dict, Iterable, Optional, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow, Definition
from nnlint.analysis.gradmode import GradMode
from nnlint.analysis.index import Scope, Statement
from nnlint.analysis.names import (
    callee_terminal_name,
    dotted_name,
    keyword_arg,
    method_receiver,
    string_value_of_index,
    unpacked_index,
)
from nnlint.analysis.objects import MODEL, TrainingObjects

GRAPH = "graph"
DETACHED = "detached"
NUMBER = "number"
UNKNOWN = "unknown"

FUNCTIONAL = "torch.nn.functional."
LOSS_FUNCTIONS = frozenset(
    FUNCTIONAL + name
    for name in (
        "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
        "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "ctc_loss",
        "poisson_nll_loss", "gaussian_nll_loss", "margin_ranking_loss", "hinge_embedding_loss",
        "multilabel_margin_loss", "soft_margin_loss", "multilabel_soft_margin_loss",
        "cosine_embedding_loss", "multi_margin_loss", "triplet_margin_loss",
        "triplet_margin_with_distance_loss",
    )
)
# Builtins whose result is a plain Python value whatever they are given.
PLAIN_BUILTINS = frozenset(
    "builtins." + name for name in ("float", "int", "bool", "len", "str", "round", "repr", "format", "isinstance", "hash")
)
# Builtins whose result is (the arithmetic of) what they are given.
PASSING_BUILTINS = frozenset("builtins." + name for name in ("abs", "max", "min", "sum", "list", "tuple", "sorted"))
PLAIN_ROOTS = ("math.", "statistics.", "time.", "random.", "os.", "json.")
# Library calls that make a new tensor or array with no graph.
FRESH_TENSORS = re.compile(
    r"^(numpy|torch)\.(tensor|as_tensor|asarray|array|from_numpy|zeros|ones|empty|full|arange|linspace|logspace|"
    r"eye|rand\w*|randn\w*|randint\w*|randperm|bernoulli|multinomial|normal|zeros_like|ones_like|empty_like|"
    r"full_like|argmax|argmin|argsort|topk|isnan|isinf|isfinite|eq|ne|lt|gt|le|ge|equal|allclose)$"
)

# Methods whose result is a plain Python value.
PLAIN_METHODS = frozenset(
    {"item", "tolist", "size", "dim", "ndimension", "numel", "nelement", "element_size", "get_device",
     "is_floating_point", "is_contiguous", "__len__", "format", "startswith", "endswith", "join"}
)
# Methods whose result carries no graph whatever the receiver carries.
DETACHING_METHODS = frozenset(
    {"detach", "detach_", "numpy", "argmax", "argmin", "argsort", "long", "int", "bool", "byte", "short",
     "eq", "ne", "lt", "gt", "le", "ge", "isnan", "isinf", "isfinite", "nonzero", "sign", "round", "floor", "ceil"}
)
# Tensor methods whose result is computed from the receiver (and arguments), keeping its graph.
COMPUTING_METHODS = frozenset(
    {"mean", "sum", "nanmean", "nansum", "prod", "squeeze", "unsqueeze", "view", "view_as", "reshape", "flatten",
     "to", "cuda", "cpu", "float", "double", "half", "bfloat16", "contiguous", "clone", "mul", "div", "add", "sub",
     "mul_", "div_", "add_", "sub_", "masked_select", "abs", "sqrt", "exp", "log", "pow", "neg", "square", "clamp",
     "clamp_", "clip", "sigmoid", "tanh", "softmax", "log_softmax", "squeeze_", "unsqueeze_", "max", "min", "norm",
     "permute", "transpose", "expand", "expand_as", "repeat", "gather", "masked_fill", "where", "type_as", "t",
     "std", "var", "logsumexp", "cumsum", "split", "chunk", "unbind", "narrow", "select", "index_select"}
)
META_ATTRIBUTES = frozenset({"shape", "ndim", "dtype", "device", "is_cuda", "requires_grad", "__name__"})

LOSS_NAME = re.compile(r"loss|^nll$|^ce$|^mse$|^bce$|^kld?$", re.IGNORECASE)
# Names that contain "loss" but hold something else (weights, scales, histories, functions).
NOT_A_LOSS_NAME = re.compile(
    r"scale|weight|coef|factor|lambda|ratio|mult|alpha|beta|gamma|fn$|func|meter|avg|ema|hist|"
    r"list|log|dict|name|key|type|cls|track|record|buffer|queue|count|cap|max|min|clip|thresh|"
    r"mask|idx|index|ids|function|module|class|config|cfg|ceil|limit|bound|upper|lower|floor|grad|norm",
    re.IGNORECASE,
)
CRITERION_NAME = re.compile(r"loss|criterion|^crit$|^crit_|_crit$|objective", re.IGNORECASE)

MAX_DEPTH = 20

Path = Tuple[int, ...]


def looks_like_loss_name(name: str) -> bool:
    """A tie-breaker only: `loss`, `kl_loss`, `outputs.loss` (not `loss_weight`, `MAX_LOSS`)."""
    last = name.split(".")[-1]
    if last.isupper():
        return False  # MAX_LOSS, LOSS_SCALE: constants, not computed losses
    return bool(LOSS_NAME.search(last)) and not NOT_A_LOSS_NAME.search(last)


def looks_like_criterion_name(name: str) -> bool:
    """A tie-breaker only: a callable named like a loss (criterion, loss_fn, compute_loss)."""
    return bool(CRITERION_NAME.search(name.split(".")[-1]))


def is_loss_class(qualified: Optional[str]) -> bool:
    """`torch.nn.CrossEntropyLoss` and the other torch.nn loss modules."""
    return qualified is not None and qualified.startswith("torch.nn.") and qualified.endswith("Loss")


@dataclass(frozen=True)
class Kind:
    what: str  # graph | detached | number | unknown
    loss: bool = False  # a graph tensor computed as a loss
    # for unknown: the value of a call of something the module does not show (a tie names may break)
    opaque: bool = False
    # where the graph tensor is computed (for messages and probes)
    origin: Optional[Tuple[cst.CSTNode, Statement]] = None

    @property
    def is_plain(self) -> bool:
        """Proven to carry no graph: a Python value or a detached tensor."""
        return self.what in (NUMBER, DETACHED)


KNOWN_NUMBER = Kind(NUMBER)
KNOWN_DETACHED = Kind(DETACHED)
UNKNOWN_KIND = Kind(UNKNOWN)
OPAQUE_KIND = Kind(UNKNOWN, opaque=True)


def combined(kinds: Iterable[Kind]) -> Kind:
    """The kind of a value computed from all of these (arithmetic, packing into a tuple), or of one
    that may be any of them (branches, several returns): a graph if any carries one (a loss first),
    plain only if all are, a number only if all are numbers."""
    kinds = list(kinds)
    for kind in kinds:
        if kind.what == GRAPH and kind.loss:
            return kind
    for kind in kinds:
        if kind.what == GRAPH:
            return kind
    if any(kind.what == UNKNOWN for kind in kinds):
        return OPAQUE_KIND if any(kind.opaque for kind in kinds) else UNKNOWN_KIND
    if any(kind.what == DETACHED for kind in kinds):
        return KNOWN_DETACHED
    return KNOWN_NUMBER


class ValueKinds:
    """Get it with ``ctx.fact(ValueKinds)``."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        self.grad = ctx.fact(GradMode)
        self.objects = ctx.fact(TrainingObjects)
        self._memo: Dict[Tuple[int, int, Path], Kind] = {}

    # -- the question ---------------------------------------------------------------------------------

    def of(self, expr: cst.BaseExpression, statement: Statement, path: Path = ()) -> Kind:
        """The kind of `expr` as evaluated in `statement` (`path`: the element of a tuple it holds)."""
        return self._of(expr, statement, path, 0)

    def loss_tensor(self, expr: cst.BaseExpression, statement: Statement) -> Optional[Tuple[cst.CSTNode, Statement]]:
        """Where the graph-carrying loss that `expr` holds is computed, or None."""
        kind = self.of(expr, statement)
        if kind.what == GRAPH and kind.loss:
            return kind.origin or (expr, statement)
        return None

    def returns(self, scope: Scope, path: Path = (), depth: int = 0) -> Kind:
        """What a function of this module returns, over all its `return` statements."""
        kinds = []
        for statement in scope.statements:
            node = statement.node
            if isinstance(node, cst.Expr) and isinstance(node.value, (cst.Yield, cst.Await)):
                return UNKNOWN_KIND  # a generator or coroutine
            if isinstance(node, cst.Return):
                kinds.append(self._of(node.value, statement, path, depth + 1) if node.value is not None else KNOWN_NUMBER)
        return combined(kinds) if kinds else KNOWN_NUMBER  # no return: None

    # -- expressions ----------------------------------------------------------------------------------

    def _of(self, expr: cst.BaseExpression, statement: Statement, path: Path, depth: int) -> Kind:
        if depth > MAX_DEPTH:
            return UNKNOWN_KIND
        key = (id(expr), id(statement), path)
        found = self._memo.get(key)
        if found is not None:
            return found
        self._memo[key] = UNKNOWN_KIND  # a value defined through itself stays unknown
        found = self._compute(expr, statement, path, depth)
        self._memo[key] = found
        return found

    def _compute(self, expr: cst.BaseExpression, statement: Statement, path: Path, depth: int) -> Kind:
        if isinstance(expr, (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)):
            return KNOWN_NUMBER
        if isinstance(expr, (cst.Tuple, cst.List)):
            elements = [e.value for e in expr.elements]
            if path:
                index = path[0]
                if any(isinstance(e, cst.StarredElement) for e in expr.elements) or index >= len(elements):
                    return UNKNOWN_KIND
                return self._of(elements[index], statement, path[1:], depth + 1)
            return combined(self._of(e, statement, (), depth + 1) for e in elements)
        if path:
            return self._element(expr, statement, path, depth)
        if isinstance(expr, cst.Name):
            return self._name(expr, statement, depth)
        if isinstance(expr, cst.Attribute):
            return self._attribute(expr, statement, depth)
        if isinstance(expr, cst.Subscript):
            return self._computed(self._subscript(expr, statement, depth), statement)
        if isinstance(expr, cst.BinaryOperation):
            kind = combined((self._of(expr.left, statement, (), depth + 1), self._of(expr.right, statement, (), depth + 1)))
            return self._computed(kind, statement)
        if isinstance(expr, cst.UnaryOperation):
            if isinstance(expr.operator, cst.Not):
                return KNOWN_NUMBER
            return self._computed(self._of(expr.expression, statement, (), depth + 1), statement)
        if isinstance(expr, cst.Comparison):
            kind = combined([self._of(expr.left, statement, (), depth + 1)] + [self._of(c.comparator, statement, (), depth + 1) for c in expr.comparisons])
            return KNOWN_DETACHED if kind.what in (GRAPH, DETACHED) else kind
        if isinstance(expr, cst.BooleanOperation):
            return combined((self._of(expr.left, statement, (), depth + 1), self._of(expr.right, statement, (), depth + 1)))
        if isinstance(expr, cst.IfExp):
            return combined((self._of(expr.body, statement, (), depth + 1), self._of(expr.orelse, statement, (), depth + 1)))
        if isinstance(expr, (cst.GeneratorExp, cst.ListComp)):
            return self._of(expr.elt, statement, (), depth + 1)
        if isinstance(expr, cst.Call):
            return self._computed(self._call(expr, statement, depth), statement)
        return UNKNOWN_KIND

    def _computed(self, kind: Kind, statement: Statement) -> Kind:
        """A value computed in `statement`: no graph is recorded with gradients off."""
        if kind.what == GRAPH and self.grad.grad_disabled(statement):
            return KNOWN_DETACHED
        return kind

    def _element(self, expr: cst.BaseExpression, statement: Statement, path: Path, depth: int) -> Kind:
        """An element of a tuple-valued expression that is not a literal tuple."""
        if isinstance(expr, cst.Name):
            return self._name(expr, statement, depth, path)
        if isinstance(expr, cst.Call):
            kind = self._call(expr, statement, depth, path)
            return self._computed(kind, statement)
        whole = self._of(expr, statement, (), depth + 1)
        return whole if whole.what == GRAPH or whole.opaque else UNKNOWN_KIND

    # -- names ----------------------------------------------------------------------------------------

    def _name(self, expr: cst.Name, statement: Statement, depth: int, path: Path = ()) -> Kind:
        name = expr.value
        if name in ("True", "False", "None"):
            return KNOWN_NUMBER
        definition = self.flow.definition(name, statement)
        kind = self._binding(name, definition, path, depth)
        if kind.origin is None and definition.value is not None and definition.statement is not None:
            kind = replace(kind, origin=(definition.value, definition.statement))
        return self._named(kind, name)

    def _binding(self, name: str, definition: Definition, path: Path, depth: int) -> Kind:
        """The kind of the value a binding gives `name`."""
        at = definition.statement
        if depth > MAX_DEPTH:
            return UNKNOWN_KIND
        if definition.kind == "assign" and definition.value is not None and at is not None:
            if _is_mutable_container(definition.value):
                return UNKNOWN_KIND  # `losses = []`: what it holds is appended later
            return self._of(definition.value, at, path, depth + 1)
        if definition.kind == "augassign" and definition.value is not None and at is not None:
            # `total += loss.item()`: the added value and what the name held before
            before = self._binding(name, self.flow.definition(name, at), (), depth + 1)
            return combined((self._of(definition.value, at, (), depth + 1), before))
        if definition.kind == "unpacked" and definition.value is not None and at is not None:
            index = unpacked_index(at.node, name)
            return self._of(definition.value, at, (index,) + path, depth + 1) if index is not None else UNKNOWN_KIND
        if definition.kind == "param" and definition.scope is not None:
            return self._parameter(definition.scope, name, path, depth)
        return UNKNOWN_KIND

    def _named(self, kind: Kind, name: str) -> Kind:
        """A graph tensor, or the value of a call the module does not show, held by a variable named
        like a loss is taken to be the loss (`loss = model(x, y)`): the name breaks the tie."""
        if (kind.what == GRAPH and not kind.loss or kind.opaque) and looks_like_loss_name(name):
            return Kind(GRAPH, loss=True, origin=kind.origin)
        return kind

    def _parameter(self, scope: Scope, name: str, path: Path, depth: int) -> Kind:
        param = scope.parameter(name)
        if param is not None and param.annotation is not None:
            annotation = self.ctx.code(param.annotation.annotation)
            if annotation in ("int", "float", "bool", "str", "Optional[int]", "Optional[float]", "int | None", "float | None"):
                return KNOWN_NUMBER
        values = self.flow.argument_values(scope, name)
        if not values:
            return UNKNOWN_KIND
        return combined(self._of(value, at, path, depth + 1) for value, at in values)

    # -- attributes and subscripts --------------------------------------------------------------------

    def _attribute(self, expr: cst.Attribute, statement: Statement, depth: int) -> Kind:
        attribute = expr.attr.value
        qualified = self.ctx.qualified_name(expr)
        if qualified is not None:
            return KNOWN_NUMBER if qualified.startswith(("math.", "numpy.")) else UNKNOWN_KIND
        if attribute in META_ATTRIBUTES:
            return KNOWN_NUMBER
        if attribute in ("data", "grad"):
            return KNOWN_DETACHED
        dotted = dotted_name(expr)
        if dotted is not None and dotted.startswith("self.") and dotted.count(".") == 1:
            local = self.flow.definition(dotted, statement)
            if local.kind != "unknown" and local.statement is not None and local.statement.scope is statement.scope:
                return self._named(self._binding(dotted, local, (), depth + 1), attribute)
            definitions = self.flow.self_attribute_definitions(dotted, statement) or []
            if not definitions:
                return UNKNOWN_KIND
            # every value the attribute is given anywhere in the class
            kinds = [self._binding(dotted, d, (), depth + 1) if d.kind != "augassign" else self._of(d.value, d.statement, (), depth + 1)
                     for d in definitions if d.value is not None and d.statement is not None]
            if len(kinds) != len(definitions):
                return UNKNOWN_KIND
            return self._named(combined(kinds), attribute)
        receiver = self._of(expr.value, statement, (), depth + 1)
        if attribute in ("T", "mT", "real"):
            return receiver
        if attribute == "loss" and (receiver.what == GRAPH or receiver.opaque):
            # the `.loss` of a model's output (Hugging Face ModelOutput)
            return Kind(GRAPH, loss=True, origin=(expr, statement))
        if receiver.is_plain:
            return receiver
        return UNKNOWN_KIND

    def _subscript(self, expr: cst.Subscript, statement: Statement, depth: int) -> Kind:
        elements = list(expr.slice)
        if len(elements) == 1 and isinstance(elements[0].slice, cst.Index):
            index = elements[0].slice.value
            if isinstance(index, cst.Integer):
                return self._element(expr.value, statement, (int(index.evaluated_value),), depth + 1)
            key = string_value_of_index(expr)
            if key is not None:
                container = self._of(expr.value, statement, (), depth + 1)
                if container.what == GRAPH or container.opaque:
                    # `outputs["loss"]` of a model's output: the key breaks the tie
                    return Kind(GRAPH, loss=True, origin=(expr, statement)) if looks_like_loss_name(key) else OPAQUE_KIND
                return container if container.is_plain else UNKNOWN_KIND
        return self._of(expr.value, statement, (), depth + 1)  # a slice of the value

    # -- calls ----------------------------------------------------------------------------------------

    def _call(self, call: cst.Call, statement: Statement, depth: int, path: Path = ()) -> Kind:
        qualified = self.ctx.qualified_name(call.func)
        if qualified is not None:
            return self._library_call(call, qualified, statement, depth, path)
        callee = self.callee(call, statement)
        if callee is not None:
            return self._user_call(call, callee, statement, depth, path)
        receiver = method_receiver(call)
        method = callee_terminal_name(call) or ""
        if receiver is not None and dotted_name(receiver) != "self":
            receiver_kind = self._of(receiver, statement, (), depth + 1)
            if method in PLAIN_METHODS:
                return KNOWN_NUMBER
            if method in DETACHING_METHODS:
                return KNOWN_DETACHED
            if method in COMPUTING_METHODS:
                args = [self._of(a.value, statement, (), depth + 1) for a in call.args if a.keyword is None and not a.star]
                args = [k for k in args if k.what == GRAPH]  # sizes and dims do not make it unknown
                return combined([receiver_kind] + args)
        return self._object_call(call, statement, depth, path)

    def _library_call(self, call: cst.Call, qualified: str, statement: Statement, depth: int, path: Path) -> Kind:
        if qualified in LOSS_FUNCTIONS:
            return Kind(GRAPH, loss=True, origin=(call, statement))
        if qualified in PLAIN_BUILTINS or qualified.startswith(PLAIN_ROOTS):
            return KNOWN_NUMBER
        args = [a.value for a in call.args if a.keyword is None and not a.star]
        if qualified in PASSING_BUILTINS:
            kinds = [self._of(a, statement, (), depth + 1) for a in args]
            if qualified == "builtins.sum":
                kinds.append(KNOWN_NUMBER)  # the start, 0
            return combined(kinds) if kinds else UNKNOWN_KIND
        if qualified == "torch.autograd.grad":
            create_graph = keyword_arg(call, "create_graph")
            if not (isinstance(create_graph, cst.Name) and create_graph.value == "True"):
                return KNOWN_DETACHED  # gradients without a graph of their own
        if FRESH_TENSORS.match(qualified):
            return KNOWN_DETACHED
        if qualified.startswith("numpy."):
            return KNOWN_DETACHED  # numpy never records a graph
        if qualified.startswith("torch.") and qualified.split(".")[-1][:1].islower():
            kinds = [self._of(a, statement, (), depth + 1) for a in args]
            graphs = [k for k in kinds if k.what == GRAPH]
            if graphs:
                return combined(graphs)
            return combined(kinds) if kinds else UNKNOWN_KIND
        return UNKNOWN_KIND

    def callee(self, call: cst.Call, statement: Statement) -> Optional[Scope]:
        """The function or method of this module the call runs: `helper(...)`, `self.evaluate()`,
        `trainer.evaluate()` on an instance of a class of this module, `generator()` on one that
        defines `__call__`, `model(x)` on a module (its forward)."""
        site = self.ctx.index.call_sites.get(call)
        if site is not None:
            found = self.flow.callee(site)
            if found is not None:
                return found
        func = call.func
        if isinstance(func, cst.Attribute):
            owner = self.flow.instance_class(func.value, statement)
            if owner is not None:
                return owner.methods.get(func.attr.value)
        owner = self.flow.instance_class(func, statement)
        if owner is not None:
            return owner.methods.get("__call__") or owner.methods.get("forward")
        return None

    def _user_call(self, call: cst.Call, callee: Scope, statement: Statement, depth: int, path: Path) -> Kind:
        kind = self.returns(callee, path, depth + 1)
        owner = callee.class_info
        if callee.function_name == "forward" and owner is not None and self.objects.is_module_class(owner):
            if kind.what == UNKNOWN:
                kind = Kind(GRAPH)  # a module's output, computed from its parameters
            if kind.what == GRAPH:
                return replace(kind, origin=kind.origin if kind.loss else (call, statement))
        if kind.what == GRAPH and not kind.loss:
            # among graph tensors only names tell a loss: `compute_loss(...)`, `self.loss_fn(...)`,
            # an instance of `DiceLoss`
            names = [callee.function_name, dotted_name(call.func) or ""] + ([owner.name] if owner is not None else [])
            if any(looks_like_criterion_name(name) for name in names if name not in ("forward", "__call__")):
                return Kind(GRAPH, loss=True, origin=(call, statement))
        if kind.what == GRAPH and kind.loss:
            return replace(kind, origin=(call, statement))
        return kind

    def _object_call(self, call: cst.Call, statement: Statement, depth: int, path: Path) -> Kind:
        """A call of an object: a loss or model instance, or something the module does not show."""
        func = call.func
        if isinstance(func, cst.Name) and self.flow.definition(func.value, statement).kind in ("class", "function", "import"):
            return UNKNOWN_KIND  # a construction, or a function the module cannot follow
        if dotted_name(func) == "self":
            return Kind(GRAPH, origin=(call, statement))  # self(x) in a module: its forward
        if dotted_name(func) is None:
            return UNKNOWN_KIND
        sources, complete = self.objects.sources(func, statement)
        kinds = []
        for value, _ in sources:
            qualified = self.ctx.qualified_name(value.func if isinstance(value, cst.Call) else value)
            if qualified in LOSS_FUNCTIONS or (isinstance(value, cst.Call) and is_loss_class(qualified)):
                kinds.append(Kind(GRAPH, loss=True, origin=(call, statement)))
            elif isinstance(value, cst.Call) and self.objects.constructor_kind(value) == MODEL:
                kinds.append(Kind(GRAPH, origin=(call, statement)))
            else:
                kinds.append(OPAQUE_KIND)
        if sources and complete and all(k.what == GRAPH for k in kinds):
            return combined(kinds) if not path else Kind(GRAPH, origin=(call, statement))
        # Not shown by this module: the value may carry a graph or not. What the object is named
        # breaks the tie: a model (by name where no construction says) gives a graph tensor, a
        # criterion given a graph tensor gives a loss.
        if self.objects.kind(func, statement) == MODEL:
            return Kind(GRAPH, origin=(call, statement))
        args = [self._of(a.value, statement, (), depth + 1) for a in call.args if not a.star]
        if looks_like_criterion_name(dotted_name(func) or "") and any(k.what == GRAPH for k in args):
            return Kind(GRAPH, loss=True, origin=(call, statement))
        return OPAQUE_KIND


def _is_mutable_container(value: cst.BaseExpression) -> bool:
    """`[]`, `{}`, `list()`, `defaultdict(list)`: filled after it is bound."""
    if isinstance(value, (cst.List, cst.Dict, cst.Set, cst.ListComp, cst.DictComp, cst.SetComp)):
        return True
    return isinstance(value, cst.Call) and callee_terminal_name(value) in ("list", "dict", "set", "defaultdict", "deque", "OrderedDict")
