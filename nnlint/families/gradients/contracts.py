"""The gradients family's contracts: the rules its checks (``rules.py``) report."""

from dataclasses import dataclass, field
from typing import Dict, Optional

from nnlint.contracts import ProbeInput, Rule
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


@dataclass(frozen=True)
class ClipInput(ProbeInput):
    """A gradient clipping call: its code, API, function and threshold, with the names it uses."""

    clip: str
    api: Optional[str]  # torch / accelerate / fabric / lightning / module
    function: str  # "norm" or "value"
    limit: Optional[str]  # the threshold's code
    names: Dict[str, Dict[str, str]]  # how each name the threshold uses resolves (FixedValues)


@dataclass(frozen=True)
class ClipMisorderedInput(ClipInput):
    """NNL102: the clipping call, and where it runs ("before_backward" or "after_step")."""

    order: str


@dataclass(frozen=True)
class ClipWhileScaledInput(ClipInput):
    """NNL103: the clipping call, and the GradScaler's init_scale (None: the default)."""

    init_scale: Optional[str]
    scale_names: Dict[str, Dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ZeroGradMisplacedInput(ProbeInput):
    """NNL104: which form ("cleared_before_step" or "never_cleared") and the calls involved."""

    form: str
    step: str
    zero_grad: Optional[str] = None
