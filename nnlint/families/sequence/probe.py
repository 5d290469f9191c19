"""NNL401-NNL404 probes: replay the flagged window expressions on a `torch.arange` sequence.

The base sequence is replaced by positions (`arange`, one time axis, every other axis of size 2,
each value encoding its own position), the code's own slices, rolls and paddings are applied to it
for the input and for the target, the slices taken of the logits are applied to the input side,
and a model that shifts labels internally is simulated. Comparing the two results position by
position shows which token each position is really trained to predict.

Names the windows need are bound from module constants and defaults where the code has them;
names only known when the script runs (an index `i`, a length `T` given on the command line) are
bound to small distinct values and the evidence says which. A window that needs code of the
user's module is never evaluated: the probe is inconclusive and names it.
"""

from __future__ import annotations

import ast
from typing import Any, Dict, List, Tuple

from nnlint.families.sequence.contracts import SequenceWindowsInput
from nnlint.runtime.probe import Probe
from nnlint.runtime.vouch import Refused, runtime_placeholder, safe_builtins, substitute, vouch_expression

SEQ = "__seq__"
SMALL_VALUES = (3, 5, 7, 11, 13, 17, 19, 23, 29, 31)
MIN_LENGTH = 64
MAX_LENGTH = 1 << 20


def _integers(source: str) -> List[int]:
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        return []
    return [
        abs(node.value) for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, int)
    ]


def _positions(count: int) -> str:
    return f"{count} position{'s' if count != 1 else ''}"


def _subscript_rank(source: str) -> int:
    """How many axes a subscript names (ellipsis aside): `x[:, 1:]` -> 2."""
    try:
        node = ast.parse(source, mode="eval").body
    except SyntaxError:
        return 1
    if not isinstance(node, ast.Subscript):
        return 1
    elements = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    return sum(1 for element in elements if not (isinstance(element, ast.Constant) and element.value is Ellipsis))


class _SequenceProbe(Probe):
    input_type = SequenceWindowsInput

    def prepare(self, probe_input: SequenceWindowsInput) -> Dict[str, Any]:
        runtime: List[str] = []
        sides = {}
        rank = 1
        for side in ("input", "target"):
            steps = getattr(probe_input, side)
            if steps is None:
                raise Refused(f"the {side} window is built in a way the probe cannot replay")
            prepared = []
            for step in steps:
                kind = step["kind"]
                if kind == "pad":
                    prepared.append(dict(step))
                    continue
                if kind == "view":
                    # the windows are taken of a reshaped tensor: that tensor is the base
                    rank = max(rank, step["rank"])
                    continue
                fragment = substitute(step["source"], step["base"], SEQ)
                names = dict(step["names"])
                names[step["base"]] = {"kind": "value", "source": SEQ}  # len(source) in a bound is the sliced value's
                vouched = vouch_expression(fragment, names, {SEQ: SEQ})
                runtime.extend(name for name in vouched.runtime_names if name not in runtime)
                own_rank = _subscript_rank(vouched.source) - step["batch_axes"] - (1 if kind == "logits" else 0)
                rank = max(rank, own_rank)
                prepared.append({"kind": kind, "source": vouched.source, "batch_axes": step["batch_axes"]})
            sides[side] = prepared
        axis = probe_input.axis
        batch_axes = probe_input.batch_axes
        if axis is None:
            # single positions picked out of the sequence (`inp[c]`): compare the picked tokens
            base_axis = probe_input.selected_axis
        else:
            base_axis = axis - batch_axes if axis >= 0 else axis
            if axis >= 0 and base_axis < 0:
                raise Refused("the windows differ along a batch axis, not along the sequence")
        rank = max(rank, base_axis + 1 if base_axis >= 0 else -base_axis)
        constants = [value for side in sides.values() for step in side for value in _integers(step.get("source", ""))]
        bound_total = sum(SMALL_VALUES[index % len(SMALL_VALUES)] for index in range(len(runtime)))
        length = min(MAX_LENGTH, max(MIN_LENGTH, 4 * (sum(constants) + bound_total)))
        return {
            "length": length,
            "rule": probe_input.rule,
            "input": sides["input"],
            "target": sides["target"],
            "axis": axis,
            "batch_axes": batch_axes,
            "base_axis": base_axis,
            "rank": rank,
            "model_shift": probe_input.model_shift,
            "model": probe_input.model,
            "runtime": runtime,
        }

    # -- the experiment --------------------------------------------------------------------------

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        import torch

        bound = {name: SMALL_VALUES[index % len(SMALL_VALUES)] for index, name in enumerate(sorted(request["runtime"]))}
        namespace: Dict[str, Any] = {"torch": torch, "__builtins__": safe_builtins()}
        if any("numpy" in step.get("source", "") for side in ("input", "target") for step in request[side]):
            import numpy

            namespace["numpy"] = numpy
        import math

        namespace["math"] = math
        namespace.update({runtime_placeholder(name): value for name, value in bound.items()})
        self.length = request["length"]
        base = self._base(torch, request["rank"], request["base_axis"], self.length)
        values = []
        for side in ("input", "target"):
            value, batch = self._replay(torch, namespace, base, request[side])
            values.append((value, batch))
        inputs, targets = self._align_batch(torch, values, request["batch_axes"])
        axis = request["axis"]
        shift = request["model_shift"]
        if axis is None:
            inputs, targets, axis, shift = inputs.reshape(1, -1), targets.reshape(1, -1), -1, 0
        if shift:
            length = inputs.shape[axis]
            inputs = inputs.narrow(axis, 0, length - shift)
            targets = targets.narrow(axis, shift, targets.shape[axis] - shift)
        note = ""
        if bound:
            shown = ", ".join(f"{name} = {value}" for name, value in bound.items())
            note = f"with {shown} (only known when the script runs): "
        return self._verdict(torch, request, inputs, targets, axis, note)

    @staticmethod
    def _base(torch, rank: int, base_axis: int, length: int):
        time = base_axis if base_axis >= 0 else rank + base_axis
        shape = [2] * rank
        shape[time] = length
        positions = torch.arange(length).view([length if d == time else 1 for d in range(rank)])
        others = torch.arange(2 ** (rank - 1)).view([1 if d == time else 2 for d in range(rank)]) * length
        return (positions + others).expand(shape).contiguous()

    def _replay(self, torch, namespace, base, steps):
        value = base
        batch = 0
        for step in steps:
            while batch < step["batch_axes"]:
                value = value.unsqueeze(0)
                batch += 1
            kind = step["kind"]
            if kind == "pad":
                value = self._pad(torch, value, step["axis"], step["before"], step["after"])
                continue
            scope = dict(namespace)
            if kind == "logits":
                scope[SEQ] = value.unsqueeze(-1)
                value = eval(step["source"], scope)  # noqa: S307 - vouched fragment, restricted namespace
                value = value.squeeze(-1)
            else:
                scope[SEQ] = value
                value = eval(step["source"], scope)  # noqa: S307 - vouched fragment, restricted namespace
            if not isinstance(value, torch.Tensor):
                value = torch.as_tensor(value)
        return value, batch

    @staticmethod
    def _pad(torch, value, axis, before, after):
        pieces = []
        if before:
            shape = list(value.shape)
            shape[axis] = before
            pieces.append(torch.full(shape, -1, dtype=value.dtype))
        pieces.append(value)
        if after:
            shape = list(value.shape)
            shape[axis] = after
            pieces.append(torch.full(shape, -1, dtype=value.dtype))
        return torch.cat(pieces, dim=axis)

    @staticmethod
    def _align_batch(torch, values, batch_axes):
        aligned = []
        for value, batch in values:
            while batch < batch_axes:
                value = value.unsqueeze(0)
                batch += 1
            aligned.append(value)
        return aligned[0], aligned[1]

    def _verdict(self, torch, request, inputs, targets, axis, note) -> Tuple[str, str]:
        length_in = inputs.shape[axis]
        length_target = targets.shape[axis]
        if length_in != length_target:
            evidence = f"{note}the input window has {length_in} positions and the target window {length_target}"
            return ("confirmed", evidence) if request["rule"] == "NNL403" else ("not-confirmed", evidence)
        rows_in = inputs.movedim(axis, -1).reshape(-1, length_in)
        rows_target = targets.movedim(axis, -1).reshape(-1, length_target)
        if rows_in.shape != rows_target.shape:
            shapes = f"{tuple(inputs.shape)} and {tuple(targets.shape)}"
            return "inconclusive", f"{note}the input and target windows have different shapes {shapes}"
        real = (rows_in >= 0) & (rows_target >= 0)
        if not bool(real.any()):
            return "inconclusive", f"{note}the windows are empty"
        length = self.length
        same_row = (rows_in // length) == (rows_target // length)
        offset = (rows_target % length) - (rows_in % length)
        offset = torch.where(same_row, offset, torch.full_like(offset, -length))
        offsets = offset[real]
        count = int(offsets.numel())
        return self.judge(request, offsets, count, rows_in, rows_target, real, note)

    def judge(self, request, offsets, count, rows_in, rows_target, real, note) -> Tuple[str, str]:
        raise NotImplementedError

    def _summary(self, offsets, count) -> str:
        values, counts = offsets.unique(return_counts=True)
        order = counts.argsort(descending=True)
        parts = []
        for index in order[:3].tolist():
            value = int(values[index])
            label = f"t{value:+d}" if value > -self.length else "another row"
            parts.append(f"{label} at {int(counts[index])} of {count}")
        return ", ".join(parts)


class NotShiftedProbe(_SequenceProbe):
    code = "NNL401"

    def judge(self, request, offsets, count, rows_in, rows_target, real, note):
        same = int((offsets == 0).sum())
        if same == count:
            return "confirmed", (
                f"{note}target[t] == input[t] at 100% of {_positions(count)}: every position is trained on the "
                f"token it already sees (a next-token target needs target[t] == input[t+1])"
            )
        summary = self._summary(offsets, count)
        return "not-confirmed", f"{note}the target of position t is input token {summary} positions"


class DoubleShiftProbe(_SequenceProbe):
    code = "NNL402"

    def judge(self, request, offsets, count, rows_in, rows_target, real, note):
        two = int((offsets == 2).sum())
        if two == count:
            return "confirmed", (
                f"{note}simulating {request['model']}'s internal shift of the labels by 1, the effective target of "
                f"position t is input token t+2 at 100% of {_positions(count)}"
            )
        return "not-confirmed", (
            f"{note}simulating the internal shift, the effective target of position t is input token "
            f"{self._summary(offsets, count)} positions"
        )


class MisalignedProbe(_SequenceProbe):
    code = "NNL403"

    def judge(self, request, offsets, count, rows_in, rows_target, real, note):
        values = offsets.unique()
        if values.numel() == 1 and int(values[0]) != 1:
            value = int(values[0])
            return "confirmed", (
                f"{note}target[t] == input token t{value:+d} at 100% of {_positions(count)} "
                f"(a next-token target is t+1)"
            )
        summary = self._summary(offsets, count)
        return "not-confirmed", f"{note}the target of position t is input token {summary} positions"


class RollWraparoundProbe(_SequenceProbe):
    code = "NNL404"

    def judge(self, request, offsets, count, rows_in, rows_target, real, note):
        wrapped = offsets != 1
        count_wrapped = int(wrapped.sum())
        if count_wrapped and int((offsets == 1).sum()) == count - count_wrapped:
            rows, length = rows_in.shape
            last_in = int(rows_in[0, -1] % self.length)
            last_target = int(rows_target[0, -1] % self.length) if bool(real[0, -1]) else None
            where = (
                f"the target of the last position (input token {last_in}) is token {last_target}"
                if last_target is not None
                else "the last position's target wraps around"
            )
            return "confirmed", (
                f"{note}{where}, the start of the sequence: {count_wrapped} of {count} positions "
                f"({count_wrapped} of {rows} sequences' last positions) are trained on a wrapped target, all others "
                f"on the next token"
            )
        return "not-confirmed", f"{note}no position wraps around: {self._summary(offsets, count)} positions"
