"""The mode family's contracts: the rules its checks (``rules.py``) report."""

from dataclasses import dataclass
from typing import List, Optional

from nnlint.contracts import ProbeInput, Rule
from nnlint.finding import Severity

EVAL_MODE_MISSING = Rule(
    code="NNL501",
    name="eval-mode-missing",
    severity=Severity.ERROR,
    summary="Evaluation code runs a model that is still in training mode (no model.eval() on that path).",
)
TRAIN_MODE_NOT_RESTORED = Rule(
    code="NNL502",
    name="train-mode-not-restored",
    severity=Severity.ERROR,
    summary="model.eval() inside the training loop and no model.train() before the next training step.",
)


@dataclass(frozen=True)
class ModelModeInput(ProbeInput):
    """NNL501 and NNL502: the model and its mode-dependent layers (Dropout, BatchNorm, ...)."""

    rule: str
    layers: List[str]
    model: Optional[str]
