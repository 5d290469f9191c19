"""The layers family's contracts: the rules its checks (``rules.py``) report."""

from nnlint.contracts import Rule
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
