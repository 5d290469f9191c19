"""`# noqa` comments (flake8's rule, exactly), file-level `# nnlint: noqa`, and `--add-noqa`.

A line's `# noqa` follows flake8 so that `nnlint` and `flake8 --select NNL` silence the same
findings: `# noqa` (any case) silences every code on the line; `# noqa: NNL101,NNL2` silences the
codes listed and the codes they prefix. Codes are case-sensitive, as in flake8: `# NOQA: nnl504`
names no code nnlint has and silences nothing.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

_CODES = r"[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*"
# flake8's own pattern (flake8/defaults.py): `# noqa`, `# noqa: NNL101`, `# NOQA:NNL101,E501`
LINE_NOQA = re.compile(r"# noqa(?::[\s]?(?P<codes>([A-Z]+[0-9]+(?:[,\s]+)?)+))?", re.IGNORECASE)
# `# nnlint: noqa` (the whole file) and `# nnlint: noqa: NNL101` (that code in the file)
FILE_NOQA = re.compile(rf"#\s*nnlint\s*:\s*noqa(?:\s*:\s*(?P<codes>{_CODES}))?", re.IGNORECASE)
_SPLIT = re.compile(r"[,\s]+")
_LINE_END = re.compile(r"\r\n|\r|\n")


def _codes(text: Optional[str], upper: bool = True) -> FrozenSet[str]:
    if not text or not text.strip():
        return frozenset()
    return frozenset(code.upper() if upper else code for code in _SPLIT.split(text.strip()) if code)


@dataclass(frozen=True)
class FileSuppression:
    everything: bool = False
    codes: FrozenSet[str] = field(default_factory=frozenset)

    def suppresses(self, code: str) -> bool:
        return self.everything or code in self.codes


def file_suppression(source: str) -> FileSuppression:
    """What `# nnlint: noqa` comments anywhere in the file silence."""
    codes = set()
    for match in FILE_NOQA.finditer(source):
        found = _codes(match.group("codes"))
        if not found:
            return FileSuppression(everything=True)
        codes |= found
    return FileSuppression(codes=frozenset(codes))


def line_suppresses(line: str, code: str) -> bool:
    """Whether a `# noqa` comment on this physical line silences `code` (flake8's rule)."""
    if "noqa" not in line.lower():
        return False
    line = FILE_NOQA.sub("", line)  # `# nnlint: noqa` is file-level, not a line noqa
    match = LINE_NOQA.search(line)
    if match is None:
        return False
    codes = _codes(match.group("codes"), upper=False)
    return not codes or code in codes or code.startswith(tuple(codes))


def finding_suppressed(lines: Sequence[str], code: str, first_line: int, last_line: int) -> bool:
    """A finding is silenced by a noqa on its first line, or on the last line of a multi-line span."""
    for number in {first_line, last_line}:
        if 1 <= number <= len(lines) and line_suppresses(lines[number - 1], code):
            return True
    return False


# --- --add-noqa -------------------------------------------------------------------------------------


def _comment_lines(text: str) -> Tuple[Set[int], Dict[int, Tuple[int, str]]]:
    """(lines whose end a comment cannot follow: inside a multi-line string or ending in a
    backslash continuation; line -> (column, text) of the comment already on it)."""
    closed: Set[int] = set()
    comments: Dict[int, Tuple[int, str]] = {}
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        (start_row, start_column), (end_row, _) = token.start, token.end
        if token.type == tokenize.COMMENT:
            comments[start_row] = (start_column, token.string)
        elif end_row > start_row and token.type not in (tokenize.NEWLINE, tokenize.NL):
            closed.update(range(start_row, end_row))  # a string spanning lines: no comment inside
    for number, line in enumerate(_LINE_END.split(text), start=1):
        if line.endswith("\\") and number not in comments:
            closed.add(number)
    return closed, comments


def _with_codes(line: str, comment: Optional[Tuple[int, str]], codes: Sequence[str]) -> str:
    """`line` with `codes` added to its `# noqa: ...` comment, or a new one appended."""
    if comment is not None:
        column, text = comment
        match = LINE_NOQA.search(text)
        if match is not None and match.group("codes"):
            present = [code for code in _SPLIT.split(match.group("codes").strip()) if code]
            merged = present + [code for code in codes if code not in present]
            rest = text[match.end():].strip()
            replaced = f"{text[:match.start()]}# noqa: {', '.join(merged)}" + (f" {rest}" if rest else "")
            return line[:column] + replaced + line[column + len(text):]
    return f"{line.rstrip()}  # noqa: {', '.join(codes)}"


def add_noqa(text: str, findings: Iterable[Tuple[int, int, str]]) -> Tuple[str, int, int]:
    """`text` with a `# noqa: CODE` for each (first line, last line, code): on the finding's last
    line where a comment is legal, else its first; existing comments are kept and an existing
    noqa's codes merged. Returns (new text, lines changed, findings that had no legal line)."""
    closed, comments = _comment_lines(text)
    pieces = _LINE_END.split(text)
    breaks = _LINE_END.findall(text)
    wanted: Dict[int, List[str]] = {}
    skipped = 0
    for first, last, code in findings:
        line = next((n for n in (last, first) if 1 <= n <= len(pieces) and n not in closed), None)
        if line is None:
            skipped += 1
            continue
        codes = wanted.setdefault(line, [])
        if code not in codes:
            codes.append(code)
    for number, codes in wanted.items():
        pieces[number - 1] = _with_codes(pieces[number - 1], comments.get(number), sorted(codes))
    rebuilt = "".join(piece + ending for piece, ending in zip(pieces, breaks + [""]))
    return rebuilt, len(wanted), skipped
