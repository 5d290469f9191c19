"""Reporters: they know only findings (and the rules, for SARIF's rule table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Sequence

from nnlint.finding import FileResult
from nnlint.report import github, json_format, sarif, text

OUTPUT_FORMATS = ("concise", "full", "json", "sarif", "github")
TEXT_FORMATS = ("concise", "full")  # the forms --show-source, --statistics and --count apply to
DEFAULT_FORMAT = "concise"
RENDERERS: Dict[str, Callable[[Sequence[FileResult], "ReportOptions"], str]] = {
    "concise": text.render_concise,
    "full": text.render_full,
    "json": json_format.render,
    "sarif": sarif.render,
    "github": github.render,
}


@dataclass(frozen=True)
class ReportOptions:
    show_source: bool = False
    statistics: bool = False
    count: bool = False
    unsafe_fixes: bool = False  # an unsafe fix counts as available (the `[*]` mark)


def render(format_name: str, results: Sequence[FileResult], options: ReportOptions) -> str:
    return RENDERERS[format_name](results, options)
