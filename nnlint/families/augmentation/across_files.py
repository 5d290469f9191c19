"""Pipelines from other files applied here: a Dataset in `datasets.py` calls `self.transform(image)`,
and the pipeline it holds is built in `transforms.py` and handed over by `train.py`
(`SegDataset(images, masks, transform=train_transforms())`). The module alone cannot tell what the
call does; the project's summaries can (`RemoteValues.abstract`: the attribute's one assignment
from an `__init__` parameter, and what every construction of the class in the project passes).

`RemoteApplications.in_scope(scope)` lists those calls with the pipelines they may apply, when
every value reaching them is a known pipeline (or None, for an `if self.transform is not None:`
guard) and at least one draws a random geometric op; and calls of a helper function, or of an
instance of a transform class, of another file whose code flips what it is given at random
(`image = random_flip(image)`, `self.flip = RandomFlip()`), read in that file's own module.
`pipelines(expr)` answers the same for a torchvision dataset's `transform=`. Unknown values leave
the call out: unknown is silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.index import Scope, Statement
from nnlint.analysis.names import dotted_name
from nnlint.analysis.project_values import Remote
from nnlint.analysis.remote import RemoteValues, options
from nnlint.analysis.transforms import ALBUMENTATIONS_OPS, GEOMETRIC, KORNIA_OPS, TORCHVISION_OPS, TransformPipelines, library_of

TABLES = {"torchvision": TORCHVISION_OPS, "albumentations": ALBUMENTATIONS_OPS, "kornia": KORNIA_OPS}


@dataclass(frozen=True)
class RemoteApplication:
    node: cst.Call  # `self.transform(image)`
    statement: Statement
    image: cst.BaseExpression
    pipelines: List[Remote]  # the pipelines with random geometry that may reach it
    ops: List[str]  # their random geometric ops, by name


def random_geometry(pipeline: Remote) -> List[str]:
    """The ops of a pipeline that move pixels at random (`RandomHorizontalFlip`, `RandomResizedCrop`)."""
    found = []
    for qualified, call in zip(pipeline.detail["ops"], pipeline.detail.get("calls") or [None] * len(pipeline.detail["ops"])):
        library, name = library_of(qualified)
        if library is None or name is None:
            continue
        geometry, random = TABLES[library].get(name, (None, False))
        probability = call.detail["kwargs"].get("p") if call is not None else None
        if probability is not None and probability.kind == "const" and probability.detail.get("value") == 0:
            random = False
        if random and geometry in GEOMETRIC and name not in found:
            found.append(name)
    return found


class RemoteApplications:
    """Get it with ``ctx.fact(RemoteApplications)``."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.remote = ctx.fact(RemoteValues)
        self.flow = ctx.fact(DataFlow)
        self._by_scope: Dict[int, List[RemoteApplication]] = {}

    def in_scope(self, scope: Scope) -> List[RemoteApplication]:
        """The remote pipelines applied in a function (computed once per function: the alignment
        checks ask for each pair of values they compare)."""
        if not self.remote.active or scope.is_module:
            return []
        if id(scope) not in self._by_scope:
            self._by_scope[id(scope)] = self._applications(scope)
        return self._by_scope[id(scope)]

    def _applications(self, scope: Scope) -> List[RemoteApplication]:
        local = self.ctx.fact(TransformPipelines)
        found = []
        for site in scope.calls:
            call = site.node
            statement = site.statement
            if statement is None or not call.args or call.args[0].keyword is not None or call.args[0].star:
                continue
            if not isinstance(call.func, (cst.Name, cst.Attribute)):
                continue
            helper = self._helper(call, statement)
            if helper is not None:
                found.append(helper)
                continue
            if len(call.args) != 1 or self.ctx.qualified_name(call.func) is not None:
                continue
            if isinstance(call.func, cst.Name) and self.flow.definition(call.func.value, statement).kind not in ("assign", "param"):
                continue  # a function or class, not a pipeline held in a variable
            if isinstance(call.func, cst.Attribute) and not (dotted_name(call.func) or "").startswith("self."):
                continue
            if local.enabled and local.application_of(call) is not None:
                continue  # the module's own analysis sees this pipeline
            value = self.remote.abstract(call.func, statement)
            transform = self._transform_object(call, statement, value)
            if transform is not None:
                found.append(transform)
                continue
            pipelines = [p for p in _known_pipelines(value) if random_geometry(p)]
            ops = [op for pipeline in pipelines for op in random_geometry(pipeline)]
            if ops:
                found.append(RemoteApplication(call, statement, call.args[0].value, pipelines, list(dict.fromkeys(ops))))
        return found

    def _transform_object(self, call: cst.Call, statement: Statement, value: Optional[Remote]) -> Optional[RemoteApplication]:
        """`self.transform(image)` holding an instance of a transform class of another file whose
        `__call__` flips what it is given at random (`class RandomFlip: def __call__(self, img)`)."""
        if value is None or value.kind != "instance":
            return None
        found = self.remote.class_of(value)
        method = found[1].methods.get("__call__") if found is not None else None
        if found is None or method is None:
            return None
        return self._flipping(found[0], method, call, statement, f"{found[1].name}.__call__")

    def _helper(self, call: cst.Call, statement: Statement) -> Optional[RemoteApplication]:
        """`image = random_flip(image)` with `random_flip` a function of another file that flips what
        it is given at random (and only that: no second argument is flipped with it)."""
        found = self.remote.project_function(call.func)
        if found is None:
            return None
        module, helper = found
        return self._flipping(module, helper, call, statement, f"{helper.function_name}()")

    def _flipping(self, module: ModuleContext, helper: Scope, call: cst.Call, statement: Statement, name: str) -> Optional[RemoteApplication]:
        summary = module.fact(TransformPipelines).geometry_summary(helper)
        if summary is None or not summary[1] or summary[2]:
            return None
        placed = self.remote.place(helper.node)
        if placed is None:
            return None
        path, at = placed
        built = Remote("pipeline", path, list(at), {"ops": [], "calls": []})
        return RemoteApplication(call, statement, call.args[0].value, [built], [f"{summary[0] or 'flip'} in {name}"])

    def pipelines(self, expr: cst.BaseExpression, statement: Statement) -> List[Remote]:
        """The pipelines with random geometry `expr` may hold, when every value it may hold is a known
        pipeline (or None); else []."""
        return [p for p in _known_pipelines(self.remote.abstract(expr, statement)) if random_geometry(p)]


def _known_pipelines(value: Optional[Remote]) -> List[Remote]:
    """Every pipeline `value` may be; [] when it may be anything else (None aside)."""
    found = []
    for option in options(value):
        if option.kind == "const" and option.detail.get("value", 0) is None:
            continue  # the `transform=None` default: the call is guarded or never runs
        if option.kind != "pipeline":
            return []
        found.append(option)
    return found
