"""Transform pipelines in probes, shared by the augmentation and pretrained families.

`prepare_pipeline` runs in nnlint's own process: it vouches for a pipeline's construction (or for
each of its ops) and checks that its library is installed, without importing it. The worker side
builds the vouched pipeline (`build_pipeline`), applies it to an image (`apply_with_fallbacks`)
and reads the result back as an array (`image_array`).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from typing import Any, Dict, List, Optional, Tuple

from nnlint.contracts import PipelineInput
from nnlint.runtime.vouch import Refused, runtime_placeholder, safe_builtins, vouch_expression

ALLOWED = (
    "torchvision.transforms", "torchvision.tv_tensors", "albumentations", "kornia.augmentation", "kornia.geometry",
    "cv2.flip", "cv2.BORDER_", "cv2.INTER_", "cv2.IMREAD_", "PIL.Image.FLIP_", "PIL.Image.Transpose",
    "PIL.Image.NEAREST", "PIL.Image.BILINEAR", "PIL.Image.BICUBIC", "PIL.Image.Resampling", "PIL.ImageOps.mirror",
    "PIL.ImageOps.flip", "random.random", "random.uniform", "random.randint", "random.choice", "random.getrandbits",
)
SIZE_WORDS = re.compile(r"size|crop|res|height|width|dim|shape", re.IGNORECASE)
PROB_WORDS = re.compile(r"prob|^p$|_p$|flip|ratio", re.IGNORECASE)
ANGLE_WORDS = re.compile(r"degree|rot|angle", re.IGNORECASE)


def require(module: str, why: str = "the pipeline cannot be instantiated") -> None:
    """Refuse, without importing it, when a library the experiment needs is not installed."""
    if importlib.util.find_spec(module) is None:
        raise Refused(f"{module} is not installed, so {why}")


def _representative(name: str) -> float:
    last = name.split(".")[-1]
    if PROB_WORDS.search(last):
        return 0.5
    if ANGLE_WORDS.search(last):
        return 30
    if SIZE_WORDS.search(last):
        return 48
    raise Refused(f"{name} is only known when the script runs")


def _bindings(runtime_names: List[str]) -> Tuple[Dict[str, float], str]:
    values = {name: _representative(name) for name in sorted(set(runtime_names))}
    note = ""
    if values:
        shown = ", ".join(f"{name} = {value:g}" for name, value in values.items())
        note = f"shown with {shown} (only known when the script runs): "
    return {runtime_placeholder(name): value for name, value in values.items()}, note


def prepare_pipeline(info: Optional[PipelineInput]) -> Dict[str, Any]:
    """Vouch for a pipeline's construction (or for each of its ops) and name its library."""
    if not info:
        raise Refused("the pipeline is not known statically")
    library = info.library
    if library == "custom":
        raise Refused(f"{', '.join(info.op_names or ['the transform'])} is defined in your code (probes never run it)")
    needed = {"torchvision": "torchvision", "albumentations": "albumentations", "kornia": "kornia"}
    container = info.container or ""
    root = container.split(".")[0] if container else ""
    if library in needed:
        require(needed[library])
    elif root in needed:
        require(needed[root])
    names = info.names
    runtime: List[str] = []
    if info.construction:
        vouched = vouch_expression(info.construction, names, allowed=ALLOWED)
        runtime.extend(vouched.runtime_names)
        sources = {"construction": vouched.source, "ops": None}
    else:
        ops = []
        for op in info.ops:
            vouched = vouch_expression(op, names, allowed=ALLOWED)
            runtime.extend(vouched.runtime_names)
            ops.append(vouched.source)
        for op in ops:
            if op.startswith("albumentations."):
                require("albumentations")
            elif op.startswith("torchvision."):
                require("torchvision")
            elif op.startswith("kornia."):
                require("kornia")
        sources = {"construction": None, "ops": ops}
    bindings, note = _bindings(runtime)
    source_text = sources["construction"] or " ".join(sources["ops"] or [])
    kind = "albumentations" if "albumentations." in source_text else "kornia" if "kornia." in source_text else "torchvision"
    return {**sources, "bindings": bindings, "note": note, "kind": kind}


# --- worker side ------------------------------------------------------------------------------------


def namespace_for(sources: List[str], bindings: Dict[str, Any]) -> Dict[str, Any]:
    import math

    import numpy
    import torch

    namespace: Dict[str, Any] = {"torch": torch, "math": math, "numpy": numpy, "__builtins__": safe_builtins()}
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Attribute):
                parts = []
                current: ast.AST = node
                while isinstance(current, ast.Attribute):
                    parts.append(current.attr)
                    current = current.value
                if isinstance(current, ast.Name) and current.id in ("torchvision", "albumentations", "kornia", "PIL", "cv2", "random"):
                    dotted = [current.id] + list(reversed(parts))
                    for end in range(len(dotted), 0, -1):
                        try:
                            importlib.import_module(".".join(dotted[:end]))
                            break
                        except ImportError:
                            continue
                    namespace[current.id] = importlib.import_module(current.id)
    namespace.update(bindings)
    return namespace


def build_pipeline(pipeline: Dict[str, Any]):
    sources = [pipeline["construction"]] if pipeline["construction"] else list(pipeline["ops"])
    namespace = namespace_for(sources, pipeline["bindings"])
    if pipeline["construction"]:
        built = eval(pipeline["construction"], namespace)  # noqa: S307 - vouched fragment
        return built if not isinstance(built, (list, tuple)) else list(built)
    return [eval(op, namespace) for op in pipeline["ops"]]  # noqa: S307 - vouched fragments


def _apply(transform, kind: str, value):
    """Apply a built pipeline (or a list of ops, in order) to one image value, the way a single
    image-only call does."""
    if isinstance(transform, list):
        for op in transform:
            value = _apply(op, kind, value)
        return value
    if kind == "albumentations":
        import numpy as np

        return transform(image=np.asarray(value))["image"]
    if kind == "kornia":
        import numpy as np
        import torch

        array = np.asarray(value, dtype=np.float32) / 255.0
        tensor = torch.from_numpy(array if array.ndim == 3 else array[..., None]).permute(2, 0, 1)[None]
        return transform(tensor)
    return transform(value)


def apply_with_fallbacks(transform, kind: str, pil_image):
    """PIL first (what v1 pipelines expect), then a float tensor, then RGB for one-channel input."""
    import numpy as np
    import torch

    attempts = [pil_image]
    attempts.append(torch.from_numpy(np.asarray(pil_image.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255.0))
    if pil_image.mode != "RGB":
        attempts.insert(1, pil_image.convert("RGB"))
    error: Optional[Exception] = None
    for attempt in attempts:
        try:
            return _apply(transform, kind, attempt)
        except Exception as failure:  # noqa: BLE001 - try the next input type
            error = failure
    assert error is not None
    raise error


def image_array(value):
    """A pipeline's output image (PIL, ndarray, tensor, an albumentations dict; with batch axes) as a
    float array of at most three axes, CHW or HWC as it came."""
    import numpy as np

    try:
        import torch

        if isinstance(value, torch.Tensor):
            value = value.detach().float().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, dict):
        value = value.get("image")
    array = np.asarray(value, dtype=np.float64)
    while array.ndim > 3:
        array = array[0]
    return array
