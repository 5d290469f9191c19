"""The sequence family's contracts: the rules its checks (``rules.py``) report."""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from nnlint.contracts import ProbeInput, Rule
from nnlint.finding import Severity

NOT_SHIFTED = Rule(
    code="NNL401",
    name="target-not-shifted",
    severity=Severity.ERROR,
    summary="Next-token targets are taken at the input's own positions: the model learns to copy its input.",
)
DOUBLE_SHIFT = Rule(
    code="NNL402",
    name="target-double-shift",
    severity=Severity.ERROR,
    summary="Labels already shifted by one go to a model that shifts them again: it learns the token after next.",
)
MISALIGNED = Rule(
    code="NNL403",
    name="target-misaligned",
    severity=Severity.ERROR,
    summary="Input and target windows of one sequence differ in length or are not offset by exactly +1.",
)
ROLL_WRAPAROUND = Rule(
    code="NNL404",
    name="target-roll-wraparound",
    severity=Severity.WARNING,
    summary="Targets made with roll(-1): the last position is trained to predict the sequence's first token.",
)


@dataclass(frozen=True)
class SequenceWindowsInput(ProbeInput):
    """NNL401-NNL404: how the input and target windows are cut from one sequence, as steps a probe
    replays on a synthetic sequence (each step a dict: "kind" slice / roll / pad / view / logits and
    that kind's fields; None when a window cannot be replayed), and along which axis they meet."""

    rule: str
    axis: Optional[int]
    batch_axes: int
    input: Optional[List[Dict[str, Any]]]
    target: Optional[List[Dict[str, Any]]]
    model_shift: int  # how far the model shifts the labels itself
    model: Optional[str]
    selected_axis: Optional[int] = None  # single positions picked out of the sequence: their axis
