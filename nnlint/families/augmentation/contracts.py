"""The augmentation family's contracts: the rules its checks (``rules.py``) report."""

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from nnlint.contracts import PipelineInput, ProbeInput, Rule
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


@dataclass(frozen=True)
class AlignmentInput(ProbeInput):
    """NNL201 and NNL202: how the image and its spatial target are transformed. `mode` is "manual"
    (a hand-written flip: `flip`, `operand`, `axis`, `condition`, `names`), "image-only" (a pipeline
    applied to the image only) or "separate" (separate pipelines for image and target)."""

    mode: str
    target_kind: Optional[str]
    image: Optional[str]
    target: Optional[str]
    pipeline: Optional[PipelineInput] = None
    target_pipeline: Optional[PipelineInput] = None
    flip: Optional[str] = None
    operand: Optional[str] = None
    axis: Optional[str] = None
    condition: Optional[str] = None
    names: Dict[str, Dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class KeypointFlipInput(ProbeInput):
    """NNL203: a hand-written mirror of keypoints (`mode` "manual": its statement, the keypoints and
    the width it mirrors against) or a library flip (`mode` "library": its pipeline)."""

    mode: str
    keypoint_names: Optional[List[str]]
    statement: Optional[str] = None
    keypoints: Optional[str] = None
    width: Optional[str] = None
    names: Dict[str, Dict[str, str]] = field(default_factory=dict)
    pipeline: Optional[PipelineInput] = None


@dataclass(frozen=True)
class FlipChangesLabelInput(ProbeInput):
    """NNL204: the pipeline, the flip or rotation in it, and the dataset whose labels it changes."""

    mode: str
    pipeline: Optional[PipelineInput]
    op: str
    dataset: str
