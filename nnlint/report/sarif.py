"""SARIF 2.1.0, as GitHub code scanning accepts it."""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Dict, List, Sequence

from nnlint import __version__
from nnlint.catalogue import all_rules, rule_doc
from nnlint.finding import FileResult, Finding, Fix, Severity

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
INFORMATION_URI = "https://github.com/nnlint/nnlint"


def _uri(path: str) -> str:
    """Relative paths stay relative (GitHub resolves them against the repository root)."""
    pure = PurePath(path)
    return pure.as_uri() if pure.is_absolute() else pure.as_posix()


def _region(f: Finding) -> Dict:
    """A script's finding spans its lines and columns. A notebook's points at the line of the
    .ipynb file that stores its cell line (columns inside a JSON string would mislead); the cell,
    line and column are in the message and the properties."""
    if f.cell is not None:
        return {"startLine": f.file_line or 1}
    return {"startLine": f.line, "startColumn": f.column, "endLine": f.end_line, "endColumn": max(f.end_column, 1)}


def _rule_descriptor(code: str) -> Dict:
    rule = all_rules()[code]
    doc = rule_doc(code) or rule.summary
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.summary},
        "help": {"text": doc, "markdown": doc},
        "helpUri": rule.help_uri,
        "defaultConfiguration": {"level": LEVELS[rule.severity], "enabled": rule.on_by_default},
        "properties": {"tags": ["pytorch", "training", "correctness"]},
    }


def _fix(fix: Fix) -> Dict:
    """A fix as SARIF writes one: replacements per file (an insertion deletes an empty region)."""
    changes: Dict[str, List[Dict]] = {}
    for edit in fix.edits:
        changes.setdefault(edit.path, []).append({
            "deletedRegion": {
                "startLine": edit.line, "startColumn": edit.column,
                "endLine": edit.end_line, "endColumn": edit.end_column,
            },
            "insertedContent": {"text": edit.content},
        })
    return {
        "description": {"text": f"{fix.message} ({fix.applicability.value} fix)"},
        "artifactChanges": [
            {"artifactLocation": {"uri": _uri(path)}, "replacements": replacements}
            for path, replacements in changes.items()
        ],
    }


def render(results: Sequence[FileResult], options) -> str:
    codes = list(all_rules())
    index = {code: i for i, code in enumerate(codes)}
    sarif_results: List[Dict] = []
    for result in results:
        for f in result.findings:
            entry: Dict = {
                "ruleId": f.code,
                "ruleIndex": index[f.code],
                "level": LEVELS[f.severity],
                "message": {"text": f"{f.location}: {f.message}" if f.cell is not None else f.message},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(f.path)}, "region": _region(f)}}],
            }
            if f.related:
                entry["relatedLocations"] = [
                    {
                        "id": number,
                        "physicalLocation": {
                            "artifactLocation": {"uri": _uri(item.path)},
                            "region": {"startLine": item.line, "startColumn": item.column},
                        },
                        "message": {"text": item.message},
                    }
                    for number, item in enumerate(f.related)
                ]
            if f.cell is not None:
                entry["properties"] = {"cell": f.cell, "cellLine": f.line, "cellColumn": f.column}
            if f.confirmation is not None:
                entry.setdefault("properties", {})["confirmation"] = f.confirmation.to_dict()
            if f.fix is not None:
                entry["fixes"] = [_fix(f.fix)]
            sarif_results.append(entry)
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "nnlint",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [_rule_descriptor(code) for code in codes],
                    }
                },
                "results": sarif_results,
            }
        ],
    }
    return json.dumps(document, indent=2) + "\n"
