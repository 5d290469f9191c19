"""--confirm with real torch: the NNL101 probe confirms buggy code, refuses to run user code, and
the runner survives probes that hang or raise."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("torch")

from nnlint.finding import ConfirmationStatus  # noqa: E402
from nnlint.runtime import confirm_finding  # noqa: E402
from nnlint.runtime.runner import ProbeFailed, ProbeRunner  # noqa: E402
from nnlint.runtime.vouch import Refused, vouch_expression  # noqa: E402
from tests.helpers import FIXTURES, expected_findings, lint, run_cli  # noqa: E402
from tests.test_cli import write  # noqa: E402

LOSS_FIXTURES = sorted(
    path.name
    for path in (FIXTURES / "loss").glob("*.py")
    if any(code == "NNL101" for _, code in expected_findings(path))
)


@pytest.fixture(scope="module")
def runner():
    with ProbeRunner(timeout=60) as probe_runner:
        yield probe_runner


@pytest.mark.parametrize("name", LOSS_FIXTURES)
def test_probe_confirms_every_buggy_fixture(runner, name):
    path = FIXTURES / "loss" / name
    findings = [f for f in lint(path.read_text(), path=str(path)) if f.code == "NNL101"]
    assert findings
    for finding in findings:
        confirmation = confirm_finding(finding, runner)
        assert confirmation.status is ConfirmationStatus.CONFIRMED, confirmation.evidence
        assert "got exactly zero gradient" in confirmation.evidence


def test_evidence_numbers_for_a_per_sample_cap(runner):
    path = FIXTURES / "loss" / "helper_returns_capped.py"
    confirmation = confirm_finding(lint(path.read_text())[0], runner)
    # losses spread evenly over [0, 2 * 6.0]: about half exceed the cap
    assert "synthetic per-sample losses straddling the bound 6 " in confirmation.evidence
    zeroed = int(confirmation.evidence.split(" of 64")[0])
    assert 20 <= zeroed <= 44


def test_unresolved_bound_uses_a_representative_value_and_says_so(runner):
    source = (FIXTURES / "loss" / "where_mirror_fabric.py").read_text()
    confirmation = confirm_finding(lint(source)[0], runner)
    assert confirmation.status is ConfirmationStatus.CONFIRMED
    assert confirmation.evidence.startswith("cap is only known when the script runs")


CAP_FROM_USER_CODE = """\
import pathlib

import torch
import torch.nn.functional as F


def compute_cap():
    pathlib.Path("{marker}").write_text("the probe ran user code")
    return 5.0


LOSS_CAP = compute_cap()


def train(model, loader, opt):
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        loss = torch.clamp(loss, max=LOSS_CAP)
        loss.backward()
        opt.step()
        opt.zero_grad()
"""


def test_user_code_is_never_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "marker.txt"
    write(tmp_path / "train.py", CAP_FROM_USER_CODE.format(marker=marker))
    result = run_cli(["--confirm", "--format", "json", "train.py"])
    record = json.loads(result.stdout)[0]
    assert record["code"] == "NNL101"
    assert record["confirmation"]["status"] == "inconclusive"
    assert "compute_cap" in record["confirmation"]["evidence"]
    assert not marker.exists()


def test_text_output_carries_the_confirmation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli(["--confirm", str(FIXTURES / "loss" / "plain_loop_args_cap.py")])
    assert result.exit_code == 1
    assert result.stdout.rstrip().endswith("that of the uncapped loss]")
    assert "[confirmed: " in result.stdout


def test_confirm_without_torch_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("nnlint.runtime.runtime_available", lambda: False)
    result = run_cli(["--confirm", str(FIXTURES / "loss")])
    assert result.exit_code == 2
    assert result.stderr.strip() == 'nnlint: --confirm needs PyTorch: pip install "nnlint[runtime]"'


@pytest.mark.parametrize(
    "source, names, refused",
    [
        # the name itself is the user's: said once ("get_cap needs get_cap" was the old wording)
        ("compute_cap()", {"compute_cap": {"kind": "user", "reason": "defined here"}}, "compute_cap is defined in your code"),
        ("cfg.cap", {"cfg": {"kind": "user", "reason": "defined here"}}, "cfg.cap needs cfg, which is defined in your code"),
        ("torch.load('x.pt')", {"torch.load": {"kind": "import", "qualified": "torch.load"}}, "outside the process"),
        ("os.system('x')", {"os.system": {"kind": "import", "qualified": "os.system"}}, "not a library"),
        ("open('x')", {"open": {"kind": "import", "qualified": "builtins.open"}}, "open"),
        ("x.__class__", {"x": {"kind": "value", "source": "1"}}, "private attribute"),
        ("(lambda: 1)()", {}, "lambda"),
        ("torch.tensor(5.0).save('x')", {"torch.tensor": {"kind": "import", "qualified": "torch.tensor"}}, ".save()"),
    ],
)
def test_vouching_refuses_what_it_cannot_vouch_for(source, names, refused):
    with pytest.raises(Refused, match=refused.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        vouch_expression(source, names)


def test_vouching_resolves_constants_and_qualifies_library_names():
    names = {
        "CAP": {"kind": "value", "source": "BASE * 2"},
        "BASE": {"kind": "value", "source": "th.tensor(2.5)"},
        "th.tensor": {"kind": "import", "qualified": "torch.tensor"},
    }
    assert vouch_expression("CAP", names).source == "torch.tensor(2.5) * 2"


def test_runner_kills_a_hanging_worker_and_recovers(monkeypatch):
    probe_runner = ProbeRunner(timeout=1.0)
    monkeypatch.setattr(
        "nnlint.runtime.runner.WORKER_COMMAND",
        ["-c", "import json,sys,time; print(json.dumps({'ready': True}), flush=True); time.sleep(60)"],
    )
    started = time.monotonic()
    with pytest.raises(ProbeFailed, match="timed out after 1 s"):
        probe_runner.run("NNL101", {})
    assert time.monotonic() - started < 10
    assert probe_runner._process is None  # the process group was killed and reaped
