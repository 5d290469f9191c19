"""Runtime probes: one per confirmable rule, in each family's ``probe.py``.

A probe declares `input_type`, the `ProbeInput` its check builds (in the family's contracts.py),
and has two halves. `prepare` runs in nnlint's own process, never imports torch, and turns that
input into a request, vouching for every fragment it will evaluate (see `nnlint.runtime.vouch`);
it raises `Refused` when it cannot. `run`
runs in the worker subprocess, imports torch, evaluates the request on synthetic tensors and
returns a status and evidence in numbers.

Every experiment starts from the same random state: the worker calls `evaluate`, which seeds
Python's `random`, numpy's global generator and torch with `PROBE_SEED` before `run`, so the same
request gives the same evidence, whichever probes ran before it in the same worker.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from functools import lru_cache
from typing import Any, ClassVar, Dict, Tuple, Type

import nnlint.families as families_package
from nnlint.contracts import ProbeInput

#: the seed of every generator a probe (or a library it calls) may draw from; documented in the README
PROBE_SEED = 0


def seed_generators(seed: int = PROBE_SEED) -> None:
    """Seed random, numpy (when installed) and torch: the generators random transforms draw from."""
    import random

    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy
    except ImportError:
        return
    numpy.random.seed(seed)


class Probe:
    #: the rule code this probe confirms
    code: ClassVar[str] = ""
    #: what the rule's check hands it
    input_type: ClassVar[Type[ProbeInput]] = ProbeInput

    def prepare(self, probe_input: Any) -> Dict[str, Any]:
        """The request for the worker, from an `input_type` instance."""
        raise NotImplementedError

    def run(self, request: Dict[str, Any]) -> Tuple[str, str]:
        """(status, evidence) with status one of confirmed, not-confirmed, inconclusive."""
        raise NotImplementedError

    def evaluate(self, request: Dict[str, Any]) -> Tuple[str, str]:
        """`run` from the seeded state: what the worker calls."""
        seed_generators()
        return self.run(request)


@lru_cache(maxsize=None)
def probes_by_code() -> Dict[str, Probe]:
    # Probe modules are imported here only, by the runtime: static mode never loads them.
    found: Dict[str, Probe] = {}
    for family in sorted(pkgutil.iter_modules(families_package.__path__), key=lambda m: m.name):
        name = f"{families_package.__name__}.{family.name}.probe"
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Probe) and value.code and value.__module__ == module.__name__:
                found[value.code] = value()
    return found
