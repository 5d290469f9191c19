"""The pretrained family's contracts: the rules its checks (``rules.py``) report."""

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from nnlint.contracts import PipelineInput, ProbeInput, Rule
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


@dataclass(frozen=True)
class ExpectedStatistics(ProbeInput):
    """The pretrained model and the input statistics its weights were trained with (when known)."""

    source: Optional[str]
    name: Optional[str]
    weights: Optional[str]
    family: Optional[str]
    mean: Optional[List[float]]
    std: Optional[List[float]]


@dataclass(frozen=True)
class InputStatisticsInput(ProbeInput):
    """NNL301 and NNL302: what the model expects, and the pipeline (or the Normalize call, or the
    hand-written preprocessing in `manual`) that prepares its inputs, with the statistics applied."""

    expected: ExpectedStatistics
    pipeline: Optional[PipelineInput]
    manual: Optional[str] = None
    normalize: Optional[str] = None
    names: Dict[str, Dict[str, str]] = field(default_factory=dict)
    mean: Optional[List[float]] = None
    std: Optional[List[float]] = None


@dataclass(frozen=True)
class BgrIntoRgbInput(ProbeInput):
    """NNL303: the OpenCV read, where its image goes, and the pipeline on the way."""

    read: str
    destination: str
    pipeline: Optional[PipelineInput]
    expected: ExpectedStatistics


@dataclass(frozen=True)
class UncheckedPartialLoadInput(ProbeInput):
    """NNL304: the load_state_dict(..., strict=False) call."""

    call: str
    receiver: Optional[str]
