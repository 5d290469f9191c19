"""Augmentation family: geometric augmentations that reach the input but not its label.

NNL201 flip-without-target: the image is flipped (or randomly cropped/rotated) but a spatial target
of the same sample (mask, boxes, keypoints, depth...) is not.
NNL202 independent-random-transforms: image and target go through separate random draws.
NNL203 keypoint-flip-without-swap: keypoints are mirrored without swapping left/right indices.
NNL204 flip-changes-label: flips/large rotations on datasets whose class depends on orientation.
"""

from __future__ import annotations

from typing import List, Optional, Set

import libcst as cst

from nnlint.analysis.context import brief_text
from nnlint.analysis.flips import access_path
from nnlint.analysis.names import argument, keyword_arg, positional_args
from nnlint.analysis.remote import RemoteValues
from nnlint.analysis.targets import kind_by_name
from nnlint.analysis.transforms import (
    pipeline_probe_input,
    FLIPS,
    Application,
    Pipeline,
    TransformOp,
    TransformPipelines,
    rotation_range,
)
from nnlint.analysis.values import FixedValues
from nnlint.check import Check, Elsewhere
from nnlint.families.augmentation import passthrough
from nnlint.families.augmentation.alignment import Alignment, Misalignment
from nnlint.families.augmentation.contracts import (
    FLIP_CHANGES_LABEL,
    FLIP_WITHOUT_TARGET,
    INDEPENDENT_RANDOM_TRANSFORMS,
    KEYPOINT_FLIP_WITHOUT_SWAP,
    AlignmentInput,
    FlipChangesLabelInput,
    KeypointFlipInput,
)
from nnlint.families.augmentation.keypoints import KeypointPairing, Mirror


# Every random geometric op of the catalogue (analysis/transforms.py) contains one of these.
GEOMETRY_TRIGGERS = (
    "flip", "Flip", "FLIP", "::-1", "mirror", "Rotat", "Crop", "Affine", "Perspective", "Elastic", "Distortion",
    "RandomResize", "ZoomOut", "ScaleJitter", "ShortestSize", "Augment", "AugMix", "RandomScale", "Spline", "Fisheye",
    "Shear", "Translate", "Transpose", "D4",
)
KIND_WORDS = {
    "mask": "mask", "boxes": "boxes", "keypoints": "keypoints", "depth": "depth map", "flow": "flow field",
    "heatmap": "heatmaps", "detection": "boxes/masks",
}
JOINT_KEYWORD = {"mask": "mask", "boxes": "bboxes", "detection": "bboxes", "keypoints": "keypoints"}


def _op_list(ops: List[TransformOp], limit: int = 3) -> str:
    names: List[str] = []
    for op in ops:
        if op.name not in names:
            names.append(op.name)
    shown = ", ".join(names[:limit])
    return shown + (", ..." if len(names) > limit else "")


def _target_words(target: str, what: str, limit: Optional[int] = None) -> str:
    """`seg (mask)`, but `mask` alone when the code's name already says what it is."""
    shown = brief_text(target, limit) if limit else target
    return shown if what.split()[0].rstrip("s").lower() in target.lower() else f"{shown} ({what})"


def _geometry_verb(item: Misalignment) -> str:
    if item.manual is not None:
        return "flipped"
    geometries = {op.geometry for op in item.ops}
    if geometries and geometries <= {"hflip", "vflip", "flip", "transpose"}:
        return "flipped"
    if geometries == {"rotate"}:
        return "rotated"
    if geometries and geometries <= {"crop", "resized_crop"}:
        return "cropped"
    return "transformed"


def _keypoint_concise(keypoints: str) -> str:
    return f"{brief_text(keypoints, 24)} mirrored without swapping left/right joints: permute them with the flip pairs"


class FlipWithoutTargetCheck(Check):
    rules = (FLIP_WITHOUT_TARGET,)
    triggers = GEOMETRY_TRIGGERS

    def finish(self) -> None:
        for item in self.ctx.fact(Alignment).misalignments():
            if item.kind != "image-only":
                continue
            if item.remote:
                self._report_across_files(item)
            elif item.passthrough is not None and isinstance(item.node, cst.Call):
                what = KIND_WORDS.get(item.target_kind, "target")
                message = passthrough.message(self.ctx, item.node, item.image, item.target, what, _op_list(item.ops), item.passthrough)
                self.report(item.node, FLIP_WITHOUT_TARGET, message, self._probe_input(item), short=passthrough.concise(item.target))
            else:
                self.report(item.node, FLIP_WITHOUT_TARGET, self._message(item), self._probe_input(item), short=self._concise(item))

    def _report_across_files(self, item: Misalignment) -> None:
        """The pipeline comes from another file: the finding stays on the call (the fix, passing the
        target too, goes here); the pipeline's construction is its related location."""
        project = self.ctx.project
        assert project is not None
        what = KIND_WORDS.get(item.target_kind, "target")
        pipeline = item.remote[0]
        located = self.ctx.fact(RemoteValues).located
        built = f"{project.display(pipeline.path)}:{located(pipeline.at)[0] if pipeline.at else 1}"
        ops = ", ".join(item.remote_ops[:3]) + (", ..." if len(item.remote_ops) > 3 else "")
        if item.feed is not None:
            dataset = item.feed.qualified.split(".")[-1] if item.feed.qualified else "the dataset"
            message = (
                f"{dataset} applies `transform=` (the pipeline built at {built}: random {ops}) to the image only; its "
                f"{what} target is left as it is, so random flips/crops make image and {what} disagree. Pass a joint "
                f"transform with `transforms=` (torchvision.transforms.v2 transforms image and target together)."
            )
        elif not pipeline.detail["ops"]:  # a flipping helper function of another file
            message = (
                f"`{brief_text(self.ctx.code(item.node), 60)}` flips {item.image} at random ({ops}, {built}), while "
                f"{_target_words(item.target, what)} is returned with it unflipped: image and {what} disagree whenever "
                f"the flip fires. Flip both under the same draw (pass {item.target} to the helper too)."
            )
        else:
            message = (
                f"`{brief_text(self.ctx.code(item.node), 60)}` applies the pipeline built at {built} (random {ops}) to "
                f"{item.image} only, while {_target_words(item.target, what)} is returned with it untransformed: image "
                f"and {what} no longer line up whenever the transform fires. Transform both in one call (torchvision."
                f"transforms.v2 `tf({item.image}, {item.target})` with tv_tensors, or albumentations `aug(image=..., mask=...)`)."
            )
        concise = f"{brief_text(item.image, 20)} gets random {brief_text(item.remote_ops[0], 30)}, its {what} does not: transform both together"
        related = tuple(
            (Elsewhere(p.path, located(p.at)), "builds the pipeline" if p.detail["ops"] else "flips its argument at random")
            for p in item.remote if p.at is not None
        )
        self.report(item.node, FLIP_WITHOUT_TARGET, message, related=related, short=concise)

    @staticmethod
    def _concise(item: Misalignment) -> str:
        what = KIND_WORDS.get(item.target_kind, "target")
        if item.feed is not None:
            return f"random transform= is applied to the image only, not to its {what}: pass a joint transforms="
        return (
            f"{brief_text(item.image, 20)} is {_geometry_verb(item)} at random but {_target_words(item.target, what, 20)} "
            "is not: transform both together"
        )

    def _message(self, item: Misalignment) -> str:
        ctx = self.ctx
        what = KIND_WORDS.get(item.target_kind, "target")
        if item.manual is not None:
            flip = brief_text(ctx.code(item.manual.node), 60)
            axis = "vertically" if item.manual.axis == "v" else "horizontally"
            return (
                f"`{flip}` flips {item.image} {axis} at random but {_target_words(item.target, what)}, returned with it, is not "
                f"flipped in that branch: about half the training samples pair a mirrored image with an unmirrored "
                f"{what}. Flip {item.target} in the same branch (the same flip for masks; x -> w - x for boxes/points)."
            )
        ops = _op_list(item.ops)
        if item.feed is not None:
            dataset = item.feed.qualified.split(".")[-1] if item.feed.qualified else "the dataset"
            return (
                f"{dataset} applies `transform=` ({ops}) to the image only; its {what} target is left as it is, so "
                f"random flips/crops make image and {what} disagree. Pass a joint transform with `transforms=` "
                f"(torchvision.transforms.v2 transforms image and target together)."
            )
        call = brief_text(ctx.code(item.node), 60)
        pipeline = item.pipelines[0] if item.pipelines else None
        if pipeline is not None and pipeline.library == "custom" and item.ops:
            verb = {"hflip": "flips", "vflip": "flips", "flip": "flips"}.get(item.ops[0].geometry or "", "transforms")
            return (
                f"`{call}` randomly {verb} {item.image} (inside {item.ops[0].name}), while {_target_words(item.target, what)} is "
                f"returned with it unflipped: image and {what} disagree whenever the flip fires. Pass {item.target} "
                f"to {item.ops[0].name} too and flip both under the same draw."
            )
        if pipeline is not None and pipeline.library == "albumentations":
            keyword = JOINT_KEYWORD.get(item.target_kind, "mask")
            fix = f"pass the target to the same call: `...(image={item.image}, {keyword}={item.target})`"
        else:
            fix = (
                f"transform both in one call (torchvision.transforms.v2 `tf({item.image}, {item.target})` with "
                f"tv_tensors, or albumentations `aug(image=..., mask=...)`)"
            )
        return (
            f"`{call}` applies random {ops} to {item.image} only, while {_target_words(item.target, what)} is returned with it "
            f"untransformed: image and {what} no longer line up whenever the transform fires. Instead, {fix}."
        )

    def _probe_input(self, item: Misalignment) -> Optional[AlignmentInput]:
        ctx = self.ctx
        if item.manual is not None:
            flip = item.manual
            fixed = ctx.fact(FixedValues)
            branch_test = None
            if isinstance(flip.branch, (cst.If, cst.IfExp)):
                branch_test = ctx.fragment(flip.branch.test)
            nodes = [flip.node] + ([flip.branch.test] if isinstance(flip.branch, (cst.If, cst.IfExp)) else [])
            return AlignmentInput(
                mode="manual",
                flip=ctx.fragment(flip.node),
                operand=ctx.fragment(flip.operand),
                axis=flip.axis,
                condition=branch_test,
                names=fixed.resolve_for_probe(nodes, flip.statement),
                target_kind=item.target_kind,
                image=item.image,
                target=item.target,
            )
        pipeline = pipeline_probe_input(ctx, item.pipelines)
        if pipeline is None:
            return None
        return AlignmentInput(
            mode="image-only",
            pipeline=pipeline,
            target_kind=item.target_kind,
            image=item.image,
            target=item.target,
        )


class IndependentRandomTransformsCheck(Check):
    rules = (INDEPENDENT_RANDOM_TRANSFORMS,)
    triggers = GEOMETRY_TRIGGERS

    def finish(self) -> None:
        for item in self.ctx.fact(Alignment).misalignments():
            if item.kind == "independent":
                concise = (
                    f"{brief_text(item.target, 20)} and {brief_text(item.image, 20)} get separate random draws, so they "
                    "disagree: transform both in one call"
                )
                self.report(item.node, INDEPENDENT_RANDOM_TRANSFORMS, self._message(item), self._probe_input(item), short=concise)

    def _message(self, item: Misalignment) -> str:
        ctx = self.ctx
        what = KIND_WORDS.get(item.target_kind, "target")
        fix = (
            "Transform both in one call (torchvision.transforms.v2 `tf(image, mask)`, albumentations "
            "`aug(image=..., mask=...)`), or sample the parameters once (e.g. `T.RandomCrop.get_params`) and apply "
            "torchvision.transforms.functional to both."
        )
        if item.manual is not None:
            return (
                f"`{brief_text(ctx.code(item.node), 60)}` flips {item.target} under its own random draw, separate from the draw that "
                f"flips {item.image} (`{brief_text(ctx.code(item.manual.node), 60)}`): image and {what} are flipped differently "
                f"about half the time. Draw once (`flip = random.random() < 0.5`) and flip both under it."
            )
        ops = _op_list(item.ops)
        if item.feed is not None:
            dataset = item.feed.qualified.split(".")[-1] if item.feed.qualified else "the dataset"
            return (
                f"{dataset} gets random {ops} in both `transform=` and `target_transform=`: the two are called separately "
                f"and draw their own random parameters, so image and {what} get different flips/crops. Use one joint "
                f"`transforms=` (torchvision.transforms.v2) instead."
            )
        other = brief_text(ctx.code(item.other), 60) if item.other is not None else "the image's call"
        return (
            f"`{brief_text(ctx.code(item.node), 60)}` applies random {ops} to {item.target} in a separate call from `{other}`: "
            f"each call draws its own randomness, so image and {what} get different flips/crops. {fix}"
        )

    def _probe_input(self, item: Misalignment) -> Optional[AlignmentInput]:
        if item.manual is not None:
            return None
        image = pipeline_probe_input(self.ctx, item.pipelines)
        target = pipeline_probe_input(self.ctx, item.target_pipelines) if item.target_pipelines else image
        if image is None or target is None:
            return None
        return AlignmentInput(
                    mode="separate",
                    pipeline=image,
                    target_pipeline=target,
                    target_kind=item.target_kind,
                    image=item.image,
                    target=item.target,
                )


class KeypointFlipWithoutSwapCheck(Check):
    rules = (KEYPOINT_FLIP_WITHOUT_SWAP,)
    triggers = ("flip", "Flip", "FLIP", "mirror", "keypoint", "Keypoint", "kpt", "kps", "joints", "landmark")

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.statements = []

    def visit_Assign(self, node: cst.Assign) -> None:
        # `kps[:, 0] = w - kps[:, 0]`, or a rebuilt list `pts = [(w - x, y) for x, y in pts]`
        if len(node.targets) == 1 and (
            isinstance(node.targets[0].target, cst.Subscript) or isinstance(node.value, (cst.ListComp, cst.GeneratorExp))
        ):
            self.statements.append(self.ctx.index.current_statement)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Subscript):
            self.statements.append(self.ctx.index.current_statement)

    def finish(self) -> None:
        pairing_fact = self.ctx.fact(KeypointPairing)
        mirrors: List[Mirror] = []
        for statement in self.statements:
            if statement is None:
                continue
            mirror = pairing_fact.mirror_of(statement)
            if mirror is not None:
                mirrors.append(mirror)
        applications = self._keypoint_applications()
        if not mirrors and not applications:
            return
        pairing = pairing_fact.pairing()
        if pairing is None:
            return
        for mirror in mirrors:
            if pairing_fact.permuted(mirror.statement.scope, mirror.keypoints):
                continue
            self.report(mirror.node, KEYPOINT_FLIP_WITHOUT_SWAP, self._mirror_message(mirror, pairing),
                        self._mirror_probe(mirror, pairing), short=_keypoint_concise(mirror.keypoints))
        for application, keypoints, op in applications:
            statement = application.statement
            if statement is None or pairing_fact.permuted(statement.scope, keypoints) or self._label_mapping(application):
                continue
            self.report(application.node, KEYPOINT_FLIP_WITHOUT_SWAP, self._library_message(application, keypoints, op, pairing),
                        self._library_probe(application, pairing), short=_keypoint_concise(keypoints))

    def _keypoint_applications(self):
        found = []
        for application in self.ctx.fact(TransformPipelines).applications():
            flips = [op for p in application.pipelines for op in p.ops if op.geometry in ("hflip", "flip", "transpose")]
            if not flips or not application.joint:
                continue
            for role, expr in application.inputs:
                path = access_path(expr)
                if role == "keypoints" or (role.isdigit() and path is not None and kind_by_name(path) == "keypoints"):
                    found.append((application, path or self.ctx.code(expr), flips[0]))
                    break
                if role.isdigit() and isinstance(expr, cst.Dict):
                    for element in expr.elements:
                        key = getattr(element, "key", None)
                        if key is not None and kind_by_name(self.ctx.code(key).strip("'\"")) == "keypoints":
                            found.append((application, self.ctx.code(element.value), flips[0]))
                            break
        return found

    def _label_mapping(self, application: Application) -> bool:
        for pipeline in application.pipelines:
            params = pipeline.keypoint_params
            if isinstance(params, cst.Call) and keyword_arg(params, "label_mapping") is not None:
                return True
        return False

    def _mirror_message(self, mirror: Mirror, pairing) -> str:
        return (
            f"`{brief_text(self.ctx.code(mirror.node), 60)}` mirrors the x coordinates of {mirror.keypoints} but keeps their order, and "
            f"{pairing.reason}: after the flip the left-joint slots hold right joints, so the model is taught left and "
            f"right swapped. Also permute the keypoints with the flip pairs, e.g. `{mirror.keypoints} = "
            f"{mirror.keypoints}[FLIP_INDEX]` (the index of each joint's mirror partner)."
        )

    def _library_message(self, application: Application, keypoints: str, op: TransformOp, pairing) -> str:
        return (
            f"`{brief_text(self.ctx.code(application.node), 60)}` runs {op.name}, which mirrors {keypoints} but never swaps left and "
            f"right joints, and {pairing.reason}: on flipped samples the left-joint slots hold right joints. After a "
            f"flip, reorder the keypoints with the flip pairs (or declare the swap, e.g. albumentations "
            f"`KeypointParams(label_mapping=...)`)."
        )

    def _mirror_probe(self, mirror: Mirror, pairing) -> KeypointFlipInput:
        fixed = self.ctx.fact(FixedValues)
        return KeypointFlipInput(
            mode="manual",
            statement=self.ctx.fragment(mirror.node),
            keypoints=mirror.keypoints,
            width=mirror.width,
            names=fixed.resolve_for_probe([mirror.node], mirror.statement),
            keypoint_names=list(pairing.names) if pairing.names else None,
        )

    def _library_probe(self, application: Application, pairing) -> KeypointFlipInput:
        return KeypointFlipInput(
            mode="library",
            pipeline=pipeline_probe_input(self.ctx, application.pipelines),
            keypoint_names=list(pairing.names) if pairing.names else None,
        )


# Datasets whose classes depend on orientation: digits and letters, and traffic signs (GTSRB has
# keep-left/keep-right and turn-left/turn-right classes).
ORIENTED_DATASETS = frozenset({"MNIST", "EMNIST", "KMNIST", "QMNIST", "SVHN", "USPS", "Omniglot", "GTSRB"})
DIGIT_EXAMPLES = "a mirrored 2 looks like a 5, a rotated 6 like a 9; a b like a d"
ORIENTATION_EXAMPLES = {"GTSRB": "a mirrored keep-left sign is a keep-right sign, a turn-left arrow a turn-right one"}
MAX_SAFE_ROTATION = 30.0
ROTATION_DEFAULTS = {"Rotate": 90.0, "SafeRotate": 90.0, "ShiftScaleRotate": 45.0, "RandomRotate90": 90.0}


class FlipChangesLabelCheck(Check):
    rules = (FLIP_CHANGES_LABEL,)
    triggers = ("MNIST", "SVHN", "USPS", "Omniglot", "GTSRB")

    def finish(self) -> None:
        pipelines = self.ctx.fact(TransformPipelines)
        reported: Set[int] = set()
        for feed in pipelines.dataset_feeds():
            if feed.qualified is None or feed.transform is None:
                continue
            dataset = feed.qualified.split(".")[-1]
            if dataset not in ORIENTED_DATASETS or feed.site.statement is None:
                continue
            for pipeline in pipelines.resolve(feed.transform, feed.site.statement):
                for op in pipeline.ops:
                    change = self._orientation_change(op)
                    if change is None or id(op.node) in reported:
                        continue
                    reported.add(id(op.node))
                    concise = f"{op.name} {change.format(dataset=dataset)}, whose classes depend on orientation: drop it"
                    self.report(
                        op.node, FLIP_CHANGES_LABEL, self._message(op, change, dataset),
                        self._probe_input(pipeline, op, dataset), short=concise,
                    )

    def _orientation_change(self, op: TransformOp) -> Optional[str]:
        if not op.random or op.geometry is None:
            return None
        if op.geometry in FLIPS:
            return "mirrors {dataset} samples"
        if op.geometry not in ("rotate", "affine"):
            return None
        limit = self._rotation_limit(op)
        if limit is not None and limit > MAX_SAFE_ROTATION:
            return "rotates {dataset} samples by up to %g degrees" % limit
        return None

    def _rotation_limit(self, op: TransformOp) -> Optional[float]:
        call = op.node
        if op.library in ("torchvision", "kornia"):

            degrees = self.ctx.fact(TransformPipelines).literal(argument(call, 0, "degrees"), op.statement)
            if degrees is None:
                return None
            low, high = rotation_range(degrees)
            if low is None or high is None or low == high:
                return None
            return max(abs(low), abs(high))
        if op.library == "albumentations":
            keyword = {"ShiftScaleRotate": "rotate_limit", "Affine": "rotate"}.get(op.name, "limit")
            value = self.ctx.fact(TransformPipelines).literal(keyword_arg(call, keyword), op.statement)
            if value is None:
                if op.name == "Rotate" or op.name == "SafeRotate":
                    args = positional_args(call)
                    value = args[0] if args else None
            if value is None:
                return ROTATION_DEFAULTS.get(op.name)
            low, high = rotation_range(value)
            if low is None or high is None or low == high:
                return None
            return max(abs(low), abs(high))
        return None

    def _message(self, op: TransformOp, change: str, dataset: str) -> str:
        return (
            f"`{brief_text(self.ctx.code(op.node), 60)}` {change.format(dataset=dataset)} at random, but {dataset}'s classes depend on "
            f"orientation ({ORIENTATION_EXAMPLES.get(dataset, DIGIT_EXAMPLES)}): the model is trained on "
            f"images whose true class differs from their label. Drop it, or keep rotations within about 15 degrees."
        )

    def _probe_input(self, pipeline: Pipeline, op: TransformOp, dataset: str) -> FlipChangesLabelInput:
        return FlipChangesLabelInput(
            mode="orientation",
            pipeline=pipeline_probe_input(self.ctx, [pipeline]),
            op=op.name,
            dataset=dataset,
        )
