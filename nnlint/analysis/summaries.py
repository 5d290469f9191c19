"""Module summaries: what one module tells the others (pass 1 of project analysis).

A summary is plain JSON data computed from ONE module's stdlib `ast` (an order of magnitude cheaper
than LibCST), so it is cached by the module's content alone. It records, syntactically:

- ``imports``: local name -> dotted name it stands for (relative ones keep their dots),
- ``paths``: folders the module adds to ``sys.path`` with literal strings,
- ``functions`` and ``classes`` (with their methods): parameters, defaults, the value each
  returns, the ``attrs`` a method sets on ``self`` (once, outside loops), and its ``effects`` in
  order: what it does to its parameters (``mode``, ``step``, ``zero_grad``, ``backward``,
  ``clip``, ``forward``, a loop over a parameter that backpropagates: ``trains_on``) and the calls
  it makes (``call``),
- ``globals``: module-level names bound once, with their values,
- ``calls``: calls whose callee may be another module's function, with their argument values (the
  call sites a function's parameters are learned from).

Values are small trees in a closed vocabulary, never names interpreted by their spelling:
``{"c": 1}`` a constant, ``{"p": "model"}`` a parameter, ``{"n": "T.Compose"}`` a module-level or
imported name, ``{"call": f, "args": [...], "kw": {...}, "at": [line, col, end_line, end_col]}``,
``{"seq": [...]}``, ``{"item": v, "i": 0}``, ``{"attr": v, "a": "name"}``, ``{"either": [...]}`` (with
``"if"``: the test of a conditional expression, when it is a plain value)
and ``{"?": 1}`` (unknown). What the values mean across modules is decided by `analysis.project_values`
when a check asks.
"""

from __future__ import annotations

import ast
from typing import Any, Dict, List, Optional

SUMMARY_FORMAT = 6
UNKNOWN: Dict[str, Any] = {"?": 1}
# how deep a local name is replaced by its value (`a = b; b = c(...)`)
MAX_INLINE = 6
# a name is bound to its value only when the value nests no deeper than this
MAX_BOUND_DEPTH = 6
MAX_STRING = 200
MODE_METHODS = {"eval": False, "train": True}
CLIP_FUNCTIONS = frozenset({"clip_grad_norm_", "clip_grad_value_", "clip_grad_norm"})
# Libraries whose calls a summary does not record one by one (a project is not one of them).
LIBRARY_ROOTS = frozenset({
    "torch", "numpy", "math", "os", "sys", "time", "logging", "random", "json", "re", "collections", "itertools",
    "functools", "tqdm", "wandb", "pathlib", "shutil", "copy", "datetime", "warnings", "pickle", "PIL", "cv2",
    "matplotlib", "pandas", "yaml", "argparse", "typing", "dataclasses", "contextlib", "einops", "scipy",
})


def _at(node: ast.AST, lines: List[str]) -> List[int]:
    """1-based line, 1-based character column (ast counts UTF-8 bytes), end line and end column."""

    def column(line: int, offset: int) -> int:
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        if text.isascii():
            return offset + 1
        return len(text.encode("utf-8")[:offset].decode("utf-8", "replace")) + 1

    end_line = getattr(node, "end_lineno", None) or node.lineno
    end_offset = getattr(node, "end_col_offset", None) or node.col_offset
    return [node.lineno, column(node.lineno, node.col_offset), end_line, column(end_line, end_offset)]


def _depth(value: Any, limit: int = 8) -> int:
    """How deeply a value tree nests (counted up to `limit`). A call's keyword map is no level of
    its own: `Dataset(root, transform=Compose([...]))` nests as deep as its positional form."""
    if limit <= 0 or not isinstance(value, dict):
        return 0
    deepest = 0
    for key, inner in value.items():
        elements = inner if isinstance(inner, list) else list(inner.values()) if key == "kw" else [inner]
        for element in elements:
            if isinstance(element, dict):
                deepest = max(deepest, 1 + _depth(element, limit - 1))
    return deepest


def _pruned(value: Any, limit: int) -> Any:
    """The value tree with what nests deeper than `limit` replaced by unknown."""
    if not isinstance(value, dict):
        return value
    if limit <= 0:
        return UNKNOWN
    pruned: Dict[str, Any] = {}
    for key, inner in value.items():
        if key == "kw":  # keyword name -> value: each value is a tree of its own
            pruned[key] = {name: _pruned(element, limit - 1) for name, element in inner.items()}
        elif isinstance(inner, list):
            pruned[key] = [_pruned(element, limit - 1) if isinstance(element, dict) else element for element in inner]
        else:
            pruned[key] = _pruned(inner, limit - 1) if isinstance(inner, dict) else inner
    return pruned


def dotted(node: ast.AST) -> Optional[str]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class _Function:
    """Summarises one function body: its returns, effects and outgoing calls."""

    def __init__(
        self, node, lines: List[str], calls: List[Dict[str, Any]], owner: Optional[str], library_roots=frozenset()
    ) -> None:
        self.lines = lines
        self.library_roots = library_roots
        self.library_calls: set = set()
        self.calls = calls
        self.name = node.name if owner is None else f"{owner}.{node.name}"
        args = node.args
        positional = [a.arg for a in list(getattr(args, "posonlyargs", [])) + list(args.args)]
        self.params = positional + [a.arg for a in args.kwonlyargs]
        self.env: Dict[str, Any] = {}
        # a method's `self.<name> = value` assignments (`self.backbone = ...`), see `bind`
        self.attributes: Dict[str, Any] = {}
        self.call_values: Dict[int, Any] = {}
        self.returns: List[Any] = []
        self.effects: List[Dict[str, Any]] = []
        defaults: Dict[str, Any] = {}
        for name, default in zip(reversed(positional), reversed(args.defaults)):
            defaults[name] = self.value(default)
        for arg, default in zip(args.kwonlyargs, args.kw_defaults):
            if default is not None:
                defaults[arg.arg] = self.value(default)
        self.summary: Dict[str, Any] = {
            "line": node.lineno, "params": self.params, "defaults": defaults,
        }
        self.block(node.body, loops=0, conditional=False)
        self.summary["returns"] = (
            self.returns[0] if len(self.returns) == 1 else {"either": self.returns} if self.returns else None
        )
        self.summary["effects"] = self.effects
        self.summary["library_calls"] = sorted(self.library_calls)
        if self.attributes:
            self.summary["attrs"] = self.attributes

    # -- values ----------------------------------------------------------------------------------

    def value(self, node: Optional[ast.AST], depth: int = 0) -> Any:
        if node is None or depth > MAX_INLINE:
            return UNKNOWN
        if isinstance(node, ast.Call):
            # a call's value is asked for by every call around it: compute it once
            cached = self.call_values.get(id(node))
            if cached is None:
                cached = self.call_values[id(node)] = self._value(node, depth)
            return cached
        return self._value(node, depth)

    def _value(self, node: ast.AST, depth: int) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool, type(None))):
            if isinstance(node.value, str) and len(node.value) > MAX_STRING:
                return UNKNOWN  # a blob (generated code, a serialized proto) names nothing a check uses
            return {"c": node.value}
        if isinstance(node, ast.Name):
            if node.id in self.env:
                return self.env[node.id]
            if node.id in self.params:
                return {"p": node.id}
            return {"n": node.id}
        if isinstance(node, ast.Attribute):
            name = dotted(node)
            root = name.split(".")[0] if name else None
            if name is not None and root not in self.env and root not in self.params:
                return {"n": name}
            return {"attr": self.value(node.value, depth + 1), "a": node.attr}
        if isinstance(node, ast.Call):
            return {
                "call": self.value(node.func, depth + 1),
                "args": [self.value(a, depth + 1) if not isinstance(a, ast.Starred) else UNKNOWN for a in node.args],
                "kw": {k.arg: self.value(k.value, depth + 1) for k in node.keywords if k.arg is not None},
                "at": _at(node, self.lines),
            }
        if isinstance(node, (ast.Tuple, ast.List)):
            return {"seq": [self.value(e, depth + 1) for e in node.elts]}
        if isinstance(node, ast.IfExp):
            either = {"either": [self.value(node.body, depth + 1), self.value(node.orelse, depth + 1)]}
            if isinstance(node.test, (ast.Name, ast.Attribute, ast.Constant)):
                either["if"] = self.value(node.test, depth + 1)  # the branch a known test selects
            return either
        if isinstance(node, ast.Subscript):
            index = node.slice
            if isinstance(index, ast.Constant) and isinstance(index.value, (int, str)):
                return {"item": self.value(node.value, depth + 1), "i": index.value}
        return UNKNOWN

    # -- statements ------------------------------------------------------------------------------

    def bind(self, target: ast.AST, value: Any, straight: bool, looped: bool = True) -> None:
        if _depth(value) > MAX_BOUND_DEPTH:
            # `x = layer(x)` chains: what lies that deep tells nothing a check uses (the outer calls
            # still do: `Net(features.size(1), n).to(device)` is an instance of Net)
            value = _pruned(value, MAX_BOUND_DEPTH)
        if isinstance(target, ast.Name):
            # a name bound under a condition or in a loop may hold another value: unknown
            self.env[target.id] = value if straight else UNKNOWN
        elif (
            isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and owner_param(self.params) == target.value.id
        ):
            # an attribute set once (under a condition too: `if stage == "fit": self.train_set = ...`)
            # holds that value whenever it exists; set twice or in a loop, it is unknown
            if not looped and target.attr not in self.attributes:
                self.attributes[target.attr] = value
            else:
                self.attributes[target.attr] = UNKNOWN
        elif isinstance(target, (ast.Tuple, ast.List)):
            for index, element in enumerate(target.elts):
                self.bind(element, {"item": value, "i": index} if straight else UNKNOWN, straight)

    def block(self, body: List[ast.stmt], loops: int, conditional: bool) -> None:
        for statement in body:
            self.statement(statement, loops, conditional)

    def statement(self, node: ast.stmt, loops: int, conditional: bool) -> None:
        straight = loops == 0 and not conditional
        self.expressions(node, loops, conditional)
        if isinstance(node, ast.Assign):
            value = self.value(node.value)
            for target in node.targets:
                self.bind(target, value, straight, looped=loops > 0)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
            self.bind(node.target, self.value(node.value) if isinstance(node, ast.AnnAssign) else UNKNOWN, straight)
        elif isinstance(node, ast.Return):
            self.returns.append(self.value(node.value) if node.value is not None else {"c": None})
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            before = len(self.effects)
            self.bind(node.target, UNKNOWN, False)
            self.block(node.body, loops + 1, conditional)
            iterable = self.value(node.iter)
            inner = self.effects[before:]
            if iterable.get("p") and any(e["k"] in ("backward", "call") for e in inner):
                self.effects.insert(before, self._effect("trains_on", node, iterable, loops, conditional))
            self.block(node.orelse, loops, True)
        elif isinstance(node, ast.While):
            self.block(node.body, loops + 1, conditional)
            self.block(node.orelse, loops, True)
        elif isinstance(node, ast.If):
            # a script's `if __name__ == "__main__":` body runs whenever the script does
            self.block(node.body, loops, conditional or not _main_guard(node.test))
            self.block(node.orelse, loops, True)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    self.bind(item.optional_vars, UNKNOWN, False)
            self.block(node.body, loops, conditional)
        elif isinstance(node, ast.Try):
            self.block(node.body, loops, conditional)
            for handler in node.handlers:
                self.block(handler.body, loops, True)
            self.block(node.orelse, loops, True)
            self.block(node.finalbody, loops, conditional)

    def _submodule(self, callee: Any) -> bool:
        """`self.backbone(x)`, `self.backbone.forward_features(x)`: a call of what a method's object
        holds (the layers a module's forward and a LightningModule's training_step run)."""
        owner = owner_param(self.params)
        if owner is None or "attr" not in callee:
            return False
        inner = callee["attr"]
        return inner == {"p": owner} or ("attr" in inner and inner["attr"] == {"p": owner})

    def _effect(self, kind: str, node: ast.AST, target: Any, loops: int, conditional: bool, **extra: Any) -> Dict[str, Any]:
        effect = {"k": kind, "t": target, "loops": loops, "cond": conditional, "at": _at(node, self.lines)}
        effect.update(extra)
        return effect

    def expressions(self, node: ast.stmt, loops: int, conditional: bool) -> None:
        """Calls of this statement itself (not of nested blocks), in the order they run."""
        own = [node.value] if isinstance(node, (ast.Expr, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Return)) else []
        if isinstance(node, (ast.For, ast.AsyncFor)):
            own = [node.iter]
        for expression in own:
            if expression is None:
                continue
            calls = [n for n in ast.walk(expression) if isinstance(n, ast.Call)]
            for call in reversed(calls):  # arguments run before the call that takes them
                self.call(call, loops, conditional)

    def call(self, call: ast.Call, loops: int, conditional: bool) -> None:
        func = call.func
        method = func.attr if isinstance(func, ast.Attribute) else None
        receiver = self.value(func.value) if isinstance(func, ast.Attribute) else None
        if method in MODE_METHODS and not call.args and receiver is not None:
            self.effects.append(self._effect("mode", call, receiver, loops, conditional, training=MODE_METHODS[method]))
        elif method in ("step", "zero_grad", "backward") and receiver is not None:
            self.effects.append(self._effect(method, call, receiver, loops, conditional))
        elif (dotted(func) or "").split(".")[-1] in CLIP_FUNCTIONS:
            self.effects.append(self._effect("clip", call, UNKNOWN, loops, conditional))
        elif isinstance(func, ast.Name) and func.id in self.params and func.id not in self.env:
            self.effects.append(self._effect("forward", call, {"p": func.id}, loops, conditional))
        else:
            name = dotted(func)
            if name is not None and self.library_roots and name.split(".")[0] in self.library_roots:
                # a library call (torch, numpy, ...): only its name is kept (the layers a class builds)
                self.library_calls.add(name)
                return
            value = self.value(call)
            callee = value["call"]
            # calls of names (a project function, maybe) and calls that are given a parameter
            passes = any("p" in arg for arg in list(value["args"]) + list(value["kw"].values()))
            if "n" in callee or passes or self._submodule(callee):
                record = dict(value, k="call", loops=loops, cond=conditional, scope=self.name)
                self.effects.append(record)
                if "n" in callee:
                    self.calls.append({"f": callee["n"], "args": value["args"], "kw": value["kw"], "at": value["at"], "scope": self.name})


def owner_param(params: List[str]) -> Optional[str]:
    """`self` (or `cls`) of a method's parameters."""
    return params[0] if params and params[0] in ("self", "cls") else None


def _main_guard(test: ast.expr) -> bool:
    """`__name__ == "__main__"`."""
    return (
        isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
        and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
        and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value == "__main__"
    )


def _class(node: ast.ClassDef, lines: List[str], calls: List[Dict[str, Any]], library_roots) -> Dict[str, Any]:
    methods = {}
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            methods[item.name] = _Function(item, lines, calls, node.name, library_roots).summary
    # the names the class's methods call (the layers it builds among them)
    constructed = {
        effect["call"]["n"] for method in methods.values() for effect in method["effects"]
        if effect["k"] == "call" and "n" in effect["call"]
    }
    constructed.update(name for method in methods.values() for name in method["library_calls"])
    return {
        "line": node.lineno,
        "at": [node.lineno, node.col_offset + 1, node.lineno, node.col_offset + 1],
        "bases": [dotted(base) for base in node.bases if dotted(base) is not None],
        "methods": methods,
        "calls": sorted(constructed),
    }


def _sys_path_entry(node: ast.stmt) -> Optional[str]:
    """`sys.path.insert(0, "lib")` / `sys.path.append("../src")` with a literal folder."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return None
    call = node.value
    name = dotted(call.func)
    if name not in ("sys.path.insert", "sys.path.append") or not call.args:
        return None
    folder = call.args[-1]
    if isinstance(folder, ast.Constant) and isinstance(folder.value, str):
        return folder.value
    return None


def _statements(body: List[ast.stmt]):
    """Every statement, nested blocks and function and class bodies included (not expressions)."""
    pending = list(reversed(body))
    while pending:
        node = pending.pop()
        yield node
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            inner = getattr(node, name, None)
            if isinstance(inner, list):
                pending.extend(reversed(inner))


def summarize(tree: ast.Module, text: str) -> Dict[str, Any]:
    """The summary of one module (plain JSON data)."""
    lines = text.splitlines()
    imports: Dict[str, str] = {}
    paths: List[str] = []
    functions: Dict[str, Any] = {}
    classes: Dict[str, Any] = {}
    calls: List[Dict[str, Any]] = []
    module = _Function(ast.FunctionDef(name="<module>", args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[]), body=[], decorator_list=[], lineno=1), lines, calls, None)
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    imports[alias.asname] = alias.name
                else:
                    imports.setdefault(alias.name.split(".")[0], alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            prefix = "." * node.level + (node.module or "")
            for alias in node.names:
                if alias.name == "*":
                    continue
                separator = "" if prefix.endswith(".") or not prefix else "."
                imports[alias.asname or alias.name] = f"{prefix}{separator}{alias.name}"
        elif isinstance(node, ast.Expr):
            entry = _sys_path_entry(node)
            if entry is not None:
                paths.append(entry)
    # names imported from well-known libraries: their calls are never project functions
    library_roots = frozenset(
        local for local, qualified in imports.items() if qualified.split(".")[0] in LIBRARY_ROOTS
    )
    module.library_roots = library_roots
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions[node.name] = _Function(node, lines, calls, None, library_roots).summary
        elif isinstance(node, ast.ClassDef):
            classes[node.name] = _class(node, lines, calls, library_roots)
        else:
            module.statement(node, 0, False)
    module_globals = {name: value for name, value in module.env.items() if value is not UNKNOWN}
    return {
        "format": SUMMARY_FORMAT, "imports": imports, "paths": paths, "functions": functions,
        "classes": classes, "globals": module_globals, "effects": module.effects, "calls": calls,
    }
