"""Unit tests of the model-layers facts (models, probabilities, shapes) on small snippets."""

from __future__ import annotations

import pytest

from nnlint.analysis.dataflow import DataFlow
from nnlint.families.layers.models import ModelFacts, is_torch_module_class
from nnlint.families.layers.probabilities import Probabilities
from nnlint.families.layers.shapes import ShapeNames
from tests.helpers import analysed, call_named, expected_findings, fixture_files


# --- models -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "qualified, expected",
    [
        ("torch.nn.Module", True),
        ("torch.nn.Conv2d", True),
        ("lightning.pytorch.LightningModule", True),
        ("torchvision.models.ResNet", True),
        ("transformers.BertPreTrainedModel", True),
        ("torch.nn.Parameter", False),
        ("torch.nn.functional.relu", False),
        ("torch.nn.utils.rnn.PackedSequence", False),
        ("torch.autograd.Function", False),
        (None, False),
    ],
)
def test_torch_module_classes(qualified, expected):
    assert is_torch_module_class(qualified) is expected


def test_module_classes_certain_likely_and_not():
    ctx = analysed(
        """
        import torch
        import torch.nn as nn
        import tensorflow as tf
        import pytorch_lightning as pl
        from .base import BaseModel

        class Block(nn.Module):
            pass

        class Net(Block):
            pass

        class Lit(pl.LightningModule):
            pass

        class Derived(BaseModel):
            def forward(self, x):
                return x

        class NoForward(BaseModel):
            pass

        class Keras(tf.keras.layers.Layer):
            def forward(self, x):
                return x

        class Fn(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x

        class Plain:
            def forward(self, x):
                return x
        """
    )
    models = ctx.fact(ModelFacts)
    found = {m.name: m.certain for m in models.module_classes()}
    assert found == {"Block": True, "Net": True, "Lit": True, "Derived": False}


def test_forward_scopes_follow_helpers_but_not_other_modules():
    ctx = analysed(
        """
        import torch.nn as nn

        def helper(x):
            return x

        def unused(x):
            return x

        class Inner(nn.Module):
            def forward(self, x):
                return x

        class Outer(nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = Inner()

            def forward(self, x):
                def nested(y):
                    return y
                x = self._step(x)
                return self.inner(nested(x))

            def _step(self, x):
                return helper(x)

            def other(self, x):
                return x
        """
    )
    models = ctx.fact(ModelFacts)
    outer = next(m for m in models.module_classes() if m.name == "Outer")
    names = {scope.name for scope in models.forward_scopes(outer)}
    assert names == {"Outer.forward", "nested", "Outer._step", "helper"}
    assert models.run_by_forward(ctx.index.functions["helper"]).name == "Outer"
    assert models.run_by_forward(ctx.index.functions["unused"]) is None


def test_constructors_through_names_attributes_wrappers_and_callers():
    ctx = analysed(
        """
        import torch
        import torch.nn as nn

        class Net(nn.Module):
            pass

        def train(model, criterion):
            use(model, criterion)

        class Trainer:
            def __init__(self):
                self.crit = nn.CrossEntropyLoss()

            def step(self, x):
                use(self.crit)

        def main(device):
            net = Net().to(device)
            net = nn.DataParallel(net)
            criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
            train(net, criterion)
            train(model=Net(), criterion=criterion)
        """
    )
    models = ctx.fact(ModelFacts)
    site = call_named(ctx, "use(model, criterion)")
    model, criterion = (arg.value for arg in site.node.args)
    assert models.single_class(models.constructors(model, site.statement)) == "Net"
    assert models.single_class(models.constructors(criterion, site.statement)) == "torch.nn.CrossEntropyLoss"
    site = call_named(ctx, "use(self.crit)")
    assert models.single_class(models.constructors(site.node.args[0].value, site.statement)) == "torch.nn.CrossEntropyLoss"


def test_constructors_unknown_when_a_caller_is_not_shown():
    ctx = analysed(
        """
        import torch.nn as nn

        def train(model):
            use(model)

        def main(model_from_elsewhere):
            train(nn.Linear(2, 2))
            train(model_from_elsewhere)
        """
    )
    models = ctx.fact(ModelFacts)
    site = call_named(ctx, "use(model)")
    assert models.constructors(site.node.args[0].value, site.statement) is None


def test_sequential_segments():
    ctx = analysed(
        """
        from collections import OrderedDict
        import torch.nn as nn

        def make(cfg):
            layers = [nn.Conv2d(3, 8, 3)]
            for v in cfg:
                layers += [nn.Conv2d(8, v, 3), nn.BatchNorm2d(v)]
                layers.append(nn.ReLU())
                layers.append(nn.Dropout())
            layers.extend([nn.Flatten(), nn.LazyLinear(10)])
            return nn.Sequential(nn.Identity(), *layers, nn.Softmax(1))

        def named():
            return nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("bn", nn.BatchNorm1d(2))]))

        def shuffled():
            layers = [nn.Linear(2, 2), nn.BatchNorm1d(2)]
            layers.insert(1, nn.ReLU())
            return nn.Sequential(*layers)
        """
    )
    models = ctx.fact(ModelFacts)

    def segments(text):
        site = call_named(ctx, text)
        assert models.is_sequential_call(site.node, site.statement)
        return [[ctx.code(e) for e in segment] for segment in models.sequential_segments(site.node, site.statement)]

    assert segments("nn.Sequential(nn.Identity(), *layers, nn.Softmax(1))") == [
        ["nn.Identity()"],
        ["nn.Conv2d(3, 8, 3)"],
        ["nn.Conv2d(8, v, 3)", "nn.BatchNorm2d(v)"],
        ["nn.ReLU()", "nn.Dropout()"],
        ["nn.Flatten()", "nn.LazyLinear(10)"],
        ["nn.Softmax(1)"],
    ]
    named = 'nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("bn", nn.BatchNorm1d(2))]))'
    assert segments(named) == [["nn.Linear(2, 2)", "nn.BatchNorm1d(2)"]]
    assert segments("nn.Sequential(*layers)") == []


def test_sequential_subclass_super_init_and_helper_constructions():
    ctx = analysed(
        """
        import torch.nn as nn

        def conv3x3(a, b):
            return nn.Conv2d(a, b, 3, padding=1, bias=False)

        class ConvBN(nn.Sequential):
            def __init__(self, a, b):
                super().__init__(conv3x3(a, b), nn.BatchNorm2d(b))
        """
    )
    models = ctx.fact(ModelFacts)
    site = call_named(ctx, "super().__init__(conv3x3(a, b), nn.BatchNorm2d(b))")
    assert models.is_sequential_call(site.node, site.statement)
    helper = call_named(ctx, "conv3x3(a, b)")
    assert [ctx.code(c) for c in models.helper_constructions(helper.node)] == ["nn.Conv2d(a, b, 3, padding=1, bias=False)"]


def test_module_constructions():
    ctx = analysed(
        """
        import timm
        import torch
        import torch.nn as nn
        import torchvision

        class Block(nn.Module):
            pass

        things = [nn.Linear(2, 2), Block(), torchvision.models.resnet18(), timm.create_model("vit"), torch.zeros(2), dict()]
        """
    )
    models = ctx.fact(ModelFacts)
    value = ctx.index.module_scope.statements[-1].node.value
    assert [models.is_module_construction(e.value) for e in value.elements] == [True, True, True, True, False, False]


# --- probabilities ----------------------------------------------------------------------------------


PROBABILITY_SOURCE = """
import torch
import torch.nn as nn
import torch.nn.functional as F

class SoftNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.act = nn.Softmax(dim=1)

    def forward(self, x):
        return self.act(self.fc(x))

class MaybeSoft(nn.Module):
    def forward(self, x):
        if not self.training:
            return F.softmax(x, 1)
        return x

class LateSoft(nn.Module):
    def forward(self, x, flag):
        if flag:
            x = F.softmax(x, 1)
        return x

def probs(model, x):
    return model(x).sigmoid()

def check(z, flag):
    seq = nn.Sequential(nn.Linear(4, 3), nn.Sigmoid())
    net = SoftNet()
    a = F.softmax(z, dim=-1)
    b = a.view(-1, 3)[:, :2]
    c = torch.log(a)
    use(a, b, c, z.softmax(1), nn.Softmax(1)(z), seq(z), net(z), MaybeSoft()(z), LateSoft()(z, flag), probs(net, z), z if flag else a)
"""


def test_squashed_values():
    ctx = analysed(PROBABILITY_SOURCE)
    probabilities = ctx.fact(Probabilities)
    site = next(s for s in ctx.index.call_sites.values() if ctx.code(s.node.func) == "use")
    kinds = []
    for arg in site.node.args:
        found = probabilities.squashed(arg.value, site.statement)
        kinds.append((found.kind, found.via) if found else None)
    assert kinds == [
        ("softmax", None),
        ("softmax", None),
        None,
        ("softmax", None),
        ("softmax", None),
        ("sigmoid", "nn.Sequential"),
        ("softmax", "SoftNet.forward"),
        None,
        None,
        ("sigmoid", "probs"),
        None,
    ]


# --- shapes -----------------------------------------------------------------------------------------


SHAPE_SOURCE = """
def f(x, y):
    b, c, h, w = x.shape
    *_, hh, ww = x.size()
    n, ch = x.shape[:2]
    sh, sw = x.shape[2:]
    one = x.size(1)
    two = int(x.shape[-1])
    area = h * w
    other = y.shape[0]
    use(b, c, h, w, hh, ww, n, ch, sh, sw, one, two, area, other, x.size()[2], x.size(dim=3))
    x = x.permute(0, 2, 3, 1)
    use(x, b)
"""


def test_dimension_references():
    ctx = analysed(SHAPE_SOURCE)
    shapes = ctx.fact(ShapeNames)
    site = call_named(ctx, "use(b, c, h, w, hh, ww, n, ch, sh, sw, one, two, area, other, x.size()[2], x.size(dim=3))")
    found = []
    for arg in site.node.args:
        ref = shapes.dimension(arg.value, site.statement)
        found.append((ref.tensor, sorted(ref.indices), ref.ndim))
    assert found == [
        ("x", [0], 4), ("x", [1], 4), ("x", [2], 4), ("x", [3], 4),
        ("x", [-2], None), ("x", [-1], None),
        ("x", [0], None), ("x", [1], None), ("x", [2], None), ("x", [3], None),
        ("x", [1], None), ("x", [-1], None), ("x", [2, 3], 4), ("y", [0], None),
        ("x", [2], None), ("x", [3], None),
    ]


def test_dimension_origin_tells_a_reassigned_tensor_apart():
    ctx = analysed(SHAPE_SOURCE)
    shapes, flow = ctx.fact(ShapeNames), ctx.fact(DataFlow)
    site = call_named(ctx, "use(x, b)")
    ref = shapes.dimension(site.node.args[1].value, site.statement)
    assert ref.origin.kind == "param"
    assert flow.definition("x", site.statement) != ref.origin


def test_starred_unpacking_binds_every_name():
    ctx = analysed("def f(x):\n    h = 1\n    *rest, h, w = x.shape\n    use(h, rest)\n")
    flow = ctx.fact(DataFlow)
    site = call_named(ctx, "use(h, rest)")
    assert flow.definition("h", site.statement).kind == "unpacked"
    assert flow.definition("rest", site.statement).kind == "unpacked"


# --- fixtures ----------------------------------------------------------------------------------------


def test_layers_family_has_enough_fixtures():
    layers = [p for p in fixture_files() if p.parent.name == "layers"]
    for code in ("NNL503", "NNL504", "NNL505", "NNL506", "NNL507"):
        buggy = [p for p in layers if any(c == code for _, c in expected_findings(p))]
        assert len(buggy) >= 3, code
    clean = [p for p in layers if not expected_findings(p)]
    assert len(clean) >= 10


def test_constructor_parameters_resolve_through_class_calls():
    ctx = analysed(
        """
        import torch.nn as nn

        class Net(nn.Module):
            pass

        class Trainer:
            def __init__(self, model, criterion=None):
                self.model = model
                self.criterion = criterion

            def step(self, x):
                use(self.model, self.criterion)

        trainer = Trainer(Net(), criterion=nn.BCEWithLogitsLoss())
        """
    )
    models = ctx.fact(ModelFacts)
    site = call_named(ctx, "use(self.model, self.criterion)")
    model, criterion = (arg.value for arg in site.node.args)
    assert models.single_class(models.constructors(model, site.statement)) == "Net"
    assert models.single_class(models.constructors(criterion, site.statement)) == "torch.nn.BCEWithLogitsLoss"


def test_plain_containers_found_and_wrapped_ones_left_out():
    from nnlint.families.layers.registration import Registration

    ctx = analysed(
        """
        import torch
        import torch.nn as nn

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)

        class Swish(nn.Module):
            def forward(self, x):
                return x * torch.sigmoid(x)

        class Net(nn.Module):
            def __init__(self, n=3):
                super().__init__()
                self.blocks = [Block() for _ in range(n)]
                self.heads = {}
                self.weights = [nn.Parameter(torch.ones(2)) for _ in range(n)]
                self.acts = [Swish(), nn.ReLU()]
                self.wrapped = [nn.Linear(2, 2)]
                self.seq = nn.Sequential(*self.wrapped)
                self.sizes = [2, 4]
                self.aliases = [self.seq]
                layers = []
                for _ in range(n):
                    layers.append(nn.Conv2d(3, 3, 1))
                self.convs = layers
                self.build()

            def build(self):
                self.heads["a"] = nn.Linear(2, 1)
        """
    )
    models, registration = ctx.fact(ModelFacts), ctx.fact(Registration)
    net = next(m for m in models.module_classes() if m.name == "Net")
    found = {c.attribute: (c.kind, [ctx.code(l.func) for l in c.layers], c.parameters) for c in registration.plain_containers(net)}
    assert found == {
        "blocks": ("list", ["Block"], False),
        "heads": ("dict", ["nn.Linear"], False),
        "weights": ("list", ["nn.Parameter"], True),
        "convs": ("list", ["nn.Conv2d"], False),
    }


def test_classes_that_register_by_hand_have_no_plain_containers():
    from nnlint.families.layers.registration import Registration

    ctx = analysed(
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.features = nn.Sequential()
                self.features.add_module("fc", nn.Linear(2, 2))
                self.layers = [nn.Linear(2, 2) for _ in range(2)]
                for i, layer in enumerate(self.layers):
                    self.add_module(f"layer{i}", layer)
        """
    )
    models, registration = ctx.fact(ModelFacts), ctx.fact(Registration)
    assert registration.plain_containers(models.module_classes()[0]) == []
