"""The gradient family has enough buggy and near-miss clean fixtures (exactness is checked for every
fixture by test_fixtures.py)."""

from __future__ import annotations

from tests.helpers import expected_findings, fixture_files


def test_gradient_family_has_enough_fixtures():
    family = [p for p in fixture_files() if p.parent.name == "gradients"]
    for code in ("NNL102", "NNL103", "NNL104"):
        buggy = [p for p in family if any(c == code for _, c in expected_findings(p))]
        assert len(buggy) >= 4, code
    clean = [p for p in family if not expected_findings(p)]
    assert len(clean) >= 9
