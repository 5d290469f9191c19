"""Many files: read them, reuse cached results, lint the rest in worker processes (`-j N`), and
return the results in the order of the files. One file is linted by ``nnlint.engine``.

Each file is one task. A worker that dies (a crash inside a parser, say) breaks the pool; the
files it left unfinished are then linted one by one in fresh single-worker pools, so the file that
crashes is named in an internal error and every other file is still reported. Nothing waits on a
dead process.
"""

from __future__ import annotations

import io
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

from nnlint.analysis.project_values import ProjectValues
from nnlint.cache import ResultCache
from nnlint.discovery import SourceFile
from nnlint.catalogue import INTERNAL_ERROR
from nnlint.engine import (
    DEFAULT_FILE_TIMEOUT,
    SourceError,
    cache_key_content,
    cannot_analyse,
    decode_source,
    internal_error,
    lint_bytes,
    split_lines,
)
from nnlint.finding import FileResult, Finding
from nnlint.project import ProjectIndex, Projects


@dataclass(frozen=True)
class Job:
    index: int
    path: str
    data: bytes
    enabled: FrozenSet[str]
    cache_key: Optional[str] = None
    timeout: Optional[float] = None
    # project analysis: (the file's key, the module records it can reach, display names)
    project: Optional[Tuple[str, Dict[str, Any], Dict[str, str]]] = None


def available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def lint_job(job: Job) -> FileResult:
    project = ProjectValues(*job.project) if job.project is not None else None
    return lint_bytes(job.path, job.data, job.enabled, timeout=job.timeout, project=project)


def _context():
    # fork is fast and inherits the imported checks; elsewhere spawn re-imports them
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _crashed(job: Job) -> FileResult:
    crash = internal_error(job.path, "the worker process linting this file", "no traceback: the process died")
    return FileResult(
        job.path,
        findings=[crash] if INTERNAL_ERROR.code in job.enabled else [],
        internal_errors=[f"{job.path}: the worker process linting it died (no traceback: the process is gone)"],
    )


def _isolated(job: Job) -> FileResult:
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=_context()) as pool:
            return pool.submit(lint_job, job).result()
    except BrokenProcessPool:
        return _crashed(job)


def lint_jobs(jobs: List[Job], workers: int) -> List[FileResult]:
    """Results in the order of `jobs`."""
    if workers <= 1 or len(jobs) <= 1:
        return [lint_job(job) for job in jobs]
    done: Dict[int, FileResult] = {}
    futures: Dict[int, Future] = {}
    try:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=_context()) as pool:
            # biggest files first, so that no large file starts last and leaves the other workers idle
            for job in sorted(jobs, key=lambda job: len(job.data), reverse=True):
                futures[job.index] = pool.submit(lint_job, job)
            for job in jobs:
                done[job.index] = futures[job.index].result()
    except BrokenProcessPool:
        for index, future in futures.items():
            if index not in done and future.done() and not future.cancelled() and future.exception() is None:
                done[index] = future.result()
        for job in jobs:
            if job.index not in done:
                done[job.index] = _isolated(job)
    return [done[job.index] for job in jobs]


def read_source(source: SourceFile, stdin: Optional[io.BufferedIOBase] = None) -> bytes:
    if source.path is None:
        assert stdin is not None
        return stdin.read()
    return source.path.read_bytes()


BATCH = 512  # files read and linted together; bounds the memory held for their bytes


def lint_files(
    sources: Sequence[SourceFile],
    enabled_for: Callable[[SourceFile], FrozenSet[str]],
    stdin: Optional[io.BufferedIOBase] = None,
    jobs: int = 1,
    cache: Optional[ResultCache] = None,
    timeout: Optional[float] = DEFAULT_FILE_TIMEOUT,
    projects: Optional[Projects] = None,
) -> List[FileResult]:
    """Lint every file; results in the order of `sources`. One file that cannot be read never
    stops the others. Cached results are reused; the rest run in `jobs` processes.

    With `projects` (project analysis), every module of the linted files' projects is first
    summarised (pass 1), and each file is checked with the summaries of the modules it reaches
    (pass 2); its cached result is keyed on their contents too. A finding whose fix goes into
    another file is listed under that file."""
    index = None
    displays: Dict[str, str] = {}
    if projects is not None:
        index = ProjectIndex(projects, cache)
        for source in sources:
            if source.path is not None:
                index.add(source.path)
                displays[str(source.path.resolve())] = source.display

    results: List[Optional[FileResult]] = [None] * len(sources)
    for start in range(0, len(sources), BATCH):
        pending: List[Job] = []
        for position in range(start, min(start + BATCH, len(sources))):
            source = sources[position]
            enabled = enabled_for(source)
            try:
                data = read_source(source, stdin)
            except OSError as error:
                reason = error.strerror or str(error)
                results[position] = cannot_analyse(source.display, enabled, f"cannot read: {reason}")
                continue
            project = index.input_for(source.path) if index is not None and source.path is not None else None
            content = cache_key_content(source.display, data)
            key = cache.key(content, enabled, project[2] if project else "") if cache is not None else None
            cached = cache.load(key, source.display, data) if cache is not None and key else None
            if cached is not None:
                results[position] = cached
            else:
                given = (project[0], project[1], displays) if project is not None else None
                pending.append(Job(position, source.display, data, enabled, key, timeout, given))
        for job, result in zip(pending, lint_jobs(pending, jobs)):
            results[job.index] = result
            if cache is not None and job.cache_key:
                cache.store(job.cache_key, result)
    done = [result for result in results if result is not None]
    return _findings_where_they_are(done) if index is not None else done


def _findings_where_they_are(results: List[FileResult]) -> List[FileResult]:
    """Move findings reported in another file of the project to that file's result (a new one,
    after the others, when that file was not linted); the same finding found from two files is
    listed once."""
    by_path = {result.path: result for result in results}
    extra: Dict[str, FileResult] = {}
    every = [finding for result in results for finding in result.findings]
    for result in results:
        result.findings = []
    seen = set()
    for finding in every:
        identity = (finding.path, finding.line, finding.column, finding.code, finding.message)
        if identity in seen:
            continue
        seen.add(identity)
        owner = by_path.get(finding.path) or extra.get(finding.path)
        if owner is None:
            owner = extra[finding.path] = FileResult(finding.path)
        owner.findings.append(finding)
    for result in list(by_path.values()) + list(extra.values()):
        result.findings.sort(key=Finding.sort_key)
        if result.findings and not result.lines:
            try:
                result.lines = split_lines(decode_source(Path(result.path).read_bytes()))
            except (OSError, SourceError):
                pass
    return results + [extra[path] for path in sorted(extra)]
