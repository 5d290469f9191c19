"""The setup family's contracts: the rules its checks (``rules.py``) report."""

from dataclasses import dataclass

from nnlint.contracts import ProbeInput, Rule
from nnlint.finding import Severity

TRAIN_LOADER_UNSHUFFLED = Rule(
    code="NNL601",
    name="train-loader-unshuffled",
    severity=Severity.WARNING,
    summary="The DataLoader that feeds backward() never shuffles (no shuffle=True, no sampler).",
)
OPTIMIZER_MISSES_NEW_LAYERS = Rule(
    code="NNL602",
    name="optimizer-misses-new-layers",
    severity=Severity.ERROR,
    summary="A layer is assigned on the model after the optimizer was built from its parameters, so it never trains.",
)
SCHEDULER_BEFORE_OPTIMIZER = Rule(
    code="NNL603",
    name="scheduler-before-optimizer",
    severity=Severity.WARNING,
    summary="scheduler.step() runs before optimizer.step(), or an epoch-based scheduler is stepped every batch.",
)
LOSS_ACCUMULATED_WITH_GRAPH = Rule(
    code="NNL604",
    name="loss-accumulated-with-graph",
    severity=Severity.WARNING,
    summary="A running total of the loss tensor (no .item()/.detach()) keeps every iteration's autograd graph alive.",
)


@dataclass(frozen=True)
class LossAccumulatedInput(ProbeInput):
    """NNL604: how the loss is accumulated (`form`), into what, and the value added."""

    form: str
    accumulator: str
    value: str
