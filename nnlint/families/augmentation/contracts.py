"""The augmentation family's contracts: the rules its checks (``rules.py``) report."""

from nnlint.contracts import Rule
from nnlint.finding import Severity

FLIP_WITHOUT_TARGET = Rule(
    code="NNL201",
    name="flip-without-target",
    severity=Severity.ERROR,
    summary="The image is flipped (or randomly cropped/rotated) but its mask, boxes or keypoints are not.",
)
INDEPENDENT_RANDOM_TRANSFORMS = Rule(
    code="NNL202",
    name="independent-random-transforms",
    severity=Severity.ERROR,
    summary="Image and spatial target go through separate random transforms, so their random draws disagree.",
)
KEYPOINT_FLIP_WITHOUT_SWAP = Rule(
    code="NNL203",
    name="keypoint-flip-without-swap",
    severity=Severity.ERROR,
    summary="Keypoints are mirrored without swapping left/right indices, so left joints get right labels.",
)
FLIP_CHANGES_LABEL = Rule(
    code="NNL204",
    name="flip-changes-label",
    severity=Severity.WARNING,
    summary="Flips or large rotations augment digits/characters whose class depends on orientation.",
)
