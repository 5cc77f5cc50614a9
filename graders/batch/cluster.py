"""Grade on an existing Dask distributed cluster: ``grade.py grade PATH --scheduler ADDRESS``.

The machine running ``grade.py`` (the client) reads each submission's file and ships its bytes in a
``Payload`` (the workers share no file system with it). On a Dask worker, ``grade_remote`` checks the
worker once (same grader code and version, bubblewrap in use, same data), prepares
one ``pipeline.Run`` per worker process and settings (cached), writes the bytes to a temporary file,
grades it exactly as a local run does (``batch.grade_one``: sandboxed workers, judge) and returns a
``Reply`` of plain data: the result's full JSON and the trained models as safetensors bytes. The
client turns replies back into ``SubmissionResult``s; ``batch.grade_all`` records them in
``results.jsonl`` as they arrive and the reports are written on the client.

A worker that dies mid-task costs nothing: the scheduler gives its tasks to another worker (Dask's
``allowed-failures``, default 3 deaths per task), the task itself is retried twice on an exception
(``retries=2``), and when Dask gives up (``KilledWorker``) the client sends the submission once more
(``resubmits``). Each submission has one client-side future, completed once, so nothing is recorded
twice. Every worker needs the same install as the client (this repository, same version and code)
and bubblewrap; ``DaskExecutor`` checks all workers when it connects and each task checks its own.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import queue
import socket
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graders.batch.keys import data_digest
from graders.version import GRADER_VERSION, code_digest
from graders.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import ParamSpec, TypeVar

    from graders.grading.pipeline import Run, Settings
    from graders.intake.discover import Submission
    from graders.results import SubmissionResult

    _P = ParamSpec("_P")
    _T = TypeVar("_T")



class ClusterError(UserError, RuntimeError):
    """The cluster cannot grade this batch as a local run would; the message says why, in one line."""


@dataclass
class Expected:
    """What every worker must match: the client's grader version, code digest and sandbox choice."""
    version: str
    code: str
    sandbox: str            # "auto", "bwrap" or "none" (the --sandbox option)
    data: str = ""          # digest of the run's data (checked by each task once its Run is ready)


@dataclass
class Payload:
    """One submission as shipped to a worker: its file's bytes and everything ``discover`` found about
    it (notes, problem, the files list with roles and reasons, the flags), so that the worker's result
    is the local run's. Local paths (the PDF, the source) stay on the client, which adds them back."""
    id: str
    filename: str           # the source file's name (its suffix decides how it is read)
    data: bytes | None      # None when discovery found nothing gradable
    mtime: float = 0.0
    notes: list = field(default_factory=list)
    problem: str = ""
    files: list = field(default_factory=list)   # SubmittedFile.to_json() of every file found
    flags: list = field(default_factory=list)   # discovery's flags for the TA

    @classmethod
    def of(cls, sub: Submission) -> Payload:
        name, data, mtime = ("", None, 0.0) if sub.source is None else \
            (sub.source.name, sub.source.read_bytes(), sub.source.stat().st_mtime)
        return cls(sub.id, name, data, mtime, notes=list(sub.notes), problem=sub.problem, files=sub.files_json(),
                   flags=list(sub.flags))

    def submission(self, source: Path | None, origin: Path) -> Submission:
        """The ``discover.Submission`` this payload stands for, its file at ``source`` on this worker."""
        from graders.intake import discover
        files = [discover.SubmittedFile(f["path"], f["role"], f.get("reason", "")) for f in self.files]
        return discover.Submission(self.id, source, origin, list(self.notes), self.problem, files,
                                   flags=list(self.flags))


@dataclass
class Reply:
    """A graded submission as plain data: ``SubmissionResult.full_json()`` and models as safetensors."""
    result: dict
    models: dict            # item id -> safetensors bytes
    worker: str




def expected_for(settings: Settings) -> Expected:
    return Expected(GRADER_VERSION, code_digest(), settings.sandbox)


def describe_worker() -> dict[str, str | bool]:
    """What the checks need to know about this worker process (run on every worker by the client)."""
    from graders.grading.sandbox import bwrap_available
    return {"version": GRADER_VERSION, "code": code_digest(), "bwrap": bwrap_available(),
            "python": sys.version.split()[0], "host": socket.gethostname()}


UNSANDBOXED = ("--scheduler needs the sandbox: without it a submission can reach the Dask scheduler, which "
               "runs any client's code on every worker (a submission patched the grader there); drop --sandbox none")


def refuse_unsandboxed(sandbox: str) -> None:
    """Raise ``ClusterError`` (one line) when ``sandbox`` (the --sandbox option) is ``"none"``.

    Dask's scheduler runs code for whoever connects (``client.run``); a submission graded with process
    limits only has the network, so it could connect and rewrite the grader inside every worker (the
    template went to 40/40, the control to 0/40). Under bubblewrap a submission has no network (its
    own network namespace), so it cannot reach the scheduler. Checked by the client before it connects
    and again by every task on its worker."""
    if sandbox == "none":
        raise ClusterError(UNSANDBOXED)


def problems(expected: Expected, described: Mapping[str, object]) -> list[str]:
    """Why a worker described by ``describe_worker`` cannot grade for ``expected`` (empty: it can)."""
    found = []
    if expected.sandbox == "none":
        found.append("the sandbox is off (--sandbox none): refused on a cluster")
    if described["version"] != expected.version:
        found.append(f"grader version {described['version']} (this one is {expected.version})")
    elif described["code"] != expected.code:
        found.append(f"different grader code (digest {described['code']}, here {expected.code}); "
                     f"install the same revision on every worker")
    if not described["bwrap"]:
        found.append("bubblewrap cannot start there (install the bubblewrap package on every worker; a cluster "
                     "never grades without the sandbox)")
    return found


class WorkerMismatch(RuntimeError):
    """Raised by a task on a worker that cannot grade as the client expects."""


_runs: dict = {}
_runs_lock = threading.Lock()
_checked: dict = {}
_data: dict = {}


def _worker_run(settings_fields: dict[str, Any], expected: Expected) -> Run:
    """This worker process's ``Run`` for these settings, prepared once and checked once."""
    from graders.grading.pipeline import Run, Settings
    key = tuple(sorted(settings_fields.items()))
    if settings_fields.get("sandbox") == "none" or expected.sandbox == "none":
        raise WorkerMismatch(f"worker {socket.gethostname()} (pid {os.getpid()}): {UNSANDBOXED}")
    with _runs_lock:
        if key not in _checked:
            found = problems(expected, describe_worker())
            if found:
                raise WorkerMismatch(f"worker {socket.gethostname()} (pid {os.getpid()}): " + "; ".join(found))
            _checked[key] = True
        if key not in _runs:
            import torch
            torch.set_num_threads(1)   # one core per task: torch's own threads made the judge 10x slower here
            _runs[key] = Run.prepare(Settings(**settings_fields))
            _data[key] = data_digest(_runs[key])
        run = _runs[key]
    if not run.sandbox.uses_bwrap:
        raise WorkerMismatch(f"worker {socket.gethostname()} (pid {os.getpid()}): bubblewrap is not in use there")
    if expected.data and _data[key] != expected.data:
        raise WorkerMismatch(f"worker {socket.gethostname()} reads different MNIST data ({run.data_source}); "
                             f"give every worker the same data (A4_MNIST_DIR)")
    return run


def grade_remote(payload: Payload, settings_fields: dict[str, Any], expected: Expected) -> Reply:
    """The task run on a Dask worker: grade one ``Payload`` as a local run would; returns a ``Reply``."""
    from safetensors.torch import save

    from graders.batch import runner as batch
    run = _worker_run(settings_fields, expected)
    with tempfile.TemporaryDirectory(prefix="a4-remote-") as scratch:
        source = None
        if payload.data is not None:
            source = Path(scratch) / (Path(payload.filename).name or "submission.py")
            source.write_bytes(payload.data)
            os.utime(source, (payload.mtime, payload.mtime))
        result = batch.grade_one(run, payload.submission(source, source or Path(scratch)))
    models = {item: save({k: v.contiguous() for k, v in state.items()}) for item, state in result.models.items()}
    return Reply(result.full_json(), models, f"{socket.gethostname()}:{os.getpid()}")


def _to_result(reply: Reply, sub: Submission) -> SubmissionResult:
    from safetensors.torch import load

    from graders.results import SubmissionResult
    result = SubmissionResult.from_full_json(reply.result)
    result.models = {item: load(data) for item, data in reply.models.items()}
    result.info.source_path = str(sub.source or "")      # this machine's paths, as a local run writes them
    result.info.pdf_path = str(sub.pdf) if sub.pdf else ""
    result.info.submitted_at = sub.submitted_at
    result.info.set_moodle(sub.moodle)                   # discovery's fact, found here (the payload has no folder)
    result.info.worker = reply.worker
    return result


def _is_worker_loss(error: BaseException) -> bool:
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker
    return isinstance(error, (KilledWorker, CommClosedError, FutureCancelledError))


class DaskExecutor(concurrent.futures.Executor):
    """A ``concurrent.futures.Executor`` on a Dask cluster, plus ``submit_submission`` for ``batch``.

    Connecting checks every worker (``problems``) and refuses with ``ClusterError`` if one cannot
    grade as this machine would. ``run`` is the client's prepared ``pipeline.Run``: its settings go
    to the workers, and the digest of its data is what their data must match.
    """

    def __init__(self, address: str, run: Run, retries: int = 2, resubmits: int = 1, connect_timeout: float = 30,
                 wait_for_workers: float = 60) -> None:
        """Connect to the scheduler at ``address``; ``retries``: Dask's per task (on an exception);
        ``resubmits``: further sends of a submission once Dask gives up after worker deaths."""
        refuse_unsandboxed(run.settings.sandbox)
        try:
            from distributed import Client
        except ImportError:
            raise ClusterError("--scheduler needs Dask: pip install -e '.[cluster]' (here and on every worker)") from None
        try:
            self.client = Client(address, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise ClusterError(f"cannot reach the Dask scheduler at {address} ({error})") from None
        try:
            self.client.wait_for_workers(1, timeout=wait_for_workers)
        except TimeoutError:
            self.client.close()
            raise ClusterError(f"the Dask scheduler at {address} has no workers "
                               f"(start some with: dask worker {address})") from None
        # every setting but where baselines are kept: a worker keeps them in its own machine's default place
        self.settings_fields = {k: v for k, v in dataclasses.asdict(run.settings).items() if k != "baseline_cache"}
        self.expected = dataclasses.replace(expected_for(run.settings), data=data_digest(run))
        self.resubmits = resubmits
        self._executor = self.client.get_executor(pure=False, retries=retries)
        threads = sum(w.get("nthreads", 1) for w in self.client.scheduler_info(n_workers=-1)["workers"].values())
        self.window = max(8, 4 * threads)
        self._queue: queue.Queue[tuple[Submission, concurrent.futures.Future[SubmissionResult]] | None]
        self._slots, self._queue, self._closed = threading.Semaphore(self.window), queue.Queue(), False
        try:
            self.check_workers()
        except ClusterError:
            self.client.close()
            raise
        threading.Thread(target=self._dispatch, daemon=True, name="a4-dispatch").start()

    @property
    def description(self) -> str:
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        threads = sum(w.get("nthreads", 1) for w in workers.values())
        return f"Dask cluster {self.client.scheduler.address} ({len(workers)} workers, {threads} threads)"

    def check_workers(self) -> None:
        """Refuse (``ClusterError``) if any connected worker cannot grade as this machine would."""
        found = []
        for address, described in self.client.run(describe_worker).items():
            found += [f"{address}: {problem}" for problem in problems(self.expected, described)]
        if found:
            raise ClusterError("the cluster's workers cannot grade like this machine: " + " | ".join(found))

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> concurrent.futures.Future[_T]:
        """Run ``fn(*args, **kwargs)`` on a worker (``fn`` must be importable there)."""
        return self._executor.submit(fn, *args, **kwargs)

    def submit_submission(self, sub: Submission) -> concurrent.futures.Future[SubmissionResult]:
        """Grade ``sub`` on the cluster; the future's result is a ``SubmissionResult`` as a local run's.

        Submissions wait on this machine until one of at most ``window`` slots is free (a few per
        worker thread), so the bytes of a large course are read and shipped a few at a time.
        """
        out: concurrent.futures.Future[SubmissionResult] = concurrent.futures.Future()
        out.set_running_or_notify_cancel()
        self._queue.put((sub, out))
        return out

    def _dispatch(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            self._slots.acquire()
            if self._closed:
                self._slots.release()
                return
            sub, out = job
            try:
                self._send(Payload.of(sub), sub, out, 0)
            except Exception as error:  # unreadable file, closed client: this submission's future says so
                self._slots.release()
                out.set_exception(ClusterError(f"{sub.id}: could not be sent to the cluster ({error})"))

    def _send(self, payload: Payload, sub: Submission, out: concurrent.futures.Future[SubmissionResult], attempt: int) -> None:
        inner = self._executor.submit(grade_remote, payload, self.settings_fields, self.expected)

        def done(future: concurrent.futures.Future[Reply]) -> None:
            try:
                reply = future.result()
            except Exception as error:
                if _is_worker_loss(error) and attempt < self.resubmits and not self._closed:
                    # from another thread: this callback runs on the client's event loop
                    threading.Thread(target=self._resend, args=(payload, sub, out, attempt + 1), daemon=True).start()
                    return
                self._slots.release()
                out.set_exception(_explain(error, payload.id))
                return
            self._slots.release()
            try:
                out.set_result(_to_result(reply, sub))
            except Exception as error:  # a reply that cannot be read back: the batch stops, plainly
                out.set_exception(ClusterError(f"{payload.id}: unreadable reply from the cluster ({error})"))
        inner.add_done_callback(done)

    def _resend(self, payload: Payload, sub: Submission, out: concurrent.futures.Future[SubmissionResult], attempt: int) -> None:
        try:
            self._send(payload, sub, out, attempt)
        except Exception as error:
            self._slots.release()
            out.set_exception(_explain(error, payload.id))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._closed = True
        self._queue.put(None)
        self._slots.release()          # wakes a dispatcher waiting for a slot
        self._executor.shutdown(wait=False)
        self.client.close()


def _explain(error: BaseException, sub_id: str) -> ClusterError:
    if isinstance(error, WorkerMismatch):
        return ClusterError(str(error))
    if _is_worker_loss(error):
        return ClusterError(f"{sub_id}: the workers grading it kept dying ({type(error).__name__}: {error}); "
                            f"look at the workers' logs (memory?) and run again to resume")
    return ClusterError(f"{sub_id}: grading failed on the cluster ({type(error).__name__}: {error})")
