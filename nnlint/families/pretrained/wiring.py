"""Pretrained models and input pipelines that meet in this module's training loop, built in other
files of the project: `train.py` iterates `get_loaders()` of `data.py` into `build_model()` of
`model.py`.

`ProjectInputs.wirings()` lists, for every `for` loop of this module that iterates a DataLoader
and calls a pretrained torchvision/timm model on what it yields (and every Lightning
`trainer.fit(module, ...)`, whose `training_step` runs the module's backbone on the training
loader's batches), the pipeline that dataset's `transform=` holds, when at least one of model and
pipeline is built in another file (both built here is the single-file check's business). The
model may be a library builder's result or the backbone a project module's `forward` (or a
LightningModule's `training_step`) runs first. `feedings()` lists the pretrained models fed by a
project Dataset class of another file, whose own code `bgr_reads` inspects (NNL303).

Values are taken from where they are built (`RemoteValues.abstract`: local names followed back,
project functions' summaries, call sites of parameters anywhere in the project, paired per call
site), never from names; anything unresolved is left out. `normalizes_elsewhere(path)` reads a
module the finding rests on for normalization it does by hand (`(x - mean) / std`, a
`normalize_*` helper, a `Normalize` outside a pipeline): a finding is only made when none does.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, replace
from typing import Dict, FrozenSet, List, Optional, Set, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.index import Statement
from nnlint.analysis.names import argument, callee_terminal_name, keyword_arg, plain_names, positional_args
from nnlint.analysis.project_values import TORCH_MODULES, ProjectValues, Remote
from nnlint.analysis.remote import Context, RemoteValues, options
from nnlint.analysis.summaries import dotted
from nnlint.families.pretrained.preprocessing import TO_TENSOR_OPS, ImageRead, ImageReads, is_channel_reversal
from nnlint.families.pretrained.statistics import (
    INTERNAL,
    STATISTICS,
    TORCHVISION_BUILDERS,
    TORCHVISION_WEIGHT_EXCEPTIONS,
    UNKNOWN,
    Statistics,
    timm_known,
    timm_statistics,
)

LIGHTNING_TRAINERS = frozenset({"lightning.Trainer", "lightning.pytorch.Trainer", "pytorch_lightning.Trainer"})
LIGHTNING_MODULES = frozenset({"lightning.LightningModule", "lightning.pytorch.LightningModule", "pytorch_lightning.LightningModule"})
TIMM_FACTORIES = frozenset({"timm.create_model", "timm.models.create_model", "timm.models._factory.create_model"})
# what a DataLoader is iterated through without changing what it yields
ITERATION_WRAPPERS = frozenset({"builtins.enumerate", "tqdm.tqdm", "tqdm.auto.tqdm", "tqdm.notebook.tqdm"})
# keywords (and __init__ parameters) under which a dataset receives its image pipeline
TRANSFORM_PARAMETERS = frozenset({"transform", "transforms", "image_transform", "img_transform", "input_transform"})
NORMALIZING_CALL = re.compile(r"normaliz|standardiz|processor|feature_extractor|preprocess", re.IGNORECASE)
MEAN_WORDS = re.compile(r"mean|\bmu\b|imagenet|127\.5|\b128\b", re.IGNORECASE)


@dataclass(frozen=True)
class ProjectModel:
    """A pretrained model built by a construction the project's summaries show."""

    remote: Remote
    source: str  # torchvision | timm
    name: str
    weights: Optional[str]
    statistics: Optional[Statistics]
    wrapper: Optional[str] = None  # the module of the project class that feeds its input to it

    @property
    def needs_normalization(self) -> bool:
        return not (self.statistics is not None and self.statistics.identity)

    def describe(self, ctx: Optional[ModuleContext] = None) -> str:
        if self.source == "torchvision":
            return f"{self.name} ({self.weights or 'pretrained'} weights)"
        return f"timm model '{self.name}'" if self.name else "the timm model"


@dataclass(frozen=True)
class Wiring:
    model: ProjectModel
    pipeline: Remote  # kind "pipeline": ops (qualified names) and their constructions
    feed: cst.CSTNode  # the training loop, or the `trainer.fit(...)` call
    statement: Statement  # the feed's statement
    model_call: cst.CSTNode  # where the batches reach the model (the call in the loop; `fit`)
    paths: FrozenSet[str]  # the modules that build model, loader, dataset and pipeline

    @property
    def lightning(self) -> bool:
        return isinstance(self.feed, cst.Call)


@dataclass(frozen=True)
class Feeding:
    """A pretrained model fed the batches of an instance of a project Dataset class."""

    model: ProjectModel
    dataset: Remote  # kind "instance"
    feed: cst.CSTNode
    statement: Statement
    model_call: cst.CSTNode


def _expressions(node: cst.CSTNode):
    """The calls and subscripts of a statement itself (not of the blocks it holds)."""
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, (cst.IndentedBlock, cst.FunctionDef, cst.ClassDef)):
            continue
        if isinstance(current, (cst.Call, cst.Subscript)):
            yield current
        pending.extend(current.children)


def pretrained_model(value: Optional[Remote], project: Optional[ProjectValues] = None) -> Optional[ProjectModel]:
    """A torchvision builder with pretrained weights, or `timm.create_model(name, pretrained=True)`;
    with `project`, also an instance of a project `nn.Module` whose `forward` hands its input
    straight to such a backbone (`return self.backbone(x)`)."""
    if value is not None and value.kind == "instance" and project is not None:
        return _wrapped_backbone(value, project)
    if value is None or value.kind != "call":
        return None
    qualified = value.detail["qualified"]
    kwargs: Dict[str, Optional[Remote]] = value.detail["kwargs"]
    if qualified.startswith("torchvision.models.") and qualified.rsplit(".", 1)[-1] in TORCHVISION_BUILDERS:
        builder = qualified.rsplit(".", 1)[-1]
        enum, family = TORCHVISION_BUILDERS[builder]
        weights = _weights(kwargs.get("weights"), enum)
        if weights is None and _true(kwargs.get("pretrained")):
            weights = f"{enum}.DEFAULT"
        if weights is None:
            return None
        family = TORCHVISION_WEIGHT_EXCEPTIONS.get(weights, family if weights.startswith(enum + ".") else None)
        if family in (INTERNAL, UNKNOWN) or family not in STATISTICS:
            return None  # detection models normalize inside; other enums: not this builder's weights
        return ProjectModel(value, "torchvision", builder, weights, STATISTICS[family])
    if qualified in TIMM_FACTORIES:
        name = _constant(value.detail["args"][0] if value.detail["args"] else kwargs.get("model_name"))
        if not _true(kwargs.get("pretrained")) or not isinstance(name, str):
            return None
        if "pretrained_cfg" in kwargs or "pretrained_cfg_overlay" in kwargs:
            return None
        statistics = timm_statistics(name)
        if statistics is None and not timm_known(name):
            return None
        return ProjectModel(value, "timm", name, None, statistics)
    return None


def _wrapped_backbone(instance: Remote, project: ProjectValues) -> Optional[ProjectModel]:
    """The pretrained backbone a project module feeds its input to first (`return
    self.backbone(x)`), built in its `__init__` from the arguments this instance was given."""
    path, name = instance.detail["class_path"], instance.detail["class"]
    if not set(project.class_bases(path, name)) & (TORCH_MODULES | LIGHTNING_MODULES):
        return None
    forward = project.symbol(path, f"{name}.forward")
    if forward is None or forward.data is None or len(forward.data["params"]) < 2:
        return None
    owner, given = forward.data["params"][0], {"p": forward.data["params"][1]}
    for effect in forward.data["effects"]:
        if effect["k"] != "call" or not _mentions(list(effect["args"]) + list(effect["kw"].values()), given):
            continue
        attribute = _held_by(effect["call"], owner)
        if attribute is None or effect["args"][:1] != [given]:
            return None  # the first call on the input must be the backbone's: nothing runs before it
        return _backbone(instance, project, attribute)
    return None


def _backbone(instance: Remote, project: ProjectValues, attribute: str) -> Optional[ProjectModel]:
    """The pretrained model `self.<attribute>` holds, built in the class's `__init__`."""
    path = instance.detail["class_path"]
    built = project.attribute(instance, attribute)
    backbone = pretrained_model(built)
    return replace(backbone, wrapper=path) if backbone is not None else None


def lightning_model(module: Optional[Remote], project: ProjectValues) -> Optional[ProjectModel]:
    """The pretrained backbone a LightningModule's `training_step` runs first on its batch
    (`logits = self.backbone(x)` with `x, y = batch`), or its own `forward` does (`self(x)`)."""
    if module is None or module.kind != "instance":
        return None
    path, name = module.detail["class_path"], module.detail["class"]
    if not set(project.class_bases(path, name)) & LIGHTNING_MODULES:
        return None
    step = project.symbol(path, f"{name}.training_step")
    if step is None or step.data is None or len(step.data["params"]) < 2:
        return None
    owner, batch = step.data["params"][0], step.data["params"][1]
    for effect in step.data["effects"]:
        if effect["k"] == "forward" and effect["t"] == {"p": owner}:
            return _wrapped_backbone(module, project)  # self(x): the module's forward
        if effect["k"] != "call" or not _mentions(list(effect["args"]) + list(effect["kw"].values()), {"p": batch}):
            continue
        attribute = _held_by(effect["call"], owner)
        if attribute is None or not effect["args"] or not _mentions(effect["args"][0], {"p": batch}):
            return None  # the batch goes somewhere else first
        return _backbone(module, project, attribute)
    return None


def _held_by(callee: Dict, owner: str) -> Optional[str]:
    """`backbone` for `self.backbone(...)` and `self.backbone.forward_features(...)`."""
    inner = callee.get("attr")
    if inner == {"p": owner}:
        return callee["a"]
    if isinstance(inner, dict) and inner.get("attr") == {"p": owner}:
        return inner["a"]
    return None


def _mentions_parameter(value) -> bool:
    if isinstance(value, dict):
        return "p" in value or any(_mentions_parameter(inner) for inner in value.values())
    if isinstance(value, list):
        return any(_mentions_parameter(inner) for inner in value)
    return False


def _mentions(value, wanted: Dict) -> bool:
    if value == wanted:
        return True
    if isinstance(value, dict):
        return any(_mentions(inner, wanted) for inner in value.values())
    if isinstance(value, list):
        return any(_mentions(inner, wanted) for inner in value)
    return False


def _constant(value: Optional[Remote]):
    return value.detail.get("value") if value is not None and value.kind == "const" else None


def _true(value: Optional[Remote]) -> bool:
    return _constant(value) is True


def _weights(value: Optional[Remote], enum: str) -> Optional[str]:
    """`ResNet50_Weights.IMAGENET1K_V2` for the enum member or its name as a string; None for None
    and for anything not certain."""
    if value is None or value.kind != "const":
        return None
    qualified = value.detail.get("qualified")
    if isinstance(qualified, str) and qualified.startswith("torchvision.models."):
        parts = qualified.split(".")
        return f"{parts[-2]}.{parts[-1]}" if parts[-2].endswith("_Weights") else None
    text = value.detail.get("value")
    if isinstance(text, str) and text:
        return text if "." in text else f"{enum}.{text}"
    return None


def dataset_pipelines(dataset: Optional[Remote], remote: RemoteValues) -> List[Remote]:
    """The image pipelines a dataset value was given (`transform=`), every one known, else []."""
    if dataset is None or remote.project is None:
        return []
    passed: Optional[Remote] = None
    if dataset.kind == "call":
        qualified = dataset.detail["qualified"]
        if not qualified.startswith("torchvision.datasets."):
            return []
        passed = dataset.detail["kwargs"].get("transform")
    elif dataset.kind == "instance":
        passed = _instance_transform(dataset, remote)
    found = options(passed)
    return found if found and all(item.kind == "pipeline" for item in found) else []


def _instance_transform(dataset: Remote, remote: RemoteValues) -> Optional[Remote]:
    """What a project Dataset class's `__init__` got for its transform parameter."""
    project = remote.project
    assert project is not None
    if "args" not in dataset.detail:
        return None
    bases = project.class_bases(dataset.detail["class_path"], dataset.detail["class"])
    if not any(base.startswith("torch.utils.data") for base in bases):
        return None
    init = project.symbol(dataset.detail["class_path"], f"{dataset.detail['class']}.__init__")
    if init is None or init.data is None:
        return None
    params = [p for p in init.data["params"] if p not in ("self", "cls")]
    for index, name in enumerate(params):
        if name not in TRANSFORM_PARAMETERS:
            continue
        if name in dataset.detail["kwargs"]:
            return dataset.detail["kwargs"][name]
        if index < len(dataset.detail["args"]):
            return dataset.detail["args"][index]
    return None


def op_terminals(pipeline: Remote) -> List[str]:
    return [name.rsplit(".", 1)[-1] for name in pipeline.detail["ops"]]


def converts_to_tensor(pipeline: Remote) -> bool:
    """A pipeline that makes the tensors the model gets (not a PIL-only augmentation step)."""
    return any(op in TO_TENSOR_OPS for op in op_terminals(pipeline))


class ProjectInputs:
    """Get it with ``ctx.fact(ProjectInputs)``."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.remote = ctx.fact(RemoteValues)
        self._wirings: Optional[List[Wiring]] = None
        self._feedings: List[Feeding] = []
        self._normalizes: Dict[str, bool] = {}

    def wirings(self) -> List[Wiring]:
        if self._wirings is None:
            found: List[Wiring] = []
            if self.remote.active:
                for scope in self.ctx.index.scopes:
                    for statement in scope.statements:
                        if isinstance(statement.node, cst.For) and statement.scope is scope:
                            found.extend(self._loop(statement))
                        for site in statement.calls:
                            if callee_terminal_name(site.node) == "fit" and isinstance(site.node.func, cst.Attribute):
                                found.extend(self._fit(site.node, statement))
            self._wirings = found
        return self._wirings

    def _fit(self, call: cst.Call, statement: Statement) -> List[Wiring]:
        """`trainer.fit(module, datamodule=dm)` / `trainer.fit(module, train_loader)` of Lightning:
        the LightningModule's `training_step` runs its model on the batches of the training loader."""
        assert isinstance(call.func, cst.Attribute)
        project = self.remote.project
        assert project is not None
        trainer = self.remote.abstract(call.func.value, statement)
        if trainer is None or trainer.kind != "call" or trainer.detail["qualified"] not in LIGHTNING_TRAINERS:
            return []
        module_expr = argument(call, 0, "model")
        if module_expr is None:
            return []
        model = lightning_model(self.remote.abstract(module_expr, statement), project)
        if model is None:
            return []
        loaders: List[Remote] = []
        loader_expr = keyword_arg(call, "train_dataloaders") or keyword_arg(call, "train_dataloader")
        datamodule_expr = keyword_arg(call, "datamodule")
        positional = positional_args(call)
        if loader_expr is None and datamodule_expr is None and len(positional) > 1:
            loader_expr = positional[1]
        if loader_expr is not None:
            loaders = options(self.remote.abstract(loader_expr, statement))
        elif datamodule_expr is not None:
            datamodule = self.remote.abstract(datamodule_expr, statement)
            method = (
                project.symbol(datamodule.detail["class_path"], f"{datamodule.detail['class']}.train_dataloader")
                if datamodule is not None and datamodule.kind == "instance" else None
            )
            if method is not None and method.kind == "function" and method.data is not None:
                loaders = options(project.call_result(method, [], {}, receiver=datamodule))
        found: List[Wiring] = []
        for loader in loaders:
            if loader.kind == "loader":
                found.extend(self._pair(loader, [(call, model)], call, statement, set()))
        return found

    def _loop(self, statement: Statement) -> List[Wiring]:
        loop = statement.node
        assert isinstance(loop, cst.For)
        iterable = loop.iter
        while isinstance(iterable, cst.Call) and self.ctx.qualified_name(iterable.func) in ITERATION_WRAPPERS and iterable.args:
            iterable = iterable.args[0].value
        scope = statement.scope
        # per call site only when what the loop iterates comes from the function's parameters
        shape = self.remote.tree(iterable, statement, Context(scope, ())) if not scope.is_module else None
        contexts = self.remote.contexts(scope) if shape is not None and _mentions_parameter(shape) else None
        found: List[Wiring] = []
        seen: Set[Tuple] = set()
        # a loop of a helper (`fit(model, loader)`) is judged once per call site: model and loader
        # stay paired as that call passes them
        for context in contexts or [None]:
            loaders = [item for item in options(self.remote.abstract(iterable, statement, context)) if item.kind == "loader"]
            models = self._model_calls(statement, context) if loaders else []
            for loader in loaders:
                found.extend(self._pair(loader, models, loop, statement, seen))
        return found

    def _pair(self, loader: Remote, models, feed: cst.CSTNode, statement: Statement, seen: Set[Tuple]) -> List[Wiring]:
        """The wirings of a training loader's pipelines with the models its batches reach."""
        here = self.remote.project.path  # type: ignore[union-attr]
        dataset = loader.detail["dataset"]
        paths = {loader.path, dataset.path} if dataset is not None else set()
        if dataset is not None and dataset.kind == "instance":
            paths.add(dataset.detail["class_path"])
        found = []
        if dataset is not None and dataset.kind == "instance":
            for call, model in models:  # for NNL303: what the Dataset's own code reads
                self._feedings.append(Feeding(model, dataset, feed, statement, call))
        for pipeline in dataset_pipelines(dataset, self.remote):
            for call, model in models:
                key = (model.remote.path, tuple(model.remote.at or ()), pipeline.path, tuple(pipeline.at or ()))
                if key in seen or (model.remote.path == here and pipeline.path == here):
                    continue  # all in this module: the single-file analysis decides
                seen.add(key)
                involved = frozenset(paths | {pipeline.path, model.remote.path, model.wrapper or model.remote.path})
                found.append(Wiring(model, pipeline, feed, statement, call, involved))
        return found

    def _model_calls(self, loop_statement: Statement, context: Optional[Context]) -> List[Tuple[cst.Call, ProjectModel]]:
        """Calls in the loop's body of a pretrained model on what the loop yields."""
        loop = loop_statement.node
        assert isinstance(loop, cst.For)
        carried: Set[str] = {name.value for name in plain_names(loop.target)}
        found: List[Tuple[cst.Call, ProjectModel]] = []
        seen: Set[Tuple[str, Tuple[int, ...]]] = set()
        for statement in loop_statement.scope.statements[loop_statement.position + 1:]:
            if loop not in statement.blocks:
                break
            node = statement.node
            for site in statement.calls:
                args = positional_args(site.node)
                if not args or not {name.value for name in plain_names(args[0])} & carried:
                    continue
                if not isinstance(site.node.func, (cst.Name, cst.Attribute)) or self.ctx.qualified_name(site.node.func) is not None:
                    continue
                model = pretrained_model(self.remote.abstract(site.node.func, statement, context), self.remote.project)
                if model is not None and (model.remote.path, tuple(model.remote.at or ())) not in seen:
                    seen.add((model.remote.path, tuple(model.remote.at or ())))
                    found.append((site.node, model))
            if isinstance(node, cst.Assign) and {name.value for name in plain_names(node.value)} & carried:
                for target in node.targets:
                    carried.update(name.value for name in plain_names(target.target))
        return found

    def feedings(self) -> List[Feeding]:
        """Pretrained models fed by a project Dataset class of another file (`wirings` finds them)."""
        self.wirings()
        here = self.remote.project.path if self.remote.project is not None else None
        return [f for f in self._feedings if f.dataset.detail["class_path"] != here]

    def bgr_reads(self, feeding: Feeding) -> List[Tuple[ModuleContext, ImageRead]]:
        """OpenCV colour reads in the Dataset class's `__getitem__` (of its own file) whose image
        reaches its transform or its return with no BGR->RGB conversion; [] when that file converts channels
        anywhere else (a helper, the batches): it cannot be told what is converted."""
        found = self.remote.class_of(feeding.dataset)
        if found is None:
            return []
        module, info = found
        getitem = info.methods.get("__getitem__")
        reads = module.fact(ImageReads)
        candidates = [r for r in reads.reads() if r.kind == "cv2" and r.color and not r.target_like]
        if getitem is None or not candidates:
            return []
        read_scopes = {id(r.statement.scope) for r in reads.reads() if r.kind == "cv2"}
        converted: Set[int] = set()
        for scope in module.index.scopes:
            for statement in scope.statements:
                for node in _expressions(statement.node):
                    if is_channel_reversal(module, node):
                        if id(scope) not in read_scopes:
                            return []
                        converted.add(id(scope))
        return [
            (module, read) for read in candidates
            if read.statement.scope is getitem and id(getitem) not in converted
            and (hit := reads.destination(read)) is not None and hit.description in ("dataset", "transform")
        ]

    # -- normalization in the other modules ------------------------------------------------------------

    def normalizes_elsewhere(self, path: str) -> bool:
        """Whether module `path` normalizes by hand somewhere (or its code cannot be read)."""
        if path not in self._normalizes:
            project = self.remote.project
            assert project is not None
            text = "\n".join(project.lines(path))
            try:
                tree = ast.parse(text)
            except (SyntaxError, ValueError, RecursionError):
                self._normalizes[path] = True
            else:
                self._normalizes[path] = _normalizes(tree, text)
        return self._normalizes[path]


def _normalizes(tree: ast.Module, text: str) -> bool:
    """Manual normalization anywhere in a module: `(x - m) / s`, `x - MEAN`, `x * 2 - 1`, `-=`/`/=`
    with statistics, `.sub_(mean)`, a call of a normalizing helper or a `Normalize` outside a
    pipeline's list of ops."""
    in_pipelines: Set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _terminal(node.func) == "Compose" and node.args:
            container = node.args[0]
            if isinstance(container, (ast.List, ast.Tuple)):
                in_pipelines.update(id(element) for element in container.elts)
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Div) and isinstance(node.left, ast.BinOp) and isinstance(node.left.op, ast.Sub):
                return True
            if isinstance(node.op, ast.Sub) and MEAN_WORDS.search(ast.get_source_segment(text, node.right) or ""):
                return True
            if isinstance(node.op, ast.Sub) and isinstance(node.left, ast.BinOp) and isinstance(node.left.op, (ast.Mult, ast.Div)):
                factor = node.left.right
                if isinstance(factor, ast.Constant) and factor.value in (2, 2.0, 127.5, 128, 128.0, 255, 255.0):
                    return True
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, (ast.Sub, ast.Div)):
            if isinstance(node.value, (ast.Name, ast.Attribute, ast.Subscript, ast.Call, ast.List, ast.Tuple)):
                return True
        elif isinstance(node, ast.Call):
            name = _terminal(node.func) or ""
            if name in ("sub_", "div_", "sub", "div") and node.args and MEAN_WORDS.search(ast.get_source_segment(text, node.args[0]) or ""):
                return True
            if NORMALIZING_CALL.search(name) and id(node) not in in_pipelines:
                if (dotted(node.func) or "") not in ("F.normalize", "torch.nn.functional.normalize", "nn.functional.normalize"):
                    return True
    return False


def _terminal(func: ast.AST) -> Optional[str]:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None
