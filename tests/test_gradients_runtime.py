"""--confirm with real torch for the gradient family: the probes confirm the buggy fixtures and
are inconclusive, with the reason, where they must refuse."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from nnlint.finding import ConfirmationStatus  # noqa: E402
from nnlint.runtime import confirm_finding  # noqa: E402
from nnlint.runtime.runner import ProbeRunner  # noqa: E402
from tests.helpers import FIXTURES, expected_findings, lint  # noqa: E402

GRADIENTS = FIXTURES / "gradients"
# threshold only known at run time (self.config.grad_clip): NNL103 needs the real value
REFUSED = {"scaled_clip_trainer_helpers.py"}
BUGGY = sorted(p.name for p in GRADIENTS.glob("*.py") if expected_findings(p) and p.name not in REFUSED)


@pytest.fixture(scope="module")
def runner():
    with ProbeRunner(timeout=120) as probe_runner:
        yield probe_runner


@pytest.mark.parametrize("name", BUGGY)
def test_probe_confirms_every_buggy_fixture(runner, name):
    path = GRADIENTS / name
    findings = [f for f in lint(path.read_text(), path=str(path)) if f.code in ("NNL102", "NNL103", "NNL104")]
    assert findings
    for finding in findings:
        confirmation = confirm_finding(finding, runner)
        assert confirmation.status is ConfirmationStatus.CONFIRMED, (finding.code, confirmation.evidence)


def test_nnl102_evidence_compares_with_unclipped_and_correct_training(runner):
    path = GRADIENTS / "clip_before_backward_plain_loop.py"
    (finding,) = lint(path.read_text())
    evidence = confirm_finding(finding, runner).evidence
    # the argparse default of --max-grad-norm is used
    assert "(before backward) the 3 updates equal unclipped training (max difference 0)" in evidence
    assert "at max_norm=2 changes them by" in evidence


def test_nnl102_runtime_threshold_uses_a_representative_value_and_says_so(runner):
    path = GRADIENTS / "clip_before_backward_accelerate.py"
    (finding,) = lint(path.read_text())
    confirmation = confirm_finding(finding, runner)
    assert confirmation.status is ConfirmationStatus.CONFIRMED
    assert confirmation.evidence.startswith('config is only known when the script runs; shown with config["max_grad_norm"] = 1')


def test_nnl103_shows_the_scaled_norm_and_the_shrunken_update(runner):
    path = GRADIENTS / "scaled_clip_accumulation.py"
    (finding,) = lint(path.read_text())
    evidence = confirm_finding(finding, runner).evidence
    assert "the clip measured a gradient norm of 262144 (true 4 x scale 65536)" in evidence
    ratio = float(evidence.split("(")[-1].split("x smaller")[0])
    assert ratio > 1000


def test_nnl103_needs_the_threshold(runner):
    path = GRADIENTS / "scaled_clip_trainer_helpers.py"
    (finding,) = lint(path.read_text())
    confirmation = confirm_finding(finding, runner)
    assert confirmation.status is ConfirmationStatus.INCONCLUSIVE
    assert "self.config.grad_clip" in confirmation.evidence and "only known when the script runs" in confirmation.evidence


def test_nnl103_uses_a_literal_init_scale(runner):
    source = (GRADIENTS / "scaled_clip_accumulation.py").read_text().replace('GradScaler("cuda")', 'GradScaler("cuda", init_scale=1024.0)')
    (finding,) = lint(source)
    assert "init_scale=1024.0" in finding.message
    evidence = confirm_finding(finding, runner).evidence
    assert "x scale 1024)" in evidence


def test_threshold_from_user_code_is_never_run(runner, tmp_path):
    marker = tmp_path / "ran.txt"
    source = f'''
import pathlib
import torch


def pick_threshold():
    pathlib.Path({str(marker)!r}).write_text("ran")
    return 1.0


MAX_NORM = pick_threshold()


def train(model, loader, optimizer):
    for x, y in loader:
        optimizer.zero_grad()
        torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)
        model(x).sum().backward()
        optimizer.step()
'''
    (finding,) = lint(source)
    assert finding.code == "NNL102"
    confirmation = confirm_finding(finding, runner)
    assert confirmation.status is ConfirmationStatus.INCONCLUSIVE
    assert "pick_threshold" in confirmation.evidence
    assert not marker.exists()


def test_nnl104_forms(runner):
    cleared = lint((GRADIENTS / "zero_grad_after_backward_plain.py").read_text())[0]
    never = lint((GRADIENTS / "never_cleared_plain_loop.py").read_text())[0]
    assert confirm_finding(cleared, runner).evidence.startswith("after 5 steps the parameters changed by 0 ")
    assert "applied gradient norm is 10.0x the per-step gradient norm" in confirm_finding(never, runner).evidence
