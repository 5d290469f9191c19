"""How nnlint's cost grows with the size of one file, and how soon --file-timeout abandons a file.

    python benchmarks/scaling.py [--sizes 5000 10000 20000 50000] [--limits 1 5] [--repeat 1]

Each size is one generated file of training code: the repository's single-file fixtures (models,
datasets, training loops, Lightning modules, HF trainers, buggy and clean) in a seeded random
order, concatenated until the file has that many lines, each copy's top-level functions,
classes and constants renamed with a suffix of its own so that no name is defined twice. Each run
is a fresh `nnlint -j 1 --no-cache` process with no time limit; shown are its wall time, and the
CPU time and peak resident memory of that process and its workers (getrusage; CPU time is the
steadier number on a busy machine). Then, for the largest file and each limit in --limits, how
long after the limit the file's result (NNL000) came from its worker process, and how long the
whole command line ran. This is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import ast
import json
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

# runs the command line in-process; reports its wall time, and the CPU time and peak memory of it and its workers
MEASURE = """
import json, resource, sys, time
from nnlint.cli import main
start = time.perf_counter()
try:
    main(sys.argv[1:])
except SystemExit:
    pass
elapsed = time.perf_counter() - start
usages = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
cpu = sum(usage.ru_utime + usage.ru_stime for usage in usages)
peak = max(usage.ru_maxrss for usage in usages)
print(json.dumps({"seconds": elapsed, "cpu": cpu, "peak_kb": peak}), file=sys.stderr)
"""

# lints one file in one worker process with a time limit, as the command line does; prints how
# long after the limit the result came and whether the file was abandoned (NNL000)
LIMIT = """
import sys, time
from nnlint.config import RuleSelection, Settings
from nnlint.parallel import Job, lint_jobs
path, limit = sys.argv[1], float(sys.argv[2])
job = Job(0, path, open(path, "rb").read(), RuleSelection(Settings()).enabled_codes(None), timeout=limit)
start = time.perf_counter()
[result] = lint_jobs([job], 1)
print(time.perf_counter() - start - limit, result.timed_out)
"""


def _top_level_names(tree: ast.Module) -> List[str]:
    names = []
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(statement.name)
        elif isinstance(statement, ast.Assign):
            names.extend(target.id for target in statement.targets if isinstance(target, ast.Name))
    return names


def _renamed(text: str, suffix: str) -> str:
    """The fixture with its own top-level names suffixed (imports and library names untouched)."""
    names = sorted(set(_top_level_names(ast.parse(text))), key=len, reverse=True)
    if not names:
        return text
    pattern = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, names)) + r")\b")
    return pattern.sub(lambda match: match.group(1) + suffix, text)


def training_code(lines: int) -> str:
    """At least `lines` lines of realistic training code, the same text for the same size."""
    fixtures = []
    for path in sorted(FIXTURES.glob("*/*.py")):
        text = path.read_text(encoding="utf-8")
        try:
            compile(text, str(path), "exec", dont_inherit=True)
        except SyntaxError:
            continue  # the fixtures of NNL000
        fixtures.append(text if text.endswith("\n") else text + "\n")
    # in a seeded random order, so that every size has the same mix of code (families, buggy and clean)
    random.Random(0).shuffle(fixtures)
    chunks: List[str] = []
    count = 0
    while count < lines:
        chunk = _renamed(fixtures[len(chunks) % len(fixtures)], f"_{len(chunks)}")
        chunks.append(chunk)
        count += chunk.count("\n")
    return "".join(chunks)


def measure(path: Path, *options: str) -> Dict[str, float]:
    command = [sys.executable, "-c", MEASURE, "--no-cache", "-j", "1", "--exit-zero", *options, str(path)]
    # run from the checkout: `python -c` imports the nnlint of its working directory first
    completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True, cwd=ROOT)
    record = json.loads(completed.stderr.strip().splitlines()[-1])
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB elsewhere
    findings = sum(1 for line in completed.stdout.splitlines() if ": NNL" in line)
    return {"seconds": record["seconds"], "cpu": record["cpu"], "peak_mb": record["peak_kb"] / scale, "findings": findings,
            "timed_out": "took longer than" in completed.stdout}


# the command line without and with project analysis, whose first pass (a summary of each module
# of the project) runs before any file's analysis and its limit start
RUNS = (("with --no-project", ("--no-project",)), ("with project analysis", ()))


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 10000, 20000, 50000])
    parser.add_argument("--limits", type=float, nargs="*", default=[1.0, 5.0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; the median time is shown")
    args = parser.parse_args(argv)
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {platform.platform()}")
    with tempfile.TemporaryDirectory() as folder:
        files = {}
        for size in args.sizes:
            # a folder each: a file's project (pass 1 of project analysis) is only itself
            files[size] = Path(folder) / str(size) / "train.py"
            files[size].parent.mkdir()
            files[size].write_text(training_code(size), encoding="utf-8")
        base: Optional[float] = None
        print(f"{'lines':>7} {'time':>9} {'CPU time':>9} {'CPU x smallest':>14} {'peak memory':>12} {'findings':>9}")
        for size, path in files.items():
            runs = [measure(path, "--file-timeout", "0") for _ in range(args.repeat)]
            seconds = statistics.median(run["seconds"] for run in runs)
            cpu = statistics.median(run["cpu"] for run in runs)
            base = base or cpu
            lines = path.read_text(encoding="utf-8").count("\n")
            peak = max(run["peak_mb"] for run in runs)
            print(f"{lines:>7} {seconds:>8.2f}s {cpu:>8.2f}s {cpu / base:>13.1f}x {peak:>9.0f} MB {runs[0]['findings']:>9}", flush=True)
        largest = files[max(files)]
        for limit in args.limits:
            late, timed_out = subprocess.run(
                [sys.executable, "-c", LIMIT, str(largest), str(limit)], stdout=subprocess.PIPE, text=True, check=True, cwd=ROOT
            ).stdout.split()
            outcome = f"NNL000 {float(late):.2f} s after the limit" if timed_out == "True" else "finished"
            runs = {label: measure(largest, "--file-timeout", f"{limit:g}", *options)["seconds"] for label, options in RUNS}
            whole = ", ".join(f"{seconds:.2f} s {label}" for label, seconds in runs.items())
            print(f"--file-timeout {limit:g} on {max(files)} lines: {outcome}; whole command line run {whole}", flush=True)


if __name__ == "__main__":
    main()
