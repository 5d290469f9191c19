"""Probe for the setup family. NNL601-NNL603 are static only (their effect depends on the user's data
or is visible in the code itself); they have no probe.

NNL604: train a small model for 10 steps, accumulating the loss the way the flagged statement does
(a `+=` total, a list, a meter's running sum), and count the autograd nodes the accumulator keeps
reachable after 1 and after 10 steps, against accumulating `loss.item()`.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from nnlint.families.setup.contracts import LossAccumulatedInput
from nnlint.runtime.probe import Probe
from nnlint.runtime.vouch import Refused

STEPS = 10
FORMS = ("augassign", "assign", "append", "update")


def _reachable_nodes(tensors: List[Any]) -> int:
    seen = set()
    pending = [t.grad_fn for t in tensors if getattr(t, "grad_fn", None) is not None]
    while pending:
        node = pending.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        pending.extend(next_node for next_node, _ in node.next_functions)
    return len(seen)


class LossAccumulatedWithGraphProbe(Probe):
    code = "NNL604"
    input_type = LossAccumulatedInput

    def prepare(self, probe_input: LossAccumulatedInput) -> Dict[str, Any]:
        form = probe_input.form
        if form not in FORMS:
            raise Refused(f"unknown accumulation form {form!r}")
        return {"form": form, "accumulator": str(probe_input.accumulator or "the total")}

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        import torch
        import torch.nn.functional as F

        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        generator = torch.Generator().manual_seed(1)
        batches = [(torch.randn(4, 8, generator=generator), torch.randn(4, 1, generator=generator)) for _ in range(STEPS)]
        form = request["form"]

        def run(detach: bool) -> List[int]:
            total: Any = 0.0
            kept: List[Any] = []
            counts = []
            for x, y in batches:
                optimizer.zero_grad()
                loss = F.mse_loss(model(x), y)
                loss.backward()
                optimizer.step()
                value = loss.item() if detach else loss
                if form == "append":
                    kept.append(value)
                else:
                    total = total + value * (x.size(0) if form == "update" else 1)
                held = kept if form == "append" else [total]
                counts.append(_reachable_nodes([t for t in held if torch.is_tensor(t)]))
            return counts

        graph = run(False)
        plain = run(True)
        per_step = (graph[-1] - graph[0]) / (STEPS - 1)
        evidence = (
            f"after {STEPS} training steps {request['accumulator']} keeps {graph[-1]} autograd nodes reachable "
            f"(after 1 step: {graph[0]}; {per_step:.1f} more per step, so {STEPS} steps' graphs stay alive); "
            f"accumulating loss.item() keeps {plain[-1]}"
        )
        if graph[-1] > graph[0] and plain[-1] == 0:
            return "confirmed", evidence
        return "not-confirmed", evidence
