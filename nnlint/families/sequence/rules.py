"""Sequence family: next-token targets that do not line up with the model's inputs.

NNL401 target-not-shifted: the target holds the same positions as the input, for a model that does
not shift internally: the model learns to copy.
NNL402 target-double-shift: labels already shifted by one, given to a model that shifts them again
(Hugging Face causal LMs): it learns to predict the token after next.
NNL403 target-misaligned: input and target windows of one sequence whose lengths differ or whose
offset is not exactly +1.
NNL404 target-roll-wraparound: targets made with torch.roll: the last position's target is the
sequence's first token.

Facts: `nnlint.families.sequence.windows` (the normal form), `nnlint.families.sequence.sequence_windows` (windows in
code), `nnlint.families.sequence.objectives` (where inputs and targets meet, and what the model is).
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Set, Tuple

import libcst as cst

from nnlint.analysis.context import brief_text
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.index import Statement
from nnlint.analysis.names import callee_terminal_name, dotted_name, method_receiver
from nnlint.analysis.remote import RemoteValues
from nnlint.analysis.values import FixedValues
from nnlint.check import Check, Elsewhere
from nnlint.contracts import Rule
from nnlint.families.sequence.contracts import DOUBLE_SHIFT, MISALIGNED, NOT_SHIFTED, ROLL_WRAPAROUND, SequenceWindowsInput
from nnlint.families.sequence.objectives import TARGET_KEYWORDS, Objective, TokenObjectives
from nnlint.families.sequence.sequence_windows import TRANSPARENT_METHODS
from nnlint.families.sequence.windows import Alignment, Window, render_pair, render_window


PREDICTION_CANDIDATES = frozenset({"cross_entropy", "nll_loss", "Trainer"})
# An index drawn at run time (random.randint(...)): the probe binds it to a small value.
RANDOM_DRAW = re.compile(r"\brand(int|range|n|om|perm)?\(|\brandom\.")


class SequenceTargetCheck(Check):
    rules = (NOT_SHIFTED, DOUBLE_SHIFT, MISALIGNED, ROLL_WRAPAROUND)
    # A target meets a prediction through a token loss, labels given to a model, or a model that
    # computes its own loss, whose result still drives backward() or a Lightning training_step.
    triggers = (
        "cross_entropy", "CrossEntropyLoss", "nll_loss", "NLLLoss", "labels=", '"labels"', "'labels'", "backward",
        "training_step",
    )

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.candidates: List[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        if self.ctx.index.current_statement is None:
            return
        terminal = callee_terminal_name(node) or ""
        if "cross_entropy" in terminal or terminal in PREDICTION_CANDIDATES or isinstance(node.func, cst.Call):
            self.candidates.append(node)
            return
        keywords = {arg.keyword.value for arg in node.args if arg.keyword is not None}
        if keywords & set(TARGET_KEYWORDS) or any(arg.star == "**" for arg in node.args):
            self.candidates.append(node)
            return
        positional = sum(1 for arg in node.args if arg.keyword is None and not arg.star)
        if positional >= 2 and dotted_name(node.func) is not None:
            self.candidates.append(node)

    def finish(self) -> None:
        objectives = self.ctx.fact(TokenObjectives)
        found: List[Tuple[Rule, Objective]] = []
        for call in self.candidates:
            for objective in objectives.for_call(call):
                if objective.alignment is None:
                    continue
                rule = self._rule(objective, objectives)
                if rule is not None:
                    found.append((rule, objective))
        reported: Set[Tuple[str, int]] = set()
        families = self._families([objective for _, objective in found] + self._all(objectives))
        for rule, objective in found:
            if rule is MISALIGNED and self._in_family(objective, families):
                continue
            node = self._report_node(objective, rule)
            key = (rule.code, id(node))
            if key in reported:
                continue
            reported.add(key)
            at, related = self._places(rule, objective, node)
            self.report(
                node, rule, self._message(rule, objective), self._probe_input(rule, objective),
                at=at, related=related, short=self._concise(rule, objective),
            )

    def _all(self, objectives: TokenObjectives) -> List[Objective]:
        every = []
        for call in self.candidates:
            every.extend(objective for objective in objectives.for_call(call) if objective.alignment is not None)
        return every

    # -- deciding --------------------------------------------------------------------------------

    def _rule(self, objective: Objective, objectives: TokenObjectives) -> Optional[Rule]:
        alignment = objective.alignment
        assert alignment is not None
        offset = alignment.offset.value
        length = alignment.length_difference.value
        if offset is None or length is None:
            return None  # bounds that differ by a name: not something the code pins down
        if alignment.axis is not None and length != 0:
            return MISALIGNED
        if offset not in (0, 1):
            return MISALIGNED if offset in (-3, -2, -1, 2, 3) else None
        shift = objective.shift
        if offset == 1:
            if shift == 1:
                return DOUBLE_SHIFT
            # a wrapped target is wrong whether or not an unknown model shifts internally (if it
            # does, the wrapped token is still trained on, one position earlier)
            if shift != 1 and self._wraps(objective):
                return ROLL_WRAPAROUND
            return None
        # the target holds the input's own positions
        if shift != 0:
            return None
        if objective.kind == "model" and objective.model.kind != "module":
            return None  # an imported model might shift internally
        if objective.kind == "loss" and objective.model.kind == "module":
            model = objective.model
            if model.info is None or not objectives.models.of(model).output_aligned(model.info):
                return None
        if not objectives.next_token_task(objective):
            return None
        return NOT_SHIFTED

    def _wraps(self, objective: Objective) -> bool:
        alignment = objective.alignment
        span = alignment.target_span
        if span.tail != "wrap" or span.reaches_outside() is not True:
            return False
        target = objective.target_window
        return not (target.last_masked or target.masked or objective.reduction_none)

    def _families(self, objectives: List[Objective]) -> Dict[object, Set[int]]:
        """Offsets of the targets paired with each input root: 1..k together is multi-token prediction."""
        families: Dict[object, Set[int]] = {}
        for objective in objectives:
            alignment = objective.alignment
            if alignment is None or alignment.offset.value is None:
                continue
            families.setdefault(objective.input_window.root, set()).add(alignment.offset.value)
        return families

    def _in_family(self, objective: Objective, families) -> bool:
        offset = objective.alignment.offset.value
        offsets = families.get(objective.input_window.root, set())
        return offset is not None and offset > 1 and all(k in offsets for k in range(1, offset))

    # -- where and what --------------------------------------------------------------------------

    def _places(self, rule: Rule, objective: Objective, node: cst.CSTNode):
        """Where the finding goes (`at`: the target's window in another file of the project) and
        the places in other files it rests on (the model class that does or does not shift)."""
        remote = self.ctx.fact(RemoteValues)
        at: Optional[Elsewhere] = None
        related: List[Tuple[object, str]] = []
        placed = remote.place(node)
        if placed is not None:
            at = Elsewhere(*placed)
            given = "given to the model" if objective.kind == "model" else "compared with the logits"
            related.append((objective.target_expr, f"the targets are {given} here"))
        model = objective.model
        if model.home is None or model.info is None:
            return at, tuple(related)
        if rule is DOUBLE_SHIFT:
            for step in objective.shift_steps:
                shifted = remote.place(step[1][3]) if step[0] == "internal" else None
                if shifted is not None:
                    related.append((Elsewhere(*shifted), f"{model.name}.forward shifts the labels by one again"))
                    break
        else:
            defined = remote.place(model.info.node.name)
            if defined is not None:
                what = "shifts nothing" if objective.kind == "model" else "returns logits position by position"
                related.append((Elsewhere(*defined), f"the causal model {model.name}: its forward {what}"))
        return at, tuple(related)

    def _report_node(self, objective: Objective, rule: Rule) -> cst.CSTNode:
        """The target's own window expression when it has one the input does not share; else the
        target as the objective uses it."""
        input_nodes = {id(step[1]) for step in objective.input_window.steps if len(step) > 1}
        for step in objective.target_window.steps:
            if len(step) > 1 and step[0] in ("slice", "roll", "pad", "cat") and id(step[1]) not in input_nodes:
                return step[1]
        alias = self._alias_node(objective.target_expr, objective.statement) if objective.kind != "trainer" else None
        if alias is not None:
            return alias
        origin = objective.target_window.origin
        if origin is not None and origin is not objective.input_window.origin:
            return origin
        return objective.target_expr

    def _alias_node(self, expr: cst.BaseExpression, statement: Statement) -> Optional[cst.CSTNode]:
        """`y = x.clone()`: the copy that made the target, followed through names."""
        flow = self.ctx.fact(DataFlow)
        current, at = _strip_methods(expr), statement
        for _ in range(6):
            if not isinstance(current, cst.Name):
                return None
            definition = flow.definition(current.value, at)
            if definition.kind != "assign" or definition.value is None or definition.statement is None:
                return None
            source = _strip_methods(definition.value)
            if not isinstance(source, cst.Name):
                return None
            if source.value != current.value:
                return definition.value
            current, at = source, definition.statement  # x = x.to(device): look further back
        return None

    def _message(self, rule: Rule, objective: Objective) -> str:
        alignment = objective.alignment
        target = self._name(objective.target_expr, objective.target_path, "target")
        source = self._name(objective.input_expr, objective.input_path, "input")
        model = objective.model.name
        forward = self._model_label(objective.model, ".forward")
        if objective.kind == "trainer":
            target, source = '"labels"', '"input_ids"'
        shown_input, shown_target = render_pair(objective.prediction, objective.target_window, alignment)
        if rule is NOT_SHIFTED:
            same = objective.input_window.spans or alignment.axis is not None
            if same:
                held = f"holds the same positions ({shown_target}) as the model input {source}"
            else:
                held = f"is the model input {source} itself"
            if objective.kind == "loss":
                how = f"and the loss compares it with the logits of {model} position by position"
                if objective.model.kind == "hf_causal":
                    how = f"{how} (only its own labels= loss shifts)"
            else:
                how = f"and {forward} compares targets with its logits position by position without shifting"
            return (
                f"The target {target} {held}, {how}: each position is trained to predict the token it already sees, so "
                f"the model learns to copy its input, the loss drops and generation is garbage. {self._fix(objective)}"
            )
        if rule is DOUBLE_SHIFT:
            shifter = forward if objective.model.home is not None else model
            if objective.model.kind == "module":
                fix = f"Pass the input's own window as the targets and let {model}.forward shift them."
            else:
                fix = "Pass labels=input_ids (unshifted, padding set to -100) and let the model shift them."
            return (
                f"The labels {target} are already one token ahead of {source} ({shown_target} against "
                f"{shown_input}), and {shifter} shifts labels by one again internally: each position is trained to "
                f"predict the token two ahead. {fix}"
            )
        if rule is MISALIGNED:
            offset = alignment.offset.value
            length = alignment.length_difference.value
            if length:
                what = (
                    f"the target {target} ({shown_target}) is {abs(length)} position{'s' if abs(length) != 1 else ''} "
                    f"{'longer' if length > 0 else 'shorter'} than the input {source} ({shown_input})"
                )
                effect = "so targets and predictions are paired at the wrong positions or the batch fails to line up"
            else:
                if offset is not None and offset < 0:
                    relation = f"starts {-offset} position{'s' if offset != -1 else ''} before"
                    effect = "so each position is trained to predict a token it has already seen"
                else:
                    relation = f"starts {offset} positions after"
                    effect = f"so each position is trained to predict the token {offset} ahead instead of the next one"
                what = f"the target {target} ({shown_target}) {relation} the input {source} ({shown_input})"
            return (
                f"In the sequence {objective.input_window.base}, {what}, {effect}. Next-token targets must be the "
                f"input's window moved by exactly +1 with the same length: input = seq[i:i+T], target = seq[i+1:i+1+T]."
            )
        plain = _strip_methods(objective.target_expr)
        roll = self._roll_text(objective)
        if isinstance(plain, (cst.Name, cst.Attribute)):
            made = f"The target {target} is made with {roll}, which wraps around"
            mask = f"({self.ctx.code(plain)}[..., -1] = -100)"
        else:
            made = f"The target {roll} wraps around"
            mask = "before the loss"
        return (
            f"{made}: the last position's target is the first token of the sequence, so every sequence trains one "
            f"position on a wrong target. Slice instead (input = seq[..., :-1], target = seq[..., 1:]) or set the "
            f"wrapped position to the ignore index {mask}."
        )

    def _model_label(self, model, member: str) -> str:
        """`GPT.forward`, with the file that defines the class when that is another file."""
        placed = self.ctx.fact(RemoteValues).place(model.info.node.name) if model.home is not None else None
        if placed is None or self.ctx.project is None:
            return f"{model.name}{member}"
        return f"{model.name}{member} ({self.ctx.project.display(placed[0])}:{placed[1][0]})"

    def _concise(self, rule: Rule, objective: Objective) -> str:
        target = brief_text(self._name(objective.target_expr, objective.target_path, "target"), 24)
        if objective.kind == "trainer":
            target = '"labels"'
        if rule is NOT_SHIFTED:
            return f"target {target} is not shifted: the model learns to copy its input; take targets one token later"
        if rule is DOUBLE_SHIFT:
            model = brief_text(objective.model.name, 20)
            return f"labels {target} are shifted here and again inside {model}: pass them unshifted"
        if rule is MISALIGNED:
            return f"target {target} is not the input's window moved by exactly +1 with the same length"
        return f"target made with roll() wraps around: the last position learns the first token; slice instead"

    def _fix(self, objective: Objective) -> str:
        """A concrete next-token pairing in the code's own terms."""
        window = objective.input_window
        if window.spans:
            axis, span = window.spans[-1]
            moved = window.with_span(axis, type(span)(span.start.plus(1), span.stop.plus(1)))
            return f"Take the target one token later than the input: {render_window(moved)}."
        if objective.kind == "loss":
            return "Compare logits[:, :-1] with the target[:, 1:] (or feed seq[:, :-1] and predict seq[:, 1:])."
        return "Feed seq[:, :-1] as the input and seq[:, 1:] as the targets."

    def _roll_text(self, objective: Objective) -> str:
        for step in reversed(objective.target_window.steps):
            if step[0] in ("roll", "cat") and len(step) > 1:
                return f"`{brief_text(self.ctx.code(step[1]), 80)}`"
        return "torch.roll"

    def _name(self, expr: cst.BaseExpression, path, fallback: str) -> str:
        stripped = _strip_methods(expr)
        text = self.ctx.code(stripped) + "".join(f'["{part}"]' for part in path if isinstance(part, str))
        return f"`{text}`" if len(text) <= 60 else fallback

    # -- probe -----------------------------------------------------------------------------------

    def _probe_input(self, rule: Rule, objective: Objective) -> SequenceWindowsInput:
        fixed = self.ctx.fact(FixedValues)
        alignment: Alignment = objective.alignment
        prediction, target = objective.prediction, objective.target_window
        axis = alignment.axis
        if alignment.flat_axis is not None:
            # two reshapes of windows of one flat sequence: replay the flat windows
            prediction, target, axis = prediction.root[1], target.root[1], alignment.flat_axis
        input_steps = self._steps(prediction, fixed)
        target_steps = self._steps(target, fixed)
        shift = objective.shift if rule is DOUBLE_SHIFT else 0
        batch_axes = prediction.batch_axes
        if axis is None:
            # identical windows: compare along the axis the input window was cut on
            keys = [key for key, _ in prediction.spans]
            axis = keys[-1] if keys else -1
        selected_axis = None
        if not isinstance(axis, int):
            # one position of each: compare the selected tokens themselves
            selected_axis, axis, batch_axes = axis[1], None, 0
        return SequenceWindowsInput(
            rule=rule.code,
            axis=axis,
            selected_axis=selected_axis,
            batch_axes=batch_axes,
            input=input_steps,
            target=target_steps,
            model_shift=shift or 0,
            model=objective.model.name,
        )

    def _steps(self, window: Window, fixed: FixedValues) -> Optional[List[dict]]:
        steps = []
        for step in window.steps:
            kind = step[0]
            if kind == "unreplayable":
                return None
            if kind in ("slice", "roll"):
                _, node, base, statement, env, batch_axes = step
                names = self._fixed_for(node, fixed).resolve_for_probe([node], statement)
                for name, entry in list(names.items()):
                    random_draw = entry.get("kind") == "value" and RANDOM_DRAW.search(entry.get("source", ""))
                    if name in env or entry.get("kind") == "unknown" or random_draw:
                        names[name] = {"kind": "runtime", "reason": f"{name} is an index drawn at run time"}
                steps.append({
                    "kind": kind, "source": self.ctx.code(node), "base": self.ctx.code(base), "names": names,
                    "batch_axes": batch_axes,
                })
            elif kind == "pad":
                _, _, axis, before, after, wrap, batch_axes = step
                steps.append(
                    {
                        "kind": "pad", "axis": axis, "before": before, "after": after, "wrap": wrap,
                        "batch_axes": batch_axes,
                    }
                )
            elif kind == "view":
                if steps:
                    return None
                _, _, rank = step
                steps.append({"kind": "view", "rank": rank, "batch_axes": 0})
            elif kind == "logits":
                _, node, statement, axis, batch_axes = step
                names = self._fixed_for(node, fixed).resolve_for_probe([node], statement)
                steps.append({
                    "kind": "logits", "source": self.ctx.code(node), "base": self.ctx.code(node.value), "names": names,
                    "batch_axes": batch_axes,
                })
            else:
                return None
        return steps


    def _fixed_for(self, node: cst.CSTNode, fixed: FixedValues) -> FixedValues:
        """The fixed values of the module that holds `node` (a window cut in another file is
        resolved there)."""
        home = self.ctx.fact(RemoteValues).home(node)
        return home.fact(FixedValues) if home is not None else fixed


def _strip_methods(expr: cst.BaseExpression) -> cst.BaseExpression:
    for _ in range(6):
        if isinstance(expr, cst.Call) and method_receiver(expr) is not None:
            name = callee_terminal_name(expr)
            if name in TRANSPARENT_METHODS or name in ("view", "reshape", "flatten", "contiguous"):
                expr = method_receiver(expr)
                continue
        break
    return expr
