"""Reporters: they know only findings (and the rules, for SARIF's rule table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence

from nnlint.finding import FileResult

FORMATS = ("text", "json", "sarif", "github")


@dataclass(frozen=True)
class ReportOptions:
    show_source: bool = False
    statistics: bool = False


def render(format_name: str, results: Sequence[FileResult], options: ReportOptions) -> str:
    from nnlint.report import github, json_format, sarif, text

    renderers: Dict[str, Callable[[Sequence[FileResult], ReportOptions], str]] = {
        "text": text.render,
        "json": json_format.render,
        "sarif": sarif.render,
        "github": github.render,
    }
    return renderers[format_name](results, options)


def all_findings(results: Sequence[FileResult]) -> List:
    return [finding for result in results for finding in result.findings]
