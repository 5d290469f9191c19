"""The normal form of a sequence window, and how windows compose and compare.

A *window* is a range of positions of one base sequence: `data[i:i+T]`, `tok[:, 1:]`,
`torch.roll(x, -1, dims=1)`. Its normal form is (root, spans): the root is the identity of the
base value; each span is (axis, start, stop) in the base's own coordinates, with symbolic bounds
(`Affine`: integer-linear combinations of symbols such as `i`, `block_size`, and `END`, the base's
length along that axis). Two windows of the same root compare exactly: `data[i:i+T]` against
`data[i+1:i+1+T]` starts 1 later with the same length; `chunk[:-1]` against `chunk[1:]` too.

Positions a window reaches outside its base come from padding (`torch.cat([w, pad])`,
`F.pad`) or from wrapping around (`torch.roll`); a span records which, and between which bounds the
positions are real (`Span.tail`, `Span.real`).

This module is pure: no LibCST, no context. `nnlint.families.sequence.sequence_windows` builds windows from code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Dict, Hashable, Mapping, Optional, Tuple

# The symbol that stands for the length of the base along the span's axis.
END = "END"


@dataclass(frozen=True)
class Affine:
    """c + sum(k * symbol): symbols are hashable identities; `names` gives their display text."""

    terms: Tuple[Tuple[Hashable, int], ...] = ()
    const: int = 0
    names: Tuple[Tuple[Hashable, str], ...] = field(default=(), compare=False, hash=False)

    # -- construction ----------------------------------------------------------------------------

    @staticmethod
    def constant(value: int) -> "Affine":
        return Affine((), int(value))

    @staticmethod
    def symbol(key: Hashable, name: Optional[str] = None) -> "Affine":
        return Affine(((key, 1),), 0, ((key, name if name is not None else str(key)),))

    @staticmethod
    def end() -> "Affine":
        return Affine.symbol(END, "end")

    @staticmethod
    def _build(coefficients: Mapping[Hashable, int], const: int, names: Mapping[Hashable, str]) -> "Affine":
        terms = tuple(sorted(((k, v) for k, v in coefficients.items() if v != 0), key=lambda kv: repr(kv[0])))
        kept = tuple((k, names[k]) for k, _ in terms if k in names)
        return Affine(terms, const, kept)

    # -- arithmetic ------------------------------------------------------------------------------

    def _coefficients(self) -> Dict[Hashable, int]:
        return dict(self.terms)

    def _names(self, other: Optional["Affine"] = None) -> Dict[Hashable, str]:
        names = dict(self.names)
        if other is not None:
            names.update(other.names)
        return names

    def __add__(self, other: "Affine") -> "Affine":
        coefficients = self._coefficients()
        for key, value in other.terms:
            coefficients[key] = coefficients.get(key, 0) + value
        return Affine._build(coefficients, self.const + other.const, self._names(other))

    def __neg__(self) -> "Affine":
        return Affine._build({k: -v for k, v in self.terms}, -self.const, self._names())

    def __sub__(self, other: "Affine") -> "Affine":
        return self + (-other)

    def scale(self, factor: int) -> "Affine":
        return Affine._build({k: v * factor for k, v in self.terms}, self.const * factor, self._names())

    def plus(self, value: int) -> "Affine":
        return Affine(self.terms, self.const + value, self.names)

    def substitute(self, key: Hashable, value: "Affine") -> "Affine":
        """Replace a symbol by an expression."""
        coefficients = self._coefficients()
        factor = coefficients.pop(key, 0)
        if factor == 0:
            return self
        rest = Affine._build(coefficients, self.const, self._names())
        return rest + value.scale(factor)

    # -- questions -------------------------------------------------------------------------------

    @property
    def value(self) -> Optional[int]:
        """The integer value when there are no symbols."""
        return self.const if not self.terms else None

    def has(self, key: Hashable) -> bool:
        return any(k == key for k, _ in self.terms)

    def symbols(self) -> Tuple[Hashable, ...]:
        return tuple(k for k, _ in self.terms)

    def render(self) -> str:
        names = dict(self.names)
        parts = []
        ordered = sorted(
            self.terms,
            key=lambda kv: (kv[0] == END, len(names.get(kv[0], str(kv[0]))), names.get(kv[0], "").lower()),
        )
        for key, coefficient in ordered:
            name = names.get(key, str(key))
            if (" + " in name or " - " in name) and not name.startswith("("):
                name = f"({name})"
            if coefficient == 1:
                parts.append(("+", name))
            elif coefficient == -1:
                parts.append(("-", name))
            elif coefficient > 0:
                parts.append(("+", f"{coefficient}*{name}"))
            else:
                parts.append(("-", f"{-coefficient}*{name}"))
        if self.const or not parts:
            parts.append(("+" if self.const >= 0 else "-", str(abs(self.const))))
        text = ""
        for index, (sign, part) in enumerate(parts):
            if index == 0:
                text = part if sign == "+" else f"-{part}"
            else:
                text += f" {sign} {part}"
        return text

    def __str__(self) -> str:
        return self.render()


ZERO = Affine.constant(0)


@dataclass(frozen=True)
class Span:
    """Positions [start, stop) of the base along one axis. `tail` says what positions outside
    [real_start, real_stop) hold: "pad" (a filler value) or "wrap" (the other end of the base)."""

    start: Affine
    stop: Affine
    tail: Optional[str] = None
    real_start: Affine = ZERO
    real_stop: Affine = field(default_factory=Affine.end)

    @property
    def length(self) -> Affine:
        return self.stop - self.start

    def is_full(self) -> bool:
        return self.start == ZERO and self.stop == Affine.end() and self.tail is None

    def reaches_outside(self) -> Optional[bool]:
        """Whether the span includes positions outside the real range (None: cannot tell)."""
        if self.tail is None:
            return False
        before = (self.real_start - self.start).value
        after = (self.stop - self.real_stop).value
        if before is None or after is None:
            return None
        return before > 0 or after > 0

    def render(self) -> str:
        return f"{_bound(self.start)}:{_bound(self.stop)}"


FULL = Span(ZERO, Affine.end())


def _bound(value: Affine) -> str:
    return value.render()


@dataclass(frozen=True)
class Window:
    """A window of a root sequence. `spans` maps an axis (negative: counted from the end) to the
    span taken along it; axes not listed are taken whole. `tags` are further facts both windows
    must share to be comparable (stacking over the same index, the same reshape)."""

    root: Hashable
    base: str  # display name of the root, for messages
    spans: Tuple[Tuple[int, Span], ...] = ()
    tags: Tuple[Hashable, ...] = ()
    # the value was overwritten in place at some positions by a constant (masking)
    masked: bool = False
    # the last position along the window's axis was overwritten (ignore index) after a roll
    last_masked: bool = False
    # how the window was built, for runtime probes: each step ends with the number of leading
    # batch axes (stacking, collation) the value had when the step was applied
    steps: Tuple[Tuple, ...] = field(default=(), compare=False, hash=False)
    batch_axes: int = field(default=0, compare=False, hash=False)
    # the tuple/dict element expression the value was picked from (`y` in `return x, y`)
    origin: Optional[object] = field(default=None, compare=False, hash=False)

    def span(self, axis) -> Span:
        for key, span in self.spans:
            if key == axis:
                return span
        return FULL

    def with_span(self, axis, span: Span) -> "Window":
        kept = [(k, s) for k, s in self.spans if k != axis]
        if not span.is_full():
            kept.append((axis, span))
        return replace(self, spans=_sorted_spans(kept))

    def selected(self, axis: int, position: Affine, step: Optional[Tuple] = None) -> Optional["Window"]:
        """`w[..., t, ...]`: one position along `axis`; the axis goes away. The position is kept
        under the key ("pos", axis of the base) so that two selections still compare."""
        if axis < self.batch_axes and axis >= 0:
            return None
        current = self.span(axis)
        start = current.start + position.substitute(END, current.length)
        span = Span(start, start.plus(1), current.tail, current.real_start, current.real_stop)
        key = ("pos", axis - self.batch_axes if axis >= 0 else axis)
        kept = []
        for k, s in self.spans:
            if k == axis:
                continue
            if isinstance(k, int) and axis >= 0 and k > axis:
                k = k - 1
            kept.append((k, s))
        kept.append((key, span))
        window = replace(self, spans=_sorted_spans(kept))
        return self._stepped(window, step)

    def _same_axis(self, axis: int) -> int:
        """An operation on the last axis (-1) of a window cut along positive axes only is taken to
        act on the last of those (`F.pad(ids[:, 1:], (0, 1))` pads axis 1 of a (batch, time) tensor)."""
        keys = [key for key, _ in self.spans if isinstance(key, int)]
        if axis == -1 and keys and all(key >= 0 for key in keys) and max(keys) >= self.batch_axes:
            return max(keys)
        return axis

    def sliced(self, axis: int, start: Affine, stop: Affine, step: Optional[Tuple] = None) -> "Window":
        """Take `[start:stop]` along `axis`, with bounds in the window's own coordinates (END is
        the window's length there)."""
        axis = self._same_axis(axis)
        current = self.span(axis)
        length = current.length
        new_start = current.start + start.substitute(END, length)
        new_stop = current.start + stop.substitute(END, length)
        span = Span(new_start, new_stop, current.tail, current.real_start, current.real_stop)
        return self._stepped(self.with_span(axis, span), step)

    def rolled(self, axis: int, shift: int, step: Optional[Tuple] = None) -> "Window":
        """`torch.roll(w, shift, axis)`: element j of the result is element j - shift of `w`;
        what falls off one end comes back at the other."""
        axis = self._same_axis(axis)
        current = self.span(axis)
        moved = Affine.constant(shift)
        span = Span(current.start - moved, current.stop - moved, "wrap", current.start, current.stop)
        return self._stepped(self.with_span(axis, span), step)

    def padded(self, axis: int, before: int, after: int, wrap: bool = False, step: Optional[Tuple] = None) -> "Window":
        """`before` filler positions prepended and `after` appended along `axis` (wrap: the
        appended positions are the base's own other end, as `cat([w[:, 1:], w[:, :1]])`)."""
        axis = self._same_axis(axis)
        current = self.span(axis)
        span = Span(
            current.start - Affine.constant(before),
            current.stop + Affine.constant(after),
            "wrap" if wrap else "pad",
            current.start,
            current.stop,
        )
        if step is not None:
            step = ("pad", step[1], axis, before, after, wrap)
        return self._stepped(self.with_span(axis, span), step)

    def shifted_axes(self, offset: int, tag: Optional[Hashable] = None) -> "Window":
        """A new leading axis (stacking, batching): non-negative axes move up by `offset`."""
        spans = _sorted_spans(
            [(axis + offset if isinstance(axis, int) and axis >= 0 else axis, span) for axis, span in self.spans]
        )
        tags = self.tags + ((tag,) if tag is not None else ())
        return replace(self, spans=spans, tags=tags, batch_axes=self.batch_axes + offset)

    def _stepped(self, window: "Window", step: Optional[Tuple]) -> "Window":
        if step is None:
            return window
        return replace(window, steps=self.steps + (step + (self.batch_axes,),))

    def render(self) -> str:
        if not self.spans:
            return self.base
        parts = ", ".join(
            f"axis {axis if isinstance(axis, int) else axis[1]}: {span.render()}" for axis, span in self.spans
        )
        return f"{self.base}[{parts}]"


def _axis_order(item) -> Tuple:
    axis = item[0]
    return (0, axis, 0) if isinstance(axis, int) else (1, axis[1], 0)


def _sorted_spans(spans) -> Tuple:
    return tuple(sorted(spans, key=_axis_order))


@dataclass(frozen=True)
class Alignment:
    """How a target window sits against an input (or prediction) window of the same root.

    `axis` is the one axis along which they differ (None: identical positions), `offset` is
    target start - input start, `length_difference` is target length - input length."""

    axis: Optional[int]
    offset: Affine
    length_difference: Affine
    input_span: Span
    target_span: Span
    # for reshaped windows (`buf[1:].view(B, T)`): the axis of the flat windows before the reshape
    flat_axis: Optional[int] = None

    @property
    def identical(self) -> bool:
        return self.axis is None or (self.offset == ZERO and self.length_difference == ZERO)


def _normalise_axes(a: Window, b: Window) -> Tuple[Window, Window]:
    """A window sliced on axis -1 (`tok[..., 1:]`) and one sliced on axis 1 (`tok[:, :-1]`) are
    taken to mean the same axis of a (batch, time) tensor."""
    axes_a = {axis for axis, _ in a.spans if isinstance(axis, int)}
    axes_b = {axis for axis, _ in b.spans if isinstance(axis, int)}
    every = axes_a | axes_b
    negatives = {axis for axis in every if axis < 0}
    positives = {axis for axis in every if axis >= 0}
    if negatives == {-1} and positives and max(positives) >= 1 and (axes_a & negatives) != (axes_b & negatives):
        last = max(positives)
        return _move_axis(a, -1, last), _move_axis(b, -1, last)
    return a, b


def _move_axis(window: Window, old: int, new: int) -> Window:
    span = window.span(old)
    if span.is_full() or any(axis == new for axis, _ in window.spans):
        return window
    moved = _sorted_spans([(new if axis == old else axis, s) for axis, s in window.spans])
    return replace(window, spans=moved)


def compare(input_window: Window, target_window: Window) -> Optional[Alignment]:
    """The alignment of two windows of the same root, or None when they cannot be compared
    (different roots or tags, or they differ along more than one axis)."""
    if input_window.root != target_window.root or input_window.tags != target_window.tags:
        return _compare_views(input_window, target_window)
    a, b = _normalise_axes(input_window, target_window)
    axes = [axis for axis, _ in _sorted_spans({(axis, None) for axis, _ in a.spans + b.spans})]
    differing = [axis for axis in axes if a.span(axis) != b.span(axis)]
    if not differing:
        return Alignment(None, ZERO, ZERO, FULL, FULL)
    if len(differing) > 1:
        return None
    axis = differing[0]
    sa, sb = a.span(axis), b.span(axis)
    return Alignment(axis, sb.start - sa.start, sb.length - sa.length, sa, sb)


def _compare_views(a: Window, b: Window) -> Optional[Alignment]:
    """`buf[:-1].view(B, T)` against `buf[1:].view(B, T)`: the same reshape of two windows of one
    flat sequence; they align as the flat windows do, along the reshaped tensor's last axis."""
    if not (_is_view_root(a.root) and _is_view_root(b.root)) or a.tags != b.tags:
        return None
    _, inner_a, shape_a = a.root
    _, inner_b, shape_b = b.root
    if shape_a != shape_b or a.spans or b.spans:
        return None
    inner = compare(inner_a, inner_b)
    if inner is None:
        return None
    if inner.axis is None:
        return inner
    return Alignment(-1, inner.offset, inner.length_difference, inner.input_span, inner.target_span, inner.axis)


def _is_view_root(root: Hashable) -> bool:
    return isinstance(root, tuple) and len(root) == 3 and root[0] == "view" and isinstance(root[1], Window)


def view_root(inner: Window, shape: str) -> Tuple[str, Window, str]:
    return ("view", inner, shape)


def render_window(window: Window) -> str:
    """The normal form in the root's own coordinates: `data[i:i + T]`, `tok[:, 1:end]`,
    `ids[..., 0:end - 1]`; `end` is the length of the base along that axis."""
    if not window.spans:
        return window.base
    by_axis = {}
    selected = []
    for axis, span in window.spans:
        if not isinstance(axis, int):
            selected.append(f"position {span.start.render()} of axis {axis[1]}")
            continue
        own = axis - window.batch_axes if axis >= 0 else axis
        by_axis[own] = span
    if not by_axis:
        return f"{window.base}[{', '.join(selected)}]"
    positives = [axis for axis in by_axis if axis >= 0]
    negatives = [axis for axis in by_axis if axis < 0]
    parts = []
    if positives:
        for axis in range(max(positives) + 1):
            parts.append(_render_span(by_axis[axis]) if axis in by_axis else ":")
    if negatives:
        parts.append("...")
        for axis in range(min(negatives), 0):
            parts.append(_render_span(by_axis[axis]) if axis in by_axis else ":")
    return f"{window.base}[{', '.join(parts)}]"


def _render_span(span: Span) -> str:
    text = span.render()
    if span.tail == "wrap":
        text += " (wrapping)"
    elif span.tail == "pad":
        text += " (padded)"
    return text


def render_pair(input_window: Window, target_window: Window, alignment: Optional[Alignment] = None) -> Tuple[str, str]:
    """Both windows in the normal form."""
    return render_window(input_window), render_window(target_window)

