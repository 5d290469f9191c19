"""Unit tests of the pretrained-weights facts: the statistics table, pretrained-model recognition,
input pipelines and their normalization, image reads and channel conversions, on small snippets."""

from __future__ import annotations

import importlib.util

import pytest

from nnlint.analysis.transforms import TransformPipelines
from nnlint.families.pretrained.preprocessing import ImageReads, InputPipelines, is_channel_reversal, is_manual_normalization
from nnlint.families.pretrained.pretrained_models import PretrainedModels
from nnlint.families.pretrained.statistics import STATISTICS, TIMM_ARCHITECTURES, TIMM_TAGS, TORCHVISION_BUILDERS, timm_statistics
from tests.helpers import analysed, expected_findings, fixture_files


def models_of(source: str):
    ctx = analysed(source)
    return ctx, ctx.fact(PretrainedModels).models()


# --- the statistics table ---------------------------------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is None, reason="torchvision is not installed")
def test_torchvision_table_matches_the_installed_weights():
    import torchvision.models as models

    checked = 0
    for builder, (enum_name, family) in TORCHVISION_BUILDERS.items():
        try:
            enum = models.get_model_weights(builder)
        except (KeyError, ValueError):
            continue  # a builder this torchvision version does not have
        assert enum.__name__ == enum_name
        preset = enum.DEFAULT.transforms()
        mean = getattr(preset, "mean", None)
        if family in STATISTICS:
            assert mean is not None and all(abs(a - b) < 1e-4 for a, b in zip(mean, STATISTICS[family].mean)), builder
            assert all(abs(a - b) < 1e-4 for a, b in zip(preset.std, STATISTICS[family].std)), builder
        checked += 1
    assert checked > 100


@pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="timm is not installed")
def test_timm_table_matches_the_installed_pretrained_configs():
    from timm.models import _registry

    for family, names in TIMM_ARCHITECTURES.items():
        expected = STATISTICS[family]
        for name in sorted(names)[:: max(1, len(names) // 40)]:
            for cfg in _registry.get_arch_pretrained_cfgs(name).values():
                assert all(abs(a - b) < 1e-3 for a, b in zip(cfg.mean, expected.mean)), name
    for family, names in TIMM_TAGS.items():
        expected = STATISTICS[family]
        for name in sorted(names):
            cfg = _registry.get_pretrained_cfg(name)
            assert cfg is not None and all(abs(a - b) < 1e-3 for a, b in zip(cfg.mean, expected.mean)), name


def test_timm_statistics_are_only_given_when_certain():
    assert timm_statistics("resnet50").family == "imagenet"
    assert timm_statistics("hf-hub:timm/convnext_tiny.fb_in1k").family == "imagenet"
    assert timm_statistics("vit_base_patch16_224") is None  # tags disagree: the default tag decides
    assert timm_statistics("vit_base_patch16_224.augreg_in21k").family == "half"
    assert timm_statistics("no_such_model") is None


# --- pretrained models ----------------------------------------------------------------------------------


def test_torchvision_weights_in_every_spelling():
    ctx, models = models_of(
        """
        import torchvision
        from torchvision import models
        from torchvision.models import ResNet50_Weights, resnet50, vgg16, efficientnet_v2_l
        from torchvision.models.detection import fasterrcnn_resnet50_fpn
        from torchvision.models.segmentation import deeplabv3_resnet50

        W = ResNet50_Weights.IMAGENET1K_V2
        a = resnet50(weights=W)
        b = models.resnet18(weights="DEFAULT")
        c = models.resnet18(pretrained=True)
        d = vgg16(weights="VGG16_Weights.IMAGENET1K_FEATURES")
        e = efficientnet_v2_l(weights="IMAGENET1K_V1")
        f = fasterrcnn_resnet50_fpn(weights="DEFAULT")
        g = deeplabv3_resnet50(weights=None, weights_backbone=ResNet50_Weights.DEFAULT)
        h = torchvision.models.get_model("resnet34", weights="DEFAULT")
        i = models.__dict__["resnet18"](pretrained=True)
        none = resnet50(weights=None)
        scratch = models.resnet18(pretrained=False)
        unknown = resnet50(weights=args.weights)
        """
    )
    found = {ctx.code(m.node).split("(")[0]: m for m in models}
    assert found["resnet50"].weights == "ResNet50_Weights.IMAGENET1K_V2"
    assert found["resnet50"].statistics.family == "imagenet"
    assert found["models.resnet18"].weights in ("ResNet18_Weights.DEFAULT",)
    assert found["vgg16"].statistics.family == "vgg16_features"
    assert found["efficientnet_v2_l"].statistics.family == "half"
    assert found["fasterrcnn_resnet50_fpn"].internal and not found["fasterrcnn_resnet50_fpn"].needs_normalization
    assert found["deeplabv3_resnet50"].backbone_only and found["deeplabv3_resnet50"].statistics.family == "imagenet"
    assert found["torchvision.models.get_model"].name == "resnet34"
    assert found['models.__dict__["resnet18"]'].statistics is None
    assert len(models) == 9  # weights=None, pretrained=False and run-time weights are not pretrained


def test_other_libraries():
    ctx, models = models_of(
        """
        import clip
        import open_clip
        import timm
        import torch
        import segmentation_models_pytorch as smp
        from transformers import AutoModel, AutoModelForImageClassification, BertModel, CLIPModel

        t1 = timm.create_model("resnet50", pretrained=True)
        t2 = timm.create_model("vit_base_patch16_224", pretrained=True)
        t3 = timm.create_model("resnet50")
        h1 = AutoModelForImageClassification.from_pretrained("google/vit-base-patch16-224")
        h2 = AutoModel.from_pretrained("facebook/dinov2-base")
        h3 = AutoModel.from_pretrained("bert-base-uncased")
        h4 = BertModel.from_pretrained("bert-base-uncased")
        h5 = CLIPModel.from_pretrained("openai/clip-vit-base-patch32")
        c1, preprocess = clip.load("ViT-B/32")
        c2, _, pre = open_clip.create_model_and_transforms("ViT-B-32", pretrained="openai")
        c3 = open_clip.create_model("ViT-B-32")
        s1 = smp.Unet("resnet34", classes=2)
        s2 = smp.Unet("resnet34", encoder_weights=None)
        hub = torch.hub.load("pytorch/vision", "resnet18", weights="DEFAULT")
        other = torch.hub.load("ultralytics/yolov5", "yolov5s", pretrained=True)
        """
    )
    by = {m.source + ":" + m.name: m for m in models}
    assert by["timm:resnet50"].statistics.family == "imagenet"
    assert by["timm:vit_base_patch16_224"].statistics is None
    assert by["transformers:google/vit-base-patch16-224"].statistics.family == "half"
    assert by["transformers:facebook/dinov2-base"].statistics.family == "imagenet"
    assert by["transformers:openai/clip-vit-base-patch32"].statistics.family == "openai_clip"
    assert by["clip:ViT-B/32"].statistics.family == "openai_clip"
    assert by["open_clip:ViT-B-32"].statistics.family == "openai_clip"
    assert by["smp:Unet"].statistics.family == "imagenet"
    assert by["torchvision:resnet18"].weights == "ResNet18_Weights.DEFAULT"
    assert len(models) == 9


def test_trained_elsewhere_tells_a_frozen_helper_from_the_trained_model():
    ctx, models = models_of(
        """
        import torch
        import torch.nn as nn
        from torchvision.models import resnet50, vgg19

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = resnet50(weights="DEFAULT")

        class Generator(nn.Module):
            pass

        net = Net()
        optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
        generator = Generator()
        vgg = vgg19(weights="DEFAULT").features.eval()
        opt_g = torch.optim.Adam(generator.parameters())
        head = nn.Linear(512, 10)
        opt_head = torch.optim.Adam(head.parameters())
        """
    )
    facts = ctx.fact(PretrainedModels)
    by = {m.name: m for m in models}
    assert facts.trained_elsewhere(by["vgg19"])  # the generator is trained, not VGG
    assert facts.trained_elsewhere(by["resnet50"])  # so is the generator here, unlike Net
    ctx2, models2 = models_of(
        """
        import torch
        import torch.nn as nn
        from torchvision.models import resnet50

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = resnet50(weights="DEFAULT")

        net = Net().cuda()
        optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
        probe = nn.Linear(2048, 10)
        opt_probe = torch.optim.Adam(probe.parameters())
        """
    )
    assert not ctx2.fact(PretrainedModels).trained_elsewhere(models2[0])


# --- pipelines and normalization ------------------------------------------------------------------


PIPELINES = """
import torch
import torchvision.transforms as T
from torchvision import datasets
from torchvision.models import ResNet50_Weights

MEAN = (0.5,) * 3
STATS = {"mean": [0.1, 0.2, 0.3], "std": [0.4, 0.5, 0.6]}
weights = ResNet50_Weights.DEFAULT
plain = T.Compose([T.Resize(256), T.ToTensor()])
normalized = T.Compose([T.ToTensor(), T.Normalize(MEAN, [0.5] * 3)])
opaque = T.Compose([T.Resize(256), weights.transforms()])
from_dict = T.Normalize(STATS["mean"], STATS["std"])
tensors = T.Normalize(torch.tensor([0.485, 0.456, 0.406]), std=torch.tensor([0.229, 0.224, 0.225]))
a = datasets.ImageFolder("a", transform=plain)
b = datasets.ImageFolder("b", transform=normalized)
c = datasets.ImageFolder("c", transform=opaque)
"""


def test_input_pipelines_and_their_normalization():
    ctx = analysed(PIPELINES)
    inputs = ctx.fact(InputPipelines)
    names = {ctx.code(item.pipeline.node)[:12]: item for item in inputs.inputs()}
    assert set(names) == {"T.Compose([T", "T.Compose([T"} | set(names)
    unnormalized = inputs.unnormalized()
    assert [ctx.code(item.pipeline.node) for item in unnormalized] == ["T.Compose([T.Resize(256), T.ToTensor()])"]
    opaque = [item for item in inputs.inputs() if "weights.transforms()" in ctx.code(item.pipeline.node)]
    assert opaque and opaque[0].pipeline.unresolved  # not understood: never said not to normalize
    calls = {ctx.code(call.node)[:20]: call for call in inputs.normalize_calls()}
    assert calls["T.Normalize(MEAN, [0"].mean == (0.5, 0.5, 0.5) and calls["T.Normalize(MEAN, [0"].std == (0.5, 0.5, 0.5)
    assert calls['T.Normalize(STATS["m'].mean == (0.1, 0.2, 0.3)
    assert calls["T.Normalize(torch.te"].std == (0.229, 0.224, 0.225)


def test_unresolved_elements_reach_the_enclosing_pipeline():
    ctx = analysed(
        """
        import torchvision.transforms as T
        inner = T.Compose([T.Resize(8), make_norm()])
        outer = T.Compose([inner, T.ToTensor(), T.Lambda(lambda x: x * 2 - 1)])
        outer(img)
        """
    )
    pipelines = ctx.fact(TransformPipelines)
    application = pipelines.applications()[0]
    pipeline = application.pipelines[0]
    assert [op.name for op in pipeline.ops] == ["Resize", "ToTensor", "Lambda"]
    assert [ctx.code(node) for node in pipeline.unresolved] == ["make_norm()"]


@pytest.mark.parametrize(
    "code, manual",
    [
        ("(x - mean) / std", True),
        ("(img / 255.0 - MEAN) / STD", True),
        ("x * 2 - 1", True),
        ("x / 127.5 - 1.0", True),
        ("images - pixel_mean", True),
        ("(end - start) / n", False),
        ("x / 255.0", False),
        ("a - b", False),
    ],
)
def test_manual_normalization(code, manual):
    ctx = analysed(f"y = {code}\n")
    node = ctx.module.body[0].body[0].value
    assert is_manual_normalization(ctx, node) is manual


@pytest.mark.parametrize(
    "code, reversal",
    [
        ("cv2.cvtColor(img, cv2.COLOR_BGR2RGB)", True),
        ("cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)", False),
        ("img[:, :, ::-1]", True),
        ("img[..., ::-1]", True),
        ("img[:, ::-1]", False),
        ("img[:, :, [2, 1, 0]]", True),
        ("img.transpose(2, 0, 1)[::-1]", True),
        ("scores[::-1]", False),
        ("np.flip(img, axis=2)", True),
        ("np.flip(img, axis=1)", False),
    ],
)
def test_channel_reversal(code, reversal):
    ctx = analysed(f"import cv2\nimport numpy as np\ny = {code}\n")
    node = ctx.module.body[2].body[0].value
    assert is_channel_reversal(ctx, node) is reversal


def test_image_reads_and_where_they_go():
    ctx = analysed(
        """
        import cv2
        from PIL import Image
        import torch

        class D(torch.utils.data.Dataset):
            def __getitem__(self, i):
                img = cv2.imread(self.paths[i])
                mask = cv2.imread(self.masks[i], cv2.IMREAD_GRAYSCALE)
                img = cv2.resize(img, (64, 64)).astype("float32") / 255.0
                return torch.from_numpy(img).permute(2, 0, 1), mask

        def load_rgb(path):
            image = cv2.imread(path)
            return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

        def show(filename):
            frame = cv2.imread(filename)
            cv2.imshow("x", frame)
        """
    )
    reads = ctx.fact(ImageReads)
    by = {ctx.code(r.node): r for r in reads.reads()}
    assert by["cv2.imread(self.paths[i])"].color and by["cv2.imread(self.paths[i])"].kind == "cv2"
    assert not by["cv2.imread(self.masks[i], cv2.IMREAD_GRAYSCALE)"].color
    assert by["cv2.imread(self.masks[i], cv2.IMREAD_GRAYSCALE)"].target_like
    assert reads.destination(by["cv2.imread(self.paths[i])"]).description == "dataset"
    assert reads.destination(by["cv2.imread(path)"]) is None  # converted before it leaves
    assert reads.destination(by["cv2.imread(path)"], channel_order=False).description == "loader"
    assert reads.destination(by["cv2.imread(filename)"]) is None  # only shown


def test_pretrained_family_has_enough_fixtures():
    family = [p for p in fixture_files() if p.parent.name == "pretrained"]
    clean = [p for p in family if not expected_findings(p)]
    for code in ("NNL301", "NNL302", "NNL303", "NNL304"):
        buggy = [p for p in family if any(c == code for _, c in expected_findings(p))]
        assert len(buggy) >= 4, code
    assert len(clean) >= 8
