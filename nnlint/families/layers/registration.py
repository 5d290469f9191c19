"""Registration of submodules: which attributes of an nn.Module hold plain Python containers
(list, tuple, set, dict) of freshly built modules or parameters, which nn.Module never registers.

Get it with ``ctx.fact(Registration)``. ``plain_containers(module_class)`` lists, per attribute,
a ``PlainContainer``: the `self.x = ...` assignment, the container kind and the construction calls
it holds, found through literals and comprehensions, `list(...)`/`dict(...)`, an empty container
filled later (`append`, `extend`, `+=`, `self.x[k] = ...` in any method), and a local list built in
the same method (`layers = []; layers.append(...); self.x = layers`). Attributes handed to any
call other than read-only builtins (`nn.ModuleList(self.x)`, `nn.Sequential(*self.x)`, a helper),
and classes that register by hand (`self.add_module`, `register_module`, `register_parameter`,
`setattr(self, ...)`, a custom `__setattr__`), are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.index import ClassInfo, Statement
from nnlint.analysis.names import argument, callee_terminal_name, dotted_name
from nnlint.families.layers.models import ModelFacts, ModuleClass

# --- NNL504 -----------------------------------------------------------------------------------

# torch.nn classes without parameters, buffers or a train/eval behaviour: harmless in a list.
STATELESS_LAYERS = frozenset(
    "torch.nn." + n
    for n in (
        "ReLU", "ReLU6", "LeakyReLU", "GELU", "SiLU", "Mish", "ELU", "SELU", "CELU", "Sigmoid", "Tanh",
        "Hardtanh", "Hardswish", "Hardsigmoid", "Softplus", "Softsign", "Softmax", "LogSoftmax", "Softmin",
        "Tanhshrink", "Threshold", "GLU", "LogSigmoid", "Identity", "Flatten", "Unflatten", "MaxPool1d",
        "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d", "AdaptiveAvgPool1d",
        "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
        "AdaptiveMaxPool3d", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "PixelShuffle",
        "PixelUnshuffle", "ZeroPad2d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ReflectionPad1d",
        "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d", "ChannelShuffle", "Softmax2d",
    )
)
PARAMETER_CLASSES = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
# Builtins that read a container without keeping or registering its modules.
READ_ONLY_BUILTINS = frozenset(
    "builtins." + n
    for n in ("len", "enumerate", "zip", "reversed", "range", "print", "iter", "isinstance", "sorted", "sum",
              "any", "all", "min", "max", "str", "repr", "tuple", "list", "map", "filter", "id", "hasattr")
)
REGISTERING_METHODS = frozenset({"add_module", "register_module", "register_parameter"})
# Methods of a dict/list that hand out the modules it holds.
CONTENT_VIEWS = frozenset({"values", "items", "copy"})


@dataclass(frozen=True)
class PlainContainer:
    attribute: str
    # the `self.<attribute>` target and the value of the assignment that creates the container
    target: cst.BaseExpression
    value: cst.BaseExpression
    statement: Statement
    kind: str  # "list", "tuple" or "dict"
    # construction calls of modules/parameters that hold state (stateless layers and pretrained
    # extractors left out)
    layers: Tuple[cst.Call, ...]
    parameters: bool  # every one is an nn.Parameter


class Registration:
    """Get it with ``ctx.fact(Registration)``."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        self.models = ctx.fact(ModelFacts)
        self._cache: Dict[int, List[PlainContainer]] = {}

    def plain_containers(self, module: ModuleClass) -> List[PlainContainer]:
        key = id(module.info)
        if key not in self._cache:
            self._cache[key] = self._find(module)
        return self._cache[key]

    def _find(self, module: ModuleClass) -> List[PlainContainer]:
        info = module.info
        if self._registers_by_hand(info):
            return []
        found: List[PlainContainer] = []
        seen = set()
        for method in info.methods.values():
            self.ctx.deadline.check()
            for statement in method.statements:
                container = self._assignment(info, statement)
                if container is not None and container.attribute not in seen:
                    seen.add(container.attribute)
                    found.append(container)
        return found

    def _assignment(self, info: ClassInfo, statement: Statement) -> Optional[PlainContainer]:
        node = statement.node
        if isinstance(node, cst.Assign) and len(node.targets) == 1:
            target, value = node.targets[0].target, node.value
        elif isinstance(node, cst.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            return None
        name = dotted_name(target)
        if name is None or not name.startswith("self.") or name.count(".") != 1:
            return None
        attribute = name[5:]
        models = self.models
        found = self._container(value, statement, models, depth=0)
        if found is None:
            return None
        kind, elements = found
        if kind == "empty":
            kind, elements = self._filled_later(info, attribute, value)
            if kind is None:
                return None
        layers = [e for e in elements if e is not None and not _pretrained(e)]
        stateful = [call for call in layers if not self._stateless(call, models)]
        if not stateful or self._wrapped_later(info, attribute):
            return None
        parameters = all(self.ctx.qualified_name(call.func) in PARAMETER_CLASSES for call in stateful)
        return PlainContainer(attribute, target, value, statement, kind, tuple(stateful), parameters)

    def _container(self, value: cst.BaseExpression, statement: Statement, models: ModelFacts, depth: int):
        """("list"|"tuple"|"dict", [module constructions]) for a plain container of fresh modules
        or parameters; ("empty", []) for `[]`/`{}`; None otherwise. A `None` element stands for
        something else (a non-module value)."""
        if depth > 3:
            return None
        if isinstance(value, (cst.List, cst.Tuple, cst.Set)):
            kind = "tuple" if isinstance(value, cst.Tuple) else "list"
            if not value.elements:
                return ("empty", []) if isinstance(value, cst.List) else None
            elements = [self._fresh(e.value, statement, models) for e in value.elements if not isinstance(e, cst.StarredElement)]
            return kind, elements
        if isinstance(value, cst.Dict):
            if not value.elements:
                return "empty", []
            return "dict", [self._fresh(e.value, statement, models) for e in value.elements if isinstance(e, cst.DictElement)]
        if isinstance(value, (cst.ListComp, cst.SetComp, cst.GeneratorExp)):
            kind = "tuple" if isinstance(value, cst.GeneratorExp) else "list"
            return kind, [self._fresh(value.elt, statement, models)]
        if isinstance(value, cst.DictComp):
            return "dict", [self._fresh(value.value, statement, models)]
        if isinstance(value, cst.Call):
            qualified = self.ctx.qualified_name(value.func)
            if qualified in ("builtins.list", "builtins.tuple", "builtins.dict"):
                kind = qualified.split(".")[1]
                if not value.args:
                    return ("empty", []) if kind != "tuple" else None
                if len(value.args) == 1 and isinstance(value.args[0].value, (cst.GeneratorExp, cst.ListComp, cst.List, cst.Tuple)):
                    inner = self._container(value.args[0].value, statement, models, depth + 1)
                    if inner is None or inner[0] == "empty":
                        return None
                    return kind, inner[1]
            return None
        if isinstance(value, cst.Name):
            return self._local_container(value.value, statement, models, depth)
        return None

    def _local_container(self, name: str, statement: Statement, models: ModelFacts, depth: int):
        """`layers = [...]` (plus appends) in the same function, then `self.x = layers`."""
        flow = self.flow
        definition = flow.definition(name, statement)
        if definition.kind != "assign" or definition.statement is None or definition.value is None:
            return None
        if definition.statement.scope is not statement.scope:
            return None
        found = self._container(definition.value, definition.statement, models, depth + 1)
        if found is None:
            return None
        kind, elements = found
        elements = list(elements)
        for current in statement.scope.statements:
            if current is statement or current is definition.statement:
                continue
            for site in current.calls:
                call = site.node
                func = call.func
                if isinstance(func, cst.Attribute) and dotted_name(func.value) == name:
                    method = func.attr.value
                    if method == "append" and call.args:
                        elements.append(self._fresh(call.args[0].value, current, models))
                    elif method in ("extend", "insert", "update", "setdefault") and call.args:
                        elements.append(None)
                    continue
                if any(_mentions(arg.value, name) for arg in call.args):
                    qualified = self.ctx.qualified_name(call.func)
                    if qualified not in READ_ONLY_BUILTINS:
                        return None  # handed to nn.Sequential / nn.ModuleList / a helper
            node = current.node
            if isinstance(node, cst.AugAssign) and dotted_name(node.target) == name:
                more = self._container(node.value, current, models, depth + 1)
                if more is None:
                    return None
                elements.extend(more[1])
            elif isinstance(node, cst.Assign) and any(
                isinstance(t.target, cst.Subscript) and dotted_name(t.target.value) == name for t in node.targets
            ):
                elements.append(self._fresh(node.value, current, models))
            elif isinstance(node, (cst.Assign, cst.AnnAssign)) and _mentions(node.value, name) and current.position > definition.statement.position:
                # stored somewhere else as well (self.net = nn.Sequential(*layers) is a call, handled above)
                targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
                if not any(dotted_name(t) == f"self.{name}" for t in targets) and not isinstance(node.value, cst.Name):
                    return None
        if kind == "empty":
            kind = "dict" if isinstance(definition.value, cst.Dict) or (isinstance(definition.value, cst.Call) and callee_terminal_name(definition.value) == "dict") else "list"
        return kind, elements

    def _fresh(self, expr: cst.BaseExpression, statement: Statement, models: ModelFacts) -> Optional[cst.Call]:
        """The construction call when `expr` builds a module or parameter held nowhere else."""
        if isinstance(expr, cst.Call):
            if self.ctx.qualified_name(expr.func) in PARAMETER_CLASSES or models.is_module_construction(expr):
                return expr
            # up_block(a, b) where the helper returns nn.Sequential(...)
            returned = models.helper_constructions(expr)
            if returned and all(models.is_module_construction(r) for r in returned):
                return returned[0]
            # nn.Linear(4, 4).to(device)
            if isinstance(expr.func, cst.Attribute) and expr.func.attr.value in ("to", "cuda", "cpu", "float", "double", "half"):
                inner = expr.func.value
                return self._fresh(inner, statement, models) if isinstance(inner, cst.Call) else None
            return None
        if isinstance(expr, cst.Name):
            flow = self.flow
            definition = flow.definition(expr.value, statement)
            if definition.kind != "assign" or not isinstance(definition.value, cst.Call) or definition.statement is None:
                return None
            if definition.statement.scope is not statement.scope:
                return None
            built = self._fresh(definition.value, definition.statement, models)
            if built is None:
                return None
            # `conv = nn.Conv2d(...); self.conv = conv` or `self.add_module("c", conv)`: registered
            for current in statement.scope.statements:
                node = current.node
                if isinstance(node, cst.Assign) and isinstance(node.value, cst.Name) and node.value.value == expr.value:
                    if any(isinstance(t.target, cst.Attribute) for t in node.targets):
                        return None
                for site in current.calls:
                    if callee_terminal_name(site.node) == "append":
                        continue
                    if any(_mentions(arg.value, expr.value) for arg in site.node.args):
                        return None
            return built
        return None

    def _stateless(self, call: cst.Call, models: ModelFacts, depth: int = 0) -> bool:
        """A construction of a module without parameters, buffers or a train/eval behaviour: a
        stateless torch layer, or a module class of this file whose constructor keeps nothing but
        plain values and such constructions (`class MovingAverage` holding one `nn.AvgPool1d`, and a
        class holding a `MovingAverage`)."""
        if self.ctx.qualified_name(call.func) in STATELESS_LAYERS:
            return True
        if depth > 3:
            return False
        module = models.local_module_class(call)
        if module is None or not module.certain:
            return False
        if any(models.module_class(models._local_class(base)) is not None for base in module.info.bases):
            return False
        init = module.init
        if init is None:
            return True
        for statement in init.statements:
            node = statement.node
            value = node.value if isinstance(node, (cst.Assign, cst.AnnAssign)) else None
            if isinstance(value, (cst.List, cst.Dict, cst.ListComp, cst.DictComp)):
                return False
            if isinstance(value, cst.Call) and not self._stateless(value, models, depth + 1):
                return False
            for site in statement.calls:
                if callee_terminal_name(site.node) in REGISTERING_METHODS | {"register_buffer"}:
                    return False
        return True

    def _filled_later(self, info: ClassInfo, attribute: str, initial: cst.BaseExpression):
        """`self.x = []` then `self.x.append(nn.Linear(...))` / `self.x += [...]` / `self.x[k] = ...`."""
        models = self.models
        target = f"self.{attribute}"
        kind = "dict" if isinstance(initial, cst.Dict) or (isinstance(initial, cst.Call) and callee_terminal_name(initial) == "dict") else "list"
        elements: List[Optional[cst.Call]] = []
        for method in info.methods.values():
            for statement in method.statements:
                node = statement.node
                for site in statement.calls:
                    func = site.node.func
                    if isinstance(func, cst.Attribute) and dotted_name(func.value) == target and site.node.args:
                        if func.attr.value == "append":
                            elements.append(self._fresh(site.node.args[0].value, statement, models))
                        elif func.attr.value == "extend":
                            found = self._container(site.node.args[0].value, statement, models, 1)
                            elements.extend(found[1] if found else [None])
                if isinstance(node, cst.AugAssign) and dotted_name(node.target) == target:
                    found = self._container(node.value, statement, models, 1)
                    elements.extend(found[1] if found else [None])
                elif isinstance(node, cst.Assign) and any(
                    isinstance(t.target, cst.Subscript) and dotted_name(t.target.value) == target for t in node.targets
                ):
                    elements.append(self._fresh(node.value, statement, models))
        return (kind, elements) if elements else (None, [])

    def _wrapped_later(self, info: ClassInfo, attribute: str) -> bool:
        """`nn.ModuleList(self.x)`, `nn.Sequential(*self.x)`, or handed to any helper."""
        target = f"self.{attribute}"
        for method in info.methods.values():
            for site in method.calls:
                call = site.node
                if any(_mentions(arg.value, target) for arg in call.args):
                    if self.ctx.qualified_name(call.func) not in READ_ONLY_BUILTINS:
                        return True
        return False

    def _registers_by_hand(self, info: ClassInfo) -> bool:
        if "__setattr__" in info.methods or "__getattr__" in info.methods:
            return True
        for method in info.methods.values():
            for site in method.calls:
                call = site.node
                # self.add_module(...), super().register_module(...), setattr(self, name, layer)
                if callee_terminal_name(call) in REGISTERING_METHODS and isinstance(call.func, cst.Attribute):
                    owner = call.func.value
                    if dotted_name(owner) == "self" or (isinstance(owner, cst.Call) and dotted_name(owner.func) == "super"):
                        return True
                if self.ctx.qualified_name(call.func) == "builtins.setattr":
                    first = argument(call, 0, None)
                    if first is not None and dotted_name(first) == "self":
                        return True
        return False


def _pretrained(call: cst.Call) -> bool:
    """`vgg16(weights=...)`, `timm.create_model(name, pretrained=True)`: a frozen feature extractor
    is sometimes kept out of parameters() on purpose."""
    return any(arg.keyword is not None and arg.keyword.value in ("pretrained", "weights") for arg in call.args)


def _mentions(expr: cst.BaseExpression, dotted: str) -> bool:
    """Whether `expr` is `dotted`, `*dotted`, or a list/tuple/call argument naming it directly."""
    if dotted_name(expr) == dotted:
        return True
    if isinstance(expr, (cst.List, cst.Tuple)):
        return any(_mentions(e.value, dotted) for e in expr.elements)
    if isinstance(expr, cst.Call):
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value in CONTENT_VIEWS and dotted_name(func.value) == dotted:
            return True  # nn.ModuleList(list(self.x.values())): the dict's modules themselves
        # list(self.x), [*self.x], self.x + [...]
        return any(_mentions(a.value, dotted) for a in expr.args)
    if isinstance(expr, cst.BinaryOperation):
        return _mentions(expr.left, dotted) or _mentions(expr.right, dotted)
    return False
