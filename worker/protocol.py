"""The worker protocol: what the judge hands a worker (a ``Job``) and what comes back.

A job folder holds ``job.json`` (``Job.to_json``, mode 0600, owned by the grader),
``inputs.safetensors`` (the items' input tensors, 0600), in full mode ``losses.bin`` (the grader's
loss functions as marshalled code, 0600, read only by the loss server) and, after the run, ``out/``:
``load.json`` (a ``LoadReport``), ``worker.json`` (the load's CPU and wall-clock time as the worker
measured them, and why it stopped the load, if it did), per item ``<id>.json`` (an ``ItemRecord``) and
``<id>.frame`` (the probe's reply, see ``worker.channel``), and per training item ``<id>.server.json``
(``worker.lossserver.ServerCounts``). Everything in ``out/`` was
produced with student code running nearby: the judge validates it before use.
"""
import json
from dataclasses import asdict, dataclass, field
from typing import Any

STATEMENT_SECONDS = 5.0   # budget of one top-level statement while the notebook loads
LOAD_SECONDS = 60.0       # budget of the whole load (all statements of the notebook)
# Budgets count CPU time (the same on an idle and on a busy machine); wall-clock limits are backstops:
WALL_BACKSTOP = 3.0       # an item's wall-clock limit, as a multiple of its CPU budget
STATEMENT_WALL_BACKSTOP = 6.0  # a statement's wall-clock limit, as a multiple of its CPU budget (a 5 s
                               # statement takes 30 s where six processes share each core)
LOAD_WALL_BACKSTOP = 1.5  # the whole load's wall-clock limit, as a multiple of its CPU budget


@dataclass
class Limits:
    """Limits of the processes that run student code (the loader and every item's child).

    ``memory_mb`` is address space beyond the loaded worker; ``file_mb`` caps one written
    file; ``disk_mb`` caps all files in the scratch folder together; ``processes`` is the
    kernel's per-user process limit, which holds only for a dedicated uid (``run_as``).
    """
    memory_mb: int = 2048
    file_mb: int = 16
    disk_mb: int = 256
    processes: int = 64
    open_files: int = 256
    run_as: int | None = None          # a uid of this submission's own (the grader runs as root)
    statement_seconds: float = STATEMENT_SECONDS
    load_seconds: float = LOAD_SECONDS


@dataclass
class ItemSpec:
    id: str
    function: str
    time_limit: float                  # seconds of CPU time (wall-clock: a backstop of 3 times that)
    params: dict = field(default_factory=dict)   # keyword arguments (the training budget)


@dataclass
class Job:
    """One submission's work: its code cells, the items to run on it, and their limits."""
    cells: list                        # [[label, text]] code cells in notebook order
    items: list                        # [ItemSpec]
    seed: int
    limits: Limits
    scratch: str                       # the only folder student code may write to

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> "Job":
        data = json.loads(text)
        return cls(cells=[list(c) for c in data["cells"]], items=[ItemSpec(**i) for i in data["items"]],
                   seed=data["seed"], limits=Limits(**data["limits"]), scratch=data["scratch"])


@dataclass
class Skip:
    """A top-level statement of the notebook that the grader did not run, or that failed.

    ``kind`` is ``"skipped"`` (by the loading rule) or ``"failed"`` (it raised);
    ``names`` are the names it would have defined.
    """
    cell: str                          # "cell 7" or "line 120" (a .py export)
    line: int                          # line within the cell
    kind: str
    reason: str
    names: list = field(default_factory=list)
    code: str = ""                     # the statement's first line, shortened

    def where(self) -> str:
        """``cell 7 line 3``; in a .py export, whose cells are labelled by their first line, ``line 120``."""
        if self.cell.startswith("line ") and self.cell[5:].isdigit():
            return f"line {int(self.cell[5:]) + max(self.line, 1) - 1}"
        return f"{self.cell} line {self.line}"

    def describe(self) -> str:
        what = "was skipped" if self.kind == "skipped" else "failed"
        return f"{self.where()} ({self.code}) {what}: {self.reason}"


@dataclass
class LoadReport:
    """How loading the notebook went: every statement not run, the imports seen, the time taken."""
    skips: list = field(default_factory=list)     # [Skip]
    imports: list = field(default_factory=list)   # normalised import statements, for the imports flag
    statements: int = 0                           # top-level statements run
    seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> "LoadReport":
        data = json.loads(text)
        return cls(skips=[Skip(**s) for s in data.get("skips", [])], imports=list(data.get("imports", [])),
                   statements=int(data.get("statements", 0)), seconds=float(data.get("seconds", 0.0)))

    def skip_for(self, name: str) -> "Skip | None":
        """The last ``Skip`` that would have defined ``name``, or None."""
        found = [s for s in self.skips if name in s.names]
        return found[-1] if found else None


@dataclass
class ItemRecord:
    """How one item's child ended, as the loader saw it (no student-chosen content but ``output``)."""
    id: str
    seconds: float = 0.0               # wall-clock
    cpu_seconds: float = 0.0           # CPU time of every process of the item (what its limit counts)
    timed_out: bool = False
    exit_code: int | None = None
    output: str = ""                   # the first 64 KiB of what the child printed
    output_bytes: int = 0
    frame_too_large: bool = False
    disk_exceeded: bool = False
    ended_loader: bool = False         # the item's code killed the process that runs the items

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass
class ProbeReply:
    """The JSON part of an item's reply frame (``worker.channel``; its tensors travel beside it): written by
    the item's child (``worker.__main__._child``), read by the judge (``graders.judge.dispatch``) through
    ``from_json``, which takes a missing field, or one of another type, as its default (the child ran
    student code). Text is student-chosen: the judge cleans and caps it before any message."""
    probe: dict | None = None     # the probe's facts (``worker.probes``), read through ``childdata.View``;
                                  # None when the probe did not finish
    error: str = ""               # why it did not: "TypeError: ...", or "f is not defined in the submission"
    exception: str = ""           # the class name of the exception raised ("" when none was)
    traceback: str = ""           # the student's own frames of it
    not_defined: bool = False     # the item's function is not in the loaded namespace

    @property
    def replied(self) -> bool:
        """The child got as far as a probe's facts or an error to report."""
        return self.probe is not None or bool(self.error)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> "ProbeReply":
        data = data if isinstance(data, dict) else {}
        probe = data.get("probe")
        texts = {name: data[name] for name in ("error", "exception", "traceback") if isinstance(data.get(name), str)}
        if "error" in data and not isinstance(data["error"], str):
            texts["error"] = "an error whose message is not text"   # it did reply: an error, not a crash
        return cls(probe=probe if isinstance(probe, dict) else None, not_defined=data.get("not_defined") is True,
                   **texts)


@dataclass
class TrainingPlan:
    """What a training item's probe runs, carried in ``ItemSpec.params`` (``to_params``/``from_params``).

    ``budget``: keyword arguments of the graded run (its weights are scored). ``probes``: keyword
    arguments of short extra runs, each in a fresh fork of the item's child (the same process state the
    graded run starts from), so that "follows args" is judged on argument sets that differ in every field
    the grader varies, and the seed on two runs with one seed and one with another. ``probe_seconds``:
    the wall-clock limit of one probe run.
    """
    budget: dict
    probes: list = field(default_factory=list)     # [dict]
    probe_seconds: float = 20.0                    # CPU seconds of one probe run (wall clock: 4 times that)
    probe_rows: int = 1000                         # the first rows of the training split a probe run gets

    def to_params(self) -> dict[str, Any]:
        return {"budget": dict(self.budget), "probes": [dict(p) for p in self.probes],
                "probe_seconds": float(self.probe_seconds), "probe_rows": int(self.probe_rows)}

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> "TrainingPlan":
        """The plan in ``params``; a plain dict of keyword arguments is a plan without probe runs."""
        if isinstance(params, dict) and isinstance(params.get("budget"), dict):
            return cls(dict(params["budget"]), [dict(p) for p in params.get("probes", [])],
                       float(params.get("probe_seconds", 20.0)), int(params.get("probe_rows", 1000)))
        return cls(dict(params or {}))
