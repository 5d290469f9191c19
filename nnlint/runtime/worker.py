"""The probe worker: a subprocess that imports torch once and answers probe requests.

Protocol: one JSON object per line on stdin ({"code": ..., "request": ...}); one JSON object per
line on stdout ({"status": ..., "evidence": ...}). The first line it prints is {"ready": true}.
"""

from __future__ import annotations

import json
import sys

from nnlint.runtime.probe import probes_by_code


def _answer(status: str, evidence: str) -> None:
    sys.stdout.write(json.dumps({"status": status, "evidence": evidence}) + "\n")
    sys.stdout.flush()


def main() -> None:
    import torch

    torch.set_num_threads(1)
    probes = probes_by_code()
    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        probe = probes.get(message["code"])
        if probe is None:
            _answer("inconclusive", f"no probe for {message['code']}")
            continue
        try:
            status, evidence = probe.evaluate(message["request"])
        except Exception as error:  # noqa: BLE001 - any failure of an experiment is inconclusive
            summary = str(error).strip().splitlines()[0] if str(error).strip() else ""
            status, evidence = "inconclusive", f"the probe raised {type(error).__name__}: {summary}"[:300]
        _answer(status, evidence)


if __name__ == "__main__":
    main()
