"""Fixes of the layers family (what `--fix` rewrites; see each rule's doc, section Fix).

NNL503: `training=self.training` on the functional dropout call in a method.
NNL504: the plain container wrapped in nn.ModuleList / nn.ModuleDict / nn.ParameterList / nn.ParameterDict.
NNL505: the softmax/sigmoid that feeds the loss dropped (see its builder for when that is safe).
NNL507: `bias=False` on the layer followed by BatchNorm.
"""

from __future__ import annotations

import re
from typing import Dict, Optional, Set

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.index import Scope, Statement
from nnlint.analysis.names import callee_terminal_name, keyword_arg, positional_args, string_value
from nnlint.families.layers.probabilities import Squashed
from nnlint.finding import Applicability, Fix
from nnlint.rewrite import Rewrite, fix_builder, with_keyword, with_parameter

# --- NNL503 -----------------------------------------------------------------------------------


@fix_builder
def pass_training_flag(ctx: ModuleContext, call: cst.Call, statement: Statement) -> Optional[Fix]:
    """`F.dropout(x, p)` in a method of the module -> `F.dropout(x, p, training=self.training)`.
    In a module-level helper that a module's methods call, the helper gets a `training=True`
    parameter passed on to the dropout, and the calls from methods pass `training=self.training`
    (other callers keep today's behaviour)."""
    scope = statement.scope
    if scope.class_info is not None:
        receiver = _receiver(scope)
        if receiver is None:
            return None
        flag = f"{receiver}.training"
        return Rewrite(ctx).replace(call, with_keyword(call, "training", flag)).fix(f"Pass training={flag}")
    function = scope.node
    if not isinstance(function, cst.FunctionDef) or scope.parent is None or not scope.parent.is_module:
        return None
    if scope.parameter("training") is not None or isinstance(function.params.star_kwarg, cst.Param):
        return None
    rewrite = Rewrite(ctx).replace(function.params, with_parameter(function, "training", "True"))
    rewrite.replace(call, with_keyword(call, "training", "training"))
    passed = 0
    for site in ctx.fact(DataFlow).callers(scope):
        receiver = _receiver(site.scope) if site.scope.class_info is not None else None
        if receiver is not None:
            rewrite.replace(site.node, with_keyword(site.node, "training", f"{receiver}.training"))
            passed += 1
    if not passed:
        return None
    return rewrite.fix(f"Give {scope.name}() a training parameter and pass self.training to it")


def _receiver(method: Scope) -> Optional[str]:
    """The name of a method's instance parameter (`self`)."""
    function = method.node
    if isinstance(function, cst.FunctionDef) and any(
        isinstance(d.decorator, cst.Name) and d.decorator.value in ("staticmethod", "classmethod") for d in function.decorators
    ):
        return None
    parameters = method.parameters()
    return parameters[0].name.value if parameters else None


# --- NNL504 -----------------------------------------------------------------------------------

# methods of list and dict that nn.ModuleList / nn.ModuleDict do not have: code that calls them
# on the attribute would break
_LIST_ONLY_METHODS = ("remove", "index", "count", "copy", "reverse", "sort", "clear")
_DICT_ONLY_METHODS = ("get", "setdefault", "copy", "fromkeys", "popitem")


class SelfAttributeCalls:
    """The methods the module's text calls on `self.<attribute>`, found in one pass over the
    text (a search of the text per fix would cost fixes x lines); the attributes to which
    `.append(`/`.insert(` adds a bracketed literal (a list of lists)."""

    _CALL = re.compile(r"\bself\.(\w+)\.(\w+)\((\s*[\[(])?")

    def __init__(self, ctx: ModuleContext) -> None:
        self.methods: Dict[str, Set[str]] = {}
        self.filled_with_containers: Set[str] = set()
        for match in self._CALL.finditer(ctx.source):
            attribute, method, bracket = match.groups()
            self.methods.setdefault(attribute, set()).add(method)
            if method in ("append", "insert") and bracket is not None:
                self.filled_with_containers.add(attribute)


@fix_builder
def register_container(ctx: ModuleContext, value: cst.BaseExpression, kind: str, parameters: bool, attribute: str) -> Optional[Fix]:
    """`self.x = [nn.Linear(...) ...]` -> `self.x = nn.ModuleList([...])` (and the dict and
    parameter variants). An empty literal filled later becomes the empty container."""
    wrapper = ("ParameterDict" if parameters else "ModuleDict") if kind == "dict" else ("ParameterList" if parameters else "ModuleList")
    spelled = ctx.imports.local_name(f"torch.nn.{wrapper}")
    if spelled is None:
        return None
    calls = ctx.fact(SelfAttributeCalls)
    if _nested(value) or attribute in calls.filled_with_containers:
        return None  # lists of lists: the wrapper would hold lists, not modules
    empty = isinstance(value, (cst.List, cst.Tuple, cst.Dict)) and not value.elements
    new = cst.Call(func=cst.parse_expression(spelled), args=[] if empty else [cst.Arg(value)])
    applicability = Applicability.SAFE
    if kind == "dict" and not parameters and not _string_keys(value):
        applicability = Applicability.UNSAFE  # nn.ModuleDict takes string keys only
    missing = _DICT_ONLY_METHODS if kind == "dict" else _LIST_ONLY_METHODS
    if calls.methods.get(attribute, set()) & set(missing):
        applicability = Applicability.UNSAFE
    return Rewrite(ctx).replace(value, new).fix(f"Register the {kind} with nn.{wrapper}", applicability)


def _nested(value: cst.BaseExpression) -> bool:
    """A container whose elements are containers themselves."""
    containers = (cst.List, cst.Tuple, cst.Dict, cst.ListComp, cst.DictComp, cst.SetComp, cst.GeneratorExp)
    if isinstance(value, (cst.ListComp, cst.GeneratorExp, cst.SetComp)):
        return isinstance(value.elt, containers)
    if isinstance(value, cst.DictComp):
        return isinstance(value.value, containers)
    if isinstance(value, (cst.List, cst.Tuple)):
        return any(isinstance(getattr(e, "value", None), containers) for e in value.elements)
    if isinstance(value, cst.Dict):
        return any(isinstance(getattr(e, "value", None), containers) for e in value.elements)
    return False


def _string_keys(value: cst.BaseExpression) -> bool:
    """Whether every key of a dict display is a string literal (an empty one has none yet)."""
    if not isinstance(value, cst.Dict):
        return False
    return all(isinstance(e, cst.DictElement) and string_value(e.key) is not None for e in value.elements)


# --- NNL507 -----------------------------------------------------------------------------------

# a file that loads weights may load checkpoints saved with the bias: they would no longer load
_LOADS_WEIGHTS = re.compile(r"load_state_dict|torch\.load|from_pretrained|load_from_checkpoint|load_checkpoint")


@fix_builder
def drop_bias(ctx: ModuleContext, layer: cst.Call, bias_position: int) -> Optional[Fix]:
    """`nn.Conv2d(a, b, 3)` -> `nn.Conv2d(a, b, 3, bias=False)` (a positional or keyword bias set
    to False where it stands)."""
    if keyword_arg(layer, "bias") is None and len(positional_args(layer)) > bias_position:
        positional = positional_args(layer)[bias_position]
        rewrite = Rewrite(ctx).replace(positional, "False")
    else:
        rewrite = Rewrite(ctx).replace(layer, with_keyword(layer, "bias", "False"))
    unsafe = bool(_LOADS_WEIGHTS.search(ctx.source))
    return rewrite.fix("Pass bias=False", Applicability.UNSAFE if unsafe else Applicability.SAFE)


# --- NNL505 -----------------------------------------------------------------------------------


@fix_builder
def drop_squashing(ctx: ModuleContext, squashed: Squashed, loss_call: cst.Call, loss_statement: Statement) -> Optional[Fix]:
    """Give the loss the logits: the softmax/sigmoid call is replaced by its operand (an
    nn.Softmax/nn.Sigmoid ending an nn.Sequential is removed).

    Safe when nothing else reads the probabilities: the squashing is in the loss's own argument,
    or in the training code with each variable in between read once, or in a helper whose only
    caller is the loss. Unsafe when it sits in the model's forward (every caller of the model now
    gets logits) or in a helper that others call."""
    rewrite = Rewrite(ctx)
    if squashed.operand is not None:
        rewrite.replace(squashed.node, squashed.operand)
    else:
        sequential = _sequential_around(ctx, squashed)
        if sequential is None:
            return None
        rewrite.replace(sequential, sequential.with_changes(args=_without_last(sequential.args)))
    if squashed.via is None:
        safe = _read_once_until(ctx, squashed.node, squashed.statement, loss_call, loss_statement)
    elif squashed.via.endswith(".forward") or squashed.via == "nn.Sequential":
        safe = False
    else:  # a helper of this module
        callers = [site for site in ctx.fact(DataFlow).callers(squashed.statement.scope) if site.statement is not None]
        safe = len(callers) == 1 and _read_once_until(ctx, callers[0].node, callers[0].statement, loss_call, loss_statement)
    where = f" in {squashed.via}" if squashed.via else ""
    return rewrite.fix(
        f"Remove the {squashed.kind}{where} so that the loss gets logits",
        Applicability.SAFE if safe else Applicability.UNSAFE,
    )


def _sequential_around(ctx: ModuleContext, squashed: Squashed) -> Optional[cst.Call]:
    """The nn.Sequential(...) construction whose last argument is the squashing layer."""
    built = ctx.index.call_sites.get(squashed.node)
    if built is None or built.statement is None:
        return None
    for site in built.statement.calls:
        call = site.node
        if call.args and call.args[-1].value is squashed.node and callee_terminal_name(call) == "Sequential":
            return call
    return None


def _without_last(args) -> list:
    kept = list(args[:-1])
    if kept:  # the new last argument keeps the layout of the removed one's end (trailing comma or not)
        kept[-1] = kept[-1].with_changes(comma=args[-1].comma)
    return kept


def _inside(ctx: ModuleContext, inner: cst.CSTNode, outer: cst.CSTNode) -> bool:
    a, b = ctx.position(inner), ctx.position(outer)
    return (b.start.line, b.start.column) <= (a.start.line, a.start.column) and (a.end.line, a.end.column) <= (b.end.line, b.end.column)


def _read_once_until(ctx: ModuleContext, node: cst.CSTNode, statement: Statement, loss_call: cst.Call, loss_statement: Statement) -> bool:
    """Whether the value of `node` flows to the loss and nowhere else: inside the loss's argument,
    or through `name = ...` assignments whose names are each read exactly once, by the next."""
    if statement is loss_statement:
        return _inside(ctx, node, loss_call)
    scope = statement.scope
    for _ in range(8):
        node = statement.node
        if not (isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name)):
            return False
        name = re.compile(rf"(?<![\w.]){re.escape(node.targets[0].target.value)}\b")
        readers = [(s, len(name.findall(_own_code(ctx, s.node)))) for s in scope.statements[statement.position + 1 :]]
        readers = [(s, count) for s, count in readers if count]
        if len(readers) != 1 or readers[0][1] != 1:
            return False
        statement = readers[0][0]
        if statement is loss_statement:
            return True
    return False


def _own_code(ctx: ModuleContext, node: cst.CSTNode) -> str:
    """A statement's code without the bodies of a compound statement (its header only)."""
    if isinstance(node, (cst.If, cst.While)):
        return ctx.code(node.test)
    if isinstance(node, cst.For):
        return ctx.code(node.target) + " " + ctx.code(node.iter)
    if isinstance(node, cst.With):
        return " ".join(ctx.code(item) for item in node.items)
    if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Try, cst.TryStar, cst.Match)):
        return ""
    return ctx.code(node)
