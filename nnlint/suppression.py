"""`# noqa` comments (flake8's syntax) and file-level `# nnlint: noqa`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import FrozenSet, Optional, Sequence

_CODES = r"[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*"
# `# noqa`, `# noqa: NNL101`, `#noqa:NNL101,NNL201`, `# NOQA: NNL101 NNL201`
LINE_NOQA = re.compile(rf"#\s*noqa(?::[\s]?(?P<codes>{_CODES}))?", re.IGNORECASE)
# `# nnlint: noqa` (the whole file) and `# nnlint: noqa: NNL101` (that code in the file)
FILE_NOQA = re.compile(rf"#\s*nnlint\s*:\s*noqa(?:\s*:\s*(?P<codes>{_CODES}))?", re.IGNORECASE)
_SPLIT = re.compile(r"[,\s]+")


def _codes(text: Optional[str]) -> FrozenSet[str]:
    return frozenset(code.upper() for code in _SPLIT.split(text.strip())) if text else frozenset()


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
    """Whether a `# noqa` comment on this physical line silences `code`."""
    if "noqa" not in line.lower():
        return False
    line = FILE_NOQA.sub("", line)  # `# nnlint: noqa` is file-level, not a line noqa
    for match in LINE_NOQA.finditer(line):
        found = _codes(match.group("codes"))
        if not found or code.upper() in found:
            return True
    return False


def finding_suppressed(lines: Sequence[str], code: str, first_line: int, last_line: int) -> bool:
    """A finding is silenced by a noqa on its first line, or on the last line of a multi-line span."""
    for number in {first_line, last_line}:
        if 1 <= number <= len(lines) and line_suppresses(lines[number - 1], code):
            return True
    return False
