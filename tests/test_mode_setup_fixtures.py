"""The model-mode and setup families have enough buggy and near-miss clean fixtures (exactness is
checked for every fixture by test_fixtures.py)."""

from __future__ import annotations

import pytest

from tests.helpers import expected_findings, fixture_files


@pytest.mark.parametrize(
    "family, codes, clean_minimum",
    [("mode", ("NNL501", "NNL502"), 8), ("setup", ("NNL601", "NNL602", "NNL603", "NNL604"), 9)],
)
def test_family_has_enough_fixtures(family, codes, clean_minimum):
    files = [p for p in fixture_files() if p.parent.name == family]
    for code in codes:
        buggy = [p for p in files if any(c == code for _, c in expected_findings(p))]
        assert len(buggy) >= 4, code
    clean = [p for p in files if not expected_findings(p)]
    assert len(clean) >= clean_minimum
