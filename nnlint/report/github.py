"""GitHub Actions workflow commands: annotations on the pull request's diff."""

from __future__ import annotations

from typing import Sequence

from nnlint.finding import FileResult, Severity
from nnlint.report.text import confirmation_suffix

LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def render(results: Sequence[FileResult], options) -> str:
    lines = []
    for result in results:
        for f in result.findings:
            if f.cell is None:
                where = [f"line={f.line}", f"col={f.column}", f"endLine={f.end_line}", f"endColumn={f.end_column}"]
                message = f.message
            else:  # the line of the .ipynb file that holds the cell line; the cell named in the message
                where = [f"line={f.file_line or 1}"]
                message = f"{f.location}: {f.message}"
            properties = ",".join([f"file={_escape_property(f.path)}", *where, f"title={_escape_property(f'{f.code} {f.name}')}"])
            lines.append(f"::{LEVELS[f.severity]} {properties}::{_escape_data(message + confirmation_suffix(f))}")
    return "\n".join(lines) + ("\n" if lines else "")
