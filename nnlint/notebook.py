"""Jupyter notebooks (.ipynb, nbformat 4) as one Python module, with a map back to the cells.

The code cells of a notebook run in order in one namespace, so they are analysed together as one
module: a training loop in cell 9 uses the model of cell 4 and the transforms of cell 2. Each
line of the module comes from one line of one cell; `CellLine` says which.

Cells are numbered from 1 by their position among ALL cells of the notebook (markdown and raw
cells count), as ruff numbers them and as the editors that show a cell number count.

IPython syntax is rewritten without moving lines, the way IPython itself translates it:
- line magics and shell escapes (`%matplotlib inline`, `!pip install x`, `files = !ls`,
  `obj?`) become `get_ipython()` calls, so the line stays a statement (also inside a block);
- `%time stmt` and `%timeit [options] stmt` keep the statement (the user's code) when it parses
  on its own; its columns are shifted back when findings are placed;
- a cell magic whose body is Python (`%%time`, `%%capture`...) keeps the body; a cell in another
  language (`%%bash`, `%%writefile`, `%%html`...) is left out;
- top-level `await` needs nothing: both parsers accept it.

Markdown and raw cells are ignored. A code cell that does not parse even so is left out of the
module (Jupyter compiles every cell on its own, so the others still run) and reported by the
engine as NNL000 at its cell and line.

The notebook is read with the stdlib json module: the format is a documented JSON schema and the
few fields read here (cells, cell_type, source, metadata) need no more.
"""

from __future__ import annotations

import ast
import bisect
import json
import re
import warnings
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Tuple

NOTEBOOK_SUFFIX = ".ipynb"

# cell magics whose body is Python code run as such
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "memit"})
# line magics followed by a statement they run: the statement is kept
STATEMENT_MAGICS = frozenset({"time", "timeit"})

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_INDENT = re.compile(r"[ \t\f]*")
_MAGIC_NAME = re.compile(r"%{1,2}(\w+)")
# `%timeit -n 10 -r3 -q x = f()`: the options before the statement
_TIMEIT_OPTIONS = re.compile(r"(?:-[nrp]\s*\d+\s+|-[tcqov]\s+)*")
# `files = !ls`, `a, b = %sx ls`: IPython's assignment from a shell command or a magic
_ASSIGNED_ESCAPE = re.compile(r"(?P<lhs>[\w.]+(?:\s*,\s*[\w.]+)*\s*=\s*)(?P<escape>[!%])(?P<rest>.*)")
# `?obj`, `??obj`, `obj?`, `obj??`, `obj.attr?`: help
_HELP = re.compile(r"\?{1,2}\s*[\w.*]+\s*|[\w.*]+\s*\?{1,2}\s*")


def is_notebook(path: str) -> bool:
    return path.endswith(NOTEBOOK_SUFFIX)


class NotebookError(Exception):
    """The file is not a notebook nnlint can read; `line`/`column` locate the problem in the
    file when known (1-based)."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass(frozen=True)
class CellLine:
    """Where a line of the module comes from: a cell (1-based, among all cells) and a line in it
    (1-based); `shift` columns were removed from the line's start (`%time ` before a statement)."""

    cell: int
    line: int
    shift: int = 0


@dataclass
class CodeCell:
    number: int
    lines: List[str]  # as written in the notebook
    # the lines as Python (IPython syntax rewritten), or None for a cell in another language
    python: Optional[List[str]]
    shifts: Dict[int, int] = field(default_factory=dict)  # 0-based line -> columns removed

    def parse_error(self) -> Optional[Tuple[str, int, int]]:
        """(message, line, column) of the syntax error that stops this cell parsing, or None."""
        assert self.python is not None
        text = "\n".join(self.python) + "\n"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ast.parse(text)
        except SyntaxError as error:
            line = error.lineno or 1
            column = max(error.offset or 1, 1) + self.shifts.get(line - 1, 0)
            return error.msg, line, column
        except (RecursionError, MemoryError):
            return "the code is nested too deeply to analyse", 1, 1
        except ValueError as error:
            return str(error), 1, 1
        return None


@dataclass
class Notebook:
    cells: List[CodeCell]  # the code cells, in order

    def module(self, left_out: FrozenSet[int] = frozenset()) -> Tuple[str, List[CellLine]]:
        """The Python code cells (but those numbered in `left_out`) as one module, and for each of
        its lines (index 0 is line 1) the cell line it comes from."""
        lines: List[str] = []
        origin: List[CellLine] = []
        for cell in self.cells:
            if cell.python is None or cell.number in left_out:
                continue
            lines.extend(cell.python)
            origin.extend(CellLine(cell.number, index + 1, cell.shifts.get(index, 0)) for index in range(len(cell.python)))
        return "".join(line + "\n" for line in lines), origin

    def cell_lines(self) -> Dict[int, List[str]]:
        """Each code cell's lines as the notebook shows them (for --show-source)."""
        return {cell.number: cell.lines for cell in self.cells}


def read_notebook(data: bytes) -> Notebook:
    """The notebook's code cells; NotebookError when the bytes are not an nbformat 4 notebook."""
    document = _load_json(data)
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        raise NotebookError("not a Jupyter notebook: the JSON has no 'cells' list")
    version = document.get("nbformat")
    if not isinstance(version, int) or version < 4:
        found = f"nbformat {version}" if isinstance(version, int) else "no nbformat version"
        raise NotebookError(
            f"cannot read the notebook: {found}; nnlint reads nbformat 4 "
            "(convert it with `jupyter nbconvert --to notebook --nbformat 4`)"
        )
    if not _is_python(document.get("metadata")):
        return Notebook([])
    cells: List[CodeCell] = []
    for number, cell in enumerate(document["cells"], start=1):
        if not isinstance(cell, dict):
            raise NotebookError(f"cannot read the notebook: cell {number} is not a JSON object")
        if cell.get("cell_type") != "code":
            continue
        lines = _split_cell(cell.get("source", ""), number)
        python, shifts = _as_python(lines)
        cells.append(CodeCell(number, lines, python, shifts))
    return Notebook(cells)


def cache_content(data: bytes) -> bytes:
    """What a notebook's findings depend on: the kind of every cell (they number the cells) and
    the source of the code cells. Outputs, execution counts and metadata other than the language
    are left out, so re-running a notebook does not invalidate its cached result. Bytes that are
    not a notebook are returned unchanged (their NNL000 depends on them)."""
    try:
        document = json.loads(data)
        cells = document["cells"]
        summary = [document.get("nbformat"), _is_python(document.get("metadata"))]
        for cell in cells:
            kind = cell.get("cell_type")
            summary.append([kind, cell.get("source") if kind == "code" else None])
        return json.dumps(summary, sort_keys=True).encode("utf-8")
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return data


def _load_json(data: bytes):
    try:
        return json.loads(data)
    except json.JSONDecodeError as error:
        raise NotebookError(f"cannot read the notebook: invalid JSON: {error.msg}", error.lineno, error.colno) from None
    except UnicodeDecodeError as error:
        raise NotebookError(f"cannot read the notebook: invalid UTF-8 at byte offset {error.start}") from None
    except (ValueError, RecursionError):
        raise NotebookError("cannot read the notebook: the JSON is invalid or nested too deeply") from None


def _is_python(metadata) -> bool:
    """Whether the notebook's kernel runs Python (a notebook that does not say is taken as Python)."""
    if not isinstance(metadata, dict):
        return True
    for key, inner in (("language_info", "name"), ("kernelspec", "language")):
        section = metadata.get(key)
        if isinstance(section, dict) and isinstance(section.get(inner), str):
            return section[inner].lower() == "python"
    return True


def _split_cell(source, number: int) -> List[str]:
    if isinstance(source, list) and all(isinstance(part, str) for part in source):
        source = "".join(source)
    if not isinstance(source, str):
        raise NotebookError(f"cannot read the notebook: the source of cell {number} is not text")
    lines = _LINE_BREAK.split(source)
    if lines and lines[-1] == "":
        lines.pop()  # a final line break ends the last line; it does not start another
    return lines


# -- IPython syntax -> Python, line for line ------------------------------------------------------


def _as_python(lines: List[str]) -> Tuple[Optional[List[str]], Dict[int, int]]:
    """The cell as Python lines and the columns removed per line; None for another language."""
    python = list(lines)
    shifts: Dict[int, int] = {}
    first = next((index for index, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].startswith("%%"):
        match = _MAGIC_NAME.match(lines[first])
        if match is None or match.group(1) not in PYTHON_CELL_MAGICS:
            return None, shifts
        python[first] = ""  # the magic's own line (its options, a %%timeit setup) is not kept
        start = first + 1
    else:
        start = 0
    scanner = _LogicalLines()
    continued_escape = False
    for index in range(start, len(python)):
        line = python[index]
        if continued_escape:  # the rest of a magic continued with a backslash
            continued_escape = line.rstrip().endswith("\\")
            python[index] = ""
            continue
        if scanner.at_statement_start:
            rewritten, shift = _rewrite_escape(line)
            if rewritten is not None:
                python[index] = rewritten
                if shift:
                    shifts[index] = shift
                continued_escape = shift == 0 and line.rstrip().endswith("\\")
                if shift == 0:
                    continue  # the escape's text is not Python: it must not move the scanner
        scanner.feed(python[index])
    return python, shifts


def _rewrite_escape(line: str) -> Tuple[Optional[str], int]:
    """(Python line, columns removed) for a line that starts with IPython syntax, else (None, 0)."""
    indent = _INDENT.match(line).group()
    body = line[len(indent):]
    if not body or body[0] not in "!%?" and "?" not in body and "=" not in body:
        return None, 0
    if body[0] == "!":
        return f"{indent}get_ipython().system({_command(body[1:])!r})", 0
    if body[0] == "%":
        kept = _kept_statement(body)
        if kept is not None:
            return indent + kept, len(body) - len(kept)
        name, _, arguments = body.lstrip("%").partition(" ")
        return f"{indent}get_ipython().run_line_magic({name!r}, {_command(arguments)!r})", 0
    assigned = _ASSIGNED_ESCAPE.fullmatch(body)
    if assigned is not None:
        rest = assigned.group("rest")
        if assigned.group("escape") == "!":
            call = f"get_ipython().getoutput({_command(rest)!r})"
        else:
            name, _, arguments = rest.partition(" ")
            call = f"get_ipython().run_line_magic({name!r}, {_command(arguments)!r})"
        return f"{indent}{assigned.group('lhs')}{call}", 0
    if _HELP.fullmatch(body.split("#", 1)[0]) and not _parses(body):
        return f"{indent}get_ipython().run_line_magic('pinfo', {body.strip('?').strip()!r})", 0
    return None, 0


def _kept_statement(body: str) -> Optional[str]:
    """The statement after `%time`/`%timeit [options]` when it parses on its own line."""
    match = _MAGIC_NAME.match(body)
    if match is None or body.startswith("%%") or match.group(1) not in STATEMENT_MAGICS:
        return None
    rest = body[match.end():].lstrip()
    if match.group(1) == "timeit":
        rest = rest[_TIMEIT_OPTIONS.match(rest).end():]
    if not rest or rest.rstrip().endswith("\\") or not _parses(rest):
        return None
    return rest


def _command(text: str) -> str:
    return text.rstrip().rstrip("\\").strip()


def _parses(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


class _LogicalLines:
    """Follows brackets, strings and backslash continuations line by line, to tell whether the
    next physical line starts a statement (IPython syntax is recognised only there)."""

    def __init__(self) -> None:
        self.depth = 0
        self.quote: Optional[str] = None  # the closing quote of a string still open
        self.continued = False

    @property
    def at_statement_start(self) -> bool:
        return self.depth == 0 and self.quote is None and not self.continued

    def feed(self, line: str) -> None:
        index, length = 0, len(line)
        self.continued = False
        while index < length:
            char = line[index]
            if self.quote is not None:
                if char == "\\":
                    index += 2
                    continue
                if line.startswith(self.quote, index):
                    index += len(self.quote)
                    self.quote = None
                    continue
                index += 1
                continue
            if char == "#":
                return
            if char in "([{":
                self.depth += 1
            elif char in ")]}":
                self.depth = max(0, self.depth - 1)
            elif char in "\"'":
                quote = line[index:index + 3]
                self.quote = quote if quote in ('"""', "'''") else char
                index += len(self.quote)
                continue
            index += 1
        if self.quote is not None and len(self.quote) == 1:
            # a one-line string open at the end of the line continues only after a backslash
            self.continued = line.endswith("\\")
            if not self.continued:
                self.quote = None
            return
        self.continued = self.quote is None and line.endswith("\\")


# -- where a cell line sits in the .ipynb file (for SARIF and GitHub annotations) -------------------


def file_lines(data: bytes) -> Dict[Tuple[int, int], int]:
    """(cell, line in cell) -> the 1-based line of the .ipynb file where that line's text is
    stored. Jupyter writes one source line per file line, so annotations on the file land on the
    code. Empty when the file cannot be followed (the reporters then use the cell's first line)."""
    try:
        text = data.decode("utf-8-sig")
        return _SourcePositions(text).cell_lines()
    except (ValueError, IndexError, RecursionError):
        return {}


class _SourcePositions:
    """A minimal JSON reader that keeps the offsets of the strings in cells[*].source."""

    _WHITESPACE = re.compile(r"[ \t\n\r]*")
    _SCALAR = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")

    def __init__(self, text: str) -> None:
        self.text = text
        self.newlines = [index for index, char in enumerate(text) if char == "\n"]

    def line_of(self, offset: int) -> int:
        return bisect.bisect_left(self.newlines, offset) + 1

    def cell_lines(self) -> Dict[Tuple[int, int], int]:
        positions: Dict[Tuple[int, int], int] = {}
        document, _ = self._value(0, ())
        cells = document.get("cells", []) if isinstance(document, dict) else []
        for number, cell in enumerate(cells, start=1):
            if not isinstance(cell, dict):
                continue
            line_in_cell = 1
            for value, offset in cell.get("source", []):
                # a string holding several lines stays on one line of the file
                breaks = len(_LINE_BREAK.findall(value))
                lines_here = breaks if value.endswith(("\n", "\r")) else breaks + 1
                for line in range(line_in_cell, line_in_cell + lines_here):
                    positions.setdefault((number, line), self.line_of(offset))
                line_in_cell += breaks
        return positions

    def _skip(self, index: int) -> int:
        return self._WHITESPACE.match(self.text, index).end()

    def _value(self, index: int, path: Tuple) -> Tuple[object, int]:
        """(value, end). Inside `cells[i].source` strings come back as (string, offset) pairs;
        numbers and literals as None (only the structure and the sources matter)."""
        index = self._skip(index)
        char = self.text[index]
        if char == "{":
            return self._object(index + 1, path)
        if char == "[":
            return self._array(index + 1, path)
        if char == '"':
            value, end = json.decoder.scanstring(self.text, index + 1)
            return ((value, index) if _is_source(path) else value), end
        match = self._SCALAR.match(self.text, index)
        if match is None:
            raise ValueError(f"unexpected {char!r} at {index}")
        return None, match.end()

    def _object(self, index: int, path: Tuple) -> Tuple[dict, int]:
        result: dict = {}
        index = self._skip(index)
        if self.text[index] == "}":
            return result, index + 1
        while True:
            index = self._skip(index)
            key, index = json.decoder.scanstring(self.text, index + 1)
            index = self._skip(index) + 1  # the colon
            value, index = self._value(index, path + (key,))
            # a source written as one string is a list of one (string, offset) pair
            result[key] = [value] if isinstance(value, tuple) else value
            index = self._skip(index)
            if self.text[index] == "}":
                return result, index + 1
            index += 1  # the comma

    def _array(self, index: int, path: Tuple) -> Tuple[list, int]:
        result: list = []
        index = self._skip(index)
        if self.text[index] == "]":
            return result, index + 1
        while True:
            value, index = self._value(index, path + (len(result),))
            result.append(value)
            index = self._skip(index)
            if self.text[index] == "]":
                return result, index + 1
            index += 1


def _is_source(path: Tuple) -> bool:
    """Whether a JSON path is a cell's source or one of its strings: ("cells", i, "source"[, j])."""
    return len(path) >= 3 and path[0] == "cells" and path[2] == "source"
