"""Spatial targets: values that must move with the image when the image is flipped, rotated or
cropped -- masks, segmentation maps, boxes, keypoints, landmarks, depth, flow, heatmaps.

A value is recognised as a spatial target by
- its dataset: torchvision's VOCSegmentation, VOCDetection, CocoDetection, Cityscapes, SBDataset,
  Kitti, WIDERFace, OxfordIIITPet with "segmentation", CelebA with "landmarks"/"bbox", the optical
  flow datasets (``dataset_target_kind``);
- how it is loaded: read as an image (``Image.open``, ``cv2.imread``, ``imageio.imread``,
  ``read_image``...) from a path that names a mask/label/annotation, or into a variable named like
  a target (``label = Image.open(...)``);
- its name: mask, seg, label_map, boxes, bbox, keypoints, kpts, joints, landmarks, depth,
  disparity, flow, heatmap (``sample["mask"]`` and ``{"mask": ...}`` count by their key); paths,
  file names, counts, transforms and NLP masks (attention_mask, padding_mask) do not;
- being a dict with boxes/masks/keypoints entries (a detection target).

A value the pipeline makes itself (a random patch mask, a dropout-like draw, a constant tensor; see
``PipelinePatterns``) is never a spatial target, whatever its name.

Plain class labels (``label = self.labels[idx]``) are not spatial. ``SampleFlow`` answers, for one
function, which targets are returned together with an image and what the function does to them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Set, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.flips import ManualGeometry, access_path, names_in, root_of, written_paths
from nnlint.analysis.index import Scope, Statement
from nnlint.analysis.names import argument, callee_terminal_name, dotted_name, keyword_arg, string_value
from nnlint.analysis.patterns import PipelinePatterns
from nnlint.analysis.transforms import Application, TransformPipelines

SPATIAL_WORDS: Dict[str, str] = {
    **dict.fromkeys(
        ["mask", "masks", "seg", "segs", "segmentation", "segmentations", "segmap", "segmaps", "segm", "semantic",
         "sem", "labelmap", "labelmaps", "trimap", "panoptic", "parsing", "matte", "gtmask", "seglabel"],
        "mask",
    ),
    **dict.fromkeys(["box", "boxes", "bbox", "bboxes", "bbs"], "boxes"),
    **dict.fromkeys(
        ["keypoint", "keypoints", "kpt", "kpts", "kp", "kps", "joints", "landmark", "landmarks", "lmk", "lmks",
         "keypts"],
        "keypoints",
    ),
    **dict.fromkeys(["depth", "depths", "disparity", "disp", "depthmap"], "depth"),
    **dict.fromkeys(["flow", "flows", "optflow"], "flow"),
    **dict.fromkeys(["heatmap", "heatmaps", "heatmaps_gt"], "heatmap"),
}
# Calls that make a new array of a given shape: it holds nothing of the image's geometry yet.
ALLOCATIONS = frozenset(
    f"{library}.{function}"
    for library in ("numpy", "torch")
    for function in ("zeros", "ones", "full", "empty", "zeros_like", "ones_like", "full_like", "empty_like")
)
# Words that make a name something else than a target value (a path, a count, a transform...).
EXCLUDED_WORDS = frozenset(
    """
    path paths file files dir dirs folder folders root name names fn fns fname fnames list lst ids id idx
    index indices transform transforms tf tfs aug augs augment augmentation size sizes shape len num count
    prob probs ratio attention attn padding pad causal token tokens key keys query loss losses head logits
    logit pred preds prediction predictions output outputs out suffix ext url dataset loader fmt format type
    mode params param threshold thresh weight weights generator model net encoder decoder embed emb channels
    classes colors color palette cmap mapping dict fill value values dtype token src tgt seq input_mask mean std
    ignore void encoding encode decode func fun to getter reader writer scale scales jitter noise
    """.split()
)
TARGET_WORDS = frozenset(
    "label labels lbl lbls gt gts target targets annotation annotations anno annos ann anns annot y truth groundtruth".split()
)
IMAGE_WORDS = frozenset("img imgs image images im ims x input inputs photo frame frames rgb pic picture view views patch crop sample".split())
LOADERS = frozenset(
    {
        "PIL.Image.open", "cv2.imread", "imageio.imread", "imageio.v2.imread", "imageio.v3.imread", "skimage.io.imread",
        "torchvision.io.read_image", "torchvision.io.decode_image", "tifffile.imread", "matplotlib.pyplot.imread",
        "scipy.misc.imread", "numpy.load", "cv2.imdecode",
    }
)
META_ATTRIBUTES = frozenset({"size", "shape", "height", "width", "dtype", "device", "mode", "ndim", "h", "w"})
# Library calls that leave a target's geometry as it is.
HARMLESS_ROOTS = ("numpy.", "torch.", "PIL.", "cv2.", "builtins.", "math.", "torchvision.transforms.functional.",
                  "torchvision.transforms.v2.functional.", "torchvision.tv_tensors.", "imageio.", "skimage.")
GEOMETRIC_CALL_WORDS = ("flip", "rot90", "rotate", "warp", "affine", "perspective", "remap", "crop", "transpose", "roll")
HARMLESS_METHODS = frozenset(
    """
    convert resize astype long float int byte half double bool unsqueeze squeeze copy to numpy permute contiguous
    clone view reshape type sum max min clip clamp round cpu cuda tolist item detach squeeze_ unsqueeze_ mul div
    add sub eq ne lt gt le ge __getitem__ get getdata load split fill_ long_ float_ as_tensor
    """.split()
)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def name_words(name: str) -> List[str]:
    """`gt_mask` -> [gt, mask]; `maskImg` -> [mask, img]; `self.label_map` -> [label, map]."""
    last = name.split(".")[-1]
    if "[" in name:
        match = re.search(r"\['([^']*)'\]$", name)
        last = match.group(1) if match else last
    words = [w.lower() for w in re.split(r"[_\W]+", _CAMEL.sub("_", last)) if w]
    return [w.rstrip("0123456789") or w for w in words]


def kind_by_name(name: str) -> Optional[str]:
    """The spatial kind a name says its value is, or None."""
    words = name_words(name)
    if not words or any(word in EXCLUDED_WORDS for word in words):
        return None
    for word in words:
        if word in SPATIAL_WORDS:
            return SPATIAL_WORDS[word]
    joined = "".join(words)
    if "labelmap" in joined or "segmap" in joined or "labelimg" in joined or "labelimage" in joined:
        return "mask"
    return None


def is_target_like_name(name: str) -> bool:
    words = name_words(name)
    return bool(words) and any(word in TARGET_WORDS for word in words) and not any(w in EXCLUDED_WORDS for w in words)


def is_image_like_name(name: str) -> bool:
    words = name_words(name)
    return bool(words) and any(word in IMAGE_WORDS for word in words) and kind_by_name(name) is None


def dataset_target_kind(ctx: ModuleContext, qualified: Optional[str], call: Optional[cst.Call]) -> Optional[str]:
    """The spatial kind of the target a torchvision dataset returns, or None (class labels)."""
    if qualified is None:
        return None
    name = qualified.split(".")[-1]
    if name in ("VOCSegmentation", "SBDataset"):
        return "mask"
    if name in ("VOCDetection", "CocoDetection", "Kitti", "WIDERFace"):
        return "boxes"
    if name in ("Sintel", "KittiFlow", "FlyingChairs", "FlyingThings3D", "HD1K"):
        return "flow"
    if call is None:
        return None

    def strings(expr: Optional[cst.BaseExpression]) -> Optional[List[str]]:
        if expr is None:
            return None
        single = string_value(expr)
        if single is not None:
            return [single]
        if isinstance(expr, (cst.List, cst.Tuple)):
            return [s for s in (string_value(e.value) for e in expr.elements) if s is not None]
        return []

    if name == "Cityscapes":
        types = strings(argument(call, 3, "target_type"))
        if types is None:
            return "mask"  # default "instance"
        return "mask" if any(t in ("semantic", "instance", "color", "polygon") for t in types) else None
    if name == "OxfordIIITPet":
        types = strings(keyword_arg(call, "target_types")) or []
        return "mask" if "segmentation" in types else None
    if name == "CelebA":
        types = strings(keyword_arg(call, "target_type")) or []
        if "landmarks" in types:
            return "keypoints"
        return "boxes" if "bbox" in types else None
    if name == "Caltech101":
        types = strings(keyword_arg(call, "target_type")) or []
        return "keypoints" if "annotation" in types else None
    return None


@dataclass(frozen=True)
class Evidence:
    kind: str  # mask | boxes | keypoints | depth | flow | heatmap | detection
    reason: str


@dataclass(frozen=True)
class Partner:
    """A spatial target returned from a function together with an image."""

    path: str
    evidence: Evidence
    element: cst.CSTNode  # the returned element that holds it
    statement: Statement  # the return statement


@dataclass(frozen=True)
class Treatment:
    """What a function does to a target besides returning it."""

    random_applications: List[Application]  # random geometric pipelines applied to the target alone
    joint: bool  # passed through a call together with the image
    unknown: bool  # passed to something whose effect is not known (maybe a synchronized transform)
    flips: List[Tuple[cst.CSTNode, Optional[object], Optional[cst.CSTNode]]]  # (flip node, draw, branch)


class SpatialTargets:
    """Get it with ``ctx.fact(SpatialTargets)``."""

    MAX_DEPTH = 4

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        self.pipelines = ctx.fact(TransformPipelines)
        self.geometry = ctx.fact(ManualGeometry)
        self.patterns = ctx.fact(PipelinePatterns)
        self._evidence: Dict[Tuple[str, int], Optional[Evidence]] = {}

    # -- is this value a spatial target? -----------------------------------------------------------

    def evidence(self, path: str, statement: Statement, depth: int = 0) -> Optional[Evidence]:
        key = (path, id(statement))
        if key in self._evidence:
            return self._evidence[key]
        self._evidence[key] = None
        found = self._evidence_of(path, statement, depth)
        self._evidence[key] = found
        return found

    def _evidence_of(self, path: str, statement: Statement, depth: int) -> Optional[Evidence]:
        words = name_words(path)
        if any(word in EXCLUDED_WORDS for word in words):
            return None
        kind = kind_by_name(path)
        if kind is not None:
            if self.generated(path, statement):
                return None  # a pattern made up by the pipeline (MAE patch masks), not an annotation
            return Evidence(kind, f"its name `{path}`")
        if depth > self.MAX_DEPTH:
            return None
        if "[" in path or ("." in path and not path.startswith("self.")):
            return None
        if "." in path:
            return self._attribute_evidence(path, statement, depth)
        # a detection target dict: target["boxes"] = ...
        for other in statement.scope.statements:
            for written in written_paths(other):
                if written.startswith(path + "[") and kind_by_name(written) is not None:
                    return Evidence("detection", f"`{written}` is set")
        definition = self.flow.definition(path, statement)
        if definition.kind == "assign" and definition.value is not None and definition.statement is not None:
            return self._value_evidence(path, definition.value, definition.statement, depth)
        if definition.kind == "unpacked" and definition.value is not None and definition.statement is not None:
            return self._unpacked_evidence(path, definition.value, definition.statement) or self._helper_evidence(
                path, definition.value, definition.statement, depth
            )
        return None

    def _helper_evidence(self, path: str, value: cst.BaseExpression, statement: Statement, depth: int) -> Optional[Evidence]:
        """`img, mask = self._read(index)` (or `sample = read_pair(...)` then `img, mask = sample`)
        with a helper of this module that returns a tuple: the evidence of the element it returns at
        that position (`Image.open(self.masks[index])`)."""
        node = statement.node
        if not isinstance(node, cst.Assign) or len(node.targets) != 1 or not isinstance(node.targets[0].target, (cst.Tuple, cst.List)):
            return None
        elements = [access_path(e.value) for e in node.targets[0].target.elements]
        if path not in elements:
            return None
        position = elements.index(path)
        if isinstance(value, cst.Name):
            definition = self.flow.definition(value.value, statement)
            if definition.kind != "assign" or definition.value is None or definition.statement is None:
                return None
            value, statement = definition.value, definition.statement
        site = self.ctx.index.call_sites.get(value) if isinstance(value, cst.Call) else None
        callee = self.flow.callee(site) if site is not None else None
        if callee is None or callee.is_module:
            return None
        for returned in callee.statements:
            result = returned.node.value if isinstance(returned.node, cst.Return) else None
            if returned.scope is not callee or not isinstance(result, (cst.Tuple, cst.List)):
                continue
            if len(result.elements) > position:
                element = result.elements[position].value
                inner = access_path(element)
                found = (
                    self.evidence(inner, returned, depth + 1) if inner is not None
                    else self._value_evidence(path, element, returned, depth + 1)
                )
                if found is not None:
                    return found
        return None

    def generated(self, path: str, statement: Statement) -> bool:
        """Whether the value at `path` is a pattern the pipeline makes itself rather than part of the
        sample's annotation: a random patch mask (`np.random.permutation` then index assignment), a
        dropout-like draw (`torch.rand(n) < p`), a constant made with `torch.ones`/`np.zeros`, through
        helpers, methods and callable objects of this module. Such a value is no spatial target,
        whatever it is called: the image's geometry does not apply to it."""
        if "[" in path:
            return False
        if path.startswith("self."):
            definitions = self.flow.self_attribute_definitions(path, statement) or []
            return bool(definitions) and all(
                d.kind == "assign" and d.value is not None and d.statement is not None
                and self.patterns.made(d.value, d.statement)
                for d in definitions
            )
        if "." in path:
            return False
        return self.patterns.made_name(path, statement)

    def _attribute_evidence(self, path: str, statement: Statement, depth: int) -> Optional[Evidence]:
        owner = self.ctx.index.enclosing_class(statement.scope)
        if owner is None:
            return None
        for definition in self.flow.attribute_definitions(owner, path[5:]):
            if definition.value is not None and definition.statement is not None:
                found = self._value_evidence(path, definition.value, definition.statement, depth)
                if found is not None:
                    return found
        return None

    def _value_evidence(self, path: str, value: cst.BaseExpression, statement: Statement, depth: int) -> Optional[Evidence]:
        if isinstance(value, cst.Dict):
            keys = [string_value(e.key) for e in value.elements if isinstance(e, cst.DictElement)]
            kinds = [kind_by_name(k) for k in keys if k]
            if any(kinds):
                return Evidence("detection", f"`{path}` holds {', '.join(repr(k) for k in keys if k and kind_by_name(k))}")
            return None
        loader = self._loader_in(value)
        if loader is not None:
            source_kinds = [kind_by_name(p) for p in names_in(loader)]
            source_kinds += [kind_by_name(s) for s in _strings_in(loader)]
            kind = next((k for k in source_kinds if k), None)
            if kind is not None:
                return Evidence(kind, f"it is read with `{self.ctx.code(loader)}`")
            if any(is_target_like_name(p) for p in names_in(loader)) or is_target_like_name(path):
                return Evidence("mask", f"it is read as an image with `{self.ctx.code(loader)}`")
            return None
        # carried through conversions: mask = np.array(mask), label = torch.from_numpy(label)
        sources = [p for p in names_in(value) if "." not in p and "[" not in p and p != path]
        same = [p for p in names_in(value) if p == path]
        candidates = same or sources
        if len(set(candidates)) == 1 and isinstance(value, (cst.Call, cst.Attribute, cst.Subscript, cst.Name)):
            return self.evidence(candidates[0], statement, depth + 1)
        if isinstance(value, cst.Subscript):
            # label = self.labels[idx] with self.labels = sorted(glob(".../masks/*.png"))
            base = access_path(value.value) or dotted_name(value.value)
            if base is not None and base.startswith("self."):
                kind = kind_by_name(base)
                if kind is not None:
                    return Evidence(kind, f"it comes from `{base}`")
        return None

    def _unpacked_evidence(self, path: str, value: cst.BaseExpression, statement: Statement) -> Optional[Evidence]:
        """`img, target = self.voc[index]` or `super().__getitem__(index)` on a spatial dataset."""
        dataset_kind = None
        if isinstance(value, cst.Call) and callee_terminal_name(value) == "__getitem__":
            owner = self.ctx.index.enclosing_class(statement.scope)
            if owner is not None:
                dataset_kind = dataset_target_kind(self.ctx, self.pipelines.torchvision_base(owner), None)
        elif isinstance(value, cst.Subscript):
            base = dotted_name(value.value)
            if base is not None:
                dataset_kind = self.dataset_kind_of(base, statement)
        if dataset_kind is None:
            return None
        node = statement.node
        if isinstance(node, cst.Assign):
            for target in node.targets:
                if isinstance(target.target, (cst.Tuple, cst.List)):
                    elements = [access_path(e.value) for e in target.target.elements]
                    if path in elements and elements.index(path) >= 1:
                        return Evidence(dataset_kind, "it is the target of a dataset with spatial targets")
        return None

    def dataset_kind_of(self, name: str, statement: Statement) -> Optional[str]:
        """The target kind of the dataset a name holds (`self.voc = VOCSegmentation(...)`)."""
        if name.startswith("self."):
            owner = self.ctx.index.enclosing_class(statement.scope)
            definitions = self.flow.attribute_definitions(owner, name[5:]) if owner else []
        elif "." not in name:
            definitions = [self.flow.definition(name, statement)]
        else:
            return None
        for definition in definitions:
            if isinstance(definition.value, cst.Call):
                qualified, _ = self.pipelines.dataset_class(definition.value)
                kind = dataset_target_kind(self.ctx, qualified, definition.value)
                if kind is not None:
                    return kind
        return None

    def _loader_in(self, value: cst.CSTNode) -> Optional[cst.Call]:
        pending = [value]
        while pending:
            node = pending.pop()
            if isinstance(node, cst.Call) and self.ctx.qualified_name(node.func) in LOADERS:
                return node
            if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "open":
                if (dotted_name(node.func.value) or "").split(".")[-1] == "Image":
                    return node
            pending.extend(node.children)
        return None

    # -- one function's sample ----------------------------------------------------------------------

    def image_paths(self, scope: Scope, image: str, start: Statement) -> Set[str]:
        """Paths that hold the image (or values computed from it) from `start` on."""
        tainted = {image, root_of(image)}
        for statement in scope.statements[start.position :]:
            node = statement.node
            value = None
            if isinstance(node, (cst.Assign, cst.AnnAssign)) and node.value is not None:
                value = node.value
            elif isinstance(node, cst.AugAssign):
                value = node.value
            if value is not None and mentions(value, tainted):
                tainted.update(written_paths(statement))
        return tainted

    def partners(self, scope: Scope, image: str, start: Statement) -> List[Partner]:
        """Spatial targets that the function returns together with the image (from `start` on)."""
        tainted = self.image_paths(scope, image, start)
        found: List[Partner] = []
        for statement in scope.statements[start.position :]:
            node = statement.node
            if not isinstance(node, cst.Return) or node.value is None:
                continue
            elements = self._returned_elements(node.value, statement)
            if not any(mentions(element, tainted) for _, element in elements):
                continue
            if any(self._other_image(key, element, tainted) for key, element in elements):
                continue  # several images in one sample: which one a target belongs to is not shown
            for key, element in elements:
                if mentions(element, tainted):
                    continue
                for path in names_in(element):
                    if "[" in path and root_of(path) in tainted:
                        continue
                    evidence = self.evidence(path, statement)
                    if evidence is None and key is not None and kind_by_name(key) is not None and not self.generated(path, statement):
                        if self.ctx.qualified_name(element) is None:  # type: ignore[arg-type]
                            evidence = Evidence(kind_by_name(key), f"it is returned as {key!r}")  # type: ignore[arg-type]
                    if evidence is not None and not self._derived_from(path, tainted, scope) and not self.made_after(path, start):
                        found.append(Partner(path, evidence, element, statement))
                        break
        return found

    def made_after(self, path: str, start: Statement) -> bool:
        """`reg_mask = np.zeros(max_objs)` after the flip, then filled from the (flipped) boxes: an
        array the function allocates only after the transform holds none of the image's old
        geometry, so the transform cannot have left it behind; what is written into it is judged
        where it comes from."""
        scope = start.scope
        if "." in path or "[" in path or scope.parameter(path) is not None:
            return False
        bindings = self.flow.bindings_in(scope, path)
        allocated = False
        for binding in bindings:
            if binding.statement is None or binding.statement.position <= start.position:
                return False
            if binding.kind == "assign" and isinstance(binding.value, cst.Call):
                if self.ctx.qualified_name(binding.value.func) not in ALLOCATIONS:
                    return False
                allocated = True
            elif binding.kind != "augassign":
                return False
        return allocated

    @staticmethod
    def _other_image(key: Optional[str], element: cst.CSTNode, tainted: Set[str]) -> bool:
        if mentions(element, tainted):
            return False
        names = [key] if key is not None else [p for p in names_in(element) if "." not in p and "[" not in p]
        return any(name is not None and is_image_like_name(name) for name in names)

    def _derived_from(self, path: str, tainted: Set[str], scope: Scope) -> bool:
        return path in tainted or root_of(path) in tainted

    def _returned_elements(self, value: cst.BaseExpression, statement: Statement) -> List[Tuple[Optional[str], cst.CSTNode]]:
        if isinstance(value, (cst.Tuple, cst.List)):
            return [(None, e.value) for e in value.elements]
        if isinstance(value, cst.Dict):
            return [(string_value(e.key), e.value) for e in value.elements if isinstance(e, cst.DictElement)]
        if isinstance(value, cst.Call) and callee_terminal_name(value) == "dict":
            return [(a.keyword.value, a.value) for a in value.args if a.keyword is not None]
        if isinstance(value, cst.Name):
            definition = self.flow.definition(value.value, statement)
            if definition.kind == "assign" and isinstance(definition.value, (cst.Dict, cst.Tuple)) and definition.statement:
                elements = self._returned_elements(definition.value, definition.statement)
                # later `sample["mask"] = ...` writes
                for other in statement.scope.statements[definition.statement.position + 1 : statement.position]:
                    node = other.node
                    if isinstance(node, cst.Assign) and len(node.targets) == 1:
                        target = node.targets[0].target
                        path = access_path(target)
                        if path is not None and path.startswith(value.value + "["):
                            elements.append((path.split("'")[1] if "'" in path else None, node.value))
                return elements
        return []

    # -- what a function does to a target ----------------------------------------------------------

    def treatment(self, scope: Scope, target: str, image_paths: Set[str], skip: Iterable[cst.CSTNode] = ()) -> Treatment:
        skipped = {id(node) for node in skip}
        root = root_of(target)
        random_apps: List[Application] = []
        joint = unknown = False
        flips = []
        for flip in self.geometry.flips_in(scope):
            path = access_path(flip.operand)
            if path is not None and (path == target or root_of(path) == root and path.startswith(root)):
                if path == target or "[" not in path:
                    flips.append((flip.node, flip.draw, flip.branch))
        flip_nodes = {id(f[0]) for f in flips}
        for statement in scope.statements:
            if not any(p == target or p == root for p in names_in_statement(statement)):
                continue
            for site in statement.calls:
                call = site.node
                if id(call) in skipped or id(call) in flip_nodes:
                    continue
                involved = [a.value for a in call.args if _mentions_path(a.value, target, root)]
                receiver = call.func.value if isinstance(call.func, cst.Attribute) else None
                on_receiver = receiver is not None and _mentions_path(receiver, target, root)
                if not involved and not on_receiver:
                    continue
                if involved and any(mentions(a.value, image_paths) for a in call.args if not _mentions_path(a.value, target, root)):
                    joint = True
                    continue
                application = self.pipelines.application_of(call)
                if application is not None and involved:
                    if application.joint:
                        joint = True
                    elif application.random_geometric:
                        random_apps.append(application)
                    continue
                if not involved and on_receiver:
                    method = call.func.attr.value  # type: ignore[union-attr]
                    if method in HARMLESS_METHODS or self.ctx.qualified_name(call.func) is None and method not in _geometric_words():
                        continue
                if self._harmless_call(call, site.statement):
                    continue
                unknown = True
            # subscript writes that mirror coordinates: boxes[:, 0] = w - boxes[:, 2]
            if isinstance(statement.node, (cst.Assign, cst.AugAssign)):
                writes = [p for p in written_paths(statement) if p == target or p == root]
                value = statement.node.value
                if writes and _has_subtraction(value) and _mentions_path(value, target, root):
                    unknown = True  # a hand-written mirror of coordinates, maybe synchronised
        return Treatment(random_apps, joint, unknown, flips)

    def _harmless_call(self, call: cst.Call, statement: Optional[Statement]) -> bool:
        qualified = self.ctx.qualified_name(call.func)
        if qualified is not None:
            last = qualified.split(".")[-1].lower()
            if any(word in last for word in GEOMETRIC_CALL_WORDS):
                return False
            if qualified.startswith(("numpy.random", "torch.rand", "random.")):
                return False
            return qualified.startswith(HARMLESS_ROOTS)
        func = call.func
        if statement is not None and isinstance(func, (cst.Name, cst.Attribute, cst.Subscript)):
            resolution = self.pipelines.resolve_all(func, statement)
            if resolution.only_none:
                return True  # `if self.target_transform: ...` with nothing passed
            if resolution.pipelines and not resolution.unknown and not resolution.callables:
                return not any(p.random_geometric for p in resolution.pipelines)
        if isinstance(func, cst.Attribute) and func.attr.value in HARMLESS_METHODS and not isinstance(func.value, cst.Name):
            return True
        return False


def _geometric_words() -> Tuple[str, ...]:
    return ("flip", "fliplr", "flipud", "rotate", "transpose", "crop", "rot90")


def names_in_statement(statement: Statement) -> Set[str]:
    node = statement.node
    if isinstance(node, (cst.If, cst.While)):
        return set(names_in(node.test))
    if isinstance(node, cst.For):
        return set(names_in(node.iter)) | set(names_in(node.target))
    if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.With, cst.Try)):
        return set()
    return set(names_in(node))


def _mentions_path(expr: cst.CSTNode, target: str, root: str) -> bool:
    return any(p == target or (p == root and "[" not in target) or p.startswith(target + "[") for p in names_in(expr))


def mentions(expr: cst.CSTNode, paths: Set[str]) -> bool:
    """Whether an expression uses one of the paths as data (not only its size or shape)."""
    pending: List[cst.CSTNode] = [expr]
    while pending:
        node = pending.pop()
        if isinstance(node, cst.Attribute) and node.attr.value in META_ATTRIBUTES:
            continue
        if isinstance(node, cst.Call) and callee_terminal_name(node) in ("len", "size", "dim"):
            continue
        if isinstance(node, (cst.Name, cst.Attribute, cst.Subscript)):
            path = access_path(node)  # type: ignore[arg-type]
            if path is not None:
                if path in paths or root_of(path) in paths and "[" not in path:
                    return True
                if "[" in path and path in paths:
                    return True
                if isinstance(node, cst.Subscript):
                    pending.append(node.value)
                continue
        if isinstance(node, cst.Arg):
            pending.append(node.value)
            continue
        if isinstance(node, cst.Lambda):
            continue
        pending.extend(node.children)
    return False


def _has_subtraction(node: cst.CSTNode) -> bool:
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, cst.BinaryOperation) and isinstance(current.operator, cst.Subtract):
            return True
        if isinstance(current, cst.AugAssign) and isinstance(current.operator, (cst.SubtractAssign, cst.MultiplyAssign)):
            return True
        if isinstance(current, cst.UnaryOperation) and isinstance(current.operator, cst.Minus):
            return True
        pending.extend(current.children)
    return False


def _strings_in(node: cst.CSTNode) -> List[str]:
    found = []
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, cst.SimpleString):
            value = string_value(current)
            if value:
                found.extend(w for w in re.split(r"[/\\._\-]+", value) if w)
        pending.extend(current.children)
    return found
