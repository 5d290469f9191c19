"""Reporters: they know only findings (and the rules, for SARIF's rule table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence

from nnlint.engine import FileResult

OUTPUT_FORMATS = ("concise", "full", "json", "sarif", "github")
TEXT_FORMATS = ("concise", "full")  # the forms --show-source, --statistics and --count apply to
DEFAULT_FORMAT = "concise"


@dataclass(frozen=True)
class ReportOptions:
    show_source: bool = False
    statistics: bool = False
    count: bool = False
    unsafe_fixes: bool = False  # an unsafe fix counts as available (the `[*]` mark)


def render(format_name: str, results: Sequence[FileResult], options: ReportOptions) -> str:
    from nnlint.report import github, json_format, sarif, text

    renderers: Dict[str, Callable[[Sequence[FileResult], ReportOptions], str]] = {
        "concise": text.render_concise,
        "full": text.render_full,
        "json": json_format.render,
        "sarif": sarif.render,
        "github": github.render,
    }
    return renderers[format_name](results, options)


def all_findings(results: Sequence[FileResult]) -> List:
    return [finding for result in results for finding in result.findings]
