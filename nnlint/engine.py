"""The engine: one file from bytes to findings. It knows nothing of other files, the result cache
or worker processes (see ``nnlint.batch``).

For each file: decode (PEP 263 cookies and BOMs honoured), honour `# nnlint: noqa`, pick the
checks whose rules are enabled and whose trigger substrings occur in the text, parse once with
LibCST, run the module index and every picked check in ONE batched traversal, let each check
decide in `finish()`, then attach positions and apply `# noqa`.

A file in which no enabled check's trigger occurs is only compiled by CPython's parser, so that a
syntax error is still reported (see README, "Which files are parsed").

A check that raises is switched off for that file and reported as NNL001 at 1:1; the other
checks' findings still stand, and the traceback is kept for `--verbose`.

A notebook is linted as the module of its code cells (nnlint/notebook.py) and its findings are
placed back in the cells.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import io
import re
import tokenize
import traceback
import warnings
from dataclasses import replace
from typing import Callable, FrozenSet, Iterator, List, Optional, Tuple, Type

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.project_values import ProjectValues
from nnlint.budget import NO_DEADLINE, Deadline, TimeBudgetExceeded
from nnlint.catalogue import INTERNAL_ERROR, UNPARSABLE
from nnlint.check import Check, Elsewhere, Report
from nnlint.contracts import Rule
from nnlint.finding import FileResult, Finding, Related
from nnlint.notebook import CellLine, NotebookError, cache_content, file_lines, is_notebook, read_notebook
from nnlint.registry import check_classes
from nnlint.suppression import file_suppression, finding_suppressed
from nnlint.traversal import walk

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class SourceError(Exception):
    """The bytes are not Python source we can read; `line` and `column` (1-based) locate the problem."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def split_lines(text: str) -> List[str]:
    """Physical lines as Python's tokenizer counts them (\\r\\n, \\r or \\n; not form feeds)."""
    return _LINE_BREAK.split(text)


def _byte_position(data: bytes, offset: int, encoding: str) -> Tuple[int, int]:
    """1-based line and column (in characters) of the byte at `offset`; the line breaks are the
    tokenizer's and the bytes before `offset` decode, since decoding stopped at `offset`."""
    before = data[:offset].decode(encoding, errors="replace")
    lines = split_lines(before)
    return len(lines), len(lines[-1]) + 1


_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=]", re.MULTILINE)


def _declaration_problem(data: bytes) -> Tuple[int, int]:
    """Where detect_encoding's complaint is: the coding declaration, else the first non-UTF-8 byte."""
    cookie = _COOKIE.search(data)
    if cookie is not None:
        return _byte_position(data, cookie.start(), "latin-1")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return _byte_position(data, error.start, "utf-8")
    return 1, 1


def decode_source(data: bytes) -> str:
    if b"\x00" in data:
        nul = data.index(b"\x00")
        raise SourceError(
            "cannot read as Python source: the file contains NUL bytes (is it a binary file?)",
            *_byte_position(data, nul, "utf-8"),
        )
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        # an unknown or wrong coding declaration, or bytes on the first two lines that are not UTF-8
        raise SourceError(f"cannot decode: {error}", *_declaration_problem(data)) from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise SourceError(
            f"cannot decode as {encoding}: invalid byte 0x{data[error.start]:02x} at offset {error.start}",
            *_byte_position(data, error.start, encoding),
        ) from None
    except LookupError:
        raise SourceError(f"cannot decode: unknown encoding {encoding!r} in the coding declaration") from None


def _unparsable(path: str, message: str, line: int = 1, column: int = 1, cell: Optional[int] = None) -> Finding:
    return Finding(
        path=path, line=line, column=column, end_line=line, end_column=column,
        code=UNPARSABLE.code, name=UNPARSABLE.name, severity=UNPARSABLE.severity, message=message, cell=cell,
        short_message=message,  # NNL000 messages are one short sentence already
    )


def _statement_lines(tree: ast.Module) -> List[int]:
    """First line of each top-level statement (its first decorator's line for decorated ones)."""
    lines = []
    for statement in tree.body:
        decorators = getattr(statement, "decorator_list", None)
        lines.append(min([statement.lineno] + [d.lineno for d in decorators or []]))
    return lines


# LibCST's native parser holds about 20 kB per line while it parses (a 50,000-line file peaked at
# 1 GB, for a tree of 70 MB), so a longer file is parsed in pieces of about this many lines.
PIECE_LINES = 2000


def parse_in_pieces(text: str, statement_lines: List[int], end_lines: List[int], piece_lines: int = PIECE_LINES) -> cst.Module:
    """The tree `cst.parse_module(text)` gives (tests/test_engine.py compares them), from pieces
    of about `piece_lines` lines cut before top-level statements (first and last lines from
    CPython's parser). Blank and comment lines before a cut end the piece above: they become the
    leading lines of the statement after the cut, as in one parse."""
    cuts: List[int] = []
    for previous_end, start in zip(end_lines, statement_lines[1:]):
        # statements that share a line (`a = 1; b = 2`) are one LibCST statement
        if start - (cuts[-1] if cuts else 1) >= piece_lines and previous_end < start:
            cuts.append(start)
    if not cuts:
        return cst.parse_module(text)
    line_offsets = [0] + [match.end() for match in _LINE_BREAK.finditer(text)]
    # nor is a line continued by a backslash (`a = 1; \`) cut from the next
    cuts = [line for line in cuts if not text[line_offsets[line - 2] : line_offsets[line - 1]].rstrip("\r\n").endswith("\\")]
    bounds = [0] + [line_offsets[line - 1] for line in cuts] + [len(text)]
    first = piece = cst.parse_module(text[: bounds[1]])
    body = list(first.body)
    # LibCST writes a block's indentation, and a line break, as None where they are the module's
    # default: the first indentation and the first line break of the file. A piece would guess its
    # own, so each starts with a statement that shows the file's (dropped after parsing).
    newline = first.default_newline
    indent = first.default_indent if _has_indented_block(first) else None
    for begin, end in zip(bounds[1:-1], bounds[2:]):
        above = piece.footer
        prelude = f"if 1:{newline}{indent}pass{newline}" if indent is not None else f"pass{newline}"
        piece = cst.parse_module(prelude + text[begin:end])
        statements = list(piece.body[1:])
        if above:
            statements[0] = statements[0].with_changes(leading_lines=[*above, *statements[0].leading_lines])
        body.extend(statements)
        if indent is None and _has_indented_block(piece):
            indent = piece.default_indent
    return cst.Module(
        body=body,
        header=first.header,
        footer=piece.footer,
        encoding=first.encoding,
        default_indent=first.default_indent if indent is None else indent,
        default_newline=newline,
        has_trailing_newline=piece.has_trailing_newline,
    )


def _has_indented_block(module: cst.Module) -> bool:
    """Whether the module has a block on lines of its own (what sets LibCST's default indent);
    only compound statements are searched: a simple statement holds no block."""
    pending: List[cst.CSTNode] = [item for item in module.body if isinstance(item, cst.BaseCompoundStatement)]
    while pending:
        node = pending.pop()
        if isinstance(node, cst.IndentedBlock):
            return True
        pending.extend(child for child in node.children if not isinstance(child, (cst.BaseExpression, cst.SimpleStatementSuite)))
    return False


def _python_parse(path: str, text: str) -> Tuple[Optional[ast.Module], Optional[Finding]]:
    """Parse with CPython first. Its messages are the ones users know, and it refuses input that
    would crash or stall LibCST's parser (brackets nested beyond 200 levels, expression chains
    thousands deep), so LibCST only ever sees code CPython accepts."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(text), None
    except SyntaxError as error:
        message = error.msg
        if "too many nested" in message or "too many levels" in message:
            message = f"{message} (nested too deeply to analyse)"
        return None, _unparsable(path, f"cannot parse: {message}", error.lineno or 1, max(error.offset or 1, 1))
    except (RecursionError, MemoryError):
        return None, _unparsable(path, "cannot parse: the code is nested too deeply to analyse")
    except ValueError as error:  # e.g. source code string cannot contain null bytes
        return None, _unparsable(path, f"cannot parse: {error}")


def _libcst_rejects(path: str, error: Exception) -> Finding:
    """LibCST refused code that CPython accepts (a LibCST limitation)."""
    line = getattr(error, "raw_line", 1) or 1
    column = (getattr(error, "raw_column", 0) or 0) + 1
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return _unparsable(path, f"cannot parse with LibCST: {first_line}", line, column)


def active_checks(
    text: str, enabled: FrozenSet[str], use_triggers: bool = True, elsewhere: FrozenSet[str] = frozenset()
) -> List[Type[Check]]:
    """Checks with an enabled rule whose trigger substrings occur in the text (or, in project
    analysis, in a module of the project the file reaches: `elsewhere`)."""
    picked = []
    for check in check_classes():
        if not any(rule.code in enabled for rule in check.rules):
            continue
        if (
            use_triggers and check.triggers
            and not any(trigger in text or trigger in elsewhere for trigger in check.triggers)
        ):
            continue
        picked.append(check)
    return picked


# objects allocated between collections of the youngest generation (CPython's default: 700)
YOUNG_COLLECTION_THRESHOLD = 50_000


@contextlib.contextmanager
def fewer_garbage_collections() -> Iterator[None]:
    """Collect cyclic garbage less often while a file is analysed. The tree, the index and the
    facts live until the file is done, and each collection of the oldest generation walks all of
    them: with CPython's default a 50,000-line file had 21 full collections, a third of its time
    (about log(size) collections of size each). Few cycles die meanwhile, so memory barely grows."""
    thresholds = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


@fewer_garbage_collections()
def lint_text(
    path: str,
    text: str,
    enabled: FrozenSet[str],
    use_triggers: bool = True,
    apply_noqa: bool = True,
    deadline: Deadline = NO_DEADLINE,
    project: Optional[ProjectValues] = None,
    line_label: Optional[Callable[[int], str]] = None,
) -> FileResult:
    """`line_label` names a line of `text` in messages (a notebook's "cell 4, line 7")."""
    result = FileResult(path)
    suppressed_file = file_suppression(text)
    if suppressed_file.everything:
        return result
    enabled = frozenset(code for code in enabled if not suppressed_file.suppresses(code))
    checks = active_checks(text, enabled, use_triggers, project.triggers if project is not None else frozenset())
    if not checks and UNPARSABLE.code not in enabled:
        return result
    tree, rejected = _python_parse(path, text)
    if rejected is not None:
        return _with_unparsable(result, enabled, rejected)
    if not checks:
        return result  # no rule can fire: parsing was only to report a syntax error
    statement_lines = _statement_lines(tree)
    end_lines = [statement.end_lineno or statement.lineno for statement in tree.body]
    del tree  # only the statement lines are kept
    deadline.check()
    try:
        module = parse_in_pieces(text, statement_lines, end_lines)
    except RecursionError:
        return _with_unparsable(result, enabled, _unparsable(path, "cannot parse: the code is nested too deeply to analyse"))
    except Exception as error:  # noqa: BLE001 - LibCST may reject what CPython accepts
        return _with_unparsable(result, enabled, _libcst_rejects(path, error))

    deadline.check()
    ctx = ModuleContext(path, text, module, deadline, statement_lines, line_label)
    ctx.project = project
    instances = [check(ctx) for check in checks]
    try:
        walk(module, instances, before_visit=ctx.index.before_visit, after_leave=ctx.index.after_leave)
    except RecursionError:
        return _with_unparsable(result, enabled, _unparsable(path, "cannot analyse: the code is nested too deeply"))
    lines = split_lines(text)
    for instance in instances:
        if instance.failure is None:
            deadline.check()
            try:
                instance.finish()
            except TimeBudgetExceeded:
                raise
            except RecursionError:
                instance.failure = RecursionError("the code is nested too deeply")
            except Exception as error:  # noqa: BLE001 - reported as an internal error
                instance.failure = error
        if instance.failure is not None:
            _report_crash(result, enabled, type(instance).__name__, instance.rules, instance.failure)
            continue
        for report in instance.reports:
            finding = _finding(ctx, report)
            if finding.code not in enabled:
                continue
            where = lines if report.at is None or project is None else project.lines(report.at.path)
            if apply_noqa and finding_suppressed(where, finding.code, finding.line, finding.end_line):
                continue
            result.findings.append(finding)
    result.findings.sort(key=Finding.sort_key)
    if result.findings:
        result.lines = lines
    return result


def internal_error(path: str, what: str, detail: str) -> Finding:
    """NNL001 at the top of the file: `what` crashed with `detail`."""
    return Finding(
        path=path, line=1, column=1, end_line=1, end_column=1,
        code=INTERNAL_ERROR.code, name=INTERNAL_ERROR.name, severity=INTERNAL_ERROR.severity,
        message=f"internal error: {what} crashed on this file ({detail}); the other checks still ran. "
        "This is a bug in nnlint: please report it with the traceback that --verbose prints.",
        short_message=f"internal error: {what} crashed ({detail}); please report",
    )


def _report_crash(result: FileResult, enabled: FrozenSet[str], check: str, rules, error: BaseException) -> None:
    codes = ", ".join(rule.code for rule in rules)
    exception = _one_line(f"{type(error).__name__}: {error}")
    result.internal_errors.append(
        f"{result.path}: check {check} ({codes}) raised:\n"
        + "".join(traceback.format_exception(type(error), error, error.__traceback__))
    )
    if INTERNAL_ERROR.code in enabled:
        result.findings.append(internal_error(result.path, f"check {codes}", exception))


def _one_line(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _with_unparsable(result: FileResult, enabled: FrozenSet[str], finding: Finding) -> FileResult:
    if UNPARSABLE.code in enabled:
        result.findings.append(finding)
    return result


def cannot_analyse(path: str, enabled: FrozenSet[str], message: str, line: int = 1, column: int = 1) -> FileResult:
    """The result of a file that cannot be analysed at all: one NNL000 (when enabled)."""
    return _with_unparsable(FileResult(path), enabled, _unparsable(path, message, line, column))


def _finding(ctx: ModuleContext, report: Report) -> Finding:
    rule: Rule = report.rule
    related = tuple(_related(ctx, place, message) for place, message in report.related)
    if report.at is not None and ctx.project is not None:
        line, column, end_line, end_column = report.at.at
        path = ctx.project.display(report.at.path)
    else:
        position = ctx.position(report.node)
        path, line, column = ctx.path, position.start.line, position.start.column + 1
        end_line, end_column = position.end.line, position.end.column + 1
    return Finding(
        path=path,
        line=line,
        column=column,
        end_line=end_line,
        end_column=end_column,
        code=rule.code,
        name=rule.name,
        severity=rule.severity,
        message=report.message,
        short_message=report.short,
        probe_input=report.probe_input.to_record() if report.probe_input is not None else None,
        related=related,
        fix=report.fix,
    )


def _related(ctx: ModuleContext, place, message: str) -> Related:
    if isinstance(place, Elsewhere):
        assert ctx.project is not None  # only project analysis reports places elsewhere
        return Related(ctx.project.display(place.path), place.at[0], place.at[1], message)
    position = ctx.position(place)
    return Related(ctx.path, position.start.line, position.start.column + 1, message)


DEFAULT_FILE_TIMEOUT = 60.0


def lint_notebook(
    path: str,
    data: bytes,
    enabled: FrozenSet[str],
    use_triggers: bool = True,
    apply_noqa: bool = True,
    deadline: Deadline = NO_DEADLINE,
) -> FileResult:
    """Lint a notebook's code cells as one module; findings are placed in their cells. A code cell
    that does not parse is one NNL000 at its cell and line, and the other cells are linted
    without it (Jupyter runs each cell on its own)."""
    try:
        notebook = read_notebook(data)
    except NotebookError as error:
        return _with_unparsable(FileResult(path), enabled, _unparsable(path, str(error), error.line, error.column))
    every_cell, _ = notebook.module()
    suppressed = file_suppression(every_cell)
    if suppressed.everything:
        return FileResult(path)
    enabled = frozenset(code for code in enabled if not suppressed.suppresses(code))
    if not active_checks(every_cell, enabled, use_triggers):
        return FileResult(path)  # as for a script: nothing to check, nothing parsed
    broken: List[Finding] = []
    for cell in notebook.cells:
        error = cell.parse_error() if cell.python is not None else None
        if error is not None:
            message, line, column = error
            text = f"cannot parse cell {cell.number}: {message}; the other cells are analysed without it"
            broken.append(_unparsable(path, text, line, column, cell.number))
    text, origin = notebook.module(left_out=frozenset(finding.cell for finding in broken))

    def line_label(line: int) -> str:
        where = origin[min(line, len(origin)) - 1]
        return f"cell {where.cell}, line {where.line}"

    result = lint_text(path, text, enabled, use_triggers, apply_noqa, deadline, line_label=line_label if origin else None)
    result.findings = [_in_cell(finding, origin) for finding in result.findings]
    result.lines = []  # the module's lines; the cells' own lines are attached below
    if UNPARSABLE.code in enabled:
        result.findings.extend(broken)
    result.findings.sort(key=Finding.sort_key)
    return attach_source(result, data)


def _in_cell(finding: Finding, origin: List[CellLine]) -> Finding:
    """A finding on the notebook's module moved to the cell line it comes from."""
    if not origin:
        return finding
    start = origin[min(finding.line, len(origin)) - 1]
    end = origin[min(finding.end_line, len(origin)) - 1]
    column = finding.column + start.shift
    if end.cell != start.cell:  # a node never spans cells; kept inside the start's cell anyway
        end, end_column = start, column + 1
    else:
        end_column = finding.end_column + end.shift
    return replace(finding, cell=start.cell, line=start.line, column=column, end_line=end.line, end_column=end_column)


def attach_source(result: FileResult, data: bytes) -> FileResult:
    """Give a result with findings the source lines they point at (for --show-source) and, in a
    notebook, the lines of the .ipynb file that hold them (for SARIF and GitHub annotations)."""
    if not result.findings:
        return result
    if is_notebook(result.path):
        try:
            result.cells = read_notebook(data).cell_lines()
        except NotebookError:
            return result
        stored_at = file_lines(data)
        result.findings = [
            replace(finding, file_line=stored_at.get((finding.cell, finding.line))) if finding.cell is not None else finding
            for finding in result.findings
        ]
        return result
    try:
        result.lines = split_lines(decode_source(data))
    except SourceError:
        pass  # an NNL000 for undecodable bytes has no source to show
    return result


def cache_key_content(path: str, data: bytes) -> bytes:
    """What a file's findings depend on: its bytes, or a notebook's cells without their outputs."""
    return cache_content(data) if is_notebook(path) else data


def lint_bytes(
    path: str,
    data: bytes,
    enabled: FrozenSet[str],
    use_triggers: bool = True,
    apply_noqa: bool = True,
    timeout: Optional[float] = DEFAULT_FILE_TIMEOUT,
    project: Optional[ProjectValues] = None,
) -> FileResult:
    """Lint one file's bytes within a time budget; a file over budget gets one NNL000."""
    try:
        if is_notebook(path):
            return lint_notebook(path, data, enabled, use_triggers, apply_noqa, Deadline(timeout))
        try:
            text = decode_source(data)
        except SourceError as error:
            return cannot_analyse(path, enabled, str(error), error.line, error.column)
        return lint_text(path, text, enabled, use_triggers, apply_noqa, Deadline(timeout), project)
    except TimeBudgetExceeded:
        return timed_out_result(path, enabled, timeout)


def timed_out_result(path: str, enabled: FrozenSet[str], timeout: Optional[float]) -> FileResult:
    """A file abandoned at its time limit: one NNL000 saying so (never cached: a longer limit may finish it)."""
    result = cannot_analyse(path, enabled, f"skipped: analysing this file took longer than {timeout:g} s (--file-timeout)")
    result.timed_out = True
    return result
