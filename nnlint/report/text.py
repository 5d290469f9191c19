"""flake8's format: `path:line:col: CODE message`, line and column 1-based."""

from __future__ import annotations

from collections import Counter
from typing import List, Sequence

from nnlint.finding import FileResult, Finding
from nnlint.catalogue import get_rule


def confirmation_suffix(finding: Finding) -> str:
    if finding.confirmation is None:
        return ""
    return f" [{finding.confirmation.status.value}: {finding.confirmation.evidence}]"


def render(results: Sequence[FileResult], options) -> str:
    out: List[str] = []
    counts: Counter = Counter()
    for result in results:
        for finding in result.findings:
            counts[finding.code] += 1
            out.append(
                f"{finding.path}:{finding.line}:{finding.column}: {finding.code} {finding.message}"
                f"{confirmation_suffix(finding)}"
            )
            if options.show_source and 1 <= finding.line <= len(result.lines):
                line = result.lines[finding.line - 1]
                # the caret sits under the column; tabs are kept so it lines up in a terminal
                indent = "".join(c if c.isspace() else " " for c in line[: finding.column - 1])
                out.append(line)
                out.append(f"{indent}^")
            if options.show_source:
                for item in finding.related:
                    out.append(f"    {item.path}:{item.line}:{item.column}: {item.message}")
    if options.statistics:
        for code in sorted(counts):
            rule = get_rule(code)
            out.append(f"{counts[code]:<5} {code} {rule.name if rule else ''}".rstrip())
    return "\n".join(out) + ("\n" if out else "")
