"""ValueKinds: what a value is follows from where it comes from; names only break ties."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.valuekinds import DETACHED, GRAPH, NUMBER, UNKNOWN, ValueKinds


def kind_of_last_use(source: str):
    """The kind of the argument of the last statement, `use(<value>)`."""
    source = textwrap.dedent(source)
    module = cst.parse_module(source)
    ctx = ModuleContext("snippet.py", source, module)
    cst.visit_batched(module, [], before_visit=ctx.index.before_visit, after_leave=ctx.index.after_leave)
    last = ctx.index.module_scope.statements[-1]
    return ctx.fact(ValueKinds).of(last.node.value.args[0].value, last)


HELPERS = """
import torch
import torch.nn as nn
import torch.nn.functional as F

criterion = nn.CrossEntropyLoss()

def batch_loss(model, x, y):
    return F.cross_entropy(model(x), y)

def loader_loss(model, loader):
    total_loss = 0.0
    for x, y in loader:
        total_loss += batch_loss(model, x, y).item()
    return total_loss / len(loader)

def evaluate(model, train_loader, val_loader):
    with torch.no_grad():
        train_loss = loader_loss(model, train_loader)
        val_loss = batch_loss(model, *next(iter(val_loader)))
    return train_loss, val_loss

@torch.no_grad()
def eval_tensor(model, x, y):
    return criterion(model(x), y)
"""


@pytest.mark.parametrize(
    "code, what, loss",
    [
        ("use(batch_loss(model, x, y))", GRAPH, True),
        ("use(loader_loss(model, loader))", NUMBER, False),
        ("train_loss, val_loss = evaluate(model, a, b)\nuse(train_loss)", NUMBER, False),
        ("train_loss, val_loss = evaluate(model, a, b)\nuse(val_loss)", DETACHED, False),
        ("use(eval_tensor(model, x, y))", DETACHED, False),
        ("loss = criterion(model(x), y)\nuse(loss * x.size(0))", GRAPH, True),
        ("loss = criterion(model(x), y)\nuse(loss.item())", NUMBER, False),
        ("loss = criterion(model(x), y)\nuse(float(loss))", NUMBER, False),
        ("loss = criterion(model(x), y)\nuse(loss.detach().cpu())", DETACHED, False),
        ("loss = criterion(model(x), y)\nuse(loss.data)", DETACHED, False),
        ("loss = criterion(model(x), y)\nuse((epoch, loss))", GRAPH, True),
        ("with torch.no_grad():\n    loss = criterion(model(x), y)\nuse(loss)", DETACHED, False),
        ("losses = []\nuse(sum(losses))", UNKNOWN, False),
        ("use(sum(l.item() for l in batch_losses))", NUMBER, False),
    ],
)
def test_kind_follows_provenance(code, what, loss):
    kind = kind_of_last_use(HELPERS + code + "\n")
    assert (kind.what, kind.loss) == (what, loss)


def test_a_float_named_like_a_loss_stays_a_float():
    kind = kind_of_last_use(HELPERS + "loss_tensor = loader_loss(model, loader)\nuse(loss_tensor)\n")
    assert kind.what == NUMBER


def test_a_name_breaks_the_tie_of_a_call_the_module_does_not_show():
    # `step` is a parameter: what it returns is not shown; the variable's name decides
    source = "def run(step, batch):\n    loss = step(batch)\n    use(loss)\n"
    module = cst.parse_module(source)
    ctx = ModuleContext("snippet.py", source, module)
    cst.visit_batched(module, [], before_visit=ctx.index.before_visit, after_leave=ctx.index.after_leave)
    function = ctx.index.functions["run"]
    last = function.statements[-1]
    kind = ctx.fact(ValueKinds).of(last.node.value.args[0].value, last)
    assert (kind.what, kind.loss) == (GRAPH, True)
