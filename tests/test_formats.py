"""SARIF against the official SARIF 2.1.0 schema, and the GitHub annotation escaping."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from nnlint.finding import Confirmation, ConfirmationStatus, FileResult, Finding, Severity
from nnlint.report import ReportOptions, render
from tests.helpers import FIXTURES, run_cli

SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))


def sample_result(message="loss is capped: 50% of samples, fix it", confirmation=None) -> FileResult:
    finding = Finding(
        path="src/train, v2.py", line=3, column=5, end_line=4, end_column=9, code="NNL101", name="loss-clipped",
        severity=Severity.ERROR, message=message, confirmation=confirmation,
    )
    return FileResult("src/train, v2.py", [finding])


def test_sarif_validates_against_the_schema():
    result = run_cli(["--format", "sarif", str(FIXTURES / "loss")])
    document = json.loads(result.stdout)
    jsonschema.validate(document, SCHEMA)
    run = document["runs"][0]
    assert document["version"] == "2.1.0"
    assert run["tool"]["driver"]["name"] == "nnlint"
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    assert rules["NNL101"]["helpUri"].endswith("/rules/NNL101.md")
    assert "## Why it is a silent bug" in rules["NNL101"]["help"]["markdown"]
    assert rules["NNL101"]["defaultConfiguration"]["level"] == "error"
    results = run["results"]
    assert results and all(r["level"] == "error" for r in results)
    region = results[0]["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] >= 1 and region["startColumn"] >= 1
    assert all(run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"] for r in results)


def test_sarif_with_confirmation_and_absolute_path_validates():
    confirmation = Confirmation(ConfirmationStatus.CONFIRMED, "12 of 64 got zero gradient")
    result = sample_result(confirmation=confirmation)
    result.findings[0] = Finding(**{**result.findings[0].__dict__, "path": "/abs/train.py"})
    document = json.loads(render("sarif", [result], ReportOptions()))
    jsonschema.validate(document, SCHEMA)
    location = document["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location["uri"] == "file:///abs/train.py"
    assert document["runs"][0]["results"][0]["properties"]["confirmation"]["status"] == "confirmed"


def test_github_escapes_properties_and_data():
    text = render("github", [sample_result(message="100% sure\nsecond line")], ReportOptions())
    assert text == (
        "::error file=src/train%2C v2.py,line=3,col=5,endLine=4,endColumn=9,title=NNL101 loss-clipped::"
        "100%25 sure%0Asecond line\n"
    )


@pytest.mark.parametrize("severity, level", [(Severity.WARNING, "warning"), (Severity.INFO, "notice")])
def test_github_levels(severity, level):
    result = sample_result()
    result.findings[0] = Finding(**{**result.findings[0].__dict__, "severity": severity})
    assert render("github", [result], ReportOptions()).startswith(f"::{level} ")


def test_text_format_appends_confirmation():
    confirmation = Confirmation(ConfirmationStatus.INCONCLUSIVE, "not evaluated: x")
    text = render("concise", [sample_result(message="m", confirmation=confirmation)], ReportOptions())
    assert text == "src/train, v2.py:3:5: NNL101 [error] m [inconclusive: not evaluated: x]\n"
