"""Unit tests of the training-step timeline, the training objects, and backward recognition, on
small snippets."""

from __future__ import annotations

import pytest

from nnlint.analysis.context import ModuleContext
from nnlint.analysis.objects import MODEL, OPTIMIZER, SCALER, SCHEDULER, TrainingObjects, related
from nnlint.analysis.timeline import TrainingTimelines
from nnlint.analysis.training import backward_call
from tests.helpers import analysed


def loop_timeline(ctx: ModuleContext, index: int = 0, scope_name: str = None):
    timelines = ctx.fact(TrainingTimelines)
    loops = [t for t in timelines.all() if t.kind == "loop" and (scope_name is None or t.scope.name == scope_name)]
    return loops[index]


def function_timeline(ctx: ModuleContext, name: str):
    timelines = ctx.fact(TrainingTimelines)
    return next(t for t in timelines.all() if t.kind == "function" and t.scope.name == name)


def summary(ctx, timeline, with_calls=False):
    return [(e.kind, ctx.code(e.node)) for e in timeline.events if with_calls or e.kind != "call"]


def event(ctx, timeline, text):
    found = [e for e in timeline.events if ctx.code(e.node) == text]
    assert found, f"no event {text!r} in {summary(ctx, timeline)}"
    return found[0]


PLAIN = """
import torch
import torch.nn.functional as F

model = torch.nn.Linear(4, 2)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 10)

for epoch in range(10):
    model.train()
    for x, y in loader:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    scheduler.step()
    model.eval()
"""


def test_plain_loop_events_in_execution_order_with_targets():
    ctx = analysed(PLAIN)
    inner = loop_timeline(ctx, 1)
    assert summary(ctx, inner) == [
        ("zero_grad", "optimizer.zero_grad(set_to_none=True)"),
        ("forward", "model(x)"),
        ("loss", "F.cross_entropy(model(x), y)"),
        ("backward", "loss.backward()"),
        ("clip", "torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)"),
        ("step", "optimizer.step()"),
    ]
    step = event(ctx, inner, "optimizer.step()")
    assert (step.target, step.target_kind, step.roots) == ("optimizer", OPTIMIZER, frozenset({"model"}))
    zero = event(ctx, inner, "optimizer.zero_grad(set_to_none=True)")
    assert zero.detail.set_to_none == "True"
    clip = event(ctx, inner, "torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)")
    assert clip.detail.api == "torch" and clip.detail.function == "norm" and clip.roots == frozenset({"model"})
    assert inner.is_training_step and inner.cyclic and not any(e.conditional for e in inner.events)


def test_epoch_loop_holds_the_nested_step_mode_switches_and_scheduler():
    ctx = analysed(PLAIN)
    outer = loop_timeline(ctx, 0)
    kinds = [kind for kind, _ in summary(ctx, outer)]
    assert kinds[0] == "mode" and kinds[-2:] == ["scheduler_step", "mode"]
    train, evaluate = outer.of("mode")
    assert train.detail.training is True and evaluate.detail.training is False
    assert train.target == evaluate.target == "model"
    scheduler = outer.of("scheduler_step")[0]
    assert scheduler.target == "scheduler" and scheduler.target_kind == SCHEDULER
    step = outer.of("step")[0]
    assert step.in_nested_loop and not step.conditional  # a nested loop is taken to run
    timelines = ctx.fact(TrainingTimelines)
    found = timelines.innermost(timelines.training_steps(), step.node)
    assert found is not None and found[0] is loop_timeline(ctx, 1)


ACCUMULATION = """
import torch

def train(model, loader, optimizer, scaler, accum_steps=4):
    for i, (x, y) in enumerate(loader):
        with torch.autocast("cuda"):
            loss = model(x, y) / accum_steps
        scaler.scale(loss).backward()
        if (i + 1) % accum_steps == 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_value_(model.parameters(), 0.5)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad()
        else:
            log("accumulating")
"""


def test_accumulation_condition_and_scaled_backward():
    ctx = analysed(ACCUMULATION)
    loop = loop_timeline(ctx)
    backward = event(ctx, loop, "scaler.scale(loss).backward()")
    assert backward.detail.form == "scaled" and backward.scaler == "scaler" and not backward.conditional
    step = event(ctx, loop, "scaler.step(optimizer)")
    assert (step.target, step.scaler, step.detail.via_scaler) == ("optimizer", "scaler", True)
    unscale = event(ctx, loop, "scaler.unscale_(optimizer)")
    assert unscale.kind == "unscale" and unscale.target == "optimizer"
    clip = event(ctx, loop, "torch.nn.utils.clip_grad_value_(model.parameters(), 0.5)")
    assert clip.detail.function == "value"
    (guard,) = step.conditions
    assert guard.branch == "if" and ctx.code(guard.test) == "(i + 1) % accum_steps == 0"
    # same branch: each runs whenever the other does; the backward runs whenever the step does
    assert clip.runs_whenever(step) and step.runs_whenever(clip) and backward.runs_whenever(step)
    assert not step.runs_whenever(backward)
    logged = next(e for e in loop.events if e.kind == "call" and e.detail.callee == "log")
    assert logged.conditions[0].branch == "else" and not logged.runs_whenever(step)


def test_loop_wraps_around_a_function_does_not():
    ctx = analysed(
        """
        def step_fn(model, batch, opt):
            loss = model(batch)
            loss.backward()
            opt.step()
            opt.zero_grad()

        for batch in loader:
            step_fn(model, batch, optimizer)
        """
    )
    function = function_timeline(ctx, "step_fn")
    first = function.events[0]
    assert [e.kind for e, _ in function.before(first)] == []
    loop = loop_timeline(ctx)
    first = loop.events[0]
    assert [(e.kind, wrapped) for e, wrapped in loop.before(first)][:1] == [("zero_grad", True)]


def test_helper_events_are_included_with_the_callers_names():
    ctx = analysed(
        """
        import torch

        def backward_and_step(loss, opt, net, clip=1.0):
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
            opt.step()

        def main(model, loader):
            optimizer = torch.optim.AdamW(model.parameters())
            for x in loader:
                optimizer.zero_grad()
                backward_and_step(model(x).mean(), optimizer, model)
        """
    )
    loop = loop_timeline(ctx, scope_name="main")
    assert [kind for kind, _ in summary(ctx, loop)] == ["zero_grad", "forward", "backward", "clip", "step"]
    step = loop.of("step")[0]
    assert step.target == "optimizer" and step.roots == frozenset({"model"})
    assert [ctx.code(site.node) for site in step.via] == ["backward_and_step(model(x).mean(), optimizer, model)"]
    assert step.anchor.node is step.via[0].statement.node
    assert loop.of("clip")[0].roots == frozenset({"model"})


def test_methods_of_a_trainer_class_and_of_an_instance_are_followed():
    ctx = analysed(
        """
        import torch

        class Trainer:
            def __init__(self, model):
                self.model = model
                self.optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
                self.scaler = torch.cuda.amp.GradScaler()

            def _backward(self, loss):
                self.scaler.scale(loss).backward()

            def _step(self):
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.optimizer.zero_grad()

            def train_epoch(self, loader):
                for batch in loader:
                    self._backward(self.model(batch))
                    self._step()

        trainer = Trainer(Net())
        for epoch in range(3):
            trainer.train_epoch(loader)
        """
    )
    inner = loop_timeline(ctx, scope_name="Trainer.train_epoch")
    assert [kind for kind, _ in summary(ctx, inner)] == ["forward", "backward", "step", "zero_grad"]
    step = inner.of("step")[0]
    assert step.target == "self.optimizer" and step.scaler == "self.scaler"
    outer = loop_timeline(ctx, scope_name="<module>")
    step = outer.of("step")[0]
    assert step.target == "trainer.optimizer" and len(step.via) == 2
    assert outer.of("backward")[0].detail.scaler_enabled is True


def test_lbfgs_closure_runs_inside_the_step_before_it():
    ctx = analysed(
        """
        import torch

        optimizer = torch.optim.LBFGS(model.parameters())
        for it in range(100):
            def closure():
                optimizer.zero_grad()
                loss = model(x).pow(2).mean()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                return loss
            optimizer.step(closure)
        """
    )
    loop = loop_timeline(ctx)
    assert [kind for kind, _ in summary(ctx, loop)] == ["zero_grad", "forward", "loss", "backward", "clip", "step"]
    step = loop.of("step")[0]
    assert step.detail.closure == "function"
    assert all(ctx.code(e.via[0].node) == "optimizer.step(closure)" for e in loop.events[:-1] if e.kind != "call")


def test_unknown_closure_is_marked():
    ctx = analysed("import torch\nopt = torch.optim.LBFGS(params)\nfor _ in range(3):\n    opt.step(make_closure())\n")
    assert loop_timeline(ctx).of("step")[0].detail.closure == "unknown"


def test_gradient_clearing_loops_are_one_zero_grad_event_at_the_loop():
    ctx = analysed(
        """
        import torch

        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for x in loader:
            for p in model.parameters():
                p.grad = None
            for group in opt.param_groups:
                for param in group["params"]:
                    if param.grad is not None:
                        param.grad.detach_()
                        param.grad.zero_()
            for q in model.parameters():
                q.grad.data.mul_(0.5)
            model(x).sum().backward()
            opt.step()
        """
    )
    loop = loop_timeline(ctx)
    zeros = loop.of("zero_grad")
    assert [ctx.code(z.node).split(":")[0] for z in zeros] == ["for p in model.parameters()", "for group in opt.param_groups"]
    assert zeros[0].roots == frozenset({"model"}) and zeros[1].roots == frozenset({"optimizer:opt"})
    assert not any(z.conditional for z in zeros)
    (write,) = loop.of("grad_write")
    assert write.roots == frozenset({"model"})


def test_optimizer_and_scheduler_steps_are_told_apart_from_other_steps():
    ctx = analysed(
        """
        import torch
        from transformers import get_linear_schedule_with_warmup

        optimizer = torch.optim.AdamW(model.parameters())
        lr_scheduler = get_linear_schedule_with_warmup(optimizer, 10, 100)
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
        for obs in env_loop:
            obs, reward, done, info = env.step(action)
            loss.backward()
            optimizer.step()
            lr_scheduler.step()
            plateau.step(val_loss)
        """
    )
    loop = loop_timeline(ctx)
    assert [kind for kind, _ in summary(ctx, loop)] == ["backward", "step", "scheduler_step", "scheduler_step"]
    assert loop.of("scheduler_step")[1].detail.arguments == 1


def test_accelerate_and_fabric_forms():
    ctx = analysed(
        """
        import torch
        from accelerate import Accelerator

        accelerator = Accelerator()
        optimizer = torch.optim.AdamW(model.parameters())
        model, optimizer = accelerator.prepare(model, optimizer)
        for batch in loader:
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                optimizer.zero_grad()
        """
    )
    loop = loop_timeline(ctx)
    assert [kind for kind, _ in summary(ctx, loop)] == ["forward", "loss", "backward", "clip", "step", "zero_grad"]
    assert loop.of("backward")[0].detail.form == "framework"
    clip = loop.of("clip")[0]
    assert clip.detail.api == "accelerate" and clip.conditional
    step = loop.of("step")[0]
    assert step.roots == frozenset({"model"}) and step.identity is not None  # through prepare()


def test_gan_optimizers_are_told_apart():
    ctx = analysed(
        """
        import torch

        netG, netD = Generator(), Discriminator()
        optG = torch.optim.Adam(netG.parameters())
        optD = torch.optim.Adam(netD.parameters())
        for real in loader:
            netD.zero_grad()
            errD = netD(real).mean() - netD(netG(z).detach()).mean()
            errD.backward()
            optD.step()
            netG.zero_grad()
            errG = -netD(netG(z)).mean()
            errG.backward()
            netD.zero_grad()
            optG.step()
        """
    )
    loop = loop_timeline(ctx)
    step_d, step_g = loop.of("step")
    zero_d1, zero_g, zero_d2 = loop.of("zero_grad")
    assert loop.single_optimizer() is None and loop.optimizers() == frozenset({"optD", "optG"})
    assert loop.concerns(zero_d2, step_g) is False and loop.concerns(zero_g, step_g) is True
    assert loop.concerns(zero_d1, step_d) is True


def test_same_object_through_self_attributes_and_identity():
    ctx = analysed(
        """
        import torch

        class Trainer:
            def __init__(self, diffusion_model):
                self.model = diffusion_model
                self.opt = torch.optim.Adam(diffusion_model.parameters())

            def train(self):
                for batch in self.loader:
                    self.model(batch).backward()
                    self.model.zero_grad()
                    self.opt.step()

        trainer = Trainer(Unet())
        """
    )
    loop = loop_timeline(ctx)
    zero, step = loop.of("zero_grad")[0], loop.of("step")[0]
    assert step.roots == frozenset({"diffusion_model"}) and zero.roots == frozenset({"self.model"})
    assert loop.concerns(zero, step) is True  # the same Unet() behind both names


def test_unrelated_names_in_different_scopes_are_unknown_not_different():
    ctx = analysed(
        """
        import torch

        def build(net):
            return torch.optim.SGD(net.parameters(), lr=0.1)

        def train(model, opt, other):
            for x in loader:
                model(x).sum().backward()
                other.zero_grad()
                opt.step()
                opt2.step()
        """
    )
    loop = loop_timeline(ctx)
    zero, step = loop.of("zero_grad")[0], loop.of("step")[0]
    assert loop.concerns(zero, step) is None


def test_guards_for_else_except_and_loop_else():
    ctx = analysed(
        """
        for x in loader:
            if use_amp:
                scaler.scale(loss).backward()
            else:
                loss.backward()
            try:
                optimizer.step()
            except RuntimeError:
                optimizer.zero_grad()
            for micro in range(4):
                pass
            else:
                scheduler.step()
        """
    )
    loop = loop_timeline(ctx)
    scaled, plain = loop.of("backward")
    assert scaled.conditions[0].branch == "if" and plain.conditions[0].branch == "else"
    assert scaled.conditions[0].node is plain.conditions[0].node
    assert not loop.of("step")[0].conditional  # a try body runs
    assert loop.of("zero_grad")[0].conditions[0].branch == "except"
    assert loop.of("scheduler_step")[0].conditions[0].branch == "loop-else"


def test_lightning_manual_optimization():
    ctx = analysed(
        """
        import lightning.pytorch as pl

        class GAN(pl.LightningModule):
            def forward(self, z):
                return self.generator(z)

            def training_step(self, batch, batch_idx):
                opt_g, opt_d = self.optimizers()
                opt_g.zero_grad()
                loss = self(batch).mean()
                self.manual_backward(loss)
                self.clip_gradients(opt_g, gradient_clip_val=0.5)
                opt_g.step()
        """
    )
    step = function_timeline(ctx, "GAN.training_step")
    assert [kind for kind, _ in summary(ctx, step)] == ["zero_grad", "forward", "loss", "backward", "clip", "step"]
    assert step.of("backward")[0].detail.form == "manual"
    clip = step.of("clip")[0]
    assert clip.detail.api == "lightning" and clip.roots == frozenset({"optimizer:opt_g"})
    assert step.concerns(clip, step.of("step")[0]) is True


@pytest.mark.parametrize(
    "text, form, value",
    [
        ("loss.backward()", "tensor", "loss"),
        ("(loss / 4).backward(create_graph=True)", "tensor", "(loss / 4)"),
        ("scaler.scale(loss).backward()", "scaled", "loss"),
        ("accelerator.backward(loss)", "framework", "loss"),
        ("self.fabric.backward(loss * 2)", "framework", "loss * 2"),
        ("model_engine.backward(loss)", "framework", "loss"),
        ("self.manual_backward(loss)", "manual", "loss"),
        ("torch.autograd.backward(loss)", "autograd", "loss"),
        ("torch.autograd.grad(loss, params)", "grad", "loss"),
        ("y.backward(torch.ones_like(y))", "tensor", "y"),
    ],
)
def test_backward_forms(text, form, value):
    ctx = analysed(f"import torch\n{text}\n")
    call = ctx.index.module_scope.statements[-1].node.value
    found = backward_call(ctx, call)
    assert found is not None and found.form == form and ctx.code(found.value) == value
    assert found.fills_grad is (form != "grad")


@pytest.mark.parametrize(
    "definition, name, kind",
    [
        ("opt = torch.optim.SGD(params, lr=0.1)", "opt", OPTIMIZER),
        ("optimizer = create_optimizer_v2(model, 'adamw')", "optimizer", OPTIMIZER),
        ("optimizer = model.configure_optimizers(0.1, 6e-4)", "optimizer", OPTIMIZER),
        ("s = torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, 100)", "s", SCHEDULER),
        ("sched = get_cosine_schedule_with_warmup(opt, 10, 100)", "sched", SCHEDULER),
        ("sc = torch.amp.GradScaler('cuda')", "sc", SCALER),
        ("net = torch.nn.Linear(2, 2)", "net", MODEL),
        ("model = torchvision.models.resnet18().to(device)", "model", MODEL),
        ("x = helper()", "optimizer_G", OPTIMIZER),
        ("x = helper()", "lr_scheduler", SCHEDULER),
        ("x = helper()", "grad_scaler", SCALER),
        ("x = helper()", "netD", MODEL),
        ("x = helper()", "opt", OPTIMIZER),
        ("x = helper()", "opts", None),
        ("x = helper()", "options", None),
    ],
)
def test_object_kinds(definition, name, kind):
    ctx = analysed(f"import torch\nimport torchvision\n{definition}\nuse({name})\n")
    statement = ctx.index.module_scope.statements[-1]
    expr = statement.node.value.args[0].value
    assert ctx.fact(TrainingObjects).kind(expr, statement) == kind


def test_optimizer_roots_of_parameter_groups_and_filters():
    ctx = analysed(
        """
        import torch
        decay = [p for n, p in model.named_parameters() if "bias" not in n]
        groups = [{"params": decay, "weight_decay": 0.1}, {"params": model.head.parameters()}]
        opt = torch.optim.AdamW(groups)
        opt2 = torch.optim.SGD(filter(lambda p: p.requires_grad, backbone.parameters()), lr=0.1)
        opt3 = torch.optim.SGD(params, lr=0.1)
        use(opt, opt2, opt3)
        """
    )
    objects = ctx.fact(TrainingObjects)
    statement = ctx.index.module_scope.statements[-1]
    opt, opt2, opt3 = (arg.value for arg in statement.node.value.args)
    assert objects.optimizer_roots(opt, statement) == frozenset({"model", "model.head"})
    assert objects.optimizer_roots(opt2, statement) == frozenset({"backbone"})
    assert objects.optimizer_roots(opt3, statement) is None
    assert related("model", "model.head") and not related("model", "model2")


def test_scaler_enabled():
    ctx = analysed(
        """
        import torch
        a = torch.cuda.amp.GradScaler(enabled=False)
        b = torch.cuda.amp.GradScaler(enabled=args.amp)
        use(a, b, c)
        """
    )
    objects = ctx.fact(TrainingObjects)
    statement = ctx.index.module_scope.statements[-1]
    a, b, c = (arg.value for arg in statement.node.value.args)
    assert objects.scaler_enabled(a, statement) is False
    assert objects.scaler_enabled(b, statement) is True
    assert objects.scaler_enabled(c, statement) is None


def test_execution_order_within_one_statement():
    ctx = analysed("import torch\nfor x in loader:\n    criterion(model(x), y).backward()\n    optimizer.step()\n")
    assert [kind for kind, _ in summary(ctx, loop_timeline(ctx))] == ["forward", "backward", "step"]


EPOCH_LOOP = """
import torch

def train_one_epoch(model, loader, optimizer, criterion):
    model.train()
    for x, y in loader:
        optimizer.zero_grad()
        criterion(model(x), y).backward()
        optimizer.step()

@torch.no_grad()
def evaluate(model, loader):
    model.eval()
    with torch.no_grad():
        return [model(x) for x, _ in loader]

def main(model, train_loader, val_loader, criterion):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 30)
    for epoch in range(90):
        scheduler.step()
        train_one_epoch(model, train_loader, optimizer, criterion)
        evaluate(model, val_loader)
"""


def test_epoch_loop_with_training_and_validation_helpers():
    """What the train/eval and scheduler-order rules read: the epoch loop holds the scheduler step,
    the training helper's model.train() and step, and the validation helper's model.eval(), in order,
    each with the call site it comes through and its `with` contexts."""
    ctx = analysed(EPOCH_LOOP)
    epoch = loop_timeline(ctx, scope_name="main")
    kinds = [(e.kind, ctx.code(e.via[0].node).split("(")[0] if e.via else "") for e in epoch.events if e.kind != "call"]
    assert kinds == [
        ("scheduler_step", ""),
        ("mode", "train_one_epoch"),
        ("zero_grad", "train_one_epoch"),
        ("forward", "train_one_epoch"),
        ("backward", "train_one_epoch"),
        ("step", "train_one_epoch"),
        ("mode", "evaluate"),
        ("forward", "evaluate"),
    ]
    train, evaluate = epoch.of("mode")
    assert (train.target, train.detail.training) == ("model", True)
    assert (evaluate.target, evaluate.detail.training) == ("model", False)
    validation_forward = epoch.of("forward")[-1]
    assert [ctx.code(w.items[0].item) for w in validation_forward.contexts] == ["torch.no_grad()"]
    scheduler, step = epoch.of("scheduler_step")[0], epoch.of("step")[0]
    assert epoch.position(scheduler) < epoch.position(step)
    assert step.in_nested_loop and step.via and not step.conditional


def test_path_views_decide_ifs_with_the_same_test_alike():
    ctx = analysed(
        """
        import torch
        for x in loader:
            if scaler is not None:
                scaler.scale(loss).backward()
            else:
                loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if scaler is not None:
                scaler.step(optimizer)
            else:
                optimizer.step()
            if not_finite:
                optimizer.zero_grad()
        """
    )
    loop = loop_timeline(ctx)
    clip = loop.of("clip")[0]
    views = loop.paths(clip)
    assert len(views) == 4  # two decisions: the scaler (twice the same test) and not_finite
    seen = set()
    for view, view_clip in views:
        assert view_clip.node is clip.node
        assert all(set(e.conditions) <= set(view_clip.conditions) for e in view.events)
        backward = view.of("backward")[0]
        step = view.of("step")[0]
        seen.add((backward.detail.form, bool(step.detail.via_scaler)))
    assert seen == {("scaled", True), ("tensor", False)}  # never the mixed, impossible paths
    # the clip's own condition stays in every view
    assert all(view_clip.conditional for _, view_clip in views)


def test_generators_and_context_managers_are_not_inlined():
    ctx = analysed(
        """
        from contextlib import contextmanager

        @contextmanager
        def stepping(opt):
            opt.zero_grad()
            yield
            opt.step()

        for x in loader:
            with stepping(optimizer):
                model(x).sum().backward()
        """
    )
    loop = loop_timeline(ctx)
    assert [e.kind for e in loop.events if e.kind != "call"] == ["forward", "backward"]
    assert loop.events[0].kind == "call" and loop.events[0].detail.callee == "stepping"
    assert not loop.is_training_step
