"""Probes for the model-mode family. Neither runs the user's model: each builds a small model with the
same kinds of mode-dependent layers the flagged model shows (Dropout, BatchNorm; both when they are not
visible) and measures what the mode does to it on synthetic data.

NNL501: in training mode, two `no_grad` calls on the same input differ (dropout) and BatchNorm's
running statistics move (normalization by batch statistics); in evaluation mode neither happens.
NNL502: after `eval()` without `train()`, the next training steps see no dropout and leave BatchNorm's
running statistics frozen; after `train()` they do not.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from nnlint.families.mode.contracts import ModelModeInput
from nnlint.runtime.probe import Probe
from nnlint.runtime.vouch import Refused

STEPS = 3


def _kinds(layers: List[str]) -> Tuple[List[str], List[str]]:
    """(dropout-like, normalization-like) names among the flagged model's mode-dependent layers."""
    dropout: List[str] = []
    norm: List[str] = []
    for name in layers:
        if name == "BatchNorm/Dropout":  # a library model (torchvision, timm): both kinds
            dropout.append("Dropout")
            norm.append("BatchNorm")
        elif "ropout" in name or name in ("LSTM", "GRU", "RNN", "MultiheadAttention") or name.startswith("Transformer"):
            dropout.append(name)
        elif "Norm" in name:
            norm.append(name)
    return list(dict.fromkeys(dropout)), list(dict.fromkeys(norm))


def _prepare(probe_input: ModelModeInput) -> Dict[str, Any]:
    layers = [str(name) for name in probe_input.layers or []]
    if not all(name.replace("/", "").replace(".", "").replace("_", "").isalnum() for name in layers):
        raise Refused("unexpected layer names")
    dropout, norm = _kinds(layers)
    # a library model's layers (resnet50: BatchNorm, no Dropout) are not visible: the probe then
    # uses both kinds and says that it does
    shown = bool(dropout or norm) and "BatchNorm/Dropout" not in layers
    if not shown:
        dropout, norm = ["Dropout"], ["BatchNorm"]
    return {
        "dropout": bool(dropout),
        "norm": bool(norm),
        "names": dropout + norm,
        "shown": shown,
        "model": str(probe_input.model or "the model"),
    }


def _build(request: Dict[str, Any]):
    import torch

    torch.manual_seed(0)
    layers: List[Any] = [torch.nn.Linear(16, 32)]
    if request["norm"]:
        layers.append(torch.nn.BatchNorm1d(32))
    layers.append(torch.nn.ReLU())
    if request["dropout"]:
        layers.append(torch.nn.Dropout(0.5))
    layers.append(torch.nn.Linear(32, 4))
    model = torch.nn.Sequential(*layers)
    norm = next((m for m in model if isinstance(m, torch.nn.BatchNorm1d)), None)
    return model, norm


def _intro(request: Dict[str, Any]) -> str:
    names = " and ".join(request["names"])
    if request["shown"]:
        return f"with {names} layers like {request['model']}'s, "
    return f"{request['model']}'s layers are not visible here; with Dropout and BatchNorm layers (whichever it has), "


class EvalModeMissingProbe(Probe):
    code = "NNL501"
    input_type = ModelModeInput

    def prepare(self, probe_input: ModelModeInput) -> Dict[str, Any]:
        return _prepare(probe_input)

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        import torch

        model, norm = _build(request)
        x = torch.randn(8, 16, generator=torch.Generator().manual_seed(1)) * 2 + 1
        model.train()
        before = norm.running_mean.clone() if norm is not None else None
        with torch.no_grad():
            first, second = model(x), model(x)
        moved = float((norm.running_mean - before).abs().max()) if norm is not None else 0.0
        model.eval()
        with torch.no_grad():
            eval_first, eval_second = model(x), model(x)
        calls_differ = float((first - second).abs().max())
        from_eval = float((first - eval_first).abs().max())
        eval_differ = float((eval_first - eval_second).abs().max())
        parts = []
        if request["dropout"]:
            parts.append(f"two no_grad calls on the same input differ by {calls_differ:.3g} (max abs)")
        if request["norm"]:
            parts.append(f"BatchNorm's running mean moved by {moved:.3g}")
        parts.append(f"the outputs differ from evaluation mode by {from_eval:.3g}")
        evidence = f"{_intro(request)}in training mode " + ", ".join(parts) + f"; in evaluation mode two calls differ by {eval_differ:.3g}"
        if (calls_differ > 1e-6 or moved > 1e-6 or from_eval > 1e-6) and eval_differ == 0.0:
            return "confirmed", evidence
        return "not-confirmed", evidence


class TrainModeNotRestoredProbe(Probe):
    code = "NNL502"
    input_type = ModelModeInput

    def prepare(self, probe_input: ModelModeInput) -> Dict[str, Any]:
        return _prepare(probe_input)

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        import copy

        import torch
        import torch.nn.functional as F

        base, _ = _build(request)
        generator = torch.Generator().manual_seed(2)
        batches = [(torch.randn(16, 16, generator=generator) * 2 + 1, torch.randint(0, 4, (16,), generator=generator)) for _ in range(STEPS + 1)]

        def after_validation(restore: bool):
            model = copy.deepcopy(base)
            norm = next((m for m in model if isinstance(m, torch.nn.BatchNorm1d)), None)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            model.train()
            x, y = batches[0]
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            model.eval()  # the validation
            with torch.no_grad():
                model(x)
            if restore:
                model.train()
            before = norm.running_mean.clone() if norm is not None else None
            differ = 0.0
            for x, y in batches[1:]:
                first = model(x)
                differ = max(differ, float((first - model(x)).detach().abs().max()))
                optimizer.zero_grad()
                F.cross_entropy(first, y).backward()
                optimizer.step()
            moved = float((norm.running_mean - before).abs().max()) if norm is not None else 0.0
            return differ, moved

        stale_differ, stale_moved = after_validation(False)
        fresh_differ, fresh_moved = after_validation(True)
        parts, restored = [], []
        if request["dropout"]:
            parts.append(f"two training forwards on the same input differ by {stale_differ:.3g} (dropout off)")
            restored.append(f"they differ by {fresh_differ:.3g}")
        if request["norm"]:
            parts.append(f"BatchNorm's running mean moved by {stale_moved:.3g} over {STEPS} steps")
            restored.append(f"the running mean moves by {fresh_moved:.3g}")
        evidence = (
            f"{_intro(request)}after eval() and no train(), " + " and ".join(parts)
            + "; with train() restored " + " and ".join(restored)
        )
        frozen = stale_differ == 0.0 and stale_moved == 0.0
        alive = (request["dropout"] and fresh_differ > 1e-6) or (request["norm"] and fresh_moved > 1e-6)
        return ("confirmed" if frozen and alive else "not-confirmed"), evidence
