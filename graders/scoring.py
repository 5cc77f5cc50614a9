"""The homework's coarse bins (contract section 4) and the contract's JSON document."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from graders.results import SubmissionResult


@dataclass(frozen=True)
class Bins:
    """``raw >= 80 -> 100``, ``60 <= raw < 80 -> 80``, ``40 <= raw < 60 -> 60``, below ``40 -> 0``.

    ``edges`` are ``(lower bound, grade)`` pairs, highest first; ``inclusive``
    says whether a raw total equal to a lower bound reaches that bin.
    """
    edges: tuple = ((80, 100), (60, 80), (40, 60))
    floor_grade: float = 0
    inclusive: bool = True

    def grade(self, raw: float) -> float:
        for lower, grade in self.edges:
            if raw > lower or (self.inclusive and raw == lower):
                return grade
        return self.floor_grade

    def describe(self) -> str:
        sign = ">=" if self.inclusive else ">"
        rules = [f"raw {sign} {lower} -> {grade:g}" for lower, grade in self.edges]
        return "; ".join(rules + [f"otherwise {self.floor_grade:g}"])


def contract_document(results: Iterable[SubmissionResult], summaries: Mapping[str, Summary] | None = None) -> dict[str, Any]:
    """``{"submissions": [...]}`` exactly as contract section 5; ``summaries`` maps id -> ``Summary``."""
    summaries = summaries or {}
    return {"submissions": [result.contract_json(getattr(summaries.get(result.id), "raw", None),
                                                 getattr(summaries.get(result.id), "final", None))
                            for result in results]}


@dataclass
class Summary:
    """The marks of one student as a report shows them."""
    auto: float
    written: float | None        # sum of the written marks entered so far, None if none
    written_complete: bool
    raw: float | None            # auto + written, once every written item has a mark
    final: float | None          # the coarse-bin grade (0 when late), once final
    provisional_bin: float       # the bin the auto marks alone reach
    late: str = ""

    auto_max: float = 40

    @property
    def provisional(self) -> bool:
        return self.final is None

    @property
    def display(self) -> str:
        """The grade as a page shows it: the final grade, or e.g. "auto 38/40, written pending"."""
        if self.final is not None:
            return f"{self.final:g}"
        entered = "" if self.written is None else f" ({self.written:g} entered so far)"
        return f"auto {self.auto:g}/{self.auto_max:g}, written pending{entered}"


def summarise(result: SubmissionResult, written_entry: dict[str, Any] | None, bins: Bins, late: str = "") -> Summary:
    from graders.items import WRITTEN_ITEMS
    marks = (written_entry or {}).get("marks", {})
    written = round(sum(marks.values()), 6) if marks else None
    complete = len(marks) == len(WRITTEN_ITEMS)
    raw = round(result.auto_awarded + written, 6) if complete and written is not None else None
    final = 0 if late else (bins.grade(raw) if raw is not None else None)  # late: 0 at once, marked or not
    return Summary(result.auto_awarded, written, complete, raw, final, bins.grade(result.auto_awarded), late,
                   result.auto_max)
