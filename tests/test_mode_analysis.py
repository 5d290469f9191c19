"""Unit tests of the model-mode facts (analysis/model_modes.py) and the timeline additions they read."""

from __future__ import annotations

import libcst as cst
import pytest

from nnlint.analysis.model_modes import ModelModes, called_model
from nnlint.analysis.timeline import TrainingTimelines
from tests.helpers import analysed, call_named


def modes_at(ctx, text, nth=0):
    site = call_named(ctx, text, nth)
    return [found.state for found in ctx.fact(ModelModes).mode_before(site.node, site.statement)]


def layers_of(ctx, text):
    site = call_named(ctx, text)
    return ctx.fact(ModelModes).layers(called_model(site.node), site.statement)


CLASSES = """
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from blocks import ImportedBlock


def conv_bn(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class WithDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        return self.drop(self.fc(x))


class ThroughHelper(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = conv_bn(3, 8)

    def forward(self, x):
        return self.body(x)


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return F.dropout(self.fc(x), 0.2, training=self.training)


class PlainMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
        self.norm = nn.LayerNorm(4)
        self.rnn = nn.LSTM(4, 4, num_layers=1)
        self.drop = nn.Dropout(p=0.0)

    def forward(self, x):
        return self.norm(x)


class Unknown(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = ImportedBlock(4)

    def forward(self, x):
        return self.block(x)


class Child(WithDropout):
    pass


a, b, c, d, e, f = WithDropout(), ThroughHelper(), Functional(), PlainMLP(), Unknown(), Child()
g = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
h = torchvision.models.resnet18()
i = nn.Sequential(nn.Linear(2, 2), nn.TransformerEncoderLayer(2, 1))
a(x); b(x); c(x); d(x); e(x); f(x); g(x); h(x); i(x)
"""


@pytest.mark.parametrize(
    "model, expected",
    [
        ("a", ("Dropout",)),
        ("b", ("BatchNorm2d",)),
        ("c", ("F.dropout",)),
        ("d", ()),
        ("e", None),
        ("f", ("Dropout",)),
        ("g", ()),
        ("h", ("BatchNorm/Dropout",)),
        ("i", ("TransformerEncoderLayer",)),
    ],
)
def test_mode_dependent_layers(model, expected):
    ctx = analysed(CLASSES)
    assert layers_of(ctx, f"{model}(x)") == expected


def test_gradient_mode_contexts_and_decorators():
    ctx = analysed(
        """
        import torch

        @torch.no_grad()
        def decorated(model, x):
            return model(x)

        @torch.inference_mode
        def bare(model, x):
            return model(x)

        def blocks(model, x):
            with torch.set_grad_enabled(False):
                a = model(x)
            with torch.inference_mode(mode=False):
                b = model(x)
            with torch.enable_grad():
                c = model(x)
            return a, b, c
        """
    )
    modes = ctx.fact(ModelModes)
    sites = [site for site in ctx.index.call_sites.values() if ctx.code(site.node) == "model(x)"]
    assert [modes.grad_disabled(site.statement) for site in sites] == [True, True, True, False, False]


TRAIN_EVAL = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from engine import run_validation


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.fc(self.drop(x))


def train_one_epoch(model, loader, optimizer):
    model.train()
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()


def evaluate(net, loader):
    with torch.no_grad():
        return [net(x) for x, _ in loader]


def main(train_loader, val_loader):
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(3):
        train_one_epoch(model, train_loader, optimizer)
        evaluate(model, val_loader)
    model.eval()
    evaluate(model, val_loader)
    run_validation(model)
    evaluate(model, val_loader)


def fresh(loader):
    other = Net()
    evaluate(other, loader)
"""


def test_mode_before_follows_callers_loops_and_helpers():
    ctx = analysed(TRAIN_EVAL)
    modes = ctx.fact(ModelModes)
    site = call_named(ctx, "net(x)")
    found = modes.mode_before(site.node, site.statement)
    # one answer per call of evaluate(): after train_one_epoch, after eval(), after an unknown
    # helper given the model, and for a fresh model that was never switched
    assert [f.state for f in found] == ["train", "eval", "unknown", "default"]
    train = found[0]
    assert train.trained_since and ctx.code(train.event.node) == "model.train()"
    assert [ctx.code(s.node) for s in train.chain] == ["evaluate(model, val_loader)"]


def test_mode_wraps_around_the_loop():
    ctx = analysed(
        """
        import torch
        from torchvision.models import resnet18

        model = resnet18()
        model.eval()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for epoch in range(3):
            with torch.no_grad():
                score = model(val_x).argmax(1)
            model.train()
            optimizer.zero_grad()
            model(x).sum().backward()
            optimizer.step()
        """
    )
    (state,) = modes_at(ctx, "model(val_x)")
    assert state == "train"  # from the second epoch on


def test_from_pretrained_starts_in_eval_and_chained_eval_sets_the_mode():
    ctx = analysed(
        """
        import torch
        from transformers import AutoModelForSequenceClassification
        from torchvision.models import resnet18

        hf = AutoModelForSequenceClassification.from_pretrained("bert-base-uncased")
        cnn = resnet18().eval()
        with torch.no_grad():
            a = hf(**batch)
            b = cnn(images)
        """
    )
    assert modes_at(ctx, "hf(**batch)") == ["eval"]
    assert modes_at(ctx, "cnn(images)") == ["eval"]
    timeline = ctx.fact(TrainingTimelines).module()
    (mode,) = timeline.of("mode")
    assert mode.target == "cnn" and mode.detail.training is False


def test_unrelated_and_unsure_mode_switches():
    ctx = analysed(
        """
        import copy
        import torch
        from torchvision.models import resnet18

        model = resnet18()
        ema = copy.deepcopy(model)
        model.train()
        ema.eval()
        with torch.no_grad():
            a = model(x)
        for m in [model, ema]:
            m.eval()
        with torch.no_grad():
            b = model(x)
        """
    )
    assert modes_at(ctx, "model(x)", 0) == ["train"]  # ema.eval() is another model
    assert modes_at(ctx, "model(x)", 1) == ["unknown"]  # m may be the model


AFTER_EVAL = """
import torch
import torch.nn.functional as F
from torchvision.models import resnet18
from engine import train_one_epoch
from tests.helpers import analysed, call_named


def validate(model, loader):
    model.eval()
    with torch.no_grad():
        return [model(x) for x in loader]


def step(model, batch, optimizer):
    optimizer.zero_grad()
    F.cross_entropy(model(batch[0]), batch[1]).backward()
    optimizer.step()


def loop_a(model, loader, val_loader, optimizer):
    for epoch in range(3):
        for batch in loader:
            step(model, batch, optimizer)
        validate(model, val_loader)


def loop_b(model, loader, val_loader, optimizer):
    for epoch in range(3):
        model.train()
        for batch in loader:
            step(model, batch, optimizer)
        validate(model, val_loader)


def loop_c(model, loader, val_loader, optimizer):
    for epoch in range(3):
        train_one_epoch(model, loader, optimizer)
        for batch in loader:
            step(model, batch, optimizer)
        validate(model, val_loader)
"""


@pytest.mark.parametrize("scope, state", [("loop_a", "trains"), ("loop_b", "restored"), ("loop_c", "unknown")])
def test_what_follows_eval_in_the_epoch_loop(scope, state):
    ctx = analysed(AFTER_EVAL)
    timelines = ctx.fact(TrainingTimelines)
    evaluation = call_named(ctx, "model.eval()").node
    (timeline, event) = next(
        (t, e) for t, e in timelines.holding(evaluation) if t.kind == "loop" and t.scope.name == scope and not isinstance(t.root.iter, cst.Name)
    )
    after = ctx.fact(ModelModes).mode_after_eval(timeline, event)
    assert after.state == state
    if state == "trains":
        assert ctx.code(after.event.node) == "optimizer.step()" and ctx.code(after.forward.node) == "model(batch[0])"


def test_holding_indexes_every_timeline_including_the_module():
    ctx = analysed("import torch\nmodel.eval()\nfor x in loader:\n    model.eval()\n")
    timelines = ctx.fact(TrainingTimelines)
    first, second = [site.node for site in ctx.index.call_sites.values()]
    assert [t.kind for t, _ in timelines.holding(first)] == ["function"]
    assert sorted(t.kind for t, _ in timelines.holding(second)) == ["function", "loop"]
    assert timelines.module().scope is ctx.index.module_scope
