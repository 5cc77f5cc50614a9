"""Per-question statistics for the marking app's home page: progress, mean, distribution, rubric use."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from graders.items import WRITTEN_ITEMS

if TYPE_CHECKING:
    from graders.marking.store import MarkStore


@dataclass
class QuestionStats:
    """One written item over the students ``ids`` (marks in marks, out of ``max``)."""
    item: str
    max: float
    marked: int
    total: int
    mean: float | None                                              # over marked answers
    distribution: list[tuple[float, int]] = field(default_factory=list)  # (score, answers), by score
    entries: list[tuple[str, str, int]] = field(default_factory=list)    # (entry id, text, times applied)


def question_stats(store: MarkStore, ids: Iterable[str]) -> list[QuestionStats]:
    """``QuestionStats`` for every written item, counting only the students in ``ids``."""
    ids = set(ids)
    out = []
    for item, maximum in WRITTEN_ITEMS.items():
        marks = {sid: m for sid, m in store.marks_of_item(item).items() if sid in ids and m.marked}
        scores = cast("list[float]", [m.score for m in marks.values()])   # all marked: no score is None
        used = Counter(entry for m in marks.values() for entry in m.applied)
        out.append(QuestionStats(item, float(maximum), len(marks), len(ids),
                                 round(sum(scores) / len(scores), 2) if scores else None,
                                 sorted(Counter(scores).items()),
                                 [(e.id, e.text, used.get(e.id, 0)) for e in store.rubric(item)]))
    return out
