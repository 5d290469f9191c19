"""flake8 plugin: `flake8 --select NNL` reports what `nnlint` reports.

flake8 hands over the file's lines; nnlint parses them itself (LibCST, one parse). flake8 applies
its own select/ignore, per-file-ignores and `# noqa`; nnlint's file-level `# nnlint: noqa` still
applies. flake8 adds one to the column a plugin returns, so we return the 0-based column.

Rules that are off by default (severity info) run only when flake8's --select/--extend-select
names them or their family (NNL507, NNL5), as with `nnlint --select`.
"""

from __future__ import annotations

from typing import Any, FrozenSet, Iterable, Iterator, List, Tuple

from nnlint import __version__
from nnlint.catalogue import UNPARSABLE
from nnlint.config import RuleSelection, Settings
from nnlint.engine import lint_text


def _enabled(selected: Iterable[str]) -> FrozenSet[str]:
    # flake8's selection also names other plugins' codes; ours are NNL and its prefixes
    ours = [code.upper() for code in selected if code.upper().startswith("NNL")]
    settings = Settings(select=["NNL"], extend_select=ours)
    return frozenset(code for code in RuleSelection(settings).enabled_codes(None) if code != UNPARSABLE.code)


class NnlintFlake8Plugin:
    name = "nnlint"
    version = __version__
    enabled: FrozenSet[str] = _enabled([])  # flake8 reports syntax errors as E999 itself

    def __init__(self, tree: Any, filename: str, lines: List[str]) -> None:
        # `tree` is required for flake8 to run us once per file; we parse with LibCST instead
        self.filename = filename
        self.lines = lines

    @classmethod
    def parse_options(cls, options: Any) -> None:
        selected = list(getattr(options, "select", None) or []) + list(getattr(options, "extend_select", None) or [])
        cls.enabled = _enabled(selected)

    def run(self) -> Iterator[Tuple[int, int, str, type]]:
        result = lint_text(self.filename, "".join(self.lines), self.enabled, apply_noqa=False)
        for finding in result.findings:
            # the same text as nnlint's concise line: flake8 reads the code, the rest is the message
            yield finding.line, finding.column - 1, f"{finding.code} [{finding.severity.value}] {finding.concise}", type(self)
