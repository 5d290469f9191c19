"""Probes for the gradient family: each rebuilds the flagged order of operations on a tiny model (a
Linear layer on synthetic data, plain SGD) and measures what it does to the update.

NNL102: the parameters after a few steps with the flagged clip order equal those of unclipped
training, while clipping between backward and step changes them.
NNL103: the norm the clip measures is the true norm times the loss scale, and the applied update
is that many times smaller than with unscale_() first.
NNL104: zero_grad between backward and step leaves the parameters unchanged; never clearing makes
the applied gradient grow with the number of steps.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Tuple

from nnlint.families.gradients.contracts import ClipInput, ClipMisorderedInput, ClipWhileScaledInput, ZeroGradMisplacedInput
from nnlint.runtime.probe import Probe
from nnlint.runtime.vouch import Refused, safe_builtins, vouch_expression

STEPS = 3
REPRESENTATIVE_LIMIT = 1.0
DEFAULT_SCALE = 65536.0


def _vouch_limit(probe_input: ClipInput, allow_runtime: bool) -> Tuple[str, list, str]:
    """(vouched source of the threshold, runtime placeholders, note for the evidence)."""
    limit = probe_input.limit
    if not limit:
        raise Refused("the clipping threshold is not given")
    vouched = vouch_expression(limit, probe_input.names)
    unresolved = sorted(set(vouched.runtime_names))
    if unresolved and not allow_runtime:
        listed = ", ".join(unresolved)
        raise Refused(f"the threshold {limit} needs {listed}, which is only known when the script runs")
    if not unresolved:
        return vouched.source, [], ""
    # any finite threshold shows the effect: the whole threshold takes a representative value
    listed = ", ".join(unresolved)
    note = (
        f"{listed} {'is' if len(unresolved) == 1 else 'are'} only known when the script runs; shown with "
        f"{limit} = {REPRESENTATIVE_LIMIT:g}: "
    )
    return repr(REPRESENTATIVE_LIMIT), [], note


def _evaluate_limit(request: Dict[str, Any]) -> float:
    import torch

    namespace: Dict[str, Any] = {"torch": torch, "math": math, "__builtins__": safe_builtins()}
    value = eval(request["limit"], namespace)  # noqa: S307 - vouched fragment, restricted namespace
    return float(torch.as_tensor(value).flatten()[0])


def _clips_nothing(request: Dict[str, Any], limit: float) -> Tuple[str, str]:
    return "not-confirmed", f"the threshold {request['limit_text']} evaluates to {limit:g}, which clips nothing"


def _setup(seed: int = 0):
    import torch

    generator = torch.Generator().manual_seed(seed)
    model = torch.nn.Linear(8, 4)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    batches = [
        (torch.randn(16, 8, generator=generator), torch.randn(16, 4, generator=generator) * 3) for _ in range(STEPS)
    ]
    return model, batches


def _flat(model):
    import torch

    return torch.cat([parameter.detach().flatten() for parameter in model.parameters()])


def _gradient_size(model, function: str) -> float:
    import torch

    grads = [p.grad.flatten() for p in model.parameters() if p.grad is not None]
    flat = torch.cat(grads)
    return float(flat.abs().max()) if function == "value" else float(flat.norm())


def _clip(model, function: str, limit: float):
    import torch

    if function == "value":
        torch.nn.utils.clip_grad_value_(model.parameters(), limit)
        return None
    return torch.nn.utils.clip_grad_norm_(model.parameters(), limit)


class ClipMisorderedProbe(Probe):
    code = "NNL102"
    input_type = ClipMisorderedInput

    def prepare(self, probe_input: ClipMisorderedInput) -> Dict[str, Any]:
        limit, placeholders, note = _vouch_limit(probe_input, allow_runtime=True)
        return {
            "order": probe_input.order,
            "function": probe_input.function,
            "limit": limit,
            "limit_text": probe_input.limit,
            "runtime_placeholders": placeholders,
            "note": note,
        }

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        import copy

        import torch
        import torch.nn.functional as F

        limit = _evaluate_limit(request)
        function = request["function"]
        if not math.isfinite(limit) or limit <= 0:
            return _clips_nothing(request, limit)
        base, batches = _setup()
        # scale the loss so that the threshold bites: the first gradient is 10x the limit
        probe = copy.deepcopy(base)
        F.mse_loss(probe(batches[0][0]), batches[0][1]).backward()
        factor = 10 * limit / max(_gradient_size(probe, function), 1e-12)

        def train(order: str):
            model = copy.deepcopy(base)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            for x, y in batches:
                optimizer.zero_grad()
                loss = factor * F.mse_loss(model(x), y)
                if order == "before_backward":
                    _clip(model, function, limit)
                loss.backward()
                if order == "correct":
                    _clip(model, function, limit)
                optimizer.step()
                if order == "after_step":
                    _clip(model, function, limit)
            return _flat(model) - _flat(base)

        flagged, unclipped, correct = train(request["order"]), train("none"), train("correct")
        difference = float((flagged - unclipped).abs().max())
        change = float((correct - unclipped).norm() / unclipped.norm())
        where = "before backward" if request["order"] == "before_backward" else "after step"
        name = "clip_value" if function == "value" else "max_norm"
        if difference <= 1e-12 * float(unclipped.abs().max()) and change > 1e-3:
            return "confirmed", (
                f"{request['note']}with the flagged order ({where}) the {STEPS} updates equal unclipped training "
                f"(max difference {difference:.1g}); clipping between backward and step at {name}={limit:g} "
                f"changes them by {change:.0%}"
            )
        return "not-confirmed", (
            f"{request['note']}with the flagged order ({where}) the updates differ from unclipped training by "
            f"{difference:.3g}; clipping between backward and step changes them by {change:.0%}"
        )


class ClipWhileScaledProbe(Probe):
    code = "NNL103"
    input_type = ClipWhileScaledInput

    def prepare(self, probe_input: ClipWhileScaledInput) -> Dict[str, Any]:
        limit, _, _ = _vouch_limit(probe_input, allow_runtime=False)
        scale = None
        note = ""
        if probe_input.init_scale:
            try:
                vouched = vouch_expression(probe_input.init_scale, probe_input.scale_names)
                if not vouched.runtime_names:
                    scale = vouched.source
            except Refused as refusal:
                note = f"init_scale not evaluated ({refusal}); "
            if scale is None and not note:
                note = "init_scale is only known when the script runs; "
        if scale is None:
            note += f"shown with the default scale {DEFAULT_SCALE:g}: " if note else ""
        return {
            "function": probe_input.function,
            "limit": limit,
            "limit_text": probe_input.limit,
            "runtime_placeholders": [],
            "scale": scale,
            "note": note,
        }

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        import copy

        import torch
        import torch.nn.functional as F

        limit = _evaluate_limit(request)
        function = request["function"]
        if not math.isfinite(limit) or limit <= 0:
            return _clips_nothing(request, limit)
        scale = DEFAULT_SCALE
        if request["scale"]:
            scale = float(eval(request["scale"], {"torch": torch, "math": math, "__builtins__": safe_builtins()}))  # noqa: S307
        base, batches = _setup()
        x, y = batches[0]
        probe = copy.deepcopy(base)
        F.mse_loss(probe(x), y).backward()
        factor = 4 * limit / max(_gradient_size(probe, function), 1e-12)

        def step(unscale_first: bool):
            model = copy.deepcopy(base)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            scaler = torch.amp.GradScaler("cpu", init_scale=scale)
            optimizer.zero_grad()
            scaler.scale(factor * F.mse_loss(model(x), y)).backward()
            if unscale_first:
                scaler.unscale_(optimizer)
            seen = _gradient_size(model, function)
            _clip(model, function, limit)
            scaler.step(optimizer)
            scaler.update()
            return seen, float((_flat(model) - _flat(base)).norm())

        seen_scaled, update_scaled = step(unscale_first=False)
        seen_true, update_correct = step(unscale_first=True)
        measured = "gradient norm" if function == "norm" else "largest gradient element"
        ratio = update_correct / max(update_scaled, 1e-30)
        scaled_as_expected = abs(seen_scaled - seen_true * scale) <= 1e-3 * seen_true * scale
        if scaled_as_expected and ratio > 10:
            return "confirmed", (
                f"{request['note']}the clip measured a {measured} of {seen_scaled:.6g} (true {seen_true:.3g} x scale "
                f"{scale:g}); the applied update was {update_scaled:.2g} instead of {update_correct:.2g} with "
                f"unscale_() first ({ratio:.0f}x smaller)"
            )
        return "not-confirmed", (
            f"{request['note']}the clip measured {seen_scaled:.6g} (true {seen_true:.3g}); the update was "
            f"{update_scaled:.2g} against {update_correct:.2g} with unscale_() first"
        )


class ZeroGradMisplacedProbe(Probe):
    code = "NNL104"
    input_type = ZeroGradMisplacedInput

    def prepare(self, probe_input: ZeroGradMisplacedInput) -> Dict[str, Any]:
        form = probe_input.form
        if form not in ("cleared_before_step", "never_cleared"):
            raise Refused(f"unknown form {form!r}")
        return {"form": form}

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        if request["form"] == "cleared_before_step":
            return self._cleared_before_step()
        return self._never_cleared()

    def _cleared_before_step(self) -> Tuple[str, str]:
        import copy

        import torch
        import torch.nn.functional as F

        base, batches = _setup()
        steps = 5

        def train(misplaced: bool) -> float:
            model = copy.deepcopy(base)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
            for index in range(steps):
                x, y = batches[index % len(batches)]
                if not misplaced:
                    optimizer.zero_grad()
                F.mse_loss(model(x), y).backward()
                if misplaced:
                    optimizer.zero_grad()
                optimizer.step()
            return float((_flat(model) - _flat(base)).norm())

        moved, correct = train(misplaced=True), train(misplaced=False)
        if moved == 0.0 and correct > 0.0:
            return "confirmed", (
                f"after {steps} steps the parameters changed by 0 (with zero_grad before backward: {correct:.3g})"
            )
        return "not-confirmed", f"after {steps} steps the parameters changed by {moved:.3g} (correct order: {correct:.3g})"

    def _never_cleared(self) -> Tuple[str, str]:
        import copy

        import torch
        import torch.nn.functional as F

        base, batches = _setup()
        x, y = batches[0]
        steps = 10

        def applied(clear: bool) -> float:
            model = copy.deepcopy(base)
            optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
            first = None
            for _ in range(steps):
                if clear:
                    optimizer.zero_grad()
                F.mse_loss(model(x), y).backward()
                norm = float(torch.cat([p.grad.flatten() for p in model.parameters()]).norm())
                first = norm if first is None else first
                optimizer.step()
            return norm / first

        growth, cleared = applied(clear=False), applied(clear=True)
        if growth > steps / 2:
            return "confirmed", (
                f"after {steps} steps the applied gradient norm is {growth:.1f}x the per-step gradient norm; "
                f"clearing each step keeps it at {cleared:.1f}x"
            )
        return "not-confirmed", f"after {steps} steps the applied gradient norm is {growth:.1f}x the first one"
