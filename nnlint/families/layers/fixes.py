"""Fixes of the layers family (what `--fix` rewrites; see each rule's doc, section Fix).

NNL503: `training=self.training` on the functional dropout call in a method.
NNL504: the plain container wrapped in nn.ModuleList / nn.ModuleDict / nn.ParameterList / nn.ParameterDict.
NNL505: the softmax/sigmoid that feeds the loss dropped (see its builder for when that is safe).
NNL507: `bias=False` on the layer followed by BatchNorm.
"""

from __future__ import annotations

import re
from typing import Optional

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.index import Statement
from nnlint.analysis.names import keyword_arg, positional_args, string_value
from nnlint.finding import Applicability, Fix
from nnlint.rewrite import Rewrite, fix_builder, with_keyword

# --- NNL503 -----------------------------------------------------------------------------------


@fix_builder
def pass_training_flag(ctx: ModuleContext, call: cst.Call, statement: Statement) -> Optional[Fix]:
    """`F.dropout(x, p)` in a method of the module -> `F.dropout(x, p, training=self.training)`."""
    scope = statement.scope
    if scope.class_info is None or not scope.parameters():
        return None  # a module-level helper has no `self` to ask; its callers would have to pass it
    receiver = scope.parameters()[0].name.value
    flag = f"{receiver}.training"
    return Rewrite(ctx).replace(call, with_keyword(call, "training", flag)).fix(f"Pass training={flag}")


# --- NNL504 -----------------------------------------------------------------------------------

# a ModuleDict/ParameterDict has no .get(): code that calls it on the attribute would break
_DICT_ONLY_METHODS = ("get", "setdefault", "copy", "fromkeys", "popitem")


@fix_builder
def register_container(ctx: ModuleContext, value: cst.BaseExpression, kind: str, parameters: bool, attribute: str) -> Optional[Fix]:
    """`self.x = [nn.Linear(...) ...]` -> `self.x = nn.ModuleList([...])` (and the dict and
    parameter variants). An empty literal filled later becomes the empty container."""
    wrapper = ("ParameterDict" if parameters else "ModuleDict") if kind == "dict" else ("ParameterList" if parameters else "ModuleList")
    spelled = ctx.imports.local_name(f"torch.nn.{wrapper}")
    if spelled is None:
        return None
    empty = isinstance(value, (cst.List, cst.Tuple, cst.Dict)) and not value.elements
    new = cst.Call(func=cst.parse_expression(spelled), args=[] if empty else [cst.Arg(value)])
    applicability = Applicability.SAFE
    if kind == "dict" and not parameters and not _string_keys(value):
        applicability = Applicability.UNSAFE  # nn.ModuleDict takes string keys only
    if kind == "dict" and re.search(rf"\bself\.{re.escape(attribute)}\.({'|'.join(_DICT_ONLY_METHODS)})\(", ctx.source):
        applicability = Applicability.UNSAFE
    return Rewrite(ctx).replace(value, new).fix(f"Register the {kind} with nn.{wrapper}", applicability)


def _string_keys(value: cst.BaseExpression) -> bool:
    """Whether every key of a dict display is a string literal (an empty one has none yet)."""
    if not isinstance(value, cst.Dict):
        return False
    return all(isinstance(e, cst.DictElement) and string_value(e.key) is not None for e in value.elements)


# --- NNL507 -----------------------------------------------------------------------------------

# a file that loads weights may load checkpoints saved with the bias: they would no longer load
_LOADS_WEIGHTS = re.compile(r"load_state_dict|torch\.load|from_pretrained|load_from_checkpoint|load_checkpoint")


@fix_builder
def drop_bias(ctx: ModuleContext, layer: cst.Call, bias_position: int) -> Optional[Fix]:
    """`nn.Conv2d(a, b, 3)` -> `nn.Conv2d(a, b, 3, bias=False)` (a positional or keyword bias set
    to False where it stands)."""
    if keyword_arg(layer, "bias") is None and len(positional_args(layer)) > bias_position:
        positional = positional_args(layer)[bias_position]
        rewrite = Rewrite(ctx).replace(positional, "False")
    else:
        rewrite = Rewrite(ctx).replace(layer, with_keyword(layer, "bias", "False"))
    unsafe = bool(_LOADS_WEIGHTS.search(ctx.source))
    return rewrite.fix("Pass bias=False", Applicability.UNSAFE if unsafe else Applicability.SAFE)
