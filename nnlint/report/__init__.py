"""Reporters: they know only findings (and the rules, for SARIF's rule table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Sequence

from nnlint.finding import FileResult
from nnlint.report import github, json_format, sarif, text

Renderer = Callable[[Sequence[FileResult], "ReportOptions"], str]
RENDERERS: Dict[str, Renderer] = {
    "text": text.render,
    "json": json_format.render,
    "sarif": sarif.render,
    "github": github.render,
}
FORMATS = tuple(RENDERERS)


@dataclass(frozen=True)
class ReportOptions:
    show_source: bool = False
    statistics: bool = False


def render(format_name: str, results: Sequence[FileResult], options: ReportOptions) -> str:
    return RENDERERS[format_name](results, options)
