"""Training objects: which expression is an optimizer, an LR scheduler, a GradScaler, a model, an
Accelerator or a Fabric; which models an optimizer updates; when two expressions are the same object.

Get it with ``ctx.fact(TrainingObjects)``. An expression is resolved through assignments
(`opt = self.optimizer`), `self.x = ...` in any method, wrappers (`model.to(device)`,
`DDP(model)`, `torch.compile(model)`), the unpacking of `accelerator.prepare(...)` /
`fabric.setup(...)`, and the arguments that callers in this module pass to a parameter. Where no
construction is visible, the name decides (`optimizer_G`, `lr_scheduler`, `scaler`), and where
neither decides the answer is None: checks stay silent on what they cannot resolve.

Keys: `key(expr, statement)` is the dotted name an object is known by after following plain
aliases in its scope (`opt = self.optimizer; opt.step()` acts on `self.optimizer`). Keys are
compared as strings; `related(a, b)` also holds for submodules (`model` and `model.module`).
"""

from __future__ import annotations

import re
from typing import Dict, FrozenSet, Iterable, List, Optional, Set, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow, Definition
from nnlint.analysis.index import CallSite, ClassInfo, Scope, Statement
from nnlint.analysis.names import (
    argument,
    callee_terminal_name,
    dotted_name,
    keyword_arg,
    method_receiver,
    positional_args,
    sequence_elements,
    string_value,
)

OPTIMIZER = "optimizer"
SCHEDULER = "scheduler"
SCALER = "scaler"
MODEL = "model"
ACCELERATOR = "accelerator"
FABRIC = "fabric"

MAX_DEPTH = 4

# Constructors (terminal names) that build an optimizer, besides torch.optim.*
OPTIMIZER_CONSTRUCTOR = re.compile(
    r"optim|^sgd$|adam|lamb$|^lion|adafactor|rmsprop|adagrad|adadelta|lbfgs|muon|shampoo|sophia|"
    r"ranger|lookahead|novograd|adan$|adabelief|prodigy|zeroredundancy|^lars$|^sam$",
    re.IGNORECASE,
)
SCHEDULER_CONSTRUCTOR = re.compile(
    r"sched|^get_\w*schedule|^(Lambda|Step|MultiStep|Exponential|Cosine\w*|Cyclic|OneCycle|Linear|"
    r"Polynomial|Constant|Sequential|Chained|Multiplicative)LR$|ReduceLROnPlateau|warmup",
    re.IGNORECASE,
)
# Wrappers whose result is the wrapped model.
MODEL_WRAPPERS = frozenset(
    {"DistributedDataParallel", "DataParallel", "FullyShardedDataParallel", "DDP", "FSDP", "compile",
     "convert_sync_batchnorm", "to", "cuda", "cpu", "float", "half", "bfloat16", "train", "eval", "requires_grad_",
     "channels_last"}
)
# Methods that unpack prepared/set-up objects positionally: model, opt = fabric.setup(model, opt)
PREPARE_METHODS = frozenset({"prepare", "setup", "setup_module", "setup_optimizers", "prepare_model", "prepare_optimizer"})
MODEL_CONSTRUCTOR_PREFIXES = ("torchvision.models.", "timm.create_model", "timm.models.", "segmentation_models_pytorch.")
MODULE_BASE = re.compile(r"Module$|Model$|Net$|^Module|LightningModule|PreTrainedModel|Sequential|ModuleList")

OPTIMIZER_NAME = re.compile(
    r"^(optimi[sz]er|optim|opt)([_0-9].*|[a-z0-9]?)$|(^|_)(optimi[sz]er|optim|opt)s?$|optimi[sz]er", re.IGNORECASE
)
# (`opt` is yolov5's name for its options, but options never get .step() or .zero_grad())
NOT_OPTIMIZER_NAME = re.compile(r"^opts$|option|optional|^opt_(level|args?|cfg|config)$", re.IGNORECASE)
SCHEDULER_NAME = re.compile(r"sched", re.IGNORECASE)
SCALER_NAME = re.compile(r"scaler$|^scaler", re.IGNORECASE)
MODEL_NAME = re.compile(
    r"^(model|net|network|module|generator|discriminator|gen|disc|encoder|decoder|backbone|classifier|"
    r"policy|critic|actor|unet|vae|transformer|student|teacher|[GD])(_?[a-z0-9]+)?$|model$|net$|^net[A-Z_]|^model_",
    re.IGNORECASE,
)
ACCELERATOR_NAME = re.compile(r"accelerator$", re.IGNORECASE)
FABRIC_NAME = re.compile(r"fabric$", re.IGNORECASE)

Source = Tuple[cst.BaseExpression, Statement]


def related(a: str, b: str) -> bool:
    """Same object, or one is a submodule/attribute of the other (`model`, `model.module`)."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def optimizer_root(key: str) -> str:
    """The root used in parameter-root sets for parameters named through an optimizer
    (`optimizer.param_groups[0]["params"]`)."""
    return "optimizer:" + key


class TrainingObjects:
    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        self._constructor_sites: Optional[Dict[str, List[CallSite]]] = None

    # -- keys ----------------------------------------------------------------------------------

    def key(self, expr: Optional[cst.BaseExpression], statement: Statement, depth: int = 0) -> Optional[str]:
        """The dotted name the object is known by, after following plain aliases in its scope."""
        if expr is None:
            return None
        dotted = dotted_name(expr)
        if dotted is None:
            if isinstance(expr, cst.Subscript):
                return self.ctx.code(expr)
            return None
        if depth >= MAX_DEPTH or self.ctx.qualified_name(expr) is not None:
            return dotted
        definition = self.flow.definition(dotted, statement)
        if (
            definition.kind == "assign"
            and isinstance(definition.value, (cst.Name, cst.Attribute))
            and definition.statement is not None
            and definition.statement.scope is statement.scope
            and dotted_name(definition.value) is not None
        ):
            return self.key(definition.value, definition.statement, depth + 1)
        return dotted

    # -- where an object comes from ------------------------------------------------------------------

    def sources(self, expr: cst.BaseExpression, statement: Statement) -> Tuple[List[Source], bool]:
        """The expressions that build the object (constructor calls and other non-alias values),
        and whether every way of reaching `expr` was resolved."""
        found: List[Source] = []
        complete = self._collect(expr, statement, 0, found, set())
        return found, complete

    def _collect(self, expr, statement: Statement, depth: int, found: List[Source], seen: Set[Tuple[int, int]]) -> bool:
        marker = (id(expr), id(statement))
        if marker in seen:
            return True
        seen.add(marker)
        if depth > MAX_DEPTH:
            return False
        if isinstance(expr, cst.Call):
            wrapped = self._wrapped(expr)
            if wrapped is not None:
                return self._collect(wrapped, statement, depth + 1, found, seen)
            found.append((expr, statement))
            return True
        dotted = dotted_name(expr)
        if dotted is None or self.ctx.qualified_name(expr) is not None:
            found.append((expr, statement))
            return True
        if dotted.startswith("self.") and dotted.count(".") == 1:
            owner = self.ctx.index.enclosing_class(statement.scope)
            local = self.flow.definition(dotted, statement)
            if local.kind != "unknown" and local.statement is not None and local.statement.scope is statement.scope:
                return self._from_definition(local, dotted, depth, found, seen)
            if owner is None:
                return False
            definitions = self.flow.attribute_definitions(owner, dotted[5:])
            if not definitions:
                return False
            complete = True
            for definition in definitions:
                complete &= self._from_definition(definition, dotted, depth, found, seen)
            return complete
        if "." in dotted:
            return False
        return self._from_definition(self.flow.definition(dotted, statement), dotted, depth, found, seen)

    def _from_definition(self, definition: Definition, dotted: str, depth: int, found, seen) -> bool:
        if definition.kind == "assign" and definition.value is not None and definition.statement is not None:
            return self._collect(definition.value, definition.statement, depth + 1, found, seen)
        if definition.kind == "unpacked" and definition.statement is not None:
            value = self._unpacked_source(definition, dotted)
            if value is not None:
                return self._collect(value, definition.statement, depth + 1, found, seen)
            returned = self._unpacked_return(definition, dotted)
            if returned:
                complete = True
                for value, where in returned:
                    complete &= self._collect(value, where, depth + 1, found, seen)
                return complete
            return False
        if definition.kind == "param" and definition.scope is not None:
            return self._from_callers(definition.scope, dotted, depth, found, seen)
        return False

    def _unpacked_source(self, definition: Definition, dotted: str) -> Optional[cst.BaseExpression]:
        """`model, opt = accelerator.prepare(model, opt)`: the argument at the target's position."""
        node = definition.statement.node if definition.statement else None
        value = definition.value
        if not isinstance(node, cst.Assign) or not isinstance(value, cst.Call):
            return None
        if callee_terminal_name(value) not in PREPARE_METHODS or any(arg.star for arg in value.args):
            return None
        for target in node.targets:
            elements = sequence_elements(target.target)
            if elements is None:
                continue
            names = [dotted_name(element) for element in elements]
            if dotted in names:
                args = [arg.value for arg in value.args if arg.keyword is None]
                index = names.index(dotted)
                if len(args) == len(names):
                    return args[index]
        return None

    def _unpacked_return(self, definition: Definition, dotted: str) -> List[Source]:
        """`train_loader, val_loader = build_loaders(...)`: the element at the target's position in
        what a function of this module returns (every return must be a tuple of that length)."""
        node = definition.statement.node if definition.statement else None
        value = definition.value
        if not isinstance(node, cst.Assign) or len(node.targets) != 1 or not isinstance(value, cst.Call):
            return []
        elements = sequence_elements(node.targets[0].target)
        names = [dotted_name(element) for element in elements] if elements is not None else []
        if dotted not in names:
            return []
        site = self.ctx.index.call_sites.get(value)
        callee = self.flow.callee(site) if site is not None else None
        if callee is None or callee.function_name == "forward":
            return []
        index = names.index(dotted)
        returned: List[Source] = []
        for statement in callee.statements:
            if isinstance(statement.node, cst.Return) and statement.node.value is not None:
                parts = sequence_elements(statement.node.value)
                if parts is None or len(parts) != len(names):
                    return []
                returned.append((parts[index], statement))
        return returned

    def _from_callers(self, scope: Scope, name: str, depth: int, found, seen) -> bool:
        sites = self._sites_calling(scope)
        if not sites:
            return False
        complete = True
        for site, params in sites:
            value = _argument_for(site.node, params, name)
            if value is None or site.statement is None:
                complete = False
                continue
            complete &= self._collect(value, site.statement, depth + 1, found, seen)
        return complete

    def _sites_calling(self, scope: Scope) -> List[Tuple[CallSite, List[str]]]:
        """Call sites of a function (or, for `__init__`, of its class) with the parameter names
        the positional arguments bind."""
        if not isinstance(scope.node, cst.FunctionDef):
            return []
        params = [p.name.value for p in list(scope.node.params.posonly_params) + list(scope.node.params.params)]
        if scope.class_info is not None and params and params[0] in ("self", "cls"):
            params = params[1:]
        if scope.class_info is not None and scope.function_name == "__init__":
            return [(site, params) for site in self._class_constructions(scope.class_info.name)]
        return [(site, params) for site in self.flow.callers(scope)]

    def _class_constructions(self, class_name: str) -> List[CallSite]:
        if self._constructor_sites is None:
            by_name: Dict[str, List[CallSite]] = {}
            for site in self.ctx.index.call_sites.values():
                if isinstance(site.node.func, cst.Name) and site.node.func.value in self.ctx.index.class_by_name:
                    by_name.setdefault(site.node.func.value, []).append(site)
            self._constructor_sites = by_name
        return self._constructor_sites.get(class_name, [])

    def _wrapped(self, call: cst.Call) -> Optional[cst.BaseExpression]:
        """The model inside `model.to(device)`, `DDP(model)`, `torch.compile(model)`."""
        terminal = callee_terminal_name(call)
        if terminal not in MODEL_WRAPPERS:
            return None
        receiver = method_receiver(call)
        qualified = self.ctx.qualified_name(call.func)
        if receiver is not None and qualified is None and terminal in (
            "to", "cuda", "cpu", "float", "half", "bfloat16", "train", "eval", "requires_grad_"
        ):
            return receiver
        args = positional_args(call)
        if args and (qualified is not None or isinstance(call.func, cst.Name)):
            return args[0] if terminal != "to" else None
        return None

    # -- kinds ---------------------------------------------------------------------------------

    def constructor_kind(self, call: cst.Call) -> Optional[str]:
        qualified = self.ctx.qualified_name(call.func) or ""
        terminal = callee_terminal_name(call) or ""
        if terminal.endswith("GradScaler"):
            return SCALER
        if "lr_scheduler" in qualified or SCHEDULER_CONSTRUCTOR.search(terminal):
            return SCHEDULER
        if qualified.startswith("torch.optim.") and "swa_utils" not in qualified and terminal[:1].isupper():
            return OPTIMIZER
        if terminal == "Accelerator":
            return ACCELERATOR
        if terminal == "Fabric":
            return FABRIC
        if terminal == "optimizers" and isinstance(call.func, cst.Attribute) and dotted_name(call.func.value) == "self":
            return OPTIMIZER  # Lightning's self.optimizers()
        if OPTIMIZER_CONSTRUCTOR.search(terminal) and not qualified.startswith("torch.nn"):
            return OPTIMIZER
        if self._is_model_constructor(call, qualified, terminal):
            return MODEL
        return None

    def _is_model_constructor(self, call: cst.Call, qualified: str, terminal: str) -> bool:
        if qualified.startswith("torch.nn.") and terminal[:1].isupper():
            return not terminal.endswith("Loss") and terminal not in ("Parameter", "ParameterList", "ParameterDict")
        if qualified.startswith(MODEL_CONSTRUCTOR_PREFIXES) or terminal == "create_model":
            return True
        if terminal == "from_pretrained":
            text = self.ctx.code(call.func)
            return "Model" in text and "Tokenizer" not in text and "Processor" not in text
        if isinstance(call.func, cst.Name):
            info = self.ctx.index.class_by_name.get(call.func.value)
            if info is not None:
                return self.is_module_class(info)
        return False

    def is_module_class(self, info: ClassInfo) -> bool:
        """Whether a class of this module is a torch module: it derives from torch.nn.Module or from
        a base named as one (`nn.Module`, `LightningModule`, `PreTrainedModel`, `BaseNet`)."""
        for base in info.bases:
            qualified = self.ctx.qualified_name(base) or ""
            if qualified.startswith("torch.nn.") or MODULE_BASE.search((dotted_name(base) or "").split(".")[-1]):
                return True
        return False

    def kind(self, expr: Optional[cst.BaseExpression], statement: Statement) -> Optional[str]:
        """optimizer / scheduler / scaler / model / accelerator / fabric, or None."""
        if expr is None:
            return None
        found, _ = self.sources(expr, statement)
        kinds = {self.constructor_kind(value) for value, _ in found if isinstance(value, cst.Call)}
        kinds.discard(None)
        if len(kinds) == 1:
            return kinds.pop()
        if len(kinds) > 1:
            return None
        if found and all(self._plain_object(value) for value, _ in found):
            return None  # built from classes of this module that are none of these: no name overrides that
        return self.kind_by_name(expr, statement)

    def _plain_object(self, value: cst.BaseExpression) -> bool:
        """An instance of a class of this module that is no torch module (`Tokenizer()`)."""
        if not isinstance(value, cst.Call) or not isinstance(value.func, cst.Name):
            return False
        info = self.ctx.index.class_by_name.get(value.func.value)
        return info is not None and self.ctx.imports.qualify(value.func.value) is None and not self.is_module_class(info)

    def kind_by_name(self, expr: cst.BaseExpression, statement: Statement) -> Optional[str]:
        names = [dotted_name(expr), self.key(expr, statement)]
        for name in names:
            if not name:
                continue
            last = name.split(".")[-1]
            if SCALER_NAME.search(last):
                return SCALER
            if SCHEDULER_NAME.search(last):
                return SCHEDULER
            if OPTIMIZER_NAME.search(last) and not NOT_OPTIMIZER_NAME.search(last):
                return OPTIMIZER
            if ACCELERATOR_NAME.search(last):
                return ACCELERATOR
            if FABRIC_NAME.search(last):
                return FABRIC
            if MODEL_NAME.search(last):
                return MODEL
        return None

    def constructions(self, expr: cst.BaseExpression, statement: Statement, kind: str) -> Tuple[List[Source], bool]:
        """The constructor calls of the given kind behind `expr`, and whether everything was resolved
        to such a call."""
        found, complete = self.sources(expr, statement)
        calls = [(value, where) for value, where in found if isinstance(value, cst.Call) and self.constructor_kind(value) == kind]
        return calls, complete and len(calls) == len(found)

    # -- what an optimizer updates -------------------------------------------------------------------

    def optimizer_roots(self, expr: cst.BaseExpression, statement: Statement) -> Optional[FrozenSet[str]]:
        """Keys of the models whose parameters the optimizer updates (`{"netG"}` for
        `Adam(netG.parameters())`), or None when that is not visible."""
        return self.roots_of(self.optimizer_owners(expr, statement))

    def optimizer_owners(
        self, expr: cst.BaseExpression, statement: Statement
    ) -> Optional[List[Tuple[str, cst.BaseExpression, Statement]]]:
        """What the optimizer updates, as `parameter_owners` gives it, or None."""
        calls, complete = self.constructions(expr, statement, OPTIMIZER)
        if not calls or not complete:
            return None
        owners: List[Tuple[str, cst.BaseExpression, Statement]] = []
        for call, where in calls:
            if callee_terminal_name(call) == "optimizers":
                return None
            params = argument(call, 0, "params")
            found = self.parameter_owners(params, where) if params is not None else None
            if found is None:
                return None
            owners.extend(found)
        return owners

    def roots_of(self, owners) -> Optional[FrozenSet[str]]:
        if owners is None:
            return None
        roots = set()
        for kind, owner, where in owners:
            key = self.key(owner, where)
            if key is None:
                return None
            roots.add(optimizer_root(key) if kind == OPTIMIZER else key)
        return frozenset(roots)

    @staticmethod
    def scope_of(owners) -> Optional[Scope]:
        """The scope whose names the keys of `owners` are written in, when it is one scope."""
        if not owners:
            return None
        scopes = {id(where.scope): where.scope for _, _, where in owners}
        return next(iter(scopes.values())) if len(scopes) == 1 else None

    def identity_of(self, owners) -> Optional[FrozenSet[int]]:
        """The constructor calls behind the models of `owners` (see `identity`), or None."""
        if owners is None:
            return None
        found: Set[int] = set()
        for kind, owner, where in owners:
            if kind != MODEL:
                return None
            one = self.identity(owner, where)
            if one is None:
                return None
            found |= one
        return frozenset(found)

    def identity(self, expr: Optional[cst.BaseExpression], statement: Statement) -> Optional[FrozenSet[int]]:
        """What the object is, as the set of constructor calls it may come from (through aliases,
        `self.x = ...`, wrappers, prepare() and callers' arguments), or None when some way of reaching it
        is not resolved. Two expressions with disjoint identities are different objects."""
        if expr is None:
            return None
        found, complete = self.sources(expr, statement)
        if not complete or not found or not all(isinstance(value, cst.Call) for value, _ in found):
            return None
        return frozenset(id(value) for value, _ in found)

    def parameter_owners(
        self, expr: cst.BaseExpression, statement: Statement, depth: int = 0
    ) -> Optional[List[Tuple[str, cst.BaseExpression, Statement]]]:
        """The objects whose parameters `expr` holds: ("model", receiver of .parameters(), statement)
        or ("optimizer", optimizer, statement) for `optimizer.param_groups[...]["params"]`; None if
        unknown."""
        if depth > MAX_DEPTH:
            return None
        if isinstance(expr, cst.Call):
            terminal = callee_terminal_name(expr)
            receiver = method_receiver(expr)
            qualified = self.ctx.qualified_name(expr.func)
            if terminal in ("parameters", "named_parameters") and receiver is not None:
                return [(MODEL, receiver, statement)]
            if terminal == "master_params":
                first = argument(expr, 0, None)
                return [(OPTIMIZER, first, statement)] if first is not None else None
            if qualified in ("builtins.list", "builtins.tuple", "builtins.filter", "builtins.sorted", "builtins.set",
                             "itertools.chain", "itertools.chain.from_iterable") or terminal == "chain":
                parts = [arg.value for arg in expr.args if not isinstance(arg.value, cst.Lambda)]
                return self._owners_of_parts(parts, statement, depth)
            return None
        if isinstance(expr, (cst.GeneratorExp, cst.ListComp, cst.SetComp)):
            return self.parameter_owners(expr.for_in.iter, statement, depth + 1)
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
            return self._owners_of_parts([expr.left, expr.right], statement, depth)
        if isinstance(expr, (cst.List, cst.Tuple)):
            parts: List[cst.BaseExpression] = []
            for element in expr.elements:
                value = element.value
                if isinstance(value, cst.Dict):
                    inner = [e.value for e in value.elements if isinstance(e, cst.DictElement) and string_value(e.key) == "params"]
                    if len(inner) != 1:
                        return None
                    parts.append(inner[0])
                else:
                    parts.append(value)
            return self._owners_of_parts(parts, statement, depth)
        if isinstance(expr, cst.Subscript):
            base = expr.value
            while isinstance(base, cst.Subscript):
                base = base.value
            if isinstance(base, cst.Attribute) and base.attr.value == "param_groups":
                return [(OPTIMIZER, base.value, statement)]
            return None
        if isinstance(expr, cst.Name):
            definition = self.flow.definition(expr.value, statement)
            if definition.kind in ("assign", "augassign", "loop") and definition.value is not None and definition.statement:
                # `params = list(model.parameters())`; `for group in optimizer.param_groups`
                return self.parameter_owners(definition.value, definition.statement, depth + 1)
            return None
        if isinstance(expr, cst.Attribute) and expr.attr.value == "param_groups":
            return [(OPTIMIZER, expr.value, statement)]
        return None

    def _owners_of_parts(self, parts: Iterable[cst.BaseExpression], statement: Statement, depth: int):
        owners: List[Tuple[str, cst.BaseExpression, Statement]] = []
        for part in parts:
            found = self.parameter_owners(part, statement, depth + 1)
            if found is None:
                return None
            owners.extend(found)
        return owners or None

    # -- GradScaler ----------------------------------------------------------------------------------

    def scaler_enabled(self, expr: cst.BaseExpression, statement: Statement) -> Optional[bool]:
        """True for a GradScaler that may scale (`enabled` absent or not literally False), False for
        `GradScaler(enabled=False)`, None when `expr` is not visibly a GradScaler."""
        calls, complete = self.constructions(expr, statement, SCALER)
        if not calls:
            return None
        if not complete:
            return None
        for call, _ in calls:
            enabled = keyword_arg(call, "enabled")
            if not (isinstance(enabled, cst.Name) and enabled.value == "False"):
                return True
        return False

    def init_scale(self, expr: cst.BaseExpression, statement: Statement) -> Optional[cst.BaseExpression]:
        calls, _ = self.constructions(expr, statement, SCALER)
        for call, _ in calls:
            value = keyword_arg(call, "init_scale")
            if value is not None:
                return value
        return None


def _argument_for(call: cst.Call, params: List[str], name: str) -> Optional[cst.BaseExpression]:
    value = keyword_arg(call, name)
    if value is not None:
        return value
    if name not in params:
        return None
    index = params.index(name)
    for position, arg in enumerate(call.args):
        if arg.star:
            return None
        if arg.keyword is not None:
            break
        if position == index:
            return arg.value
    return None
