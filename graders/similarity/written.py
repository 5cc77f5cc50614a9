"""Similarity of the written answers (``## Answer qNx`` markdown cells), reported apart from the code.

Text is normalised (lower case, markdown and LaTeX punctuation dropped, words
only), cut into shingles of ``SHINGLE`` consecutive words, and the template's
shingles removed. Per item both students answered, the score is the Jaccard
index of the two shingle sets; a pair's score is the mean over those items,
weighted by the shorter answer's length, with the items scoring at least
``ITEM_NOTABLE`` listed so the TA knows where to read. As for code, shingles
used by more than ``COMMON_SHARE`` of the batch (at least ``COMMON_MIN``
answers) are common phrasing and removed, and only pairs sharing a shingle are
compared (``all_pairs``), through an inverted index.
"""
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from graders.intake.answers import extract_answers

SHINGLE = 4           # words per shingle: common phrases ("the kl divergence is") are shorter
MIN_SHINGLES = 5      # answers shorter than this say too little to compare
ITEM_NOTABLE = 0.4    # an item at or above this Jaccard index is listed for the TA
COMMON_SHARE = 0.25   # a shingle in more than a quarter of the batch's answers to an item is common phrasing
COMMON_MIN = 5
WORD = re.compile(r"[a-z0-9]+")


@dataclass
class WrittenMeasure:
    score: float | None                          # None when the pair has no item both answered at length
    items: dict = field(default_factory=dict)    # item -> Jaccard index, items at or above ITEM_NOTABLE


def shingles(text: str, size: int = SHINGLE) -> set[str]:
    """The set of ``size``-word shingles of ``text`` after normalisation."""
    words = WORD.findall(text.lower().replace("\\", " "))
    return {" ".join(words[i:i + size]) for i in range(len(words) - size + 1)}


def answer_shingles(markdown_cells: Iterable[str], template_shingles: frozenset[str] = frozenset()) -> dict[str, set[str]]:
    """``{item: shingle set}`` of a submission's answers, minus the template's shingles; short answers left out."""
    found = {}
    for item, text in extract_answers(markdown_cells).items():
        kept = shingles(text) - template_shingles
        if len(kept) >= MIN_SHINGLES:
            found[item] = kept
    return found


def compare_answers(a: dict[str, set[str]], b: dict[str, set[str]]) -> WrittenMeasure:
    """``WrittenMeasure`` of two ``answer_shingles`` results."""
    common = sorted(set(a) & set(b))
    if not common:
        return WrittenMeasure(None)
    weighted, weights, notable = 0.0, 0, {}
    for item in common:
        jaccard = len(a[item] & b[item]) / len(a[item] | b[item])
        weight = min(len(a[item]), len(b[item]))
        weighted += jaccard * weight
        weights += weight
        if jaccard >= ITEM_NOTABLE:
            notable[item] = round(jaccard, 3)
    return WrittenMeasure(round(weighted / weights, 3), notable)


def all_pairs(answer_sets: list[dict[str, set[str]]]) -> dict[tuple[int, int], WrittenMeasure]:
    """``{(i, j): WrittenMeasure}`` for ``i < j`` over a list of ``answer_shingles`` results.

    Pairs with an item in common but no shared shingle score 0.0; pairs without an item in
    common are left out (their score is None)."""
    holders = defaultdict(list)
    for number, answers in enumerate(answer_sets):
        for item, kept in answers.items():
            for shingle in kept:
                holders[(item, shingle)].append(number)
    cutoff = max(COMMON_MIN, COMMON_SHARE * len(answer_sets))
    common = {key for key, who in holders.items() if len(who) > cutoff}
    if common:
        answer_sets = [{item: {s for s in kept if (item, s) not in common} for item, kept in answers.items()}
                       for answers in answer_sets]
    sharing = set()
    for key, who in holders.items():
        if 1 < len(who) and key not in common:
            for x, i in enumerate(who):
                for j in who[x + 1:]:
                    sharing.add((i, j))
    scores = {}
    items = [set(answers) for answers in answer_sets]
    for i in range(len(answer_sets)):
        for j in range(i + 1, len(answer_sets)):
            if (i, j) in sharing:
                scores[(i, j)] = compare_answers(answer_sets[i], answer_sets[j])
            elif items[i] & items[j]:
                scores[(i, j)] = WrittenMeasure(0.0)
    return scores
