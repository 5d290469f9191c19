"""--confirm with real torch for the sequence family: the probes replay the flagged windows on
arange sequences and confirm every buggy fixture; they refuse what they cannot vouch for."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from nnlint.families.sequence.contracts import SequenceWindowsInput  # noqa: E402
from nnlint.finding import ConfirmationStatus  # noqa: E402
from nnlint.runtime import confirm_finding  # noqa: E402
from nnlint.runtime.probe import probes_by_code  # noqa: E402
from nnlint.runtime.runner import ProbeRunner  # noqa: E402
from tests.helpers import FIXTURES, expected_findings, fixture_files, lint  # noqa: E402

SEQUENCE_CODES = ("NNL401", "NNL402", "NNL403", "NNL404")
BUGGY = [
    path for path in fixture_files()
    if path.parent == FIXTURES / "sequence" and any(code in SEQUENCE_CODES for _, code in expected_findings(path))
]
# windows built in ways the probe cannot replay
NOT_REPLAYED: set = set()

EVIDENCE = {
    "NNL401": "target[t] == input[t] at 100% of",
    "NNL402": "the effective target of position t is input token t+2 at 100% of",
    "NNL403": "",
    "NNL404": "the start of the sequence",
}


@pytest.fixture(scope="module")
def runner():
    with ProbeRunner(timeout=60) as probe_runner:
        yield probe_runner


@pytest.mark.parametrize("path", BUGGY, ids=lambda p: p.name)
def test_probe_confirms_every_buggy_fixture(runner, path):
    findings = [f for f in lint(path.read_text(), path=str(path)) if f.code in SEQUENCE_CODES]
    assert findings
    for finding in findings:
        confirmation = confirm_finding(finding, runner)
        if path.name in NOT_REPLAYED:
            assert confirmation.status is ConfirmationStatus.INCONCLUSIVE
            assert "cannot replay" in confirmation.evidence
            continue
        assert confirmation.status is ConfirmationStatus.CONFIRMED, confirmation.evidence
        assert EVIDENCE[finding.code] in confirmation.evidence


def test_misaligned_evidence_gives_the_lengths_or_the_offset(runner):
    shorter = FIXTURES / "sequence" / "word_lm_bptt_target_short.py"
    confirmation = confirm_finding(lint(shorter.read_text())[0], runner)
    # --bptt defaults to 35 in the script's argparse
    assert confirmation.evidence.endswith("the input window has 35 positions and the target window 34")
    two = FIXTURES / "sequence" / "nanogpt_offset_two.py"
    confirmation = confirm_finding(lint(two.read_text())[0], runner)
    assert "target[t] == input token t+2 at 100% of 1024 positions" in confirmation.evidence
    assert confirmation.evidence.startswith("with i = 3 (only known when the script runs)")


def test_roll_evidence_names_the_wrapped_target(runner):
    path = FIXTURES / "sequence" / "roll_targets_plain_loop.py"
    confirmation = confirm_finding(lint(path.read_text())[0], runner)
    assert "the target of the last position (input token 258) is token 3" in confirmation.evidence


USER_BOUND = """\
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def context_length():
    return int(open("ctx.txt").read())


T = context_length()


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mask", torch.tril(torch.ones(8, 8)))
        self.head = nn.Embedding(100, 100)

    def forward(self, idx, targets):
        logits = self.head(idx)
        return F.cross_entropy(logits.view(-1, 100), targets.view(-1))


data = np.memmap("train.bin", dtype=np.uint16, mode="r")
model = GPT()
for i in range(100):
    x = torch.from_numpy(data[i : i + T].astype(np.int64))
    y = torch.from_numpy(data[i : i + T].astype(np.int64))
    loss = model(x, y)
    loss.backward()
"""


def test_a_bound_from_user_code_is_never_run(runner):
    findings = lint(USER_BOUND)
    assert [f.code for f in findings] == ["NNL401"]
    confirmation = confirm_finding(findings[0], runner)
    assert confirmation.status is ConfirmationStatus.INCONCLUSIVE
    assert "context_length" in confirmation.evidence


def test_a_correct_pair_is_not_confirmed(runner):
    probe = probes_by_code()["NNL401"]
    names = {"i": {"kind": "runtime", "reason": "an index"}, "T": {"kind": "value", "source": "8"}}
    step = {"kind": "slice", "base": "data", "names": names, "batch_axes": 0}
    request = probe.prepare(SequenceWindowsInput(
        rule="NNL401", axis=0, batch_axes=0, model_shift=0, model="GPT",
        input=[dict(step, source="data[i:i + T]")],
        target=[dict(step, source="data[i + 1:i + 1 + T]")],
    ))
    status, evidence = probe.evaluate(request)
    assert status == "not-confirmed"
    assert "t+1 at 8 of 8" in evidence
