"""Image/target alignment under augmentation: where a random geometric transform reaches the
image of a sample but not its spatial target (image-only), or reaches both through separate
random draws (independent).

One walk serves NNL201 (image-only) and NNL202 (independent). It looks at
- manual random flips of a value returned together with a spatial target,
- pipelines applied to the image alone in a function that returns a spatial target with it,
- torchvision datasets with spatial targets given `transform=` (and `target_transform=`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Set

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.flips import ManualFlip, ManualGeometry, access_path, names_in, root_of, written_paths
from nnlint.analysis.index import Scope, Statement
from nnlint.analysis.targets import Partner, SpatialTargets, dataset_target_kind, kind_by_name, names_in_statement
from nnlint.analysis.transforms import Application, DatasetFeed, Pipeline, TransformOp, TransformPipelines
from nnlint.analysis.project_values import Remote
from nnlint.families.augmentation.across_files import RemoteApplications, random_geometry
from nnlint.families.augmentation.passthrough import passed_through


@dataclass(eq=False, repr=False)
class Misalignment:
    kind: str  # "image-only" | "independent"
    node: cst.CSTNode  # what to report
    image: str  # the image's code
    target: str  # the target's code
    target_kind: str  # mask | boxes | keypoints | ...
    ops: List[TransformOp] = field(default_factory=list)  # the random geometric ops involved
    manual: Optional[ManualFlip] = None  # for hand-written flips
    application: Optional[Application] = None  # the image's pipeline call
    other: Optional[cst.CSTNode] = None  # NNL202: the image's call the target's call is independent of
    feed: Optional[DatasetFeed] = None  # for torchvision datasets
    pipelines: List[Pipeline] = field(default_factory=list)  # the pipelines to instantiate in a probe
    target_pipelines: List[Pipeline] = field(default_factory=list)
    remote: List[Remote] = field(default_factory=list)  # pipelines built in other files (`across_files.py`)
    remote_ops: List[str] = field(default_factory=list)  # their random geometric ops
    passthrough: Optional[str] = None  # "plain"/"array": a target a transforms.v2 call hands back untouched


class Alignment:
    """Get it with ``ctx.fact(Alignment)``."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.pipelines = ctx.fact(TransformPipelines)
        self.geometry = ctx.fact(ManualGeometry)
        self.targets = ctx.fact(SpatialTargets)
        self._found: Optional[List[Misalignment]] = None

    def misalignments(self) -> List[Misalignment]:
        if self._found is None:
            found: List[Misalignment] = []
            seen: Set[int] = set()
            for item in self._all():
                if id(item.node) not in seen:
                    seen.add(id(item.node))
                    found.append(item)
            self._found = found
        return self._found

    def _all(self):
        for scope in self.ctx.index.scopes:
            if scope.is_module:
                continue
            yield from self._manual(scope)
            yield from self._applied(scope)
            yield from self._applied_from_elsewhere(scope)
        yield from self._datasets()

    # -- hand-written flips ------------------------------------------------------------------------

    def _manual(self, scope: Scope):
        for flip in self.geometry.flips_in(scope):
            if not flip.random:
                continue
            image = access_path(flip.operand)
            if image is None or self._is_target(image, flip.statement):
                continue
            for partner in self.targets.partners(scope, image, flip.statement):
                verdict = self._manual_verdict(scope, flip, partner)
                if verdict is not None:
                    yield verdict
                    break

    def _manual_verdict(self, scope: Scope, flip: ManualFlip, partner: Partner) -> Optional[Misalignment]:
        image_paths = self.targets.image_paths(scope, access_path(flip.operand) or "", flip.statement)
        treatment = self.targets.treatment(scope, partner.path, image_paths, skip=[flip.node])
        other_draw = None
        for node, draw, branch in treatment.flips:
            if draw is not None and draw == flip.draw:
                return None  # flipped by the same draw
            if branch is not None and flip.branch is not None and _inside(branch, flip.branch):
                return None
            if draw is not None and other_draw is None:
                other_draw = node
        if self._handled_in_branch(scope, flip, partner.path, image_paths):
            return None
        image_code = self.ctx.code(flip.operand)
        if other_draw is not None:
            return Misalignment("independent", other_draw, image_code, partner.path, partner.evidence.kind, manual=flip, other=flip.node)
        if treatment.flips:
            return None  # the target is flipped somewhere we cannot relate to this flip
        return Misalignment("image-only", flip.node, image_code, partner.path, partner.evidence.kind, manual=flip)

    def _handled_in_branch(self, scope: Scope, flip: ManualFlip, target: str, image_paths: Set[str]) -> bool:
        """Whether the branch that flips the image also does something to the target, or sets a
        flag that a later statement about the target reads."""
        branch = flip.branch
        root = root_of(target)
        flags: Set[str] = set()
        for statement in scope.statements:
            inside = branch is not None and (branch in statement.blocks or (statement is flip.statement))
            if not inside:
                continue
            if isinstance(statement.node, (cst.If, cst.For, cst.While, cst.With, cst.Try)):
                continue
            used = names_in_statement(statement)
            written = set(written_paths(statement))
            if target in written or root in written and "[" not in target:
                return True
            if any(p == target or p.startswith(target + "[") for p in used) and statement is not flip.statement:
                return True
            if target in used or (root in used and "[" not in target):
                if statement is not flip.statement:
                    return True
            if statement is flip.statement and _call_mentions(statement, target, flip.node):
                return True
            flags.update(p for p in written if p not in image_paths and "[" not in p)
        if flags:
            for statement in scope.statements:
                if branch is not None and branch in statement.blocks:
                    continue
                used = names_in_statement(statement) | set(written_paths(statement))
                if (target in used or root in used) and used & flags:
                    return True
                if isinstance(statement.node, cst.If) and set(names_in(statement.node.test)) & flags:
                    # `if flipped:` ... something about the target inside
                    for inner in scope.statements:
                        if statement.node in inner.blocks:
                            inner_used = names_in_statement(inner) | set(written_paths(inner))
                            if target in inner_used or root in inner_used:
                                return True
        return False

    def _is_target(self, path: str, statement: Statement) -> bool:
        if self.targets.generated(path, statement):
            return False
        return kind_by_name(path) is not None or self.targets.evidence(path, statement) is not None

    # -- pipelines applied to the image alone -------------------------------------------------------

    def _applied(self, scope: Scope):
        for application in self.pipelines.applications_in(scope):
            if application.joint and application.image is not None:
                for path, kind, made in passed_through(self.ctx, application):
                    yield Misalignment(
                        "image-only", application.node, self.ctx.code(application.image), path, kind,
                        ops=application.random_geometric, application=application, pipelines=application.pipelines,
                        passthrough=made,
                    )
                    break
            loaded = self._returned_flipped(application)
            if (application.joint and loaded is None) or not application.random_geometric:
                continue
            image_expr = loaded or application.image
            image = access_path(image_expr) if image_expr is not None else None
            statement = application.statement
            if image is None or statement is None or self._is_target(image, statement):
                continue
            for partner in self.targets.partners(scope, image, statement):
                if loaded is not None and root_of(partner.path) in {root_of(p) for p in names_in(application.node)}:
                    continue  # the helper is given the target too
                image_paths = self.targets.image_paths(scope, image, statement)
                treatment = self.targets.treatment(scope, partner.path, image_paths, skip=[application.node])
                if treatment.random_applications:
                    if self.geometry.has_reseeding(scope):
                        break
                    other = treatment.random_applications[0]
                    yield Misalignment(
                        "independent", other.node, self.ctx.code(image_expr), partner.path, partner.evidence.kind,
                        ops=other.random_geometric, application=other, other=application.node,
                        pipelines=application.pipelines, target_pipelines=other.pipelines,
                    )
                    break
                if treatment.joint or treatment.unknown or treatment.flips:
                    continue
                yield Misalignment(
                    "image-only", application.node, self.ctx.code(image_expr), partner.path, partner.evidence.kind,
                    ops=application.random_geometric, application=application, pipelines=application.pipelines,
                )
                break

    def _applied_from_elsewhere(self, scope: Scope):
        """`self.transform(image)` whose pipeline another file builds and hands over."""
        for application in self.ctx.fact(RemoteApplications).in_scope(scope):
            image = access_path(application.image)
            statement = application.statement
            if image is None or self._is_target(image, statement):
                continue
            for partner in self.targets.partners(scope, image, statement):
                image_paths = self.targets.image_paths(scope, image, statement)
                treatment = self.targets.treatment(scope, partner.path, image_paths, skip=[application.node])
                if treatment.random_applications or treatment.joint or treatment.unknown or treatment.flips:
                    continue
                yield Misalignment(
                    "image-only", application.node, self.ctx.code(application.image), partner.path, partner.evidence.kind,
                    remote=application.pipelines, remote_ops=application.ops,
                )
                break

    def _returned_flipped(self, application: Application) -> Optional[cst.BaseExpression]:
        """`image = load_image(path, train)` with a helper of this module that loads an image, flips
        it at random and returns it: the name the flipped image is bound to here (the helper was
        given a path, not the image)."""
        statement = application.statement
        node = statement.node if statement is not None else None
        if not isinstance(node, cst.Assign) or node.value is not application.node or len(node.targets) != 1:
            return None
        if not isinstance(node.targets[0].target, cst.Name) or not all(p.library == "custom" for p in application.pipelines):
            return None
        callee = self.ctx.fact(DataFlow).callee(application.site)
        if callee is None or callee.is_module:
            return None
        flipped = set()
        for flip in self.geometry.flips_in(callee):
            written = flip.statement.node
            if flip.random and isinstance(written, cst.Assign) and len(written.targets) == 1:
                flipped.add(access_path(written.targets[0].target))
        returns = [
            statement.node.value for statement in callee.statements
            if isinstance(statement.node, cst.Return) and statement.scope is callee
        ]
        if returns and all(access_path(value) in flipped for value in returns if value is not None):
            return node.targets[0].target
        return None

    # -- torchvision datasets ------------------------------------------------------------------------

    def _datasets(self):
        for feed in self.pipelines.dataset_feeds():
            if feed.qualified is None or feed.transforms is not None or feed.transform is None:
                continue
            kind = dataset_target_kind(self.ctx, feed.qualified, feed.node)
            statement = feed.site.statement
            if kind is None or statement is None:
                continue
            image = self.pipelines.resolve_all(feed.transform, statement)
            ops = [op for p in image.pipelines for op in p.random_geometric]
            dataset = feed.qualified.split(".")[-1]
            if not ops and not image.pipelines:
                # `VOCSegmentation(root, transform=train_transforms())` with the pipeline of another file
                remote = self.ctx.fact(RemoteApplications).pipelines(feed.transform, statement)
                if remote and (feed.target_transform is None or self._fixed(feed.target_transform, statement)):
                    names = list(dict.fromkeys(op for pipeline in remote for op in random_geometry(pipeline)))
                    yield Misalignment("image-only", feed.transform, "image", f"{dataset} target", kind, feed=feed,
                                       remote=remote, remote_ops=names)
                continue
            if not ops:
                continue
            if feed.target_transform is None:
                yield Misalignment("image-only", feed.transform, "image", f"{dataset} target", kind, ops=ops, feed=feed,
                                   pipelines=image.pipelines)
                continue
            target = self.pipelines.resolve_all(feed.target_transform, statement)
            target_ops = [op for p in target.pipelines for op in p.random_geometric]
            if target_ops:
                yield Misalignment("independent", feed.target_transform, "image", f"{dataset} target", kind, ops=target_ops,
                                   feed=feed, other=feed.transform, pipelines=image.pipelines, target_pipelines=target.pipelines)
            elif not target.unknown and not any(self._random_callable(c) for c in target.callables):
                yield Misalignment("image-only", feed.transform, "image", f"{dataset} target", kind, ops=ops, feed=feed,
                                   pipelines=image.pipelines)

    def _fixed(self, target_transform: cst.BaseExpression, statement: Statement) -> bool:
        """A `target_transform=` that certainly moves no pixel at random (`PILToTensor()`)."""
        target = self.pipelines.resolve_all(target_transform, statement)
        return (
            not target.unknown and not any(p.random_geometric for p in target.pipelines)
            and not any(self._random_callable(c) for c in target.callables)
        )

    def _random_callable(self, item) -> bool:
        node, _statement = item
        if isinstance(node, cst.FunctionDef):
            scope = self.ctx.index.scope_of_function(node)
            if scope is None:
                return True
            return any(self.geometry.is_random_call(site.node) for site in scope.calls) or bool(self.geometry.flips_in(scope))
        if isinstance(node, cst.Lambda):
            pending: List[cst.CSTNode] = [node.body]
            while pending:
                current = pending.pop()
                if isinstance(current, cst.Call):
                    if self.geometry.is_random_call(current) or self.geometry.flip_of(current) is not None:
                        return True
                    qualified = self.ctx.qualified_name(current.func)
                    if qualified is None and not isinstance(current.func, cst.Attribute):
                        return True  # a call we cannot see into
                pending.extend(current.children)
            return False
        return True


def _inside(node: cst.CSTNode, container: cst.CSTNode) -> bool:
    if node is container:
        return True
    pending = [container]
    while pending:
        current = pending.pop()
        if current is node:
            return True
        pending.extend(current.children)
    return False


def _call_mentions(statement: Statement, target: str, skip: cst.CSTNode) -> bool:
    for site in statement.calls:
        if site.node is skip:
            continue
        for arg in site.node.args:
            if any(p == target or p == root_of(target) for p in names_in(arg.value)):
                return True
    return False
