"""Unit tests of the data-loader facts (families/setup/loaders.py), the graph-holding loss values
(analysis/training.graph_loss) and objects returned in tuples by module functions."""

from __future__ import annotations

import pytest

from nnlint.analysis.objects import TrainingObjects
from nnlint.analysis.training import LossValues, graph_loss
from nnlint.families.setup.loaders import DataLoaders
from tests.helpers import analysed


def uses(ctx):
    loaders = ctx.fact(DataLoaders)
    return [(ctx.code(use.call), use.how) for use in loaders.training_uses()]


def test_loaders_reach_training_through_wrappers_attributes_and_returns():
    ctx = analysed(
        """
        import itertools
        import torch
        from torch.utils.data import DataLoader
        from tqdm import tqdm

        def build(ds):
            train = DataLoader(ds, batch_size=4)
            val = DataLoader(ds, batch_size=8)
            return train, val

        class Trainer:
            def __init__(self, loader):
                self.loader = loader

            def epoch(self, model, opt):
                for i, (x, y) in enumerate(tqdm(self.loader)):
                    model(x).sum().backward()
                    opt.step()

        def main(ds, model, opt, accelerator):
            train_loader, val_loader = build(ds)
            Trainer(train_loader).epoch(model, opt)
            stream = accelerator.prepare(DataLoader(ds, batch_size=2))
            it = iter(itertools.cycle(stream))
            for step in range(10):
                x = next(it)
                model(x).sum().backward()
                opt.step()
            for x in val_loader:
                model(x)
        """
    )
    assert uses(ctx) == [("DataLoader(ds, batch_size=4)", "loop"), ("DataLoader(ds, batch_size=2)", "next")]


def test_lightning_training_loaders():
    ctx = analysed(
        """
        import lightning as L
        from torch.utils.data import DataLoader

        class Data(L.LightningDataModule):
            def train_dataloader(self):
                return DataLoader(self.train_set, batch_size=32)

            def val_dataloader(self):
                return DataLoader(self.val_set, batch_size=32)

        trainer = L.Trainer(max_epochs=3)
        trainer.fit(model, DataLoader(train_set, batch_size=8), DataLoader(val_set))
        """
    )
    assert uses(ctx) == [
        ("DataLoader(self.train_set, batch_size=32)", "lightning"),
        ("DataLoader(train_set, batch_size=8)", "trainer.fit"),
    ]


@pytest.mark.parametrize(
    "arguments, expected",
    [
        ("ds, batch_size=4", "unshuffled"),
        ("ds, 4, False", "unshuffled"),
        ("ds, shuffle=False", "unshuffled"),
        ("ds, shuffle=True", "shuffled"),
        ("ds, 4, True", "shuffled"),
        ("ds, shuffle=args.shuffle", None),
        ("ds, sampler=DistributedSampler(ds)", "shuffled"),
        ("ds, sampler=None", "unshuffled"),
        ("ds, batch_sampler=bucket_sampler", "shuffled"),
        ("ds, **loader_kwargs", None),
    ],
)
def test_shuffling(arguments, expected):
    ctx = analysed(f"from torch.utils.data import DataLoader\nloader = DataLoader({arguments})\n")
    call = next(site.node for site in ctx.index.call_sites.values() if ctx.code(site.node.func) == "DataLoader")
    assert ctx.fact(DataLoaders).shuffling(call) == expected


ORDERS = """
import random
import numpy as np
import torch
from datasets import load_dataset
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset, random_split
from torchvision import datasets
from mylib import ExternalDataset
from tests.helpers import analysed


class Rows(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        return i


class Stream(IterableDataset):
    def __iter__(self):
        yield 1


class RandomCrops(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        start = random.randint(0, 100)
        return start


def a():
    return DataLoader(datasets.CIFAR10("data"))


def b():
    return DataLoader(Rows())


def c():
    return DataLoader(Stream())


def d():
    train, val = random_split(Rows(), [8, 2])
    return DataLoader(train)


def e(x, y):
    x_train, x_val, y_train, y_val = train_test_split(x, y)
    return DataLoader(TensorDataset(torch.tensor(x_train), torch.tensor(y_train)))


def k(x, y):
    order = np.random.permutation(len(y))
    return DataLoader(TensorDataset(torch.tensor(x[order]), torch.tensor(y[order])))


def f():
    return DataLoader(TensorDataset(torch.randn(10, 3), torch.randint(0, 2, (10,))))


def g():
    raw = load_dataset("imdb")
    tokenized = raw["train"].map(tokenize, batched=True).remove_columns(["text"])
    return DataLoader(tokenized)


def h():
    return DataLoader(load_dataset("c4", streaming=True)["train"])


def i():
    return DataLoader(ExternalDataset())


def j():
    return DataLoader(RandomCrops())
"""


@pytest.mark.parametrize(
    "function, order",
    # a random split keeps the order of what it splits (d, e); a permutation shuffles (k)
    [("a", "map"), ("b", "map"), ("c", "iterable"), ("d", "map"), ("e", "map"), ("f", "random"),
     ("g", "map"), ("h", "iterable"), ("i", None), ("j", None), ("k", "shuffled")],
)
def test_dataset_order(function, order):
    ctx = analysed(ORDERS)
    scope = ctx.index.functions[function]
    site = next(s for s in scope.calls if ctx.code(s.node.func) == "DataLoader")
    assert ctx.fact(DataLoaders).dataset_order(site.node, site.statement) == order


def test_batch_loops():
    ctx = analysed(
        """
        from torch.utils.data import DataLoader
        loader = DataLoader(ds)
        for epoch in range(10):
            for x in loader:
                pass
            for i, batch in enumerate(train_dl):
                pass
        """
    )
    loaders = ctx.fact(DataLoaders)
    loops = [s for s in ctx.index.module_scope.statements if type(s.node).__name__ == "For"]
    assert [loaders.batch_loop(loop) for loop in loops] == [False, True, True]


@pytest.mark.parametrize(
    "statement, value, held",
    [
        ("loss = F.cross_entropy(out, y)", "loss", "F.cross_entropy(out, y)"),
        ("loss = criterion(out, y)", "loss * x.size(0)", "criterion(out, y)"),
        ("loss = criterion(out, y)", "loss.item()", None),
        ("loss = criterion(out, y)", "loss.detach()", None),
        ("loss = criterion(out, y)", "float(loss)", None),
        ("loss = criterion(out, y)", "loss.data", None),
        ("loss = criterion(out, y)", "loss.cpu()", "criterion(out, y)"),
        ("outputs = model(**batch)", "outputs.loss", "outputs.loss"),
        ("logits, loss = model(x, y)", "loss", "model(x, y)"),
        ("loss = model(x, y)", "loss", "model(x, y)"),
        ("loss_value = loss.item()", "loss_value", None),
        ("acc = (out.argmax(1) == y).sum()", "acc", None),
    ],
)
def test_graph_loss(statement, value, held):
    ctx = analysed(f"import torch.nn.functional as F\n{statement}\nuse({value})\n")
    last = ctx.index.module_scope.statements[-1]
    expr = last.node.value.args[0].value
    found = graph_loss(ctx.fact(LossValues), expr, last)
    assert (ctx.code(found[0]) if found else None) == held


def test_objects_follow_tuples_returned_by_module_functions():
    ctx = analysed(
        """
        import torch

        def build(model):
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 10)
            return optimizer, scheduler

        opt, sched = build(net)
        use(opt, sched)
        """
    )
    objects = ctx.fact(TrainingObjects)
    last = ctx.index.module_scope.statements[-1]
    opt, sched = (arg.value for arg in last.node.value.args)
    assert objects.kind(opt, last) == "optimizer" and objects.kind(sched, last) == "scheduler"
    calls, complete = objects.constructions(opt, last, "optimizer")
    assert complete and ctx.code(calls[0][0]) == "torch.optim.SGD(model.parameters(), lr=0.1)"
