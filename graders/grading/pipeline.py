"""Grade one submission: read it, run its items in the sandbox, judge them. The stages, in order:

1. ``discover``  - files and folders to ``Submission`` records (``graders.intake.discover``)
2. ``read``      - the notebook's or .py's cells, nothing executed (``graders.intake.source``)
3. ``run``       - one sandboxed worker per submission (``graders.grading.sandbox``): it loads the
                   notebook once by the loading rule (``worker.loader``) and runs every item in
                   a forked child of that load (``worker.__main__``)
4. ``judge``     - what came back, validated, to ``ItemResult``s (``graders.judge``)
5. ``record``    - one JSON line per submission, appended as it finishes (``graders.batch.runner``)

``Run`` holds what the submissions of one grading run share: the inputs, the data (shuffled
by the course secret, ``graders.grading.secret``), the reference baselines and the sandbox.
"""
from __future__ import annotations

import json
import marshal
import os
import tempfile
import threading
import time
from datetime import datetime
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch

from graders.grading import cases
from graders.grading import cgroups
from graders.judge import childdata
from graders.judge import crosscheck
from graders.judge import dispatch as judge
from graders.intake import policies
from graders.grading import secret
from graders.intake import source
from graders.judge import suspicious
from graders.judge import baseline_store
from graders.judge import baselines as training
from graders.items import AUTO_ITEMS
from graders.results import ItemResult, SubmissionInfo, SubmissionResult
from graders.settings import Settings  # noqa: F401 - the run's settings, re-exported for callers
from graders.version import GRADER_VERSION
from graders.grading.sandbox import Sandbox
from reference import scaffold
from worker import channel, confine
from worker.protocol import WALL_BACKSTOP, ItemSpec, Job, Limits, LoadReport

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from graders.intake.discover import Submission
    from graders.items import AutoItem
    from graders.judge.evidence import Outcome

LOSS_FUNCTIONS = ("reconstruct", "kl_divergence", "binary_cross_entropy", "elbo", "creconstruct", "celbo")


class UidPool:
    """As root, each running submission gets a uid of its own (so its process limit and the final
    kill are its own): ``BASE`` + a slot per grader process and submission in flight."""
    BASE = 200000

    def __init__(self, size: int = 64) -> None:
        self._free, self._lock = list(range(size)), threading.Lock()
        self._offset = self.BASE + (os.getpid() % 2000) * size

    def take(self, sandboxed: bool) -> int | None:
        """A uid, or None when not root, or when outside the sandbox Python is unreadable to others."""
        if os.geteuid() != 0 or not (sandboxed or confine.readable_by_others(_python_folders())):
            return None
        with self._lock:
            return self._offset + self._free.pop(0)

    def give(self, uid: int | None) -> None:
        if uid is not None:
            with self._lock:
                self._free.append(uid - self._offset)


def _python_folders() -> list[str]:
    import sysconfig
    return [sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]]


def _loss_code() -> bytes:
    """The reference's loss functions as marshalled code, compiled without docstrings (full mode)."""
    from reference.notebook import _definitions
    text = "import torch\n\n" + _definitions("reference/vae.py", list(LOSS_FUNCTIONS))
    return marshal.dumps(compile(text, "<grader>", "exec", optimize=2))


def _template_imports() -> set[str]:
    from reference.notebook import template_notebook
    from worker.loader import import_texts
    return import_texts(c.source for c in template_notebook().cells if c.cell_type == "code")


@dataclass
class Run:
    """Everything shared by the submissions of one grading run."""
    settings: Settings
    sandbox: Sandbox
    inputs: dict                     # "item:name" -> tensor (training images shuffled by the secret)
    context: judge.Context
    data_source: str
    permutation: secret.PixelPermutation
    plain_held_out: tuple | None = None  # held-out (X, Y) in plain pixel order, for pictures
    losses: bytes = b""
    template_imports: set = field(default_factory=set)  # the template's imports (full mode), for the flag
    scratch: Path = field(default_factory=lambda: _traversable(Path(tempfile.mkdtemp(prefix="a4-grade-"))))
    uids: UidPool = field(default_factory=UidPool)

    @classmethod
    def prepare(cls, settings: Settings) -> Run:
        permutation = secret.PixelPermutation.from_environment(settings.public)
        rows = min(settings.train_rows, 1000) if settings.public else settings.train_rows
        X, Y = permutation.training_set(*cast("tuple[torch.Tensor, torch.Tensor]", scaffold.get_mnist_data("train")), rows)
        inputs = cases.build_inputs(X, Y)
        per_item = {item.id: channel.item_inputs(inputs, item.id) for item in AUTO_ITEMS}
        context = judge.Context(per_item, public=settings.public)
        run = cls(settings, Sandbox(settings.sandbox), inputs, context, scaffold.describe_mnist_source(), permutation)
        if not settings.public:
            hx, hy = scaffold.get_mnist_data("test")
            run.plain_held_out = (hx, hy)
            context.held_out = (permutation.shuffle(hx), hy)
            store = baseline_store.BaselineStore(settings.baseline_cache) if settings.baseline_cache else None
            context.baselines = training.ReferenceBaselines((X, Y), context.held_out, permutation, store).start()
            run.losses = _loss_code()
            run.template_imports = _template_imports()
        return run

    def close(self) -> None:
        if self.context.baselines is not None:  # never leave a thread inside torch at exit
            cast(training.ReferenceBaselines, self.context.baselines).get(False), \
                cast(training.ReferenceBaselines, self.context.baselines).get(True)
        confine.remove_tree(self.scratch)


def _traversable(folder: Path) -> Path:
    folder.chmod(0o711)  # a submission's user may pass through to its job's scratch folder, not list
    return folder


WORKER_MB = 1024    # the worker's own Python, torch and matplotlib, shared by the sandbox's processes
SANDBOX_PROCESSES = 16   # the worker, the loss server, bubblewrap and the loader, beside the submission's 64


def _sandbox_limits(settings: Settings) -> cgroups.GroupLimits:
    """The limits of a submission's whole sandbox (its control group, where the machine has them):
    ``memory_mb`` for the submission's code beside the worker's own, one CPU core, and the processes."""
    return cgroups.GroupLimits(memory_mb=settings.memory_mb + WORKER_MB,
                               processes=Limits().processes + SANDBOX_PROCESSES, cpus=1.0)


def _time_limit(run: Run, item: AutoItem) -> float:
    return run.settings.train_seconds if item.trains else run.settings.item_seconds


def _job(run: Run, sub_id: str, cells: Iterable[Sequence[str]], uid: int | None) -> Path:
    """Write a submission's job folder (grader-only files) and return its path."""
    job_dir = Path(tempfile.mkdtemp(prefix="job-", dir=run.scratch))
    job_dir.chmod(0o711)  # the submission's user may pass through, not list, read or write
    settings = run.settings
    limits = Limits(memory_mb=settings.memory_mb, disk_mb=settings.disk_mb, run_as=uid,
                    statement_seconds=settings.statement_seconds, load_seconds=settings.load_seconds)
    items = [ItemSpec(item.id, item.function, _time_limit(run, item),
                      training.budget(settings.public) if item.trains else {}) for item in AUTO_ITEMS]
    job = Job([list(cell) for cell in cells], items, settings.seed, limits, run.sandbox.scratch_path(job_dir))
    _private_write(job_dir / "job.json", job.to_json().encode())
    if run.losses:  # read only by the loss server (worker.lossserver), never by a process of student code
        _private_write(job_dir / "losses.bin", run.losses)
    channel.save_inputs(run.inputs, job_dir / "inputs.safetensors")
    os.chmod(job_dir / "inputs.safetensors", 0o600)
    return job_dir


def _private_write(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _load_report(job_dir: Path) -> LoadReport | None:
    path = job_dir / "out" / "load.json"
    if not path.exists():
        return None
    try:
        return childdata.clean_load_report(LoadReport.from_json(path.read_text(errors="replace")))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None


def _outcomes(job_dir: Path, problem: str) -> tuple[dict[str, Outcome], list[str]]:
    """``({item id: Outcome}, flags)`` from a finished job folder; flags from cross-checking the
    training items' counts against the loss server's."""
    outcomes, flags = {}, []
    for item in AUTO_ITEMS:
        record_path, frame_path = job_dir / "out" / f"{item.id}.json", job_dir / "out" / f"{item.id}.frame"
        if not record_path.exists():
            outcomes[item.id] = judge.Outcome(failure=problem or "the worker stopped before reaching this item")
            continue
        record = childdata.clean_record(record_path.read_bytes())
        if record["ended_loader"]:
            outcomes[item.id] = judge.Outcome(record=record, failure=(
                f"{item.function} killed the process that runs the submission's items (the other items ran "
                "again in a fresh one)"))
            continue
        if record["timed_out"]:  # whatever part of a reply came back is not a reply
            outcomes[item.id] = judge.Outcome(record=record)
            continue
        frame = frame_path.read_bytes() if frame_path.exists() else b""
        if not frame:  # the child ended without replying: judge.describe_failure says how
            outcomes[item.id] = judge.Outcome(record=record)
            continue
        try:
            tensors, meta = channel.decode(frame)
        except channel.BadFrame as error:
            reason = ("returned more data than the grader accepts" if record.get("frame_too_large")
                      else f"sent back a malformed result ({error})")
            outcomes[item.id] = judge.Outcome(record=record, failure=f"{item.function} {reason}")
            continue
        if item.trains:
            flag = crosscheck.reconcile(meta, crosscheck.server_counts(job_dir, item.id), item.id)
            if flag:
                flags.append(flag)
        outcomes[item.id] = judge.Outcome(tensors, meta, record)
    return outcomes, flags


def run_worker(run: Run, sub_id: str, cells: Iterable[Sequence[str]]
               ) -> tuple[dict[str, Outcome], LoadReport | None, list[str], dict[str, Any]]:
    """Run every item of one submission in one sandboxed worker: ``(outcomes, LoadReport or None, flags,
    resources)`` (``resources``: the sandbox's control group, its peak memory, processes killed for memory,
    and the load's CPU and wall-clock time as the worker measured them)."""
    uid = run.uids.take(run.sandbox.uses_bwrap)
    job_dir = _job(run, sub_id, cells, uid)
    try:
        settings = run.settings
        timeout = 60 + WALL_BACKSTOP * (settings.load_seconds + sum(_time_limit(run, item) for item in AUTO_ITEMS))
        problem = run.sandbox.run(job_dir, timeout, settings.disk_mb, _sandbox_limits(settings))
        report = _load_report(job_dir)
        facts = crosscheck.worker_facts(job_dir)
        if report is None and not problem:
            problem = (f"{facts.load_stopped}: the grader stopped it" if facts.load_stopped else
                       "loading the notebook's top-level code did not finish (a statement ended the process, "
                       "or loading ran past its limits)")
        elif facts.job_stopped and not problem:
            problem = f"{facts.job_stopped}: the grader stopped it before this item"
        outcomes, flags = _outcomes(job_dir, problem)
        return outcomes, report, flags, _resources(job_dir)
    finally:
        confine.kill_uid(uid)  # whatever of the submission's is still running, sandbox or not
        run.uids.give(uid)
        if not run.settings.keep_jobs:
            confine.remove_tree(job_dir)


def _resources(job_dir: Path) -> dict[str, Any]:
    """What the sandbox's control group and the worker measured (plain numbers, for ``info``)."""
    try:
        raw = json.loads((job_dir / "sandbox.json").read_text())
    except (OSError, ValueError):
        raw = {}
    view = childdata.View(raw)
    facts = crosscheck.worker_facts(job_dir)
    return {"cgroup": view.text("cgroup") or None, "peak_memory_mb": view.number("peak_memory_mb"),
            "oom_kills": view.integer("oom_kills", 0, 0), "load_cpu_seconds": facts.load_cpu_seconds,
            "load_wall_seconds": facts.load_wall_seconds}


def grade_submission(run: Run, sub: Submission) -> SubmissionResult:
    """Grade one ``discover.Submission``; never raises for anything the submission did: an unexpected
    failure anywhere gives every item an ``error`` naming the file and the reason."""
    try:
        return _grade(run, sub)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # noqa: BLE001 - RecursionError, MemoryError ... : this submission only
        name = (sub.source or sub.origin).name
        reason = childdata.clean_text(f"{name}: the grader could not grade this file ({type(error).__name__}: "
                                      f"{error})")
        info = SubmissionInfo(source=name)
        info.set_moodle(sub.moodle)
        return _unloadable(sub.id, reason, info)


def _grade(run: Run, sub: Submission) -> SubmissionResult:
    info = SubmissionInfo(source=sub.graded_name or (sub.source or sub.origin).name, source_path=str(sub.source or ""),
                          files=[f.to_json() for f in sub.files], pdf_path=str(sub.pdf) if sub.pdf else "",
                          submitted_at=sub.submitted_at, sandbox=run.sandbox.description, data=run.data_source,
                          secret=run.permutation.source, grader_version=GRADER_VERSION,
                          mode="public self-check" if run.settings.public else "full", seed=run.settings.seed,
                          device="cpu", torch=torch.__version__, notes=list(sub.notes))
    info.set_moodle(sub.moodle)
    if sub.source is None:
        return _unloadable(sub.id, sub.problem, info, sub.flags)
    try:
        cells = source.read_cells(sub.source)
    except source.UnreadableSource as error:
        return _unloadable(sub.id, f"{sub.source.name}: {error}", info, sub.flags)
    info.markdown = cells.markdown  # surrogates and NULs already replaced by source.read_cells
    info.graded_at = datetime.now().astimezone().isoformat(timespec="seconds")  # the pages' "Graded" time
    started = time.perf_counter()
    outcomes, report, worker_flags, info.resources = run_worker(run, sub.id, cells.code)
    worker_seconds = time.perf_counter() - started
    flags = list(sub.flags) + worker_flags
    if report is not None:
        info.load = {"statements": report.statements, "seconds": report.seconds,
                        "skips": [asdict(skip) for skip in report.skips]}
        info.notes += [skip.describe() for skip in report.skips if skip.kind == "failed"]
        import_change = policies.import_flag(set(report.imports), run.template_imports) if run.template_imports \
            else ""
        flags += [import_change] if import_change else []
    results, models = {}, {}
    for item in AUTO_ITEMS:
        try:
            results[item.id] = judge.judge(item, outcomes[item.id], run.context, _time_limit(run, item))
        except Exception as error:  # a judge bug must cost the batch nothing; report it plainly
            results[item.id] = ItemResult.error(item.marks, f"the grader failed to judge this item "
                                                            f"({type(error).__name__}: {error}); please report it",
                                                cause="judge_error")
        flags += [flag for flag in results[item.id].flags if flag not in flags]
        if item.trains:
            state = training.state_dict_of(outcomes[item.id].tensors)
            if state and not training.layout_problem(item.conditional, state):
                models[item.id] = run.permutation.to_plain(state, item.conditional)
    flags += [flag for flag in suspicious.flags(run, results, models) if flag not in flags]
    info.timings = {"worker": round(worker_seconds, 3), "judge": round(time.perf_counter() - started - worker_seconds, 3),
                       "items": {k: cast("dict[str, Any]", o.record).get("seconds") for k, o in outcomes.items() if o.record},
                       "items_cpu": {k: cast("dict[str, Any]", o.record).get("cpu_seconds")
                                     for k, o in outcomes.items() if o.record}}

    return SubmissionResult(sub.id, results, flags, info, models)


def _unloadable(sub_id: str, reason: str, info: SubmissionInfo, flags: Iterable[str] = ()) -> SubmissionResult:

    items = {item.id: ItemResult.error(item.marks, f"submission could not be loaded: {reason}", cause="load_error")
             for item in AUTO_ITEMS}
    return SubmissionResult(sub_id, items, ["unloadable", *flags], info)
