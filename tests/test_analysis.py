"""Unit tests of the shared analysis facts on small snippets."""

from __future__ import annotations

import pytest

from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.training import LossValues
from nnlint.analysis.values import FixedValues
from tests.helpers import analysed, call_named


@pytest.mark.parametrize(
    "imports, expression, qualified",
    [
        ("import torch.nn.functional as F", "F.cross_entropy", "torch.nn.functional.cross_entropy"),
        ("import torch", "torch.nn.functional.cross_entropy", "torch.nn.functional.cross_entropy"),
        ("from torch.nn.functional import cross_entropy as ce", "ce", "torch.nn.functional.cross_entropy"),
        ("from torch.nn import functional as F", "F.mse_loss", "torch.nn.functional.mse_loss"),
        ("import torch.nn as nn", "nn.CrossEntropyLoss", "torch.nn.CrossEntropyLoss"),
        ("import torch.nn", "torch.nn.MSELoss", "torch.nn.MSELoss"),
        ("from . import models", "models.Net", ".models.Net"),
        ("import numpy as np", "min", "builtins.min"),
        ("import numpy as np", "criterion", None),
    ],
)
def test_import_table(imports, expression, qualified):
    ctx = analysed(f"{imports}\nvalue = {expression}\n")
    value = ctx.index.module_scope.statements[-1].node.value
    assert ctx.qualified_name(value) == qualified


def test_shadowed_builtin_is_not_the_builtin():
    ctx = analysed("def min(a, b):\n    return a\nvalue = min\n")
    assert ctx.qualified_name(ctx.index.module_scope.statements[-1].node.value) is None


def test_index_scopes_statements_and_blocks():
    ctx = analysed(
        """
        import torch

        class Trainer:
            def step(self, batch):
                for x in batch:
                    if x is not None:
                        self.opt.step()

        def helper():
            return 1
        """
    )
    site = call_named(ctx, "self.opt.step()")
    assert site.scope.name == "Trainer.step"
    assert site.scope.class_info.name == "Trainer"
    assert [type(block).__name__ for block in site.statement.blocks] == ["For", "If"]
    assert set(ctx.index.functions) == {"helper"}
    assert ctx.index.class_by_name["Trainer"].methods["step"] is site.scope


def test_reaching_definitions_follow_order_parameters_and_enclosing_scopes():
    ctx = analysed(
        """
        LIMIT = 3.0

        def train(model, cap=2.0):
            loss = first()
            loss = second()
            use(loss, cap, LIMIT)
            for batch in loader:
                use(batch)
        """
    )
    flow = ctx.fact(DataFlow)
    statement = call_named(ctx, "use(loss, cap, LIMIT)").statement
    assert ctx.code(flow.definition("loss", statement).value) == "second()"
    assert flow.definition("cap", statement).kind == "param"
    limit = flow.definition("LIMIT", statement)
    assert limit.kind == "assign" and limit.is_module_level
    assert flow.definition("batch", call_named(ctx, "use(batch)").statement).kind == "loop"
    assert flow.definition("nothing", statement).kind == "unknown"


def test_flow_through_assignments_helpers_and_returns():
    ctx = analysed(
        """
        def cap(value):
            return value * 2

        def apply(loss):
            loss.backward()

        def train(model, x):
            start = model(x)
            a = start
            b = cap(a)
            apply(b.mean())
        """
    )
    losses = ctx.fact(LossValues)
    site = call_named(ctx, "model(x)")
    hit = losses.reaches_update(site.node, site.statement)
    assert hit is not None and hit.description == "backward()"


def test_flow_stops_at_detach_item_and_reassignment():
    ctx = analysed(
        """
        def train(model, x, opt):
            value = model(x)
            logged = value.detach()
            logged.backward()
            number = value.item()
            value = other(x)
            value.backward()
        """
    )
    site = call_named(ctx, "model(x)")
    assert ctx.fact(LossValues).reaches_update(site.node, site.statement) is None


def test_lightning_return_is_an_update_unless_manual_optimization():
    source = """
        class Lit(LightningModule):
            def __init__(self):
                super().__init__()
                {manual}

            def training_step(self, batch, batch_idx):
                value = self.model(batch)
                return {{"loss": value, "log": 1}}
        """
    for manual, reaches in (("pass", True), ("self.automatic_optimization = False", False)):
        ctx = analysed(source.format(manual=manual))
        site = call_named(ctx, "self.model(batch)")
        assert (ctx.fact(LossValues).reaches_update(site.node, site.statement) is not None) is reaches


@pytest.mark.parametrize(
    "definitions, bound, fixed",
    [
        ("", "5.0", True),
        ("", "-2 * 1e3", True),
        ("CAP = compute()", "CAP", True),  # module constants by convention
        ("cap = 3.0", "cap", True),
        ("cap = loss.detach().max()", "cap", False),
        ("", "args.max_loss", True),
        ("", "cfg.train.max_loss", True),
        ("", 'config["max_loss"]', True),
        ("opts = parser.parse_args()", "opts.cap", True),
        ("", "float(args.cap)", True),
        ("", "torch.tensor(5.0)", True),
        ("", "torch.full_like(loss, 5.0)", True),
        ("", "surr2", False),
        ("", "loss.mean()", False),
    ],
)
def test_fixed_values(definitions, bound, fixed):
    ctx = analysed(f"import torch\n{definitions}\ndef f(loss, surr2):\n    use({bound})\n")
    site = call_named(ctx, f"use({bound})")
    assert ctx.fact(FixedValues).is_fixed(site.node.args[0].value, site.statement) is fixed


@pytest.mark.parametrize(
    "signature, fixed",
    [("def f(loss, cap):", True), ("def f(loss, c=5.0):", True), ("def f(loss, c: float):", True), ("def f(loss, c):", False)],
)
def test_parameters_as_hyperparameters(signature, fixed):
    ctx = analysed(f"{signature}\n    use(c if False else {'cap' if 'cap' in signature else 'c'})\n")
    site = next(iter(ctx.index.call_sites.values()))
    expression = site.node.args[0].value.orelse
    assert ctx.fact(FixedValues).is_fixed(expression, site.statement) is fixed


def test_probe_resolution_table():
    ctx = analysed(
        """
        import argparse
        import torch as th

        parser = argparse.ArgumentParser()
        parser.add_argument("--max-loss", type=float, default=4.0)
        args = parser.parse_args()
        BASE = th.tensor(2.0)
        LIMIT = BASE * 2

        def make():
            return 1

        def train(loss, scale):
            use(LIMIT, args.max_loss, make(), scale, args.other)
        """
    )
    site = call_named(ctx, "use(LIMIT, args.max_loss, make(), scale, args.other)")
    table = ctx.fact(FixedValues).resolve_for_probe([site.node], site.statement)
    assert table["LIMIT"] == {"kind": "value", "source": "BASE * 2", "origin": "module constant"}
    assert table["BASE"]["source"] == "th.tensor(2.0)"
    assert table["th.tensor"] == {"kind": "import", "qualified": "torch.tensor"}
    assert table["args.max_loss"]["source"] == "4.0"
    assert table["make"]["kind"] == "user"
    assert table["scale"]["kind"] == "runtime"
    assert table["args.other"]["kind"] == "runtime"


@pytest.mark.parametrize(
    "setup, expression, is_loss",
    [
        ("", "F.cross_entropy(out, y)", True),
        ("criterion = nn.CrossEntropyLoss()", "criterion(out, y)", True),
        ("", "loss_fn(out, y)", True),
        ("", "outputs.loss", True),
        ("", 'outputs["loss"]', True),
        ("l = F.mse_loss(out, y)", "l", True),
        ("", "kl_loss", True),
        ("", "loss_weight", False),
        ("", "MAX_LOSS", False),
        ("", "probs", False),
        ("", "model(x)", False),
        ("l = F.mse_loss(out, y)", "l.mean() * 0.5", True),
    ],
)
def test_loss_values(setup, expression, is_loss):
    ctx = analysed(
        f"import torch.nn as nn\nimport torch.nn.functional as F\ndef f(out, y, outputs, model, x, probs, kl_loss, loss_weight, loss_fn):\n"
        f"    {setup or 'pass'}\n    use({expression})\n"
    )
    site = call_named(ctx, f"use({expression})")
    assert ctx.fact(LossValues).is_loss(site.node.args[0].value, site.statement) is is_loss


def test_instance_calls_run_the_class_forward():
    ctx = analysed(
        """
        class Net(nn.Module):
            def forward(self, x):
                return x * 2

        class Trainer:
            def __init__(self):
                self.net = Net().to("cpu")

            def step(self, batch):
                out = self.net(batch)
                return out

        def train(batch):
            model = Net()
            value = model(batch)
        """
    )
    flow = ctx.fact(DataFlow)
    forward = ctx.index.class_by_name["Net"].methods["forward"]
    assert flow.callee(call_named(ctx, "model(batch)")) is forward
    assert flow.callee(call_named(ctx, "self.net(batch)")) is forward
    assert {ctx.code(site.node) for site in flow.callers(forward)} == {"model(batch)", "self.net(batch)"}
