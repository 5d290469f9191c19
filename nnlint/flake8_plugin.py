"""flake8 plugin: `flake8 --select NNL` reports what `nnlint` reports.

flake8 hands over the file's lines; nnlint parses them itself (LibCST, one parse). flake8 applies
its own select/ignore, per-file-ignores and `# noqa`; nnlint's file-level `# nnlint: noqa` still
applies. flake8 adds one to the column a plugin returns, so we return the 0-based column.
"""

from __future__ import annotations

from typing import Any, Iterator, List, Tuple

from nnlint import __version__
from nnlint.engine import lint_text
from nnlint.catalogue import UNPARSABLE, all_rules


class NnlintFlake8Plugin:
    name = "nnlint"
    version = __version__

    def __init__(self, tree: Any, filename: str, lines: List[str]) -> None:
        # `tree` is required for flake8 to run us once per file; we parse with LibCST instead
        self.filename = filename
        self.lines = lines

    def run(self) -> Iterator[Tuple[int, int, str, type]]:
        enabled = frozenset(code for code in all_rules() if code != UNPARSABLE.code)  # flake8 reports E999 itself
        result = lint_text(self.filename, "".join(self.lines), enabled, apply_noqa=False)
        for finding in result.findings:
            yield finding.line, finding.column - 1, f"{finding.code} {finding.message}", type(self)
