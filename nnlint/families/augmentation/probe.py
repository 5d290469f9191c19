"""Augmentation probes (NNL201-NNL204): instantiate only the flagged pipeline (or flip call, or
mirror statement) from its source, vouched for, and apply it as the code applies it to a
synthetic asymmetric image and its mask/keypoints, 32 times, counting geometric disagreements.

`prepare` never imports torch or the transform libraries; it checks they are installed with
`importlib.util.find_spec` and refuses (inconclusive) when they are not.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from nnlint.families.augmentation.contracts import AlignmentInput, FlipChangesLabelInput, KeypointFlipInput
from nnlint.runtime.pipelines import ALLOWED, apply_with_fallbacks, build_pipeline, image_array, namespace_for, prepare_pipeline, require
from nnlint.runtime.probe import Probe
from nnlint.runtime.vouch import Refused, runtime_placeholder, safe_builtins, substitute, vouch_expression, vouch_statement

DRAWS = 32
IMAGE = "__image__"
KEYPOINTS = "__keypoints__"
WIDTH = "__width__"
COCO_PAIRS = [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)]


# --- worker side ------------------------------------------------------------------------------------


def _as_array(value):
    """An image-like value (PIL, ndarray, tensor; CHW or HWC; with a batch axis) as a 2-D float map."""
    array = image_array(value)
    if array.ndim == 3:
        if array.shape[0] in (1, 3) and array.shape[2] not in (1, 3):
            array = array.mean(axis=0)
        else:
            array = array.mean(axis=2)
    return array


def _foreground(value):
    import numpy as np

    array = _as_array(value)
    low, high = float(array.min()), float(array.max())
    if high - low < 1e-9:
        return np.zeros(array.shape, dtype=bool)
    return array > (low + high) / 2


def _resize(mask, shape):
    import numpy as np

    rows = (np.arange(shape[0]) * mask.shape[0] / shape[0]).astype(int)
    cols = (np.arange(shape[1]) * mask.shape[1] / shape[1]).astype(int)
    return mask[rows][:, cols]


def _iou(a, b) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def _synthetic(size: int):
    """An RGB image with an L-shaped bright blob in the upper left, and its mask (mode L)."""
    import numpy as np
    from PIL import Image

    canvas = np.zeros((size, size), dtype=np.uint8)
    s = size / 64
    canvas[int(8 * s) : int(44 * s), int(8 * s) : int(20 * s)] = 255
    canvas[int(34 * s) : int(44 * s), int(8 * s) : int(34 * s)] = 255
    image = Image.fromarray(np.stack([canvas, canvas // 2 + 64 * (canvas > 0), canvas], axis=-1).astype(np.uint8))
    return image, Image.fromarray(canvas), canvas > 0


def _orientation(foreground, reference) -> str:
    import numpy as np

    resized = _resize(reference, foreground.shape)
    scores = {
        "kept": _iou(foreground, resized),
        "mirrored": _iou(foreground, _resize(np.fliplr(reference), foreground.shape)),
        "flipped upside down": _iou(foreground, _resize(np.flipud(reference), foreground.shape)),
    }
    return max(scores, key=scores.get)


class _AlignmentProbe(Probe):
    """Shared by NNL201 and NNL202."""

    input_type = AlignmentInput

    def prepare(self, probe_input: AlignmentInput) -> Dict[str, Any]:
        mode = probe_input.mode
        if mode == "manual":
            return self._prepare_manual(probe_input)
        request: Dict[str, Any] = {"mode": mode, "target": probe_input.target, "image": probe_input.image}
        request["pipeline"] = prepare_pipeline(probe_input.pipeline)
        if mode == "separate":
            request["target_pipeline"] = prepare_pipeline(probe_input.target_pipeline)
        return request

    def _prepare_manual(self, probe_input: AlignmentInput) -> Dict[str, Any]:
        names = probe_input.names
        operand = probe_input.operand
        flip = substitute(probe_input.flip, operand, IMAGE)
        if "TF." in probe_input.flip or "transforms" in str(names):
            require("torchvision")
        if "cv2" in probe_input.flip:
            require("cv2")
        vouched = vouch_expression(flip, names, {operand: IMAGE, IMAGE: IMAGE}, allowed=ALLOWED)
        condition = None
        note = ""
        if probe_input.condition:
            try:
                vouched_condition = vouch_expression(probe_input.condition, names, allowed=ALLOWED)
                condition = vouched_condition.source
                if vouched_condition.runtime_names:
                    listed = ", ".join(sorted(set(vouched_condition.runtime_names)))
                    note = f"{listed} taken as true: "
                    condition_bindings = {runtime_placeholder(n): 1 for n in vouched_condition.runtime_names}
                else:
                    condition_bindings = {}
            except Refused as refusal:
                note = f"the branch condition was not evaluated ({refusal}); a fair coin stands in: "
                condition_bindings = {}
        else:
            condition_bindings = {}
        return {
            "mode": "manual",
            "flip": vouched.source,
            "flip_text": probe_input.flip,
            "condition": condition,
            "condition_bindings": condition_bindings,
            "note": note,
            "image": probe_input.image,
            "target": probe_input.target,
            "input_kind": _input_kind(vouched.source),
        }

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        if request["mode"] == "manual":
            return self._run_manual(request)
        pipeline = request["pipeline"]
        built = build_pipeline(pipeline)
        target_pipeline = request.get("target_pipeline")
        target_built = build_pipeline(target_pipeline) if target_pipeline else None
        last_error: Optional[Exception] = None
        for size in (64, 256, 640, 1280):
            image, mask_image, mask = _synthetic(size)
            try:
                return self._measure(request, built, target_built, image, mask_image, mask)
            except Exception as error:  # noqa: BLE001 - a crop larger than the image: try a larger one
                last_error = error
        raise last_error  # type: ignore[misc]

    def _measure(self, request, built, target_built, image, mask_image, mask) -> Tuple[str, str]:
        kind = request["pipeline"]["kind"]
        disagree = image_mirrored = target_mirrored = 0
        for _ in range(DRAWS):
            out = _foreground(apply_with_fallbacks(built, kind, image))
            if target_built is not None:
                target_kind = request["target_pipeline"]["kind"]
                target = _foreground(apply_with_fallbacks(target_built, target_kind, mask_image))
            else:
                target = mask
            if _orientation(out, mask) != "kept":
                image_mirrored += 1
            if target_built is not None and _orientation(target, mask) != "kept":
                target_mirrored += 1
            if _iou(out, _resize(target, out.shape)) < 0.5:
                disagree += 1
        note = request["pipeline"]["note"]
        target = request.get("target") or "the target"
        if target_built is None:
            detail = f"image mirrored in {image_mirrored}, {target} never transformed"
        else:
            detail = f"image mirrored in {image_mirrored}, {target} mirrored in {target_mirrored}"
        evidence = f"{note}image and {target} disagree (IoU < 0.5) in {disagree} of {DRAWS} draws ({detail})"
        return ("confirmed" if disagree else "not-confirmed"), evidence

    def _run_manual(self, request: Dict[str, Any]) -> Tuple[str, str]:
        import random as stdlib_random

        import numpy as np

        image, _mask_image, mask = _synthetic(64)
        namespace = namespace_for([request["flip"]] + ([request["condition"]] if request["condition"] else []), request["condition_bindings"])
        rng = stdlib_random.Random(0)
        flipped = disagree = 0
        for _ in range(DRAWS):
            if request["condition"]:
                fire = bool(eval(request["condition"], namespace))  # noqa: S307 - vouched fragment
            else:
                fire = rng.random() < 0.5
            value = _as_input(request["input_kind"], image)
            if fire:
                value = eval(request["flip"], dict(namespace, **{IMAGE: value}))  # noqa: S307 - vouched fragment
                flipped += 1
            out = _foreground(np.ascontiguousarray(_as_array(value)))
            if _iou(out, _resize(mask, out.shape)) < 0.5:
                disagree += 1
        target = request.get("target") or "the target"
        evidence = (
            f"{request['note']}`{request['flip_text']}` fired in {flipped} of {DRAWS} draws and {target} was never flipped: "
            f"image and {target} disagree (IoU < 0.5) in {disagree} of {DRAWS} draws"
        )
        return ("confirmed" if disagree else "not-confirmed"), evidence


def _input_kind(source: str) -> str:
    if source.startswith(("torchvision.transforms", "PIL.")) or ".transpose(" in source:
        return "pil"
    if source.startswith("torch.") or ".flip(" in source:
        return "tensor"
    return "numpy"


def _as_input(kind: str, image):
    import numpy as np
    import torch

    if kind == "pil":
        return image
    array = np.asarray(image)
    if kind == "tensor":
        return torch.from_numpy(array.transpose(2, 0, 1).copy()).float()
    return array


class FlipWithoutTargetProbe(_AlignmentProbe):
    code = "NNL201"


class IndependentRandomTransformsProbe(_AlignmentProbe):
    code = "NNL202"


class KeypointFlipWithoutSwapProbe(Probe):
    code = "NNL203"
    input_type = KeypointFlipInput

    def prepare(self, probe_input: KeypointFlipInput) -> Dict[str, Any]:
        names = probe_input.keypoint_names
        if probe_input.mode != "manual":
            prepare_pipeline(probe_input.pipeline)  # refuses without the library
            raise Refused("library keypoint flips are confirmed only for hand-written mirrors")
        statement = substitute(probe_input.statement, probe_input.keypoints, KEYPOINTS, mode="exec")
        if probe_input.width not in ("0",):
            statement = substitute(statement, probe_input.width, WIDTH, mode="exec")
        vouched = vouch_statement(statement, probe_input.names, {KEYPOINTS: KEYPOINTS, WIDTH: WIDTH})
        return {"statement": vouched.source, "text": probe_input.statement, "keypoint_names": names,
                "flat": "::2" in probe_input.statement or "::3" in probe_input.statement,
                "centred": probe_input.width == "0"}

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        import numpy as np

        names = request.get("keypoint_names")
        pairs = _pairs(names) if names else COCO_PAIRS
        count = max(max(pair) for pair in pairs) + 1
        labels = names or [f"keypoint {i}" for i in range(count)]
        width = 64.0
        points = np.zeros((count, 3), dtype=np.float64)
        points[:, 0] = width / 2
        points[:, 2] = 2
        for row, (left, right) in enumerate(pairs):
            # a person facing the camera: their left side is on the image's right
            points[left, 0], points[right, 0] = 40 + row % 4, 24 - row % 4
            points[left, 1] = points[right, 1] = 8 + 6 * row
        if request["centred"]:
            points[:, 0] -= width / 2
        value = points[:, :2].reshape(-1).copy() if request["flat"] else points.copy()
        namespace = {"numpy": np, "__builtins__": safe_builtins(), KEYPOINTS: value, WIDTH: width}
        exec(request["statement"], namespace)  # noqa: S102 - vouched statement
        mirrored = np.asarray(namespace[KEYPOINTS], dtype=np.float64)
        xs = mirrored[0::2] if request["flat"] else mirrored[:, 0]
        swapped = [(left, right) for left, right in pairs if xs[left] < xs[right]]
        if not swapped:
            return "not-confirmed", f"after `{request['text']}` every left keypoint still lies right of its partner"
        left, right = swapped[0]
        return "confirmed", (
            f"after `{request['text']}` on a synthetic frontal person, {len(swapped)} of {len(pairs)} left/right pairs "
            f"are on the wrong side: {labels[left]} now lies at x={xs[left]:g}, left of {labels[right]} at x={xs[right]:g}"
        )


def _pairs(names: List[str]) -> List[Tuple[int, int]]:
    lowered = [name.lower() for name in names]
    pairs = []
    for index, name in enumerate(lowered):
        for left, right in (("left", "right"), ("l_", "r_")):
            if left in name:
                partner = name.replace(left, right)
                if partner in lowered:
                    pairs.append((index, lowered.index(partner)))
    return pairs or COCO_PAIRS


class FlipChangesLabelProbe(Probe):
    code = "NNL204"
    input_type = FlipChangesLabelInput

    def prepare(self, probe_input: FlipChangesLabelInput) -> Dict[str, Any]:
        return {"pipeline": prepare_pipeline(probe_input.pipeline), "op": probe_input.op,
                "dataset": probe_input.dataset}

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        import numpy as np
        from PIL import Image

        glyph = np.zeros((28, 28), dtype=np.uint8)
        glyph[4:24, 8:12] = 255  # an "F": stem, top bar, middle bar
        glyph[4:8, 8:22] = 255
        glyph[12:15, 8:18] = 255
        image = Image.fromarray(glyph)
        reference = glyph > 0
        built = build_pipeline(request["pipeline"])
        kind = request["pipeline"]["kind"]
        references = {"upright": reference, "mirrored": np.fliplr(reference), "upside down": np.flipud(reference)}
        for angle in range(-180, 181, 15):
            if angle:
                rotated = np.asarray(image.rotate(angle)) > 127
                references[f"rotated {angle:+d}"] = rotated
        changed = mirrored = rotated_count = 0
        for _ in range(DRAWS):
            out = _foreground(apply_with_fallbacks(built, kind, image))
            best = max(references, key=lambda key: _iou(out, _resize(references[key], out.shape)))
            if best in ("mirrored", "upside down"):
                mirrored += 1
                changed += 1
            elif best.startswith("rotated") and abs(int(best.split()[1])) > 30:
                rotated_count += 1
                changed += 1
        note = request["pipeline"]["note"]
        evidence = (
            f"{note}a synthetic asymmetric glyph came out mirrored in {mirrored} and rotated beyond 30 degrees in "
            f"{rotated_count} of {DRAWS} draws"
        )
        return ("confirmed" if changed else "not-confirmed"), evidence
