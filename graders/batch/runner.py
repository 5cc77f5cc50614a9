"""A batch: grade many submissions, record each result as it finishes, resume what is done.

``grade_all`` hands one job per submission to an executor: by default a thread pool of
``run.settings.workers`` on this machine (each job launches its own sandboxed workers), or a
``graders.batch.cluster.DaskExecutor`` that grades on a Dask cluster. Each finished
``SubmissionResult`` is appended to ``OUT/results.jsonl`` by ``ResultStore`` at once, in the order
the jobs finish, so a crash loses nothing and a re-run skips what is stored (by ``fingerprint``).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, cast

from graders.batch.keys import fingerprint, resume_key  # noqa: F401 - the batch's resume rule
from graders.grading.pipeline import grade_submission
from graders.batch.store import ResultStore  # noqa: F401 - the batch's store

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from concurrent.futures import Executor, Future

    from graders.grading.pipeline import Run
    from graders.intake.discover import Submission
    from graders.results import SubmissionResult


# Memory one submission in flight takes (its sandboxed worker and forked item children, plus its
# share of the grader), measured by bench/bench_grading.py; the default worker count keeps to it.
MEMORY_PER_WORKER_MB = 1024


def default_workers(cores: int | None = None, memory_mb: int | None = None) -> int:
    """Submissions graded at once by default: one per core (each uses one: torch runs one thread
    in the sandbox), fewer where the memory (less 1 GiB for the grader) would not hold them."""
    import os
    cores = cores or os.cpu_count() or 1
    if memory_mb is None:
        try:
            memory_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
        except (ValueError, OSError, AttributeError):
            memory_mb = cores * MEMORY_PER_WORKER_MB + 1024
    return max(1, min(cores, (memory_mb - 1024) // MEMORY_PER_WORKER_MB))


def grade_one(run: Run, sub: Submission) -> SubmissionResult:
    """``grade_submission`` with the wall time it took in ``result.info.timings["submission"]`` (s)."""
    started = time.perf_counter()
    result = grade_submission(run, sub)
    timings = result.info.timings
    timings["submission"] = round(time.perf_counter() - started, 3)
    return result


def _submitter(run: Run, executor: Executor) -> Callable[[Submission], Future[SubmissionResult]]:
    """``submit(sub) -> Future[SubmissionResult]`` for ``executor``.

    An executor that grades elsewhere (``graders.batch.cluster.DaskExecutor``) says how with its own
    ``submit_submission``; any other ``concurrent.futures.Executor`` runs ``grade_one(run, sub)``.
    """
    remote = getattr(executor, "submit_submission", None)
    return remote if remote is not None else (lambda sub: executor.submit(grade_one, run, sub))


def grade_all(run: Run, submissions: Sequence[Submission], store: ResultStore | None = None,
              progress: Callable[[SubmissionResult], object] | None = None, fresh: bool = False,
              executor: Executor | None = None) -> list[SubmissionResult]:
    """Grade ``submissions``; returns their results in the order of ``submissions``.

    Stored results are reused unless ``fresh``. The others go to ``executor`` one job each (by
    default a thread pool of ``run.settings.workers``, shut down on return); each result is
    recorded in ``store`` and reported to ``progress(result)`` as soon as its job finishes. A job
    that raises (an executor's failure, never a submission's) stops the batch with that error;
    what was recorded before stays recorded, and jobs not yet started are cancelled.
    Each submission is recorded once: ``as_completed`` yields each job's future once, and an
    executor that retries a job elsewhere still completes that one future.
    """
    ids = [sub.id for sub in submissions]
    if len(set(ids)) != len(ids):  # results are keyed by id: two alike would overwrite each other
        raise ValueError(f"two submissions share the id {next(i for i in ids if ids.count(i) > 1)!r}")
    done = {} if (store is None or fresh) else store.load()
    results, jobs = {}, {}
    own = executor is None
    if own:
        executor = ThreadPoolExecutor(max(1, run.settings.workers))
    submit = _submitter(run, cast("Executor", executor))  # set above when None
    try:
        for sub in submissions:
            print_ = fingerprint(sub, run)
            if print_ in done:
                result = done[print_]
                result.id = sub.id
                result.info.resumed = True
                results[sub.id] = result
                if progress:
                    progress(result)
            else:
                jobs[submit(sub)] = (sub, print_)
        for future in as_completed(jobs):
            sub, print_ = jobs[future]
            result = future.result()  # only the executor's own failures raise; they stop the batch
            result.id = sub.id
            result.info.fingerprint = print_
            if store is not None:
                store.append(print_, result)
                result.models = {}  # on disk now; reports read them back one student at a time
            results[sub.id] = result
            if progress:
                progress(result)
    finally:
        if own:
            cast("Executor", executor).shutdown(wait=True, cancel_futures=True)
    return [results[s.id] for s in submissions]
