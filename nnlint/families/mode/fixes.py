"""Fixes of the mode family (what `--fix` rewrites; see each rule's doc, section Fix).

NNL502 (unsafe): `model.train()` after the evaluation that switched the model to evaluation mode.
"""

from __future__ import annotations

from typing import Optional

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.index import Statement
from nnlint.analysis.names import dotted_name
from nnlint.analysis.timeline import Event
from nnlint.finding import Applicability, Fix
from nnlint.rewrite import Rewrite, fix_builder

# statements after which nothing in their block runs
_LEAVING = (cst.Break, cst.Continue, cst.Return, cst.Raise)


@fix_builder
def train_after_evaluation(ctx: ModuleContext, evaluation: Event, receiver: cst.BaseExpression) -> Optional[Fix]:
    """Switch the model back to training mode once the evaluation is over: after the call of the
    evaluation helper, or, for an evaluation written in the loop, at the end of the block that
    holds its `model.eval()`. Unsafe: it makes a choice about where a training phase starts."""
    anchor = evaluation.anchor
    model = _model_text(ctx, evaluation, receiver)
    if model is None or not _defined(ctx, model, anchor):
        return None
    code = f"{model}.train()"
    rewrite = Rewrite(ctx)
    if evaluation.statement is not anchor:
        rewrite.insert_after(anchor.node, code)
    else:
        block = anchor.blocks[-1] if anchor.blocks else None
        body = getattr(block, "body", None)
        if not isinstance(body, cst.IndentedBlock) or not body.body:
            return None
        last = body.body[-1]
        if isinstance(last, cst.SimpleStatementLine) and any(isinstance(s, _LEAVING) for s in last.body):
            rewrite.insert_before(last, code)
        else:
            indent = rewrite.indent_of(last)
            rewrite.insert_after(last, code, indent=indent)
    return rewrite.fix(f"Call {code} after the evaluation", Applicability.UNSAFE)


def _model_text(ctx: ModuleContext, evaluation: Event, receiver: cst.BaseExpression) -> Optional[str]:
    """The model as the anchor's scope names it: as written, for `self.<attr>` in another method
    of the class, or the argument the helper was called with."""
    text = dotted_name(receiver)
    if text is None:
        return None
    anchor_scope = evaluation.anchor.scope
    scope = evaluation.statement.scope
    if scope is anchor_scope:
        return text
    if text.startswith("self.") and scope.class_info is not None and scope.class_info is anchor_scope.class_info:
        return text
    if len(evaluation.via) != 1 or "." in text:
        return None
    passed = DataFlow.argument_for(scope, text, evaluation.via[0].node)
    return dotted_name(passed) if passed is not None else None


def _defined(ctx: ModuleContext, text: str, statement: Statement) -> bool:
    root = text.split(".")[0]
    return ctx.fact(DataFlow).definition(root, statement).kind != "unknown"
