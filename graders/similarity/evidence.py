"""Pair scores in which rare evidence is strong: what the contract functions compute, and the texts students wrote.

Both scores are computed for all pairs at once with one matrix product over the
features held by two or more documents (``overlaps``), so 500 submissions cost
about as much as reading them.

- ``structure``: per contract function, the n-grams (``NGRAMS``) of its
  operation sequence (``structure.flatten``), each occurrence a feature of its
  own. A feature's weight is its rarity in the batch, ``1 + ln((n + 1) /
  (holders + 1))`` (1 for what everyone writes, about 5 for what two of 200
  share); features of the code the contract dictates and of pytorch/examples
  (``dictated.SNIPPETS``, ``dictated.PUBLIC_SNIPPETS``) weigh nothing. Per
  function, the weighted Jaccard index of the two feature sets: shared weight /
  weight of the union. Identical functions score
  1 whatever their size or the batch's; independent ones share what is common
  and that weighs little. The pair's score averages the eight functions'
  indices, each weighted by its union weight capped at ``FUNCTION_CAP`` and,
  when ``k >= COMMON_FORM`` students wrote that function identically, divided
  by ``k - 2`` (a common form is weak evidence for any one pair).
- ``texts``: comment lines, strings and printed messages (three words or more)
  that both wrote and that neither the template nor well-known public code
  (``dictated.PUBLIC_TEXTS``) holds, each counted ``1 / (holders - 1)``: a line
  only these two share counts 1, a line three share 0.5; a line more than
  ``max(RARE_TEXT_MIN, RARE_TEXT_SHARE * n)`` hold counts nothing.
"""
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence, Set
from dataclasses import dataclass

import numpy as np

from graders.similarity.structure import CONTRACT, StructureDocument

NGRAMS = (1, 2, 3, 4)
FUNCTION_CAP = 20.0      # a function's weight in the pair score: its union weight, at most this
COMMON_FORM = 4          # a function written identically by this many students or more is a common form
RARE_TEXT_MIN = 3        # a text held by more than max(3, 2% of the batch) is common, not evidence
RARE_TEXT_SHARE = 0.02


@dataclass
class BatchScores:
    """All-pairs matrices, rows and columns in batch order (n x n, diagonal unused)."""
    structure: np.ndarray      # weighted Jaccard of the contract functions' operation n-grams, in [0, 1]
    structure_mass: np.ndarray  # shared weight (how much evidence the structure score rests on)
    texts: np.ndarray          # rare shared texts, each counted 1 / (holders - 1)
    holders: dict              # feature (or ("text", line)) -> how many documents hold it, for those held by 2+


def function_features(name: str, ops: Sequence[str], background: Collection[tuple[str, str]] = frozenset()) -> set[str]:
    """The feature set of one function's operation sequence: ``name|n-gram|occurrence`` strings."""
    counts: Counter[str]
    found: set[str]
    counts, found = Counter(), set()
    for n in NGRAMS:
        for i in range(len(ops) - n + 1):
            gram = " ".join(ops[i:i + n])
            if (name, gram) in background:
                continue
            counts[gram] += 1
            found.add(f"{name}|{gram}|{counts[gram]}")
    return found


def background_features(snippet_structures: Iterable[StructureDocument]) -> set[tuple[str, str]]:
    """``{(function, n-gram)}`` of the dictated snippets (``[StructureDocument]``): weightless everywhere."""
    found: set[tuple[str, str]] = set()
    for document in snippet_structures:
        for name, ops in document.functions.items():
            for n in NGRAMS:
                found.update((name, " ".join(ops[i:i + n])) for i in range(len(ops) - n + 1))
    return found


def overlaps(feature_sets: Sequence[Iterable[str]],
             weight: Callable[[int], float]) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """``(shared, totals, holders)``: n x n shared weight, each document's total weight (for
    ``weight(holders)``) and ``{feature: holders}`` of the features two or more documents hold.

    Only features held by two or more documents enter the matrix product."""
    holders: defaultdict[str, list[int]] = defaultdict(list)
    for number, features in enumerate(feature_sets):
        for feature in features:
            holders[feature].append(number)
    count = len(feature_sets)
    totals = np.zeros(count)
    columns: list[tuple[list[int], float]] = []
    for who in holders.values():
        value = weight(len(who))
        for number in who:
            totals[number] += value
        if len(who) > 1:
            columns.append((who, value))
    shared = np.zeros((count, count))
    for start in range(0, len(columns), 4096):   # bounded memory: 4096 features at a time
        block = columns[start:start + 4096]
        matrix = np.zeros((count, len(block)), dtype=np.float32)
        for column, (who, value) in enumerate(block):
            matrix[who, column] = math.sqrt(value)
        shared += (matrix @ matrix.T).astype(np.float64)
    return shared, totals, {f: len(who) for f, who in holders.items() if len(who) > 1}


def rarity(count: int) -> Callable[[int], float]:
    """The weight of a structure feature held by ``holders`` of ``count`` documents."""
    return lambda holders: 1.0 + math.log((count + 1) / (holders + 1))


def score_batch(structures: Sequence[StructureDocument | None], background: Collection[tuple[str, str]],
                public_texts: Set[str] = frozenset()) -> BatchScores:
    """``BatchScores`` of ``[StructureDocument]`` (None for a submission without code).

    Per function ``f`` both define: ``J_f`` = shared weight / union weight; the pair's score is the mean of
    the ``J_f`` weighted by ``min(union weight, FUNCTION_CAP)``, so a long trainer counts no more than a
    short loss that is the student's own, and a function made only of dictated code counts nothing."""
    count = len(structures)
    weight = rarity(count)
    numerator, denominator = np.zeros((count, count)), np.zeros((count, count))
    holders: dict[str | tuple[str, str], int]
    mass, holders = np.zeros((count, count)), {}
    for name in CONTRACT:
        sets = [set() if d is None or name not in d.functions else
                function_features(name, d.functions[name], background) for d in structures]
        if not any(sets):
            continue
        shared, totals, found = overlaps(sets, weight)
        holders.update(found)
        union = totals[:, None] + totals[None, :] - shared
        with np.errstate(invalid="ignore", divide="ignore"):
            jaccard = np.where(union > 0, shared / union, 0.0)
        cap = np.minimum(union, FUNCTION_CAP)
        _common_forms(sets, cap)
        numerator += cap * jaccard
        denominator += cap
        mass += shared
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(denominator > 0, numerator / denominator, 0.0)
    texts = [set() if d is None else d.texts - public_texts for d in structures]
    rare = max(RARE_TEXT_MIN, RARE_TEXT_SHARE * count)
    text_shared, _, text_holders = overlaps(texts, lambda who: 1.0 / (who - 1) if 1 < who <= rare else 0.0)
    holders.update((("text", t), n) for t, n in text_holders.items())
    return BatchScores(np.clip(score, 0.0, 1.0), mass, text_shared, holders)


def _common_forms(sets: Iterable[set[str]], cap: np.ndarray) -> None:
    """Scale ``cap`` (in place) for pairs whose function is one form ``k >= COMMON_FORM`` students wrote
    identically, by ``1 / (k - 2)``: a form two or three share is evidence (a copy passed on), one five
    share (a public tutorial's, adapted the same way) is weak evidence for any one pair."""
    forms: defaultdict[frozenset[str], list[int]] = defaultdict(list)
    for number, features in enumerate(sets):
        if features:
            forms[frozenset(features)].append(number)
    for who in forms.values():
        if len(who) >= COMMON_FORM:
            cap[np.ix_(who, who)] /= len(who) - 2


def function_scores(a: StructureDocument, b: StructureDocument, background: Collection[tuple[str, str]],
                    weight: Callable[[str], float]) -> dict[str, float]:
    """``{function: weighted Jaccard}`` of two ``StructureDocument`` for the functions either defines."""
    scores = {}
    for name in sorted(set(a.functions) | set(b.functions)):
        fa = function_features(name, a.functions.get(name, ()), background)
        fb = function_features(name, b.functions.get(name, ()), background)
        union = fa | fb
        if union:
            scores[name] = sum(weight(f) for f in fa & fb) / sum(weight(f) for f in union)
    return scores
