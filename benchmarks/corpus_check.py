"""Lint thousands of real Python files and require zero internal errors and zero tracebacks.

    python benchmarks/corpus_check.py [--sample N] [--triggers] [PACKAGE_OR_FOLDER ...]

By default it lints every .py file of the installed torch, torchvision, libcst, hypothesis, flake8
and click packages with every rule enabled and triggers off (so every check runs on every file).
--sample N lints a deterministic sample of N files (what CI runs); the full run is for local use.
Exit code 0 when clean, 1 otherwise; problems are listed.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
import time
import traceback
from pathlib import Path
from typing import List, Optional, Sequence

from nnlint.engine import lint_bytes
from nnlint.catalogue import all_rules

DEFAULT_PACKAGES = ("torch", "torchvision", "libcst", "hypothesis", "flake8", "click")


def package_folder(name: str) -> Optional[Path]:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def corpus_files(targets: Sequence[str]) -> List[Path]:
    files: List[Path] = []
    for target in targets:
        folder = Path(target) if Path(target).exists() else package_folder(target)
        if folder is None:
            print(f"skipping {target}: not installed", file=sys.stderr)
            continue
        files.extend(sorted(folder.rglob("*.py")))
    return files


def check(files: Sequence[Path], use_triggers: bool) -> int:
    enabled = frozenset(all_rules())
    problems = 0
    findings = 0
    lines = 0
    started = time.perf_counter()
    for path in files:
        data = path.read_bytes()
        lines += data.count(b"\n")
        try:
            result = lint_bytes(str(path), data, enabled, use_triggers=use_triggers, timeout=None)
        except Exception:  # noqa: BLE001 - this is what the script hunts for
            problems += 1
            print(f"TRACEBACK on {path}:\n{traceback.format_exc()}")
            continue
        for error in result.internal_errors:
            problems += 1
            print(error)
        findings += len(result.findings)
    elapsed = time.perf_counter() - started
    print(f"{len(files)} files, {lines} lines, {findings} findings, {problems} internal errors or tracebacks, {elapsed:.1f} s")
    return problems


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", default=list(DEFAULT_PACKAGES))
    parser.add_argument("--sample", type=int, help="lint a deterministic sample of this many files")
    parser.add_argument("--triggers", action="store_true", help="skip files as a normal run does")
    args = parser.parse_args(argv)
    files = corpus_files(args.targets)
    if args.sample is not None and args.sample < len(files):
        files = sorted(random.Random(0).sample(files, args.sample))
    return 1 if check(files, args.triggers) else 0


if __name__ == "__main__":
    sys.exit(main())
