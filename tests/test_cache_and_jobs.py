"""The result cache and parallel jobs never change findings."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from nnlint.batch import lint_files
from nnlint.cache import ResultCache
from nnlint.catalogue import all_rules
from nnlint.discovery import SourceFile
from nnlint.engine import lint_bytes
from nnlint.parallel import Job, lint_jobs
from tests.helpers import FIXTURES, fixture_files, run_cli
from tests.test_cli import CAPPED, write

ENABLED = frozenset(all_rules())


def sources():
    return [SourceFile(str(path), path) for path in fixture_files()]


def as_tuples(results):
    return [
        (f.path, f.cell, f.line, f.column, f.end_line, f.end_column, f.code, f.message, f.file_line)
        for r in results for f in r.findings
    ]


def test_jobs_and_cache_give_identical_findings_on_every_fixture(tmp_path):
    serial = lint_files(sources(), lambda s: ENABLED, jobs=1)
    parallel = lint_files(sources(), lambda s: ENABLED, jobs=2)
    cache = ResultCache(tmp_path / "cache")
    cold = lint_files(sources(), lambda s: ENABLED, jobs=2, cache=cache)
    warm = lint_files(sources(), lambda s: ENABLED, jobs=2, cache=cache)
    assert as_tuples(serial) == as_tuples(parallel) == as_tuples(cold) == as_tuples(warm)
    assert [r.path for r in warm] == [str(p) for p in fixture_files()]
    assert all(r.lines or r.cells or not r.findings for r in warm)  # --show-source still works from the cache
    assert as_tuples(serial)  # the comparison is not vacuous


def test_cli_output_is_identical_across_jobs_and_cache(tmp_path):
    outputs = []
    for args in (["-j", "1", "--no-cache"], ["-j", "2", "--no-cache"], ["-j", "2", "--cache-dir", str(tmp_path)],
                 ["-j", "1", "--cache-dir", str(tmp_path)]):
        result = run_cli([*args, "--show-source", str(FIXTURES)])
        outputs.append((result.exit_code, result.stdout))
    assert len(set(outputs)) == 1 and outputs[0][0] == 1


def test_cache_folder_is_tagged_and_ignored_by_git(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "train.py", CAPPED)
    run_cli(["train.py"])
    cache = tmp_path / ".nnlint_cache"
    assert (cache / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert (cache / ".gitignore").read_text().splitlines()[-1] == "*"
    assert list((cache / "results").rglob("*.json"))


def test_cache_dir_option_and_environment_variable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "train.py", CAPPED)
    run_cli(["--cache-dir", "custom", "train.py"])
    assert (tmp_path / "custom" / "CACHEDIR.TAG").exists()
    monkeypatch.setenv("NNLINT_CACHE_DIR", str(tmp_path / "from-env"))
    run_cli(["train.py"])
    assert (tmp_path / "from-env" / "CACHEDIR.TAG").exists()
    run_cli(["--no-cache", "--cache-dir", "unused", "train.py"])
    assert not (tmp_path / "unused").exists()


def test_cache_key_depends_on_content_rules_and_build(tmp_path):
    cache = ResultCache(tmp_path)
    key = cache.key(b"x = 1\n", ENABLED)
    assert key == cache.key(b"x = 1\n", ENABLED)
    assert key != cache.key(b"x = 2\n", ENABLED)
    assert key != cache.key(b"x = 1\n", frozenset({"NNL000"}))
    assert key != ResultCache(tmp_path, options="other").key(b"x = 1\n", ENABLED)


@pytest.mark.parametrize("damage", ["garbage{", '{"format": 1, "key": "wrong", "findings": []}', '{"format": 99}', ""])
def test_corrupt_entries_are_ignored_and_rewritten(tmp_path, damage):
    cache = ResultCache(tmp_path)
    data = CAPPED.encode()
    source = [SourceFile("train.py", None)]
    key = cache.key(data, ENABLED)

    class Stdin:
        def __init__(self):
            self.data = data

        def read(self):
            return self.data

    first = lint_files(source, lambda s: ENABLED, stdin=Stdin(), cache=cache)
    entry = next((tmp_path / "results").rglob(f"{key}.json"))
    entry.write_text(damage)
    again = lint_files(source, lambda s: ENABLED, stdin=Stdin(), cache=cache)
    assert as_tuples(again) == as_tuples(first) and as_tuples(first)
    assert json.loads(entry.read_text())["key"] == key


def test_unwritable_cache_is_not_an_error(tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    cache = ResultCache(blocked / "cache")
    assert not cache.usable
    results = lint_files(sources()[:3], lambda s: ENABLED, cache=cache)
    assert len(results) == 3


def dying_lint_job(job):
    """Kills its worker process on crash.py (module level, so the pool can pickle it)."""
    if job.path == "crash.py":
        os._exit(3)
    return lint_bytes(job.path, job.data, job.enabled)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to crash a worker on purpose")
def test_a_dying_worker_is_an_internal_error_naming_the_file(monkeypatch):
    import nnlint.parallel as parallel

    monkeypatch.setattr(parallel, "lint_job", dying_lint_job)
    jobs = [Job(i, name, CAPPED.encode(), ENABLED) for i, name in enumerate(["a.py", "crash.py", "b.py", "c.py"])]
    results = lint_jobs(jobs, workers=2)
    assert [r.path for r in results] == ["a.py", "crash.py", "b.py", "c.py"]
    crashed = results[1]
    assert [(f.code, f.line, f.column) for f in crashed.findings] == [("NNL001", 1, 1)]
    assert crashed.findings[0].short_message == (
        "internal error: the worker process linting this file crashed (no traceback: the process died); please report"
    )
    assert crashed.internal_errors == ["crash.py: the worker process linting it died (no traceback: the process is gone)"]
    assert all(r.findings and not r.internal_errors for i, r in enumerate(results) if i != 1)


def stuck_lint_job(job):
    """Never finishes stuck.py: it waits inside a C call with SIGTERM ignored, where the engine's own
    deadline is never looked at (module level, so a worker can run it)."""
    if job.path == "stuck.py":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            time.sleep(60)
    return lint_bytes(job.path, job.data, job.enabled, timeout=job.timeout)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to hand a stuck job to a worker")
@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_past_its_time_limit_is_abandoned_and_the_others_are_linted(monkeypatch, workers):
    import nnlint.parallel as parallel

    monkeypatch.setattr(parallel, "lint_job", stuck_lint_job)
    names = ["a.py", "stuck.py", "b.py", "c.py"]
    # only the stuck file has a short limit, so how fast the machine is never decides the others
    jobs = [Job(i, name, CAPPED.encode(), ENABLED, timeout=0.1 if name == "stuck.py" else None) for i, name in enumerate(names)]
    results = lint_jobs(jobs, workers=workers)
    assert [r.path for r in results] == names
    stuck = results[1]
    assert [(f.code, f.line, f.message) for f in stuck.findings] == [
        ("NNL000", 1, "skipped: analysing this file took longer than 0.1 s (--file-timeout)")
    ]
    assert stuck.timed_out and not stuck.internal_errors
    assert all([f.code for f in r.findings] == ["NNL101"] and not r.internal_errors for i, r in enumerate(results) if i != 1)


def stuck_on(name: str, monkeypatch) -> None:
    """Make the engine hang on the file called `name` (in a C call, where no deadline is looked at)."""
    import nnlint.engine as engine

    real_lint_text = engine.lint_text

    def lint_text_stuck_on_one_file(path, *args, **kwargs):
        if path.endswith(name):
            while True:
                time.sleep(60)
        return real_lint_text(path, *args, **kwargs)

    monkeypatch.setattr(engine, "lint_text", lint_text_stuck_on_one_file)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to hand a stuck file to a worker")
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_cli_reports_a_stuck_file_as_nnl000_and_lints_the_rest(tmp_path, monkeypatch, jobs):
    stuck_on("stuck.py", monkeypatch)
    monkeypatch.chdir(tmp_path)
    for name in ("a.py", "stuck.py", "z.py"):
        write(tmp_path / name, CAPPED)
    # a generous limit: the two other files need a small fraction of it
    result = run_cli(["--no-cache", "-j", jobs, "--file-timeout", "2", "a.py", "stuck.py", "z.py"])
    assert result.exit_code == 1
    assert [(line.split(":")[0], line.split()[1]) for line in result.stdout.splitlines()] == [
        ("a.py", "NNL101"), ("stuck.py", "NNL000"), ("z.py", "NNL101")
    ]
    stuck = result.stdout.splitlines()[1]
    assert stuck.startswith("stuck.py:1:1: NNL000 ")
    assert stuck.endswith(" skipped: analysing this file took longer than 2 s (--file-timeout)")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork to hand a stuck file to a worker")
def test_an_abandoned_file_is_linted_again_on_the_next_run_not_served_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "train.py", CAPPED)
    with monkeypatch.context() as patch:
        stuck_on("train.py", patch)
        first = run_cli(["-j", "1", "--file-timeout", "1", "--cache-dir", "cache", "train.py"])
    assert [line.split()[1] for line in first.stdout.splitlines()] == ["NNL000"]
    again = run_cli(["-j", "1", "--cache-dir", "cache", "train.py"])
    assert [line.split()[1] for line in again.stdout.splitlines()] == ["NNL101"]
