"""--confirm for the augmentation family with real torch and torchvision: probes confirm the
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

CONFIRMED = [
    ("seg_pil_manual_hflip.py", "NNL201", "disagree (IoU < 0.5) in"),
    ("cv2_numpy_depth_trainer.py", "NNL201", "depth was never flipped"),
    ("detection_dict_target_compose.py", "NNL201", "target never transformed"),
    ("landmarks_transform_class.py", "NNL201", "landmarks was never flipped"),
    ("torchvision_voc_transform.py", "NNL201", "image mirrored in"),
    ("seg_same_transform_twice.py", "NNL202", "mask mirrored in"),
    ("voc_transform_and_target_transform.py", "NNL202", "disagree"),
    ("depth_separate_pipelines.py", "NNL202", "depth mirrored in"),
    ("pose_coco_manual_mirror.py", "NNL203", "left_eye now lies at x=24, left of right_eye"),
    ("face_landmarks_flip_pairs_unused.py", "NNL203", "left/right pairs are on the wrong side"),
    ("mnist_random_flip.py", "NNL204", "came out mirrored in"),
    ("emnist_large_rotation.py", "NNL204", "rotated beyond 30 degrees"),
    ("kmnist_random_apply_dict.py", "NNL204", "rotated beyond 30 degrees"),
    ("svhn_lightning_vflip.py", "NNL204", "of 32 draws"),
]


@pytest.fixture(scope="module")
def runner():
    with ProbeRunner(timeout=120) as probe_runner:
        yield probe_runner


def findings_of(name: str, code: str):
    path = FIXTURES / "augmentation" / name
    found = [f for f in lint(path.read_text(), path=str(path)) if f.code == code]
    assert found, f"{name} has no {code} finding"
    return found


@pytest.mark.parametrize("name, code, evidence", CONFIRMED)
def test_probe_confirms_buggy_fixture(runner, name, code, evidence):
    for finding in findings_of(name, code):
        confirmation = confirm_finding(finding, runner)
        assert confirmation.status is ConfirmationStatus.CONFIRMED, confirmation.evidence
        assert evidence in confirmation.evidence
        assert "of 32 draws" in confirmation.evidence or code == "NNL203"


def draws(evidence: str, before: str) -> int:
    """The count in "<before> N of 32 draws" in a probe's evidence."""
    return int(evidence.split(before + " ")[1].split(" of 32 draws")[0])


def test_disagreement_counts_are_about_half_for_a_fair_flip(runner):
    # `if random.random() > 0.5: image = TF.hflip(image)` with the mask never flipped: image and mask
    # disagree exactly when the coin fires, so the count is Binomial(32, 1/2) (the probe's seed fixes
    # which value; these bounds hold for any seed). P(count <= 2) = P(count >= 30)
    # = (1 + 32 + 496) / 2**32 = 1.2e-7, so the bounds fail for a fair coin with probability 2.5e-7.
    confirmation = confirm_finding(findings_of("seg_pil_manual_hflip.py", "NNL201")[0], runner)
    fired = draws(confirmation.evidence, "fired in")
    assert draws(confirmation.evidence, "disagree (IoU < 0.5) in") == fired
    assert 3 <= fired <= 29


def test_independent_draws_disagree_in_some_draws_but_not_all(runner):
    # image and mask each draw their own rotation and flips: the seeded count lies strictly between
    # never and always (the probe reports a count, not a verdict)
    confirmation = confirm_finding(findings_of("seg_same_transform_twice.py", "NNL202")[0], runner)
    assert 0 < draws(confirmation.evidence, "disagree (IoU < 0.5) in") < 32


@pytest.mark.skipif(importlib.util.find_spec("albumentations") is not None, reason="albumentations is installed")
@pytest.mark.parametrize(
    "name, code",
    [("albumentations_image_only_lightning.py", "NNL201"), ("albumentations_separate_calls.py", "NNL202"),
     ("pose_albumentations_keypoints.py", "NNL203")],
)
def test_missing_albumentations_is_inconclusive(runner, name, code):
    confirmation = confirm_finding(findings_of(name, code)[0], runner)
    assert confirmation.status is ConfirmationStatus.INCONCLUSIVE
    assert "albumentations is not installed" in confirmation.evidence


def test_user_code_in_the_pipeline_is_never_run(runner):
    confirmation = confirm_finding(findings_of("helper_random_flip_unet.py", "NNL201")[0], runner)
    assert confirmation.status is ConfirmationStatus.INCONCLUSIVE
    assert "random_flip is defined in your code" in confirmation.evidence


def test_missing_torchvision_is_inconclusive(monkeypatch):
    finding = findings_of("torchvision_voc_transform.py", "NNL201")[0]
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchvision" else real(name, *a))
    with ProbeRunner(timeout=60) as probe_runner:
        confirmation = confirm_finding(finding, probe_runner)
    assert confirmation.status is ConfirmationStatus.INCONCLUSIVE
    assert "torchvision is not installed" in confirmation.evidence
