"""The worker pool of `nnlint.batch`: files linted in worker processes (`-j N`), each under a hard
time limit, in a deterministic order.

Each file is one task, sent over a pipe to one of N worker processes. The engine's own deadline,
checked at safe points, usually stops a slow file itself; when it cannot (a long run inside
LibCST's native parser, a loop that reaches no check), the parent kills the worker KILL_GRACE
seconds after the file's limit, reports the file as NNL000 and starts a fresh worker for the files
left. A worker that dies on its own (a crash inside a parser) names its file in an internal error.
Either way every other file is still reported, and nothing waits on a dead process.

Without a time limit and with one job, files are linted in this process.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Deque, Dict, FrozenSet, List, Optional, Tuple

from nnlint.analysis.project_values import ProjectValues
from nnlint.catalogue import INTERNAL_ERROR
from nnlint.engine import internal_error, lint_bytes, timed_out_result
from nnlint.finding import FileResult

#: how long after a file's limit its worker is killed, if the engine has not given up by itself
KILL_GRACE = 0.5


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


# below this many items, starting worker processes costs more than it saves
PROCESS_MAP_FROM = 16


def process_map(function: Callable[[Any], Any], items: List[Any], workers: int) -> List[Any]:
    """`[function(item) for item in items]`, spread over worker processes when there are many
    (project analysis's pass 1: summaries of the modules the cache does not have)."""
    if workers <= 1 or len(items) < PROCESS_MAP_FROM:
        return [function(item) for item in items]
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
        return list(pool.map(function, items, chunksize=max(1, len(items) // (4 * workers))))


def _serve(connection: Connection) -> None:
    """A worker's life: lint each job it receives and send back the result."""
    while True:
        try:
            job = connection.recv()
        except EOFError:
            return
        connection.send(lint_job(job))


def _crashed(job: Job) -> FileResult:
    crash = internal_error(job.path, "the worker process linting this file", "no traceback: the process died")
    return FileResult(
        job.path,
        findings=[crash] if INTERNAL_ERROR.code in job.enabled else [],
        internal_errors=[f"{job.path}: the worker process linting it died (no traceback: the process is gone)"],
    )


class _Worker:
    def __init__(self, context) -> None:
        self.connection, child_end = context.Pipe()
        self.process = context.Process(target=_serve, args=(child_end,), daemon=True)
        self.process.start()
        child_end.close()  # the worker's death then reads as end-of-file here
        self.job: Optional[Job] = None
        self.kill_at: Optional[float] = None

    def start(self, job: Job) -> None:
        self.job = job
        self.kill_at = time.monotonic() + job.timeout + KILL_GRACE if job.timeout else None
        try:
            self.connection.send(job)
        except OSError:
            pass  # the worker is dead: its end-of-file reports the job as crashed

    def stop(self) -> None:
        self.connection.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join()


def _answer(worker: _Worker, now: float) -> Optional[FileResult]:
    """The result of the worker's file if it has one now; stops a worker that died or is overdue."""
    job = worker.job
    assert job is not None
    if worker.connection.poll():
        try:
            return worker.connection.recv()
        except (EOFError, OSError):
            worker.stop()
            return _crashed(job)
    if worker.kill_at is not None and now >= worker.kill_at:
        worker.stop()
        assert job.timeout is not None
        return timed_out_result(job.path, job.enabled, job.timeout)
    return None


def lint_jobs(jobs: List[Job], workers: int) -> List[FileResult]:
    """Results in the order of `jobs`."""
    if workers <= 1 and all(job.timeout is None for job in jobs):
        return [lint_job(job) for job in jobs]
    context = _context()
    capacity = min(max(workers, 1), len(jobs))
    # biggest files first, so that no large file starts last and leaves the other workers idle
    waiting: Deque[Job] = deque(sorted(jobs, key=lambda job: len(job.data), reverse=True))
    done: Dict[int, FileResult] = {}
    busy: List[_Worker] = []
    idle: List[_Worker] = []
    try:
        while waiting or busy:
            while waiting and len(busy) < capacity:
                worker = idle.pop() if idle else _Worker(context)
                worker.start(waiting.popleft())
                busy.append(worker)
            kill_times = [worker.kill_at for worker in busy if worker.kill_at is not None]
            next_kill = max(0.0, min(kill_times) - time.monotonic()) if kill_times else None
            wait([worker.connection for worker in busy], timeout=next_kill)
            now = time.monotonic()
            for worker in list(busy):
                result = _answer(worker, now)
                if result is None:
                    continue
                done[worker.job.index] = result
                busy.remove(worker)
                if worker.process.is_alive():
                    idle.append(worker)
    finally:
        for worker in busy + idle:
            worker.stop()
    return [done[job.index] for job in jobs]
