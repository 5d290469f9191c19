"""A check that raises is a finding (NNL001 at 1:1) in every output format; the file's other
findings remain; the exit code is 2, --exit-zero or not; the traceback only with --verbose."""

from __future__ import annotations

import json

import jsonschema
import pytest

from nnlint.registry import check_classes
from tests.helpers import run_cli
from tests.test_cli import CAPPED, write
from tests.test_formats import SCHEMA

CRASH_LINE = "train.py:1:1: NNL001 [error] internal error: check NNL104 crashed (AttributeError: forced); please report"
CAPPED_LINE = "train.py:8:16: NNL101 [error] "


@pytest.fixture
def crashing_zero_grad_check(monkeypatch, tmp_path):
    """The check of NNL104 raises on every file (CAPPED triggers it: it calls backward())."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "train.py", CAPPED)
    (check,) = [c for c in check_classes() if [r.code for r in c.rules] == ["NNL104"]]

    def finish(self):
        raise AttributeError("forced")

    monkeypatch.setattr(check, "finish", finish)


def test_concise_text(crashing_zero_grad_check):
    result = run_cli(["--no-cache", "train.py"])
    lines = result.stdout.splitlines()
    assert lines[0] == CRASH_LINE
    assert lines[1].startswith(CAPPED_LINE) and len(lines) == 2
    assert result.exit_code == 2
    assert result.stderr == "nnlint: 1 internal error (reported as NNL001); --verbose prints the tracebacks; please report\n"


def test_exit_zero_does_not_hide_an_internal_error(crashing_zero_grad_check):
    assert run_cli(["--no-cache", "--exit-zero", "train.py"]).exit_code == 2


def test_verbose_prints_the_traceback(crashing_zero_grad_check):
    result = run_cli(["--no-cache", "--verbose", "train.py"])
    assert "Traceback (most recent call last):" in result.stderr
    assert "AttributeError: forced" in result.stderr
    assert "train.py: check ZeroGradMisplacedCheck (NNL104) raised:" in result.stderr


def test_json(crashing_zero_grad_check):
    result = run_cli(["--no-cache", "--output-format", "json", "train.py"])
    records = json.loads(result.stdout)
    assert [(r["code"], r["line"], r["column"]) for r in records] == [("NNL001", 1, 1), ("NNL101", 8, 16)]
    assert records[0]["name"] == "internal-error" and records[0]["severity"] == "error"
    assert "AttributeError: forced" in records[0]["message"] and "please report" in records[0]["message"]
    assert result.exit_code == 2


def test_sarif(crashing_zero_grad_check):
    result = run_cli(["--no-cache", "--output-format", "sarif", "train.py"])
    document = json.loads(result.stdout)
    jsonschema.validate(document, SCHEMA)
    results = document["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["NNL001", "NNL101"]
    region = results[0]["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (1, 1)
    assert "AttributeError: forced" in results[0]["message"]["text"]
    assert result.exit_code == 2


def test_github(crashing_zero_grad_check):
    result = run_cli(["--no-cache", "--output-format", "github", "train.py"])
    lines = result.stdout.splitlines()
    assert lines[0].startswith("::error file=train.py,line=1,col=1,endLine=1,endColumn=1,title=NNL001 internal-error::")
    assert "AttributeError: forced" in lines[0]
    assert lines[1].startswith("::error file=train.py,line=8,col=16,") and len(lines) == 2
    assert result.exit_code == 2


def test_ignoring_nnl001_hides_the_finding_not_the_exit_code(crashing_zero_grad_check):
    result = run_cli(["--no-cache", "--ignore", "NNL001", "train.py"])
    assert result.stdout.startswith(CAPPED_LINE) and "NNL001" not in result.stdout
    assert result.exit_code == 2 and "internal error" in result.stderr


def test_a_crash_in_a_visitor_is_reported_too(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "train.py", CAPPED)
    (check,) = [c for c in check_classes() if [r.code for r in c.rules] == ["NNL104"]]

    def visit_Call(self, node):
        raise KeyError("forced")

    monkeypatch.setattr(check, "visit_Call", visit_Call, raising=False)
    monkeypatch.delattr(check, "_visitor_names_cache", raising=False)
    result = run_cli(["--no-cache", "train.py"])
    assert result.stdout.splitlines()[0] == (
        "train.py:1:1: NNL001 [error] internal error: check NNL104 crashed (KeyError: 'forced'); please report"
    )
    assert result.exit_code == 2
