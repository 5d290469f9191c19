"""--confirm with real torch for the model-layers family: every finding of the buggy fixtures is
confirmed with numbers; probes refuse (inconclusive, with the reason) what they cannot show."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from nnlint.finding import ConfirmationStatus  # noqa: E402
from nnlint.runtime import confirm_finding  # noqa: E402
from nnlint.runtime.runner import ProbeRunner  # noqa: E402
from tests.helpers import FIXTURES, expected_findings, lint  # noqa: E402

LAYER_CODES = ("NNL503", "NNL504", "NNL505", "NNL506", "NNL507")
BUGGY = sorted(
    path.name
    for path in (FIXTURES / "layers").glob("*.py")
    if any(code in LAYER_CODES for _, code in expected_findings(path))
)


@pytest.fixture(scope="module")
def runner():
    with ProbeRunner(timeout=60) as probe_runner:
        yield probe_runner


def findings_of(source: str, code: str):
    return [f for f in lint(source, codes=[code]) if f.code == code]


@pytest.mark.parametrize("name", BUGGY)
def test_probe_confirms_every_finding_of_the_buggy_fixtures(runner, name):
    path = FIXTURES / "layers" / name
    findings = [f for f in lint(path.read_text(), path=str(path)) if f.code in LAYER_CODES]
    assert findings
    for finding in findings:
        confirmation = confirm_finding(finding, runner)
        assert confirmation.status is ConfirmationStatus.CONFIRMED, (finding.code, finding.line, confirmation.evidence)


def test_dropout_evidence_uses_the_resolved_probability(runner):
    source = (FIXTURES / "layers" / "dropout_mlp_plain_loop.py").read_text()
    confirmation = confirm_finding(findings_of(source, "NNL503")[0], runner)
    # p = self.dropout = the constructor default 0.3: about 30% zeroed, the rest scaled by 1/0.7
    assert "scaled by 1.43" in confirmation.evidence
    zeroed = int(confirmation.evidence.split("after model.eval(), two calls on the same input: ")[1].split("%")[0])
    assert 25 <= zeroed <= 35


def test_alpha_dropout_never_runs(runner):
    source = (FIXTURES / "layers" / "dropout_selu_alpha.py").read_text()
    confirmation = confirm_finding(findings_of(source, "NNL503")[0], runner)
    assert confirmation.status is ConfirmationStatus.CONFIRMED
    assert "returned its input unchanged" in confirmation.evidence


def test_unregistered_parameters_are_counted(runner):
    source = (FIXTURES / "layers" / "unregistered_mlp_list_comprehension.py").read_text()
    confirmation = confirm_finding(findings_of(source, "NNL504")[0], runner)
    # nn.Linear(width, width) with width = 128 (the __init__ default), depth = 6 layers
    assert "holds 0 of the 99,072 parameters of the 6 modules in self.hidden" in confirmation.evidence


def test_unregistered_user_class_uses_a_stand_in(runner):
    source = (FIXTURES / "layers" / "unregistered_stages_append.py").read_text()
    confirmation = confirm_finding(findings_of(source, "NNL504")[0], runner)
    assert confirmation.status is ConfirmationStatus.CONFIRMED
    assert "standing in" in confirmation.evidence and "BasicBlock" in confirmation.evidence


def test_softmax_into_cross_entropy_numbers(runner):
    source = (FIXTURES / "layers" / "softmax_forward_mnist.py").read_text()
    confirmation = confirm_finding(findings_of(source, "NNL505")[0], runner)
    floor = float(confirmation.evidence.split("leaves the loss at ")[1].split(" ")[0])
    assert abs(floor - 1.46) < 0.02  # log(1 + 9 / e) for 10 classes
    ratio = float(confirmation.evidence.split("logits is ")[1].split("x")[0])
    assert ratio < 0.5


def test_view_probe_counts_moved_values(runner):
    source = (FIXTURES / "layers" / "view_channels_last_preprocess.py").read_text()
    confirmation = confirm_finding(findings_of(source, "NNL506")[0], runner)
    assert "on a (2, 5, 3, 4) arange tensor" in confirmation.evidence
    assert "116 of 120 values" in confirmation.evidence and "permute(0, 2, 3, 1)" in confirmation.evidence


VIEW_UNKNOWN_RANK = """\
def flip(x):
    *_, h, w = x.shape
    return x.reshape(-1, w, h)
"""


def test_view_probe_refuses_when_the_rank_is_unknown(runner):
    findings = findings_of(VIEW_UNKNOWN_RANK, "NNL506")
    assert len(findings) == 1
    confirmation = confirm_finding(findings[0], runner)
    assert confirmation.status is ConfirmationStatus.INCONCLUSIVE
    assert "how many dimensions" in confirmation.evidence


def test_bias_gradient_is_zero_after_batchnorm(runner):
    source = (FIXTURES / "layers" / "bias_resnet_block_forward.py").read_text()
    confirmation = confirm_finding(findings_of(source, "NNL507")[0], runner)
    assert confirmation.status is ConfirmationStatus.CONFIRMED
    assert "planes = 8" in confirmation.evidence  # runtime sizes are shown with a representative value


BIAS_FROM_USER_CODE = """\
import torch.nn as nn
from .config import width

def block():
    return nn.Sequential(nn.Conv2d(3, compute(width), 3), nn.BatchNorm2d(compute(width)))
"""


def test_bias_probe_falls_back_to_a_stand_in_for_user_code(runner):
    findings = findings_of(BIAS_FROM_USER_CODE, "NNL507")
    assert len(findings) == 1
    confirmation = confirm_finding(findings[0], runner)
    assert confirmation.status is ConfirmationStatus.CONFIRMED
    assert "shown with torch.nn.Conv2d(8, 8, 3)" in confirmation.evidence
