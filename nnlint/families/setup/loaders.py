"""Data loaders: which DataLoader feeds which loop, whether it shuffles, and what it loads.

Get it with ``ctx.fact(DataLoaders)``.

- `constructions(expr, statement)`: the `DataLoader(...)` calls behind an iterable, through
  aliases, `self.x = ...`, callers' arguments, `accelerator.prepare(...)` and the iterator wrappers
  `enumerate`, `tqdm`, `iter`, `zip`, `itertools.cycle`, `fabric.setup_dataloaders`.
- `training_uses()`: every DataLoader whose batches reach backward: iterated by a loop whose body
  (helpers included) backpropagates, fetched with `next(it)` in such a loop, returned by a Lightning
  `train_dataloader()`, or given to a Lightning `trainer.fit(...)`.
- `shuffling(call)`: how a DataLoader orders its samples: "shuffled" (shuffle=True, a sampler or a
  batch sampler), "unshuffled" (no shuffle, or shuffle=False) or None (a runtime value, **kwargs).
- `dataset_order(call)`: what the DataLoader's dataset is: "map" (a map-style dataset read in
  order: torchvision datasets, TensorDataset, Dataset subclasses of the module, Hugging Face
  datasets, lists), "iterable" (IterableDataset, streaming), "shuffled" (its samples were shuffled
  once already: a permutation, random.shuffle or df.sample(frac=1) before it; a random split is
  not a shuffle: its output keeps the order of its input), "random" (synthetic
  noise such as `TensorDataset(torch.randn(...))`, where order means nothing), or None when unknown.
- `batch_loop(loop)`: whether a `for` loop iterates over batches of a loader (not over epochs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator, List, Optional, Set, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.index import ClassInfo, Statement
from nnlint.analysis.names import (
    argument,
    callee_terminal_name,
    dotted_name,
    is_none,
    keyword_arg,
    method_receiver,
    positional_args,
    sequence_elements,
)
from nnlint.analysis.objects import TrainingObjects
from nnlint.analysis.project_values import Remote
from nnlint.analysis.remote import RemoteValues
from nnlint.analysis.timeline import BACKWARD, Timeline, TrainingTimelines

LOADER_CLASSES = frozenset({
    "torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader", "torch_geometric.loader.DataLoader",
    "torch_geometric.data.DataLoader", "monai.data.DataLoader",
})
# Iterator wrappers whose first argument is the loader.
ITERATOR_WRAPPERS = frozenset({
    "builtins.enumerate", "builtins.iter", "builtins.zip", "itertools.cycle", "itertools.islice", "tqdm.tqdm",
    "tqdm.auto.tqdm", "tqdm.notebook.tqdm", "tqdm.rich.tqdm", "rich.progress.track",
})
WRAPPER_METHODS = frozenset({"prepare", "setup_dataloaders", "prepare_data_loader", "skip_first_batches"})
LOADER_NAME = re.compile(r"loader|^dl$|_dl$|^dl_|dataloader|batches$|batch_iter|data_iter", re.IGNORECASE)
ITERABLE_BASE = re.compile(r"IterableDataset$|IterDataPipe$|^IterableDataset|WebDataset$")
MAP_BASE = re.compile(r"Dataset$")
# Calls that shuffle data once (before a DataLoader reads it in order).
SHUFFLING_CALLS = frozenset({"shuffle", "permutation", "randperm", "shuffled"})
# Calls that split a dataset at random: the order they leave is random but the same every epoch, and
# nobody calls them to shuffle: a loader over their output without shuffle=True forgot it.
SPLITTING_CALLS = frozenset({"random_split", "train_test_split"})
# Hugging Face dataset methods that keep the order of their receiver.
ORDER_KEEPING_METHODS = frozenset({
    "map", "filter", "with_format", "remove_columns", "rename_column", "rename_columns", "cast", "cast_column",
    "flatten", "select_columns", "with_transform", "set_transform",
})
# Random choice of the sample inside __getitem__: the index does not decide what is read.
RANDOM_PICK = frozenset({"randint", "randrange", "choice", "choices", "integers"})

RANDOM_TENSORS = ("torch.rand", "torch.randn", "torch.randint", "torch.normal", "numpy.random.")

MAX_DEPTH = 4
MAX_ORDER_DEPTH = 10


@dataclass(frozen=True)
class RemoteLoaderUse:
    """A DataLoader built in another file of the project (`train_loader, _ = get_loaders()`) whose
    batches reach backward in a loop of this module."""

    loader: Remote
    statement: Statement  # the loop
    timeline: Timeline


@dataclass(frozen=True)
class LoaderUse:
    """A DataLoader construction whose batches reach backward, and how."""

    call: cst.Call
    statement: Statement
    how: str  # "loop", "next", "lightning", "trainer.fit"
    # the loop that trains on it (for "loop" and "next")
    timeline: Optional[Timeline] = None


class DataLoaders:
    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        self.objects = ctx.fact(TrainingObjects)
        self._uses: Optional[List[LoaderUse]] = None
        self.remote_uses: List[RemoteLoaderUse] = []

    # -- what an iterable is -------------------------------------------------------------------------

    def is_loader(self, call: cst.Call) -> bool:
        qualified = self.ctx.qualified_name(call.func)
        return qualified in LOADER_CLASSES

    def constructions(self, expr: cst.BaseExpression, statement: Statement) -> Tuple[List[Tuple[cst.Call, Statement]], bool]:
        """The DataLoader constructions behind `expr`, and whether every source was resolved to one."""
        found: List[Tuple[cst.Call, Statement]] = []
        complete = self._collect(expr, statement, 0, found, set())
        return found, complete and bool(found)

    def _collect(self, expr, statement: Statement, depth: int, found, seen: Set[Tuple[int, int]]) -> bool:
        marker = (id(expr), id(statement))
        if marker in seen or depth > MAX_DEPTH:
            return marker in seen
        seen.add(marker)
        inner = self._unwrapped(expr)
        if inner:
            return all(self._collect(part, statement, depth + 1, found, seen) for part in inner)
        returned = self._unpacked_return(expr, statement)
        if returned is not None:
            return all(self._collect(value, where, depth + 1, found, seen) for value, where in returned)
        sources, complete = self.objects.sources(expr, statement)
        for value, where in sources:
            if isinstance(value, cst.Call):
                if self.is_loader(value):
                    found.append((value, where))
                    continue
                inner = self._unwrapped(value)
                if inner:
                    complete &= all(self._collect(part, where, depth + 1, found, seen) for part in inner)
                    continue
                returned = self.returned(value, where)
                if returned:
                    complete &= all(self._collect(v, w, depth + 1, found, seen) for v, w in returned)
                    continue
            complete = False
        return complete

    def returned(self, call: cst.Call, statement: Statement, index: Optional[int] = None):
        """What a function of this module returns (the element at `index` of a returned tuple), as
        (expression, return statement) pairs; [] when not visible."""
        site = self.ctx.index.call_sites.get(call)
        callee = self.flow.callee(site) if site is not None else None
        if callee is None or callee.function_name == "forward":
            return []
        values = []
        for inner in callee.statements:
            node = inner.node
            if isinstance(node, cst.Return) and node.value is not None:
                value = node.value
                if index is not None:
                    elements = sequence_elements(value)
                    if elements is None or index >= len(elements):
                        return []
                    value = elements[index]
                values.append((value, inner))
        return values

    def _unpacked_return(self, expr: cst.BaseExpression, statement: Statement):
        """`train_loader, val_loader = build_loaders(...)`: what build_loaders returns at that position."""
        if not isinstance(expr, cst.Name):
            return None
        definition = self.flow.definition(expr.value, statement)
        if definition.kind != "unpacked" or not isinstance(definition.value, cst.Call) or definition.statement is None:
            return None
        node = definition.statement.node
        if not isinstance(node, cst.Assign) or len(node.targets) != 1:
            return None
        elements = sequence_elements(node.targets[0].target)
        if elements is None:
            return None
        names = [dotted_name(element) for element in elements]
        if expr.value not in names:
            return None
        return self.returned(definition.value, definition.statement, names.index(expr.value)) or None

    def _unwrapped(self, expr: cst.BaseExpression) -> List[cst.BaseExpression]:
        """The iterables inside `enumerate(x)`, `tqdm(x)`, `zip(a, b)`, `accelerator.prepare(x)`."""
        if not isinstance(expr, cst.Call):
            return []
        qualified = self.ctx.qualified_name(expr.func)
        args = positional_args(expr)
        if qualified in ITERATOR_WRAPPERS:
            if qualified == "builtins.zip":
                return list(args)
            return args[:1] or [a.value for a in expr.args if a.keyword is not None and a.keyword.value == "iterable"][:1]
        terminal = callee_terminal_name(expr)
        if terminal in WRAPPER_METHODS and isinstance(expr.func, cst.Attribute) and len(args) >= 1:
            if terminal == "prepare" and len(args) != 1:
                return []
            return args[:1]
        return []

    def batch_loop(self, loop: Statement) -> bool:
        """Whether a `for` loop iterates over the batches of a data loader."""
        node = loop.node
        if not isinstance(node, cst.For):
            return False
        found, _ = self.constructions(node.iter, loop)
        if found:
            return True
        expr = node.iter
        while isinstance(expr, cst.Call) and self._unwrapped(expr):
            expr = self._unwrapped(expr)[0]
        name = dotted_name(expr)
        return name is not None and bool(LOADER_NAME.search(name.split(".")[-1]))

    # -- DataLoaders that feed training --------------------------------------------------------------

    def training_uses(self) -> List[LoaderUse]:
        if self._uses is None:
            self._uses = self._find_uses()
        return self._uses

    def _find_uses(self) -> List[LoaderUse]:
        uses: List[LoaderUse] = []
        seen: Set[int] = set()

        def add(calls, how, timeline=None):
            for call, where in calls:
                if id(call) not in seen:
                    seen.add(id(call))
                    uses.append(LoaderUse(call, where, how, timeline))

        timelines = self.ctx.fact(TrainingTimelines)
        for scope in self.ctx.index.scopes:
            for statement in scope.statements:
                node = statement.node
                if not isinstance(node, (cst.For, cst.While)):
                    continue
                timeline = timelines.loop(statement)
                if not timeline.has(BACKWARD):
                    continue
                evaluation_only = self._given_only_by_evaluation_calls(timeline)
                if isinstance(node, cst.For):
                    add(self._minus(self.constructions(node.iter, statement)[0], evaluation_only), "loop", timeline)
                    self._add_remote(node.iter, statement, timeline)
                if self._steps_at_this_level(statement, timeline):
                    for fetched, where in self._fetched_in(statement):
                        add(self._minus(self.constructions(fetched, where)[0], evaluation_only), "next", timeline)
        for info in self.ctx.index.classes:
            if not any("Lightning" in (dotted_name(base) or "") for base in info.bases):
                continue
            method = info.methods.get("train_dataloader")
            if method is None:
                continue
            for statement in method.statements:
                if isinstance(statement.node, cst.Return) and statement.node.value is not None:
                    add(self.constructions(statement.node.value, statement)[0], "lightning")
        for site in self.flow.call_sites_named("fit"):
            if site.statement is None or not self._lightning_trainer(site.node, site.statement):
                continue
            loader = keyword_arg(site.node, "train_dataloaders") or keyword_arg(site.node, "train_dataloader")
            if loader is None:
                args = positional_args(site.node)
                loader = args[1] if len(args) > 1 else None
            if loader is not None:
                add(self.constructions(loader, site.statement)[0], "trainer.fit")
        return uses

    def _add_remote(self, iterable: cst.BaseExpression, loop: Statement, timeline: Timeline) -> None:
        remote = self.ctx.fact(RemoteValues)
        if not remote.active:
            return
        while isinstance(iterable, cst.Call) and len(self._unwrapped(iterable)) == 1:
            iterable = self._unwrapped(iterable)[0]
        found = remote.value(iterable, loop)
        if found is not None and found.kind == "loader" and remote.elsewhere(found):
            if all(use.loader.at != found.at for use in self.remote_uses):
                self.remote_uses.append(RemoteLoaderUse(found, loop, timeline))

    def _given_only_by_evaluation_calls(self, timeline: Timeline) -> Set[int]:
        """A shared epoch helper, `run_epoch(model, valid_dl, mode="valid")`, whose backward sits under
        `if mode == "train":`: the DataLoaders passed only by calls whose literal arguments rule out
        every backward of the loop (ids of their constructions). They are validation loaders."""
        scope = timeline.scope
        backwards = timeline.of(BACKWARD)
        if scope.is_module or any(event.statement.scope is not scope for event in backwards):
            return set()
        training, evaluation = set(), set()
        for site in self.flow.callers(scope):
            if site.statement is None:
                continue
            values = self.flow.with_derived_flags(scope, dict(self.flow.call_constants(site, scope)))
            rules_out = bool(values) and all(
                self.flow.branch_verdict(event.statement, values) is False for event in backwards
            )
            for arg in site.node.args:
                loaders, _ = self.constructions(arg.value, site.statement)
                (evaluation if rules_out else training).update(id(call) for call, _ in loaders)
        return evaluation - training

    @staticmethod
    def _minus(found: List[Tuple[cst.Call, Statement]], excluded: Set[int]) -> List[Tuple[cst.Call, Statement]]:
        return [(call, where) for call, where in found if id(call) not in excluded]

    @staticmethod
    def _steps_at_this_level(loop: Statement, timeline: Timeline) -> bool:
        """Whether a backward of the loop runs in its own body rather than in a loop nested in it:
        an epoch loop whose inner loop trains on one loader and which then fetches a batch of
        another with `next()` (a validation sample) does not train on that batch."""
        return any(_innermost_loop(event.anchor) is loop.node for event in timeline.of(BACKWARD))

    def _fetched_in(self, loop: Statement) -> Iterator[Tuple[cst.BaseExpression, Statement]]:
        """`next(it)` / `next(iter(loader))` in the loop's own body (same function, not in a loop
        nested in it)."""
        for statement in loop.scope.statements[loop.position + 1 :]:
            if loop.node not in statement.blocks:
                break
            if _innermost_loop(statement) is not loop.node:
                continue
            for site in statement.calls:
                if self.ctx.qualified_name(site.node.func) == "builtins.next":
                    args = positional_args(site.node)
                    if args:
                        yield args[0], statement

    def _lightning_trainer(self, call: cst.Call, statement: Statement) -> bool:
        receiver = method_receiver(call)
        if receiver is None:
            return False
        sources, _ = self.objects.sources(receiver, statement)
        for value, _ in sources:
            if isinstance(value, cst.Call) and callee_terminal_name(value) == "Trainer":
                qualified = self.ctx.qualified_name(value.func) or ""
                if qualified.startswith(("lightning", "pytorch_lightning")):
                    return True
        return False

    # -- how a DataLoader orders samples ---------------------------------------------------------------

    def shuffling(self, call: cst.Call) -> Optional[str]:
        if any(arg.star == "**" for arg in call.args) or any(arg.star == "*" for arg in call.args):
            return None
        batch_size = argument(call, 1, "batch_size")
        if isinstance(batch_size, cst.Call) and self.ctx.qualified_name(batch_size.func) == "builtins.len":
            return "shuffled"  # one batch holds the whole dataset: order cannot matter
        for position, keyword in ((3, "sampler"), (4, "batch_sampler")):
            value = argument(call, position, keyword)
            if value is not None and not is_none(value):
                return "shuffled"
        shuffle = argument(call, 2, "shuffle")
        if shuffle is None or (isinstance(shuffle, cst.Name) and shuffle.value == "False"):
            return "unshuffled"
        if isinstance(shuffle, cst.Name) and shuffle.value == "True":
            return "shuffled"
        return None

    def dataset_order(self, call: cst.Call, statement: Statement) -> Optional[str]:
        dataset = argument(call, 0, "dataset")
        if dataset is None:
            return None
        order = self._order_of(dataset, statement, 0)
        if order == "map" and self._shuffled_before(statement):
            return "shuffled"
        return order

    def _order_of(self, expr: cst.BaseExpression, statement: Statement, depth: int) -> Optional[str]:
        if depth > MAX_ORDER_DEPTH:
            return None
        if isinstance(expr, (cst.List, cst.ListComp, cst.Tuple)):
            return "map"
        if isinstance(expr, cst.Subscript):
            return self._order_of(expr.value, statement, depth + 1)  # raw["train"], splits[0]
        if isinstance(expr, cst.Call):
            return self._order_of_call(expr, statement, depth)
        definition = None
        if isinstance(expr, cst.Name):
            definition = self.flow.definition(expr.value, statement)
            if definition.kind == "unpacked" and isinstance(definition.value, cst.Call):
                returned = self._unpacked_return(expr, statement)
                if returned:
                    orders = {self._order_of(value, where, depth + 1) for value, where in returned}
                    return orders.pop() if len(orders) == 1 else None
                # train_set, val_set = random_split(...)
                return self._order_of_call(definition.value, definition.statement, depth)
        sources, complete = self.objects.sources(expr, statement)
        orders = set()
        for value, where in sources:
            if isinstance(value, cst.Call):
                orders.add(self._order_of_call(value, where, depth + 1))
            elif isinstance(value, (cst.List, cst.ListComp, cst.Subscript)) and value is not expr:
                orders.add(self._order_of(value, where, depth + 1))
            else:
                orders.add(None)
        if not complete or len(orders) != 1:
            return None
        return orders.pop()

    def _order_of_call(self, call: cst.Call, statement: Statement, depth: int) -> Optional[str]:
        qualified = self.ctx.qualified_name(call.func) or ""
        terminal = callee_terminal_name(call) or ""
        if terminal in SHUFFLING_CALLS:
            return "shuffled"
        if terminal in SPLITTING_CALLS:
            parts = positional_args(call)
            return self._order_of(parts[0], statement, depth + 1) if parts and terminal == "random_split" else None
        if qualified.startswith("torchvision.datasets."):
            return "random" if terminal == "FakeData" else "map"
        if qualified in ("torch.utils.data.TensorDataset", "torch.utils.data.dataset.TensorDataset"):
            tensors = positional_args(call)
            if tensors and all(self._random_tensor(t, statement, 0) for t in tensors[:1]):
                return "random"  # synthetic noise: any order is as good as another
            return "map"
        if qualified in ("torch.utils.data.ConcatDataset", "torch.utils.data.dataset.ConcatDataset"):
            parts = positional_args(call)
            if len(parts) == 1 and isinstance(parts[0], (cst.List, cst.Tuple)):
                orders = {self._order_of(element.value, statement, depth + 1) for element in parts[0].elements}
                return orders.pop() if len(orders) == 1 else None
            return None
        if qualified in ("datasets.load_dataset",):
            streaming = keyword_arg(call, "streaming")
            if streaming is not None:
                return "iterable" if not (isinstance(streaming, cst.Name) and streaming.value == "False") else "map"
            return "map"
        if qualified.startswith("datasets.") and terminal in ("from_dict", "from_pandas", "from_list", "load_from_disk"):
            return "map"
        receiver = method_receiver(call)
        if receiver is not None and qualified == "" and terminal in ORDER_KEEPING_METHODS:
            return self._order_of(receiver, statement, depth + 1)
        if isinstance(call.func, cst.Name) and not qualified:
            info = self.ctx.index.class_by_name.get(call.func.value)
            if info is not None:
                return self._class_order(info, 0)
            returned = self.returned(call, statement)
            orders = {self._order_of(value, where, depth + 1) for value, where in returned}
            if len(orders) == 1:
                order = orders.pop()
                if order == "map" and self._shuffled_before(returned[0][1]):
                    return "shuffled"
                return order
        return None

    def _random_tensor(self, expr: cst.BaseExpression, statement: Statement, depth: int) -> bool:
        """`torch.randn(...)`, `np.random.rand(...)`, or a name assigned one (also `.float()` of it)."""
        if depth > MAX_DEPTH:
            return False
        while isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and self.ctx.qualified_name(expr.func) is None:
            expr = expr.func.value  # torch.randn(...).float(), x.to(device)
        if isinstance(expr, cst.Call):
            qualified = self.ctx.qualified_name(expr.func) or ""
            return qualified.startswith(RANDOM_TENSORS)
        if isinstance(expr, cst.Name):
            definition = self.flow.definition(expr.value, statement)
            if definition.kind == "assign" and definition.value is not None and definition.statement is not None:
                return self._random_tensor(definition.value, definition.statement, depth + 1)
        return False

    def _class_order(self, info: ClassInfo, depth: int) -> Optional[str]:
        """A Dataset class of this module: map-style (indexed in order), iterable, or unknown."""
        if depth > MAX_DEPTH:
            return None
        init = info.methods.get("__init__")
        if init is not None and any(
            (self.ctx.qualified_name(site.node.func) or "").startswith(RANDOM_TENSORS) for site in init.calls
        ):
            return "random"  # synthetic data drawn at random when the dataset is built
        getitem = info.methods.get("__getitem__")
        if "__iter__" in info.methods and getitem is None:
            return "iterable"
        if init is not None and any(callee_terminal_name(site.node) in SHUFFLING_CALLS for site in init.calls):
            return "shuffled"  # random.shuffle(self.samples) when the dataset is built
        if any(re.search(r"shuffle|on_epoch_end|set_epoch", name) for name in info.methods):
            return None  # the dataset reorders itself between epochs
        if getitem is not None and any(callee_terminal_name(site.node) in RANDOM_PICK for site in getitem.calls):
            return None  # the sample is drawn at random, whatever the index
        for base in info.bases:
            name = dotted_name(base) or ""
            if ITERABLE_BASE.search(name.split(".")[-1]):
                return "iterable"
            inner = self.ctx.index.class_by_name.get(name)
            if inner is not None and inner is not info:
                order = self._class_order(inner, depth + 1)
                if order is not None:
                    return order
                continue
            qualified = self.ctx.qualified_name(base) or ""
            if qualified.startswith(("torch.utils.data", "torchvision.datasets")) and MAP_BASE.search(qualified):
                return "map"
        if getitem is not None and "__len__" in info.methods:
            return "map"
        return None

    def _shuffled_before(self, statement: Statement) -> bool:
        """A call that shuffles data once (random.shuffle, a permutation, df.sample(frac=1)) before the
        DataLoader is built, in the same function: the order it reads is already random."""
        for earlier in statement.scope.statements[: statement.position + 1]:
            for site in earlier.calls:
                if callee_terminal_name(site.node) in SHUFFLING_CALLS:
                    return True
            if isinstance(earlier.node, cst.Assign) or isinstance(earlier.node, cst.Expr):
                for site in earlier.calls:
                    if callee_terminal_name(site.node) == "sample" and keyword_arg(site.node, "frac") is not None:
                        return True
        return False


def _innermost_loop(statement: Statement) -> Optional[cst.CSTNode]:
    """The innermost `for`/`while` around a statement in its function, or None."""
    return next((block for block in reversed(statement.blocks) if isinstance(block, (cst.For, cst.While))), None)
