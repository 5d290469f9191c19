"""The module's import table: which local name stands for which qualified name.

Built from the import statements seen during the traversal. It is small and exact for what the
checks match (library APIs), and far cheaper than LibCST's QualifiedNameProvider:
``F.cross_entropy``, ``torch.nn.functional.cross_entropy`` and
``from torch.nn.functional import cross_entropy as ce`` all resolve to the same name.

Fragments -- code pasted from a forum post, a notebook cell, an editor buffer -- use ``nn.Linear``
or ``F.softmax`` with the imports elsewhere or nowhere. A conventional name (``nn``, ``F``,
``optim``, ``T``...) that the file never binds anywhere (no import, assignment, parameter, def,
class, loop or with target, except or match name) stands for its conventional module. One binding
anywhere in the file wins, and a star import from a module that could export such a name (anything
but torch, torchvision, numpy and fastai, which export them with their conventional meaning) turns
the convention off.
"""

from __future__ import annotations

import ast
import builtins
import re
import warnings
from typing import Dict, FrozenSet, Optional, Tuple, Union

import libcst as cst

from nnlint.analysis.names import dotted_name

_BUILTIN_NAMES = frozenset(dir(builtins))

# name -> the module (or class) it conventionally stands for in code that does not import it
CONVENTIONAL_NAMES: Dict[str, str] = {
    "torch": "torch",
    "nn": "torch.nn",
    "F": "torch.nn.functional",
    "optim": "torch.optim",
    "np": "numpy",
    "T": "torchvision.transforms",
    "transforms": "torchvision.transforms",
    "TF": "torchvision.transforms.functional",
    "models": "torchvision.models",
    "datasets": "torchvision.datasets",
    "torchvision": "torchvision",
    "DataLoader": "torch.utils.data.DataLoader",
    "Dataset": "torch.utils.data.Dataset",
    "TensorDataset": "torch.utils.data.TensorDataset",
    "cv2": "cv2",
    "Image": "PIL.Image",
}
# star imports from these packages export the conventional names with their conventional meaning
_CONVENTIONAL_STAR_ROOTS = frozenset({"torch", "torchvision", "numpy", "fastai"})
# match-statement patterns that bind a name (Python 3.10+)
_MATCH_CAPTURES = tuple(getattr(ast, kind) for kind in ("MatchAs", "MatchStar", "MatchMapping") if hasattr(ast, kind))
# a conventional name used as the root of an attribute or a call (`nn.Linear`, `DataLoader(`)
_CONVENTIONAL_USE = re.compile(r"(?<![\w.])(" + "|".join(CONVENTIONAL_NAMES) + r")\s*[.(]")


# Frameworks whose modules mimic torch.nn's API; and packages that mean PyTorch code.
OTHER_FRAMEWORKS = ("megengine", "paddle", "oneflow", "jittor", "mindspore")
TORCH_PACKAGES = ("torch", "torchvision", "torchaudio", "timm", "lightning", "pytorch_lightning", "accelerate")


def _module_dotted(node: Union[cst.Attribute, cst.Name]) -> str:
    name = dotted_name(node)
    assert name is not None  # import targets are always Names or Attribute chains
    return name


def conventional_names(source: str) -> Tuple[FrozenSet[str], FrozenSet[str]]:
    """The conventional names that the module binds somewhere (all of them after a star import
    from an unknown module, or when the source does not parse), and those its code reads (not the
    text of import statements, strings or comments: `from models.unet import UNet` reads no `models`)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return frozenset(CONVENTIONAL_NAMES), frozenset()
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.Import):
            bound.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name != "*":
                    bound.add(alias.asname or alias.name)
                elif node.level or (node.module or "").split(".")[0] not in _CONVENTIONAL_STAR_ROOTS:
                    return frozenset(CONVENTIONAL_NAMES), frozenset(read & CONVENTIONAL_NAMES.keys())
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, _MATCH_CAPTURES):  # `case nn:`, `case [*F]`, `case {**T}`
            bound.add(getattr(node, "name", None) or getattr(node, "rest", None) or "")
    return frozenset(bound & CONVENTIONAL_NAMES.keys()), frozenset(read & CONVENTIONAL_NAMES.keys())


class ImportTable:
    def __init__(self, source: Optional[str] = None) -> None:
        # local name -> qualified name it stands for
        self.aliases: Dict[str, str] = {}
        # names the module binds itself (def, class, assignment at any level) shadow builtins
        self.local_definitions: set = set()
        # the module's text, for the conventional names of fragments (None: no convention applies)
        self._source = source
        self._conventional_scan: Optional[Tuple[FrozenSet[str], FrozenSet[str]]] = None  # (bound, read)

    def add(self, node: Union[cst.Import, cst.ImportFrom]) -> None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                qualified = _module_dotted(alias.name)
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    self.aliases[alias.asname.name.value] = qualified
                else:
                    # `import torch.nn` binds `torch`
                    top = qualified.split(".")[0]
                    self.aliases[top] = top
            return
        module = _module_dotted(node.module) if node.module is not None else ""
        prefix = "." * len(node.relative) + module
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            imported = _module_dotted(alias.name)
            local = imported
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            separator = "" if prefix.endswith(".") or not prefix else "."
            self.aliases[local] = f"{prefix}{separator}{imported}"

    def qualify(self, dotted: str) -> Optional[str]:
        """Qualified name of a dotted local name, or None when its root is not imported.

        Builtins that the module does not shadow resolve to ``builtins.<name>``.
        """
        root, _, rest = dotted.partition(".")
        target = self.aliases.get(root)
        if target is None:
            if root in self.local_definitions:
                return None
            target = f"builtins.{root}" if root in _BUILTIN_NAMES else self._conventional(root)
            if target is None:
                return None
        return f"{target}.{rest}" if rest else target

    def _conventional(self, name: str) -> Optional[str]:
        """The conventional module of a name the file never binds (see the module docstring)."""
        target = CONVENTIONAL_NAMES.get(name)
        if target is None or self._source is None:
            return None
        bound, _ = self._conventional_names()
        return None if name in bound else target

    def _conventional_names(self) -> Tuple[FrozenSet[str], FrozenSet[str]]:
        # parsed only when a conventional name is used unbound, which files that import what
        # they use never do
        if self._conventional_scan is None:
            self._conventional_scan = conventional_names(self._source or "")
        return self._conventional_scan

    def qualified_name(self, expr: cst.BaseExpression) -> Optional[str]:
        """Qualified name of a Name/Attribute expression (`nn.CrossEntropyLoss` -> `torch.nn.CrossEntropyLoss`)."""
        dotted = dotted_name(expr)
        return self.qualify(dotted) if dotted is not None else None

    def local_name(self, qualified: str) -> Optional[str]:
        """The shortest spelling of a qualified name with this module's imports (`nn.ModuleList`
        for `torch.nn.ModuleList` after `from torch import nn`), or None when nothing imported
        reaches it."""
        found = []
        for local, target in self.aliases.items():
            if qualified == target:
                found.append(local)
            elif qualified.startswith(target + "."):
                found.append(local + qualified[len(target):])
        return min(found, key=lambda name: (len(name), name)) if found else None

    def imports_any(self, *roots: str) -> bool:
        """Whether some import comes from one of these top-level packages, or the module uses a
        conventional name of one of them without binding it."""
        if any(target.split(".")[0] in roots for target in self.aliases.values()):
            return True
        if self._source is None:
            return False
        candidates = {
            match.group(1) for match in _CONVENTIONAL_USE.finditer(self._source)
            if CONVENTIONAL_NAMES[match.group(1)].split(".")[0] in roots
        }
        if not candidates:
            return False  # the text never names one: no parse needed
        bound, read = self._conventional_names()
        return bool((candidates & read) - bound)

    def another_framework_only(self) -> bool:
        """Whether the module is written for another deep-learning framework: it imports one
        (MegEngine, Paddle, OneFlow, Jittor, MindSpore) and nothing of PyTorch's. Their modules share
        PyTorch's method names (`load_state_dict`, `eval`) but not what those return or do."""
        return self.imports_any(*OTHER_FRAMEWORKS) and not self.imports_any(*TORCH_PACKAGES)
