"""The loss family's contracts: the rules its checks (``rules.py``) report."""

from dataclasses import dataclass
from typing import Dict, Optional

from nnlint.contracts import ProbeInput, Rule
from nnlint.finding import Severity

LOSS_CLIPPED = Rule(
    code="NNL101",
    name="loss-clipped",
    severity=Severity.ERROR,
    summary="The loss is capped (clamp/min/where) before backward(): whatever exceeds the cap gets zero gradient.",
)


@dataclass(frozen=True)
class LossClippedInput(ProbeInput):
    """NNL101: the capping code, the loss it caps and the bound, with the names they use."""

    fragment: str  # the cap: an expression, or a statement for an in-place cap
    fragment_kind: str  # "expression" or "statement"
    operand: str  # the loss that is capped
    bound: str
    per_sample: Optional[bool]  # whether the loss is still per sample (reduction="none")
    names: Dict[str, Dict[str, str]]  # how each name the fragments use resolves (FixedValues)
