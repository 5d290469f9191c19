"""Pretrained-weights probes (NNL301-NNL304).

NNL301/NNL302 instantiate only the flagged pipeline (or the flagged Normalize) from its vouched
construction expression, pass it a synthetic photo with ImageNet-like channel statistics, and
compare the per-channel mean/std that reach the model with what the weights expect on the same
pixels (the statistics of ``weights.transforms()`` when torchvision resolves the weights, else the
statistics table). NNL303 decodes a red-dominant synthetic photo with OpenCV and shows in which
channel the red ends up (after the flagged pipeline when it can be instantiated). NNL304 loads a
``module.``-prefixed state dict with ``strict=False`` into a small network and counts the
parameters that kept their initial values.

``prepare`` never imports torch, torchvision, cv2 or the transform libraries.
"""

from __future__ import annotations

import importlib.util
import re
from typing import Any, Dict, Tuple

from nnlint.contracts import PipelineInput
from nnlint.families.pretrained.contracts import (
    BgrIntoRgbInput,
    ExpectedStatistics,
    InputStatisticsInput,
    UncheckedPartialLoadInput,
)
from nnlint.runtime.pipelines import apply_with_fallbacks, build_pipeline, image_array, prepare_pipeline, require
from nnlint.runtime.probe import Probe
from nnlint.runtime.vouch import Refused

WEIGHTS_NAME = re.compile(r"^[A-Za-z0-9_]+_Weights\.[A-Za-z0-9_]+$")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DRAWS = 8
MEAN_GAP = 0.05  # rounding the statistics (0.485 -> 0.48) moves the channel means by ~0.02
STD_GAP = 0.05


def _expected(info: ExpectedStatistics) -> Dict[str, Any]:
    weights = info.weights
    if weights is not None and not WEIGHTS_NAME.match(weights):
        weights = None
    if weights is None and not info.mean:
        raise Refused("the statistics the weights were trained with are not known with certainty")
    return {"weights": weights, "mean": info.mean, "std": info.std, "name": info.name}


def _synthetic_photo(size: int = 256, seed: int = 0):
    """A photo-like RGB image: 8x8-pixel blocks whose channel values are drawn with ImageNet-like
    statistics (so resizing and cropping keep the statistics)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    blocks = size // 8
    values = rng.normal(IMAGENET_MEAN, IMAGENET_STD, size=(blocks, blocks, 3)).clip(0, 1)
    image = np.kron(values, np.ones((8, 8, 1)))
    return Image.fromarray((image * 255).round().astype(np.uint8))


def _channels(value) -> "Any":
    """A pipeline output as a float array of shape (3, N) (CHW tensors, HWC arrays, batches)."""
    array = image_array(value)
    if array.ndim == 3 and array.shape[0] not in (1, 3) and array.shape[-1] in (1, 3):
        array = array.transpose(2, 0, 1)
    if array.ndim == 2:
        array = array[None]
    return array.reshape(array.shape[0], -1)


def _fmt(values) -> str:
    return "/".join(f"{v:.2f}" for v in values)


class _StatisticsProbe(Probe):
    """Shared by NNL301 and NNL302."""

    input_type = InputStatisticsInput

    def prepare(self, probe_input: InputStatisticsInput) -> Dict[str, Any]:
        if probe_input.manual:
            raise Refused(f"the preprocessing is hand-written code in your module ({probe_input.manual}); probes never run it")
        expected = _expected(probe_input.expected)
        request: Dict[str, Any] = {"expected": expected, "applied_mean": probe_input.mean, "applied_std": probe_input.std}
        pipeline = probe_input.pipeline
        if pipeline:
            request["pipeline"] = prepare_pipeline(pipeline)
        elif probe_input.normalize:
            library = "albumentations" if "albumentations" in str(probe_input.names) else "torchvision"
            fragment = PipelineInput(
                library=library, v2=None, construction=probe_input.normalize, container=None,
                ops=[probe_input.normalize], op_names=["Normalize"], names=probe_input.names or {},
            )
            request["pipeline"] = prepare_pipeline(fragment)
            request["normalize_only"] = True
        elif probe_input.mean is not None:
            request["pipeline"] = None  # hand-written arithmetic with resolved constants
        else:
            raise Refused("the pipeline is not known statically")
        if expected["weights"] is not None and importlib.util.find_spec("torchvision") is None:
            expected["weights"] = None
            if not expected["mean"]:
                raise Refused("torchvision is not installed, so the weights' statistics cannot be resolved")
        return request

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        import numpy as np

        mean, std, source = self._expected_statistics(request["expected"])
        photo = _synthetic_photo()
        outputs = []
        if request.get("pipeline") is None:
            unit = np.asarray(photo, dtype=np.float64).transpose(2, 0, 1).reshape(3, -1) / 255.0
            applied_mean = np.asarray(request["applied_mean"], dtype=np.float64).reshape(-1, 1)
            applied_std = np.asarray(request["applied_std"], dtype=np.float64).reshape(-1, 1)
            outputs.append((unit - applied_mean) / applied_std)
        else:
            built = build_pipeline(request["pipeline"])
            kind = request["pipeline"]["kind"]
            for _ in range(DRAWS):
                if request.get("normalize_only"):
                    outputs.append(_channels(self._normalize_only(built, kind, photo)))
                else:
                    outputs.append(_channels(apply_with_fallbacks(built, kind, photo)))
        observed = np.concatenate(outputs, axis=1)
        if observed.shape[0] not in (1, 3):
            return "inconclusive", f"the pipeline's output has {observed.shape[0]} channels"
        if observed.shape[0] == 1:
            observed = np.repeat(observed, 3, axis=0)
        raw = self._unnormalized(observed, request)
        expected = (raw - np.asarray(mean).reshape(3, 1)) / np.asarray(std).reshape(3, 1)
        got_mean, got_std = observed.mean(axis=1), observed.std(axis=1)
        want_mean, want_std = expected.mean(axis=1), expected.std(axis=1)
        gap_mean = float(np.abs(got_mean - want_mean).max())
        gap_std = float(np.abs(got_std / np.maximum(want_std, 1e-9) - 1).max())
        note = request["pipeline"]["note"] if request.get("pipeline") else ""
        evidence = (
            f"{note}a synthetic photo with ImageNet-like statistics reaches the model with channel means "
            f"{_fmt(got_mean)} and std {_fmt(got_std)}; normalized as the weights expect ({source}) the same pixels "
            f"would have means {_fmt(want_mean)} and std {_fmt(want_std)}"
        )
        if gap_mean > MEAN_GAP or gap_std > STD_GAP:
            return "confirmed", evidence
        return "not-confirmed", evidence + " (within rounding)"

    @staticmethod
    def _normalize_only(built, kind: str, photo):
        import numpy as np

        if kind == "albumentations":
            return built(image=np.asarray(photo))["image"]
        import torch

        tensor = torch.from_numpy(np.asarray(photo, dtype=np.float32).transpose(2, 0, 1) / 255.0)
        return built(tensor)

    @staticmethod
    def _unnormalized(observed, request):
        """The pipeline's output before its own Normalize, in [0, 1] units."""
        import numpy as np

        applied_mean, applied_std = request.get("applied_mean"), request.get("applied_std")
        if applied_mean is not None and applied_std is not None:
            return observed * np.asarray(applied_std, dtype=np.float64).reshape(-1, 1) + np.asarray(applied_mean, dtype=np.float64).reshape(-1, 1)
        if observed.max() > 2.0:
            return observed / 255.0
        return observed

    @staticmethod
    def _expected_statistics(expected: Dict[str, Any]):
        weights = expected.get("weights")
        if weights:
            try:
                import torchvision.models as models

                preset = models.get_weight(weights).transforms()
                mean, std = getattr(preset, "mean", None), getattr(preset, "std", None)
                if mean is not None and std is not None:
                    return list(mean), list(std), f"{weights}.transforms(): mean {_fmt(mean)}, std {_fmt(std)}"
            except Exception:  # noqa: BLE001 - an older torchvision: fall back to the table
                pass
        mean, std = expected["mean"], expected["std"]
        return list(mean), list(std), f"mean {_fmt(mean)}, std {_fmt(std)} from nnlint's statistics table"


class PretrainedWithoutNormalizeProbe(_StatisticsProbe):
    code = "NNL301"


class NormalizeStatsMismatchProbe(_StatisticsProbe):
    code = "NNL302"


class BgrIntoRgbModelProbe(Probe):
    code = "NNL303"
    input_type = BgrIntoRgbInput

    def prepare(self, probe_input: BgrIntoRgbInput) -> Dict[str, Any]:
        require("cv2", "the OpenCV read cannot be reproduced")
        pipeline = None
        note = ""
        if probe_input.pipeline:
            try:
                pipeline = prepare_pipeline(probe_input.pipeline)
            except Refused as refusal:
                note = f" (the pipeline itself was not run: {refusal})"
        return {"read": probe_input.read, "pipeline": pipeline, "note": note}

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        import io

        import cv2
        import numpy as np
        from PIL import Image

        rng = np.random.default_rng(0)
        base = np.array([0.8, 0.3, 0.1]) + rng.normal(0, 0.03, size=(320, 320, 3))
        rgb = (base.clip(0, 1) * 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, format="PNG")
        decoded = cv2.imdecode(np.frombuffer(buffer.getvalue(), dtype=np.uint8), cv2.IMREAD_COLOR)
        read_means = decoded.reshape(-1, 3).mean(axis=0) / 255.0
        detail = f"`{request['read']}` gives channel means {_fmt(read_means)}"
        first, last = read_means[0], read_means[2]
        if request.get("pipeline"):
            built = build_pipeline(request["pipeline"])
            kind = request["pipeline"]["kind"]
            try:
                out = apply_with_fallbacks(built, kind, decoded if kind == "albumentations" else Image.fromarray(decoded))
            except Exception:  # noqa: BLE001 - the pipeline may want a numpy array
                out = built(decoded)
            channels = _channels(out).mean(axis=1)
            detail += f", and after the pipeline {_fmt(channels)}"
            first, last = channels[0], channels[2]
        evidence = (
            f"a red-dominant photo (R/G/B {_fmt(rgb.reshape(-1, 3).mean(axis=0) / 255.0)}) decoded by OpenCV: {detail}; "
            f"the model's first (red) channel carries the blue values{request['note']}"
        )
        if last > first:
            return "confirmed", evidence + ": it arrives blue-dominant"
        return "not-confirmed", evidence.replace("the model's first (red) channel carries the blue values", "red stays in the first channel")


class UncheckedPartialLoadProbe(Probe):
    code = "NNL304"
    input_type = UncheckedPartialLoadInput

    def prepare(self, probe_input: UncheckedPartialLoadInput) -> Dict[str, Any]:
        return {"call": probe_input.call}

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        import torch
        from torch import nn

        def network() -> nn.Module:
            return nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 10))

        torch.manual_seed(0)
        trained = network()
        checkpoint = {f"module.{key}": value.clone() for key, value in trained.state_dict().items()}
        torch.manual_seed(1)
        fresh = network()
        before = {key: value.clone() for key, value in fresh.state_dict().items()}
        result = fresh.load_state_dict(checkpoint, strict=False)
        kept = [key for key, value in fresh.state_dict().items() if torch.equal(value, before[key])]
        loaded = len(before) - len(kept)
        values = sum(before[key].numel() for key in kept)
        evidence = (
            f"a checkpoint saved with a 'module.' prefix (as from nn.DataParallel), loaded like `{request['call']}`: "
            f"{loaded} of {len(before)} tensors loaded, {len(kept)} parameter tensors ({values:,} values) kept their "
            f"random initialization, and only the discarded result said so ({len(result.missing_keys)} missing, "
            f"{len(result.unexpected_keys)} unexpected keys)"
        )
        return ("confirmed" if kept else "not-confirmed"), evidence
