"""The pretrained family's contracts: the rules its checks (``rules.py``) report."""

from nnlint.contracts import Rule
from nnlint.finding import Severity

PRETRAINED_WITHOUT_NORMALIZE = Rule(
    code="NNL301",
    name="pretrained-without-normalize",
    severity=Severity.ERROR,
    summary="A pretrained image model is fed inputs from a pipeline that never normalizes them.",
)
NORMALIZE_STATS_MISMATCH = Rule(
    code="NNL302",
    name="normalize-stats-mismatch",
    severity=Severity.ERROR,
    summary="Normalize uses other mean/std than the statistics the pretrained weights were trained with.",
)
BGR_INTO_RGB_MODEL = Rule(
    code="NNL303",
    name="bgr-into-rgb-model",
    severity=Severity.ERROR,
    summary="An OpenCV (BGR) image reaches a pretrained RGB model without a BGR->RGB conversion.",
)
UNCHECKED_PARTIAL_LOAD = Rule(
    code="NNL304",
    name="unchecked-partial-load",
    severity=Severity.WARNING,
    summary="load_state_dict(..., strict=False) discards the missing/unexpected keys, so a failed load goes unnoticed.",
)
