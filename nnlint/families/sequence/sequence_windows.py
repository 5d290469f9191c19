"""Sequence windows in code: which slices of which base sequence a value holds.

`SequenceWindows.window(expr, statement)` gives the normal form (see `nnlint.families.sequence.windows`)
of the value of `expr`: it follows names to their definitions, tuple and dict elements, helper
functions that return them (`X, Y = get_batch("train")`), generators, data loaders and the
datasets behind them (`for x, y in loader` -> `Dataset.__getitem__`'s return, collated), HF
`tokenizer(...)` outputs and `collate_fn`s, through value-preserving operations (`.to()`,
`torch.tensor`, `torch.from_numpy(...astype())`, `torch.stack([... for i in ix])`,
elementwise maps such as `[stoi[c] for c in chunk]`), and records the window operations on the
way: slices, `torch.roll`, padding with `torch.cat`/`F.pad`/list concatenation, `.view(B, T)`.

Whatever it cannot see through becomes an *opaque root*: a value identified by the code node that
made it, which compares equal only to itself. So two values are only ever called "the same
positions of one sequence" when the code shows it.

In-place writes are honoured: a value written with a constant at some positions
(`labels[labels == pad] = -100`, `ids[mask] = MASK`) is `masked` (an input that was masked is no
longer the sequence it came from); any other in-place write makes the value opaque.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Dict, Hashable, List, Optional, Sequence, Tuple, Union

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow, Definition
from nnlint.analysis.index import CallSite, ClassInfo, Scope, Statement
from nnlint.analysis.names import (
    argument,
    callee_terminal_name,
    dotted_name,
    keyword_arg,
    method_receiver,
    positional_args,
    sequence_elements,
    string_value,
)
from nnlint.analysis.remote import RemoteValues
from nnlint.families.sequence.windows import Affine, Window, view_root

# Path markers: an element of iterating a value; an element of a dataset (`ds[i]`).
ITER = ("iter",)
ITEM = ("item",)
PathPart = Union[int, str, Tuple[str, ...]]
Path = Tuple[PathPart, ...]

# Calls whose result holds the same positions as their first argument.
TRANSPARENT_FUNCTIONS = frozenset(
    {
        "torch.tensor", "torch.as_tensor", "torch.from_numpy", "torch.LongTensor", "torch.IntTensor",
        "torch.Tensor", "torch.asarray", "numpy.array", "numpy.asarray", "numpy.ascontiguousarray",
        "builtins.list", "builtins.tuple", "torch.stack", "numpy.stack", "numpy.int64", "numpy.int32",
    }
)
# Methods whose result holds the same positions as their receiver.
TRANSPARENT_METHODS = frozenset(
    {
        "to", "long", "int", "cuda", "cpu", "contiguous", "clone", "detach", "pin_memory", "astype",
        "type", "copy", "numpy", "tolist", "float", "half", "bfloat16", "requires_grad_", "as_tensor",
    }
)
FLATTENING_METHODS = frozenset({"view", "reshape", "flatten", "ravel"})
ROLL_FUNCTIONS = frozenset({"torch.roll", "numpy.roll"})
CAT_FUNCTIONS = frozenset(
    {"torch.cat", "torch.concat", "torch.concatenate", "numpy.concatenate", "torch.hstack", "numpy.hstack"}
)
PAD_FUNCTIONS = frozenset({"torch.nn.functional.pad"})
FILLED_TENSORS = frozenset(
    {"torch.full", "torch.zeros", "torch.ones", "torch.empty", "numpy.full", "numpy.zeros", "numpy.ones"}
)
FILLED_METHODS = frozenset({"new_full", "new_zeros", "new_ones", "new_empty"})
FILLED_LIKE = frozenset({"torch.full_like", "torch.zeros_like", "torch.ones_like", "torch.empty_like"})
ITERATION_WRAPPERS = frozenset({"iter", "tqdm", "cycle", "islice", "auto", "trange_wrap"})
IN_PLACE_MASKS = frozenset({"masked_fill_", "fill_", "zero_", "fill_diagonal_"})
IN_PLACE_REWRITES = frozenset(
    {"copy_", "scatter_", "scatter_add_", "index_copy_", "index_put_", "put_", "masked_scatter_", "index_fill_",
     "add_", "sub_", "mul_", "div_", "roll_"}
)
# Methods of a (Hugging Face) dataset that keep the shape of its items.
SPLIT_NAMES = ("train", "validation", "test")
SCALAR_DRAWS = frozenset({"random.randint", "random.randrange", "numpy.random.randint"})
DATASET_METHODS = frozenset(
    {"select", "take", "skip", "shuffle", "filter", "sort", "with_format", "flatten_indices", "shard"}
)
CONSTANT_NAME_HINTS = ("pad", "ignore", "mask", "eos", "bos", "unk", "index")
# Module functions that turn a sequence into a tensor of ids, one per element.
ENCODER_NAME = re.compile(
    r"char_tensor|to_tensor|tensor_from|encode|numericali[sz]e|to_ids|tokens_to|indexes_from|indices_from",
    re.IGNORECASE,
)


def _is_constant_value(expr: cst.BaseExpression) -> bool:
    """A literal, an upper-case constant, or a pad/ignore id: what masking writes."""
    if isinstance(expr, (cst.Integer, cst.Float)):
        return True
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, (cst.Minus, cst.Plus)):
        return _is_constant_value(expr.expression)
    if isinstance(expr, cst.Call) and callee_terminal_name(expr) == "float":
        return True
    name = dotted_name(expr)
    if name is None:
        return False
    last = name.split(".")[-1]
    return last.isupper() or any(hint in last.lower() for hint in CONSTANT_NAME_HINTS)


def _integer(expr: cst.BaseExpression) -> Optional[int]:
    if isinstance(expr, cst.Integer):
        return int(expr.evaluated_value)
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        if isinstance(expr.expression, cst.Integer):
            return -int(expr.expression.evaluated_value)
    return None


def target_path(target: cst.BaseExpression, name: str) -> Optional[Tuple[int, ...]]:
    """Where `name` sits inside an unpacking target: `(1, 0)` for x in `i, (x, y)`."""
    if isinstance(target, cst.Name):
        return () if target.value == name else None
    if isinstance(target, (cst.Attribute,)):
        return () if dotted_name(target) == name else None
    if isinstance(target, (cst.Tuple, cst.List)):
        for index, element in enumerate(target.elements):
            if isinstance(element, cst.StarredElement):
                return None
            inner = target_path(element.value, name)
            if inner is not None:
                return (index,) + inner
    return None


class _Mutation:
    __slots__ = ("position", "kind", "statement")

    def __init__(self, position: int, kind: str, statement: Statement) -> None:
        self.position = position
        self.kind = kind  # mask, mask_last, rewrite, key
        self.statement = statement


def _subscript_root(node: cst.BaseExpression) -> Tuple[Optional[str], List[cst.SubscriptElement]]:
    """The dotted name under a chain of subscripts and the subscript elements, outermost last."""
    elements: List[List[cst.SubscriptElement]] = []
    while isinstance(node, cst.Subscript):
        elements.append(list(node.slice))
        node = node.value
    flat = [e for group in reversed(elements) for e in group]
    return dotted_name(node), flat


def _indexes_last_position(elements: Sequence[cst.SubscriptElement]) -> bool:
    for element in elements:
        if isinstance(element.slice, cst.Index) and _integer(element.slice.value) == -1:
            return True
        piece = element.slice
        if isinstance(piece, cst.Slice) and piece.upper is None and piece.lower is not None:
            if _integer(piece.lower) == -1:
                return True
    return False


class SequenceWindows:
    """Get it with ``ctx.fact(SequenceWindows)``."""

    MAX_DEPTH = 24

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        self._mutations: Dict[int, Dict[str, List[_Mutation]]] = {}
        self._cache: Dict[Tuple[int, int], Optional[Window]] = {}

    # -- public --------------------------------------------------------------------------------

    def window(
        self, expr: cst.BaseExpression, statement: Statement, calls: Tuple[CallSite, ...] = ()
    ) -> Optional[Window]:
        """The window of `expr`'s value. `calls`: the call sites through which the enclosing
        helper function was entered (its parameters are those calls' arguments)."""
        key = (id(expr), id(statement), tuple(id(site) for site in calls))
        if key not in self._cache:
            self._cache[key] = self._resolve(expr, statement, (), {}, tuple(calls), 0)
        return self._cache[key]

    def element(
        self, expr: cst.BaseExpression, statement: Statement, path: Path, calls: Tuple[CallSite, ...] = ()
    ) -> Optional[Window]:
        """The window of an element of a structured value (`path` of ints, keys, ITER, ITEM)."""
        return self._resolve(expr, statement, tuple(path), {}, tuple(calls), 0)

    def bound_argument(self, scope: Scope, name: str, calls: Tuple[CallSite, ...]):
        """(argument expression, call site) that a helper entered through `calls` got for `name`."""
        return self._bound_argument(scope, name, calls)

    def affine(self, expr: cst.BaseExpression, statement: Statement) -> Affine:
        return self._affine(expr, statement, {}, (), None, 0)

    def mutations(self, scope: Scope, name: str) -> List[_Mutation]:
        table = self._mutations.get(id(scope))
        if table is None:
            table = self._mutations[id(scope)] = self._scan_mutations(scope)
        return table.get(name, [])

    # -- mutations -----------------------------------------------------------------------------

    def _scan_mutations(self, scope: Scope) -> Dict[str, List[_Mutation]]:
        table: Dict[str, List[_Mutation]] = {}

        def add(name: Optional[str], kind: str, statement: Statement) -> None:
            if name is not None:
                table.setdefault(name, []).append(_Mutation(statement.position, kind, statement))

        for statement in scope.statements:
            node = statement.node
            if isinstance(node, cst.Assign):
                for target in node.targets:
                    if isinstance(target.target, cst.Subscript):
                        name, elements = _subscript_root(target.target)
                        keyed = len(elements) == 1 and isinstance(elements[0].slice, cst.Index)
                        if keyed and string_value(elements[0].slice.value) is not None:
                            add(name, "key", statement)
                        elif _is_constant_value(node.value):
                            add(name, "mask_last" if _indexes_last_position(elements) else "mask", statement)
                        else:
                            add(name, "rewrite", statement)
            elif isinstance(node, cst.AugAssign):
                target = node.target
                name = dotted_name(target) if not isinstance(target, cst.Subscript) else _subscript_root(target)[0]
                add(name, "rewrite", statement)
            for site in statement.calls:
                method = callee_terminal_name(site.node)
                receiver = method_receiver(site.node)
                if receiver is None or method is None or not method.endswith("_"):
                    continue
                if isinstance(receiver, cst.Subscript):
                    name, elements = _subscript_root(receiver)
                else:
                    name, elements = dotted_name(receiver), []
                if method in IN_PLACE_MASKS:
                    args = positional_args(site.node)
                    value = args[-1] if args else None
                    last = _indexes_last_position(elements)
                    if method == "masked_fill_" and value is not None and not _is_constant_value(value):
                        add(name, "rewrite", statement)
                    else:
                        add(name, "mask_last" if last else "mask", statement)
                elif method in IN_PLACE_REWRITES:
                    add(name, "rewrite", statement)
        return table

    def _apply_mutations(
        self, window: Optional[Window], name: str, definition: Definition, statement: Statement
    ) -> Optional[Window]:
        if window is None:
            return None
        scope = statement.scope
        start = -1
        if definition.statement is not None and definition.statement.scope is scope:
            start = definition.statement.position
        for mutation in self.mutations(scope, name):
            if not start < mutation.position < statement.position:
                continue
            if mutation.kind == "rewrite":
                return Window(("mutated", id(mutation.statement.node), name), name)
            if mutation.kind == "mask":
                window = replace(window, masked=True)
            elif mutation.kind == "mask_last":
                window = replace(window, masked=True, last_masked=True)
        return window

    # -- resolution ----------------------------------------------------------------------------

    def _opaque(self, expr: cst.CSTNode, path: Path, display: Optional[str] = None) -> Window:
        text = display if display is not None else self.ctx.code(expr)
        return Window(("node", id(expr), path), _display(text, path))

    def _resolve(
        self, expr, statement: Statement, path: Path, env: Dict[str, Hashable], calls: Tuple[CallSite, ...], depth: int
    ) -> Optional[Window]:
        if depth > self.MAX_DEPTH:
            return None
        if isinstance(expr, cst.Name):
            return self._resolve_name(expr, statement, path, env, calls, depth)
        if isinstance(expr, cst.Attribute):
            return self._resolve_attribute(expr, statement, path, env, calls, depth)
        if isinstance(expr, cst.Subscript):
            return self._resolve_subscript(expr, statement, path, env, calls, depth)
        if isinstance(expr, cst.Call):
            return self._resolve_call(expr, statement, path, env, calls, depth)
        if isinstance(expr, (cst.Tuple, cst.List)):
            elements = sequence_elements(expr)
            if path and isinstance(path[0], int):
                if elements is not None and 0 <= path[0] < len(elements):
                    element = elements[path[0]]
                    return _from(self._resolve(element, statement, path[1:], env, calls, depth + 1), element)
                return None
            if path and path[0] == ITER and elements is not None and len(elements) == 1:
                return self._resolve(elements[0], statement, path[1:], env, calls, depth + 1)
            return self._opaque(expr, path)
        if isinstance(expr, cst.Dict):
            if path and isinstance(path[0], str):
                for element in expr.elements:
                    if isinstance(element, cst.DictElement) and string_value(element.key) == path[0]:
                        found = self._resolve(element.value, statement, path[1:], env, calls, depth + 1)
                        return _from(found, element.value)
                return None
            return self._opaque(expr, path)
        if isinstance(expr, (cst.ListComp, cst.GeneratorExp)):
            return self._resolve_comprehension(expr, statement, path, env, calls, depth)
        if isinstance(expr, cst.DictComp):
            # `{k: v.to(device) for k, v in batch.items()}` holds the same entries as `batch`
            source = self._items_source(expr)
            if source is not None:
                return self._resolve(source, statement, path, env, calls, depth + 1)
        if isinstance(expr, cst.IfExp):
            # `train_dataset if do_train else None`: the branch that holds a value
            branches = [b for b in (expr.body, expr.orelse) if not (isinstance(b, cst.Name) and b.value == "None")]
            found = [self._resolve(b, statement, path, env, calls, depth + 1) for b in branches]
            if len(found) == 1 or (len(found) == 2 and found[0] == found[1]):
                return found[0]
            return self._opaque(expr, path)
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add) and not path:
            return self._resolve_list_concat(expr, statement, env, calls, depth)
        return self._opaque(expr, path)

    # names ------------------------------------------------------------------------------------

    def _resolve_name(self, expr: cst.Name, statement, path, env, calls, depth) -> Optional[Window]:
        name = expr.value
        if name in env:
            return Window(("element", env[name], path), _display(name, path))
        definition = self.flow.definition(name, statement)
        kind = definition.kind
        value = definition.value
        at = definition.statement
        if kind == "assign" and value is not None and at is not None:
            if path and isinstance(path[0], str) and at.scope is statement.scope:
                keyed = self._key_set(name, path[0], at, statement)
                if keyed is not None:
                    value_node, key_statement = keyed
                    found = self._resolve(value_node, key_statement, path[1:], {}, calls, depth + 1)
                    return self._apply_mutations(found, name, definition, statement) if not path[1:] else found
            found = self._named(self._resolve(value, at, path, {}, calls, depth + 1), name, path)
            return self._apply_mutations(found, name, definition, statement) if not path else found
        if kind == "unpacked" and value is not None and at is not None:
            sub = self._unpacked_path(at.node, name)
            if sub is None:
                return None
            found = self._named(self._resolve(value, at, sub + path, {}, calls, depth + 1), name, path)
            return self._apply_mutations(found, name, definition, statement) if not path else found
        if kind == "loop" and value is not None and at is not None:
            sub = target_path(at.node.target, name) if isinstance(at.node, cst.For) else None
            if sub is None:
                return None
            found = self._named(self._resolve(value, at, (ITER,) + sub + path, {}, calls, depth + 1), name, path)
            return self._apply_mutations(found, name, definition, statement) if not path else found
        if kind == "augassign" and value is not None and at is not None and path and path[0] == ITER:
            # batches += [next(it)]: iterating the list gives what was appended
            return self._resolve(value, at, path, {}, calls, depth + 1)
        if kind == "param" and definition.scope is not None:
            bound = self._bound_argument(definition.scope, name, calls)
            if bound is not None:
                argument_expr, site = bound
                return self._resolve(argument_expr, site.statement, path, {}, calls[:-1], depth + 1)
            starred = self._starred_argument(definition.scope, name, calls)
            if starred is not None:
                argument_expr, index, site = starred
                return self._resolve(argument_expr, site.statement, (index,) + path, {}, calls[:-1], depth + 1)
            if path and not calls:
                via_caller = self._through_callers(definition.scope, name, path, depth)
                if via_caller is None:
                    via_caller = self._framework_argument(definition.scope, name, path, depth)
                if via_caller is not None:
                    return via_caller
            root = ("param", id(definition.scope.node), name)
            leaf = Window((root, path), _display(name, path))
            return self._apply_mutations(leaf, name, definition, statement) if not path else leaf
        identity = ("def", kind, id(at.node) if at is not None else None, name)
        return Window((identity, path), _display(name, path))

    @staticmethod
    def _named(found: Optional[Window], name: str, path: Path) -> Optional[Window]:
        """A value not yet cut into a window is called by the name the code gives it."""
        if found is not None and not found.steps and not found.spans and not found.tags:
            return replace(found, base=_display(name, path))
        return found

    def _unpacked_path(self, node: cst.CSTNode, name: str) -> Optional[Tuple[int, ...]]:
        if isinstance(node, (cst.Assign,)):
            for target in node.targets:
                found = target_path(target.target, name)
                if found is not None:
                    return found
        elif isinstance(node, cst.AnnAssign):
            return target_path(node.target, name)
        return None

    def _key_set(self, name: str, key: str, definition: Statement, statement: Statement):
        """The last `name["key"] = value` between the definition and the use."""
        found = None
        for mutation in self.mutations(statement.scope, name):
            if mutation.kind != "key" or not definition.position < mutation.position < statement.position:
                continue
            node = mutation.statement.node
            for target in node.targets:
                sub = target.target
                if isinstance(sub, cst.Subscript) and string_value(sub.slice[0].slice.value) == key:
                    found = (node.value, mutation.statement)
        return found

    def _bound_argument(self, scope: Scope, name: str, calls: Tuple[CallSite, ...]):
        """Inside a helper entered through a call: the argument that call passed for `name`."""
        if not calls:
            return None
        site = calls[-1]
        if site.statement is None or self._entered(site) is not scope:
            return None
        expr = self.flow.argument_for(scope, name, site.node)
        return (expr, site) if expr is not None else None

    def _starred_argument(self, scope: Scope, name: str, calls: Tuple[CallSite, ...]):
        """`train(*get_batch())`: the element of the unpacked value that lands on `name`."""
        if not calls or not isinstance(scope.node, cst.FunctionDef):
            return None
        site = calls[-1]
        args = site.node.args
        if site.statement is None or len(args) != 1 or args[0].star != "*" or self._entered(site) is not scope:
            return None
        params = [p.name.value for p in list(scope.node.params.posonly_params) + list(scope.node.params.params)]
        if scope.class_info is not None and params and params[0] in ("self", "cls"):
            params = params[1:]
        if name not in params:
            return None
        return args[0].value, params.index(name), site

    def _through_callers(self, scope: Scope, name: str, path: Path, depth: int) -> Optional[Window]:
        """A structured parameter (a loader, a batch) resolved at the module's only caller."""
        callers = self.flow.callers_and_constructions(scope)
        if len(callers) != 1:
            return None
        site = callers[0]
        expr = self.flow.argument_for(scope, name, site.node)
        if expr is None:
            return None
        return self._resolve(expr, site.statement, path, {}, (), depth + 1)

    # attributes ------------------------------------------------------------------------------

    def _resolve_attribute(self, expr: cst.Attribute, statement, path, env, calls, depth) -> Optional[Window]:
        dotted = dotted_name(expr)
        if dotted is not None and dotted.startswith("self.") and dotted.count(".") == 1:
            owner = self.ctx.index.enclosing_class(statement.scope)
            if owner is not None:
                definitions = self.flow.attribute_definitions(owner, expr.attr.value)
                if len(definitions) == 1 and definitions[0].kind == "assign" and definitions[0].statement is not None:
                    found = definitions[0]
                    value = self._resolve(found.value, found.statement, path, {}, (), depth + 1)
                    return self._named(value, dotted, path)
                return Window((("attr", id(owner.node), expr.attr.value), path), _display(dotted, path))
        attribute = expr.attr.value
        if attribute in ("input_ids", "labels", "attention_mask"):
            return self._resolve(expr.value, statement, (attribute,) + path, env, calls, depth + 1)
        if attribute == "T" or attribute == "mT":
            return None
        return self._resolve(expr.value, statement, (("attr", attribute),) + path, env, calls, depth + 1)

    # subscripts ------------------------------------------------------------------------------

    def _resolve_subscript(self, expr: cst.Subscript, statement, path, env, calls, depth) -> Optional[Window]:
        elements = list(expr.slice)
        if len(elements) == 1 and isinstance(elements[0].slice, cst.Index):
            index = elements[0].slice.value
            key = string_value(index)
            if key is not None:
                return self._resolve(expr.value, statement, (key,) + path, env, calls, depth + 1)
            number = _integer(index)
            if number is not None and number >= 0:
                return self._resolve(expr.value, statement, (number,) + path, env, calls, depth + 1)
            if path or not self._is_position(index, statement, env):
                return self._opaque(expr, path)
        if path:
            return self._opaque(expr, path)
        spec = self._slice_spec(elements, expr.value, statement, env, calls)
        if spec is None:
            return self._opaque(expr, path)
        base = self._resolve(expr.value, statement, (), env, calls, depth + 1)
        if base is None:
            return None
        step = ("slice", expr, expr.value, statement, tuple(env))
        selections = [(axis, start) for axis, start, stop in spec if stop is None]
        if selections and any(not isinstance(k, int) for k, _ in base.spans):
            return self._opaque(expr, path)  # a second selection: axis numbers would be guesswork
        for axis, start, stop in spec:
            if stop is not None:
                base = base.sliced(axis, start, stop, step)
                step = None
        for axis, start in sorted(selections, key=lambda item: -item[0] if item[0] >= 0 else item[0]):
            base = base.selected(axis, start, step)
            step = None
            if base is None:
                return self._opaque(expr, path)
        return base

    def _is_position(self, index: cst.BaseExpression, statement: Statement, env) -> bool:
        """`t`, `c`, `i + 1`: an integer position (not a mask, not a list of indices)."""
        if isinstance(index, cst.BinaryOperation) and isinstance(index.operator, (cst.Add, cst.Subtract)):
            return self._is_position(index.left, statement, env) and self._is_position(index.right, statement, env)
        if isinstance(index, cst.Integer):
            return True
        if isinstance(index, cst.Name):
            if index.value in env:
                return True
            definition = self.flow.definition(index.value, statement)
            if definition.kind == "loop":
                value = definition.value
                return isinstance(value, cst.Call) and self.ctx.qualified_name(value.func) == "builtins.range"
            if definition.kind == "param":
                annotation = definition.param.annotation if definition.param is not None else None
                return annotation is not None and self.ctx.code(annotation.annotation) == "int"
            if definition.kind == "assign" and definition.value is not None:
                value = definition.value
                if _is_simple_arithmetic(value):
                    return True
                # start = random.randint(0, n - T): one random position
                return (
                    isinstance(value, cst.Call)
                    and self.ctx.qualified_name(value.func) in SCALAR_DRAWS
                    and keyword_arg(value, "size") is None
                    and len(positional_args(value)) <= 2
                )
        return False

    def _slice_spec(self, elements, base_expr, statement, env, calls) -> Optional[List[Tuple[int, Affine, Affine]]]:
        ellipsis_at = None
        for index, element in enumerate(elements):
            if isinstance(element.slice, cst.Index):
                if isinstance(element.slice.value, cst.Ellipsis) and ellipsis_at is None:
                    ellipsis_at = index
                elif _integer(element.slice.value) is None and not self._is_position(
                    element.slice.value, statement, env
                ):
                    return None  # fancy indexing or a mask changes the rank in ways not followed
        spec = []
        total = len(elements)
        base_code = self.ctx.code(base_expr)
        for index, element in enumerate(elements):
            piece = element.slice
            if isinstance(piece, cst.Index):
                if isinstance(piece.value, cst.Ellipsis):
                    continue
                axis = index if ellipsis_at is None or index < ellipsis_at else index - total
                position = self._bound(piece.value, 0, statement, env, calls, base_code)
                if position is None:
                    return None
                spec.append((axis, position, None))
                continue
            if not isinstance(piece, cst.Slice):
                continue
            if piece.step is not None:
                return None
            if piece.lower is None and piece.upper is None:
                continue
            axis = index if ellipsis_at is None or index < ellipsis_at else index - total
            start = self._bound(piece.lower, 0, statement, env, calls, base_code)
            stop = self._bound(piece.upper, None, statement, env, calls, base_code)
            if start is None or stop is None:
                return None
            spec.append((axis, start, stop))
        return spec

    def _bound(self, expr, default, statement, env, calls, base_code) -> Optional[Affine]:
        if expr is None:
            return Affine.constant(default) if default is not None else Affine.end()
        if isinstance(expr, cst.Name) and expr.value == "None":
            return Affine.constant(default) if default is not None else Affine.end()
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
            return Affine.end() - self._affine(expr.expression, statement, env, calls, base_code, 0)
        return self._affine(expr, statement, env, calls, base_code, 0)

    def _affine(self, expr, statement: Statement, env, calls, base_code: Optional[str], depth: int) -> Affine:
        if isinstance(expr, cst.Integer):
            return Affine.constant(int(expr.evaluated_value))
        if isinstance(expr, cst.UnaryOperation):
            inner = self._affine(expr.expression, statement, env, calls, base_code, depth + 1)
            if isinstance(expr.operator, cst.Minus):
                return -inner
            if isinstance(expr.operator, cst.Plus):
                return inner
        if isinstance(expr, cst.BinaryOperation):
            if isinstance(expr.operator, (cst.Add, cst.Subtract)):
                left = self._affine(expr.left, statement, env, calls, base_code, depth + 1)
                right = self._affine(expr.right, statement, env, calls, base_code, depth + 1)
                return left + right if isinstance(expr.operator, cst.Add) else left - right
            if isinstance(expr.operator, cst.Multiply):
                left = self._affine(expr.left, statement, env, calls, base_code, depth + 1)
                right = self._affine(expr.right, statement, env, calls, base_code, depth + 1)
                if left.value is not None:
                    return right.scale(left.value)
                if right.value is not None:
                    return left.scale(right.value)
        if isinstance(expr, cst.Name):
            return self._name_symbol(expr.value, statement, env, calls, base_code, depth)
        if isinstance(expr, cst.Attribute):
            dotted = dotted_name(expr)
            if dotted is not None:
                root = dotted.split(".")[0]
                if root in env:
                    return Affine.symbol(("attr", dotted, env[root]), dotted)
                definition = self.flow.definition(root, statement)
                scope_id = None
                if root in ("self", "cls"):
                    owner = self.ctx.index.enclosing_class(statement.scope)
                    scope_id = id(owner.node) if owner is not None else None
                identity = ("attr", dotted, _definition_identity(definition), scope_id)
                return Affine.symbol(identity, dotted)
        if isinstance(expr, cst.Call) and base_code is not None:
            qualified = self.ctx.qualified_name(expr.func)
            args = positional_args(expr)
            if qualified == "builtins.len" and len(args) == 1 and self.ctx.code(args[0]) == base_code:
                return Affine.end()
        code = self.ctx.code(expr)
        return Affine.symbol(("code", code), code)

    def _name_symbol(self, name: str, statement, env, calls, base_code, depth) -> Affine:
        if name in env:
            return Affine.symbol(("comp", name, env[name]), name)
        definition = self.flow.definition(name, statement)
        if definition.kind == "param" and definition.scope is not None:
            bound = self._bound_argument(definition.scope, name, calls)
            if bound is not None and depth < 6:
                argument_expr, site = bound
                return self._affine(argument_expr, site.statement, {}, calls[:-1], None, depth + 1)
        if (
            definition.kind == "assign"
            and definition.value is not None
            and definition.statement is not None
            and not definition.is_module_level
            and depth < 4
            and _is_simple_arithmetic(definition.value)
        ):
            expanded = self._affine(definition.value, definition.statement, {}, calls, None, depth + 1)
            if not any(isinstance(key, tuple) and key[0] == "code" for key in expanded.symbols()):
                return expanded
        return Affine.symbol(("name", name, _definition_identity(definition)), name)

    # calls -----------------------------------------------------------------------------------

    def _resolve_call(self, expr: cst.Call, statement, path, env, calls, depth) -> Optional[Window]:
        qualified = self.ctx.qualified_name(expr.func)
        terminal = callee_terminal_name(expr)
        receiver = method_receiver(expr) if qualified is None else None
        args = positional_args(expr)

        if qualified == "builtins.next" and args:
            return self._resolve(args[0], statement, (ITER,) + path, env, calls, depth + 1)
        if path and path[0] == ITER:
            found = self._iterate_call(expr, qualified, terminal, statement, path, env, calls, depth)
            if found is not NotImplemented:
                return found
        item_path = bool(path) and (path[0] == ITEM or (len(path) > 1 and path[1] == ITEM))
        if receiver is not None and terminal in DATASET_METHODS and item_path:
            # ds.select(...), ds.shuffle(...), ds.filter(...): the same kind of items
            return self._resolve(receiver, statement, path, env, calls, depth + 1)
        if terminal == "map" and receiver is not None and item_path and isinstance(path[0], str):
            path = path[1:]  # ds.map(fn)["train"]: every split holds what fn returns
        if path and path[0] == ITEM:
            found = self._dataset_element(expr, qualified, terminal, statement, path, env, calls, depth)
            if found is not NotImplemented:
                return found
        if terminal in ("prepare", "setup", "setup_dataloaders") and receiver is not None and args:
            if path and isinstance(path[0], int) and len(args) > 1:
                if path[0] < len(args):
                    return self._resolve(args[path[0]], statement, path[1:], env, calls, depth + 1)
                return None
            if len(args) == 1:
                return self._resolve(args[0], statement, path, env, calls, depth + 1)
        if terminal in ("random_split", "train_test_split") and args and path and isinstance(path[0], int):
            return self._resolve(args[0], statement, path[1:], env, calls, depth + 1)
        if qualified in TRANSPARENT_FUNCTIONS and args:
            return self._resolve(args[0], statement, path, env, calls, depth + 1)
        if receiver is not None and terminal in TRANSPARENT_METHODS:
            return self._resolve(receiver, statement, path, env, calls, depth + 1)
        if receiver is not None and terminal in ("pop", "get") and args and string_value(args[0]) is not None:
            # inputs.pop("labels"), batch.get("input_ids")
            return self._resolve(receiver, statement, (string_value(args[0]),) + path, env, calls, depth + 1)
        if not path:
            if receiver is not None and terminal == "unsqueeze" and args and _integer(args[0]) == 0:
                inner = self._resolve(receiver, statement, (), env, calls, depth + 1)
                return inner.shifted_axes(1) if inner is not None else None
            if receiver is not None and terminal in FLATTENING_METHODS:
                return self._resolve_view(expr, receiver, statement, env, calls, depth)
            if qualified in ROLL_FUNCTIONS or (receiver is not None and terminal == "roll"):
                return self._resolve_roll(expr, qualified, receiver, statement, env, calls, depth)
            if qualified in CAT_FUNCTIONS:
                return self._resolve_cat(expr, statement, env, calls, depth)
            if qualified in PAD_FUNCTIONS:
                return self._resolve_pad(expr, statement, env, calls, depth)
            if qualified == "torch.where" and len(args) == 3:
                return self._resolve_where(expr, args, statement, env, calls, depth)
            if receiver is not None and terminal == "masked_fill" and len(expr.args) >= 2:
                value = argument(expr, 1, "value")
                if value is not None and _is_constant_value(value):
                    inner = self._resolve(receiver, statement, (), env, calls, depth + 1)
                    return replace(inner, masked=True) if inner is not None else None
        # a helper function of this module: what it returns (or yields, when iterated)
        site = self.ctx.index.call_sites.get(expr)
        callee = self._callee(site) if site is not None else None
        if callee is not None and site is not None and site.statement is not None:
            returned = self._returned(callee) or self._agreeing_return(callee, path, calls + (site,), depth)
            if returned is not None and not (path and path[0] == ITER and self._yielded(callee) is not None):
                value, at = returned
                found = self._resolve(value, at, path, {}, calls + (site,), depth + 1)
                if not path and len(args) == 1 and len(expr.args) == 1 and ENCODER_NAME.search(callee.function_name):
                    # char_tensor(chunk[:-1]): an encoder of this module that fills a fresh tensor
                    # position by position keeps the positions of what it is given
                    argument_window = self._resolve(args[0], statement, (), env, calls, depth + 1)
                    fresh = found is not None and argument_window is not None and found.root != argument_window.root
                    if fresh and _is_opaque(found):
                        return argument_window
                return self._per_call(found, site, statement, env, calls, depth)
            if path and path[0] == ITER:
                yielded = self._yielded(callee)
                if yielded is not None:
                    value, at = yielded
                    return self._resolve(value, at, path[1:], {}, calls + (site,), depth + 1)
        if callee is None:
            elsewhere = self._project_call(expr, path, depth)
            if elsewhere is not None:
                return elsewhere
        return self._opaque(expr, path)

    def _project_call(self, expr: cst.Call, path: Path, depth: int) -> Optional[Window]:
        """A function of another file of the project (`x, y = get_batch("train")` from data.py, a
        loader built there): what it returns, or yields when iterated, followed in that file's
        module. Its value is a new one at each call."""
        found = self.ctx.fact(RemoteValues).project_function(expr.func)
        if found is None:
            return None
        module, scope = found
        windows = module.fact(SequenceWindows)
        yielded = windows._yielded(scope) if path and path[0] == ITER else None
        returned = yielded if yielded is not None else windows._returned(scope)
        if returned is None:
            return None
        value, at = returned
        window = windows._resolve(value, at, path[1:] if yielded is not None else path, {}, (), depth + 1)
        if window is None:
            return None
        return replace(window, root=("made by call", id(expr), window.root))

    def _per_call(self, found: Optional[Window], site: CallSite, statement, env, calls, depth) -> Optional[Window]:
        """A value a helper makes itself (not a window of what the caller passed in) is a new
        value at every call: `str2tensor(line[:-1])` and `str2tensor(line[1:])` are two tensors,
        not one."""
        if found is None:
            return None
        for arg in site.node.args:
            passed = self._resolve(arg.value, statement, (), env, calls, depth + 1)
            if passed is not None and passed.root == found.root:
                return found
        return replace(found, root=("made by call", id(site.node), found.root))

    def _entered(self, site: CallSite) -> Optional[Scope]:
        """The function a call runs, `Cls(...)` running `Cls.__init__`."""
        callee = self._callee(site)
        if callee is None and isinstance(site.node.func, cst.Name) and site.statement is not None:
            definition = self.flow.definition(site.node.func.value, site.statement)
            if definition.kind == "class" and definition.statement is not None:
                for info in self.ctx.index.classes:
                    if info.node is definition.statement.node:
                        return info.methods.get("__init__")
        return callee

    def _callee(self, site: CallSite) -> Optional[Scope]:
        """The module function a call runs. A module-level function that is only rebound under an
        `if` (a test-only mock) still counts as the function the code normally runs."""
        callee = self.flow.callee(site)
        if callee is not None:
            return callee
        func = site.node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and site.statement is not None:
            # lite.next_batch() with lite = DataLoaderLite(...): the method of that module class
            definition = self.flow.definition(func.value.value, site.statement)
            if definition.kind == "assign" and isinstance(definition.value, cst.Call):
                info = self._constructed_class(definition.value, definition.statement)
                if info is not None:
                    return self._method(info, func.attr.value)
            return None
        if not isinstance(func, cst.Name):
            return None
        name = site.node.func.value
        definitions = self.flow.module_definitions(name)
        functions = [
            d for d in definitions if d.kind == "function" and d.statement is not None and not d.statement.blocks
        ]
        others = [d for d in definitions if d not in functions]
        if len(functions) == 1 and all(d.statement is not None and d.statement.blocks for d in others):
            return self.ctx.index.scope_of_function(functions[0].statement.node)
        return None

    def _iterate_call(self, expr, qualified, terminal, statement, path, env, calls, depth):
        args = positional_args(expr)
        rest = path[1:]
        if qualified == "builtins.enumerate" and args:
            if rest and rest[0] == 1:
                return self._resolve(args[0], statement, (ITER,) + rest[1:], env, calls, depth + 1)
            return self._opaque(expr, path)
        if qualified == "builtins.zip" and args:
            if rest and isinstance(rest[0], int) and rest[0] < len(args):
                return self._resolve(args[rest[0]], statement, (ITER,) + rest[1:], env, calls, depth + 1)
            return self._opaque(expr, path)
        if (qualified == "builtins.iter" or terminal in ITERATION_WRAPPERS) and args:
            return self._resolve(args[0], statement, path, env, calls, depth + 1)
        if terminal == "DataLoader":
            return self._loader_element(expr, statement, rest, env, calls, depth)
        return NotImplemented

    # -- arguments the framework passes ------------------------------------------------------------

    def _framework_argument(self, scope: Scope, name: str, path: Path, depth: int) -> Optional[Window]:
        """The batch of a Lightning `training_step` (from the module's `train_dataloader` or the
        loader given to `trainer.fit`), and the `inputs` of a Hugging Face `Trainer.compute_loss`
        override (items of the `train_dataset` given to that trainer)."""
        owner = scope.class_info
        if owner is None or not isinstance(scope.node, cst.FunctionDef):
            return None
        params = [p.name.value for p in scope.node.params.params]
        if len(params) < 2 or params[0] != "self":
            return None
        step = scope.function_name
        if step in ("training_step", "validation_step") and name == params[1]:
            loader = self._lightning_loader(owner, "train_dataloader" if step == "training_step" else "val_dataloader")
            if loader is not None:
                value, at = loader
                return self._resolve(value, at, (ITER,) + path, {}, (), depth + 1)
            return None
        if step == "compute_loss" and len(params) >= 3 and name == params[2]:
            for site in self.flow.constructions(owner):
                dataset = keyword_arg(site.node, "train_dataset")
                if dataset is not None:
                    collator = keyword_arg(site.node, "data_collator")
                    return self._dataset_through_collator(dataset, collator, site.statement, path, depth + 1)
        return None

    def _lightning_loader(self, owner: ClassInfo, method: str):
        own = self._method(owner, method)
        if own is not None:
            return self._returned(own)
        fits = [
            site for site in self.flow.call_sites_named("fit") if site.statement is not None and self._is_trainer(site)
        ]
        found = []
        for site in fits:
            module = keyword_arg(site.node, "datamodule")
            if module is not None:
                # trainer.fit(model, datamodule=dm): dm's own train_dataloader()
                value = self._one_hop(module, site.statement)
                info = self._constructed_class(value, site.statement) if isinstance(value, cst.Call) else None
                own = self._method(info, method) if info is not None else None
                returned = self._returned(own) if own is not None else None
                if returned is not None:
                    found.append(returned)
                continue
            keyword = "train_dataloaders" if method == "train_dataloader" else "val_dataloaders"
            loader = keyword_arg(site.node, keyword)
            if loader is None:
                positional = positional_args(site.node)
                index = 1 if method == "train_dataloader" else 2
                loader = positional[index] if len(positional) > index else None
            if loader is not None:
                found.append((loader, site.statement))
        return found[0] if len(found) == 1 else None

    def _is_trainer(self, site: CallSite) -> bool:
        """`trainer.fit(...)` / `L.Trainer(...).fit(...)` of Lightning, not `clf.fit(X, y)`."""
        receiver = method_receiver(site.node)
        if isinstance(receiver, cst.Call):
            return callee_terminal_name(receiver) == "Trainer"
        if isinstance(receiver, cst.Name):
            definition = self.flow.definition(receiver.value, site.statement)
            return isinstance(definition.value, cst.Call) and callee_terminal_name(definition.value) == "Trainer"
        return False

    def _dataset_through_collator(self, dataset, collate, statement, rest: Path, depth: int) -> Optional[Window]:
        """An element of a batch made from `dataset` by the collate function `collate`."""
        if collate is None:
            return self._resolve(dataset, statement, (ITEM,) + rest, {}, (), depth + 1)
        collator = self._collator(collate, statement)
        if collator == "identity":
            return self._resolve(dataset, statement, (ITEM,) + rest, {}, (), depth + 1)
        if collator == "clm":
            masked = False
            if rest and rest[0] == "labels":
                rest = ("input_ids",) + rest[1:]
                masked = True
            found = self._resolve(dataset, statement, (ITEM,) + rest, {}, (), depth + 1)
            return replace(found, masked=found.masked or masked) if found is not None else None
        if isinstance(collator, Scope):
            returned = self._returned(collator)
            if returned is not None:
                value, at = returned
                return self._resolve(value, at, rest, {}, (), depth + 1)
        return None

    def _loader_element(self, expr: cst.Call, statement, rest: Path, env, calls, depth) -> Optional[Window]:
        dataset = argument(expr, 0, "dataset")
        if dataset is None:
            return self._opaque(expr, (ITER,) + rest)
        collate = keyword_arg(expr, "collate_fn")
        if collate is not None:
            found = self._dataset_through_collator(dataset, collate, statement, rest, depth)
            return found if found is not None else self._opaque(expr, (ITER,) + rest)
        return self._resolve(dataset, statement, (ITEM,) + rest, env, calls, depth + 1)

    def _collator(self, expr: cst.BaseExpression, statement: Statement):
        """"clm" for DataCollatorForLanguageModeling(mlm=False), a module function's scope, or None."""
        value = expr
        at = statement
        for _ in range(4):
            if (self.ctx.qualified_name(value) or "").endswith("default_data_collator"):
                return "identity"
            if isinstance(value, cst.Name):
                definition = self.flow.definition(value.value, at)
                if definition.kind == "function" and definition.statement is not None:
                    return self.ctx.index.scope_of_function(definition.statement.node)
                if definition.kind != "assign" or definition.value is None or definition.statement is None:
                    return None
                value, at = definition.value, definition.statement
                continue
            break
        if isinstance(value, cst.Call) and callee_terminal_name(value) == "DataCollatorForLanguageModeling":
            mlm = keyword_arg(value, "mlm")
            if isinstance(mlm, cst.Name) and mlm.value == "False":
                return "clm"
        if isinstance(value, cst.Call) and callee_terminal_name(value) in ("DataCollatorWithPadding",):
            return "identity"
        if (dotted_name(value) or "").endswith("default_data_collator"):
            return "identity"
        return None

    def _dataset_element(self, expr, qualified, terminal, statement, path, env, calls, depth):
        args = positional_args(expr)
        rest = path[1:]
        if terminal == "TensorDataset":
            if rest and isinstance(rest[0], int) and rest[0] < len(args):
                return self._resolve(args[rest[0]], statement, rest[1:], env, calls, depth + 1)
            return self._opaque(expr, path)
        if terminal in ("Subset",) and args:
            return self._resolve(args[0], statement, path, env, calls, depth + 1)
        if terminal == "map" and args and method_receiver(expr) is not None:
            function = self._function_scope(args[0], statement)
            if function is not None:
                returned = self._returned(function)
                if returned is not None:
                    value, at = returned
                    keys = tuple(part for part in rest if not (isinstance(part, str) and part in SPLIT_NAMES))
                    return self._resolve(value, at, keys, {}, (), depth + 1)
            return self._resolve(method_receiver(expr), statement, path, env, calls, depth + 1)
        info = self._constructed_class(expr, statement)
        if info is not None:
            return self._item_of(info, expr, path, depth)
        elsewhere = self.ctx.fact(RemoteValues).project_class(expr.func)
        if elsewhere is not None:
            # a Dataset class of another file of the project: its __getitem__, read there
            module, info = elsewhere
            return module.fact(SequenceWindows)._item_of(info, expr, path, depth)
        return NotImplemented

    def _item_of(self, info: ClassInfo, expr: cst.Call, path: Path, depth: int) -> Optional[Window]:
        """The element `path[1:]` of an item of a Dataset class of this module, built by `expr`."""
        method = self._method(info, "__getitem__")
        if method is None:
            return self._opaque(expr, path)
        returned = self._returned(method)
        if returned is None:
            return None
        value, at = returned
        found = self._resolve(value, at, path[1:], {}, (), depth + 1)
        return found.shifted_axes(1) if found is not None else None

    def _function_scope(self, expr: cst.BaseExpression, statement: Statement) -> Optional[Scope]:
        if isinstance(expr, cst.Name):
            definition = self.flow.definition(expr.value, statement)
            if definition.kind == "function" and definition.statement is not None:
                return self.ctx.index.scope_of_function(definition.statement.node)
        return None

    def _constructed_class(self, expr: cst.Call, statement: Statement) -> Optional[ClassInfo]:
        if isinstance(expr.func, cst.Name):
            definition = self.flow.definition(expr.func.value, statement)
            if definition.kind == "class" and definition.statement is not None:
                for info in self.ctx.index.classes:
                    if info.node is definition.statement.node:
                        return info
        return None

    def _method(self, info: ClassInfo, name: str, depth: int = 0) -> Optional[Scope]:
        if name in info.methods:
            return info.methods[name]
        if depth > 4:
            return None
        for base in info.bases:
            if isinstance(base, cst.Name) and base.value in self.ctx.index.class_by_name:
                found = self._method(self.ctx.index.class_by_name[base.value], name, depth + 1)
                if found is not None:
                    return found
        return None

    def _returned(self, scope: Scope) -> Optional[Tuple[cst.BaseExpression, Statement]]:
        """The value of the function's only `return <value>` (several must be the same code)."""
        found = None
        for statement in scope.statements:
            node = statement.node
            if isinstance(node, cst.Return) and node.value is not None:
                if found is not None and self.ctx.code(found[0]) != self.ctx.code(node.value):
                    return None
                if found is None:
                    found = (node.value, statement)
        return found

    def _items_source(self, expr: cst.DictComp) -> Optional[cst.BaseExpression]:
        """`batch` in `{k: v.to(device) for k, v in batch.items()}` (values moved or cast only)."""
        loop = expr.for_in
        if loop.inner_for_in is not None or loop.ifs:
            return None
        names = sequence_elements(loop.target)
        if names is None or len(names) != 2 or not all(isinstance(n, cst.Name) for n in names):
            return None
        key, value = names[0].value, names[1].value  # type: ignore[union-attr]
        iterated = loop.iter
        if not (isinstance(iterated, cst.Call) and callee_terminal_name(iterated) == "items" and not iterated.args):
            return None
        if not (isinstance(expr.key, cst.Name) and expr.key.value == key):
            return None
        inner = expr.value
        while isinstance(inner, cst.Call) and callee_terminal_name(inner) in TRANSPARENT_METHODS:
            receiver = method_receiver(inner)
            if receiver is None:
                return None
            inner = receiver
        if not (isinstance(inner, cst.Name) and inner.value == value):
            return None
        return method_receiver(iterated)

    def _agreeing_return(self, scope: Scope, path: Path, calls, depth: int) -> Optional[Tuple[cst.BaseExpression, Statement]]:
        """Several returns that all give the same window (`return x.pin_memory().to(d), ...` on
        one branch, `return x.to(d), ...` on the other): any of them stands for all."""
        returns = [(s.node.value, s) for s in scope.statements if isinstance(s.node, cst.Return) and s.node.value is not None]
        if len(returns) < 2:
            return None
        windows = [self._resolve(value, at, path, {}, calls, depth + 1) for value, at in returns]
        first = windows[0]
        if first is None or _is_opaque(first) or any(window != first for window in windows[1:]):
            return None
        return returns[0]

    def _yielded(self, scope: Scope) -> Optional[Tuple[cst.BaseExpression, Statement]]:
        found = None
        for statement in scope.statements:
            node = statement.node
            yields = isinstance(node, cst.Expr) and isinstance(node.value, cst.Yield)
            if yields and isinstance(node.value.value, cst.BaseExpression):
                if found is not None:
                    return None
                found = (node.value.value, statement)
        return found

    # window operations ---------------------------------------------------------------------------

    def _resolve_view(self, expr: cst.Call, receiver, statement, env, calls, depth) -> Optional[Window]:
        inner = self._resolve(receiver, statement, (), env, calls, depth + 1)
        if inner is None:
            return None
        args = [arg for arg in expr.args]
        shape = [self.ctx.code(arg.value) for arg in args]
        one_tuple = bool(args) and isinstance(args[0].value, (cst.Tuple, cst.List))
        if len(shape) <= 1 and not (one_tuple and len(args[0].value.elements) > 1):
            return inner  # flattening (`view(-1)`, `reshape(B * T)`, `flatten()`) keeps the order of positions
        if len(shape) == 1 and isinstance(args[0].value, (cst.Tuple, cst.List)):
            shape = [self.ctx.code(e.value) for e in args[0].value.elements]
        # the reshaped value is a new base: later steps are in its coordinates (the inner window
        # keeps its own steps, for comparisons of two reshaped windows)
        return Window(view_root(inner, ", ".join(shape)), inner.base, tags=(), steps=(("view", expr, len(shape)),))

    def _resolve_roll(self, expr: cst.Call, qualified, receiver, statement, env, calls, depth) -> Optional[Window]:
        if receiver is not None:
            value = receiver
            shifts = argument(expr, 0, "shifts")
            dims = argument(expr, 1, "dims")
        else:
            value = argument(expr, 0, "input" if qualified == "torch.roll" else "a")
            shifts = argument(expr, 1, "shifts" if qualified == "torch.roll" else "shift")
            dims = argument(expr, 2, "dims" if qualified == "torch.roll" else "axis")
        if value is None or shifts is None:
            return None
        shift = _integer(shifts)
        if shift is None:
            return None
        inner = self._resolve(value, statement, (), env, calls, depth + 1)
        if inner is None:
            return None
        if dims is None:
            axes = [axis for axis, _ in inner.spans]
            axis = axes[0] if len(axes) == 1 else -1
        else:
            axis_value = _integer(dims)
            if axis_value is None:
                return None
            axis = axis_value
        return inner.rolled(axis, shift, ("roll", expr, value, statement, tuple(env)))

    def _resolve_cat(self, expr: cst.Call, statement, env, calls, depth) -> Optional[Window]:
        pieces = argument(expr, 0, "tensors")
        if pieces is None:
            return None
        elements = sequence_elements(pieces)
        if elements is None or len(elements) != 2:
            return self._opaque(expr, ())
        dim = argument(expr, 1, "dim")
        if dim is None:
            dim = keyword_arg(expr, "axis")
        axis = _integer(dim) if dim is not None else 0
        if axis is None:
            return None
        rotated = self._rotation(elements, axis)
        if rotated is not None:
            # cat([w[:, k:], w[:, :k]]) is a roll of w by -k, whatever window w is
            base, k = rotated
            inner = self._resolve(base, statement, (), env, calls, depth + 1)
            if inner is None:
                return None
            # recorded as a roll of `base`: the probe replays the cat expression itself on it
            return inner.rolled(axis, -k, ("roll", expr, base, statement, tuple(env)))
        first = self._resolve(elements[0], statement, (), env, calls, depth + 1)
        second = self._resolve(elements[1], statement, (), env, calls, depth + 1)
        if first is None or second is None:
            return None
        if first.root == second.root and first.tags == second.tags:
            # cat([w[:, k:], w[:, :k]]) is a roll of w by -k
            a, b = first.span(axis), second.span(axis)
            if b.start.value == 0 and a.stop == Affine.end() and b.stop == a.start and b.length.value is not None:
                rest_a = first.with_span(axis, type(a)(Affine.constant(0), Affine.end()))
                rest_b = second.with_span(axis, type(b)(Affine.constant(0), Affine.end()))
                if rest_a == rest_b:
                    unrolled = first.with_span(axis, type(a)(Affine.constant(0), Affine.end()))
                    return unrolled.rolled(axis, -b.length.value, ("cat", expr, None, statement, tuple(env)))
            return self._opaque(expr, ())
        width_second = self._filler_width(self._one_hop(elements[1], statement), axis)
        width_first = self._filler_width(self._one_hop(elements[0], statement), axis)
        step = ("cat", expr, None, statement, tuple(env))
        if width_second is not None and width_first is None:
            return first.padded(axis, 0, width_second, step=step)
        if width_first is not None and width_second is None:
            return second.padded(axis, width_first, 0, step=step)
        return self._opaque(expr, ())

    def _rotation(self, elements: List[cst.BaseExpression], axis: int) -> Optional[Tuple[cst.BaseExpression, int]]:
        """(w, k) for the pieces `w[..., k:]` and `w[..., :k]` of one expression `w`, sliced the same
        way on every other axis (read from the code, before any resolution)."""
        if axis < 0 or not all(isinstance(e, cst.Subscript) for e in elements):
            return None
        head, tail = elements
        if self.ctx.code(head.value) != self.ctx.code(tail.value) or len(head.slice) != len(tail.slice):
            return None
        if len(head.slice) <= axis:
            return None
        for position, (a, b) in enumerate(zip(head.slice, tail.slice)):
            if position != axis and self.ctx.code(a.slice) != self.ctx.code(b.slice):
                return None
        a, b = head.slice[axis].slice, tail.slice[axis].slice
        if not (isinstance(a, cst.Slice) and isinstance(b, cst.Slice)) or a.step is not None or b.step is not None:
            return None
        k = _integer(a.lower) if a.lower is not None else None
        lower = _integer(b.lower) if b.lower is not None else 0
        if k is None or k <= 0 or a.upper is not None or lower != 0 or b.upper is None or _integer(b.upper) != k:
            return None
        return head.value, k

    def _one_hop(self, expr: cst.BaseExpression, statement: Statement) -> cst.BaseExpression:
        """`bos` in `torch.cat([bos, tgt[:, :-1]])`: the expression a plain name was assigned."""
        if isinstance(expr, cst.Name):
            definition = self.flow.definition(expr.value, statement)
            if definition.kind == "assign" and definition.value is not None:
                return definition.value
        return expr

    def _filler_width(self, expr: cst.BaseExpression, axis: int) -> Optional[int]:
        """The width along `axis` of a filler block: torch.full((B, 1), v), x.new_full((B, 1), v),
        torch.zeros_like(x[:, :1]), a one-column slice of something."""
        if isinstance(expr, cst.Call):
            qualified = self.ctx.qualified_name(expr.func)
            terminal = callee_terminal_name(expr)
            size = None
            if qualified in FILLED_TENSORS:
                size = argument(expr, 0, "size")
            elif qualified is None and terminal in FILLED_METHODS:
                size = argument(expr, 0, "size")
            elif qualified in FILLED_LIKE:
                inner = argument(expr, 0, "input")
                return self._filler_width(inner, axis) if inner is not None else None
            elif qualified is None and terminal in ("to", "long", "cuda", "int", "type") and method_receiver(expr):
                return self._filler_width(method_receiver(expr), axis)
            elements = sequence_elements(size) if size is not None else None
            if elements is None:
                return None
            index = axis if axis >= 0 else len(elements) + axis
            if 0 <= index < len(elements):
                return _integer(elements[index])
            return None
        if isinstance(expr, cst.BinaryOperation):
            return self._filler_width(expr.left, axis)
        if isinstance(expr, cst.Subscript):
            elements = list(expr.slice)
            index = axis if axis >= 0 else len(elements) + axis
            if 0 <= index < len(elements) and isinstance(elements[index].slice, cst.Slice):
                piece = elements[index].slice
                lower = _integer(piece.lower) if piece.lower is not None else 0
                upper = _integer(piece.upper) if piece.upper is not None else None
                if lower is not None and upper is not None and lower >= 0 and upper > lower:
                    return upper - lower
                if lower is not None and lower < 0 and piece.upper is None:
                    return -lower
        return None

    def _resolve_pad(self, expr: cst.Call, statement, env, calls, depth) -> Optional[Window]:
        value = argument(expr, 0, "input")
        amounts = argument(expr, 1, "pad")
        elements = sequence_elements(amounts) if amounts is not None else None
        if value is None or elements is None or len(elements) != 2:
            return None
        before, after = _integer(elements[0]), _integer(elements[1])
        if before is None or after is None or before < 0 or after < 0:
            return None
        inner = self._resolve(value, statement, (), env, calls, depth + 1)
        if inner is None:
            return None
        return inner.padded(-1, before, after, step=("pad", expr, value, statement, tuple(env)))

    def _resolve_where(self, expr, args, statement, env, calls, depth) -> Optional[Window]:
        _, if_true, if_false = args
        if _is_constant_value(if_true) and not _is_constant_value(if_false):
            inner = self._resolve(if_false, statement, (), env, calls, depth + 1)
        elif _is_constant_value(if_false) and not _is_constant_value(if_true):
            inner = self._resolve(if_true, statement, (), env, calls, depth + 1)
        else:
            return self._opaque(expr, ())
        return replace(inner, masked=True) if inner is not None else None

    def _resolve_list_concat(self, expr: cst.BinaryOperation, statement, env, calls, depth) -> Optional[Window]:
        step = ("cat", expr, None, statement, tuple(env))
        right = sequence_elements(expr.right) if isinstance(expr.right, cst.List) else None
        left = sequence_elements(expr.left) if isinstance(expr.left, cst.List) else None
        if right is not None and left is None:
            inner = self._resolve(expr.left, statement, (), env, calls, depth + 1)
            return inner.padded(0, 0, len(right), step=step) if inner is not None else None
        if left is not None and right is None:
            inner = self._resolve(expr.right, statement, (), env, calls, depth + 1)
            return inner.padded(0, len(left), 0, step=step) if inner is not None else None
        return self._opaque(expr, ())

    # comprehensions ----------------------------------------------------------------------------

    def _resolve_comprehension(self, expr, statement, path, env, calls, depth) -> Optional[Window]:
        clause = expr.for_in
        if clause.inner_for_in is not None or clause.ifs or not isinstance(clause.target, cst.Name):
            return self._opaque(expr, path)
        variable = clause.target.value
        element = _strip_transparent(expr.elt, self.ctx)
        if path:
            # x, y = [t.to(device) for t in batch]: the same structure as batch
            if isinstance(element, cst.Name) and element.value == variable and isinstance(path[0], int):
                return self._resolve(clause.iter, statement, path, env, calls, depth + 1)
            return self._opaque(expr, path)
        if _is_elementwise_map(element, variable):
            # [stoi[c] for c in chunk] keeps chunk's positions
            return self._resolve(clause.iter, statement, (), env, calls, depth + 1)
        base = _innermost_base(element)
        if isinstance(base, cst.Name) and base.value == variable:
            # [t[:-1] for t in seqs]: the same slice of every sequence, along the next axis
            iterable = self._resolve(clause.iter, statement, (), env, calls, depth + 1)
            if iterable is None:
                return None
            marker = ("element", id(expr))
            inner_env = dict(env)
            inner_env[variable] = marker
            per_element = self._resolve(element, statement, (), inner_env, calls, depth + 1)
            if per_element is None or per_element.root != ("element", marker, ()):
                return self._opaque(expr, path)
            result = iterable
            for axis, span in per_element.spans:
                if span.tail is not None:
                    return self._opaque(expr, path)
                result = result.sliced(axis + 1 if axis >= 0 else axis, span.start, span.stop)
            # replayed on one sequence: the iterable's own steps, then the element's
            masked = per_element.masked or iterable.masked
            return replace(result, steps=iterable.steps + per_element.steps, masked=masked)
        if not _mentions(element, variable):
            return self._opaque(expr, path)
        iterable = self._resolve(clause.iter, statement, (), env, calls, depth + 1)
        identity = (iterable.root, iterable.spans) if iterable is not None else ("code", self.ctx.code(clause.iter))
        inner_env = dict(env)
        inner_env[variable] = identity
        per_element = self._resolve(element, statement, (), inner_env, calls, depth + 1)
        if per_element is None:
            return None
        return per_element.shifted_axes(1, ("stack", variable, identity))


def _from(window: Optional[Window], element: cst.CSTNode) -> Optional[Window]:
    if window is not None and window.origin is None:
        return replace(window, origin=element)
    return window


def _definition_identity(definition: Definition) -> Hashable:
    if definition.statement is not None:
        return (definition.kind, id(definition.statement.node))
    if definition.scope is not None:
        return (definition.kind, id(definition.scope.node))
    return (definition.kind, None)


def _is_opaque(window: Window) -> bool:
    root = window.root
    return not window.spans and isinstance(root, tuple) and root and root[0] in ("node", "mutated")


def _display(text: str, path: Path) -> str:
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str):
            text += f'["{part}"]'
        elif part == ITER:
            text = f"<element of {text}>"
        elif part == ITEM:
            text = f"<item of {text}>"
        elif isinstance(part, tuple) and len(part) == 2 and part[0] == "attr":
            text += f".{part[1]}"
    return text


def _is_simple_arithmetic(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, (cst.Integer, cst.Name)):
        return True
    if isinstance(expr, cst.Attribute):
        return dotted_name(expr) is not None
    if isinstance(expr, cst.UnaryOperation):
        return _is_simple_arithmetic(expr.expression)
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Add, cst.Subtract, cst.Multiply)):
        return _is_simple_arithmetic(expr.left) and _is_simple_arithmetic(expr.right)
    return False


def _strip_transparent(expr: cst.BaseExpression, ctx: ModuleContext) -> cst.BaseExpression:
    for _ in range(8):
        if isinstance(expr, cst.Call):
            qualified = ctx.qualified_name(expr.func)
            args = positional_args(expr)
            if qualified in TRANSPARENT_FUNCTIONS and args:
                expr = args[0]
                continue
            receiver = method_receiver(expr)
            if qualified is None and receiver is not None and callee_terminal_name(expr) in TRANSPARENT_METHODS:
                expr = receiver
                continue
        break
    return expr


def _innermost_base(expr: cst.BaseExpression) -> cst.BaseExpression:
    while isinstance(expr, cst.Subscript):
        expr = expr.value
    return expr


def _is_elementwise_map(element: cst.BaseExpression, variable: str) -> bool:
    """`stoi[c]`, `vocab.get(c)`, `ord(c)`, `int(s)`: one value per element of the iterable."""
    if isinstance(element, cst.Subscript) and len(element.slice) == 1 and isinstance(element.slice[0].slice, cst.Index):
        index = element.slice[0].slice.value
        return isinstance(index, cst.Name) and index.value == variable and not _mentions(element.value, variable)
    if isinstance(element, cst.Call):
        args = [arg for arg in element.args]
        if len(args) >= 1 and isinstance(args[0].value, cst.Name) and args[0].value.value == variable:
            return not any(_mentions(arg.value, variable) for arg in args[1:]) and not _mentions(element.func, variable)
    return False


def _mentions(node: cst.CSTNode, name: str) -> bool:
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, cst.Name) and current.value == name:
            return True
        pending.extend(current.children)
    return False
