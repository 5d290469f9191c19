"""One JSON array of findings, nothing else on stdout."""

from __future__ import annotations

import json
from typing import Sequence

from nnlint.finding import FileResult


def render(results: Sequence[FileResult], options) -> str:
    records = [
        {
            "path": f.path,
            "cell": f.cell,
            "line": f.line,
            "column": f.column,
            "end_line": f.end_line,
            "end_column": f.end_column,
            "code": f.code,
            "name": f.name,
            "severity": f.severity.value,
            "message": f.message,
            "short_message": f.concise,
            "confirmation": f.confirmation.to_dict() if f.confirmation else None,
            "related": [item.to_dict() for item in f.related],
            "fix": f.fix.to_dict() if f.fix else None,
        }
        for result in results
        for f in result.findings
    ]
    return json.dumps(records, indent=2) + "\n"
