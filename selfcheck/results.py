"""What the self-check concludes, per check and per item (plain, typed records)."""
from dataclasses import dataclass, field

# A check's state: judged here ("pass"/"fail"), a form this check cannot verify ("unverified": the grader
# checks it against the reference), or a check the self-check never runs ("not_here": training's scores).
STATES = ("pass", "fail", "unverified", "not_here")


@dataclass
class CheckResult:
    key: str             # the key of the grader's registry (graders.items: "value", "form", ...)
    name: str            # the grader's name for the check
    marks: float         # the grader's marks for it
    state: str
    expected: str = ""
    received: str = ""
    hint: str = ""

    def __post_init__(self) -> None:
        assert self.state in STATES, self.state

    @property
    def awarded(self) -> float:
        return self.marks if self.state == "pass" else 0.0


@dataclass
class ItemVerdict:
    """One item: judged on its checks, or ``error``/``not_done`` with a message."""
    id: str
    function: str
    marks: float
    checks: list = field(default_factory=list)     # [CheckResult]
    error: str = ""                                 # the function raised, timed out, is missing ...
    not_done: bool = False                          # still the template's NotImplementedError
    notes: list = field(default_factory=list)

    @property
    def symbol(self) -> str:
        if self.not_done:
            return "…"
        if self.error or any(c.state == "fail" for c in self.checks):
            return "✘"
        return "?" if any(c.state == "unverified" for c in self.checks) else "✔"

    @property
    def judged_marks(self) -> float:
        return sum(c.marks for c in self.checks if c.state in ("pass", "fail"))

    @property
    def awarded(self) -> float:
        return sum(c.awarded for c in self.checks)
