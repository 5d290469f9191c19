"""The typed contract between a check and its probe: every probe declares the ProbeInput its check
builds, every finding of the fixtures carries a record that rebuilds into that type (and back), and a
record with unknown or missing fields is refused with a clear message, not a KeyError later."""

from __future__ import annotations

from dataclasses import replace

import pytest

from nnlint.catalogue import all_rules
from nnlint.contracts import ProbeInput, ProbeInputError
from nnlint.engine import lint_bytes
from nnlint.families.loss.contracts import LossClippedInput
from nnlint.finding import ConfirmationStatus
from nnlint.runtime import confirm_finding
from nnlint.runtime.probe import probes_by_code
from tests.helpers import fixture_files, lint
from tests.test_cli import CAPPED


def test_every_probe_declares_its_own_input_type():
    for code, probe in probes_by_code().items():
        assert issubclass(probe.input_type, ProbeInput) and probe.input_type is not ProbeInput, code


def test_every_fixture_finding_rebuilds_its_probe_input():
    probes = probes_by_code()
    checked = 0
    for path in fixture_files():
        for finding in lint_bytes(str(path), path.read_bytes(), frozenset(all_rules())).findings:
            probe = probes.get(finding.code)
            if probe is None or finding.probe_input is None:
                continue
            rebuilt = probe.input_type.from_record(finding.probe_input)
            assert rebuilt.to_record() == finding.probe_input
            checked += 1
    assert checked >= 100


def test_a_record_with_unknown_or_missing_fields_is_refused():
    record = LossClippedInput("x.clamp(max=1)", "expression", "x", "1", None, {}).to_record()
    with pytest.raises(ProbeInputError, match=r"unknown fields \['cap'\], missing fields \[\]"):
        LossClippedInput.from_record({**record, "cap": "1"})
    del record["bound"]
    with pytest.raises(ProbeInputError, match=r"unknown fields \[\], missing fields \['bound'\]"):
        LossClippedInput.from_record(record)


class NeverRuns:
    def run(self, code, request):  # pragma: no cover - the input is refused before
        raise AssertionError("the probe ran")


def test_a_finding_whose_record_does_not_fit_is_inconclusive():
    (finding,) = lint(CAPPED)
    broken = replace(finding, probe_input={**finding.probe_input, "unexpected": 1})
    confirmation = confirm_finding(broken, NeverRuns())
    assert confirmation.status is ConfirmationStatus.INCONCLUSIVE
    assert confirmation.evidence.startswith("internal error: the finding's probe input does not fit its probe")
