"""The module's import table: which local name stands for which qualified name.

Built from the import statements seen during the traversal. It is small and exact for what the
checks match (library APIs), and far cheaper than LibCST's QualifiedNameProvider:
``F.cross_entropy``, ``torch.nn.functional.cross_entropy`` and
``from torch.nn.functional import cross_entropy as ce`` all resolve to the same name.
"""

from __future__ import annotations

import builtins
from typing import Dict, Optional, Union

import libcst as cst

from nnlint.analysis.names import dotted_name

_BUILTIN_NAMES = frozenset(dir(builtins))


def _module_dotted(node: Union[cst.Attribute, cst.Name]) -> str:
    name = dotted_name(node)
    assert name is not None  # import targets are always Names or Attribute chains
    return name


class ImportTable:
    def __init__(self) -> None:
        # local name -> qualified name it stands for
        self.aliases: Dict[str, str] = {}
        # names the module binds itself (def, class, assignment at any level) shadow builtins
        self.local_definitions: set = set()

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
            if root in _BUILTIN_NAMES and root not in self.local_definitions:
                target = f"builtins.{root}"
            else:
                return None
        return f"{target}.{rest}" if rest else target

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
        """Whether some import comes from one of these top-level packages."""
        return any(target.split(".")[0] in roots for target in self.aliases.values())
