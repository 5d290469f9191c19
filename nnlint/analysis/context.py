"""ModuleContext: everything known about the module being linted, shared by all checks."""

from __future__ import annotations

import io
import tokenize
from typing import Any, Dict, Optional, Type, TypeVar

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from nnlint.analysis.imports import ImportTable
from nnlint.analysis.index import ModuleIndex

FactT = TypeVar("FactT")


class ModuleContext:
    def __init__(self, path: str, source: str, module: cst.Module) -> None:
        self.path = path
        self.source = source
        self.module = module
        self.index = ModuleIndex()
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

    def fragment(self, node: cst.CSTNode) -> str:
        """The node's source as code a probe can parse: line breaks kept, comments removed (so a
        multi-line expression with trailing comments stays valid once flattened)."""
        text = self.module.code_for_node(node)
        if "#" not in text:
            return text.strip()
        lines = text.splitlines()
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
        except (tokenize.TokenError, IndentationError, SyntaxError):
            return self.code(node)
        for token in reversed(tokens):
            if token.type == tokenize.COMMENT:
                row, column = token.start
                lines[row - 1] = lines[row - 1][:column].rstrip()
        return "\n".join(lines).strip()

    def qualified_name(self, expr: cst.BaseExpression) -> Optional[str]:
        return self.imports.qualified_name(expr)

    def position(self, node: cst.CSTNode) -> CodeRange:
        """Source range of a node. Positions are resolved for the whole module on first use only,
        so the many files without findings never pay for them."""
        if self._positions is None:
            wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
            self._positions = wrapper.resolve(PositionProvider)
        return self._positions[node]
