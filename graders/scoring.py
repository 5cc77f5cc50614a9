"""The homework's coarse bins (contract section 4) and the contract's JSON document."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Bins:
    """``raw >= 80 -> 100``, ``60 <= raw < 80 -> 80``, ``40 <= raw < 60 -> 60``, below ``40 -> 0``.

    ``edges`` are ``(lower bound, grade)`` pairs, highest first; ``inclusive``
    says whether a raw total equal to a lower bound reaches that bin.
    """
    edges: tuple = ((80, 100), (60, 80), (40, 60))
    floor_grade: float = 0
    inclusive: bool = True

    def grade(self, raw):
        for lower, grade in self.edges:
            if raw > lower or (self.inclusive and raw == lower):
                return grade
        return self.floor_grade

    def describe(self):
        sign = ">=" if self.inclusive else ">"
        rules = [f"raw {sign} {lower} -> {grade:g}" for lower, grade in self.edges]
        return "; ".join(rules + [f"otherwise {self.floor_grade:g}"])


def contract_document(results, written=None, bins=Bins()):
    """``{"submissions": [...]}`` exactly as contract section 5; ``written`` maps id -> written marks total."""
    submissions = []
    for result in results:
        raw = final = None
        if written and result.id in written:
            raw = round(result.auto_awarded + written[result.id], 6)
            final = bins.grade(raw)
        submissions.append(result.contract_json(raw, final))
    return {"submissions": submissions}
