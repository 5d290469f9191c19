"""The layers family's contracts: the rules its checks (``rules.py``) report."""

from dataclasses import dataclass
from typing import Dict, List, Optional

from nnlint.contracts import ProbeInput, Rule
from nnlint.finding import Severity

FUNCTIONAL_DROPOUT = Rule(
    code="NNL503",
    name="functional-dropout-always-on",
    severity=Severity.ERROR,
    summary="F.dropout in a module's forward without training=self.training: dropout stays on after model.eval().",
)
UNREGISTERED_SUBMODULES = Rule(
    code="NNL504",
    name="unregistered-submodules",
    severity=Severity.ERROR,
    summary="Modules or parameters kept in a plain list/tuple/dict attribute: not in model.parameters(), never trained.",
)
PROBABILITIES_INTO_LOGITS_LOSS = Rule(
    code="NNL505",
    name="probabilities-into-logits-loss",
    severity=Severity.ERROR,
    summary="Softmax/sigmoid output goes into CrossEntropyLoss/BCEWithLogitsLoss, which expect raw logits.",
)
VIEW_AS_PERMUTE = Rule(
    code="NNL506",
    name="view-as-permute",
    severity=Severity.ERROR,
    summary="view()/reshape() lists a tensor's own dimensions in another order: the data is scrambled, not permuted.",
)
BIAS_BEFORE_BATCHNORM = Rule(
    code="NNL507",
    name="bias-before-batchnorm",
    severity=Severity.INFO,
    summary="Conv/Linear with bias directly followed by BatchNorm: the normalization cancels the bias; wasted parameters.",
)

Names = Dict[str, Dict[str, str]]  # how each name a fragment uses resolves (FixedValues)


@dataclass(frozen=True)
class FunctionalDropoutInput(ProbeInput):
    """NNL503: the dropout function and its input and probability fragments."""

    function: str
    input: Optional[str]
    p: Optional[str]
    names: Names


@dataclass(frozen=True)
class UnregisteredSubmodulesInput(ProbeInput):
    """NNL504: the attribute, its container kind, and the modules (or parameters) it holds."""

    attribute: str
    container: str  # list / tuple / dict
    parameters: bool  # it holds parameters rather than modules
    elements: List[str]  # up to four element constructions
    count: Optional[str]  # the range() of a comprehension that builds them
    names: Names


@dataclass(frozen=True)
class ProbabilitiesIntoLogitsInput(ProbeInput):
    """NNL505: softmax or sigmoid, the squashing expression and the logits it squashes."""

    kind: str
    fragment: str
    operand: Optional[str]
    names: Names


@dataclass(frozen=True)
class ViewAsPermuteInput(ProbeInput):
    """NNL506: the view/reshape call and which of the tensor's dimensions each argument lists."""

    tensor: str
    method: str
    groups: List[Optional[List[int]]]
    ndim: Optional[int]
    assumed_ndim: bool
    fragment: str


@dataclass(frozen=True)
class BiasBeforeBatchNormInput(ProbeInput):
    """NNL507: the biased layer's and the BatchNorm's constructions."""

    layer: str
    norm: str
    names: Names
