"""Vouching for code fragments before a probe evaluates them.

A probe evaluates only what nnlint can vouch for: literals, module-level constants and other
values the module defines from such things, and calls to known library APIs (torch, math, numpy)
whose arguments are themselves vouched for. Everything else -- a function or class of the user's
module, a call on an unknown object, anything touching files, processes or the network -- is
refused, and the probe becomes `inconclusive` naming what it refused.

Fragments arrive as source text with a table of name resolutions built by static analysis
(`nnlint.analysis.values.FixedValues.resolve_for_probe`); this module never sees the user's file.
The result is canonical source in which every library name is fully qualified, to be evaluated
in a namespace holding only the library root modules and a few safe builtins.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

LIBRARY_ROOTS = frozenset({"torch", "math", "numpy"})
SAFE_BUILTINS = frozenset({"min", "max", "abs", "float", "int", "round", "sum", "len", "bool", "range", "tuple", "list"})
# Library APIs that reach outside the process or mutate global state: never evaluated.
DENIED_PREFIXES = (
    "torch.load", "torch.save", "torch.hub", "torch.jit", "torch.package", "torch.ops", "torch.classes",
    "torch.from_file", "torch.utils", "torch.distributed", "torch.multiprocessing", "torch.cuda",
    "torch.backends", "torch.compile", "torch.export", "torch.onnx", "torch.set_", "torch.use_",
    "torch.library", "torch._", "numpy.load", "numpy.save", "numpy.fromfile", "numpy.memmap",
    "numpy.loadtxt", "numpy.savetxt", "numpy.genfromtxt", "numpy.lib", "numpy.ctypeslib",
    "numpy.distutils", "numpy.f2py", "numpy.testing", "numpy.fromregex", "numpy.tofile",
)
# Methods that may be called on a vouched value (tensor arithmetic, shapes, reductions, casts).
SAFE_METHODS = frozenset(
    """
    abs add add_ all any amax amin argmax argmin bfloat16 clamp clamp_ clamp_max clamp_max_ clamp_min
    clamp_min_ clip clip_ clone contiguous cos cpu detach div div_ double exp expand expand_as fill_
    flatten flip float fmin fmax half item log log1p log_softmax long masked_fill masked_fill_ max mean
    min mul mul_ nanmean neg new_full new_ones new_tensor new_zeros norm permute pow relu repeat
    reshape sigmoid sign sin size softmax sqrt square squeeze std sub sub_ sum t tanh to transpose
    unsqueeze view view_as where zero_ get roll narrow
    """.split()
)

# Denied even when a probe allows a library (`allowed=`): file access and serialisation.
DENIED_EXTRA_PREFIXES = ("albumentations.load", "albumentations.save", "albumentations.core.serialization",
                         "albumentations.from_dict", "torchvision.io", "torchvision.datasets", "torchvision.models")

MAX_DEPTH = 6


class Refused(Exception):
    """The fragment needs something nnlint will not evaluate; the message names it."""


@dataclass
class Vouched:
    source: str
    # names only known at run time (argparse values without a default, parameters): the
    # probe binds them to representative values or gives up
    runtime_names: List[str] = field(default_factory=list)


def _dotted(node: ast.AST) -> Optional[str]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _library_expression(qualified: str) -> ast.expr:
    root, *rest = qualified.split(".")
    node: ast.expr = ast.Name(root, ast.Load())
    for part in rest:
        node = ast.Attribute(node, part, ast.Load())
    return node


def _is_allowed(qualified: str, allowed: Sequence[str]) -> bool:
    """Whether a qualified name lies under one of a probe's extra allowed prefixes."""
    return any(qualified == prefix or qualified.startswith(prefix + ".") or (prefix.endswith("_") and qualified.startswith(prefix))
               for prefix in allowed)


def _check_library_name(qualified: str, allowed: Sequence[str] = ()) -> None:
    if allowed and _is_allowed(qualified, allowed):
        if any(qualified.startswith(p) for p in DENIED_EXTRA_PREFIXES):
            raise Refused(f"{qualified} reaches outside the process")
        return
    if qualified.startswith("builtins."):
        if qualified[len("builtins.") :] not in SAFE_BUILTINS:
            raise Refused(f"the builtin {qualified[len('builtins.'):]}() is not evaluated by probes")
        return
    if qualified.split(".")[0] not in LIBRARY_ROOTS:
        raise Refused(f"{qualified} is not a library nnlint evaluates (only torch, math, numpy)")
    if any(qualified == p or qualified.startswith(p) for p in DENIED_PREFIXES):
        raise Refused(f"{qualified} reaches outside the process")


class _Rewriter(ast.NodeTransformer):
    def __init__(
        self, names: Mapping[str, Mapping[str, str]], substitutions: Mapping[str, str], depth: int,
        allowed: Sequence[str] = (),
    ) -> None:
        self.allowed = tuple(allowed)
        self.names = names
        # dotted names the probe supplies itself (the flagged loss): name -> placeholder
        self.substitutions = substitutions
        self.placeholders = set(substitutions.values())
        self.depth = depth
        self.runtime_names: List[str] = []

    def generic_visit(self, node: ast.AST) -> ast.AST:
        allowed = (
            ast.Expression, ast.Module, ast.Expr, ast.Assign, ast.AugAssign, ast.Subscript, ast.Slice,
            ast.Compare, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.IfExp, ast.Call, ast.keyword,
            ast.Constant, ast.Tuple, ast.List, ast.Dict, ast.Load, ast.Store, ast.operator, ast.unaryop,
            ast.cmpop, ast.boolop,
        )
        if not isinstance(node, allowed):
            raise Refused(f"{type(node).__name__} expressions are not evaluated by probes")
        return super().generic_visit(node)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return self._resolve(node, node.id)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if node.attr.startswith("_"):
            raise Refused(f"the private attribute .{node.attr} is not evaluated by probes")
        dotted = _dotted(node)
        if dotted is not None and (dotted in self.names or dotted.split(".")[0] in self.names):
            return self._resolve(node, dotted)
        # an attribute of a computed value: only known-safe methods, checked at the call
        node.value = self.visit(node.value)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        func = node.func
        dotted = _dotted(func)
        if dotted is not None and dotted.split(".")[0] not in self.placeholders:
            # a name the module resolves: it must turn out to be a library function
            node.func = self.visit(func)
            qualified = _dotted(node.func)
            if qualified is None or not (
                qualified.split(".")[0] in LIBRARY_ROOTS or qualified in SAFE_BUILTINS or _is_allowed(qualified, self.allowed)
            ):
                raise Refused(f"calling {dotted}() is not evaluated by probes")
        elif isinstance(func, ast.Attribute):
            # a method of a computed value
            if func.attr not in SAFE_METHODS:
                raise Refused(f"the method .{func.attr}() is not evaluated by probes")
            func.value = self.visit(func.value)
        else:
            raise Refused(f"calling {ast.unparse(func)} is not evaluated by probes")
        node.args = [self.visit(arg) for arg in node.args]
        node.keywords = [self.visit(keyword) for keyword in node.keywords]
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        # config["max_loss"] with `config = {...}`: evaluate only that entry, not the whole dict
        dotted = _dotted(node.value)
        entry = self.names.get(dotted) if dotted is not None else None
        if entry is not None and entry.get("kind") == "value" and isinstance(node.slice, ast.Constant):
            literal = ast.parse(entry["source"], mode="eval").body
            if isinstance(literal, ast.Dict):
                for key, value in zip(literal.keys, literal.values):
                    if isinstance(key, ast.Constant) and key.value == node.slice.value:
                        inner = vouch_expression(ast.unparse(value), self.names, self.substitutions, self.depth + 1, self.allowed)
                        self.runtime_names.extend(inner.runtime_names)
                        return ast.parse(inner.source, mode="eval").body
        return self.generic_visit(node)

    def _resolve(self, node: ast.AST, dotted: str) -> ast.AST:
        root = dotted.split(".")[0]
        if root in self.placeholders:
            return node
        if dotted in self.substitutions:
            return ast.Name(self.substitutions[dotted], ast.Load())
        entry = self.names.get(dotted) or self.names.get(root)
        if entry is None:
            raise Refused(f"{dotted} could not be resolved")
        kind = entry.get("kind")
        if kind == "import":
            qualified = entry["qualified"] if dotted in self.names else entry["qualified"] + dotted[len(root):]
            _check_library_name(qualified, self.allowed)
            if qualified.startswith("builtins."):
                return ast.Name(qualified[len("builtins.") :], ast.Load())
            return _library_expression(qualified)
        if kind == "value":
            if self.depth >= MAX_DEPTH:
                raise Refused(f"{dotted} is defined too indirectly")
            inner = vouch_expression(entry["source"], self.names, self.substitutions, self.depth + 1, self.allowed)
            self.runtime_names.extend(inner.runtime_names)
            return ast.parse(inner.source, mode="eval").body
        if kind == "runtime":
            self.runtime_names.append(dotted)
            return ast.Name(runtime_placeholder(dotted), ast.Load())
        if kind == "user":
            what = f"{root} is" if dotted == root else f"{dotted} needs {root}, which is"
            raise Refused(f"{what} defined in your code (probes never run it)")
        raise Refused(entry.get("reason") or f"{dotted} could not be resolved")


def runtime_placeholder(dotted: str) -> str:
    return "__runtime_" + dotted.replace(".", "_") + "__"


def vouch_expression(
    source: str, names: Mapping[str, Mapping[str, str]], substitutions: Mapping[str, str] = {}, depth: int = 0,
    allowed: Sequence[str] = (),
) -> Vouched:
    """Canonical, library-qualified source of an expression, or Refused. `substitutions` maps
    dotted names the probe supplies itself to placeholder names; `allowed` lists qualified
    prefixes a probe evaluates besides torch, math and numpy (`torchvision.transforms`)."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as error:
        raise Refused(f"cannot read the fragment {source!r}: {error.msg}") from None
    rewriter = _Rewriter(names, substitutions, depth, allowed)
    tree = rewriter.visit(tree)
    return Vouched(ast.unparse(ast.fix_missing_locations(tree)), rewriter.runtime_names)


def vouch_statement(
    source: str, names: Mapping[str, Mapping[str, str]], substitutions: Mapping[str, str] = {}, allowed: Sequence[str] = ()
) -> Vouched:
    try:
        tree = ast.parse(source.strip(), mode="exec")
    except SyntaxError as error:
        raise Refused(f"cannot read the fragment {source!r}: {error.msg}") from None
    if len(tree.body) != 1 or not isinstance(tree.body[0], (ast.Assign, ast.AugAssign, ast.Expr)):
        raise Refused("only single assignments and expressions are evaluated by probes")
    rewriter = _Rewriter(names, substitutions, 0, allowed)
    tree = rewriter.visit(tree)
    return Vouched(ast.unparse(ast.fix_missing_locations(tree)), rewriter.runtime_names)


def substitute(source: str, fragment: str, placeholder: str, mode: str = "eval") -> str:
    """Replace every occurrence of the expression `fragment` in `source` by `placeholder`."""
    target = ast.dump(ast.parse(fragment.strip(), mode="eval").body)

    class Replace(ast.NodeTransformer):
        def visit(self, node: ast.AST) -> ast.AST:
            if isinstance(node, ast.expr) and ast.dump(node) == target:
                return ast.copy_location(ast.Name(placeholder, ast.Load()), node)
            return super().visit(node)

    tree = Replace().visit(ast.parse(source.strip(), mode=mode))
    if isinstance(tree, ast.Module):
        # assignment targets need Store context back
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                for target_node in node.targets:
                    if isinstance(target_node, ast.Name):
                        target_node.ctx = ast.Store()
    return ast.unparse(ast.fix_missing_locations(tree))


def safe_builtins() -> Dict[str, object]:
    """Builtins for evaluating vouched code. `__import__` is there because torch's C++ side
    imports lazily through the calling frame's builtins; vouched code itself cannot name it."""
    import builtins

    allowed = {name: getattr(builtins, name) for name in SAFE_BUILTINS}
    allowed["__import__"] = builtins.__import__
    return allowed
