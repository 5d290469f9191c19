"""The edits a fix is made of, built from the LibCST nodes a check found.

A rule's fixes (nnlint/families/<family>/fixes.py) build new nodes with LibCST (`with_changes`,
`parse_expression`) or whole statements, and a `Rewrite` turns them into text edits at the nodes'
positions: an expression is replaced where it stands (its inner whitespace and comments are part
of the node, so they are kept), a statement is inserted, deleted or moved as whole lines together
with the comment lines directly above it. Everything else in the file stays byte for byte as it
was. A rewrite that cannot place an edit (two statements on one line, say) gives no fix at all.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple, TypeVar, Union

import libcst as cst
from libcst._nodes.internal import CodegenState

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.index import Statement
from nnlint.analysis.names import dotted_name
from nnlint.analysis.timeline import Event
from nnlint.budget import TimeBudgetExceeded
from nnlint.finding import Applicability, Edit, Fix

BuilderT = TypeVar("BuilderT", bound=Callable[..., Optional[Fix]])

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")
_INDENT = re.compile(r"[ \t]*")


def fix_builder(build: BuilderT) -> BuilderT:
    """A rule's fix builder: one that cannot build its fix (code it does not expect) gives no
    fix; the finding is still reported."""

    @functools.wraps(build)
    def guarded(*args, **kwargs) -> Optional[Fix]:
        try:
            return build(*args, **kwargs)
        except (TimeBudgetExceeded, RecursionError):
            raise
        except Exception:  # noqa: BLE001 - no fix rather than no finding
            return None

    return guarded  # type: ignore[return-value]


def physical_lines(source: str) -> List[str]:
    """The source's lines with their line breaks (\\r\\n, \\r or \\n, as Python's tokenizer counts)."""
    lines = _LINE.findall(source)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def newline_of(source: str) -> str:
    found = re.search(r"\r\n|\r|\n", source)
    return found.group(0) if found else "\n"


class SourceLines:
    """The module's physical lines and where each starts, computed once per module (get it with
    ``ctx.fact(SourceLines)``): every fix of the file reads them."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.lines = physical_lines(ctx.source)
        self.starts = list(itertools.accumulate([0] + [len(line) for line in self.lines]))[:-1] or [0]
        self.newline = newline_of(ctx.source)


@dataclass(frozen=True)
class StatementLines:
    """The whole lines one statement occupies (1-based, inclusive), from the comment lines directly
    above it that describe it, and its indentation."""

    owned_first: int  # its first line, or the first comment line above it that belongs to it
    last: int
    indent: str


class Rewrite:
    """Collects the edits of one fix in the module being linted."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.edits: List[Edit] = []
        self.failed = False
        source = ctx.fact(SourceLines)
        self._lines = source.lines
        self._starts = source.starts
        self.newline = source.newline
        self.imported: Dict[str, str] = {}  # names this rewrite adds to an import (local_or_imported)

    # -- expressions -------------------------------------------------------------------------------

    def code(self, node: cst.CSTNode) -> str:
        return self.ctx.module.code_for_node(node)

    def replace(self, node: cst.CSTNode, new: Union[cst.CSTNode, str]) -> "Rewrite":
        """Replace a node (an expression, an argument value) with a new node or code."""
        placed = self._placed(node)
        if placed is None:
            self.failed = True
            return self
        start, end, indent = placed
        content = new if isinstance(new, str) else self.render(new, indent)
        self._add(*self._line_column(start), *self._line_column(end), content)
        return self

    def render(self, node: cst.CSTNode, indent: str = "") -> str:
        """A node's code inside a block indented by `indent` (the continuation lines of a bracketed
        expression carry the block's indentation; Module.code_for_node would drop it)."""
        module = self.ctx.module
        state = CodegenState(default_indent=module.default_indent, default_newline=module.default_newline)
        if indent:
            state.increase_indent(indent)
        node._codegen(state)
        return "".join(state.tokens)

    def _placed(self, node: cst.CSTNode) -> Optional[Tuple[int, int, str]]:
        """Start and end offsets of all of a node's code, and the indentation of its block.

        LibCST's positions leave out the parentheses around an expression and a tuple's trailing
        comma, and its code depends on the indentation of the block it sits in: the node's code is
        looked for around its position, rendered at the indentation of the lines above it."""
        position = self.ctx.position(node)
        start = self._offset(position.start.line, position.start.column + 1)
        end = self._offset(position.end.line, position.end.column + 1)
        tried = set()
        for line in range(position.start.line, 0, -1):
            indent = _INDENT.match(self._lines[line - 1]).group(0)
            if indent in tried:
                continue
            tried.add(indent)
            code = self.render(node, indent)
            found = self.ctx.source.rfind(code, max(0, end - len(code)), start + len(code))
            if found >= 0:
                return found, found + len(code), indent
        return None

    def _offset(self, line: int, column: int) -> int:
        return self._starts[line - 1] + column - 1

    def _line_column(self, offset: int):
        line = bisect.bisect_right(self._starts, offset)
        return line, offset - self._starts[line - 1] + 1

    def insert_text(self, line: int, column: int, content: str) -> "Rewrite":
        self._add(line, column, line, column, content)
        return self

    # -- statements --------------------------------------------------------------------------------

    def statement_lines(self, statement: cst.CSTNode) -> Optional[StatementLines]:
        """Where a statement stands, when it is alone on its lines (not `a; b`, not after a colon)."""
        position = self.ctx.position(statement)
        first, last = position.start.line, position.end.line
        if not (1 <= first <= last <= len(self._lines)):
            return None
        opening = self._lines[first - 1]
        before = opening[: position.start.column]
        after = self._lines[last - 1][position.end.column:].strip()
        if before.strip() or (after and not after.startswith("#")):
            return None
        owned = first
        while owned > 1:
            above = self._lines[owned - 2]
            if not above.strip().startswith("#") or _INDENT.match(above).group(0) != before:
                break
            owned -= 1
        return StatementLines(owned, last, before)

    def insert_before(self, target: cst.CSTNode, statement_code: str) -> "Rewrite":
        """New statement(s) on the lines above `target` (and above the comments that describe it),
        at its indentation."""
        where = self._where(target)
        if where is not None:
            self.insert_text(where.owned_first, 1, self._indented(statement_code, where.indent))
        return self

    def insert_after(self, target: cst.CSTNode, statement_code: str, indent: Optional[str] = None) -> "Rewrite":
        """New statement(s) on the lines below `target` (below its whole body for a compound
        statement), at its indentation or the one given."""
        where = self._where(target)
        if where is not None:
            self._insert_below(where.last, self._indented(statement_code, where.indent if indent is None else indent))
        return self

    def delete(self, statement: cst.CSTNode) -> "Rewrite":
        """Remove a statement's lines and the comment lines that describe it."""
        where = self._where(statement)
        if where is not None:
            self._add(where.owned_first, 1, where.last + 1, 1, "")
        return self

    def move_before(self, statement: cst.CSTNode, target: cst.CSTNode, prefix: str = "") -> "Rewrite":
        """Move a statement (with its comment lines) above `target`, at its indentation; `prefix`:
        statements to put right before it."""
        if self.copy_before(statement, target, prefix):
            self.delete(statement)
        return self

    def move_after(self, statement: cst.CSTNode, target: cst.CSTNode, indent: Optional[str] = None) -> "Rewrite":
        """Move a statement below `target` (below its whole body for a compound statement), at
        the target's indentation or the one given."""
        moved, to = self._where(statement), self._where(target)
        if moved is None or to is None or self._inside_itself(moved, to):
            return self
        self._insert_below(to.last, self._text_at(moved, to.indent if indent is None else indent))
        return self.delete(statement)

    def copy_before(self, statement: cst.CSTNode, target: cst.CSTNode, prefix: str = "") -> bool:
        """Put a copy of a statement above `target`, at the target's indentation."""
        moved, to = self._where(statement), self._where(target)
        if moved is None or to is None or self._inside_itself(moved, to):
            return False
        text = (self._indented(prefix, to.indent) if prefix else "") + self._text_at(moved, to.indent)
        self.insert_text(to.owned_first, 1, text)
        return True

    def indent_of(self, statement: cst.CSTNode) -> Optional[str]:
        where = self._where(statement)
        return where.indent if where is not None else None

    def indent_unit(self) -> str:
        """One level of indentation as this file writes it."""
        return self.ctx.module.default_indent

    # -- the fix -----------------------------------------------------------------------------------

    def fix(self, message: str, applicability: Applicability = Applicability.SAFE) -> Optional[Fix]:
        if self.failed or not self.edits:
            return None
        edits = tuple(sorted(self.edits, key=lambda e: (e.line, e.column, e.end_line, e.end_column)))
        for before, after in zip(edits, edits[1:]):
            if (after.line, after.column) < (before.end_line, before.end_column):
                return None  # a rewrite must not edit the same text twice
        return Fix(applicability, message, edits)

    # -- helpers -----------------------------------------------------------------------------------

    def _where(self, statement: cst.CSTNode) -> Optional[StatementLines]:
        where = self.statement_lines(statement)
        if where is None:
            self.failed = True
        return where

    def _inside_itself(self, moved: StatementLines, to: StatementLines) -> bool:
        if moved.owned_first <= to.owned_first and to.last <= moved.last:
            self.failed = True  # a statement cannot go next to a part of itself
            return True
        return False

    def _text_at(self, where: StatementLines, indent: str) -> str:
        """A statement's lines (with its comment lines), re-indented."""
        text = "".join(self._lines[where.owned_first - 1 : where.last])
        if not text.endswith(("\n", "\r")):
            text += self.newline
        return _reindent(text, where.indent, indent)

    def _insert_below(self, last: int, text: str) -> None:
        if last < len(self._lines) or self._lines[last - 1].endswith(("\n", "\r")):
            self.insert_text(last + 1, 1, text)
        else:  # the file's last line has no line break
            end = len(self._lines[last - 1]) + 1
            self.insert_text(last, end, self.newline + text.rstrip("\r\n"))

    def _indented(self, code: str, indent: str) -> str:
        lines = code.strip("\n").split("\n")
        return "".join(f"{indent}{line}{self.newline}" if line else self.newline for line in lines)

    def _add(self, line: int, column: int, end_line: int, end_column: int, content: str) -> None:
        # an edit beyond the last line (an insertion after it) is given as the end of the file
        if end_line > len(self._lines):
            end_line, end_column = len(self._lines), len(self._lines[-1]) + 1 if self._lines else 1
            if line > end_line:
                line, column = end_line, end_column
        self.edits.append(Edit(self.ctx.path, line, column, end_line, end_column, content))


def _reindent(text: str, old: str, new: str) -> str:
    """Lines that start with the old indentation get the new one (continuation lines inside
    brackets keep their offset from it)."""
    if old == new:
        return text
    out = []
    for line in physical_lines(text):
        out.append(new + line[len(old):] if line.startswith(old) else line)
    return "".join(out)


_TIGHT_EQUAL = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))


def with_keyword(call: cst.Call, keyword: str, value: Union[cst.BaseExpression, str]) -> cst.Call:
    """The call with `keyword=value`: the existing keyword argument's value replaced, or a new one
    appended after the last argument (a trailing comma and one-argument-per-line layout kept)."""
    if isinstance(value, str):
        value = cst.parse_expression(value)
    args = list(call.args)
    for index, arg in enumerate(args):
        if arg.keyword is not None and arg.keyword.value == keyword:
            args[index] = arg.with_changes(value=value)
            return call.with_changes(args=args)
    new = cst.Arg(value=value, keyword=cst.Name(keyword), equal=_TIGHT_EQUAL)
    return call.with_changes(args=appended(args, new))


def with_parameter(function: cst.FunctionDef, name: str, default: str) -> cst.Parameters:
    """The function's parameters with `name=default` added last (keyword-only after `*args`)."""
    params = function.params
    new = cst.Param(name=cst.Name(name), default=cst.parse_expression(default), equal=_TIGHT_EQUAL)
    if isinstance(params.star_arg, cst.Param) or params.kwonly_params:
        return params.with_changes(kwonly_params=appended(list(params.kwonly_params), new))
    return params.with_changes(params=appended(list(params.params), new))


def appended(items: list, new):
    """Arguments or parameters with one more at the end: a trailing comma moves to the new last
    one, and the separator between the others is reused (one per line stays one per line)."""
    if not items:
        return [new]
    last = items[-1]
    if isinstance(last.comma, cst.Comma):
        between = items[-2].comma if len(items) > 1 and isinstance(items[-2].comma, cst.Comma) else cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        return [*items[:-1], last.with_changes(comma=between), new.with_changes(comma=last.comma)]
    return [*items[:-1], last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))), new]


def inserted(items: list, index: int, new, before: bool = False) -> list:
    """List elements or arguments with `new` put after (or before) the one at `index`, separated
    as the neighbours are."""
    if not before and index == len(items) - 1:
        return appended(items, new)
    if before:
        neighbour = items[index - 1] if index > 0 else items[index]
    else:
        neighbour = items[index]
    comma = neighbour.comma if isinstance(neighbour.comma, cst.Comma) else cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    position = index if before else index + 1
    return [*items[:position], new.with_changes(comma=comma), *items[position:]]


def local_or_imported(ctx: ModuleContext, rewrite: Rewrite, qualified: str) -> Optional[str]:
    """How the code can name `qualified`: through its imports, or by adding the name to an
    existing `from <module> import ...` (one edit per rewrite, however often asked)."""
    spelled = ctx.imports.local_name(qualified)
    if spelled is not None:
        return spelled
    if qualified in rewrite.imported:
        return rewrite.imported[qualified]
    module, _, name = qualified.rpartition(".")
    if name in ctx.imports.aliases or name in ctx.imports.local_definitions:
        return None  # the bare name means something else here
    for line in ctx.module.body:
        if not isinstance(line, cst.SimpleStatementLine):
            continue
        for statement in line.body:
            if (
                isinstance(statement, cst.ImportFrom) and not statement.relative and statement.module is not None
                and dotted_name(statement.module) == module and not isinstance(statement.names, cst.ImportStar)
            ):
                names = appended(list(statement.names), cst.ImportAlias(cst.Name(name)))
                rewrite.replace(statement, statement.with_changes(names=names))
                rewrite.imported[qualified] = name
                return name
    return None


# -- where a moved statement goes --------------------------------------------------------------


def holder_at_level(statement: Statement, other: Statement) -> Optional[cst.CSTNode]:
    """The statement in `statement`'s block that is `other` or contains it (the `if` or loop that
    holds it); None when `other` is not in that block."""
    if statement.scope is not other.scope:
        return None
    depth = len(statement.blocks)
    if other.blocks[:depth] != statement.blocks:
        return None
    if any(statement.in_else_of(block) != other.in_else_of(block) for block in statement.blocks):
        return None  # the two sit in different branches of one `if`
    return other.node if len(other.blocks) == depth else other.blocks[depth]


def beside(event: Event, other: Event) -> Optional[cst.CSTNode]:
    """The statement in the block of `event` that runs `other`, so that a statement moved next to
    it keeps its frequency: both in the training step's own scope (`other` maybe through the call
    of a helper), or both in one helper."""
    if event.statement is event.anchor:
        return holder_at_level(event.statement, other.anchor)
    if event.statement.scope is other.statement.scope:
        return holder_at_level(event.statement, other.statement)
    return None
