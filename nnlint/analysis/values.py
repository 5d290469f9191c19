"""Fixed values: literals, constants and hyperparameters, as opposed to data computed each step.

`FixedValues.is_fixed(expr, statement)` answers "is this a knob someone set, not a tensor the
step computed?" (NNL101 only calls a bound a cap when it is fixed). `resolve_for_probe` gathers,
for runtime probes, the source of every name an expression needs: module constants, local
assignments, argparse defaults, literal config dicts, parameter defaults.
"""

from __future__ import annotations

import re
from typing import Dict, Iterator, Optional

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow, Definition
from nnlint.analysis.index import ClassInfo, Statement
from nnlint.analysis.names import (
    argument,
    callee_terminal_name,
    dotted_name,
    keyword_arg,
    method_receiver,
    number_value,
    positional_args,
    string_value,
    string_value_of_index,
)

# Names that hold configuration by convention: `args.max_loss`, `cfg.train.cap`, `hparams["cap"]`.
CONFIG_ROOTS = frozenset(
    {
        "args", "arg", "opt", "opts", "option", "options", "config", "cfg", "conf", "configs",
        "hparams", "hp", "hps", "hparam", "hyperparams", "hyperparameters", "params", "flags",
        "FLAGS", "settings", "training_args", "train_args", "train_cfg", "train_config",
        "cli_args", "cmd_args", "run_config", "exp_config", "experiment_config", "trainer_config",
    }
)
# Calls whose result is a configuration object.
CONFIG_FACTORIES = frozenset(
    {"parse_args", "parse_known_args", "parse_args_into_dataclasses", "load", "safe_load", "create",
     "from_yaml", "from_json", "load_config", "get_config", "get_args", "parse_config", "Namespace"}
)
# A parameter whose name says it is a limit is a hyperparameter even without a default.
LIMIT_NAME = re.compile(r"max|cap|clip|limit|bound|thresh|ceil|upper|clamp", re.IGNORECASE)
NUMERIC_ANNOTATIONS = frozenset({"float", "int", "Optional[float]", "Optional[int]", "float | None", "int | None"})
# Constructors of constant tensors: the argument at this position holds the value.
CONSTANT_TENSORS = {
    "torch.tensor": 0, "torch.as_tensor": 0, "torch.scalar_tensor": 0, "torch.full_like": 1,
    "torch.full": 1, "numpy.float32": 0, "numpy.float64": 0, "numpy.array": 0,
}
SHAPE_ONLY_TENSORS = frozenset({"torch.ones_like", "torch.ones", "numpy.ones_like"})
INFINITIES = frozenset({"math.inf", "torch.inf", "numpy.inf", "numpy.Inf", "numpy.PINF"})

MAX_DEPTH = 6
# Methods that configure an object once, before it is used.
SETUP_METHODS = ("__init__", "setup", "__post_init__")


def _is_upper_constant(name: str) -> bool:
    return name.isupper() and any(c.isalpha() for c in name)


class FixedValues:
    """Get it with ``ctx.fact(FixedValues)``."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        self._argparse_defaults: Optional[Dict[str, cst.BaseExpression]] = None

    # -- classification ----------------------------------------------------------------------------

    def is_fixed(self, expr: cst.BaseExpression, statement: Statement, depth: int = 0) -> bool:
        if depth > MAX_DEPTH:
            return False
        if number_value(expr) is not None:
            return True
        if isinstance(expr, cst.UnaryOperation):
            return self.is_fixed(expr.expression, statement, depth + 1)
        if isinstance(expr, cst.BinaryOperation):
            return self.is_fixed(expr.left, statement, depth + 1) and self.is_fixed(expr.right, statement, depth + 1)
        if isinstance(expr, cst.Name):
            return self._is_fixed_name(expr.value, statement, depth)
        if isinstance(expr, cst.Attribute):
            return self._is_fixed_attribute(expr, statement, depth)
        if isinstance(expr, cst.Subscript):
            return string_value_of_index(expr) is not None and self._is_config_object(expr.value, statement, depth)
        if isinstance(expr, cst.Call):
            return self._is_fixed_call(expr, statement, depth)
        return False

    def is_infinite(self, expr: cst.BaseExpression) -> bool:
        """`float("inf")`, `math.inf` and friends: a bound that bounds nothing."""
        if isinstance(expr, cst.Call) and callee_terminal_name(expr) == "float":
            args = positional_args(expr)
            text = string_value(args[0]) if args else None
            return text is not None and text.strip().lower().lstrip("+") in ("inf", "infinity")
        return self.ctx.qualified_name(expr) in INFINITIES

    def _is_fixed_name(self, name: str, statement: Statement, depth: int) -> bool:
        definition = self.flow.definition(name, statement)
        if definition.kind == "param":
            return self._is_hyperparameter(definition, depth)
        if definition.kind == "assign" and definition.value is not None and definition.statement is not None:
            if definition.is_module_level and _is_upper_constant(name):
                return True
            return self.is_fixed(definition.value, definition.statement, depth + 1)
        if definition.kind == "unpacked" and definition.is_module_level and _is_upper_constant(name):
            return True
        return False

    def _is_hyperparameter(self, definition: Definition, depth: int = 0) -> bool:
        param = definition.param
        scope = definition.scope
        if param is None or scope is None:
            return False
        passed = self.flow.argument_values(scope, param.name.value) if depth < MAX_DEPTH else None
        if passed and all(self.is_fixed(value, at, depth + 1) for value, at in passed if at is not None):
            return True  # every call of the function passes a fixed value: `train(..., cap=10.0)`
        if scope.function_name == "__init__":
            return True  # constructor arguments configure the object
        if param.default is not None and number_value(param.default) is not None:
            return True
        if param.annotation is not None:
            annotation = self.ctx.code(param.annotation.annotation)
            if annotation in NUMERIC_ANNOTATIONS:
                return True
        return bool(LIMIT_NAME.search(param.name.value))

    def _is_fixed_attribute(self, expr: cst.Attribute, statement: Statement, depth: int) -> bool:
        if self.ctx.qualified_name(expr) is not None:
            # a library constant such as math.pi; torch.inf is handled by is_infinite
            return True
        if self._is_config_object(expr.value, statement, depth):
            return True
        # self.max_loss: fixed when every assignment to it sits in __init__/setup and is fixed
        if isinstance(expr.value, cst.Name) and expr.value.value == "self":
            owner = self.ctx.index.enclosing_class(statement.scope)
            if owner is None:
                return False
            definitions = self.flow.attribute_definitions(owner, expr.attr.value)
            buffers = self._registered_buffers(owner, expr.attr.value)
            if buffers and not definitions:
                # self.register_buffer("bound", torch.tensor(max_loss)) in __init__
                return all(
                    scope_name in SETUP_METHODS and value is not None and self.is_fixed(value, at, depth + 1)
                    for value, at, scope_name in buffers
                )
            return bool(definitions) and all(
                d.kind == "assign"
                and d.statement is not None
                and d.statement.scope.function_name in SETUP_METHODS
                and d.value is not None
                and self.is_fixed(d.value, d.statement, depth + 1)
                for d in definitions
            )
        return False

    def _registered_buffers(self, owner: ClassInfo, name: str):
        """(value, statement, method name) of every `self.register_buffer("name", value)` of a class."""
        found = []
        for method in owner.methods.values():
            for site in method.calls:
                call = site.node
                terminal = callee_terminal_name(call) or ""
                if terminal.endswith("_") and dotted_name(method_receiver(call) or call.func) == f"self.{name}":
                    return []  # updated in place (a running statistic): not a fixed value
                if terminal != "register_buffer" or site.statement is None:
                    continue
                receiver = method_receiver(call)
                if not (isinstance(receiver, cst.Name) and receiver.value == "self"):
                    continue
                registered = argument(call, 0, "name")
                if registered is not None and string_value(registered) == name:
                    found.append((argument(call, 1, "tensor"), site.statement, method.function_name))
        return found

    def _is_config_object(self, expr: cst.BaseExpression, statement: Statement, depth: int) -> bool:
        """Whether `expr` is a configuration container: args, cfg.train, self.hparams, a dict literal."""
        if isinstance(expr, cst.Name):
            return self._is_config_name(expr.value, statement, depth)
        if isinstance(expr, cst.Attribute):
            if isinstance(expr.value, cst.Name) and expr.value.value == "self":
                return expr.attr.value in CONFIG_ROOTS
            return self._is_config_object(expr.value, statement, depth + 1)
        if isinstance(expr, cst.Subscript):
            return self._is_config_object(expr.value, statement, depth + 1)
        return False

    def _is_config_name(self, name: str, statement: Statement, depth: int) -> bool:
        if name in CONFIG_ROOTS:
            return True
        definition = self.flow.definition(name, statement)
        value = definition.value
        if definition.kind != "assign" or value is None or depth >= MAX_DEPTH:
            return False
        if isinstance(value, cst.Dict):
            return True
        if isinstance(value, cst.Call) and callee_terminal_name(value) in CONFIG_FACTORIES:
            return True
        return definition.statement is not None and self._is_config_object(value, definition.statement, depth + 1)

    def _is_fixed_call(self, call: cst.Call, statement: Statement, depth: int) -> bool:
        qualified = self.ctx.qualified_name(call.func)
        terminal = callee_terminal_name(call)
        if qualified in ("builtins.float", "builtins.int", "builtins.abs"):
            args = positional_args(call)
            return len(args) == 1 and self.is_fixed(args[0], statement, depth + 1)
        if qualified in ("os.environ.get", "os.getenv"):
            return True
        if qualified in CONSTANT_TENSORS:
            value = argument(call, CONSTANT_TENSORS[qualified], "fill_value" if "full" in qualified else "data")
            return value is not None and self.is_fixed(value, statement, depth + 1)
        if qualified in SHAPE_ONLY_TENSORS:
            return True
        if qualified is not None and qualified.startswith("math."):
            return all(self.is_fixed(a.value, statement, depth + 1) for a in call.args)
        receiver = method_receiver(call)
        if receiver is not None and qualified is None:
            if terminal in ("new_tensor", "new_full"):
                value = argument(call, 0 if terminal == "new_tensor" else 1, None)
                return value is not None and self.is_fixed(value, statement, depth + 1)
            if terminal == "get":
                return self._is_config_object(receiver, statement, depth)
        return False

    # -- resolution for runtime probes -----------------------------------------------------------------

    def resolve_for_probe(self, exprs, statement: Statement) -> Dict[str, Dict[str, str]]:
        """For every dotted name the expressions use: where its value comes from, as plain data.

        Each entry has a `kind`: `import` (with `qualified`), `value` (with `source`, the code that
        computes it; its own names are resolved too), `user` (a function or class of this module,
        which a probe must never run), `runtime` (only known when the script runs, with `reason`),
        or `unknown`.
        """
        table: Dict[str, Dict[str, str]] = {}
        pending = [(expr, statement, 0) for expr in exprs]
        while pending:
            expr, at, depth = pending.pop()
            for name_node in _names_used(expr):
                name = dotted_name(name_node)
                if name is None or name in table:
                    continue
                entry, value, value_statement = self._resolve_name(name_node, name, at)
                table[name] = entry
                if value is not None and value_statement is not None and depth < MAX_DEPTH:
                    pending.append((value, value_statement, depth + 1))
        return table

    def _resolve_name(self, node: cst.BaseExpression, name: str, statement: Statement):
        """(table entry, expression holding the value or None, statement that expression sits in)."""
        root, _, attribute_path = name.partition(".")
        definition = self.flow.definition(root, statement)
        qualified = self.ctx.qualified_name(node)
        if qualified is not None and definition.kind in ("import", "unknown"):
            return {"kind": "import", "qualified": qualified}, None, None
        if definition.kind in ("function", "class"):
            return {"kind": "user", "reason": f"{root} is defined in this module"}, None, None
        if attribute_path:
            return self._resolve_attribute(name, root, attribute_path, statement)
        if definition.kind == "param":
            param = definition.param
            if param is not None and param.default is not None:
                entry = {"kind": "value", "source": self.ctx.fragment(param.default), "origin": "parameter default"}
                return entry, param.default, statement
            owner = definition.scope.function_name if definition.scope else "a function"
            return {"kind": "runtime", "reason": f"{name} is a parameter of {owner}"}, None, None
        if definition.kind == "assign" and definition.value is not None:
            origin = "module constant" if definition.is_module_level else "assignment"
            entry = {"kind": "value", "source": self.ctx.fragment(definition.value), "origin": origin}
            return entry, definition.value, definition.statement
        if definition.kind == "unknown":
            return {"kind": "unknown", "reason": f"{name} is not defined in this module"}, None, None
        return {"kind": "runtime", "reason": f"{name} is only known when the script runs"}, None, None

    def _resolve_attribute(self, name: str, root: str, attribute_path: str, statement: Statement):
        """`args.cap` from an argparse default; `self.cap` / `self.hparams.cap` from the
        constructor that sets it."""
        last = attribute_path.split(".")[-1]
        if root == "self":
            owner = self.ctx.index.enclosing_class(statement.scope)
            if owner is not None and "." not in attribute_path:
                definitions = self.flow.attribute_definitions(owner, attribute_path)
                if len(definitions) == 1 and definitions[0].value is not None:
                    found = definitions[0]
                    entry = {"kind": "value", "source": self.ctx.fragment(found.value), "origin": "set in the class"}
                    return entry, found.value, found.statement
                buffers = [] if definitions else self._registered_buffers(owner, attribute_path)
                if len(buffers) == 1 and buffers[0][0] is not None:
                    value, at, _ = buffers[0]  # self.register_buffer("bound", torch.tensor(max_loss))
                    entry = {"kind": "value", "source": self.ctx.fragment(value), "origin": "registered buffer"}
                    return entry, value, at
            if owner is not None and attribute_path.startswith("hparams.") and "__init__" in owner.methods:
                init = owner.methods["__init__"]
                param = init.parameter(last)
                if param is not None and param.default is not None and init.statements:
                    entry = {"kind": "value", "source": self.ctx.fragment(param.default), "origin": "__init__ default"}
                    return entry, param.default, init.statements[0]
        elif self._is_config_name(root, statement, 0):
            default = self.argparse_default(last)
            if default is not None:
                entry = {"kind": "value", "source": self.ctx.fragment(default), "origin": "argparse default"}
                return entry, default, statement
        return {"kind": "runtime", "reason": f"{name} is only known when the script runs"}, None, None

    def argparse_default(self, dest: str) -> Optional[cst.BaseExpression]:
        """The default of `parser.add_argument("--<dest>", default=...)` (or set_defaults) in this module."""
        if self._argparse_defaults is None:
            defaults: Dict[str, cst.BaseExpression] = {}
            for site in self.ctx.index.call_sites.values():
                terminal = callee_terminal_name(site.node)
                if terminal == "add_argument":
                    default = keyword_arg(site.node, "default")
                    destination = _argparse_destination(site.node)
                    if default is not None and destination is not None:
                        defaults[destination] = default
                elif terminal == "set_defaults":
                    for arg in site.node.args:
                        if arg.keyword is not None:
                            defaults[arg.keyword.value] = arg.value
            self._argparse_defaults = defaults
        return self._argparse_defaults.get(dest)


def _argparse_destination(call: cst.Call) -> Optional[str]:
    explicit = keyword_arg(call, "dest")
    if explicit is not None:
        return string_value(explicit)
    flags = [string_value(arg) for arg in positional_args(call)]
    flags = [flag for flag in flags if flag]
    if not flags:
        return None
    long_flags = [flag for flag in flags if flag.startswith("--")]
    chosen = long_flags[0] if long_flags else flags[0]
    return chosen.lstrip("-").replace("-", "_")


def _names_used(expr: cst.CSTNode) -> Iterator[cst.BaseExpression]:
    """The outermost Name/Attribute chains in an expression (`args.cap` once, not `args` too)."""
    pending = [expr]
    while pending:
        node = pending.pop()
        if isinstance(node, (cst.Name, cst.Attribute)) and dotted_name(node) is not None:
            yield node
            continue
        if isinstance(node, cst.Attribute):
            pending.append(node.value)
            continue
        if isinstance(node, cst.Arg):
            pending.append(node.value)  # skip the keyword name
            continue
        pending.extend(node.children)
