"""From a pair's measures to its score, its flag and the reason, and from the pairs to clusters and neighbours.

A pair's ``similarity`` (the contract's number) is the stronger of two code
scores, each scaled by how much evidence it rests on (a graded score, not a
gate):

- structure: the rarity-weighted Jaccard index of the eight functions'
  operations (``evidence``), times ``min(1, shared weight / MASS_FULL)``;
- tokens: the rarity-weighted share of fingerprints (``compare``), times
  ``min(1, longest shared run / RUN_FULL)``.

A pair is flagged when its similarity reaches the threshold, or when the two
share at least ``TEXT_MIN`` comment, string or printed lines that nobody else
in the batch and no well-known public code holds (``evidence``), or when it
lies in a cluster of near-identical solutions (``NEAR``): a solution leaked
to much of the class is flagged whatever the cluster's size. Every pair gets a
one-line reason, flagged or not.
"""
from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graders.similarity.analysis import PairScore

THRESHOLD = 0.5      # calibrated in tests/test_similarity.py; see the README's "Similarity"
RUN_FULL = 30        # tokens: a shared run this long gives the token score in full; shorter ones scale it down
MASS_FULL = 40.0     # shared structure weight from which the structure score counts in full
TEXT_MIN = 3.0       # rare shared comment/string lines (each 1 / (holders - 1)) that flag a pair alone
NEAR = 0.9           # structure (or token) score from which two solutions are near-identical
NOTEWORTHY = 0.3     # a pair below the threshold but above this says why it is not flagged


@dataclass
class Measures:
    """What was measured for one pair, before any decision."""
    tokens: float          # rarity-weighted share of shared fingerprints, in [0, 1]
    longest: int           # longest shared token run
    structure: float       # rarity-weighted Jaccard of the contract functions' operations, in [0, 1]
    mass: float            # shared structure weight the structure score rests on
    texts: float           # rare shared texts, each 1 / (holders - 1)


def score(m: Measures) -> float:
    """The pair's similarity in [0, 1]: the stronger of the two code scores, each scaled by its evidence."""
    structure = m.structure * min(1.0, m.mass / MASS_FULL)
    tokens = m.tokens * min(1.0, m.longest / RUN_FULL)
    return round(max(structure, tokens), 4)


def verdict(m: Measures, similarity: float, threshold: float) -> tuple:
    """``(flagged, reason)`` of one pair from its measures alone (clusters are added by ``mark_clusters``)."""
    strong = []
    if similarity >= threshold:
        if m.structure * min(1.0, m.mass / MASS_FULL) >= threshold:
            strong.append(f"the functions compute the same way (structure {m.structure:.2f})")
        if m.tokens * min(1.0, m.longest / RUN_FULL) >= threshold:
            strong.append(f"the same code, token for token (tokens {m.tokens:.2f}, run of {m.longest})")
    if m.texts >= TEXT_MIN:
        strong.append(f"{m.texts:.0f} comment/string lines no one else wrote")
    if strong:
        return True, "flagged: " + "; ".join(strong)
    if max(m.structure, m.tokens) < NOTEWORTHY:
        return False, ""
    if m.structure >= NOTEWORTHY and m.mass < MASS_FULL:
        return False, f"not flagged: the shared operations are few (weight {m.mass:.0f} < {MASS_FULL:.0f})"
    if m.tokens >= NOTEWORTHY and m.longest < RUN_FULL:
        return False, f"not flagged: shared code in short runs (longest {m.longest} tokens)"
    return False, f"not flagged: below the threshold {threshold}"


@dataclass
class Cluster:
    """Submissions joined by flagged pairs; ``near_identical`` when every pair inside is near-identical."""
    members: list
    near_identical: bool
    lowest: float          # the lowest similarity of a pair inside

    @property
    def label(self) -> str:
        kind = "near-identical solutions" if self.near_identical else "joined by flagged pairs"
        return f"{len(self.members)} {kind}"


def _components(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        parent[root(a)] = root(b)
    groups: dict[str, list[str]] = {}
    for x in list(parent):
        groups.setdefault(root(x), []).append(x)
    return [sorted(g) for g in groups.values()]


def mark_clusters(pairs: list[PairScore], near_of: Callable[[PairScore], bool]) -> list:
    """Flag every pair inside a group of near-identical solutions (``near_of(pair)`` true), whatever its
    size, and return the ``Cluster`` list: groups of three or more, near-identical ones and those joined
    by flagged pairs, largest first."""
    near = [(p.a, p.b) for p in pairs if near_of(p)]
    near_groups = [g for g in _components(near) if len(g) >= 2]
    member = {x: n for n, g in enumerate(near_groups) for x in g}   # a pair is a group of two: flagged, not listed
    for p in pairs:
        if p.a in member and member.get(p.b) == member[p.a] and not p.flagged:
            p.flagged = True
            p.reason = f"flagged: one of {len(near_groups[member[p.a]])} near-identical solutions"
    found = []
    for group in (g for g in near_groups if len(g) >= 3):
        inside = [p.similarity for p in pairs if p.a in group and p.b in group]
        found.append(Cluster(group, True, min(inside)))
    for group in _components([(p.a, p.b) for p in pairs if p.flagged]):
        if len(group) >= 3 and not any(set(group) <= set(c.members) for c in found):
            inside = [p.similarity for p in pairs if p.a in group and p.b in group and p.flagged]
            found.append(Cluster(group, False, min(inside)))
    return sorted(found, key=lambda c: (-len(c.members), c.members))


@dataclass
class Neighbour:
    """A student's nearest neighbour and how far it stands out from the student's other pairs."""
    partner: str
    similarity: float
    flagged: bool
    standout: float | None = None     # (nearest - median of the others) / their spread; None with < 3 others


def neighbours(ids: Iterable[str], pairs: Iterable[PairScore]) -> dict:
    """``{id: Neighbour}``: for each student, the pair with the strongest evidence (a flagged pair first,
    then the highest similarity) and its robust z-score against the student's other pairs (median and
    median absolute deviation, at least 0.01)."""
    of: dict = {}
    for p in pairs:
        of.setdefault(p.a, []).append((p, p.b))
        of.setdefault(p.b, []).append((p, p.a))
    found = {}
    for sub_id in ids:
        if sub_id not in of:
            continue
        best, partner = max(of[sub_id], key=lambda entry: (entry[0].flagged, entry[0].similarity))
        n = Neighbour(partner, best.similarity, best.flagged)
        others = [p.similarity for p, _ in of[sub_id] if p is not best]
        if len(others) >= 3:
            middle = statistics.median(others)
            spread = max(0.01, statistics.median(abs(v - middle) for v in others))
            n.standout = round((n.similarity - middle) / spread, 1)
        found[sub_id] = n
    return found
