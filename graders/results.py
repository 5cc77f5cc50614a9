"""What a grading run produces: per check, per item, per submission (contract section 5)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

STATUSES = ("pass", "partial", "fail", "error", "manual")
# Why an item ended as it did, for code that must not parse message text (grade.py check, reports):
CAUSES = {
    "": "judged on its checks",
    "not_done": "the function still raises NotImplementedError (the template's stub)",
    "not_defined": "the submission does not define the function",
    "load_error": "the submission could not be loaded",
    "timeout": "the function ran past its time limit",
    "crash": "the process running the function died (signal, memory, exit)",
    "exception": "the function raised an exception",
    "malformed": "the function's process sent back no usable result",
    "judge_error": "the grader failed to judge the item (a grader bug)",
    "unverified": "passed what the public self-check can verify; the grader checks the rest",
}


@dataclass(frozen=True)
class MoodleIdentity:
    """Whose submission it is in Moodle, read by discovery from the download's folder name
    (``<Full Name>_<participant>_assignsubmission_file_``), never parsed back out of the id."""
    participant: str     # Moodle's participant number (digits): the gradebook's "Participant N"
    full_name: str       # the student's name as the folder spelt it


@dataclass
class Check:
    """One piece of evidence inside an item: its marks and, when it failed, what differed."""
    name: str
    marks: float
    awarded: float
    passed: bool
    expected: str = ""
    received: str = ""
    hint: str = ""

    def message(self) -> str:
        if self.passed:
            return ""
        parts = [f"{self.name}: lost {self.marks - self.awarded:g} of {self.marks:g}"]
        if self.expected:
            parts.append(f"expected {self.expected}")
        if self.received:
            parts.append(f"got {self.received}")
        text = "; ".join(parts)
        return f"{text}. Hint: {self.hint}" if self.hint else text + "."


@dataclass
class ItemResult:
    max: float
    status: str
    awarded: float = 0.0
    messages: list = field(default_factory=list)
    checks: list = field(default_factory=list)   # Check records, for reports
    details: dict = field(default_factory=dict)  # plain data for reports (timings, curves ...)
    cause: str = ""                               # a key of CAUSES
    notes: list = field(default_factory=list)     # sentences that cost no marks (e.g. "not verified here")
    flags: list = field(default_factory=list)     # for the TA: the submission's flags should include these

    def __post_init__(self) -> None:
        assert self.status in STATUSES and self.cause in CAUSES, (self.status, self.cause)

    @classmethod
    def from_checks(cls, max_marks: float, checks: list[Check], details: dict[str, Any] | None = None, cause: str = "",
                    notes: Iterable[str] | None = None, flags: Iterable[str] | None = None) -> ItemResult:
        """The item's result from its checks, whose marks must add up to ``max_marks``."""
        assert abs(sum(c.marks for c in checks) - max_marks) < 1e-6, [(c.name, c.marks) for c in checks]
        awarded = round(min(max_marks, sum(c.awarded for c in checks)), 6)
        status = "pass" if awarded == max_marks else ("partial" if awarded > 0 else "fail")
        return cls(max_marks, status, awarded, [c.message() for c in checks if not c.passed], checks, details or {},
                   cause, list(notes or []), list(flags or []))

    @classmethod
    def error(cls, max_marks: float, reason: str, cause: str = "exception") -> ItemResult:
        return cls(max_marks, "error", 0.0, [reason], cause=cause)

    def contract_json(self) -> dict[str, Any]:
        return {"awarded": float(self.awarded), "max": float(self.max), "status": self.status,
                "messages": list(self.messages)}

    def full_json(self) -> dict[str, Any]:
        out = self.contract_json()
        out["checks"] = [asdict(c) for c in self.checks]
        out["details"] = self.details
        out["cause"] = self.cause
        out["notes"] = list(self.notes)
        out["flags"] = list(self.flags)
        return out


@dataclass
class SubmissionInfo:
    """What a run records about one submission besides its marks (``full_json()["info"]``): where it came
    from, what graded it, how long it took. Written by discovery and the pipeline (and the batch: the
    fingerprint, a resumed result, the whole submission's time; the cluster: the worker), read by the
    reports, the marking app and the tests. Every field is plain JSON data."""
    source: str = ""                 # the name shown: the file, or its member in a zip ("A4.zip/A4.ipynb"); no path
    source_path: str = ""            # the local file graded ("" when none): the path to open
    files: list = field(default_factory=list)     # SubmittedFile.to_json() of every file discovery found
    pdf_path: str = ""               # the PDF of written answers graded from ("" when none)
    pdf: str = ""                    # a copy of it kept in OUT (absolute, or relative to OUT)
    submitted_at: str | None = None  # ISO 8601 time the files were handed in; None: unknown
    sandbox: str = ""                # the sandbox that ran the submission (its description)
    data: str = ""                   # the MNIST source of the run
    secret: str = ""                 # where the course secret came from (never the secret)
    grader_version: str = ""
    mode: str = ""                   # "full" or "public self-check"
    seed: int = 0
    device: str = "cpu"
    torch: str = ""                  # torch's version
    notes: list = field(default_factory=list)     # plain sentences for the TA (str)
    markdown: list = field(default_factory=list)  # the notebook's markdown cells (str): the written answers
    graded_at: str = ""              # ISO 8601, when the pipeline read the file
    resources: dict = field(default_factory=dict)  # the sandbox's measurements (MiB, s): pipeline._resources
    load: dict = field(default_factory=dict)       # the loading rule's record: statements, seconds, skips
    timings: dict = field(default_factory=dict)    # seconds: worker, judge, items {id: wall s}, items_cpu
                                                   # {id: CPU s, what an item's limit counts}, submission
    worker: str = ""                 # host:pid of the cluster worker that graded it ("" on a local run)
    fingerprint: str = ""            # the resume key's digest (graders.batch.keys.fingerprint)
    resumed: bool = False            # taken from results.jsonl, not graded by this run
    moodle_participant: str = ""     # MoodleIdentity.participant of a Moodle download ("" otherwise)
    moodle_name: str = ""            # MoodleIdentity.full_name

    @property
    def moodle(self) -> MoodleIdentity | None:
        """The submission's ``MoodleIdentity`` as discovery found it, or None (not from a Moodle download)."""
        return MoodleIdentity(self.moodle_participant, self.moodle_name) if self.moodle_participant else None

    def set_moodle(self, identity: MoodleIdentity | None) -> None:
        self.moodle_participant, self.moodle_name = (identity.participant, identity.full_name) if identity else ("", "")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> SubmissionInfo:
        """From ``to_json()``'s form; a missing field, or one of another type, takes its default."""
        data = data if isinstance(data, dict) else {}
        defaults = cls()
        values: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:

            value, default = data.get(name), getattr(defaults, name)
            if name == "submitted_at":
                values[name] = value if isinstance(value, str) else None
            elif isinstance(value, type(default)) and not (isinstance(value, bool) and not isinstance(default, bool)):
                values[name] = value
        return cls(**values)


@dataclass
class SubmissionResult:
    id: str
    items: dict                       # item id -> ItemResult
    flags: list = field(default_factory=list)
    info: SubmissionInfo = field(default_factory=SubmissionInfo)
    models: dict = field(default_factory=dict, repr=False, compare=False)  # item id -> state dict; not in JSON

    @property
    def auto_awarded(self) -> float:
        return round(sum(r.awarded for r in self.items.values()), 6)

    @property
    def auto_max(self) -> float:
        return round(sum(r.max for r in self.items.values()), 6)

    def contract_json(self, raw_total: float | None = None, final_grade: float | None = None) -> dict[str, Any]:
        return {"id": self.id, "items": {k: v.contract_json() for k, v in self.items.items()},
                "auto_awarded": float(self.auto_awarded), "auto_max": float(self.auto_max),
                "raw_total": raw_total, "final_grade": final_grade, "flags": list(self.flags)}

    def full_json(self) -> dict[str, Any]:
        return {"id": self.id, "items": {k: v.full_json() for k, v in self.items.items()},
                "flags": list(self.flags), "info": self.info.to_json()}

    @classmethod
    def from_full_json(cls, data: dict[str, Any]) -> SubmissionResult:

        items = {}
        for item_id, raw in data["items"].items():
            checks = [Check(**c) for c in raw.get("checks", [])]
            items[item_id] = ItemResult(raw["max"], raw["status"], raw["awarded"], raw["messages"], checks,
                                        raw.get("details", {}), raw.get("cause", ""), raw.get("notes", []),
                                        raw.get("flags", []))
        return cls(data["id"], items, data.get("flags", []),
                   SubmissionInfo.from_json(data.get("info")))
