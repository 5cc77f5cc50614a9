"""An inverted index of fingerprints: which documents share which fingerprint, without comparing every pair.

Two kinds of fingerprint are removed before anything is compared:

- common ground (like Dolos ``-i template`` or copydetect's
  ``boilerplate_dirs``): every k-gram of the released template, code every
  student was given, and of the statements the contract dictates
  (``dictated.SNIPPETS``);
- those held by more than ``max(BOILERPLATE_MIN, BOILERPLATE_SHARE * n)`` of
  the ``n`` documents (like Dolos ``-M``): code the contract's layout table
  makes every honest student write the same way.

The fingerprints kept are weighted by how rare they are in the batch
(``rarity``): a run only two students share counts for more than one that
many hold. Pairs then come from the postings: a fingerprint held by ``d`` documents adds
to ``d (d - 1) / 2`` pairs, so the cost follows what is shared, not ``n**2``
file comparisons, and pairs that share nothing are never visited.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from graders.similarity.winnow import fingerprints, kgram_hashes

if TYPE_CHECKING:
    from graders.similarity.tokenise import CodeDocument

BOILERPLATE_SHARE = 0.25   # a fingerprint in more than a quarter of the batch is common ground, not a copy
BOILERPLATE_MIN = 5        # ... but never below 5 documents, so small batches keep their evidence


@dataclass
class IndexedDocument:
    """A document's fingerprints after the template's and the batch's common ones are removed."""
    doc: object                                       # the CodeDocument
    prints: list = field(default_factory=list)        # [Fingerprint] kept
    positions: dict = field(default_factory=dict)     # hash -> [token position]
    weight: float = 0.0                               # sum of its kept fingerprints' rarity weights


@dataclass
class FingerprintIndex:
    entries: list                                     # [IndexedDocument], in the documents' order
    boilerplate: set                                  # hashes removed as shared by a large share
    template_hashes: set                              # hashes removed as the template's
    shared: dict                                      # (i, j) with i < j -> [hash] both hold
    weights: dict = field(default_factory=dict)       # hash -> rarity weight (``rarity``)

    @classmethod
    def build(cls, documents: Sequence[CodeDocument], template_tokens: Iterable[Sequence[str]] = (),
              share: float = BOILERPLATE_SHARE, minimum: int = BOILERPLATE_MIN) -> FingerprintIndex:
        """Index ``documents`` (CodeDocuments); ``template_tokens``: token lists of the common ground."""
        template_hashes = {h for tokens in template_tokens for h in kgram_hashes(tokens)}
        raw = [[p for p in fingerprints(doc.tokens) if p.hash not in template_hashes] for doc in documents]
        frequency: defaultdict[int, int] = defaultdict(int)
        for prints in raw:
            for h in {p.hash for p in prints}:
                frequency[h] += 1
        cutoff = max(minimum, share * len(documents))
        boilerplate = {h for h, count in frequency.items() if count > cutoff}
        entries: list[IndexedDocument]
        postings: defaultdict[int, list[int]]
        weights: dict[int, float]
        entries, postings, weights = [], defaultdict(list), {}
        for number, (doc, prints) in enumerate(zip(documents, raw)):
            kept = [p for p in prints if p.hash not in boilerplate]
            positions = defaultdict(list)
            for p in kept:
                positions[p.hash].append(p.position)
            weights.update((h, rarity(frequency[h], len(documents))) for h in positions)
            entries.append(IndexedDocument(doc, kept, dict(positions),
                                           sum(weights[h] * len(at) for h, at in positions.items())))
            for h in positions:
                if frequency[h] > 1:
                    postings[h].append(number)
        shared = defaultdict(list)
        for h, holders in postings.items():
            for x, i in enumerate(holders):
                for j in holders[x + 1:]:
                    shared[(i, j)].append(h)
        return cls(entries, boilerplate, template_hashes, dict(shared), weights)


def rarity(holders: int, count: int) -> float:
    """Weight of a fingerprint ``holders`` of ``count`` documents hold: 1 for what all share, about
    ``1 + ln(count / 2)`` for what only two share (smoothed inverse document frequency)."""
    return 1.0 + math.log((count + 1) / (holders + 1))
