"""--confirm with real torch for the model-mode and setup families: the probes confirm the buggy
fixtures (NNL501, NNL502, NNL604); the static-only rules (NNL601-NNL603) are inconclusive, saying so."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from nnlint.finding import ConfirmationStatus  # noqa: E402
from nnlint.runtime import confirm_finding  # noqa: E402
from nnlint.runtime.runner import ProbeRunner  # noqa: E402
from tests.helpers import FIXTURES, expected_findings, lint  # noqa: E402

PROBED = ("NNL501", "NNL502", "NNL604")
BUGGY = sorted(
    f"{p.parent.name}/{p.name}"
    for family in ("mode", "setup")
    for p in (FIXTURES / family).glob("*.py")
    if any(code in PROBED for _, code in expected_findings(p))
)


@pytest.fixture(scope="module")
def runner():
    with ProbeRunner(timeout=120) as probe_runner:
        yield probe_runner


@pytest.mark.parametrize("name", BUGGY)
def test_probe_confirms_every_buggy_fixture(runner, name):
    path = FIXTURES / name
    findings = [f for f in lint(path.read_text(), path=str(path)) if f.code in PROBED]
    assert findings
    for finding in findings:
        confirmation = confirm_finding(finding, runner)
        assert confirmation.status is ConfirmationStatus.CONFIRMED, (finding.code, confirmation.evidence)


def test_nnl501_evidence_uses_the_models_layers(runner):
    path = FIXTURES / "mode" / "eval_missing_helper_functions.py"
    (finding,) = lint(path.read_text(), path=str(path))
    evidence = confirm_finding(finding, runner).evidence
    assert evidence.startswith("with Dropout and BatchNorm2d layers like model's, in training mode two no_grad calls")
    assert "BatchNorm's running mean moved by" in evidence and evidence.endswith("in evaluation mode two calls differ by 0")


def test_nnl501_unknown_layers_are_shown_with_both_kinds(runner):
    source = '''
import torch
from models import Net


def train(model, loader, optimizer):
    model.train()
    for x, y in loader:
        optimizer.zero_grad()
        model(x).sum().backward()
        optimizer.step()


def validate(model, loader):
    with torch.no_grad():
        return [model(x).argmax(1) for x, _ in loader]


def main(loader):
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(3):
        train(model, loader, optimizer)
        validate(model, loader)
'''
    (finding,) = lint(source)
    confirmation = confirm_finding(finding, runner)
    assert confirmation.status is ConfirmationStatus.CONFIRMED
    assert confirmation.evidence.startswith(
        "model's layers are not visible here; with Dropout and BatchNorm layers (whichever it has), in training mode"
    )


def test_nnl501_a_library_model_is_not_said_to_have_dropout(runner):
    # a torchvision ResNet has BatchNorm and no Dropout: neither the message nor the evidence may
    # say it has both
    path = FIXTURES / "mode" / "eval_missing_inline_epoch_loop.py"
    (finding,) = [f for f in lint(path.read_text(), path=str(path)) if f.code == "NNL501"]
    assert "Dropout" not in finding.message
    assert "its dropout and normalization layers, whichever it has, behave as in training" in finding.message
    evidence = confirm_finding(finding, runner).evidence
    assert "layers like" not in evidence
    assert "layers are not visible here; with Dropout and BatchNorm layers (whichever it has)" in evidence


def test_nnl502_evidence_compares_with_train_restored(runner):
    path = FIXTURES / "mode" / "train_mode_not_restored_trainer_class.py"
    (finding,) = lint(path.read_text(), path=str(path))
    evidence = confirm_finding(finding, runner).evidence
    assert "after eval() and no train(), two training forwards on the same input differ by 0 (dropout off)" in evidence
    assert "BatchNorm's running mean moved by 0 over 3 steps; with train() restored" in evidence


def test_nnl604_counts_the_graphs_kept_alive(runner):
    path = FIXTURES / "setup" / "loss_total_keeps_graph_plain.py"
    (finding,) = lint(path.read_text(), path=str(path))
    evidence = confirm_finding(finding, runner).evidence
    assert evidence.startswith("after 10 training steps epoch_loss keeps")
    assert evidence.endswith("accumulating loss.item() keeps 0")


@pytest.mark.parametrize(
    "name, code",
    [
        ("setup/unshuffled_sorted_tabular.py", "NNL601"),
        ("setup/new_head_after_optimizer_finetune.py", "NNL602"),
        ("setup/scheduler_top_of_epoch_loop.py", "NNL603"),
    ],
)
def test_static_rules_are_inconclusive(runner, name, code):
    path = FIXTURES / name
    (finding,) = [f for f in lint(path.read_text(), path=str(path)) if f.code == code]
    confirmation = confirm_finding(finding, runner)
    assert confirmation.status is ConfirmationStatus.INCONCLUSIVE
    assert confirmation.evidence == f"{code} has no runtime probe"


def test_nnl604_probe_refuses_an_unknown_form():
    from nnlint.families.setup.contracts import LossAccumulatedInput
    from nnlint.runtime.probe import probes_by_code
    from nnlint.runtime.vouch import Refused

    with pytest.raises(Refused):
        probes_by_code()["NNL604"].prepare(LossAccumulatedInput(form="os.system", accumulator="total", value="loss"))
