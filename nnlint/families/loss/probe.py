"""NNL101 probe: evaluate the flagged cap on synthetic losses that straddle the bound, run
backward, and count the losses that received exactly zero gradient."""

from __future__ import annotations

import math
from typing import Any, Dict, Tuple

from nnlint.families.loss.contracts import LossClippedInput
from nnlint.runtime.probe import Probe
from nnlint.runtime.vouch import runtime_placeholder, safe_builtins, substitute, vouch_expression, vouch_statement

LOSS = "__loss__"
SAMPLES = 64
REPRESENTATIVE_VALUE = 1.0


class LossClippedProbe(Probe):
    code = "NNL101"
    input_type = LossClippedInput

    def prepare(self, probe_input: LossClippedInput) -> Dict[str, Any]:
        names = probe_input.names
        mode = "exec" if probe_input.fragment_kind == "statement" else "eval"
        operand = probe_input.operand
        # the flagged loss is replaced by synthetic losses, wherever it appears
        substitutions = {operand: LOSS, LOSS: LOSS}
        fragment = substitute(probe_input.fragment, operand, LOSS, mode)
        vouch = vouch_statement if mode == "exec" else vouch_expression
        vouched_fragment = vouch(fragment, names, substitutions)
        bound = vouch_expression(probe_input.bound, names, substitutions)
        unresolved = sorted(set(vouched_fragment.runtime_names) | set(bound.runtime_names))
        note = ""
        if unresolved:
            listed = ", ".join(unresolved)
            note = (
                f"{listed} {'is' if len(unresolved) == 1 else 'are'} only known when the script runs; any finite "
                f"bound has the same effect, shown with {listed} = {REPRESENTATIVE_VALUE:g}: "
            )
        return {
            "fragment": vouched_fragment.source,
            "mode": mode,
            "bound": bound.source,
            "bound_text": probe_input.bound,
            "runtime_placeholders": [runtime_placeholder(name) for name in unresolved],
            "per_sample": bool(probe_input.per_sample),
            "note": note,
        }

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        import torch

        namespace: Dict[str, Any] = {"torch": torch, "math": math, "__builtins__": safe_builtins()}
        if "numpy" in request["fragment"] + request["bound"]:
            import numpy

            namespace["numpy"] = numpy
        namespace.update({placeholder: REPRESENTATIVE_VALUE for placeholder in request["runtime_placeholders"]})
        # the bound may be built from the loss itself (torch.full_like(loss, cap)): a scalar stands in
        bound_value = eval(request["bound"], dict(namespace, **{LOSS: torch.ones((), dtype=torch.float64)}))  # noqa: S307
        bound = float(torch.as_tensor(bound_value).flatten()[0])
        if not math.isfinite(bound):
            return "not-confirmed", f"the bound {request['bound_text']} evaluates to {bound}, which caps nothing"
        generator = torch.Generator().manual_seed(0)
        spread = abs(bound) or 1.0
        losses = bound + (torch.rand(SAMPLES, generator=generator, dtype=torch.float64) * 2 - 1) * spread
        if request["per_sample"]:
            gradient = self._per_sample_gradient(request, namespace, losses)
            reference = torch.full_like(losses, 1.0 / SAMPLES)
            unit = "per-sample losses"
        else:
            gradient = torch.stack([self._one_step_gradient(request, namespace, value) for value in losses])
            reference = torch.ones_like(losses)
            unit = "steps"
        zero = int((gradient == 0).sum())
        ratio = float(gradient.norm() / reference.norm())
        shown = f"{bound:g}"
        if zero == 0:
            return "not-confirmed", (
                f"{request['note']}none of {SAMPLES} synthetic {unit} straddling the bound {shown} lost its gradient"
            )
        return "confirmed", (
            f"{request['note']}{zero} of {SAMPLES} synthetic {unit} straddling the bound {shown} "
            f"({zero / SAMPLES:.0%}) got exactly zero gradient; gradient norm {ratio:.2f}x that of the uncapped loss"
        )

    @staticmethod
    def _evaluate(request: Dict[str, Any], namespace: Dict[str, Any], loss):
        scope = dict(namespace, **{LOSS: loss})
        if request["mode"] == "exec":
            exec(request["fragment"], scope)  # noqa: S102 - vouched fragment, restricted namespace
            return scope[LOSS]
        return eval(request["fragment"], scope)  # noqa: S307 - vouched fragment, restricted namespace

    def _per_sample_gradient(self, request, namespace, losses):
        leaf = losses.clone().requires_grad_(True)
        capped = self._evaluate(request, namespace, leaf * 1.0)
        capped.mean().backward()
        return leaf.grad

    def _one_step_gradient(self, request, namespace, value):
        import torch

        leaf = value.clone().requires_grad_(True)
        capped = self._evaluate(request, namespace, leaf * 1.0)
        if isinstance(capped, torch.Tensor) and capped.requires_grad:
            capped.sum().backward()
        # a Python number back (builtin min returned the bound) carries no gradient at all
        return leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
