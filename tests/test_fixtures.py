"""Every fixture script or notebook produces exactly the findings its `# expect:` markers name (code
and line, and cell in a notebook); a fixture without markers produces none. A fix's expected output
(`*.fixed.py`, see tests/test_fixes.py) keeps its input's markers as comments and must be clean."""

from __future__ import annotations

import pytest

from nnlint.engine import lint_bytes
from nnlint.catalogue import all_rules
from tests.helpers import FIXTURES, expected_findings, fixture_files, is_fix_output, location


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_findings_are_exact(path):
    result = lint_bytes(str(path), path.read_bytes(), frozenset(all_rules()))
    assert not result.internal_errors
    found = {(location(f), f.code) for f in result.findings}
    assert found == (set() if is_fix_output(path) else expected_findings(path))
    # the concise form: `CODE [severity] message` in at most 140 characters, so that with its
    # path:line:col the line stays near 160
    for finding in result.findings:
        line = f"{finding.code} [{finding.severity.value}] {finding.short_message}"
        assert finding.short_message and len(line) <= 140 and "\n" not in line, line


def test_every_rule_has_buggy_and_clean_fixtures():
    marked = {code for path in fixture_files() if not is_fix_output(path) for _, code in expected_findings(path)}
    for code in all_rules():
        if code in ("NNL000", "NNL001"):  # about files that cannot be analysed, not about code
            continue
        assert code in marked, f"{code} has no fixture marked '# expect: {code}'"
    clean = [path for path in fixture_files() if not is_fix_output(path) and not expected_findings(path)]
    assert clean, "there must be near-miss fixtures that produce no finding"


def test_loss_family_has_enough_fixtures():
    loss = [p for p in fixture_files() if p.parent.name == "loss"]
    buggy = [p for p in loss if any(code == "NNL101" for _, code in expected_findings(p))]
    clean = [p for p in loss if not expected_findings(p)]
    assert len(buggy) >= 6 and len(clean) >= 4

