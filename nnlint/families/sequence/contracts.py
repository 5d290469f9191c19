"""The sequence family's contracts: the rules its checks (``rules.py``) report."""

from nnlint.contracts import Rule
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
