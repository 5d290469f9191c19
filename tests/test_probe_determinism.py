"""--confirm evidence is reproducible: every probe runs from generators seeded with PROBE_SEED, so
the same finding gives the same evidence, whichever probes ran before it and in whichever worker.

Set NNLINT_DEEP=1 to run every probe's experiment 200 times in a row.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Tuple

import pytest

pytest.importorskip("torch")
pytest.importorskip("torchvision")

from nnlint.runtime.probe import probes_by_code  # noqa: E402
from nnlint.runtime.runner import ProbeRunner  # noqa: E402
from nnlint.runtime.vouch import Refused  # noqa: E402
from tests.helpers import fixture_files, lint  # noqa: E402

DEEP = os.environ.get("NNLINT_DEEP") == "1"
DEEP_RUNS = 200
# the first NNL202 fixture, depth_separate_pipelines.py, crops 352x1216 and needs seconds per run
PREFERRED = {"NNL202": "seg_same_transform_twice.py"}


def one_request_per_probe() -> List[Tuple[str, str, Dict[str, Any]]]:
    """(code, fixture name, request) for the first fixture finding each probe can evaluate (or the
    PREFERRED fixture)."""
    probes = probes_by_code()
    chosen: Dict[str, Tuple[str, str, Dict[str, Any]]] = {}
    for path in fixture_files():
        for finding in lint(path.read_text(encoding="utf-8"), path=str(path)):
            if finding.code in chosen or finding.code not in probes or finding.probe_input is None:
                continue
            if PREFERRED.get(finding.code, path.name) != path.name:
                continue
            try:
                probe = probes[finding.code]
                request = probe.prepare(probe.input_type.from_record(finding.probe_input))
            except Refused:
                continue
            chosen[finding.code] = (finding.code, path.name, request)
    return [chosen[code] for code in sorted(chosen)]


@pytest.fixture(scope="module")
def requests():
    found = one_request_per_probe()
    assert {"NNL201", "NNL202", "NNL204", "NNL302", "NNL501"} <= {code for code, _, _ in found}
    return found


def test_each_probe_gives_the_same_evidence_in_any_order_and_any_worker(requests):
    with ProbeRunner(timeout=120) as runner:
        forward = {name + code: runner.run(code, request) for code, name, request in requests}
    # a second worker, the requests in reverse order: another process, other probes before each
    with ProbeRunner(timeout=120) as runner:
        backward = {name + code: runner.run(code, request) for code, name, request in reversed(requests)}
    assert backward == forward


@pytest.mark.skipif(not DEEP, reason="set NNLINT_DEEP=1 to run each probe 200 times")
def test_every_probe_gives_the_same_evidence_200_times_in_a_row(requests):
    with ProbeRunner(timeout=120) as runner:
        first = {name + code: runner.run(code, request) for code, name, request in requests}
        for _ in range(DEEP_RUNS - 1):
            for code, name, request in requests:
                assert runner.run(code, request) == first[name + code], f"{code} on {name}"
