"""What another module's code gives: the module summaries of a project, read by pass 2.

`ProjectValues` holds the summaries (`analysis.summaries`) of the modules a file can reach, and the
links of their imports to project files (computed by `nnlint.project`). It answers, for a name or a
call of the file being checked, what the project's code makes of it, in nnlint's own vocabulary:

- `Remote`: an abstract value with its provenance (`path`, `at`): ``model`` (a library model,
  ``weights`` when pretrained; or an instance of a project `nn.Module` class), ``pipeline`` (a
  transform pipeline and its ops), ``loader`` (a DataLoader and ``shuffle``), ``instance`` (of a
  project class), ``seq`` (a returned tuple), ``const``, or None when unknown.
- `function(path, dotted)`: a project function's summary (its effects on its parameters).
- `callers(path, function)`: call sites of a project function in every module of the project.

Values are interpreted by where they come from (the constructor's qualified name, the summary of
the function that returns them), never by the name they are stored in. Everything unresolved
(third-party code, runtime values, recursion past the bound) is None: unknown stays unknown, and
the checks that ask stay silent. Every module whose summary an answer read is recorded in
`consumed`, so the result cache can key a file's findings on them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, FrozenSet, List, Optional, Set, Tuple

# How many calls, re-exports and global names one answer may follow (a bounded fixed point: cycles
# between modules end here, as unknown). The nesting of one value tree costs nothing: it is finite.
MAX_DEPTH = 8

DATALOADERS = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
COMPOSE = frozenset({
    "torchvision.transforms.Compose", "torchvision.transforms.v2.Compose", "albumentations.Compose",
    "albumentations.core.composition.Compose",
})
MAP_DATASETS = frozenset({"torch.utils.data.Dataset", "torch.utils.data.dataset.Dataset", "torch.utils.data.TensorDataset"})
ITERABLE_DATASETS = frozenset({"torch.utils.data.IterableDataset", "torch.utils.data.dataset.IterableDataset"})
TORCH_MODULES = frozenset({"torch.nn.Module", "torch.nn.modules.module.Module"})
MODE_LAYERS = ("BatchNorm", "Dropout", "SyncBatchNorm", "AlphaDropout", "FeatureAlphaDropout")
LIBRARY_MODELS = ("torchvision.models.", "timm.create_model", "timm.models.")
UNKNOWN_VALUE = {"?": 1}
# calls that give back the model they are handed (its forward runs that model)
MODEL_WRAPPERS = frozenset({
    "torch.compile", "torch.nn.DataParallel", "torch.nn.parallel.DataParallel",
    "torch.nn.parallel.DistributedDataParallel", "torch.nn.parallel.distributed.DistributedDataParallel",
})
ACCELERATORS = frozenset({"accelerate.Accelerator", "accelerate.accelerator.Accelerator"})
# calls that return their receiver (the value keeps its provenance)
PASSTHROUGH_METHODS = frozenset({"to", "cuda", "cpu", "float", "half", "train", "eval", "requires_grad_", "double"})


@dataclass
class Remote:
    """An abstract value built in another module (or this one through another module)."""

    kind: str  # model, pipeline, loader, instance, seq, const
    path: str = ""  # the file that builds it
    at: Optional[List[int]] = None  # [line, column, end_line, end_column] of its construction
    detail: Dict[str, Any] = field(default_factory=dict)
    items: List[Optional["Remote"]] = field(default_factory=list)

    @property
    def line(self) -> int:
        return self.at[0] if self.at else 1


@dataclass(frozen=True)
class Symbol:
    kind: str  # function, class, global, module, external
    path: str = ""
    name: str = ""
    data: Any = None  # the summary (function/class), the value (global) or the qualified name (external)


class ProjectValues:
    def __init__(
        self,
        path: str,
        modules: Dict[str, Dict[str, Any]],
        displays: Optional[Dict[str, str]] = None,
    ) -> None:
        """`modules`: file path -> {"summary": ..., "links": {local name: [path, attribute...]}}
        for the file at `path` and the modules it can reach; `displays`: how to name a path in
        findings."""
        self.path = path
        self.modules = modules
        self.displays = displays or {}
        self.consumed: Set[str] = set()
        self._call_index: Optional[Dict[Tuple[str, str, str], List[Tuple[str, Dict[str, Any]]]]] = None
        # the check triggers found in the modules it reaches (a check whose evidence is elsewhere runs)
        self.triggers: FrozenSet[str] = frozenset(
            trigger for record in modules.values() for trigger in record["summary"].get("triggers", ())
        )
        self._lines: Dict[str, List[str]] = {}

    def display(self, path: str) -> str:
        return self.displays.get(path) or os.path.relpath(path)

    def lines(self, path: str) -> List[str]:
        """The lines of a project file (for `# noqa` on findings reported there)."""
        if path not in self._lines:
            try:
                self._lines[path] = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                self._lines[path] = []
        return self._lines[path]

    # -- names -----------------------------------------------------------------------------------

    def _module(self, path: str) -> Optional[Dict[str, Any]]:
        record = self.modules.get(path)
        if record is not None and path != self.path:
            self.consumed.add(path)
        return record

    def symbol(self, path: str, dotted: str, depth: int = 0) -> Optional[Symbol]:
        """What a (dotted) name of module `path` stands for."""
        record = self._module(path)
        if record is None or depth > MAX_DEPTH or not dotted:
            return None
        summary = record["summary"]
        root, _, rest = dotted.partition(".")
        if root in summary["functions"] and not rest:
            return Symbol("function", path, root, summary["functions"][root])
        if root in summary["classes"]:
            info = summary["classes"][root]
            if not rest:
                return Symbol("class", path, root, info)
            method = info["methods"].get(rest)
            return Symbol("function", path, f"{root}.{rest}", method) if method is not None else None
        if root in summary["globals"] and not rest:
            return Symbol("global", path, root, summary["globals"][root])
        link = record["links"].get(root)
        if link is not None:
            target, attribute = link[0], list(link[1:]) + (rest.split(".") if rest else [])
            if not attribute:
                return Symbol("module", target, "")
            return self.symbol(target, ".".join(attribute), depth + 1)
        qualified = summary["imports"].get(root)
        if qualified is not None and not qualified.startswith("."):
            return Symbol("external", data=f"{qualified}.{rest}" if rest else qualified)
        return None

    def qualified(self, path: str, dotted: str) -> Optional[str]:
        found = self.symbol(path, dotted)
        return found.data if found is not None and found.kind == "external" else None

    def function(self, path: str, dotted: str) -> Optional[Symbol]:
        found = self.symbol(path, dotted)
        return found if found is not None and found.kind == "function" and found.data is not None else None

    # -- values ----------------------------------------------------------------------------------

    def call_result(
        self, callee: Symbol, args: List[Any], kwargs: Dict[str, Any], depth: int = 0, receiver: Optional[Remote] = None
    ) -> Optional[Remote]:
        """What calling a project function or class gives (arguments already interpreted);
        `receiver`: the instance a method is called on (its `self`)."""
        if depth > MAX_DEPTH:
            return None
        if callee.kind == "class":
            return Remote("instance", callee.path, callee.data.get("at"), {"class": callee.name, "class_path": callee.path})
        if callee.kind != "function":
            return None
        summary = callee.data
        bindings: Dict[str, Optional[Remote]] = {}
        params = list(summary["params"])
        if params and params[0] in ("self", "cls") and "." in callee.name:
            bindings[params[0]] = receiver
            params = params[1:]
        for name, value in zip(params, args):
            bindings[name] = value
        for name, value in kwargs.items():
            if name in params:
                bindings[name] = value
        for name, default in summary["defaults"].items():
            if name not in bindings:
                bindings[name] = self.evaluate(default, callee.path, {}, depth + 1)
        returned = summary.get("returns")
        return self.evaluate(returned, callee.path, bindings, depth + 1) if returned is not None else None

    def evaluate(self, value: Any, path: str, bindings: Dict[str, Optional[Remote]], depth: int = 0) -> Optional[Remote]:
        """The abstract value of a summary value tree, in module `path`."""
        if value is None or depth > MAX_DEPTH:
            return None
        if "c" in value:
            return Remote("const", path, None, {"value": value["c"]})
        if "known" in value:  # a value pass 2 already evaluated (`RemoteValues.tree`; never stored)
            return value["known"]
        if "p" in value:
            return bindings.get(value["p"])
        if "seq" in value:
            return Remote("seq", path, None, items=[self.evaluate(v, path, bindings, depth) for v in value["seq"]])
        if "item" in value:
            container = self.evaluate(value["item"], path, bindings, depth)
            index = value["i"]
            if container is not None and container.kind == "seq" and isinstance(index, int) and -len(container.items) <= index < len(container.items):
                return container.items[index]
            return None
        if "either" in value:
            test = self.evaluate(value["if"], path, bindings, depth) if "if" in value else None
            if test is not None and test.kind == "const" and "value" in test.detail:
                # `W if pretrained else None` with pretrained=True (passed, or its default)
                return self.evaluate(value["either"][0 if test.detail["value"] else 1], path, bindings, depth)
            options = [self.evaluate(v, path, bindings, depth) for v in value["either"]]
            known = [o for o in options if o is not None]
            if len(known) != len(options):
                return None
            return Remote("either", path, None, items=known)
        if "n" in value:
            found = self.symbol(path, value["n"])  # a name's re-exports have their own bound
            if found is not None and found.kind == "global":
                return self.evaluate(found.data, found.path, {}, depth + 1)
            if found is not None and found.kind == "external":
                return Remote("const", path, None, {"qualified": found.data})
            return None
        if "call" in value:
            return self._call(value, path, bindings, depth)
        if "attr" in value:  # `self.train_set` of an instance: what the class's methods assign
            owner = self.evaluate(value["attr"], path, bindings, depth)
            return self.attribute(owner, value["a"], depth + 1) if owner is not None and owner.kind == "instance" else None
        return None

    def attribute(self, instance: Remote, name: str, depth: int = 0) -> Optional[Remote]:
        """`instance.<name>` when exactly one method of its class assigns it, once, on its straight
        path (`self.train_set = ImageFolder(...)` in `setup`); that method's parameters take this
        instance's arguments (`__init__`) or their defaults."""
        found = self.symbol(instance.detail["class_path"], instance.detail["class"])
        if found is None or found.kind != "class" or depth > MAX_DEPTH:
            return None
        assigning = [(method, info) for method, info in found.data["methods"].items() if name in info.get("attrs", {})]
        if len(assigning) != 1 or assigning[0][1]["attrs"][name] == UNKNOWN_VALUE:
            return None
        method, info = assigning[0]
        params = list(info["params"])
        bindings: Dict[str, Optional[Remote]] = {params[0]: instance} if params else {}
        params = params[1:]
        if method == "__init__" and "args" in instance.detail:
            bindings.update(zip(params, instance.detail["args"]))
            bindings.update({k: v for k, v in instance.detail["kwargs"].items() if k in params})
        for parameter, default in info["defaults"].items():
            if parameter not in bindings:
                bindings[parameter] = self.evaluate(default, found.path, {}, depth)
        return self.evaluate(info["attrs"][name], found.path, bindings, depth)

    def _call(self, value: Dict[str, Any], path: str, bindings, depth: int) -> Optional[Remote]:
        func = value["call"]
        args = [self.evaluate(a, path, bindings, depth) for a in value["args"]]
        kwargs = {k: self.evaluate(v, path, bindings, depth) for k, v in value["kw"].items()}
        if "attr" in func:  # method call on a value: model.to(device), loader wrapping
            receiver = self.evaluate(func["attr"], path, bindings, depth)
            if receiver is not None and func["a"] in PASSTHROUGH_METHODS and _is_module(receiver):
                return receiver
            if receiver is not None and receiver.kind == "instance":  # a method of a project class
                method = self.symbol(receiver.detail["class_path"], f"{receiver.detail['class']}.{func['a']}")
                if method is not None and method.kind == "function" and method.data is not None:
                    return self.call_result(method, args, kwargs, depth + 1, receiver=receiver)
            if receiver is not None and receiver.kind == "call" and receiver.detail["qualified"] in ACCELERATORS and func["a"] == "prepare":
                # `model, optimizer, loader = accelerator.prepare(model, optimizer, loader)`
                return args[0] if len(args) == 1 else Remote("seq", path, None, items=args)
            return None
        if "n" not in func:
            return None
        found = self.symbol(path, func["n"])
        if found is None:
            return None
        if found.kind == "class":  # an instance, built here (with the arguments its __init__ gets)
            return Remote("instance", path, value["at"], {"class": found.name, "class_path": found.path, "args": args, "kwargs": kwargs})
        if found.kind == "function":
            return self.call_result(found, args, kwargs, depth + 1)
        if found.kind != "external":
            return None
        return self._library_call(found.data, value, args, kwargs, path)

    def _library_call(self, qualified: str, value, args, kwargs, path: str) -> Optional[Remote]:
        at = value["at"]
        if qualified in DATALOADERS:
            shuffle = kwargs.get("shuffle", args[2] if len(args) > 2 else None)
            sampled = any(
                key in value["kw"] and value["kw"][key] != {"c": None} for key in ("sampler", "batch_sampler")
            ) or len(value["args"]) > 3
            starred = any(a == {"?": 1} for a in value["args"])
            if sampled:
                order = "shuffled"
            elif "shuffle" not in value["kw"] and len(value["args"]) <= 2 and not starred:
                order = "unshuffled"
            elif shuffle is not None and shuffle.kind == "const" and shuffle.detail.get("value") in (True, False):
                order = "shuffled" if shuffle.detail["value"] else "unshuffled"
            else:
                order = None
            dataset = args[0] if args else kwargs.get("dataset")
            return Remote("loader", path, at, {"order": order, "dataset": dataset})
        if qualified in MODEL_WRAPPERS and args and args[0] is not None and _is_module(args[0]):
            return args[0]  # DataParallel(model), torch.compile(model): the model it runs
        if qualified in COMPOSE:
            ops = args[0] if args else kwargs.get("transforms")
            names = []
            for raw in (value["args"][0]["seq"] if value["args"] and "seq" in value["args"][0] else []):
                op = self.evaluate(raw, path, {}, 1) if "call" not in raw else None
                name = raw.get("call", {}).get("n") if "call" in raw else None
                qualified_op = self.qualified(path, name) if name else None
                names.append(qualified_op or (op.detail.get("qualified") if op else None))
            if ops is None or ops.kind != "seq" or any(n is None for n in names):
                return None
            # each op's construction (`Normalize(mean, std)` with its arguments), where it is a call
            calls = [op if op is not None and op.kind == "call" else None for op in ops.items]
            return Remote("pipeline", path, at, {"ops": names, "calls": calls})
        # another library call: what it is, for the facts that know that library
        return Remote("call", path, at, {"qualified": qualified, "args": args, "kwargs": kwargs})

    def dataset_order(self, dataset: Optional[Remote]) -> Optional[str]:
        """"map" for a map-style dataset read in its stored order (a torchvision dataset, a
        TensorDataset, an instance of a project `Dataset` subclass); None when unknown."""
        if dataset is None:
            return None
        if dataset.kind == "call":
            qualified = dataset.detail["qualified"]
            if qualified.startswith("torchvision.datasets.") or qualified in MAP_DATASETS:
                return "map"
            return None
        if dataset.kind == "instance":
            bases = set(self.class_bases(dataset.detail["class_path"], dataset.detail["class"]))
            if bases & MAP_DATASETS and not bases & ITERABLE_DATASETS:
                return "map"
        return None

    def class_bases(self, path: str, name: str, depth: int = 0) -> List[str]:
        """Qualified names of the library classes a project class derives from (through project
        classes)."""
        found = self.symbol(path, name)
        if found is None or found.kind != "class" or depth > MAX_DEPTH:
            return []
        bases: List[str] = []
        for base in found.data["bases"]:
            target = self.symbol(found.path, base)
            if target is None:
                continue
            if target.kind == "external":
                bases.append(target.data)
            elif target.kind == "class":
                bases.extend(self.class_bases(target.path, target.name, depth + 1))
        return bases

    # -- models ------------------------------------------------------------------------------------

    def mode_layers(self, value: Optional[Remote], depth: int = 0) -> Optional[Tuple[str, ...]]:
        """The layers that behave differently in training and evaluation mode (BatchNorm, Dropout)
        of a model value: names, () for visibly none, None when unknown."""
        if value is None or depth > MAX_DEPTH:
            return None
        if value.kind == "call":
            qualified = value.detail["qualified"]
            if qualified.startswith(LIBRARY_MODELS):
                return ("BatchNorm/Dropout",)
            terminal = qualified.rsplit(".", 1)[-1]
            if qualified.startswith("torch.nn.") and terminal.startswith(MODE_LAYERS):
                return (terminal,)
            return None
        if value.kind != "instance":
            return None
        return self.class_layers(value.detail["class_path"], value.detail["class"], depth + 1)

    def class_layers(self, path: str, name: str, depth: int = 0) -> Optional[Tuple[str, ...]]:
        found = self.symbol(path, name)
        if found is None or found.kind != "class" or depth > MAX_DEPTH:
            return None
        bases = [self.symbol(found.path, base) for base in found.data["bases"]]
        if not any(b is not None and (b.kind == "class" or b.data in TORCH_MODULES) for b in bases):
            return None  # not visibly an nn.Module of torch
        names: List[str] = []
        for base in bases:
            if base is not None and base.kind == "class":
                inherited = self.class_layers(base.path, base.name, depth + 1)
                if inherited is None:
                    return None
                names.extend(inherited)
        for called in found.data["calls"]:
            target = self.symbol(found.path, called)
            if target is None:
                continue
            if target.kind == "external":
                terminal = target.data.rsplit(".", 1)[-1]
                if target.data.startswith("torch.nn.") and terminal.startswith(MODE_LAYERS):
                    names.append(terminal)
                elif target.data.startswith(LIBRARY_MODELS):
                    names.append("BatchNorm/Dropout")
            elif target.kind == "class":
                inner = self.class_layers(target.path, target.name, depth + 1)
                names.extend(inner or ())
        return tuple(dict.fromkeys(names))

    # -- call sites of a project function, anywhere in the project --------------------------------

    def callers(self, path: str, function: str) -> List[Tuple[str, Dict[str, Any]]]:
        """(caller's path, call record) for every call of `function` of module `path`."""
        return self._calls_of("function", path, function)

    def _calls_of(self, kind: str, path: str, name: str) -> List[Tuple[str, Dict[str, Any]]]:
        """The call records, in every module, whose callee is the project function (or class) `name`
        of module `path`: every record's callee is resolved once per linted file."""
        if self._call_index is None:
            index: Dict[Tuple[str, str, str], List[Tuple[str, Dict[str, Any]]]] = {}
            for caller_path in sorted(self.modules):
                for record in self.modules[caller_path]["summary"]["calls"]:
                    target = self.symbol(caller_path, record["f"])
                    if target is not None and target.kind in ("function", "class"):
                        index.setdefault((target.kind, target.path, target.name), []).append((caller_path, record))
            self._call_index = index
        found = self._call_index.get((kind, path, name), [])
        self.consumed.update(caller for caller, _ in found if caller != self.path)
        return found

    def constructions(self, path: str, name: str) -> List[Tuple[str, Dict[str, Any]]]:
        """(caller's path, call record) for every construction `Name(...)` of the class `name` of
        module `path`, anywhere in the project."""
        return self._calls_of("class", path, name)

    def scope_effects(self, path: str, scope: str) -> Optional[List[Dict[str, Any]]]:
        """The effects of a function (`name`, `Class.method`) or of the module (`<module>`)."""
        record = self._module(path)
        if record is None:
            return None
        summary = record["summary"]
        if scope == "<module>":
            return summary["effects"]
        owner, _, method = scope.partition(".")
        if method:
            info = summary["classes"].get(owner)
            found = info["methods"].get(method) if info is not None else None
        else:
            found = summary["functions"].get(owner)
        return found["effects"] if found is not None else None

    def may_switch_to_eval(self, path: str, scope: str, value: Any, skip: Optional[List[int]] = None) -> bool:
        """Whether the code of `scope` may put the model `value` (a summary value tree of that scope)
        in evaluation mode: `value.eval()` there, or `value` given to a project function that may.
        `skip`: the call being judged (its place)."""
        effects = self.scope_effects(path, scope)
        if effects is None:
            return True
        for effect in effects:
            if effect["k"] == "mode" and effect["training"] is False and effect["t"] in (value, UNKNOWN_VALUE):
                return True
            if effect["k"] != "call" or effect["at"] == skip:
                continue
            if value not in list(effect["args"]) + list(effect["kw"].values()):
                continue
            callee = effect["call"]
            if "n" not in callee:
                return True  # model given to a method of some object: it may switch it
            target = self.symbol(path, callee["n"])
            if target is not None and target.kind == "external":
                continue  # a library call (torch.save(model), print(model)) sets no mode
            if target is None or target.kind != "function" or self._may_switch_parameters(target):
                return True
        return False

    def _may_switch_parameters(self, function: Symbol) -> bool:
        """A project function that switches a mode to eval, or hands its parameters on to a project
        function or an unknown one."""
        effects = self.scope_effects(function.path, function.name) or []
        for effect in effects:
            if effect["k"] == "mode" and effect["training"] is False:
                return True
            if effect["k"] == "call" and any("p" in a for a in list(effect["args"]) + list(effect["kw"].values())):
                callee = effect["call"]
                target = self.symbol(function.path, callee["n"]) if "n" in callee else None
                if target is None or target.kind != "external":
                    return True
        return False


def _is_module(value: Remote) -> bool:
    """A model or layer: a project module's instance, a library model, a torch.nn layer (what
    `.to(device)`, `.eval()` give back unchanged)."""
    if value.kind in ("model", "instance"):
        return True
    return value.kind == "call" and value.detail["qualified"].startswith(LIBRARY_MODELS + ("torch.nn.",))
