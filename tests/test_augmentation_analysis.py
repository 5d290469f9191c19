"""Unit tests of the augmentation facts: transform pipelines, manual flips, spatial targets,
alignment and keypoint pairing, on small snippets."""

from __future__ import annotations

import pytest

from nnlint.analysis.flips import ManualGeometry
from nnlint.analysis.targets import SpatialTargets, kind_by_name
from nnlint.analysis.transforms import TransformPipelines
from nnlint.families.augmentation.alignment import Alignment
from nnlint.families.augmentation.keypoints import KeypointPairing
from tests.helpers import analysed, call_named, codes_and_lines, expected_findings, fixture_files


PIPELINES = """
import torchvision.transforms as T
import albumentations as A
from torchvision.transforms import v2


def get_transform(train):
    trans = [T.Resize(256)]
    if train:
        trans.append(T.RandomHorizontalFlip(0.5))
    trans.extend([T.ToTensor(), T.Normalize([0.5], [0.5])])
    return T.Compose(trans)


class Data:
    def __init__(self, transform=None):
        self.transform = transform
        self.aug = A.Compose([A.OneOf([A.Resize(64, 64), A.Rotate(limit=20)]), A.HorizontalFlip(p=1.0)],
                             keypoint_params=A.KeypointParams(format="xy"), additional_targets={"depth": "mask"})
        self.v2 = v2.Compose([v2.RandomResizedCrop(224), v2.RandomVerticalFlip(p=0.0)])

    def __getitem__(self, i):
        a = self.transform(self.x)
        b = self.aug(image=self.x, mask=self.y)
        c = self.v2(self.x, self.y)
        return a, b, c


phases = {"train": T.Compose([T.RandomRotation((90, 90))]), "val": T.ToTensor()}
ds = Data(transform=get_transform(True))
out = phases["train"](1)
"""


def test_pipelines_are_followed_from_construction_to_application():
    ctx = analysed(PIPELINES)
    pipelines = ctx.fact(TransformPipelines)
    applications = {ctx.code(a.node): a for a in pipelines.applications()}
    first = applications["self.transform(self.x)"]
    assert [op.name for op in first.pipelines[0].ops] == ["Resize", "RandomHorizontalFlip", "ToTensor", "Normalize"]
    assert first.pipelines[0].built_from == "trans"
    assert [op.qualified for op in first.pipelines[0].ops_named("Normalize")] == ["torchvision.transforms.Normalize"]
    assert not first.joint and [op.name for op in first.random_geometric] == ["RandomHorizontalFlip"]

    albu = applications["self.aug(image=self.x, mask=self.y)"]
    assert albu.joint and albu.pipelines[0].library == "albumentations"
    assert albu.pipelines[0].additional_targets == {"depth": "mask"}
    assert albu.pipelines[0].keypoint_params is not None
    ops = {op.name: op for op in albu.pipelines[0].ops}
    assert ops["Resize"].random  # chosen at random inside OneOf
    assert not ops["HorizontalFlip"].random  # p=1.0 always flips

    joint = applications["self.v2(self.x, self.y)"]
    assert joint.joint and joint.pipelines[0].v2
    assert [op.name for op in joint.random_geometric] == ["RandomResizedCrop"]  # p=0.0 never fires

    table = applications['phases["train"](1)']
    assert table.pipelines[0].ops[0].name == "RandomRotation" and not table.pipelines[0].ops[0].random


def test_none_and_unknown_are_told_apart():
    ctx = analysed(
        """
        import torchvision.transforms as T

        class D:
            def __init__(self, target_transform=None, other=None):
                self.target_transform = target_transform
                self.other = other

            def get(self, m):
                return self.target_transform(m), self.other(m)

        d = D(other=make_other())
        """
    )
    pipelines = ctx.fact(TransformPipelines)
    first = call_named(ctx, "self.target_transform(m)")
    second = call_named(ctx, "self.other(m)")
    assert pipelines.resolve_all(first.node.func, first.statement).only_none
    assert pipelines.resolve_all(second.node.func, second.statement).unknown


@pytest.mark.parametrize(
    "code, axis",
    [
        ("TF.hflip(img)", "h"), ("TF.vflip(img)", "v"), ("torch.flip(img, dims=[-1])", "h"), ("img.flip(-1)", "h"),
        ("img.flip(3)", "h"), ("np.fliplr(img)", "h"), ("np.flip(img, axis=0)", "v"), ("cv2.flip(img, 1)", "h"),
        ("cv2.flip(img, -1)", "hv"), ("img.transpose(Image.FLIP_LEFT_RIGHT)", "h"), ("ImageOps.mirror(img)", "h"),
        ("img.flip(0)", None), ("np.flip(img, axis=2)", None), ("img.transpose(1, 2, 0)", None),
    ],
)
def test_manual_flips(code, axis):
    ctx = analysed(
        f"""
        import cv2
        import numpy as np
        import torch
        import torchvision.transforms.functional as TF
        from PIL import Image, ImageOps
        x = {code}
        """
    )
    geometry = ctx.fact(ManualGeometry)
    found = geometry.flip_of(ctx.index.module_scope.statements[-1].node.value)
    assert (found[1] if found else None) == axis


def test_slice_flips_and_random_draws():
    ctx = analysed(
        """
        import random
        import numpy as np

        def f(img, mask):
            flip = random.random() < 0.5
            if flip:
                img = img[:, ::-1]
            if flip:
                mask = mask[:, ::-1]
            if np.random.rand() > 0.5:
                img = img[::-1]
            rgb = img[:, :, ::-1]
            return img, mask
        """
    )
    flips = ctx.fact(ManualGeometry).flips_in(ctx.index.functions["f"])
    assert [(flip.axis, flip.random) for flip in flips] == [("h", True), ("h", True), ("v", True)]
    assert flips[0].draw == flips[1].draw != flips[2].draw


@pytest.mark.parametrize(
    "name, kind",
    [
        ("mask", "mask"), ("gt_mask", "mask"), ("seg_map", "mask"), ("boxes", "boxes"), ("bbox", "boxes"),
        ("kpts", "keypoints"), ("landmarks", "keypoints"), ("depth", "depth"), ("flow", "flow"),
        ("heatmaps", "heatmap"), ("sample['mask']", "mask"), ("mask_path", None), ("attention_mask", None),
        ("label", None), ("target", None), ("image", None), ("mask_transform", None),
    ],
)
def test_target_names(name, kind):
    assert kind_by_name(name) == kind


def test_targets_by_loading_dataset_and_dict():
    ctx = analysed(
        """
        import torch
        from PIL import Image
        from torchvision.datasets import VOCSegmentation

        class D:
            def __init__(self):
                self.voc = VOCSegmentation("data")

            def __getitem__(self, i):
                label = Image.open(self.label_paths[i])
                other = Image.open(self.files[i])
                cls = self.labels[i]
                target = {}
                target["boxes"] = torch.zeros(0, 4)
                img, voc_target = self.voc[i]
                return label, other, cls, target, voc_target
        """
    )
    targets = ctx.fact(SpatialTargets)
    scope = ctx.index.class_by_name["D"].methods["__getitem__"]
    ret = scope.statements[-1]
    kinds = {name: (targets.evidence(name, ret).kind if targets.evidence(name, ret) else None)
             for name in ("label", "other", "cls", "target", "voc_target")}
    assert kinds == {"label": "mask", "other": None, "cls": None, "target": "detection", "voc_target": "mask"}


def test_alignment_image_only_independent_and_joint():
    ctx = analysed(
        """
        import random
        import torchvision.transforms as T
        import torchvision.transforms.functional as TF
        from PIL import Image

        tf = T.Compose([T.RandomCrop(32), T.ToTensor()])

        class A:
            def __getitem__(self, i):
                image, mask = Image.open(self.a[i]), Image.open(self.m[i])
                image = tf(image)
                return image, mask

        class B:
            def __getitem__(self, i):
                image, mask = Image.open(self.a[i]), Image.open(self.m[i])
                image = tf(image)
                mask = tf(mask)
                return image, mask

        class C:
            def __getitem__(self, i):
                image, mask = Image.open(self.a[i]), Image.open(self.m[i])
                if random.random() < 0.5:
                    image, mask = TF.hflip(image), TF.hflip(mask)
                return image, mask
        """
    )
    found = [(item.kind, ctx.code(item.node)) for item in ctx.fact(Alignment).misalignments()]
    assert found == [("image-only", "tf(image)"), ("independent", "tf(mask)")]


def test_targets_allocated_after_the_flip_are_not_left_behind():
    ctx = analysed(
        """
        import random
        import numpy as np

        class Before:
            def __getitem__(self, i):
                image, points = self.images[i], self.points[i]
                heatmap = np.zeros((17, 64, 64), dtype=np.float32)
                for k, (x, y) in enumerate(points):
                    heatmap[k, int(y), int(x)] = 1.0
                if random.random() < 0.5:
                    image = image[:, ::-1]
                return image, heatmap

        class After:
            def __getitem__(self, i):
                image, points = self.images[i], self.points[i]
                if random.random() < 0.5:
                    image = image[:, ::-1]
                    points[:, 0] = image.shape[1] - 1 - points[:, 0]
                heatmap = np.zeros((17, 64, 64), dtype=np.float32)
                for k, (x, y) in enumerate(points):
                    heatmap[k, int(y), int(x)] = 1.0
                return image, heatmap
        """
    )
    found = [(item.kind, item.target, ctx.index.enclosing_class(item.manual.statement.scope).name)
             for item in ctx.fact(Alignment).misalignments()]
    assert found == [("image-only", "heatmap", "Before")]


def test_keypoint_pairing_evidence():
    paired = analysed('NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear"]\n')
    assert "left/right" in paired.fact(KeypointPairing).pairing().reason
    pairs = analysed("FLIP_PAIRS = [(1, 2), (3, 4)]\n")
    assert pairs.fact(KeypointPairing).pairing().pairs_name == "FLIP_PAIRS"
    coco = analysed("m = keypointrcnn(num_keypoints=17)\n")
    assert "17" in coco.fact(KeypointPairing).pairing().reason
    hands = analysed("NUM_HAND_KEYPOINTS = 21\n")
    assert hands.fact(KeypointPairing).pairing() is None


def test_augmentation_family_has_enough_fixtures():
    family = [p for p in fixture_files() if p.parent.name == "augmentation"]
    for code in ("NNL201", "NNL202", "NNL203", "NNL204"):
        buggy = [p for p in family if any(c == code for _, c in expected_findings(p))]
        assert len(buggy) >= 4, code
    assert len([p for p in family if not expected_findings(p)]) >= 12


def test_a_module_with_hundreds_of_helpers_is_analysed_without_a_crash():
    # each helper's summary asks for the pipelines applied in it; these were once recomputed for
    # the whole module inside that question, one level deeper per helper: a RecursionError
    # (NNL001) from about 200 helpers on
    helpers = "".join(f"def scale_{i}(value):\n    return value * {i + 1}\n\n\n" for i in range(300))
    calls = "".join(f"    value = scale_{i}(value)\n" for i in range(300))
    source = (
        "import torchvision.transforms as T\n\naugment = T.Compose([T.RandomHorizontalFlip(), T.ToTensor()])\n\n\n"
        + helpers
        + f"def features(value):\n{calls}    return value\n"
    )
    assert codes_and_lines(source, codes=["NNL001", "NNL201", "NNL202"]) == []
