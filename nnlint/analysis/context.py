"""ModuleContext: everything known about the module being linted, shared by all checks."""

from __future__ import annotations

from typing import Any, Dict, Optional, Type, TypeVar

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from nnlint.analysis.imports import ImportTable
from nnlint.analysis.index import ModuleIndex
from nnlint.budget import NO_DEADLINE, Deadline

FactT = TypeVar("FactT")


class ModuleContext:
    def __init__(self, path: str, source: str, module: cst.Module, deadline: Deadline = NO_DEADLINE) -> None:
        self.path = path
        self.source = source
        self.module = module
        self.deadline = deadline
        self.index = ModuleIndex(deadline)
        self._facts: Dict[type, Any] = {}
        self._positions: Optional[Any] = None

    @property
    def imports(self) -> ImportTable:
        return self.index.imports

    def fact(self, fact_type: Type[FactT]) -> FactT:
        """A derived fact, computed on first use from this context and cached for all checks."""
        value = self._facts.get(fact_type)
        if value is None:
            value = fact_type(self)  # type: ignore[call-arg]
            self._facts[fact_type] = value
        return value

    def code(self, node: cst.CSTNode) -> str:
        """The node's source on one line, for messages."""
        return " ".join(self.module.code_for_node(node).split())

    def qualified_name(self, expr: cst.BaseExpression) -> Optional[str]:
        return self.imports.qualified_name(expr)

    def position(self, node: cst.CSTNode) -> CodeRange:
        """Source range of a node. Positions are resolved for the whole module on first use only,
        so the many files without findings never pay for them."""
        if self._positions is None:
            wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
            self._positions = wrapper.resolve(PositionProvider)
        return self._positions[node]
