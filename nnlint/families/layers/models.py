"""nn.Module model facts: which classes of the module are torch modules, what objects were
constructed as, what a module's forward runs and returns, and what an nn.Sequential holds.

Get it with ``ctx.fact(ModelFacts)``. Everything is computed lazily from the index and cached.

- ``module_class(info)``: a ``ModuleClass`` for a class deriving from ``torch.nn.Module`` (directly,
  through a torch.nn / Lightning / transformers base, or through module classes defined in this
  file), ``certain=True``; or, ``certain=False``, a class with a ``forward`` method whose bases
  come from elsewhere (``class Net(BaseModel)``), which is almost always a module too.
- ``forward_scopes(module_class)``: its ``forward`` and every function of this file that forward
  runs (``self.helper(...)``, module-level helpers, nested functions), transitively.
- ``forward_returns(module_class)``: the return statements of ``forward``.
- ``constructors(expr, statement)``: the calls that built the object ``expr`` refers to
  (``model = Net().to(device)``, ``self.crit = nn.CrossEntropyLoss()``, a parameter every caller
  passes such an object for), or None when the module does not show it.
- ``layer_class(call)``: the qualified torch class (``torch.nn.Conv2d``) or the local class a
  construction call builds.
- ``sequential_segments(call, statement)``: for ``nn.Sequential(...)`` (or ``super().__init__``
  in a Sequential subclass), the runs of layers known to be adjacent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Set, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.index import ClassInfo, Scope, Statement
from nnlint.analysis.names import argument, callee_terminal_name, dotted_name, has_star_args, method_receiver

# Base classes that make a class an nn.Module (besides any torch.nn class itself).
MODULE_ROOT_CLASSES = frozenset(
    {
        "torch.nn.Module",
        "torch.nn.modules.module.Module",
        "pytorch_lightning.LightningModule",
        "pytorch_lightning.core.LightningModule",
        "pytorch_lightning.core.module.LightningModule",
        "lightning.LightningModule",
        "lightning.pytorch.LightningModule",
        "lightning.pytorch.core.LightningModule",
        "lightning.pytorch.core.module.LightningModule",
        "transformers.PreTrainedModel",
        "transformers.modeling_utils.PreTrainedModel",
    }
)
# torch.nn names that are not module classes.
NOT_MODULE_TORCH_NN = frozenset(
    {
        "torch.nn.Parameter", "torch.nn.UninitializedParameter", "torch.nn.UninitializedBuffer",
        "torch.nn.Buffer", "torch.nn.parameter.Parameter", "torch.nn.parameter.Buffer",
    }
)
NOT_MODULE_TORCH_NN_PACKAGES = (
    "torch.nn.functional", "torch.nn.init", "torch.nn.utils", "torch.nn.attention", "torch.nn.parameter",
)
# Libraries whose module classes also derive from torch.nn.Module.
MODULE_LIBRARY_PREFIXES = ("torchvision.models.", "torchvision.ops.", "timm.layers.", "timm.models.layers.")
# Factory functions that return a torch module.
MODULE_FACTORIES = frozenset({"timm.create_model", "torch.hub.load"})
# Roots of bases that say a class is not a torch module (other frameworks, plain Python).
NON_MODULE_ROOTS = frozenset(
    {
        "builtins", "keras", "tensorflow", "tf", "flax", "jax", "haiku", "equinox", "paddle", "mxnet",
        "mindspore", "typing", "abc", "enum", "dataclasses", "collections", "numpy", "torch",
        "sklearn", "datasets", "pydantic", "xgboost", "lightgbm", "catboost", "gym", "gymnasium", "optuna",
        "PIL", "cv2", "albumentations", "torchmetrics", "scipy", "pandas", "matplotlib",
    }
)
# Methods that return the same module object (`Net().to(device)`, `model.cuda().eval()`).
SAME_OBJECT_METHODS = frozenset(
    {"to", "cuda", "cpu", "float", "double", "half", "bfloat16", "train", "eval", "requires_grad_", "to_empty"}
)
# Wrappers whose result runs the wrapped module (`nn.DataParallel(model)`, `torch.compile(model)`).
WRAPPERS = frozenset(
    {
        "torch.nn.DataParallel", "torch.nn.parallel.DataParallel", "torch.nn.parallel.DistributedDataParallel",
        "torch.compile", "torch.nn.SyncBatchNorm.convert_sync_batchnorm",
    }
)
# Class names that say "a network component" (for classes imported from the project).
MODULE_LIKE_NAME = re.compile(
    r"(Block|Layer|Encoder|Decoder|Net|Network|Head|Attention|Conv|MLP|Module|Model|Embedding|Transformer|"
    r"Stage|Cell|Unet|UNet|Backbone|Classifier|Generator|Discriminator|Bottleneck|Residual|Expert)\d*$"
)
SEQUENTIAL = frozenset({"torch.nn.Sequential", "torch.nn.modules.container.Sequential"})

MAX_DEPTH = 6


def is_torch_module_class(qualified: Optional[str]) -> bool:
    """Whether a qualified class name is a torch module class: torch.nn.Linear, LightningModule..."""
    if qualified is None:
        return False
    if qualified in MODULE_ROOT_CLASSES:
        return True
    last = qualified.rsplit(".", 1)[-1]
    if not last[:1].isupper():
        return False
    if qualified.startswith("torch.nn."):
        return qualified not in NOT_MODULE_TORCH_NN and not qualified.startswith(NOT_MODULE_TORCH_NN_PACKAGES)
    if qualified.startswith(MODULE_LIBRARY_PREFIXES):
        return True
    return qualified.startswith("transformers.") and last.endswith("PreTrainedModel")


@dataclass(eq=False)
class ModuleClass:
    info: ClassInfo
    # True when the class visibly derives from torch.nn.Module; False for a class with a forward
    # method whose bases are defined elsewhere
    certain: bool

    @property
    def name(self) -> str:
        return self.info.name

    # forward, also inherited from a module class of the same file
    forward: Optional[Scope] = None

    @property
    def init(self) -> Optional[Scope]:
        return self.info.methods.get("__init__")


class ModelFacts:
    """Get it with ``ctx.fact(ModelFacts)``."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        self._classes: Dict[int, Optional[ModuleClass]] = {}
        self._in_progress: Set[int] = set()
        self._forward_scopes: Dict[int, List[Scope]] = {}
        self._run_by_forward: Optional[Dict[int, ModuleClass]] = None
        self._class_calls_by_class: Optional[Dict[int, List]] = None

    # -- which classes are modules -------------------------------------------------------------

    def module_class(self, info: Optional[ClassInfo]) -> Optional[ModuleClass]:
        if info is None:
            return None
        key = id(info)
        if key in self._classes:
            return self._classes[key]
        if key in self._in_progress:
            return None  # a cycle of local bases: not a module we can be sure of
        self._in_progress.add(key)
        try:
            found = self._classify(info)
            if found is not None:
                found.forward = self._find_method(info, "forward", 0)
        finally:
            self._in_progress.discard(key)
        self._classes[key] = found
        return found

    def _find_method(self, info: ClassInfo, name: str, depth: int) -> Optional[Scope]:
        """A method of the class or of its base classes defined in this file."""
        if name in info.methods:
            return info.methods[name]
        if depth > MAX_DEPTH:
            return None
        for base in info.bases:
            local = self._local_class(base)
            if local is not None and local is not info:
                found = self._find_method(local, name, depth + 1)
                if found is not None:
                    return found
        return None

    def _classify(self, info: ClassInfo) -> Optional[ModuleClass]:
        unknown_base = False
        likely_local = False
        for base in info.bases:
            local = self._local_class(base)
            if local is not None:
                found = self.module_class(local)
                if found is not None and found.certain:
                    return ModuleClass(info, True)
                if found is not None:
                    likely_local = True
                continue
            qualified = self.ctx.qualified_name(base)
            if is_torch_module_class(qualified):
                return ModuleClass(info, True)
            root = qualified.split(".")[0] if qualified else None
            if root is None or (root not in NON_MODULE_ROOTS and not qualified.startswith("torch.")):
                unknown_base = True
        forward = info.methods.get("forward")
        if forward is not None and (unknown_base or likely_local) and _is_instance_method(forward):
            return ModuleClass(info, False)
        return None

    def _local_class(self, expr: cst.BaseExpression) -> Optional[ClassInfo]:
        if isinstance(expr, cst.Name) and self.ctx.imports.qualify(expr.value) is None:
            return self.ctx.index.class_by_name.get(expr.value)
        return None

    def module_classes(self) -> List[ModuleClass]:
        found = []
        for info in self.ctx.index.classes:
            module = self.module_class(info)
            if module is not None:
                found.append(module)
        return found

    def enclosing_module_class(self, scope: Scope) -> Optional[ModuleClass]:
        return self.module_class(self.ctx.index.enclosing_class(scope))

    # -- what forward runs ----------------------------------------------------------------------

    def forward_scopes(self, module: ModuleClass) -> List[Scope]:
        """forward and every function of this module it runs, transitively (callees through
        `self.method(...)`, module-level functions, nested functions)."""
        key = id(module.info)
        cached = self._forward_scopes.get(key)
        if cached is not None:
            return cached
        forward = module.forward
        found: List[Scope] = []
        if forward is not None:
            seen = {id(forward)}
            pending = [forward]
            while pending:
                self.ctx.deadline.check()
                scope = pending.pop()
                found.append(scope)
                following = list(scope.children)
                for site in scope.calls:
                    callee = self.flow.callee(site)
                    if callee is not None:
                        following.append(callee)
                    # checkpoint(self._block, x), map(self._layer, xs): a method handed on is run too
                    for arg in site.node.args:
                        value = arg.value
                        if isinstance(value, cst.Attribute) and isinstance(value.value, cst.Name) and value.value.value == "self":
                            method = module.info.methods.get(value.attr.value)
                            if method is not None:
                                following.append(method)
                for candidate in following:
                    if id(candidate) in seen or not isinstance(candidate.node, cst.FunctionDef):
                        continue
                    # another module's forward belongs to that module (it has its own self.training)
                    if candidate.function_name == "forward" and candidate is not forward:
                        continue
                    seen.add(id(candidate))
                    pending.append(candidate)
        self._forward_scopes[key] = found
        return found

    def run_by_forward(self, scope: Scope) -> Optional[ModuleClass]:
        """The module class whose forward runs this function, when this file shows one."""
        if self._run_by_forward is None:
            table: Dict[int, ModuleClass] = {}
            for module in self.module_classes():
                for found in self.forward_scopes(module):
                    table.setdefault(id(found), module)
            self._run_by_forward = table
        return self._run_by_forward.get(id(scope))

    def forward_returns(self, module: ModuleClass) -> List[Tuple[cst.Return, Statement]]:
        forward = module.forward
        if forward is None:
            return []
        return [(s.node, s) for s in forward.statements if isinstance(s.node, cst.Return) and s.scope is forward]

    # -- what objects were constructed as ------------------------------------------------------

    def constructors(self, expr: cst.BaseExpression, statement: Statement, depth: int = 0) -> Optional[List[cst.Call]]:
        """The construction calls that may have built the object `expr` refers to; None when
        some path is not shown by the module."""
        if depth > MAX_DEPTH:
            return None
        if isinstance(expr, cst.Call):
            qualified = self.ctx.qualified_name(expr.func)
            if qualified in WRAPPERS:
                wrapped = argument(expr, 0, "module" if "Parallel" in qualified else "model")
                return self.constructors(wrapped, statement, depth + 1) if wrapped is not None else None
            receiver = method_receiver(expr)
            if receiver is not None and qualified is None and callee_terminal_name(expr) in SAME_OBJECT_METHODS:
                return self.constructors(receiver, statement, depth + 1)
            # model = build_model(cfg), where build_model returns Net(...)
            returned = self.helper_constructions(expr)
            if returned is not None and depth < MAX_DEPTH:
                found: List[cst.Call] = []
                for call in returned:
                    site = self.ctx.index.call_sites.get(call)
                    where = site.statement if site is not None and site.statement is not None else statement
                    inner = self.constructors(call, where, depth + 1)
                    if inner is None:
                        return [expr]
                    found.extend(inner)
                return found
            return [expr]
        dotted = dotted_name(expr)
        if dotted is None:
            return None
        if dotted.startswith("self.") and dotted.count(".") == 1:
            return self._attribute_constructors(dotted[5:], statement, depth)
        definition = self.flow.definition(dotted, statement)
        if definition.kind == "assign" and definition.value is not None and definition.statement is not None:
            return self.constructors(definition.value, definition.statement, depth + 1)
        if definition.kind == "param" and definition.scope is not None:
            return self._parameter_constructors(dotted, definition.scope, depth)
        return None

    def _attribute_constructors(self, attribute: str, statement: Statement, depth: int) -> Optional[List[cst.Call]]:
        owner = self.ctx.index.enclosing_class(statement.scope)
        if owner is None:
            return None
        definitions = self.flow.attribute_definitions(owner, attribute)
        if not definitions:
            return None
        found: List[cst.Call] = []
        for definition in definitions:
            if definition.kind != "assign" or definition.value is None or definition.statement is None:
                return None
            if dotted_name(definition.value) == f"self.{attribute}":
                continue  # self.x = self.x
            built = self.constructors(definition.value, definition.statement, depth + 1)
            if built is None:
                return None
            found.extend(built)
        return found or None

    def _parameter_constructors(self, name: str, scope: Scope, depth: int) -> Optional[List[cst.Call]]:
        """Every caller in this module passes an object the module shows the construction of."""
        if not isinstance(scope.node, cst.FunctionDef):
            return None
        params = [p.name.value for p in list(scope.node.params.posonly_params) + list(scope.node.params.params)]
        if scope.class_info is not None and params and params[0] in ("self", "cls"):
            params = params[1:]
        callers = self.flow.callers(scope)
        if scope.function_name == "__init__" and scope.class_info is not None:
            # Trainer(Net(), nn.CrossEntropyLoss()): the constructor's callers build the class
            callers = self._class_calls(scope.class_info)
        if not callers:
            return None
        found: List[cst.Call] = []
        for site in callers:
            if site.statement is None or has_star_args(site.node):
                return None
            if isinstance(site.node.func, cst.Name) and scope.class_info is not None and scope.function_name != "__init__":
                return None  # an instance call reaching forward: positions differ
            value = None
            for arg in site.node.args:
                if arg.keyword is not None and arg.keyword.value == name:
                    value = arg.value
            if value is None and name in params:
                positional = [arg.value for arg in site.node.args if arg.keyword is None]
                index = params.index(name)
                if index < len(positional):
                    value = positional[index]
            where = site.statement
            if value is None:
                # the caller leaves it to the default: `def train(model, criterion=nn.CrossEntropyLoss())`
                param = scope.parameter(name)
                if param is None or param.default is None or not scope.statements:
                    return None
                value, where = param.default, scope.statements[0]
            built = self.constructors(value, where, depth + 1)
            if built is None:
                return None
            found.extend(built)
        return found

    def helper_constructions(self, call: cst.Call) -> Optional[List[cst.Call]]:
        """For a call of a function of this module (`conv3x3(a, b)`, `up_block(a, b)`), the
        construction calls it returns (every return statement returns one); else None."""
        site = self.ctx.index.call_sites.get(call)
        callee = self.flow.callee(site) if site is not None else None
        if callee is None or callee.class_info is not None or not isinstance(callee.node, cst.FunctionDef):
            return None
        returns = [s.node for s in callee.statements if isinstance(s.node, cst.Return) and s.scope is callee]
        if not returns or not all(isinstance(r.value, cst.Call) for r in returns):
            return None
        return [r.value for r in returns]  # type: ignore[misc]

    def _class_calls(self, info: ClassInfo) -> List:
        """Calls that construct the class: `Trainer(...)`."""
        if self._class_calls_by_class is None:
            # one pass for every class: a pass per class would cost classes x calls
            by_class: Dict[int, List] = {}
            for site in self.ctx.index.call_sites.values():
                local = self._local_class(site.node.func)
                if local is not None:
                    by_class.setdefault(id(local), []).append(site)
            self._class_calls_by_class = by_class
        return self._class_calls_by_class.get(id(info), [])

    def layer_class(self, call: cst.Call) -> Optional[str]:
        """`torch.nn.Conv2d` for `nn.Conv2d(...)`; the local class name for `Net(...)`."""
        local = self._local_class(call.func)
        if local is not None:
            return local.name
        return self.ctx.qualified_name(call.func)

    def local_module_class(self, call: cst.Call) -> Optional[ModuleClass]:
        return self.module_class(self._local_class(call.func))

    def single_class(self, calls: Optional[List[cst.Call]]) -> Optional[str]:
        """The one class all these constructions build, or None."""
        if not calls:
            return None
        classes = {self.layer_class(call) for call in calls}
        if len(classes) != 1:
            return None
        return next(iter(classes))

    def is_module_construction(self, call: cst.Call) -> bool:
        """Whether the call builds a torch module: a torch.nn / torchvision / timm module class, a
        module factory, or a module class defined in this file."""
        local = self._local_class(call.func)
        if local is not None:
            found = self.module_class(local)
            return found is not None and found.certain
        qualified = self.ctx.qualified_name(call.func)
        if qualified is None:
            return False
        if qualified in MODULE_FACTORIES or is_torch_module_class(qualified):
            return True
        # torchvision.models.resnet18(...)
        if qualified.startswith("torchvision.models.") and qualified.count(".") == 2:
            return True
        # a class of the project named like a module: `from .blocks import ResBlock`
        root, _, rest = qualified.lstrip(".").partition(".")
        last = qualified.rsplit(".", 1)[-1]
        return (
            root not in NON_MODULE_ROOTS
            and not qualified.startswith(("torch.", "torchvision.", "timm.", "transformers."))
            and bool(MODULE_LIKE_NAME.search(last))
            and last[:1].isupper()
        )

    # -- nn.Sequential ---------------------------------------------------------------------------

    def is_sequential_call(self, call: cst.Call, statement: Statement) -> bool:
        if self.ctx.qualified_name(call.func) in SEQUENTIAL:
            return True
        # super().__init__(conv, bn, act) in a subclass of nn.Sequential
        func = call.func
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value == "__init__"
            and isinstance(func.value, cst.Call)
            and dotted_name(func.value.func) == "super"
        ):
            owner = self.ctx.index.enclosing_class(statement.scope)
            return owner is not None and any(self.ctx.qualified_name(base) in SEQUENTIAL for base in owner.bases)
        return False

    def sequential_segments(self, call: cst.Call, statement: Statement) -> List[List[cst.BaseExpression]]:
        """Runs of layers of an nn.Sequential that are adjacent in it. `*layers` of a list built in
        the same function contributes each literal added to it (and consecutive appends); what
        cannot be followed breaks adjacency."""
        segments: List[List[cst.BaseExpression]] = []
        current: List[cst.BaseExpression] = []
        for arg in call.args:
            if arg.keyword is not None or arg.star == "**":
                continue
            if arg.star == "*":
                if current:
                    segments.append(current)
                current = []
                name = dotted_name(arg.value)
                if name is not None and "." not in name:
                    segments.extend(self.list_segments(name, statement))
                elif isinstance(arg.value, (cst.List, cst.Tuple)):
                    segments.extend(_literal_segments(arg.value))
                continue
            ordered = self._ordered_dict_values(arg.value)
            if ordered is not None:
                if current:
                    segments.append(current)
                segments.append(ordered)
                current = []
                continue
            current.append(arg.value)
        if current:
            segments.append(current)
        return segments

    def _ordered_dict_values(self, expr: cst.BaseExpression) -> Optional[List[cst.BaseExpression]]:
        """The layers of `OrderedDict([("conv", ...), ("bn", ...)])` or `{"conv": ..., ...}`."""
        if isinstance(expr, cst.Dict):
            return [e.value for e in expr.elements if isinstance(e, cst.DictElement)]
        if not isinstance(expr, cst.Call) or callee_terminal_name(expr) != "OrderedDict":
            return None
        inner = argument(expr, 0, None)
        if isinstance(inner, (cst.List, cst.Tuple)):
            values = []
            for element in inner.elements:
                pair = element.value
                if isinstance(pair, (cst.Tuple, cst.List)) and len(pair.elements) == 2:
                    values.append(pair.elements[1].value)
                else:
                    return None
            return values
        return None

    def list_segments(self, name: str, statement: Statement) -> List[List[cst.BaseExpression]]:
        """Adjacent runs of a list variable built in `statement`'s scope before it:
        `layers = [a, b]`, `layers += [c, d]`, `layers.extend([e, f])`, and consecutive
        `layers.append(x)` statements of one block."""
        scope = statement.scope
        segments: List[List[cst.BaseExpression]] = []
        run: List[cst.BaseExpression] = []
        last_append: Optional[Statement] = None
        for current in scope.statements[: statement.position]:
            node = current.node
            literal: Optional[cst.BaseExpression] = None
            appended: Optional[cst.BaseExpression] = None
            if isinstance(node, cst.Assign) and any(dotted_name(t.target) == name for t in node.targets):
                literal = node.value
            elif isinstance(node, cst.AugAssign) and dotted_name(node.target) == name:
                literal = node.value
            elif isinstance(node, cst.Expr) and isinstance(node.value, cst.Call):
                inner = node.value
                if isinstance(inner.func, cst.Attribute) and dotted_name(inner.func.value) == name:
                    method = inner.func.attr.value
                    if method == "extend":
                        literal = argument(inner, 0, None)
                    elif method == "append":
                        appended = argument(inner, 0, None)
                    elif method == "insert":
                        return []  # positions change: adjacency unknown
            if appended is not None:
                if last_append is not None and _consecutive(last_append, current):
                    run.append(appended)
                else:
                    if run:
                        segments.append(run)
                    run = [appended]
                last_append = current
                continue
            if literal is not None:
                if run:
                    segments.append(run)
                run = []
                last_append = None
                if isinstance(literal, (cst.List, cst.Tuple)):
                    segments.extend(_literal_segments(literal))
        if run:
            segments.append(run)
        return segments


def _is_instance_method(scope: Scope) -> bool:
    """`def forward(self, ...)`, not a staticmethod `forward(ctx, ...)` of an autograd Function."""
    node = scope.node
    if not isinstance(node, cst.FunctionDef):
        return False
    if any(dotted_name(d.decorator) in ("staticmethod", "classmethod") for d in node.decorators):
        return False
    params = list(node.params.posonly_params) + list(node.params.params)
    return bool(params) and params[0].name.value == "self"


def _literal_segments(literal) -> List[List[cst.BaseExpression]]:
    """The runs of a list/tuple literal between starred elements."""
    segments: List[List[cst.BaseExpression]] = [[]]
    for element in literal.elements:
        if isinstance(element, cst.StarredElement):
            segments.append([])
        else:
            segments[-1].append(element.value)
    return [segment for segment in segments if segment]


def _consecutive(first: Statement, second: Statement) -> bool:
    return (
        second.position == first.position + 1
        and len(first.blocks) == len(second.blocks)
        and all(a is b for a, b in zip(first.blocks, second.blocks))
    )
