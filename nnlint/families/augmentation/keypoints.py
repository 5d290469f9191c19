"""Keypoints and their left/right pairing.

Mirroring keypoints horizontally (`x' = w - x`) is only half of a flip: the point stored at the
"left eye" index now lies where the right eye is, so the order must be permuted with the flip
pairs too. ``KeypointPairing`` says whether the module shows that its keypoints are left/right
paired (keypoint names with left/right, a flip-pairs constant, COCO person keypoints, 17-keypoint
person skeletons), recognises mirrors of keypoint x coordinates, and permutations of the
keypoint axis (`kps[FLIP_IDX]`, `kps[[1, 2]] = kps[[2, 1]]`, swap loops over pairs, helpers that
receive the pairs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Set, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.flips import access_path, names_in, root_of
from nnlint.analysis.index import Scope, Statement
from nnlint.analysis.names import callee_terminal_name, dotted_name, keyword_arg, number_value, string_value
from nnlint.analysis.targets import SpatialTargets, kind_by_name, name_words

PAIR_WORDS = frozenset(
    "flip flipped pair pairs perm permutation permute swap symmetry sym symmetric mirror matched reorder flipidx".split()
)
SIDE_WORDS = {"left": "L", "l": "L", "right": "R", "r": "R"}
SEPARATORS = re.compile(r"[_\s\-.]+")
CAMEL_SIDE = re.compile(r"^([LR])([A-Z].*)$")  # OpenPose style: LShoulder, RHip


def _side(name: str) -> Optional[Tuple[str, str]]:
    """("L" or "R", the joint without its side) for `left_eye`, `r-knee`, `leftEye`, `LShoulder`."""
    camel = CAMEL_SIDE.match(name)
    if camel:
        return camel.group(1), camel.group(2).lower()
    words = [w for w in SEPARATORS.split(name.lower()) if w]
    for index, word in enumerate(words):
        if word in SIDE_WORDS:
            return SIDE_WORDS[word], "_".join(words[:index] + words[index + 1 :])
    lowered = name.lower()
    for side in ("left", "right"):
        if lowered.startswith(side) and len(lowered) > len(side):
            return SIDE_WORDS[side], lowered[len(side) :].strip("_- .")
        if lowered.endswith(side) and len(lowered) > len(side):
            return SIDE_WORDS[side], lowered[: -len(side)].strip("_- .")
    return None


def left_right_paired(names: Sequence[str]) -> bool:
    """Whether some joint appears with both sides (left_eye and right_eye), not merely names that
    happen to start with an l or an r (ring_tip, little_mcp)."""
    sides: Dict[str, Set[str]] = {}
    for name in names:
        found = _side(name)
        if found is not None:
            sides.setdefault(found[1], set()).add(found[0])
    return any(len(seen) == 2 for seen in sides.values())
KEYPOINT_COUNT_NAMES = re.compile(r"num_?(key)?points|num_?kpts?|num_?joints|n_?kpts?|n_?joints|num_?keypoints", re.IGNORECASE)


@dataclass(frozen=True)
class Pairing:
    reason: str  # for messages: "the keypoint names in KEYPOINT_NAMES are left/right paired"
    names: Optional[Tuple[str, ...]] = None  # keypoint names when the module lists them
    pairs_name: Optional[str] = None  # the flip-pairs constant, when there is one


@dataclass(frozen=True)
class Mirror:
    statement: Statement
    node: cst.CSTNode
    keypoints: str  # the mirrored array's path
    width: str  # the code of what x is mirrored about


def _is_pair_name(name: str) -> bool:
    words = set(name_words(name))
    joined = "".join(name_words(name))
    return bool(words & PAIR_WORDS) or "flipidx" in joined or "flipindex" in joined or "matchedparts" in joined


class KeypointPairing:
    """Get it with ``ctx.fact(KeypointPairing)``."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.targets = ctx.fact(SpatialTargets)
        self._pairing: Optional[Pairing] = None
        self._computed = False

    # -- does the module show left/right pairs? ----------------------------------------------------

    def pairing(self) -> Optional[Pairing]:
        if not self._computed:
            self._computed = True
            self._pairing = self._find_pairing()
        return self._pairing

    def _find_pairing(self) -> Optional[Pairing]:
        names_list: Optional[Tuple[str, ...]] = None
        names_reason = pairs_reason = None
        pairs_name = None
        for scope in self.ctx.index.scopes:
            for statement in scope.statements:
                node = statement.node
                if not isinstance(node, (cst.Assign, cst.AnnAssign)) or node.value is None:
                    continue
                targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
                target_name = dotted_name(targets[0]) if len(targets) == 1 else None
                value = node.value
                strings = _string_elements(value)
                if strings is not None and len(strings) >= 4:
                    if left_right_paired(strings) and names_reason is None:
                        names_list = tuple(strings)
                        names_reason = f"the keypoint names in {target_name or 'the module'} come in left/right pairs"
                if target_name is not None and _is_pair_name(target_name) and isinstance(value, (cst.List, cst.Tuple, cst.Call)):
                    if pairs_reason is None and _has_elements(value):
                        pairs_name = target_name
                        pairs_reason = f"the flip pairs {target_name} are defined"
                if target_name is not None and KEYPOINT_COUNT_NAMES.search(target_name.split(".")[-1]) and number_value(value) == 17:
                    pairs_reason = pairs_reason or f"{target_name} = 17 (COCO person keypoints)"
            for site in scope.calls:
                count = keyword_arg(site.node, "num_keypoints")
                if count is not None and number_value(count) == 17:
                    pairs_reason = pairs_reason or "num_keypoints=17 (COCO person keypoints)"
                qualified = self.ctx.qualified_name(site.node.func) or ""
                if "keypointrcnn" in qualified:
                    pairs_reason = pairs_reason or "the model is a COCO person keypoint R-CNN"
        if "person_keypoints" in self.ctx.source:
            pairs_reason = pairs_reason or "the annotations are COCO person keypoints"
        reason = names_reason or pairs_reason
        if reason is None:
            return None
        return Pairing(reason, names_list, pairs_name)

    # -- mirrors and permutations ------------------------------------------------------------------

    def mirror_of(self, statement: Statement) -> Optional[Mirror]:
        """`kps[:, 0] = w - kps[:, 0]` (also `- 1`, `1 - ...` for normalised coordinates,
        `kps[..., 0]`, `joints[:, 0]`), `kps[:, 0] *= -1` about a centred origin, or a list of
        points rebuilt with x mirrored."""
        node = statement.node
        if isinstance(node, cst.Assign) and len(node.targets) == 1:
            target = node.targets[0].target
            value = node.value
            mirrored = self._mirrored_points(target, value, statement)
            if mirrored is not None:
                return mirrored
        elif isinstance(node, cst.AugAssign) and isinstance(node.operator, cst.MultiplyAssign):
            target, value = node.target, None
            if number_value(node.value) != -1:
                return None
        else:
            return None
        if not isinstance(target, cst.Subscript) or not _indexes_x(target):
            return None
        keypoints = access_path(target.value) or dotted_name(target.value)
        if keypoints is None or not self._is_keypoints(keypoints, statement):
            return None
        if value is None:
            return Mirror(statement, node, keypoints, "0")
        width = _mirror_width(value, self.ctx.code(target))
        if width is None:
            return None
        return Mirror(statement, node, keypoints, self.ctx.code(width))

    def _mirrored_points(self, target, value, statement: Statement) -> Optional[Mirror]:
        """`pts = [(w - 1 - x, y) for x, y in pts]`: a list of points rebuilt with x mirrored."""
        if not isinstance(value, (cst.ListComp, cst.GeneratorExp)) or not isinstance(value.elt, cst.Tuple):
            return None
        loop = value.for_in
        if loop.inner_for_in is not None or not isinstance(loop.target, cst.Tuple) or len(value.elt.elements) < 2:
            return None
        x = loop.target.elements[0].value
        if not isinstance(x, cst.Name) or self.ctx.code(value.elt.elements[1].value) != self.ctx.code(loop.target.elements[1].value):
            return None
        width = _mirror_width(value.elt.elements[0].value, x.value)
        keypoints = dotted_name(target)
        if width is None or keypoints is None or not self._is_keypoints(keypoints, statement):
            return None
        return Mirror(statement, statement.node, keypoints, self.ctx.code(width))

    def _is_keypoints(self, path: str, statement: Statement) -> bool:
        if self.targets.generated(path, statement):
            return False  # made by the pipeline, not read from the annotation
        if kind_by_name(path) == "keypoints":
            return True
        evidence = self.targets.evidence(path, statement)
        return evidence is not None and evidence.kind == "keypoints"

    def permuted(self, scope: Scope, keypoints: str) -> bool:
        """Whether the function reorders the keypoint axis somewhere (or hands the keypoints to
        code that may)."""
        root = root_of(keypoints)
        for statement in scope.statements:
            node = statement.node
            if isinstance(node, cst.For) and any(_is_pair_name(p) for p in names_in(node.iter)):
                return True
            for subscript in _subscripts_of(node):
                if _is_named_permutation(subscript):
                    return True  # `pts[SWAP]`, `joints[flip_idx]`: whatever array it is, the sides are swapped here
                base = access_path(subscript.value) or dotted_name(subscript.value)
                if base is None or (base != keypoints and root_of(base) != root):
                    continue
                if _is_permutation_index(subscript):
                    return True
            if isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Tuple):
                elements = node.targets[0].target.elements
                if len(elements) == 2 and all(isinstance(e.value, cst.Subscript) for e in elements):
                    bases = {access_path(e.value.value) or dotted_name(e.value.value) for e in elements}  # type: ignore[union-attr]
                    if keypoints in bases or root in bases:
                        return True  # kps[a], kps[b] = kps[b], kps[a]
            for site in statement.calls:
                call = site.node
                passed = [a.value for a in call.args]
                if not any(p == keypoints or p == root for a in passed for p in names_in(a)):
                    continue
                name = callee_terminal_name(call) or ""
                if _is_pair_name(name) or any(_is_pair_name(p) for a in passed for p in names_in(a)):
                    return True
        return False


def _string_elements(value: cst.BaseExpression) -> Optional[List[str]]:
    if isinstance(value, (cst.List, cst.Tuple)):
        strings = [string_value(e.value) for e in value.elements]
        if strings and all(s is not None for s in strings):
            return strings  # type: ignore[return-value]
    if isinstance(value, cst.Dict):
        strings = [string_value(e.value) for e in value.elements if isinstance(e, cst.DictElement)]
        if strings and all(s is not None for s in strings):
            return strings  # type: ignore[return-value]
    return None


def _has_elements(value: cst.BaseExpression) -> bool:
    if isinstance(value, (cst.List, cst.Tuple)):
        return len(value.elements) >= 2
    return isinstance(value, cst.Call)


def _indexes_x(subscript: cst.Subscript) -> bool:
    """`a[:, 0]`, `a[..., 0]`, `a[:, :, 0]`, `a[mask, :, 0]`, `a[0]` (x of one point), `a[:, 0::2]` / `a[::2]`
    (x of flat xy lists)."""
    elements = list(subscript.slice)
    last = elements[-1].slice
    if isinstance(last, cst.Index) and number_value(last.value) == 0:
        middle = elements[:-1]
        if len(middle) >= 2 and isinstance(middle[0].slice, cst.Index) and isinstance(middle[0].slice.value, (cst.Name, cst.Attribute)):
            middle = middle[1:]  # `kpts[flip, :, 0]`: the samples a batch flip selected
        return all(
            isinstance(e.slice, cst.Slice) or (isinstance(e.slice, cst.Index) and isinstance(e.slice.value, cst.Ellipsis))
            for e in middle
        )
    if isinstance(last, cst.Slice) and last.step is not None and number_value(last.step) in (2, 3):
        return last.lower is None or number_value(last.lower) == 0
    return False


def _mirror_width(value: cst.BaseExpression, target_code: str) -> Optional[cst.BaseExpression]:
    """The `w` of `w - x`, `w - x - 1`, `w - 1 - x`, `-x + w` where x is the target's own code."""
    if not isinstance(value, cst.BinaryOperation):
        return None
    code = lambda n: " ".join(cst.Module([]).code_for_node(n).split())  # noqa: E731
    if isinstance(value.operator, cst.Subtract):
        if code(value.right) == target_code:
            return value.left
        # (w - x) - 1
        if isinstance(value.left, cst.BinaryOperation) and isinstance(value.left.operator, cst.Subtract):
            if code(value.left.right) == target_code:
                return value.left.left
    if isinstance(value.operator, cst.Add):
        if isinstance(value.left, cst.UnaryOperation) and code(value.left.expression) == target_code:
            return value.right
    return None


def _is_permutation_index(subscript: cst.Subscript) -> bool:
    for element in subscript.slice:
        part = element.slice
        if not isinstance(part, cst.Index):
            continue
        value = part.value
        if isinstance(value, (cst.List, cst.Tuple)) and len(value.elements) >= 2:
            if isinstance(value, cst.List) and all(number_value(e.value) is not None for e in value.elements):
                return True
        if any(_is_permutation_name(p) for p in names_in(value)):
            return True
    return False


def _is_named_permutation(subscript: cst.Subscript) -> bool:
    """An index that names a left/right permutation (`SWAP`, `flip_pairs`, `FLIP_IDX`, `self.perm`)."""
    for element in subscript.slice:
        part = element.slice
        if isinstance(part, cst.Index) and isinstance(part.value, (cst.Name, cst.Attribute)):
            if _is_permutation_name((dotted_name(part.value) or "").split(".")[-1]):
                return True
    return False


def _is_permutation_name(name: str) -> bool:
    """A pair-vocabulary name that can index a permutation; `flip` or `mirror` alone usually names the
    boolean draw of a random flip (`kpts[flip, :, 0]`), not an order."""
    words = set(name_words(name)) - {"flip", "flipped", "mirror"}
    joined = "".join(name_words(name))
    return bool(words & PAIR_WORDS) or "flipidx" in joined or "flipindex" in joined


def _subscripts_of(node: cst.CSTNode) -> List[cst.Subscript]:
    found = []
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, (cst.IndentedBlock, cst.FunctionDef, cst.ClassDef)):
            continue
        if isinstance(current, cst.Subscript):
            found.append(current)
        pending.extend(current.children)
    return found
