"""Many files: project analysis's pass 1, the result cache, and the worker pool (`nnlint.parallel`),
with the results in the order of the files. One file is linted by ``nnlint.engine``; a file that
cannot be read is reported as NNL000 and never stops the others.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, Dict, FrozenSet, List, Optional, Sequence

from nnlint.cache import ResultCache
from nnlint.discovery import SourceFile
from nnlint.engine import DEFAULT_FILE_TIMEOUT, SourceError, cache_key_content, cannot_analyse, decode_source, split_lines
from nnlint.finding import FileResult, Finding
from nnlint.parallel import Job, lint_jobs, process_map
from nnlint.project import ProjectIndex, Projects


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
        index = ProjectIndex(projects, cache, lambda function, modules: process_map(function, modules, jobs))
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
