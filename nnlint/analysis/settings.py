"""Settings: the literal value a knob holds where the code shows it, for branches and flags.

`Settings.truth(expr, statement)` answers "is this flag on?" for `pretrained`, `not freeze`,
`self.hparams.pretrained`, `cfg.pretrained`, `CFG.pretrained` and `W if pretrained else None`:

- a parameter takes what the call sites pass: this module's calls (or constructions, for
  `__init__`), else the project's call sites (`RemoteValues.contexts`), else, with project analysis
  and no call of it anywhere in the project, its default (`def build_model(pretrained=True)`: the
  branch its default selects);
- `self.hparams.x` / `self.hparams["x"]` in a class whose `__init__` calls
  `self.save_hyperparameters()` is that `__init__`'s parameter `x`;
- `cfg.x` / `cfg["x"]` of a config built once in this module from literals
  (`SimpleNamespace(x=True)`, `dict(x=True)`, `{"x": True}`, `argparse.Namespace(...)`,
  `EasyDict({...})`), or `CFG.x` of a module-level class holding `x = True` in its body, when
  nothing in the module assigns that attribute again.

Every call site must agree; anything else (a command-line flag, a value computed at runtime, call
sites that disagree) is None: unknown stays unknown.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow, literal_code
from nnlint.analysis.index import Scope, Statement
from nnlint.analysis.names import callee_terminal_name, dotted_name, keyword_arg, string_value, string_value_of_index
from nnlint.analysis.remote import RemoteValues

MAX_DEPTH = 6
# calls that build a configuration object from their keyword arguments (or one dict literal)
CONFIG_BUILDERS = frozenset({"SimpleNamespace", "Namespace", "dict", "EasyDict", "edict", "AttrDict", "Box", "DotMap", "create"})
HPARAMS = frozenset({"hparams", "hyperparameters"})


class Settings:
    """Get it with ``ctx.fact(Settings)``."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        self._written: Optional[Dict[str, int]] = None

    def truth(self, expr: Optional[cst.BaseExpression], statement: Statement, depth: int = 0) -> Optional[bool]:
        value = self.literal(expr, statement, depth)
        if value is None:
            return None
        if isinstance(value, cst.Name):
            return {"True": True, "False": False, "None": False}.get(value.value)
        if isinstance(value, cst.UnaryOperation) and isinstance(value.operator, cst.Not):
            inner = self.truth(value.expression, statement, depth + 1)
            return None if inner is None else not inner
        code = literal_code(value)
        if code is not None and not code.startswith("("):
            text = string_value(value)
            return bool(text) if text is not None else code not in ("0", "0.0")
        return None

    def literal(self, expr: Optional[cst.BaseExpression], statement: Statement, depth: int = 0) -> Optional[cst.BaseExpression]:
        """The literal `expr` holds (`True`, `"DEFAULT"`, `0.5`), or None when unknown."""
        if expr is None or depth > MAX_DEPTH:
            return None
        if literal_code(expr) is not None:
            return expr
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
            inner = self.truth(expr.expression, statement, depth + 1)
            return None if inner is None else cst.Name("False" if inner else "True")
        if isinstance(expr, cst.IfExp):
            taken = self.truth(expr.test, statement, depth + 1)
            if taken is None:
                return None
            return self.literal(expr.body if taken else expr.orelse, statement, depth + 1)
        if isinstance(expr, cst.Name):
            definition = self.flow.definition(expr.value, statement)
            if definition.kind == "assign" and definition.value is not None and definition.statement is not None:
                if definition.is_module_level and len(self.flow.module_definitions(expr.value)) > 1:
                    return None
                return self.literal(definition.value, definition.statement, depth + 1)
            if definition.kind == "param" and definition.scope is not None:
                return self.parameter(definition.scope, expr.value, depth + 1)
            return None
        owner, key = _owner_and_key(expr)
        if owner is None or key is None:
            return None
        if dotted_name(owner) in {f"self.{name}" for name in HPARAMS}:
            return self._hyperparameter(key, statement, depth)
        if isinstance(owner, cst.Name) and not self._written_elsewhere(f"{owner.value}.{key}"):
            return self._config_entry(owner, key, statement, depth)
        return None

    # -- parameters ------------------------------------------------------------------------------------

    def parameter(self, scope: Scope, name: str, depth: int = 0) -> Optional[cst.BaseExpression]:
        passed = self.flow.argument_values(scope, name)
        if passed:
            values = [self.literal(value, at, depth + 1) for value, at in passed]
            codes = {literal_code(value) if value is not None else None for value in values}
            return values[0] if len(codes) == 1 and None not in codes else None
        remote = self.ctx.fact(RemoteValues)
        contexts = remote.contexts(scope) if remote.active else None
        if contexts:
            seen = set()
            for context in contexts:
                value = dict(context.values).get(name)
                if value is None or value.kind != "const" or "value" not in value.detail:
                    return None
                seen.add((type(value.detail["value"]), value.detail["value"]))  # True and 1 differ here
            return _constant(next(iter(seen))[1]) if len(seen) == 1 else None
        parameter = scope.parameter(name)
        if not remote.active or parameter is None or parameter.default is None or literal_code(parameter.default) is None:
            return None  # file by file, a call in another file may pass anything
        return parameter.default  # no call anywhere in the project: the value its default selects

    # -- hyperparameters and configuration objects ---------------------------------------------------

    def _hyperparameter(self, key: str, statement: Statement, depth: int) -> Optional[cst.BaseExpression]:
        owner = self.ctx.index.enclosing_class(statement.scope)
        init = owner.methods.get("__init__") if owner is not None else None
        if init is None or init.parameter(key) is None:
            return None
        if not any(callee_terminal_name(site.node) == "save_hyperparameters" for site in init.calls):
            return None
        return self.parameter(init, key, depth + 1)

    def _config_entry(self, owner: cst.Name, key: str, statement: Statement, depth: int) -> Optional[cst.BaseExpression]:
        definition = self.flow.definition(owner.value, statement)
        if definition.kind == "class" and definition.statement is not None and isinstance(definition.statement.node, cst.ClassDef):
            return self._class_attribute(definition.statement.node, key, definition.statement, depth)
        if definition.kind != "assign" or definition.value is None or definition.statement is None:
            return None
        if definition.is_module_level and len(self.flow.module_definitions(owner.value)) > 1:
            return None
        value, at = definition.value, definition.statement
        if isinstance(value, cst.Call) and (callee_terminal_name(value) or "") in CONFIG_BUILDERS:
            found = keyword_arg(value, key)
            if found is None and len(value.args) == 1 and isinstance(value.args[0].value, cst.Dict):
                found = _dict_entry(value.args[0].value, key)
            return self.literal(found, at, depth + 1) if found is not None else None
        if isinstance(value, cst.Dict):
            found = _dict_entry(value, key)
            return self.literal(found, at, depth + 1) if found is not None else None
        return None

    def _class_attribute(self, node: cst.ClassDef, key: str, statement: Statement, depth: int) -> Optional[cst.BaseExpression]:
        found: List[cst.BaseExpression] = []
        for line in node.body.body:
            if not isinstance(line, cst.SimpleStatementLine):
                continue
            for small in line.body:
                if isinstance(small, cst.Assign) and any(dotted_name(t.target) == key for t in small.targets):
                    found.append(small.value)
                elif isinstance(small, cst.AnnAssign) and dotted_name(small.target) == key and small.value is not None:
                    found.append(small.value)
        return self.literal(found[0], statement, depth + 1) if len(found) == 1 else None

    def _written_elsewhere(self, dotted: str) -> bool:
        """Whether some statement of the module assigns `cfg.key` (`cfg.pretrained = args.pretrained`)."""
        if self._written is None:
            written: Dict[str, int] = {}
            for scope in self.ctx.index.scopes:
                for statement in scope.statements:
                    node = statement.node
                    targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else (
                        [node.target] if isinstance(node, (cst.AnnAssign, cst.AugAssign)) else []
                    )
                    for target in targets:
                        owner, key = _owner_and_key(target)
                        if isinstance(owner, cst.Name) and key is not None:
                            name = f"{owner.value}.{key}"
                            written[name] = written.get(name, 0) + 1
            self._written = written
        return self._written.get(dotted, 0) > 0


def _owner_and_key(expr: cst.BaseExpression):
    """(`cfg`, "pretrained") for `cfg.pretrained` and `cfg["pretrained"]`; (None, None) otherwise."""
    if isinstance(expr, cst.Attribute):
        return expr.value, expr.attr.value
    if isinstance(expr, cst.Subscript):
        key = string_value_of_index(expr)
        return (expr.value, key) if key is not None else (None, None)
    return None, None


def _dict_entry(node: cst.Dict, key: str) -> Optional[cst.BaseExpression]:
    for element in node.elements:
        if not isinstance(element, cst.DictElement):
            return None  # `**defaults`: the entry may come from there
        if string_value(element.key) == key:
            return element.value
    return None


def _constant(value) -> Optional[cst.BaseExpression]:
    if isinstance(value, bool) or value is None:
        return cst.Name(str(value))
    if isinstance(value, (int, float)):
        return cst.Integer(str(value)) if isinstance(value, int) else cst.Float(repr(value))
    if isinstance(value, str):
        return cst.SimpleString(repr(value))
    return None
