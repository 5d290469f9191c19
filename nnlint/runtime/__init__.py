"""`--confirm`: runtime probes that show, with numbers, whether a finding bites.

This package is the only place that imports torch, lazily, in a worker subprocess. It never runs
the user's script: probes evaluate only fragments they can vouch for (see `vouch`).
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from typing import List, Sequence

from nnlint.contracts import ProbeInputError
from nnlint.finding import Confirmation, ConfirmationStatus, FileResult, Finding
from nnlint.runtime.probe import probes_by_code
from nnlint.runtime.runner import ProbeFailed, ProbeRunner
from nnlint.runtime.vouch import Refused


def runtime_available() -> bool:
    """Whether torch is installed for this interpreter (checked without importing it)."""
    return importlib.util.find_spec("torch") is not None


def _inconclusive(evidence: str) -> Confirmation:
    return Confirmation(ConfirmationStatus.INCONCLUSIVE, evidence)


def confirm_finding(finding: Finding, runner: ProbeRunner) -> Confirmation:
    probe = probes_by_code().get(finding.code)
    if probe is None or finding.probe_input is None:
        return _inconclusive(f"{finding.code} has no runtime probe")
    try:
        probe_input = probe.input_type.from_record(finding.probe_input)
    except ProbeInputError as error:
        return _inconclusive(f"internal error: the finding's probe input does not fit its probe ({error}); please report")
    try:
        request = probe.prepare(probe_input)
    except Refused as refusal:
        return _inconclusive(f"not evaluated: {refusal}")
    try:
        answer = runner.run(finding.code, request)
    except ProbeFailed as failure:
        return _inconclusive(f"probe {failure}")
    return Confirmation(ConfirmationStatus(answer["status"]), answer["evidence"])


def confirm_results(results: Sequence[FileResult], timeout: float) -> List[FileResult]:
    """The same results, each finding with its confirmation, in the same order."""
    confirmed: List[FileResult] = []
    with ProbeRunner(timeout) as runner:
        for result in results:
            findings = [finding.with_confirmation(confirm_finding(finding, runner)) for finding in result.findings]
            confirmed.append(replace(result, findings=findings))
    return confirmed
