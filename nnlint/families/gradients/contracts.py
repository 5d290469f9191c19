"""The gradients family's contracts: the rules its checks (``rules.py``) report."""

from nnlint.contracts import Rule
from nnlint.finding import Severity

CLIP_MISORDERED = Rule(
    code="NNL102",
    name="clip-grad-misordered",
    severity=Severity.ERROR,
    summary="Gradient clipping runs before backward() or after optimizer.step(), so it never affects the update.",
)
CLIP_WHILE_SCALED = Rule(
    code="NNL103",
    name="clip-grad-while-scaled",
    severity=Severity.ERROR,
    summary="Gradients are clipped while still multiplied by the GradScaler's scale (no unscale_() first).",
)
ZERO_GRAD_MISPLACED = Rule(
    code="NNL104",
    name="zero-grad-misplaced",
    severity=Severity.ERROR,
    summary="zero_grad() runs between backward() and step(), or the loop never clears gradients at all.",
)
