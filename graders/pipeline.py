"""Grade submissions: read, choose definitions, run workers, judge, record. The stages, in order:

1. ``discover``  - files and folders to ``Submission`` records (``graders.discover``)
2. ``read``      - cells of the notebook or .py, nothing executed (``graders.source``)
3. ``select``    - the definitions to load (``graders.definitions``)
4. ``run``       - two worker jobs per submission: the six function items, and the two
                   training items with the grader's loss functions (``graders.sandbox``)
5. ``judge``     - outcomes to ``ItemResult``s (``graders.judge``)
6. ``record``    - one JSON line per submission, appended as it finishes (``graders.batch``)
"""
import json
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch

from worker import channel
from graders import cases, definitions, discover, judge, policies, source, training
from graders.items import AUTO_ITEMS
from graders.results import ItemResult, SubmissionResult
from graders.sandbox import UNPRIVILEGED_UID, Sandbox
from reference import scaffold

GRADER_VERSION = "0.1.0"
LOSS_FUNCTIONS = ("reconstruct", "kl_divergence", "binary_cross_entropy", "elbo", "creconstruct", "celbo")


@dataclass
class Settings:
    public: bool = False             # the students' self-check: no reference, reduced training
    sandbox: str = "auto"            # "auto", "bwrap" or "none"
    workers: int = 1                 # submissions graded at once (each runs two worker processes)
    item_seconds: float = 30.0       # limit per function item
    train_seconds: float = 120.0     # limit per training item
    memory_mb: int = 2048            # address space a child may add beyond the loaded worker
    seed: int = 1                    # torch/numpy/random seed in every child
    train_rows: int = 4000           # training images the grader hands to train_mnist_*
    keep_jobs: bool = False          # keep job folders (for debugging)


@dataclass
class Run:
    """Everything shared by the submissions of one grading run."""
    settings: Settings
    sandbox: Sandbox
    inputs: dict                     # "item:name" -> tensor
    context: judge.Context
    data_source: str
    loss_source: str = ""
    template_imports: set = field(default_factory=set)  # the template's imports (full mode), for the flag
    scratch: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="a4-grade-")))

    @classmethod
    def prepare(cls, settings):
        X, Y = scaffold.get_mnist_data("train")
        X, Y = X[: settings.train_rows], Y[: settings.train_rows]
        if settings.public:
            X, Y = X[:1000], Y[:1000]
        inputs = cases.build_inputs(X, Y)
        per_item = {item.id: channel.item_inputs(inputs, item.id) for item in AUTO_ITEMS}
        context = judge.Context(per_item, public=settings.public)
        loss_source = ""
        if not settings.public:
            hx, hy = scaffold.get_mnist_data("test")
            context.held_out = (hx, hy)
            context.baselines = training.ReferenceBaselines((X, Y), (hx, hy)).start()
            from reference.notebook import _definitions, template_notebook
            loss_source = "import torch\n\n" + _definitions("reference/vae.py", list(LOSS_FUNCTIONS))
            template_imports = policies.imports_of(
                [("", c.source) for c in template_notebook().cells if c.cell_type == "code"])
        else:
            template_imports = set()
        return cls(settings, Sandbox(settings.sandbox), inputs, context, scaffold.describe_mnist_source(),
                   loss_source, template_imports)

    def close(self):
        shutil.rmtree(self.scratch, ignore_errors=True)


def _job(run, sub_id, items, chunks, with_losses):
    """Write a job folder for ``items`` and return its path."""
    job_dir = Path(tempfile.mkdtemp(prefix=f"job-{sub_id[:20].replace('/', '_')}-", dir=run.scratch))
    limits = {"memory_mb": run.settings.memory_mb, "file_mb": 16, "processes": 64,
              "run_as": UNPRIVILEGED_UID if run.sandbox.uses_bwrap else None}
    spec = {"chunks": chunks, "seed": run.settings.seed, "limits": limits, "scratch": str(job_dir / "scratch"),
            "items": [{"id": item.id, "function": item.function,
                       "time_limit": run.settings.train_seconds if item.trains else run.settings.item_seconds,
                       "params": training.budget(run.settings.public)}
                      for item in items]}
    if with_losses:
        spec["loss_source"] = run.loss_source
    (job_dir / "job.json").write_text(json.dumps(spec))
    wanted = {f"{item.id}:" for item in items}
    channel.save_inputs({k: v for k, v in run.inputs.items() if any(k.startswith(w) for w in wanted)},
                        job_dir / "inputs.safetensors")
    return job_dir


def _outcomes(job_dir, items, problem):
    """``{item id: Outcome}`` from a finished job folder."""
    outcomes = {}
    for item in items:
        record_path, frame_path = job_dir / "out" / f"{item.id}.json", job_dir / "out" / f"{item.id}.frame"
        if not record_path.exists():
            outcomes[item.id] = judge.Outcome(failure=problem or "the worker stopped before reaching this item")
            continue
        record = json.loads(record_path.read_text())
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
        outcomes[item.id] = judge.Outcome(tensors, meta, record)
    return outcomes


def _run_job(run, sub_id, items, chunks, with_losses):
    job_dir = _job(run, sub_id, items, chunks, with_losses)
    timeout = 60 + sum(run.settings.train_seconds if i.trains else run.settings.item_seconds for i in items)
    problem = run.sandbox.run(job_dir, timeout)
    outcomes = _outcomes(job_dir, items, problem)
    if not run.settings.keep_jobs:
        shutil.rmtree(job_dir, ignore_errors=True)
    return outcomes


def grade_submission(run, sub):
    """Grade one ``discover.Submission``; never raises for anything the submission did."""
    info = {"source": str(sub.source or sub.origin), "submitted_at": sub.submitted_at,
            "sandbox": run.sandbox.description, "data": run.data_source,
            "grader_version": GRADER_VERSION, "mode": "public self-check" if run.settings.public else "full",
            "seed": run.settings.seed, "device": "cpu", "torch": torch.__version__, "notes": list(sub.notes)}
    if sub.source is None:
        return _unloadable(sub.id, sub.problem, info)
    try:
        cells = source.read_cells(sub.source)
    except source.UnreadableSource as error:
        return _unloadable(sub.id, f"{sub.source.name}: {error}", info)
    chunks, notes = definitions.select(cells.code)
    info["notes"] += notes
    info["markdown"] = cells.markdown
    import_change = policies.import_flag(cells.code, run.template_imports) if run.template_imports else ""
    flags = [import_change] if import_change else []
    functions = [i for i in AUTO_ITEMS if not i.trains]
    trainers = [i for i in AUTO_ITEMS if i.trains]
    results = {}
    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(_run_job, run, sub.id, functions, chunks, False),
                pool.submit(_run_job, run, sub.id, trainers, chunks, not run.settings.public)]
        outcomes = {k: v for job in jobs for k, v in job.result().items()}
    for item in AUTO_ITEMS:
        limit = run.settings.train_seconds if item.trains else run.settings.item_seconds
        try:
            results[item.id] = judge.judge(item, outcomes[item.id], run.context, limit)
        except Exception as error:  # a judge bug must cost the batch nothing; report it plainly
            results[item.id] = ItemResult.error(item.marks, f"the grader failed to judge this item "
                                                            f"({type(error).__name__}: {error}); please report it")
        for note in notes:
            if results[item.id].status in ("error", "fail") and "syntax error" in note:
                results[item.id].messages.append(f"note: {note}")
    models = {}
    for item in trainers:
        state = training.state_dict_of(outcomes[item.id].tensors)
        if state and not training.layout_problem(item.id == "q5.train", state):
            models[item.id] = state
    return SubmissionResult(sub.id, results, flags, info, models)


def _unloadable(sub_id, reason, info):
    items = {item.id: ItemResult.error(item.marks, f"submission could not be loaded: {reason}")
             for item in AUTO_ITEMS}
    return SubmissionResult(sub_id, items, ["unloadable"], info)
