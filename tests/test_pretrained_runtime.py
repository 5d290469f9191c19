"""--confirm for the pretrained-weights family with real torch and torchvision: probes confirm the
buggy fixtures, and refuse (inconclusive, with the reason) what they must not or cannot run."""

from __future__ import annotations

import importlib.util

import pytest

pytest.importorskip("torch")
pytest.importorskip("torchvision")

from nnlint.finding import ConfirmationStatus  # noqa: E402
from nnlint.runtime import confirm_finding  # noqa: E402
from nnlint.runtime.runner import ProbeRunner  # noqa: E402
from tests.helpers import FIXTURES, lint  # noqa: E402

HAS_CV2 = importlib.util.find_spec("cv2") is not None
HAS_ALBUMENTATIONS = importlib.util.find_spec("albumentations") is not None

CONFIRMED = [
    ("imagefolder_resnet_no_normalize.py", "NNL301", "ResNet50_Weights.IMAGENET1K_V2.transforms()"),
    ("inference_pil_resnet18_no_normalize.py", "NNL301", "reaches the model with channel means 0.4"),
    ("lightning_convnext_v2_no_normalize.py", "NNL301", "ConvNeXt_Tiny_Weights.DEFAULT.transforms()"),
    ("hf_vit_with_transform_no_normalize.py", "NNL301", "from nnlint's statistics table"),
    ("imagefolder_half_stats_resnet.py", "NNL302", "ResNet18_Weights.DEFAULT.transforms()"),
    ("cifar_stats_pretrained_resnet.py", "NNL302", "would have means"),
    ("open_clip_imagenet_stats.py", "NNL302", "std 0.27/0.26/0.28"),
    ("cv2_manual_stats_hf_resnet.py", "NNL302", "reaches the model with channel means"),
    ("resume_dataparallel_strict_false.py", "NNL304", "0 of 4 tensors loaded"),
    ("lightning_backbone_underscore.py", "NNL304", "kept their random initialization"),
    ("eval_assigned_never_read.py", "NNL304", "4 missing, 4 unexpected keys"),
]
BGR = [
    ("cv2_dataset_pil_pipeline_bgr.py", "after the pipeline"),
    ("webcam_inference_bgr.py", "gives channel means 0.10/0.30/0.80"),
    ("hf_processor_imdecode_bgr.py", "blue-dominant"),
    ("smp_unet_cv2_bgr.py", "blue-dominant"),
]


@pytest.fixture(scope="module")
def runner():
    with ProbeRunner(timeout=120) as probe_runner:
        yield probe_runner


def findings_of(name: str, code: str):
    path = FIXTURES / "pretrained" / name
    found = [f for f in lint(path.read_text(), path=str(path)) if f.code == code]
    assert found, f"{name} has no {code} finding"
    return found


@pytest.mark.parametrize("name, code, evidence", CONFIRMED)
def test_probe_confirms_buggy_fixture(runner, name, code, evidence):
    for finding in findings_of(name, code):
        confirmation = confirm_finding(finding, runner)
        assert confirmation.status is ConfirmationStatus.CONFIRMED, confirmation.evidence
        assert evidence in confirmation.evidence


@pytest.mark.skipif(not HAS_CV2, reason="OpenCV is not installed")
@pytest.mark.parametrize("name, evidence", BGR)
def test_bgr_probe_shows_red_arriving_as_blue(runner, name, evidence):
    confirmation = confirm_finding(findings_of(name, "NNL303")[0], runner)
    assert confirmation.status is ConfirmationStatus.CONFIRMED, confirmation.evidence
    assert evidence in confirmation.evidence


def test_missing_opencv_is_inconclusive(monkeypatch):
    finding = findings_of("webcam_inference_bgr.py", "NNL303")[0]
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "cv2" else real(name, *a))
    with ProbeRunner(timeout=60) as probe_runner:
        confirmation = confirm_finding(finding, probe_runner)
    assert confirmation.status is ConfirmationStatus.INCONCLUSIVE
    assert "cv2 is not installed" in confirmation.evidence


def test_hand_written_preprocessing_is_never_run(runner):
    confirmation = confirm_finding(findings_of("cv2_dataset_manual_scaling.py", "NNL301")[0], runner)
    assert confirmation.status is ConfirmationStatus.INCONCLUSIVE
    assert "PlateDataset.__getitem__" in confirmation.evidence and "never run" in confirmation.evidence


@pytest.mark.skipif(HAS_ALBUMENTATIONS, reason="albumentations is installed")
@pytest.mark.parametrize(
    "name, code", [("timm_albumentations_no_normalize.py", "NNL301"), ("timm_albumentations_half_stats.py", "NNL302")]
)
def test_missing_albumentations_is_inconclusive(runner, name, code):
    confirmation = confirm_finding(findings_of(name, code)[0], runner)
    assert confirmation.status is ConfirmationStatus.INCONCLUSIVE
    assert "albumentations is not installed" in confirmation.evidence


def test_a_matching_normalize_is_not_confirmed(runner):
    source = (FIXTURES / "pretrained" / "imagefolder_half_stats_resnet.py").read_text()
    finding = findings_of("imagefolder_half_stats_resnet.py", "NNL302")[0]
    probe_input = dict(finding.probe_input)
    probe_input["pipeline"] = None
    probe_input["normalize"] = "T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])"
    probe_input["mean"], probe_input["std"] = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    from dataclasses import replace

    confirmation = confirm_finding(replace(finding, probe_input=probe_input), runner)
    assert "T.Normalize" in source
    assert confirmation.status is ConfirmationStatus.NOT_CONFIRMED, confirmation.evidence
    assert "within rounding" in confirmation.evidence
