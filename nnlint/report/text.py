"""The text forms, both in flake8's shape `path:line:col: CODE [severity] message` (1-based):

- concise (the default): one line per finding, the short message;
- full: the full message (what the code does, what it does to training, the fix), then the
  source line with the finding's span underlined, and a blank line.

flake8's parsers take everything after the code as the message, so the severity in brackets
keeps every flake8 integration working. In a notebook the location is `path:cell N:line:col:`
(ruff's form), line and column inside the cell.
"""

from __future__ import annotations

from collections import Counter
from typing import List, Sequence

from nnlint.catalogue import INTERNAL_ERROR, get_rule
from nnlint.finding import Applicability, FileResult, Finding


def confirmation_suffix(finding: Finding) -> str:
    if finding.confirmation is None:
        return ""
    return f" [{finding.confirmation.status.value}: {finding.confirmation.evidence}]"


def fix_mark(finding: Finding, unsafe_fixes: bool) -> str:
    """ruff's `[*]`: `--fix` (with `--unsafe-fixes` for an unsafe fix) would rewrite this away."""
    fix = finding.fix
    if fix is None or (fix.applicability is Applicability.UNSAFE and not unsafe_fixes):
        return ""
    return "[*] "


def headline(finding: Finding, message: str, unsafe_fixes: bool = False) -> str:
    cell = f"cell {finding.cell}:" if finding.cell is not None else ""  # ruff's notebook form
    return (
        f"{finding.path}:{cell}{finding.line}:{finding.column}: {finding.code} [{finding.severity.value}] "
        f"{fix_mark(finding, unsafe_fixes)}{message}{confirmation_suffix(finding)}"
    )


def source_excerpt(finding: Finding, result: FileResult) -> List[str]:
    """The finding's first line and a caret under its span on that line ('^' at least), then the
    related places; nothing for an internal error, which is about the file, not a line."""
    line = result.source_line(finding)
    if finding.code == INTERNAL_ERROR.code or line is None:
        return []
    start = finding.column - 1
    end = finding.end_column - 1 if finding.end_line == finding.line else len(line.rstrip())
    # tabs are kept so that the caret lines up in a terminal
    indent = "".join(c if c.isspace() else " " for c in line[:start])
    excerpt = [line, indent + "^" * max(1, end - start)]
    excerpt.extend(f"    {item.path}:{item.line}:{item.column}: {item.message}" for item in finding.related)
    return excerpt


def render_concise(results: Sequence[FileResult], options) -> str:
    out: List[str] = []
    for result in results:
        for finding in result.findings:
            out.append(headline(finding, finding.concise, options.unsafe_fixes))
            if options.show_source:
                out.extend(source_excerpt(finding, result))
    return _with_totals(out, results, options)


def render_full(results: Sequence[FileResult], options) -> str:
    out: List[str] = []
    for result in results:
        for finding in result.findings:
            out.append(headline(finding, finding.message, options.unsafe_fixes))
            out.extend(source_excerpt(finding, result))
            out.append("")
    return _with_totals(out, results, options)


def _with_totals(out: List[str], results: Sequence[FileResult], options) -> str:
    counts = Counter(finding.code for result in results for finding in result.findings)
    total = sum(counts.values())
    if options.statistics:
        for code in sorted(counts):
            rule = get_rule(code)
            out.append(f"{counts[code]:<5} {code} {rule.name if rule else ''}".rstrip())
        files = sum(1 for result in results if result.findings)
        out.append(f"{total:<5} total in {files} file{'' if files == 1 else 's'}")
    if options.count:
        out.append(str(total))
    return "\n".join(out) + ("\n" if out else "")
