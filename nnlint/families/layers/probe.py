"""Probes of the model layers family (NNL503-NNL507).

Each builds a small experiment from the flagged fragment where nnlint can vouch for it (layer
constructions, the dropout probability, the softmax call) and from the dimension order static
analysis read, on synthetic tensors:

- NNL503: the dropout call inside a module in eval mode, called twice on the same input.
- NNL504: the listed layers kept in a plain list on a module, counted in model.parameters().
- NNL505: the gradient of the loss through softmax/sigmoid vs on the raw logits, and the lowest
  loss a perfectly confident prediction reaches.
- NNL506: the view/reshape against permute on an arange tensor with distinct dimension sizes.
- NNL507: the bias gradient of the layer after BatchNorm, against its weight gradient.
"""

from __future__ import annotations

import math
import re
from typing import Any, Dict, List, Optional, Tuple

from nnlint.families.layers.contracts import (
    BiasBeforeBatchNormInput,
    FunctionalDropoutInput,
    ProbabilitiesIntoLogitsInput,
    UnregisteredSubmodulesInput,
    ViewAsPermuteInput,
)
from nnlint.runtime.probe import Probe
from nnlint.runtime.vouch import Refused, runtime_placeholder, safe_builtins, substitute, vouch_expression

# Representative values for names only known when the script runs.
_FRACTION_NAME = re.compile(r"drop|rate|prob|eps|momentum|^p$|_p$|ratio", re.IGNORECASE)
REPRESENTATIVE_SIZE = 8
REPRESENTATIVE_FRACTION = 0.1
REPRESENTATIVE_DROPOUT = 0.5


def _representative(name: str) -> float:
    return REPRESENTATIVE_FRACTION if _FRACTION_NAME.search(name.split(".")[-1]) else REPRESENTATIVE_SIZE


def _vouched(source: str, names: Dict[str, Any]) -> Tuple[str, Dict[str, float], str]:
    """(vouched source, runtime placeholder values, note naming the stand-in values)."""
    vouched = vouch_expression(source, names)
    values: Dict[str, float] = {}
    shown = []
    for name in sorted(set(vouched.runtime_names)):
        value = _representative(name)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        values[runtime_placeholder(name)] = value
        shown.append(f"{name} = {value:g}")
    note = f"shown with {', '.join(shown)} (only known when the script runs); " if shown else ""
    return vouched.source, values, note


def _one_line(source: str) -> str:
    return " ".join(source.split())


def _namespace(values: Dict[str, Any]) -> Dict[str, Any]:
    import torch

    namespace: Dict[str, Any] = {"torch": torch, "math": math, "__builtins__": safe_builtins()}
    namespace.update(values)
    return namespace


def _evaluate(source: str, values: Dict[str, Any]):
    return eval(source, _namespace(values))  # noqa: S307 - vouched fragment, restricted namespace


# --- NNL503 -----------------------------------------------------------------------------------

DROPOUT_INPUTS = {
    "dropout": (16, 256), "dropout1d": (16, 32, 16), "dropout2d": (16, 32, 8, 8), "dropout3d": (8, 16, 4, 4, 4),
    "alpha_dropout": (16, 256), "feature_alpha_dropout": (16, 32, 8, 8),
}


class FunctionalDropoutProbe(Probe):
    code = "NNL503"
    input_type = FunctionalDropoutInput

    def prepare(self, probe_input: FunctionalDropoutInput) -> Dict[str, Any]:
        function = probe_input.function
        name = function.rsplit(".", 1)[-1]
        if name not in DROPOUT_INPUTS:
            raise Refused(f"{function} is not a dropout function this probe knows")
        p_source = probe_input.p
        if p_source is None:
            return {"function": name, "p": "0.5", "values": {}, "note": ""}
        try:
            source, values, note = _vouched(p_source, probe_input.names)
        except Refused as refusal:
            return {
                "function": name, "p": repr(REPRESENTATIVE_DROPOUT), "values": {},
                "note": f"p = {_one_line(p_source)} is not evaluated ({refusal}); shown with p = {REPRESENTATIVE_DROPOUT:g}; ",
            }
        if values:
            # any probability only known at run time shows the effect: a representative one stands in
            values = {placeholder: REPRESENTATIVE_DROPOUT for placeholder in values}
            note = f"p = {_one_line(p_source)} is only known when the script runs, shown with p = {REPRESENTATIVE_DROPOUT:g}; "
        return {"function": name, "p": source, "values": values, "note": note}

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        import torch
        import torch.nn.functional as F

        p = float(_evaluate(request["p"], request["values"]))
        function = getattr(F, request["function"])
        note = request["note"]

        class Flagged(torch.nn.Module):
            def forward(self, x):
                return function(x, p)

        module = Flagged()
        torch.manual_seed(0)
        x = torch.rand(DROPOUT_INPUTS[request["function"]]) + 0.5
        if request["function"] in ("alpha_dropout", "feature_alpha_dropout"):
            module.train()
            out = module(x)
            changed = float((out != x).float().mean())
            if changed == 0:
                return "confirmed", (
                    f"{note}in training mode (model.train()) {request['function']}(x, p={p:g}) returned its input "
                    f"unchanged in all {x.numel()} values: the dropout never runs"
                )
            return "not-confirmed", f"{note}in training mode {changed:.0%} of the values were dropped"
        if p <= 0:
            return "not-confirmed", f"{note}p = {p:g}: the dropout drops nothing, in any mode"
        module.eval()
        first, second = module(x), module(x)
        dropped = float((first == 0).float().mean())
        disagree = float((first != second).float().mean())
        if dropped == 0 and disagree == 0:
            return "not-confirmed", f"{note}in eval mode the output equalled the input"
        return "confirmed", (
            f"{note}after model.eval(), two calls on the same input: {dropped:.0%} of the {x.numel()} values were "
            f"zeroed (the rest scaled by {1 / (1 - p):.2f}) and the two outputs disagree in {disagree:.0%} of the values"
        )


# --- NNL504 -----------------------------------------------------------------------------------


class UnregisteredSubmodulesProbe(Probe):
    code = "NNL504"
    input_type = UnregisteredSubmodulesInput

    def prepare(self, probe_input: UnregisteredSubmodulesInput) -> Dict[str, Any]:
        names = probe_input.names
        elements: List[str] = []
        values: Dict[str, Any] = {}
        notes: List[str] = []
        for source in probe_input.elements:
            try:
                vouched, element_values, note = _vouched(source, names)
            except Refused as refusal:
                stand_in = "torch.nn.Parameter(torch.zeros(8, 8))" if probe_input.parameters else "torch.nn.Linear(8, 8)"
                notes.append(f"{_one_line(source)} is not evaluated ({refusal}), shown with {stand_in} standing in; ")
                elements.append(stand_in)
                continue
            elements.append(vouched)
            values.update(element_values)
            if note and note not in notes:
                notes.append(note)
        count = probe_input.count
        repeat = None
        if count is not None and len(elements) == 1:
            try:
                vouched = vouch_expression(count, names)
                if vouched.runtime_names:
                    raise Refused(f"{count} is only known when the script runs")
                repeat = vouched.source
            except Refused:
                notes.append(f"{_one_line(count)} is shown as 2; ")
                repeat = "2"
        return {
            "attribute": probe_input.attribute,
            "container": probe_input.container,
            "elements": elements,
            "repeat": repeat,
            "values": values,
            "note": "".join(notes),
        }

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        import torch

        repeat = 1
        if request["repeat"] is not None:
            repeat = max(1, min(int(_evaluate(request["repeat"], {})), 16))
        items = [_evaluate(source, request["values"]) for source in request["elements"] for _ in range(repeat)]
        attribute = request["attribute"]

        class Holder(torch.nn.Module):
            def __init__(self, held):
                super().__init__()
                setattr(self, attribute, dict(enumerate(held)) if request["container"] == "dict" else list(held))

        def tensors_of(item):
            if isinstance(item, torch.nn.Module):
                return list(item.parameters()), list(item.buffers())
            return [item], []

        parameters = sum(p.numel() for item in items for p in tensors_of(item)[0])
        tensors = sum(len(tensors_of(item)[0]) + len(tensors_of(item)[1]) for item in items)
        model = Holder(items)
        seen = sum(p.numel() for p in model.parameters())
        saved = len(model.state_dict())
        modules = [item for item in items if isinstance(item, torch.nn.Module)]
        model.eval()
        still_training = sum(1 for item in modules if item.training)
        kind = "nn.ParameterList" if not modules else "nn.ModuleList"
        registered = torch.nn.ParameterList(items) if not modules else torch.nn.ModuleList(items)
        proper = sum(p.numel() for p in registered.parameters())
        note = request["note"]
        if parameters > 0 and seen == 0:
            evidence = (
                f"{note}model.parameters() holds 0 of the {parameters:,} parameters of the {len(items)} "
                f"{'parameters' if not modules else 'modules'} in self.{attribute} ({kind} registers all {proper:,}); "
                f"state_dict() has {saved} of their {tensors} tensors"
            )
            if modules:
                evidence += f"; after model.eval() {still_training} of {len(modules)} are still in training mode"
            return "confirmed", evidence
        if modules and still_training and saved == 0:
            return "confirmed", (
                f"{note}after model.eval(), {still_training} of the {len(modules)} modules in self.{attribute} are "
                f"still in training mode, and state_dict() has none of their {tensors} tensors"
            )
        return "not-confirmed", f"{note}the listed layers hold no parameters or state that is lost ({seen:,} parameters seen)"


# --- NNL505 -----------------------------------------------------------------------------------

LOGITS = "__logits__"
CLASSES = 10
SAMPLES = 256


class ProbabilitiesIntoLogitsLossProbe(Probe):
    code = "NNL505"
    input_type = ProbabilitiesIntoLogitsInput

    def prepare(self, probe_input: ProbabilitiesIntoLogitsInput) -> Dict[str, Any]:
        kind = probe_input.kind
        canonical = f"torch.softmax({LOGITS}, dim=1)" if kind == "softmax" else f"torch.sigmoid({LOGITS})"
        fragment, operand = probe_input.fragment, probe_input.operand
        note = ""
        source = canonical
        if fragment and operand:
            try:
                replaced = substitute(fragment, operand, LOGITS)
                vouched = vouch_expression(replaced, probe_input.names, {operand: LOGITS, LOGITS: LOGITS})
                if vouched.runtime_names:
                    raise Refused(f"{', '.join(vouched.runtime_names)} only known when the script runs")
                source = vouched.source
            except (Refused, SyntaxError) as refusal:
                note = f"{_one_line(fragment)} is not evaluated ({refusal}); shown with {canonical.replace(LOGITS, 'logits')}; "
        elif fragment:
            note = f"shown with {canonical.replace(LOGITS, 'logits')} standing in for {_one_line(fragment)}; "
        return {"kind": kind, "fragment": source, "canonical": canonical, "note": note}

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        import torch
        import torch.nn.functional as F

        generator = torch.Generator().manual_seed(0)
        logits = (torch.randn(SAMPLES, CLASSES, generator=generator, dtype=torch.float64) * 2).requires_grad_(True)
        note = request["note"]

        def squash(z):
            nonlocal note
            try:
                out = eval(request["fragment"], _namespace({LOGITS: z}))  # noqa: S307 - vouched
                if isinstance(out, torch.Tensor) and out.shape == z.shape:
                    return out
            except Exception:  # noqa: BLE001 - fall back to the canonical form
                pass
            if request["fragment"] != request["canonical"] and "standing in" not in note:
                note += f"shown with {request['canonical'].replace(LOGITS, 'logits')}; "
            request["fragment"] = request["canonical"]
            return eval(request["canonical"], _namespace({LOGITS: z}))  # noqa: S307 - fixed source

        if request["kind"] == "softmax":
            targets = torch.randint(0, CLASSES, (SAMPLES,), generator=generator)
            loss = F.cross_entropy
            perfect = F.one_hot(targets, CLASSES).double() * 30
            name = "cross_entropy"
        else:
            targets = torch.randint(0, 2, (SAMPLES, CLASSES), generator=generator).double()
            loss = F.binary_cross_entropy_with_logits
            perfect = (targets * 2 - 1) * 30
            name = "binary_cross_entropy_with_logits"
        flagged = loss(squash(logits), targets)
        (flagged_gradient,) = torch.autograd.grad(flagged, logits)
        raw = loss(logits, targets)
        (raw_gradient,) = torch.autograd.grad(raw, logits)
        ratio = float(flagged_gradient.norm() / raw_gradient.norm())
        with torch.no_grad():
            floor = float(loss(squash(perfect), targets))
            raw_floor = float(loss(perfect, targets))
        if floor - raw_floor < 1e-3:
            return "not-confirmed", f"{note}a perfectly confident prediction reaches a loss of {floor:.3f}"
        classes = f"{CLASSES} classes" if request["kind"] == "softmax" else f"{CLASSES} labels"
        return "confirmed", (
            f"{note}with {classes}, the gradient reaching the logits is {ratio:.2f}x that of {name} on the raw "
            f"logits, and even a perfectly confident prediction leaves the loss at {floor:.2f} (raw logits: {raw_floor:.2f})"
        )


# --- NNL506 -----------------------------------------------------------------------------------


class ViewAsPermuteProbe(Probe):
    code = "NNL506"
    input_type = ViewAsPermuteInput

    def prepare(self, probe_input: ViewAsPermuteInput) -> Dict[str, Any]:
        groups = probe_input.groups
        ndim = probe_input.ndim
        if ndim is None or any(group is None for group in groups):
            raise Refused("the code does not show how many dimensions the tensor has")
        return {
            "tensor": probe_input.tensor,
            "method": probe_input.method,
            "groups": groups,
            "ndim": ndim,
            "note": f"assuming {probe_input.tensor} is {ndim}-D; " if probe_input.assumed_ndim else "",
            "fragment": probe_input.fragment,
        }

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        import torch

        groups: List[List[int]] = request["groups"]
        ndim: int = request["ndim"]
        sharing: Dict[Tuple[int, ...], int] = {}
        for group in groups:
            if group:
                sharing[tuple(group)] = sharing.get(tuple(group), 0) + 1
        sizes: Dict[int, int] = {}
        next_size = 2
        argument_sizes: List[int] = []
        split: Dict[Tuple[int, ...], List[int]] = {}
        for group in groups:
            key = tuple(group)
            if not group:
                argument_sizes.append(1)
                continue
            if sharing[key] > 1:
                if len(group) != 1:
                    return "inconclusive", "several sizes share several dimensions: the split is not known"
                if key not in split:
                    parts = list(range(next_size, next_size + sharing[key]))
                    next_size += sharing[key]
                    split[key] = parts
                    sizes[group[0]] = math.prod(parts)
                argument_sizes.append(split[key].pop(0))
                continue
            for dimension in group:
                sizes[dimension] = next_size
                next_size += 1
            argument_sizes.append(math.prod(sizes[d] for d in group))
        if sorted(sizes) != list(range(ndim)):
            return "inconclusive", "the sizes do not cover every dimension of the tensor"
        shape = [sizes[d] for d in range(ndim)]
        data = torch.arange(math.prod(shape)).reshape(shape)
        order: List[int] = []
        for group in groups:
            for dimension in group:
                if dimension not in order:
                    order.append(dimension)
        viewed = data.reshape(argument_sizes)
        intended = data.permute(order).reshape(argument_sizes)
        moved = int((viewed != intended).sum())
        total = data.numel()
        tensor = request["tensor"]
        shown = "(" + ", ".join(str(s) for s in shape) + ")"
        if moved == 0:
            return "not-confirmed", f"{request['note']}on a {shown} arange tensor the {request['method']} equals the permute"
        return "confirmed", (
            f"{request['note']}on a {shown} arange tensor, `{request['fragment']}` puts {moved} of {total} values "
            f"({moved / total:.0%}) somewhere else than {tensor}.permute({', '.join(str(i) for i in order)}) does"
        )


# --- NNL507 -----------------------------------------------------------------------------------


def _canonical_layer(source: str) -> str:
    for dims in (3, 2, 1):
        if f"Conv{dims}d" in source or f"ConvTranspose{dims}d" in source:
            transpose = "Transpose" if "Transpose" in source else ""
            return f"torch.nn.Conv{transpose}{dims}d(8, 8, 3)"
    return "torch.nn.Linear(8, 8)"


def _canonical_norm(layer: str) -> str:
    for dims in (3, 2, 1):
        if f"{dims}d(" in layer:
            return f"torch.nn.BatchNorm{dims}d(8)"
    return "torch.nn.BatchNorm1d(8)"


class BiasBeforeBatchNormProbe(Probe):
    code = "NNL507"
    input_type = BiasBeforeBatchNormInput

    def prepare(self, probe_input: BiasBeforeBatchNormInput) -> Dict[str, Any]:
        names = probe_input.names
        try:
            layer, layer_values, layer_note = _vouched(probe_input.layer, names)
            norm, norm_values, norm_note = _vouched(probe_input.norm, names)
        except Refused as refusal:
            layer = _canonical_layer(probe_input.layer)
            norm = _canonical_norm(layer)
            return {
                "layer": layer, "norm": norm, "values": {},
                "note": f"the layers are not evaluated ({refusal}); shown with {layer} and {norm}; ",
            }
        values = dict(layer_values, **norm_values)
        note = layer_note if layer_note == norm_note or not norm_note else layer_note + norm_note
        return {"layer": layer, "norm": norm, "values": values, "note": note, "fallback": _canonical_layer(probe_input.layer)}

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        import torch

        note = request["note"]
        try:
            layer = _evaluate(request["layer"], request["values"])
            norm = _evaluate(request["norm"], request["values"])
            result = self._measure(layer, norm)
        except Exception as error:  # noqa: BLE001 - representative values may not fit: use a stand-in
            fallback = request.get("fallback")
            if not fallback:
                raise
            layer = _evaluate(fallback, {})
            norm = _evaluate(_canonical_norm(fallback), {})
            note += f"the flagged layers failed with representative sizes ({type(error).__name__}); shown with {fallback}; "
            result = self._measure(layer, norm)
        if result is None:
            return "inconclusive", f"{note}the layer has no bias to measure"
        bias_gradient, weight_gradient, shift = result
        ratio = bias_gradient / weight_gradient if weight_gradient else float("inf")
        evidence = (
            f"{note}in training mode the bias gradient norm is {bias_gradient:.1e} against {weight_gradient:.1e} for "
            f"the weight ({ratio:.0e}x), and adding 1.0 to every bias changes the BatchNorm output by at most {shift:.1e}"
        )
        status = "confirmed" if ratio < 1e-4 and shift < 1e-3 else "not-confirmed"
        del torch
        return status, evidence

    @staticmethod
    def _measure(layer, norm) -> Optional[Tuple[float, float, float]]:
        import torch

        if getattr(layer, "bias", None) is None:
            return None
        torch.manual_seed(0)
        layer = layer.double().train()
        norm = norm.double().train()
        if isinstance(layer, torch.nn.Linear) or isinstance(layer, torch.nn.LazyLinear):
            features = getattr(layer, "in_features", 0) or 8
            inputs = torch.randn(32, features, dtype=torch.float64)
        else:
            dims = len(layer.kernel_size)
            channels = getattr(layer, "in_channels", 0) or 8
            reach = max(k * d for k, d in zip(layer.kernel_size, layer.dilation)) + 2 * max(layer.stride)
            spatial = max(6 if dims == 3 else 10, reach)
            inputs = torch.randn(4, channels, *([spatial] * dims), dtype=torch.float64)
        out = norm(layer(inputs))
        weights = torch.randn_like(out)
        (out * weights).sum().backward()
        bias_gradient = float(layer.bias.grad.norm())
        weight_gradient = float(layer.weight.grad.norm())
        with torch.no_grad():
            before = norm(layer(inputs))
            layer.bias += 1.0
            after = norm(layer(inputs))
        return bias_gradient, weight_gradient, float((before - after).abs().max())
