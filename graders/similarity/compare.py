"""One pair's measures from the fingerprints it shares: similarity, longest shared run, matched regions."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from graders.similarity.winnow import K, W

if TYPE_CHECKING:
    from graders.similarity.index import IndexedDocument
    from graders.similarity.tokenise import CodeDocument

MAX_PAIRINGS = 8   # a fingerprint repeated in both files: pair at most this many of its positions


@dataclass(frozen=True)
class Fragment:
    """A run of tokens shared by both files: token index ranges ``[start, end)`` in each."""
    a_start: int
    a_end: int
    b_start: int
    b_end: int

    @property
    def tokens(self) -> int:
        return self.a_end - self.a_start


@dataclass
class PairMeasure:
    similarity: float                              # in [0, 1]
    longest: int                                   # tokens in the longest shared run
    fragments: list = field(default_factory=list)  # [Fragment], longest first


def similarity(a: IndexedDocument, b: IndexedDocument, shared: Iterable[int],
               weights: dict[int, float] | None = None) -> float:
    """Share of both documents' fingerprints that the other holds, each weighted by its rarity:
    (covered_a + covered_b) / (all_a + all_b).

    ``a`` and ``b`` are ``IndexedDocument``; ``shared`` the hashes both hold; ``weights`` hash -> weight
    (``FingerprintIndex.weights``; all 1 when None). Symmetric, in [0, 1]; 0 when neither has any
    fingerprint of its own (for example two untouched templates).
    """
    total: float
    covered: float
    if weights is None:
        total = len(a.prints) + len(b.prints)
        covered = sum(len(a.positions[h]) + len(b.positions[h]) for h in shared)
    else:
        total = a.weight + b.weight
        covered = sum(weights[h] * (len(a.positions[h]) + len(b.positions[h])) for h in shared)
    if not total:
        return 0.0
    return min(1.0, covered / total)


def fragments(a: IndexedDocument, b: IndexedDocument, shared: Iterable[int], k: int = K, w: int = W) -> list[Fragment]:
    """Shared runs: matching fingerprints on one diagonal (same offset) at most ``w`` apart form one run."""
    matches = sorted((pa - pb, pa, pb) for h in shared
                     for pa in a.positions[h][:MAX_PAIRINGS] for pb in b.positions[h][:MAX_PAIRINGS])
    runs, current = [], None
    for offset, pa, pb in matches:
        if current and current[0] == offset and pa - current[2] <= w:
            current[2] = pa
        else:
            if current:
                runs.append(current)
            current = [offset, pa, pa]
    if current:
        runs.append(current)
    found = [Fragment(first, last + k, first - offset, last - offset + k) for offset, first, last in runs]
    return sorted(found, key=lambda f: (-f.tokens, f.a_start))


def measure(a: IndexedDocument, b: IndexedDocument, shared: list[int], with_fragments: bool = False,
            weights: dict[int, float] | None = None) -> PairMeasure:
    """``PairMeasure`` of two ``IndexedDocument``; fragments kept only when asked (they cost memory)."""
    if not shared:
        return PairMeasure(0.0, 0)
    found = fragments(a, b, shared)
    return PairMeasure(similarity(a, b, shared, weights), found[0].tokens if found else 0,
                       found if with_fragments else [])


def line_regions(a: IndexedDocument, b: IndexedDocument,
                 found: Iterable[Fragment]) -> list[tuple[tuple[int, int], tuple[int, int], int]]:
    """``[((a_first, a_last), (b_first, b_last), tokens)]`` line spans (1-based, inclusive) of ``found``."""
    regions = []
    for f in found:
        # IndexedDocument.doc is annotated ``object``; it always holds the CodeDocument (cast: no runtime effect)
        a_lines, b_lines = cast("CodeDocument", a.doc).lines, cast("CodeDocument", b.doc).lines
        regions.append(((a_lines[f.a_start], a_lines[min(f.a_end, len(a_lines)) - 1]),
                        (b_lines[f.b_start], b_lines[min(f.b_end, len(b_lines)) - 1]), f.tokens))
    return regions
