"""Token objectives: where a model's input and a next-token target meet.

An *objective* is one place where the positions of an input sequence are paired with the positions
of a target sequence:

- `loss`: a token loss computed in this module, `F.cross_entropy(logits.view(-1, V), y.view(-1))`
  or `criterion(...)`, whose prediction comes from a model call `model(x)`; the input is that call's
  input, the prediction window is the input window with the slices taken of the logits
  (`logits[:, :-1]`) applied;
- `model`: a model called with its targets, `model(x, y)`, `model(input_ids=..., labels=...)`, which
  computes the loss itself (and may shift the targets internally);
- `trainer`: a Hugging Face `Trainer(model=..., train_dataset=...)`, whose dataset items pair
  `input_ids` with `labels`.

`LanguageModels` says what a model is: a class of this module (inspected: does its forward shift
the targets, are its outputs aligned with its inputs, is it causal), a Hugging Face causal LM
(`*ForCausalLM`, `GPT2LMHeadModel`, `AutoModelForCausalLM.from_pretrained`: they shift `labels`
internally), another Hugging Face model, another imported class, or unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import libcst as cst

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.dataflow import DataFlow
from nnlint.analysis.index import CallSite, ClassInfo, Scope, Statement
from nnlint.analysis.names import (
    argument,
    callee_terminal_name,
    dotted_name,
    keyword_arg,
    method_receiver,
    positional_args,
    string_value,
)
from nnlint.analysis.remote import RemoteValues
from nnlint.families.sequence.sequence_windows import ITEM, SequenceWindows, _integer, target_path
from nnlint.families.sequence.windows import Affine, Alignment, Window, compare

TOKEN_LOSS_FUNCTIONS = frozenset({"torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss"})
TOKEN_LOSS_CLASSES = frozenset(
    {"torch.nn.CrossEntropyLoss", "torch.nn.NLLLoss", "torch.nn.modules.loss.CrossEntropyLoss"}
)
INPUT_KEYWORDS = (
    "input_ids", "idx", "x", "input", "inputs", "src", "tokens", "input_seq", "seq", "token_ids", "ids", "inp",
)
TARGET_KEYWORDS = ("labels", "targets", "target", "lm_labels", "label_ids", "target_ids", "y", "tgt")
TARGET_NAME = re.compile(
    r"^(y|ys|yb|y_batch|targets?|labels?|tgt|target_ids|label_ids|lm_labels|next_tokens?)$", re.IGNORECASE
)
LOSS_CLASS_NAME = re.compile(r"Loss|Criterion|CrossEntropy|CE$|^CE")
# `x.model(...)`: attribute names under which objects keep their model.
MODEL_ATTRIBUTES = frozenset(
    {"forward", "model", "module", "net", "network", "lm", "gpt", "transformer", "decoder", "rnn", "lstm"}
)
HF_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForCausalLMWithValueHead")
HF_NOT_SHIFTING = frozenset({"XLNetLMHeadModel"})
HF_ROOTS = ("transformers", "peft", "trl", "optimum")
MODEL_WRAPPERS = frozenset(
    {"compile", "DistributedDataParallel", "DDP", "DataParallel", "FullyShardedDataParallel", "FSDP",
     "get_peft_model", "prepare_model_for_kbit_training", "PeftModel", "wrap", "fully_shard"}
)
MODEL_METHODS = frozenset(
    {"to", "cuda", "cpu", "half", "float", "bfloat16", "train", "eval", "requires_grad_", "to_empty", "forward",
     "module"}
)
STRIPPED_PREDICTION_METHODS = frozenset(
    {"view", "reshape", "flatten", "contiguous", "float", "to", "log_softmax", "softmax", "double", "half", "squeeze",
     "clone"}
)
TRANSPOSING_METHODS = frozenset({"transpose", "permute", "movedim", "swapaxes"})
CAUSAL_ATTENTION = re.compile(r"\btril\b|\btriu\b|is_causal|causal_mask|subsequent_mask|\bcausal\s*=\s*True")
CONVOLUTION = re.compile(r"\bConv[123]d\b")
RECURRENT_LAYER = re.compile(r"(?<!class )\b(LSTM|GRU|RNN)(Cell)?\(")
BIDIRECTIONAL = re.compile(r"bidirectional\s*=\s*True")
NOT_NEXT_TOKEN = re.compile(
    r"mask_token|\bmlm(?:_|\b)|\bMLM\b|MaskedLM|masked_lm|[Mm]asked[ _]?[Ll]anguage|reparameteri|logvar|log_var|"
    r"[Aa]uto[Ee]ncoder|denois|[Cc]orrupt|bernoulli|[Cc]loze|ForTokenClassification|\b[Tt]agg"
)
LM_NAME = re.compile(
    r"GPT|CausalLM|LMHead|LanguageModel|RNNLM|CharRNN|CharLSTM|Llama|Mistral|Qwen|Gemma|\bLM\b|LM$|Decoder"
)
GENERATION = re.compile(r"torch\.multinomial|\.multinomial\(|\.generate\(|def generate\b|def sample\b")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class ModelKind:
    """What a called model is. kind: module, hf_causal, hf_other, imported, unknown. A `module` class
    defined in another file of the project has `home`: the `LanguageModels` of that file's module,
    which inspects its code."""

    kind: str
    name: str
    info: Optional[ClassInfo] = None
    qualified: Optional[str] = None
    home: Optional["LanguageModels"] = field(default=None, compare=False)


UNKNOWN_MODEL = ModelKind("unknown", "the model")


@dataclass
class Objective:
    kind: str  # loss, model, trainer
    node: cst.CSTNode
    statement: Statement
    model: ModelKind
    input_expr: cst.BaseExpression
    target_expr: cst.BaseExpression
    input_window: Window
    target_window: Window
    prediction: Window  # the input window with the slices of the logits applied
    alignment: Optional[Alignment]
    # how far the model itself moves targets against its outputs (HF causal LMs: 1); None: unknown
    shift: Optional[int]
    shift_steps: Tuple[Tuple, ...] = ()
    reduction_none: bool = False
    prediction_steps: Tuple[Tuple, ...] = ()
    model_call: Optional[cst.Call] = None
    loss_name: str = ""
    scope: Optional[Scope] = None
    input_path: Tuple = ()
    target_path: Tuple = ()
    notes: Dict[str, object] = field(default_factory=dict)


def _hf_class_name(qualified: str) -> Optional[str]:
    parts = qualified.split(".")
    while parts and parts[-1] in ("from_pretrained", "from_config", "_from_config"):
        parts.pop()
    return parts[-1] if parts else None


def hf_kind(qualified: Optional[str]) -> Optional[str]:
    """hf_causal / hf_other for Hugging Face model classes, None for anything else."""
    if not qualified:
        return None
    root = qualified.split(".")[0]
    name = _hf_class_name(qualified)
    if name is None:
        return None
    causal = name.endswith(HF_CAUSAL_SUFFIXES) and name not in HF_NOT_SHIFTING
    if root in HF_ROOTS:
        return "hf_causal" if causal else "hf_other"
    return None


class LanguageModels:
    """Get it with ``ctx.fact(LanguageModels)``."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.flow = ctx.fact(DataFlow)
        self.windows = ctx.fact(SequenceWindows)
        self._class_cache: Dict[Tuple[int, str], object] = {}

    # -- what a callee is ----------------------------------------------------------------------

    def kind(self, func: cst.BaseExpression, statement: Statement, depth: int = 0) -> ModelKind:
        if depth > 10:
            return UNKNOWN_MODEL
        while isinstance(func, cst.Attribute) and func.attr.value in ("forward", "module", "_orig_mod"):
            func = func.value
        if isinstance(func, cst.Name) and func.value == "self":
            owner = self.ctx.index.enclosing_class(statement.scope)
            return ModelKind("module", owner.name, owner) if owner is not None else UNKNOWN_MODEL
        dotted = dotted_name(func)
        if dotted is None:
            return UNKNOWN_MODEL
        if dotted.startswith("self.") and dotted.count(".") == 1:
            definitions = self.flow.self_attribute_definitions(dotted, statement)
            if definitions is None:
                return UNKNOWN_MODEL
            kinds = set()
            for definition in definitions:
                if definition.kind == "assign" and definition.value is not None and definition.statement is not None:
                    kinds.add(self._kind_of_value(definition.value, definition.statement, depth + 1))
                else:
                    kinds.add(UNKNOWN_MODEL)
            return kinds.pop() if len(kinds) == 1 else UNKNOWN_MODEL
        if not isinstance(func, cst.Name):
            return UNKNOWN_MODEL
        definition = self.flow.definition(func.value, statement)
        if definition.kind == "assign" and definition.value is not None and definition.statement is not None:
            return self._kind_of_value(definition.value, definition.statement, depth + 1)
        if definition.kind == "unpacked" and definition.value is not None and definition.statement is not None:
            return self._kind_of_element(definition, func.value, depth)
        if definition.kind == "param" and definition.scope is not None:
            return self._kind_of_parameter(definition.scope, func.value, depth)
        return UNKNOWN_MODEL

    def _kind_of_element(self, definition, name: str, depth: int) -> ModelKind:
        node = definition.statement.node
        path = None
        if isinstance(node, cst.Assign):
            for target in node.targets:
                path = target_path(target.target, name)
                if path is not None:
                    break
        value = definition.value
        prepared = isinstance(value, cst.Call) and callee_terminal_name(value) in ("prepare", "setup")
        if path and len(path) == 1 and prepared:
            args = positional_args(value)
            if path[0] < len(args):
                return self._kind_of_value(args[path[0]], definition.statement, depth + 1)
        return UNKNOWN_MODEL

    def _kind_of_parameter(self, scope: Scope, name: str, depth: int) -> ModelKind:
        kinds = set()
        owner = scope.class_info
        if scope.function_name == "compute_loss" and owner is not None and name == "model":
            # a Trainer subclass: the model is the one the trainer was built with
            for site in self.flow.constructions(owner):
                value = argument(site.node, 0, "model")
                if value is not None and site.statement is not None:
                    kinds.add(self._kind_of_value(value, site.statement, depth + 1))
            return kinds.pop() if len(kinds) == 1 else UNKNOWN_MODEL
        sites = self.flow.callers_and_constructions(scope)
        for site in sites:
            expr = self.flow.argument_for(scope, name, site.node)
            if expr is None:
                return UNKNOWN_MODEL
            kinds.add(self._kind_of_value(expr, site.statement, depth + 1))
        if not sites:
            # given by callers in other files of the project (`Trainer(model=GPT(cfg))` in train.py)
            remote = self.ctx.fact(RemoteValues)
            found = remote.class_of(remote.parameter_instance(scope, name))
            if found is not None:
                module, info = found
                return ModelKind("module", info.name, info, home=module.fact(LanguageModels))
        return kinds.pop() if len(kinds) == 1 else UNKNOWN_MODEL

    def _kind_of_value(self, value: cst.BaseExpression, statement: Statement, depth: int) -> ModelKind:
        if depth > 10:
            return UNKNOWN_MODEL
        if isinstance(value, (cst.Name, cst.Attribute)):
            return self.kind(value, statement, depth + 1)
        if not isinstance(value, cst.Call):
            return UNKNOWN_MODEL
        qualified = self.ctx.qualified_name(value.func)
        terminal = callee_terminal_name(value)
        receiver = method_receiver(value)
        args = positional_args(value)
        if qualified is None and receiver is not None and terminal in MODEL_METHODS:
            return self._kind_of_value(receiver, statement, depth + 1)
        if terminal in MODEL_WRAPPERS and args:
            return self._kind_of_value(args[0], statement, depth + 1)
        if terminal in ("prepare", "setup", "setup_module") and len(args) == 1:
            return self._kind_of_value(args[0], statement, depth + 1)
        hf = hf_kind(qualified)
        if hf is not None:
            return ModelKind(hf, _hf_class_name(qualified) or qualified, None, qualified)
        if isinstance(value.func, cst.Name):
            definition = self.flow.definition(value.func.value, statement)
            if definition.kind == "class" and definition.statement is not None:
                for info in self.ctx.index.classes:
                    if info.node is definition.statement.node:
                        return ModelKind("module", info.name, info)
            if definition.kind == "function" and definition.statement is not None:
                # model = build_model(cfg): what the factory returns
                factory = self.ctx.index.scope_of_function(definition.statement.node)
                returned = self.windows._returned(factory) if factory is not None else None
                if returned is not None:
                    return self._kind_of_value(returned[0], returned[1], depth + 1)
                return UNKNOWN_MODEL
        loaded = terminal in ("from_pretrained", "from_config")
        if loaded and isinstance(value.func, cst.Attribute) and isinstance(value.func.value, cst.Name):
            inner = value.func.value.value
            if inner in self.ctx.index.class_by_name:
                info = self.ctx.index.class_by_name[inner]
                return ModelKind("module", info.name, info)
        remote = self._project_model(value)
        if remote is not None:
            return remote
        if qualified is not None and not qualified.startswith("builtins."):
            return ModelKind("imported", _hf_class_name(qualified) or qualified.split(".")[-1], None, qualified)
        return UNKNOWN_MODEL

    def _project_model(self, value: cst.Call) -> Optional[ModelKind]:
        """A model class of another file of the project, `GPT(cfg)` or what a factory of another
        file returns (`build_model(cfg)`), inspected in that file's module."""
        remote = self.ctx.fact(RemoteValues)
        if not remote.active:
            return None
        found = remote.project_class(value.func)
        if found is None:
            built = remote.call(value)
            if built is None or built.kind != "instance":
                return None
            module = remote.module(built.detail["class_path"])
            info = module.index.class_by_name.get(built.detail["class"]) if module is not None else None
            if module is None or info is None:
                return None
            found = (module, info)
        module, info = found
        return ModelKind("module", info.name, info, home=module.fact(LanguageModels))

    def of(self, model: ModelKind) -> "LanguageModels":
        """The `LanguageModels` that inspects the model's class (another file's, for a class defined
        there)."""
        return model.home if model.home is not None else self

    # -- classes of this module ------------------------------------------------------------------

    def _forward(self, info: ClassInfo) -> Optional[Scope]:
        return self.windows._method(info, "forward")

    def _class_text(self, info: ClassInfo, seen=None) -> str:
        """The source of the class and of the module classes it mentions (its submodules)."""
        key = (id(info.node), "text")
        cached = self._class_cache.get(key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        seen = set() if seen is None else seen
        seen.add(info.name)
        text = self.ctx.module.code_for_node(info.node)
        # the words of the text so far: a class is mentioned when its name is one of them (one
        # set lookup per class; a regex per class and class costs classes x classes compilations)
        words = set(_WORD.findall(text))
        for other in self.ctx.index.class_by_name.values():
            if other.name not in seen and other.name in words:
                mentioned = self._class_text(other, seen)
                text += "\n" + mentioned
                words.update(_WORD.findall(mentioned))
        self._class_cache[key] = text
        return text

    def causal(self, info: ClassInfo) -> bool:
        """The class (with its submodules) masks attention causally or is a one-directional RNN."""
        text = _without_comments(self._class_text(info))
        if BIDIRECTIONAL.search(text) or NOT_NEXT_TOKEN.search(text):
            return False
        if CONVOLUTION.search(text) and not CAUSAL_ATTENTION.search(text):
            return False  # PixelCNN / WaveNet-style models mask or pad their convolutions themselves
        # one recurrent stack reads left to right; two are usually an encoder and a decoder
        return bool(CAUSAL_ATTENTION.search(text)) or len(RECURRENT_LAYER.findall(text)) == 1

    def output_aligned(self, info: ClassInfo) -> bool:
        """Its forward returns outputs position by position for its input: no time-axis slicing,
        rolling or concatenation of sequences in forward."""
        key = (id(info.node), "aligned")
        if key in self._class_cache:
            return self._class_cache[key]  # type: ignore[return-value]
        forward = self._forward(info)
        aligned = forward is not None and not _shifts_positions(forward.node)
        self._class_cache[key] = aligned
        return aligned

    def parameters(self, info: ClassInfo) -> List[str]:
        forward = self._forward(info)
        if forward is None or not isinstance(forward.node, cst.FunctionDef):
            return []
        names = [p.name.value for p in list(forward.node.params.posonly_params) + list(forward.node.params.params)]
        return names[1:] if names and names[0] == "self" else names

    def target_parameter(self, info: ClassInfo) -> Optional[str]:
        for name in self.parameters(info)[1:]:
            if TARGET_NAME.match(name):
                return name
        return None

    def class_shift(self, info: ClassInfo, depth: int = 0) -> Tuple[Optional[int], Tuple[Tuple, ...]]:
        """How the forward of a class moves its targets against its logits: 0 (nanoGPT-style
        `cross_entropy(logits.view(-1, V), targets.view(-1))`), 1 (HF-style
        `logits[..., :-1, :]` against `labels[..., 1:]`), None when it cannot tell."""
        key = (id(info.node), "shift")
        if key in self._class_cache:
            return self._class_cache[key]  # type: ignore[return-value]
        self._class_cache[key] = (None, ())
        result = self._compute_class_shift(info, depth)
        self._class_cache[key] = result
        return result

    def _compute_class_shift(self, info: ClassInfo, depth: int) -> Tuple[Optional[int], Tuple[Tuple, ...]]:
        forward = self._forward(info)
        target = self.target_parameter(info)
        params = self.parameters(info)
        if forward is None or target is None or not params or depth > 3:
            return None, ()
        if _slices_name(self.ctx, forward.node, params[0]):
            return None, ()  # the forward cuts its own input: no simple answer
        root = (("param", id(forward.node), target), ())
        shifts = set()
        steps: Tuple[Tuple, ...] = ()
        for site in forward.calls:
            if site.statement is None:
                continue
            pair = self.token_loss_arguments(site)
            if pair is not None:
                prediction_expr, target_expr = pair
                target_window = self.windows.window(target_expr, site.statement)
                if target_window is None or target_window.root != root:
                    continue
                ops = self.prediction_ops(prediction_expr, site.statement)
                if ops is None:
                    return None, ()
                slices = ops[2]
                offset = _relative_offset(target_window, slices)
                if offset is None:
                    return None, ()
                shifts.add(offset)
                steps = tuple(("internal", s) for s in slices)
                continue
            for keyword in TARGET_KEYWORDS:
                value = keyword_arg(site.node, keyword)
                if value is None:
                    continue
                target_window = self.windows.window(value, site.statement)
                if target_window is None or target_window.root != root:
                    continue
                inner = self.kind(site.node.func, site.statement)
                inner_shift = self.shift(inner, depth + 1)[0]
                start = _single_start(target_window)
                if inner_shift is None or start is None:
                    return None, ()
                shifts.add(inner_shift + start)
        if len(shifts) != 1:
            return None, ()
        return shifts.pop(), steps

    def shift(self, model: ModelKind, depth: int = 0) -> Tuple[Optional[int], Tuple[Tuple, ...]]:
        """How far a model moves the targets it is given against its own outputs."""
        if model.kind == "hf_causal":
            return 1, (("hf",),)
        if model.kind == "module" and model.info is not None:
            return self.of(model).class_shift(model.info, depth)
        return None, ()

    # -- losses and predictions ------------------------------------------------------------------

    def token_loss_arguments(self, site: CallSite) -> Optional[Tuple[cst.BaseExpression, cst.BaseExpression]]:
        """(prediction, target) of a cross-entropy / NLL loss call."""
        if not self.is_token_loss(site):
            return None
        call = site.node
        prediction = argument(call, 0, "input")
        target = argument(call, 1, "target")
        if prediction is None:
            prediction = keyword_arg(call, "logits")
        if target is None:
            target = keyword_arg(call, "targets") or keyword_arg(call, "labels")
        if prediction is None or target is None:
            return None
        return prediction, target

    def is_token_loss(self, site: CallSite) -> bool:
        call = site.node
        qualified = self.ctx.qualified_name(call.func)
        if qualified in TOKEN_LOSS_FUNCTIONS:
            return True
        terminal = callee_terminal_name(call) or ""
        if "cross_entropy" in terminal and not terminal.startswith("binary"):
            return True
        if isinstance(call.func, cst.Call):
            return self.ctx.qualified_name(call.func.func) in TOKEN_LOSS_CLASSES
        if qualified is not None or site.statement is None:
            return False
        return self._is_token_criterion(call.func, site.statement, 0)

    def _is_token_criterion(self, func: cst.BaseExpression, statement: Statement, depth: int) -> bool:
        if depth > 4:
            return False
        dotted = dotted_name(func)
        if dotted is None:
            return False
        values = []
        if dotted.startswith("self.") and dotted.count(".") == 1:
            values = [(d.value, d.statement) for d in self.flow.self_attribute_definitions(dotted, statement) or ()]
        elif "." not in dotted:
            definition = self.flow.definition(dotted, statement)
            if definition.kind == "assign":
                values = [(definition.value, definition.statement)]
            elif definition.kind == "param" and definition.scope is not None:
                for site in self.flow.callers_and_constructions(definition.scope):
                    expr = self.flow.argument_for(definition.scope, dotted, site.node)
                    if expr is not None and site.statement is not None:
                        values.append((expr, site.statement))
        if not values:
            return False
        for value, at in values:
            if isinstance(value, cst.Call):
                if self.ctx.qualified_name(value.func) in TOKEN_LOSS_CLASSES:
                    continue
                info = self.windows._constructed_class(value, at) if at is not None else None
                if info is None or not self._is_token_loss_class(info):
                    return False
            elif isinstance(value, (cst.Name, cst.Attribute)) and at is not None:
                if self.ctx.qualified_name(value) in TOKEN_LOSS_FUNCTIONS:
                    continue
                if not self._is_token_criterion(value, at, depth + 1):
                    return False
            else:
                return False
        return True

    def _is_token_loss_class(self, info: ClassInfo) -> bool:
        """A loss module of this module (label smoothing, z-loss...) built on cross-entropy / NLL:
        `forward(self, logits, targets)` whose body calls a token loss."""
        if not LOSS_CLASS_NAME.search(info.name):
            return False  # a model that returns its own loss is not a criterion
        forward = self._forward(info)
        if forward is None or not any(self.is_token_loss(site) for site in forward.calls if site.statement):
            return False
        return len(self.parameters(info)) >= 2

    def reduction_none(self, site: CallSite) -> bool:
        value = keyword_arg(site.node, "reduction")
        if value is not None:
            return string_value(value) == "none"
        func = site.node.func
        dotted = dotted_name(func)
        if dotted is not None and site.statement is not None and "." not in dotted:
            definition = self.flow.definition(dotted, site.statement)
            if isinstance(definition.value, cst.Call):
                inner = keyword_arg(definition.value, "reduction")
                return inner is not None and string_value(inner) == "none"
        return False

    def prediction_ops(self, expr: cst.BaseExpression, statement: Statement, calls: Tuple[CallSite, ...] = ()):
        """Follow a prediction back to the model call that made it: (call, its statement, the
        slices taken of the output on the way, as (axis in token coordinates, start, stop), the
        calls still entered at the model call)."""
        slices: List[Tuple[int, Affine, Affine, cst.CSTNode, Statement]] = []
        current, at = expr, statement
        for _ in range(16):
            if isinstance(current, cst.Call):
                terminal = callee_terminal_name(current)
                receiver = method_receiver(current)
                qualified = self.ctx.qualified_name(current.func)
                if qualified is None and receiver is not None and terminal in STRIPPED_PREDICTION_METHODS:
                    current = receiver
                    continue
                if qualified is None and receiver is not None and terminal in TRANSPOSING_METHODS:
                    if slices:
                        return None  # slices of a transposed output: axes would be guesswork
                    current = receiver
                    continue
                if qualified in ("torch.nn.functional.log_softmax", "torch.log_softmax", "torch.nn.functional.softmax"):
                    args = positional_args(current)
                    if not args:
                        return None
                    current = args[0]
                    continue
                if self._is_model_call(current, at):
                    return current, at, slices, calls
                return None
            if isinstance(current, cst.Subscript):
                elements = list(current.slice)
                if len(elements) == 1 and isinstance(elements[0].slice, cst.Index):
                    index = elements[0].slice.value
                    if string_value(index) is not None or (_integer(index) is not None and _integer(index) >= 0):
                        current = current.value
                        continue
                    return None
                spec = self.windows._slice_spec(elements, current.value, at, {}, ())
                if spec is None:
                    return None
                for axis, start, stop in spec:
                    if axis == -1:
                        return None  # a slice of the vocabulary axis
                    if stop is None:
                        # `model(x)[:, -1]`: one position picked, a prediction per sequence (a
                        # classifier on the last token), not one per token of a next-token objective
                        return None
                    token_axis = axis + 1 if axis < 0 else axis
                    slices.insert(0, (token_axis, start, stop, current, at))
                current = current.value
                continue
            if isinstance(current, cst.Attribute):
                if current.attr.value in ("logits", "lm_logits", "prediction_logits"):
                    current = current.value
                    continue
                return None
            if isinstance(current, cst.Name):
                definition = self.flow.definition(current.value, at)
                assigned = definition.kind in ("assign", "unpacked") and definition.statement is not None
                if assigned and definition.value is not None:
                    current, at = definition.value, definition.statement
                    continue
                if definition.kind == "param" and definition.scope is not None:
                    bound = self.windows.bound_argument(definition.scope, current.value, calls)
                    if bound is not None:
                        current, site = bound
                        at, calls = site.statement, calls[:-1]
                        continue
                return None
            return None
        return None

    def _is_model_call(self, call: cst.Call, statement: Statement) -> bool:
        func = call.func
        if self.ctx.qualified_name(func) is not None:
            return False
        if isinstance(func, cst.Name):
            if func.value == "self":
                return True
            definition = self.flow.definition(func.value, statement)
            return definition.kind not in ("function", "class", "import")
        if isinstance(func, cst.Attribute):
            if dotted_name(func) is None:
                return False
            terminal = func.attr.value
            receiver = func.value
            if isinstance(receiver, cst.Name) and receiver.value == "self":
                owner = self.ctx.index.enclosing_class(statement.scope)
                if owner is not None and terminal in owner.methods and terminal != "forward":
                    return False  # self.helper(...): a method, not a submodule
                return True
            return terminal in MODEL_ATTRIBUTES
        return False

    def model_input(self, call: cst.Call, model: ModelKind) -> Optional[Tuple[cst.BaseExpression, Tuple]]:
        """(expression, path) of what the model reads as its token input."""
        for keyword in INPUT_KEYWORDS:
            value = keyword_arg(call, keyword)
            if value is not None:
                return value, ()
        args = positional_args(call)
        if args and not (call.args and call.args[0].star):
            return args[0], ()
        for arg in call.args:
            if arg.star == "**":
                return arg.value, ("input_ids",)
        return None

    def model_target(self, call: cst.Call, model: ModelKind) -> Optional[Tuple[cst.BaseExpression, Tuple]]:
        """(expression, path) of the targets handed to a model that computes its own loss."""
        for keyword in TARGET_KEYWORDS:
            value = keyword_arg(call, keyword)
            if value is not None:
                if keyword in ("y", "tgt") and model.kind != "module":
                    continue
                return value, ()
        args = positional_args(call)
        if len(args) >= 2 and not any(arg.star == "*" for arg in call.args):
            if model.kind == "module" and model.info is not None:
                params = self.of(model).parameters(model.info)
                if len(params) >= 2 and TARGET_NAME.match(params[1]):
                    return args[1], ()
            elif model.kind in ("imported", "unknown"):
                name = dotted_name(args[1])
                if name is not None and TARGET_NAME.match(name.split(".")[-1]):
                    return args[1], ()
        for arg in call.args:
            if arg.star == "**" and model.kind == "hf_causal":
                return arg.value, ("labels",)
        return None


def _without_comments(text: str) -> str:
    """Code without comments and docstrings: "causal" in a comment is no evidence."""
    text = re.sub(r'("""|\'\'\')[\s\S]*?\1', "", text)
    return re.sub(r"#[^\n]*", "", text)


def _relative_offset(target: Window, slices) -> Optional[int]:
    """Start of the target window minus start of the logits slices, along the one axis involved."""
    target_axes = [(axis, span) for axis, span in target.spans]
    if len(target_axes) > 1 or len(slices) > 1:
        return None
    target_start = target_axes[0][1].start if target_axes else Affine.constant(0)
    slice_start = slices[0][1] if slices else Affine.constant(0)
    if target_axes and slices and not _same_axis(target_axes[0][0], slices[0][0]):
        return None
    return (target_start - slice_start).value


def _same_axis(a: int, b: int) -> bool:
    return a == b or {a, b} == {1, -1}


def _single_start(window: Window) -> Optional[int]:
    if not window.spans:
        return 0
    if len(window.spans) > 1:
        return None
    return window.spans[0][1].start.value


def _slice_has_offset(piece: cst.Slice) -> bool:
    for bound in (piece.lower, piece.upper):
        if bound is None:
            continue
        value = _integer(bound)
        if value is not None and value != 0:
            return True
    return False


def _shifts_positions(function: cst.CSTNode) -> bool:
    """Whether a function slices something by a literal offset on a non-leading axis, rolls, or
    concatenates along the sequence: signs that it moves positions."""
    pending = [function]
    while pending:
        node = pending.pop()
        if isinstance(node, cst.Subscript):
            elements = list(node.slice)
            for index, element in enumerate(elements):
                if isinstance(element.slice, cst.Slice) and _slice_has_offset(element.slice):
                    if len(elements) > 1 or index > 0:
                        return True
        if isinstance(node, cst.Call) and callee_terminal_name(node) in ("roll", "pad"):
            return True
        pending.extend(node.children)
    return False


def _slices_name(ctx: ModuleContext, function: cst.CSTNode, name: str) -> bool:
    text = ctx.module.code_for_node(function)
    return bool(re.search(rf"\b{re.escape(name)}\s*\[[^\]\n]*:", text)) or bool(
        re.search(rf"roll\(\s*{re.escape(name)}\b", text)
    )


class TokenObjectives:
    """Every token objective of the module. Get it with ``ctx.fact(TokenObjectives)``."""

    def __init__(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        self.models = ctx.fact(LanguageModels)
        self.windows = ctx.fact(SequenceWindows)
        self.flow = self.windows.flow
        self._by_call: Dict[int, List[Objective]] = {}

    MAX_CALLERS = 4

    def for_call(self, call: cst.Call) -> List[Objective]:
        """The objectives a call makes; a loss or model call inside a helper function is looked at
        from each of the helper's callers when its own arguments do not settle it."""
        key = id(call)
        if key not in self._by_call:
            self._by_call[key] = self._build(call)
        return self._by_call[key]

    def _build(self, call: cst.Call) -> List[Objective]:
        site = self.ctx.index.call_sites.get(call)
        if site is None or site.statement is None:
            return []
        found = self._build_at(site, ())
        if found is not None and found.alignment is not None:
            return [found]
        if site.scope.is_module:
            return [found] if found is not None else []
        callers = self.flow.callers_and_constructions(site.scope)
        if not callers or len(callers) > self.MAX_CALLERS:
            return [found] if found is not None else []
        through = [self._build_at(site, (caller,)) for caller in callers]
        through = [objective for objective in through if objective is not None and objective.alignment is not None]
        return through or ([found] if found is not None else [])

    def _build_at(self, site: CallSite, calls: Tuple[CallSite, ...]) -> Optional[Objective]:
        pair = self.models.token_loss_arguments(site)
        if pair is not None:
            return self._loss_objective(site, pair[0], pair[1], calls)
        terminal = callee_terminal_name(site.node)
        if terminal in ("Trainer", "SFTTrainer"):
            return self._trainer_objective(site) if not calls else None
        return self._model_objective(site, calls)

    def _loss_objective(self, site: CallSite, prediction_expr, target_expr, calls) -> Optional[Objective]:
        found = self.models.prediction_ops(prediction_expr, site.statement, calls)
        if found is None:
            return None
        model_call, model_statement, slices, model_calls = found
        model = self.models.kind(model_call.func, model_statement)
        if model.kind == "hf_other":
            return None
        located = self.models.model_input(model_call, model)
        if located is None:
            return None
        input_expr, input_path = located
        input_window = self._window(input_expr, model_statement, input_path, model_calls)
        target_window = self.windows.window(target_expr, site.statement, calls)
        if input_window is None or target_window is None:
            return None
        own_input = self._own_forward_input(site, model_call, target_window)
        if own_input is not None:
            # `F.cross_entropy(logits, idx)` inside the forward that embeds idx: the model is the class
            model, input_expr, input_path, input_window = own_input
        prediction = input_window
        for axis, start, stop, node, at in slices:
            prediction = prediction.sliced(axis, start, stop, ("logits", node, at, axis))
        alignment = None if input_window.masked else compare(prediction, target_window)
        terminal = callee_terminal_name(site.node) or "loss"
        return Objective(
            kind="loss", node=site.node, statement=site.statement, model=model, input_expr=input_expr,
            target_expr=target_expr, input_window=input_window, target_window=target_window, prediction=prediction,
            alignment=alignment, shift=0, reduction_none=self.models.reduction_none(site),
            model_call=model_call, loss_name=terminal, scope=site.scope, input_path=input_path,
        )

    def _own_forward_input(self, site: CallSite, model_call: cst.Call, target: Window):
        """A loss in a module's `forward` whose target is the forward's own first input (the token ids the
        logits were computed from), the logits coming from a submodule (`self.lm_head(...)`):
        (the class as the model, the input, its path, its window), else None."""
        scope = site.scope
        owner = scope.class_info
        if owner is None or scope.function_name != "forward" or not isinstance(scope.node, cst.FunctionDef):
            return None
        func = dotted_name(model_call.func) or ""
        if not func.startswith("self."):
            return None
        params = [p for p in list(scope.node.params.posonly_params) + list(scope.node.params.params)][1:]
        if not params:
            return None
        tokens = params[0].name
        window = self._window(tokens, site.statement, (), ())
        if window is None or window.root != target.root or window.spans or target.spans:
            return None
        return ModelKind("module", owner.name, owner), tokens, (), window

    def _model_objective(self, site: CallSite, calls) -> Optional[Objective]:
        call = site.node
        if not self.models._is_model_call(call, site.statement):
            return None
        model = self.models.kind(call.func, site.statement)
        if model.kind == "hf_other" or (model.qualified or "").startswith("torch."):
            return None  # torch.nn layers and losses are not models that take targets
        target = self.models.model_target(call, model)
        located = self.models.model_input(call, model)
        if target is None or located is None:
            return None
        target_expr, target_path = target
        input_expr, input_path = located
        input_window = self._window(input_expr, site.statement, input_path, calls)
        target_window = self._window(target_expr, site.statement, target_path, calls)
        if input_window is None or target_window is None:
            return None
        shift, steps = self.models.shift(model)
        alignment = None if input_window.masked else compare(input_window, target_window)
        return Objective(
            kind="model", node=call, statement=site.statement, model=model, input_expr=input_expr,
            target_expr=target_expr, input_window=input_window, target_window=target_window,
            prediction=input_window, alignment=alignment, shift=shift, shift_steps=steps, model_call=call,
            scope=site.scope, input_path=input_path, target_path=target_path,
        )

    def _trainer_objective(self, site: CallSite) -> Optional[Objective]:
        call = site.node
        model_expr = argument(call, 0, "model")
        dataset = keyword_arg(call, "train_dataset")
        if model_expr is None or dataset is None:
            return None
        model = self.models._kind_of_value(model_expr, site.statement, 0)
        if model.kind not in ("hf_causal", "module"):
            return None
        collator = keyword_arg(call, "data_collator")
        if collator is not None and self.windows._collator(collator, site.statement) != "identity":
            kind = self.windows._collator(collator, site.statement)
            if not isinstance(kind, Scope):
                return None
            returned = self.windows._returned(kind)
            if returned is None:
                return None
            value, at = returned
            input_window = self.windows.element(value, at, ("input_ids",))
            target_window = self.windows.element(value, at, ("labels",))
        else:
            input_window = self.windows.element(dataset, site.statement, (ITEM, "input_ids"))
            target_window = self.windows.element(dataset, site.statement, (ITEM, "labels"))
        if input_window is None or target_window is None:
            return None
        shift, steps = self.models.shift(model)
        alignment = None if input_window.masked else compare(input_window, target_window)
        return Objective(
            kind="trainer", node=call, statement=site.statement, model=model, input_expr=dataset,
            target_expr=dataset, input_window=input_window, target_window=target_window, prediction=input_window,
            alignment=alignment, shift=shift, shift_steps=steps, scope=site.scope,
        )

    def _window(self, expr, statement, path, calls=()) -> Optional[Window]:
        if path:
            return self.windows.element(expr, statement, path, calls)
        return self.windows.window(expr, statement, calls)

    # -- evidence ----------------------------------------------------------------------------------

    def scope_text(self, scope: Optional[Scope]) -> str:
        if scope is None:
            return ""
        return self.ctx.module.code_for_node(scope.node) if not scope.is_module else ""

    def next_token_task(self, objective: Objective) -> bool:
        """Whether the code shows a next-token (autoregressive) objective, not a masked-LM,
        autoencoder, denoising or tagging one, for a target at the input's own positions."""
        texts = [self.scope_text(objective.scope)]
        model = objective.model
        models = self.models.of(model)
        if model.info is not None:
            texts.append(models._class_text(model.info))
        if any(NOT_NEXT_TOKEN.search(text) for text in texts):
            return False
        if model.kind == "hf_causal":
            return True
        if model.kind == "module" and model.info is not None:
            if models.causal(model.info):
                return True
            text = _without_comments(models._class_text(model.info))
            if BIDIRECTIONAL.search(text) or (CONVOLUTION.search(text) and not CAUSAL_ATTENTION.search(text)):
                return False
            if CAUSAL_ATTENTION.search(_without_comments(self.scope_text(objective.scope))):
                return True  # the causal mask is made where the model is called
        elif objective.kind != "loss":
            return False
        # two windows cut separately from one sequence (not one value used twice)
        input_nodes = {id(step[1]) for step in objective.input_window.steps if len(step) > 1}
        own = [step for step in objective.target_window.steps if len(step) > 1 and id(step[1]) not in input_nodes]
        if own and (objective.input_window.spans or _is_view(objective.input_window)):
            return True
        if LM_NAME.search(model.name):
            return True
        return bool(GENERATION.search(self.ctx.source)) and not NOT_NEXT_TOKEN.search(self.ctx.source)


def _is_view(window: Window) -> bool:
    root = window.root
    return isinstance(root, tuple) and len(root) == 3 and root[0] == "view"
