"""The loss family's contracts: the rules its checks (``rules.py``) report."""

from nnlint.contracts import Rule
from nnlint.finding import Severity

LOSS_CLIPPED = Rule(
    code="NNL101",
    name="loss-clipped",
    severity=Severity.ERROR,
    summary="The loss is capped (clamp/min/where) before backward(): whatever exceeds the cap gets zero gradient.",
)
