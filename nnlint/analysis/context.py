"""ModuleContext: everything known about the module being linted, shared by all checks."""

from __future__ import annotations

import io
import tokenize
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, TypeVar

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider

from nnlint.analysis.imports import ImportTable
from nnlint.analysis.index import ModuleIndex
from nnlint.analysis.names import callee_terminal_name
from nnlint.analysis.project_values import ProjectValues
from nnlint.budget import NO_DEADLINE, Deadline

FactT = TypeVar("FactT")


def brief_text(text: str, limit: int = 32) -> str:
    """`text` on one line, cut to `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ModuleContext:
    def __init__(
        self,
        path: str,
        source: str,
        module: cst.Module,
        deadline: Deadline = NO_DEADLINE,
        statement_lines: Optional[List[int]] = None,
        line_label: Optional[Callable[[int], str]] = None,
    ) -> None:
        self.path = path
        self.source = source
        self.module = module
        self.deadline = deadline
        self.index = ModuleIndex(deadline, source)
        self._facts: Dict[type, Any] = {}
        # first line of each top-level statement, as CPython's parser reports it
        self._statement_lines = statement_lines
        self._top_level_lines: Optional[List[int]] = None
        self._top_level_positions: Dict[int, Tuple[Any, Dict[int, cst.CSTNode], int]] = {}
        self._positions: Optional[Any] = None
        # project analysis: what the other modules of the project give (None: file by file)
        self.project: Optional["ProjectValues"] = None
        # how messages name a line of this module (a notebook's module names its cells' lines)
        self._line_label = line_label

    @property
    def is_test_file(self) -> bool:
        """A unit-test module (test_*.py, *_test.py, conftest.py, or under a tests/ folder): it runs
        models for their shapes and values, with deliberately simple data."""
        path = self.path.replace("\\", "/")
        name = path.rsplit("/", 1)[-1]
        return (
            name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
            or "/tests/" in path or path.startswith("tests/")
        )

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

    def brief(self, node: cst.CSTNode, limit: int = 32) -> str:
        """The node's source cut to `limit` characters, for a message: a long call keeps its callee
        (`model.load_state_dict(...)`), or its name when the callee is long too."""
        text = self.code(node)
        if len(text) > limit and isinstance(node, cst.Call):
            callee = self.code(node.func)
            if len(callee) + 5 <= limit:
                return f"{callee}(...)"
            name = callee_terminal_name(node)  # `(a + b).backward()` reads as `backward(...)`
            if name and len(name) + 5 <= limit:
                return f"{name}(...)"
        return brief_text(text, limit)

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

    def line_of(self, node: cst.CSTNode) -> str:
        """Where a node starts, as messages name it: `line 12`, in a notebook `cell 4, line 7`."""
        line = self.position(node).start.line
        return self._line_label(line) if self._line_label is not None else f"line {line}"

    def qualified_name(self, expr: cst.BaseExpression) -> Optional[str]:
        return self.imports.qualified_name(expr)

    def position(self, node: cst.CSTNode) -> CodeRange:
        """Source range of a node.

        LibCST computes positions by generating the code of a whole module, which costs more than
        parsing it. So positions are computed only for files with findings, and then only for the
        top-level statement that holds the node: that statement alone is laid out as a module and
        its lines are shifted by where CPython's parser says the statement starts. When the two
        parsers' statements cannot be paired, the whole module is laid out instead.
        """
        top = self.index.top_level_of.get(node, -1)
        lines = self._top_level_start_lines()
        if top < 0 or lines is None:
            return self._whole_module_positions()[node]
        positions, replaced, offset = self._statement_positions(top, lines[top])
        found = positions[replaced.get(id(node), node)]
        return CodeRange(
            CodePosition(found.start.line + offset, found.start.column),
            CodePosition(found.end.line + offset, found.end.column),
        )

    def _whole_module_positions(self):
        if self._positions is None:
            self._positions = MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider)
        return self._positions

    def _top_level_start_lines(self) -> Optional[List[int]]:
        """Start line of each item of module.body, paired with CPython's top-level statements
        (a line of `a; b` is one LibCST item and two CPython statements)."""
        if self._top_level_lines is None and self._statement_lines is not None:
            starts: List[int] = []
            cursor = 0
            for item in self.module.body:
                if cursor >= len(self._statement_lines):
                    return None
                starts.append(self._statement_lines[cursor])
                cursor += len(item.body) if isinstance(item, cst.SimpleStatementLine) else 1
            if cursor != len(self._statement_lines):
                self._statement_lines = None  # unpaired: fall back to the whole module
                return None
            self._top_level_lines = starts
        return self._top_level_lines

    def _statement_positions(self, top: int, start_line: int):
        cached = self._top_level_positions.get(top)
        if cached is None:
            item = self.module.body[top]
            # the statement without the blank and comment lines above it starts on line 1
            alone = item.with_changes(leading_lines=[])
            module = self.module.with_changes(header=[], body=[alone], footer=[])
            positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
            cached = (positions, {id(item): alone}, start_line - 1)
            self._top_level_positions[top] = cached
        return cached
