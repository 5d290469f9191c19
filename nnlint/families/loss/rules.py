"""Loss family: rules about how the loss drives the update.

NNL101 loss-clipped: the loss is capped from above (clamp/clip/min/where/index assignment) before
it drives the update, so whatever exceeds the cap gets exactly zero gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import libcst as cst

from nnlint.analysis.index import Statement
from nnlint.analysis.names import argument, callee_terminal_name, dotted_name, keyword_arg, positional_args
from nnlint.analysis.remote import RemoteValues
from nnlint.analysis.training import LossValues
from nnlint.analysis.values import FixedValues
from nnlint.check import Check, Elsewhere
from nnlint.families.loss.contracts import LOSS_CLIPPED, LossClippedInput


# Method and function names that can cap a value from above.
CAP_METHODS = frozenset({"clamp", "clamp_", "clip", "clip_", "clamp_max", "clamp_max_", "where", "masked_fill", "masked_fill_"})
IN_PLACE_METHODS = frozenset({"clamp_", "clip_", "clamp_max_", "masked_fill_"})
CLAMP_FUNCTIONS = frozenset({"torch.clamp", "torch.clip"})
MINIMUM_FUNCTIONS = frozenset({"torch.minimum", "torch.fmin", "torch.min", "builtins.min"})
CANDIDATE_NAMES = CAP_METHODS | {"minimum", "fmin", "min", "clamp_max"}
# Text without which a module holds no cap (a cheap look before reading another file's code).
CAP_TEXTS = ("clamp", "clip", "min", "where", "masked_fill", "] =")


@dataclass(frozen=True)
class Cap:
    """A value capped from above: `operand` limited to at most `bound`."""

    node: cst.CSTNode  # what is reported: the capping call, or the capping statement
    operand: cst.BaseExpression
    bound: cst.BaseExpression
    statement: Statement
    # the value a probe must also resolve besides the bound (the replacement of a where/fill)
    replacement: Optional[cst.BaseExpression] = None
    # the name that holds the capped value after an in-place cap
    in_place: Optional[str] = None


def _same(ctx, a: cst.CSTNode, b: cst.CSTNode) -> bool:
    return ctx.code(a) == ctx.code(b)


def _ordered_comparison(test: cst.BaseExpression) -> Optional[Tuple[cst.BaseExpression, cst.BaseExpression]]:
    """(larger, smaller) for `a > b`, `a >= b`, `b < a`, `b <= a`; None for anything else."""
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    target = test.comparisons[0]
    if isinstance(target.operator, (cst.GreaterThan, cst.GreaterThanEqual)):
        return test.left, target.comparator
    if isinstance(target.operator, (cst.LessThan, cst.LessThanEqual)):
        return target.comparator, test.left
    return None


def _cited(sink: str, path: str, line: int) -> str:
    """The sink of a loss capped in another file, with its place: `backward() (engine.py:14)` (the
    same text whichever of the two files is linted: the finding is listed once)."""
    return f"{sink} ({path}:{line})"


def _is_index_assignment(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Subscript)


class LossClippedCheck(Check):
    rules = (LOSS_CLIPPED,)
    # A capped loss can only drive the update through one of these (a loss module's class
    # statement contains "Loss(" or "Criterion(").
    triggers = ("backward", "training_step", "compute_loss", "Loss(", "Criterion(")

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.candidates: List[Tuple[cst.CSTNode, Statement]] = []

    def visit_Call(self, node: cst.Call) -> None:
        statement = self.ctx.index.current_statement
        if statement is not None and callee_terminal_name(node) in CANDIDATE_NAMES:
            self.candidates.append((node, statement))

    def visit_Assign(self, node: cst.Assign) -> None:
        # loss[loss > c] = c
        if _is_index_assignment(node):
            statement = self.ctx.index.current_statement
            if statement is not None:
                self.candidates.append((node, statement))

    def finish(self) -> None:
        losses = self.ctx.fact(LossValues)
        fixed = self.ctx.fact(FixedValues)
        for cap, statement, also in self._caps(self.candidates, losses, fixed):
            sink = losses.reaches_update(cap.node, statement, also)
            related: Tuple[Tuple[object, str], ...] = ()
            if sink is not None:
                description = sink.description
            else:
                elsewhere = self._update_elsewhere(cap, statement, also, losses)
                if elsewhere is None:
                    continue
                description, related = elsewhere
            self.report(
                cap.node, LOSS_CLIPPED, self._message(cap, description, losses), self._probe_input(cap, losses, fixed),
                related=related, short=self._concise(cap),
            )
        self._caps_returned_to_here(losses)

    def _caps(self, candidates, losses: LossValues, fixed: FixedValues):
        """(cap, its statement, the names that hold it after an in-place cap) of every candidate
        that caps a loss at a fixed bound."""
        for node, statement in candidates:
            cap = self._cap(node, statement, losses, fixed)
            if cap is not None and self._is_cap_of_loss(cap, losses, fixed):
                yield cap, statement, ((cap.in_place,) if cap.in_place else ())

    def _caps_returned_to_here(self, losses: LossValues) -> None:
        """The file that backpropagates, linted alone: a function of another project file that it
        calls and that returns a capped loss (`loss = bounded_ce(model(x), y)` here, the cap in
        losses.py). Reported at the cap, as when that file is linted (the two are one finding)."""
        remote = self.ctx.fact(RemoteValues)
        if not remote.active or self.ctx.project is None:
            return
        for site in list(self.ctx.index.call_sites.values()):
            found = remote.project_function(site.node.func, CAP_TEXTS) if site.statement is not None else None
            if found is None:
                continue
            module, scope = found
            hit = losses.reaches_update(site.node, site.statement)
            if hit is None:
                continue
            there = LossClippedCheck(module)
            their_losses, their_fixed = module.fact(LossValues), module.fact(FixedValues)
            candidates = [(s.node, s) for s in scope.statements if _is_index_assignment(s.node)]
            candidates += [(c.node, c.statement) for c in scope.calls if callee_terminal_name(c.node) in CANDIDATE_NAMES]
            for cap, statement, also in there._caps(candidates, their_losses, their_fixed):
                place = remote.place(cap.node)
                if place is None or their_losses.returned(cap.node, statement, also) is None:
                    continue
                reached = "returned to the framework, which backpropagates it" if isinstance(hit.node, cst.Return) else "backpropagates it"
                line = self.ctx.position(hit.node).start.line
                description = _cited(hit.description, self.ctx.project.display(self.ctx.project.path), line)
                self.report(
                    cap.node, LOSS_CLIPPED, there._message(cap, description, their_losses),
                    there._probe_input(cap, their_losses, their_fixed), at=Elsewhere(*place),
                    related=(
                        (site.node, f"calls {scope.function_name}(), which returns the capped loss"),
                        (hit.node, reached),
                    ),
                    short=there._concise(cap),
                )

    def _update_elsewhere(self, cap: Cap, statement: Statement, also, losses: LossValues):
        """A capped loss returned by a function that another file of the project calls and
        backpropagates (`loss = bounded_ce(model(x), y); loss.backward()` in engine.py): the
        sink's description and the related places, or None."""
        if losses.returned(cap.node, statement, also) is None:
            return None
        remote = self.ctx.fact(RemoteValues)
        for module, site in remote.calls_elsewhere(statement.scope):
            hit = module.fact(LossValues).reaches_update(site.node, site.statement)
            call, sink = remote.place(site.node), remote.place(hit.node) if hit is not None else None
            if call is None or sink is None or self.ctx.project is None:
                continue
            name = statement.scope.function_name
            reached = "returned to the framework, which backpropagates it" if isinstance(hit.node, cst.Return) else "backpropagates it"
            return _cited(hit.description, self.ctx.project.display(sink[0]), sink[1][0]), (
                (Elsewhere(*call), f"calls {name}(), which returns the capped loss"),
                (Elsewhere(*sink), reached),
            )
        return None

    # -- recognising the forms of a cap ------------------------------------------------------

    def _cap(self, node: cst.CSTNode, statement: Statement, losses: LossValues, fixed: FixedValues) -> Optional[Cap]:
        if isinstance(node, cst.Assign):
            return self._index_assignment_cap(node, statement)
        assert isinstance(node, cst.Call)
        qualified = self.ctx.qualified_name(node.func)
        if qualified in CLAMP_FUNCTIONS:
            return self._bounded(node, argument(node, 0, "input"), argument(node, 2, "max"), statement)
        if qualified == "torch.clamp_max":
            return self._bounded(node, argument(node, 0, "input"), argument(node, 1, "max"), statement)
        if qualified in MINIMUM_FUNCTIONS:
            return self._minimum_cap(node, qualified, statement, losses, fixed)
        if qualified == "torch.where":
            args = positional_args(node)
            return self._where_cap(node, *args, statement, losses) if len(args) == 3 else None
        if qualified is not None or not isinstance(node.func, cst.Attribute):
            return None
        receiver = node.func.value
        method = node.func.attr.value
        in_place = dotted_name(receiver) if method in IN_PLACE_METHODS else None
        if method in ("clamp", "clamp_", "clip", "clip_"):
            return self._bounded(node, receiver, argument(node, 1, "max"), statement, in_place)
        if method in ("clamp_max", "clamp_max_"):
            return self._bounded(node, receiver, argument(node, 0, "max"), statement, in_place)
        if method == "where":
            # x.where(condition, other) is torch.where(condition, x, other)
            condition, other = argument(node, 0, "condition"), argument(node, 1, "other")
            if condition is None or other is None:
                return None
            return self._where_cap(node, condition, receiver, other, statement, losses)
        if method in ("masked_fill", "masked_fill_"):
            return self._fill_cap(node, receiver, argument(node, 0, "mask"), argument(node, 1, "value"), statement, in_place)
        return None

    def _bounded(self, node, operand, bound, statement, in_place=None) -> Optional[Cap]:
        if operand is None or bound is None:
            return None
        return Cap(node, operand, bound, statement, in_place=in_place)

    def _minimum_cap(self, node: cst.Call, qualified: str, statement, losses: LossValues, fixed: FixedValues) -> Optional[Cap]:
        args = positional_args(node)
        if len(args) != 2 or len(node.args) != 2:
            return None  # torch.min(x, dim), min(a, b, c), min(xs, key=...) are not caps
        first, second = args
        if qualified == "torch.min" and (isinstance(second, cst.Integer) or keyword_arg(node, "dim")):
            return None
        for operand, bound in ((first, second), (second, first)):
            if losses.is_loss(operand, statement) and fixed.is_fixed(bound, statement):
                return Cap(node, operand, bound, statement)
        return None

    def _where_cap(self, node, condition, if_true, if_false, statement, losses: LossValues) -> Optional[Cap]:
        # torch.where(larger > smaller, smaller, larger) is min(larger, smaller), whichever
        # side the loss is on: `where(loss > c, c, loss)` and `where(loss < c, loss, c)`.
        ordered = _ordered_comparison(condition)
        if ordered is None:
            return None
        larger, smaller = ordered
        if losses.is_loss(larger, statement) and _same(self.ctx, if_false, larger):
            return Cap(node, larger, smaller, statement, replacement=if_true)
        if losses.is_loss(smaller, statement) and _same(self.ctx, if_true, smaller):
            return Cap(node, smaller, larger, statement, replacement=if_false)
        return None

    def _fill_cap(self, node, operand, mask, value, statement, in_place=None) -> Optional[Cap]:
        """`operand[operand > c] = c` and `operand.masked_fill(operand > c, c)`."""
        if operand is None or mask is None or value is None:
            return None
        ordered = _ordered_comparison(mask)
        if ordered is None or not _same(self.ctx, ordered[0], operand):
            return None  # only values above the bound replaced is a cap (below is a floor)
        return Cap(node, operand, ordered[1], statement, replacement=value, in_place=in_place)

    def _index_assignment_cap(self, node: cst.Assign, statement: Statement) -> Optional[Cap]:
        target = node.targets[0].target
        assert isinstance(target, cst.Subscript)
        if len(target.slice) != 1 or not isinstance(target.slice[0].slice, cst.Index):
            return None
        name = dotted_name(target.value)
        if name is None:
            return None
        return self._fill_cap(node, target.value, target.slice[0].slice.value, node.value, statement, in_place=name)

    def _is_cap_of_loss(self, cap: Cap, losses: LossValues, fixed: FixedValues) -> bool:
        bound = cap.bound
        if fixed.is_infinite(bound) or not fixed.is_fixed(bound, cap.statement):
            return False  # `torch.min(surr1, surr2)`: a data-dependent term is not a cap
        if cap.replacement is not None and not _same(self.ctx, cap.replacement, bound):
            # the replacement must be the bound again, or another fixed non-zero value
            if not fixed.is_fixed(cap.replacement, cap.statement) or self.ctx.code(cap.replacement) in ("0", "0.0"):
                return False
        return losses.is_loss(cap.operand, cap.statement) and not losses.is_loss(bound, cap.statement)

    # -- reporting ---------------------------------------------------------------------------

    def _message(self, cap: Cap, sink: str, losses: LossValues) -> str:
        operand = self.ctx.code(cap.operand)
        bound = self.ctx.code(cap.bound)
        how = self.ctx.code(cap.node)
        if len(how) > 70:
            how = callee_terminal_name(cap.node) + "(...)" if isinstance(cap.node, cst.Call) else "index assignment"
        if losses.is_per_sample(cap.operand, cap.statement):
            effect = f"every sample whose loss exceeds {bound} gets exactly zero gradient, so the hardest examples are silently ignored"
        else:
            effect = (
                f"whenever the loss exceeds {bound} its gradient is exactly zero, so the hardest examples "
                f"(or whole batches) are silently ignored"
            )
        return (
            f"{operand} is capped at {bound} by `{how}` before {sink}: {effect}. Clip the gradients instead: "
            f"torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm) after backward(), or use a robust "
            f"loss (Huber/SmoothL1) if outliers are the concern."
        )

    def _concise(self, cap: Cap) -> str:
        operand, bound = self.ctx.brief(cap.operand, 24), self.ctx.brief(cap.bound, 24)
        return f"{operand} capped at {bound} before backward(): no gradient above the cap; clip the gradients instead"

    def _probe_input(self, cap: Cap, losses: LossValues, fixed: FixedValues) -> LossClippedInput:
        return LossClippedInput(
            fragment=self.ctx.code(cap.node),
            fragment_kind="statement" if isinstance(cap.node, cst.Assign) else "expression",
            operand=self.ctx.code(cap.operand),
            bound=self.ctx.code(cap.bound),
            per_sample=losses.is_per_sample(cap.operand, cap.statement),
            names=fixed.resolve_for_probe([cap.node], cap.statement),
        )
