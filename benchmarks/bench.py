"""Speed and memory of nnlint at repository scale, against LibCST's floors and TorchFix.

    python benchmarks/bench.py CORPUS_DIR... [--repeat 3] [--jobs N] [--torchfix PATH]

For the same files (those nnlint discovers under the given folders) it measures, each as the
median of --repeat runs: LibCST parse-only time, nnlint cold with one job and with N jobs (no
cache), nnlint warm (cache filled, nothing changed), the peak memory of a one-job run on a
5,000-line file, and TorchFix's single-process time when a `torchfix` executable is given (install
it in a separate virtualenv: `python -m venv tf && tf/bin/pip install torchfix`). It prints the
ratios the project's speed goals are stated in. This is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import libcst as cst

from nnlint.discovery import discover
from nnlint.parallel import available_cores

MEMORY_FILE_LINES = 5000


def median_time(action: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_nnlint(args: Sequence[str]) -> None:
    subprocess.run([sys.executable, "-m", "nnlint", "--exit-zero", *args], stdout=subprocess.DEVNULL, check=True)


def relint_edited(corpus: Path, repeat: int) -> float:
    """Warm cache over a copy of one corpus folder, then one of its files edited and linted alone
    (what pre-commit or an editor does): its project is read from the cache."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / corpus.name
        shutil.copytree(corpus, copy, symlinks=True)
        (copy / ".git").mkdir(exist_ok=True)  # the copy is its own project root
        cache = str(Path(folder) / "cache")
        run_nnlint(["--cache-dir", cache, str(copy)])
        sources, _ = discover([str(copy)], [])
        edited = max((s.path for s in sources if s.path is not None), key=lambda p: p.stat().st_size)
        times = []
        for round_ in range(repeat):
            edited.write_text(edited.read_text(encoding="utf-8", errors="replace") + f"\n# edit {round_}\n", encoding="utf-8")
            times.append(median_time(lambda: run_nnlint(["--cache-dir", cache, str(edited)]), 1))
        return sorted(times)[len(times) // 2]


def parse_only(files: Sequence[Path]) -> None:
    for path in files:
        try:
            cst.parse_module(path.read_bytes())
        except Exception:  # noqa: BLE001 - the floor counts what LibCST can parse
            pass


def memory_file(files: Sequence[Path], folder: Path) -> Path:
    """A 5,000-line training-code file built from corpus files that mention backward()."""
    chunks: List[str] = []
    lines = 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        if "backward" not in text:
            continue
        try:
            compile(text, str(path), "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            continue
        chunks.append(text if text.endswith("\n") else text + "\n")
        lines += text.count("\n")
        if lines >= MEMORY_FILE_LINES:
            break
    target = folder / "five_thousand_lines.py"
    target.write_text("".join(chunks), encoding="utf-8")
    return target


def peak_memory_mb(path: Path) -> float:
    code = (
        "import resource, sys\n"
        "from nnlint.cli import main\n"
        "try:\n"
        f"    main(['--no-cache', '-j', '1', '--exit-zero', {str(path)!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    kilobytes = int(completed.stderr.strip().splitlines()[-1])
    return kilobytes / 1024 if sys.platform != "darwin" else kilobytes / 1024 / 1024


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="+", help="folders of real training code")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=available_cores())
    parser.add_argument("--torchfix", help="path of a torchfix executable (in its own virtualenv)")
    parser.add_argument("--torchfix-repeat", type=int, default=1, help="runs of TorchFix (it is slow; default 1)")
    args = parser.parse_args(argv)

    sources, missing = discover(args.corpus, [])
    if missing:
        parser.error("; ".join(missing))
    files = [source.path for source in sources if source.path is not None]
    lines = sum(path.read_bytes().count(b"\n") for path in files)
    print(f"machine: {platform.machine()}, {available_cores()} cores, Python {platform.python_version()}, {platform.platform()}")
    print(f"corpus: {len(files)} files, {lines} lines in {len(args.corpus)} folders; median of {args.repeat} runs")

    results = {}
    results["libcst parse only"] = median_time(lambda: parse_only(files), args.repeat)
    results["nnlint cold -j 1"] = median_time(lambda: run_nnlint(["--no-cache", "-j", "1", *args.corpus]), args.repeat)
    results["nnlint cold -j 1 --no-project"] = median_time(
        lambda: run_nnlint(["--no-cache", "--no-project", "-j", "1", *args.corpus]), args.repeat
    )
    results[f"nnlint cold -j {args.jobs}"] = median_time(
        lambda: run_nnlint(["--no-cache", "-j", str(args.jobs), *args.corpus]), args.repeat
    )
    with tempfile.TemporaryDirectory() as cache:
        run_nnlint(["--cache-dir", cache, *args.corpus])
        results["nnlint warm (cache)"] = median_time(lambda: run_nnlint(["--cache-dir", cache, *args.corpus]), args.repeat)
    results["re-lint one edited file"] = relint_edited(Path(args.corpus[0]), args.repeat)
    if args.torchfix:
        torchfix = shutil.which(args.torchfix) or args.torchfix
        results["torchfix"] = median_time(
            lambda: subprocess.run(
                [torchfix, "-j", "1", "--select", "ALL", *args.corpus], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            ),
            args.torchfix_repeat,
        )
    with tempfile.TemporaryDirectory() as folder:
        memory = peak_memory_mb(memory_file(files, Path(folder)))

    for name, seconds in results.items():
        print(f"  {name:<24} {seconds:8.2f} s")
    print(f"  {'peak memory, 5k-line file':<24} {memory:8.0f} MB")
    cold = results["nnlint cold -j 1"]
    print("ratios (goal in brackets):")
    if "torchfix" in results:
        print(f"  cold -j 1 / torchfix        {cold / results['torchfix']:.3f}   [<= 0.25]")
    print(f"  cold -j 1 / libcst parse    {cold / results['libcst parse only']:.3f}   [<= 3]")
    print(f"  speed-up of -j {args.jobs}           {cold / results[f'nnlint cold -j {args.jobs}']:.2f}x  [>= 1.7 on 2 cores]")
    print(f"  warm / cold                 {results['nnlint warm (cache)'] / cold:.3f}   [<= 0.05]")
    print(f"  cold -j 1 --no-project / libcst parse {results['nnlint cold -j 1 --no-project'] / results['libcst parse only']:.3f}")
    print(f"  re-lint one edited file     {results['re-lint one edited file']:.2f} s  [< 1.5 s]")
    print(f"  peak memory                 {memory:.0f} MB  [< 300]")


if __name__ == "__main__":
    main()
