"""Unit tests of the sequence-window facts: the normal form (`families/sequence/windows`), windows found in
code (`families/sequence/sequence_windows`), and token objectives and model kinds (`families/sequence/objectives`)."""

from __future__ import annotations

import libcst as cst
import pytest

from nnlint.families.sequence.objectives import LanguageModels, TokenObjectives, hf_kind
from nnlint.families.sequence.sequence_windows import SequenceWindows
from nnlint.families.sequence.windows import END, Affine, Span, Window, compare, render_window, view_root
from tests.helpers import FIXTURES, analysed, expected_findings, fixture_files

# -- the normal form ---------------------------------------------------------------------------------

i = Affine.symbol("i")
T = Affine.symbol("T")
end = Affine.end()


def test_affine_arithmetic_is_exact_and_canonical():
    assert (i + T.plus(1)) - (T + i) == Affine.constant(1)
    assert (i + T) == (T + i)
    assert (i + i).scale(3) == Affine.symbol("i").scale(6)
    assert (i - i).value == 0
    assert (end.plus(-1)).substitute(END, T.plus(1)) == T
    assert (i + T).value is None
    assert Affine.constant(-2).render() == "-2"
    assert (i + T.plus(1)).render() == "i + T + 1"
    assert (end - i).render() == "-i + end"


def test_slices_compose_in_the_window_coordinates():
    data = Window("data", "data")
    chunk = data.sliced(0, i, i + T.plus(1))  # chunk = data[i:i+T+1]
    x = chunk.sliced(0, Affine.constant(0), end.plus(-1))  # chunk[:-1]
    y = chunk.sliced(0, Affine.constant(1), end)  # chunk[1:]
    assert x.span(0) == Span(i, i + T)
    assert y.span(0) == Span(i.plus(1), i + T.plus(1))
    alignment = compare(x, y)
    assert alignment.axis == 0 and alignment.offset == Affine.constant(1) and alignment.length_difference.value == 0


@pytest.mark.parametrize(
    "input_window, target_window, offset, length",
    [
        # x = d[i:i+T]; y = d[i+1:i+1+T]
        ((0, i, i + T), (0, i.plus(1), i.plus(1) + T), 1, 0),
        # x = d[i:i+T]; y = d[i:i+T]
        ((0, i, i + T), (0, i, i + T), 0, 0),
        # x = d[i:i+T]; y = d[i+1:i+T]  (shorter)
        ((0, i, i + T), (0, i.plus(1), i + T), 1, -1),
        # x = d[i:i+T]; y = d[i+2:i+2+T]
        ((0, i, i + T), (0, i.plus(2), i.plus(2) + T), 2, 0),
        # inp = tok[:, 1:]; tgt = tok[:, :-1]  (target before input)
        ((1, Affine.constant(1), end), (1, Affine.constant(0), end.plus(-1)), -1, 0),
    ],
)
def test_windows_compare_exactly(input_window, target_window, offset, length):
    base = Window("d", "d")
    a = base.sliced(*input_window)
    b = base.sliced(*target_window)
    alignment = compare(a, b)
    if offset == 0 and length == 0:
        assert alignment.identical
    else:
        assert alignment.offset.value == offset
        assert alignment.length_difference.value == length


def test_different_roots_tags_or_two_axes_do_not_compare():
    a = Window("d", "d").sliced(0, i, i + T)
    assert compare(a, Window("e", "e").sliced(0, i.plus(1), i.plus(1) + T)) is None
    assert compare(a.shifted_axes(1, ("stack", "ix")), a.shifted_axes(1, ("stack", "iy"))) is None
    two = Window("d", "d").sliced(0, i, i + T).sliced(1, Affine.constant(1), end)
    assert compare(a, two.sliced(0, i.plus(1), i.plus(1) + T)) is None


def test_symbolic_offsets_stay_symbolic():
    # s[i:i+L] against s[i+L:i+L+H]: a forecast horizon, not a constant offset
    L, H = Affine.symbol("L"), Affine.symbol("H")
    alignment = compare(Window("s", "s").sliced(0, i, i + L), Window("s", "s").sliced(0, i + L, i + L + H))
    assert alignment.offset.value is None and alignment.length_difference.value is None


def test_axis_minus_one_and_axis_one_of_a_batch_are_the_same_axis():
    tok = Window("tok", "tok")
    x = tok.sliced(1, Affine.constant(0), end.plus(-1))  # tok[:, :-1]
    y = tok.sliced(-1, Affine.constant(1), end)  # tok[..., 1:]
    alignment = compare(x, y)
    assert alignment.axis == 1 and alignment.offset.value == 1 and alignment.length_difference.value == 0


def test_roll_wraps_and_slicing_removes_the_wrapped_position():
    x = Window("x", "x")
    y = x.rolled(1, -1)  # torch.roll(x, -1, dims=1)
    span = y.span(1)
    assert span.tail == "wrap" and span.reaches_outside() is True
    assert compare(x, y).offset.value == 1
    cut = y.sliced(1, Affine.constant(0), end.plus(-1))  # roll(...)[:, :-1]
    assert cut.span(1).reaches_outside() is False


def test_padding_keeps_the_length_and_marks_filler():
    ids = Window("ids", "ids")
    labels = ids.sliced(1, Affine.constant(1), end).padded(1, 0, 1)  # F.pad(ids[:, 1:], (0, 1))
    alignment = compare(ids, labels)
    assert alignment.offset.value == 1 and alignment.length_difference.value == 0
    assert alignment.target_span.tail == "pad"


def test_reshapes_of_flat_windows_compare_along_the_last_axis():
    buf = Window("buf", "buf")
    x = Window(view_root(buf.sliced(0, Affine.constant(0), end.plus(-1)), "B, T"), "buf")
    y = Window(view_root(buf.sliced(0, Affine.constant(1), end), "B, T"), "buf")
    alignment = compare(x, y)
    assert alignment.axis == -1 and alignment.offset.value == 1 and alignment.flat_axis == 0
    z = Window(view_root(buf.sliced(0, Affine.constant(1), end), "T, B"), "buf")
    assert compare(x, z) is None


def test_single_positions_compare_and_render():
    t = Affine.symbol("t")
    inp = Window("chunk", "chunk").sliced(0, Affine.constant(0), end.plus(-1)).selected(0, t)
    target = Window("chunk", "chunk").sliced(0, Affine.constant(1), end).selected(0, t)
    assert compare(inp, target).offset.value == 1
    assert render_window(inp) == "chunk[position t of axis 0]"


def test_render_in_the_bases_own_axes():
    stacked = Window("data", "data").sliced(0, i, i + T).shifted_axes(1, ("stack", "ix"))
    assert render_window(stacked) == "data[i:i + T]"
    assert render_window(Window("tok", "tok").sliced(1, Affine.constant(1), end)) == "tok[:, 1:end]"
    assert render_window(Window("ids", "ids").sliced(-1, Affine.constant(0), end.plus(-1))) == "ids[..., 0:end - 1]"


# -- windows in code -----------------------------------------------------------------------------------


def windows_of(source: str, *names: str, at: str = "use("):
    """The windows of `names` as the statement starting with `at` sees them."""
    ctx = analysed(source)
    statement = next(
        st for scope in ctx.index.scopes for st in scope.statements if ctx.code(st.node).startswith(at)
    )
    facts = ctx.fact(SequenceWindows)
    return [facts.window(cst.parse_expression(name), statement) for name in names]


def _name_at(ctx, statement, name):
    for site in statement.calls:
        for arg in site.node.args:
            if ctx.code(arg.value) == name:
                return arg.value
    raise AssertionError(name)


def windows_in_call(source: str, call_prefix: str):
    ctx = analysed(source)
    facts = ctx.fact(SequenceWindows)
    for site in ctx.index.call_sites.values():
        if ctx.code(site.node).startswith(call_prefix):
            return [facts.window(arg.value, site.statement) for arg in site.node.args]
    raise AssertionError(call_prefix)


def alignment_of(source: str, call_prefix: str = "use("):
    x, y = windows_in_call(source, call_prefix)[:2]
    return compare(x, y)


@pytest.mark.parametrize(
    "body, offset",
    [
        ("x = d[i:i+T]\n    y = d[i+1:i+1+T]", 1),
        ("x, y = buf[:-1], buf[1:]", 1),
        ("x = tok[:, :-1]\n    y = tok[:, 1:]", 1),
        ("x = tok[..., :-1]\n    y = tok[:, 1:]", 1),
        ("chunk = d[i:i + T + 1]\n    x = chunk[:-1]\n    y = d[i + 1:i + T + 1]", 1),
        ("x = d[i:i+T]\n    y = d[i:i+T]", 0),
        ("x = d[i:i+T]\n    y = x.clone()", 0),
        ("x = d[i:i+T]\n    y = d[i+2:i+2+T]", 2),
        ("x = seq[1:]\n    y = seq[:-1]", -1),
        (
            "x = torch.tensor(d[i:i+T], dtype=torch.long).cuda()\n"
            "    y = torch.from_numpy(d[i+1:i+1+T].astype(np.int64))",
            1,
        ),
    ],
)
def test_window_pairs_in_code(body, offset):
    source = f"import numpy as np\nimport torch\ndef f(d, buf, tok, seq, i, T):\n    {body}\n    use(x, y)\n"
    alignment = alignment_of(source)
    assert alignment is not None
    assert alignment.offset.value == offset
    assert alignment.length_difference.value == 0


def test_stacked_windows_over_the_same_indices():
    source = """
    import numpy as np
    import torch
    def get_batch(data, block):
        ix = torch.randint(len(data) - block, (8,))
        x = torch.stack([torch.from_numpy((data[i:i+block]).astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy((data[i+1:i+1+block]).astype(np.int64)) for i in ix])
        use(x, y)
    """
    alignment = alignment_of(source)
    assert alignment.axis == 1 and alignment.offset.value == 1


def test_stacks_over_different_indices_do_not_compare():
    source = """
    import torch
    def get_batch(data, block):
        ix = torch.randint(len(data) - block, (8,))
        iy = torch.randint(len(data) - block, (8,))
        x = torch.stack([data[i:i+block] for i in ix])
        y = torch.stack([data[i:i+block] for i in iy])
        use(x, y)
    """
    assert alignment_of(source) is None


def test_an_index_changed_between_the_windows_is_another_symbol():
    source = """
    def f(d, i, T):
        x = d[i:i+T]
        i = i + 1
        y = d[i:i+T]
        use(x, y)
    """
    alignment = alignment_of(source)
    # `i + 1` is expanded, so the windows are one apart, not identical
    assert alignment.offset.value == 1


def test_windows_of_different_sequences_do_not_compare():
    source = """
    def f(src, tgt, T):
        use(src[:, :T], tgt[:, 1:T + 1])
    """
    assert alignment_of(source) is None


def test_chunked_views():
    source = """
    import torch
    def chunks(tokens, B, T, pos):
        buf = tokens[pos:pos + B * T + 1]
        x = buf[:-1].view(B, T)
        y = buf[1:].view(B, T)
        use(x, y)
    """
    alignment = alignment_of(source)
    assert alignment.offset.value == 1 and alignment.flat_axis == 0


def test_dataset_getitem_through_a_loader():
    source = """
    import torch
    from torch.utils.data import DataLoader, Dataset
    class Chunks(Dataset):
        def __init__(self, data, block):
            self.data = data
            self.block = block
        def __getitem__(self, idx):
            chunk = self.data[idx:idx + self.block + 1]
            return chunk[:-1], chunk[1:]
    loader = DataLoader(Chunks(torch.arange(100), 8), batch_size=4)
    for x, y in loader:
        use(x, y)
    """
    alignment = alignment_of(source)
    assert alignment.axis == 1 and alignment.offset.value == 1  # collated: the sequence is axis 1


def test_helper_returning_a_pair_and_helper_arguments():
    source = """
    def get_batch(source, i, bptt):
        seq_len = min(bptt, len(source) - 1 - i)
        data = source[i:i + seq_len]
        target = source[i + 1:i + 1 + seq_len].view(-1)
        return data, target
    def train(corpus):
        for i in range(0, 100, 35):
            data, targets = get_batch(corpus, i, 35)
            use(data, targets)
    """
    alignment = alignment_of(source)
    assert alignment.offset.value == 1 and alignment.length_difference.value == 0


def test_roll_in_code():
    source = """
    import torch
    import numpy as np
    def f(x):
        use(x, torch.roll(x, shifts=-1, dims=1))
        use2(x, np.roll(x, -1))
    """
    alignment = alignment_of(source)
    assert alignment.offset.value == 1 and alignment.target_span.tail == "wrap"
    assert alignment_of(source, "use2(").target_span.reaches_outside() is True


def test_masking_the_input_breaks_identity_and_rewrites_are_opaque():
    source = """
    def f(ids, mask):
        labels = ids.clone()
        ids[mask] = 103
        use(ids, labels)
    """
    inputs, labels = windows_in_call(source, "use(")
    assert inputs.masked and not labels.masked
    source = """
    def f(ids):
        labels = ids.clone()
        labels[:, :-1] = ids[:, 1:]
        use(ids, labels)
    """
    inputs, labels = windows_in_call(source, "use(")
    assert compare(inputs, labels) is None


def test_padding_masks_on_labels_keep_positions():
    source = """
    import torch
    def f(batch, tokenizer):
        input_ids = batch["input_ids"]
        labels = input_ids.clone()
        labels[labels == tokenizer.pad_token_id] = -100
        use(input_ids, labels)
        use2(input_ids, torch.where(batch["attention_mask"] == 0, -100, input_ids))
    """
    inputs, labels = windows_in_call(source, "use(")
    assert labels.masked and compare(inputs, labels).identical
    assert compare(*windows_in_call(source, "use2(")).identical


def test_elementwise_maps_keep_positions():
    source = """
    import torch
    def f(text, stoi, i, T):
        chunk = text[i:i + T + 1]
        dix = [stoi[c] for c in chunk]
        use(torch.tensor(dix[:-1]), torch.tensor(dix[1:]))
    """
    alignment = alignment_of(source)
    assert alignment.offset.value == 1


# -- models and objectives -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "qualified, kind",
    [
        ("transformers.AutoModelForCausalLM.from_pretrained", "hf_causal"),
        ("transformers.GPT2LMHeadModel.from_pretrained", "hf_causal"),
        ("transformers.LlamaForCausalLM", "hf_causal"),
        ("transformers.XLNetLMHeadModel.from_pretrained", "hf_other"),
        ("transformers.BertForMaskedLM.from_pretrained", "hf_other"),
        ("transformers.T5ForConditionalGeneration.from_pretrained", "hf_other"),
        ("model.GPT", None),
    ],
)
def test_hugging_face_kinds(qualified, kind):
    assert hf_kind(qualified) == kind


def model_kind(source: str, call_prefix: str):
    ctx = analysed(source)
    models = ctx.fact(LanguageModels)
    for site in ctx.index.call_sites.values():
        if ctx.code(site.node).startswith(call_prefix):
            return models, models.kind(site.node.func, site.statement)
    raise AssertionError(call_prefix)


def test_model_kinds_through_wrappers_and_parameters():
    source = """
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM
    base = AutoModelForCausalLM.from_pretrained("gpt2")
    model = torch.compile(get_peft_model(base, cfg).to("cuda"))
    def train(model, batch):
        return model(input_ids=batch, labels=batch)
    train(model, None)
    """
    _, kind = model_kind(source, "model(input_ids")
    assert kind.kind == "hf_causal"


NANO = """
import torch
import torch.nn as nn
import torch.nn.functional as F
class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("bias", torch.tril(torch.ones(8, 8)))
        self.lm_head = nn.Linear(8, 8)
    def forward(self, idx, targets=None):
        logits = self.lm_head(idx)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss
class HFStyle(nn.Module):
    def __init__(self):
        super().__init__()
        self.lm_head = nn.Linear(8, 8)
        self.lstm = nn.LSTM(8, 8)
    def forward(self, input_ids, labels=None):
        logits = self.lm_head(input_ids)
        shift_logits = logits[..., :-1, :].contiguous()
        shift_labels = labels[..., 1:].contiguous()
        return F.cross_entropy(shift_logits.view(-1, 8), shift_labels.view(-1))
class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(8, 8, bidirectional=True)
    def forward(self, x):
        return self.rnn(x)[0]
a = GPT()
b = HFStyle()
c = Encoder()
a(1, 2)
b(1, 2)
c(1)
"""


def test_module_classes_are_inspected():
    models, gpt = model_kind(NANO, "a(")
    _, hf_style = model_kind(NANO, "b(")
    _, encoder = model_kind(NANO, "c(")
    assert gpt.kind == "module" and models.shift(gpt)[0] == 0 and models.causal(gpt.info)
    assert models.shift(hf_style)[0] == 1 and models.causal(hf_style.info)
    assert not models.causal(encoder.info)
    assert models.output_aligned(gpt.info) and not models.output_aligned(hf_style.info)


def objectives_of(source: str):
    ctx = analysed(source)
    objectives = ctx.fact(TokenObjectives)
    found = []
    for site in ctx.index.call_sites.values():
        found.extend(objectives.for_call(site.node))
    return ctx, found


def test_roles_input_into_the_model_target_into_the_loss():
    source = """
    import torch.nn.functional as F
    def step(model, tok):
        logits = model(tok[:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), tok[:, 1:].reshape(-1))
    """
    ctx, found = objectives_of(source)
    (objective,) = found
    assert objective.kind == "loss" and ctx.code(objective.input_expr) == "tok[:, :-1]"
    assert objective.alignment.offset.value == 1


def test_logit_slices_count_on_the_input_side():
    source = """
    import torch.nn.functional as F
    def step(model, ids):
        out = model(input_ids=ids)
        logits = out.logits[..., :-1, :]
        return F.cross_entropy(logits.reshape(-1, 50257), ids[..., 1:].reshape(-1))
    """
    _, found = objectives_of(source)
    (objective,) = found
    assert objective.alignment.offset.value == 1 and objective.alignment.length_difference.value == 0


def test_labels_given_to_a_causal_lm():
    source = """
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained("gpt2")
    def step(ids):
        return model(input_ids=ids[:, :-1], labels=ids[:, 1:]).loss
    """
    _, found = objectives_of(source)
    (objective,) = found
    assert objective.kind == "model" and objective.shift == 1 and objective.alignment.offset.value == 1


def test_the_sequence_family_has_enough_fixtures():
    sequence = [p for p in fixture_files() if p.parent == FIXTURES / "sequence"]
    for code in ("NNL401", "NNL402", "NNL403", "NNL404"):
        buggy = [p for p in sequence if any(found == code for _, found in expected_findings(p))]
        assert len(buggy) >= 4, code
    clean = [p for p in sequence if not expected_findings(p)]
    assert len(clean) >= 3


def test_trainer_items_through_map_select_and_a_conditional():
    source = """
    from transformers import AutoModelForCausalLM, Trainer, default_data_collator
    model = AutoModelForCausalLM.from_pretrained("gpt2")
    def group(examples):
        result = {k: [t[i:i + 128] for i in range(0, 1024, 128)] for k, t in examples.items()}
        result["labels"] = result["input_ids"].copy()
        return result
    blocks = raw.map(group, batched=True)
    train = blocks["train"].shuffle(seed=0).select(range(1000))
    Trainer(model=model, train_dataset=train if do_train else None, data_collator=default_data_collator)
    """
    _, found = objectives_of(source)
    (objective,) = found
    assert objective.kind == "trainer" and objective.shift == 1 and objective.alignment.identical


def test_popped_labels_are_the_same_key():
    source = """
    import torch.nn.functional as F
    def step(model, inputs):
        labels = inputs.pop("labels")
        logits = model(**inputs).logits
        return F.cross_entropy(logits.view(-1, 10), labels.view(-1))
    """
    _, found = objectives_of(source)
    (objective,) = found
    # input_ids and labels are different keys of an unknown batch: not comparable
    assert objective.alignment is None
