"""All pairs of a batch compared: the ``SimilarityReport`` that the command line, ``grade`` and the HTML use."""
from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from graders.similarity import decide, dictated, evidence, pdf_answers, written
from graders.similarity.compare import line_regions, measure
from graders.similarity.decide import RUN_FULL, THRESHOLD
from graders.similarity.index import FingerprintIndex
from graders.similarity.structure import markdown_texts, read_structure, template_facts
from graders.similarity.tokenise import (CodeDocument, _python_text, normalise, read_document, statements,
                                         template_statements)

if TYPE_CHECKING:
    from graders.intake.discover import Submission
    from graders.intake.source import SourceCells
    from graders.similarity.structure import StructureDocument

MIN_LONGEST = RUN_FULL   # kept for callers: the run length from which token evidence counts in full


@dataclass
class PairScore:
    a: str
    b: str
    similarity: float
    longest: int
    flagged: bool
    written: float | None = None                       # written answers' score, reported apart; never flags
    written_items: dict = field(default_factory=dict)  # item -> Jaccard, the items worth reading
    tokens: float = 0.0                                # rarity-weighted token fingerprint score
    structure: float = 0.0                             # rarity-weighted Jaccard of the functions' operations
    mass: float = 0.0                                  # shared structure weight
    texts: float = 0.0                                 # rare shared comment/string lines
    reason: str = ""                                   # why it is (or, when high, is not) flagged
    pdf: float | None = None                           # written answers' PDFs: Jaccard, reported apart

    def as_contract(self) -> dict[str, Any]:
        """The contract's entry (section 5): exactly a, b, similarity, longest, flagged."""
        return {"a": self.a, "b": self.b, "similarity": round(self.similarity, 4), "longest": self.longest,
                "flagged": self.flagged}


@dataclass
class SimilarityReport:
    threshold: float
    min_longest: int
    ids: list                                          # submission ids in batch order
    pairs: list                                        # [PairScore], one per unordered pair, most similar first
    clusters: list                                     # [decide.Cluster], largest first
    documents: dict = field(default_factory=dict)      # id -> CodeDocument
    index: FingerprintIndex | None = None
    template_statements: int = 0
    structures: dict = field(default_factory=dict)     # id -> StructureDocument
    neighbours: dict = field(default_factory=dict)     # id -> decide.Neighbour
    background: frozenset = frozenset()                # structure features of the dictated code
    holders: dict = field(default_factory=dict, repr=False)   # structure feature -> documents holding it

    def to_json(self) -> dict[str, Any]:
        """The contract's ``similarity --json`` object."""
        return {"pairs": [p.as_contract() for p in self.pairs], "threshold": self.threshold}

    def strongest(self, sub_id: str) -> PairScore | None:
        """The ``PairScore`` with the highest similarity that involves ``sub_id``; None if it has no pair."""
        best = self.neighbours.get(sub_id)
        if best is None:
            return None
        return self.pair(sub_id, best.partner)

    def pair(self, a: str, b: str) -> PairScore | None:
        """The ``PairScore`` of ``a`` and ``b`` (either order)."""
        if not hasattr(self, "_by_ids"):
            self._by_ids = {(p.a, p.b): p for p in self.pairs}
        return self._by_ids.get((a, b)) or self._by_ids.get((b, a))

    def column(self, sub_id: str) -> dict[str, Any] | None:
        """What the class overview shows for one student: ``{"partner", "similarity", "flagged", "why"}`` or None."""
        best = self.strongest(sub_id)
        if best is None:
            return None
        return {"partner": best.b if best.a == sub_id else best.a, "similarity": round(best.similarity, 2),
                "flagged": best.flagged, "why": best.reason}

    def function_scores(self, pair: PairScore) -> dict[str, float]:
        """``{function: weighted Jaccard}`` of a pair's contract functions (what the page shows per function)."""
        a, b = self.structures.get(pair.a), self.structures.get(pair.b)
        if a is None or b is None:
            return {}
        weight = evidence.rarity(len(self.ids))
        return evidence.function_scores(a, b, self.background, lambda f: weight(self.holders.get(f, 1)))

    def shared_texts(self, pair: PairScore) -> list[str]:
        """The rare comment/string lines both wrote, sorted."""
        a, b = self.structures.get(pair.a), self.structures.get(pair.b)
        if a is None or b is None:
            return []
        public = public_texts()
        return sorted(t for t in a.texts & b.texts if t not in public and self.holders.get(("text", t), 2) <= 2)

    def regions(self, pair: PairScore) -> list[tuple[tuple[int, int], tuple[int, int], int]]:
        """Matched line spans of a pair: ``[((a_first, a_last), (b_first, b_last), tokens)]``, longest first."""
        i, j = self.ids.index(pair.a), self.ids.index(pair.b)
        index = cast(FingerprintIndex, self.index)   # set by analyse_cells; cast only tells mypy (no runtime effect)
        a, b = index.entries[i], index.entries[j]
        shared = index.shared.get((min(i, j), max(i, j)), [])
        found = measure(a, b, shared, with_fragments=True).fragments
        return line_regions(a, b, found) if i < j else [(rb, ra, n) for ra, rb, n in line_regions(b, a, found)]

    def write_html(self, out_dir: str | Path) -> Path:
        """Write ``out_dir/similarity.html`` (self-contained) and return its path."""
        from graders.similarity.report import write_html
        return write_html(self, Path(out_dir))


def template_cells() -> SourceCells:
    """The released template's cells (``graders.intake.source.SourceCells``): its code is subtracted from every file."""
    from graders.intake.source import SourceCells
    from reference.notebook import template_notebook
    cells = SourceCells()
    for number, cell in enumerate(template_notebook().cells, start=1):
        if cell.cell_type == "code":
            cells.code.append((f"cell {number}", cell.source))
        elif cell.cell_type == "markdown":
            cells.markdown.append(cell.source)
    return cells


def read_submission_cells(submission: Submission) -> tuple[SourceCells | None, str]:
    """``(SourceCells or None, problem)`` of a ``graders.intake.discover.Submission``, read without running anything."""
    from graders.intake.source import UnreadableSource, read_cells
    if submission.source is None:
        return None, submission.problem or "no source file"
    try:
        return read_cells(submission.source), ""
    except UnreadableSource as error:
        return None, str(error)


def read_pdf_text(submission: Submission) -> str:
    """The text of a submission's written-answers PDF, ``""`` when it has none."""
    pdf = getattr(submission, "pdf", None)
    return pdf_answers.pdf_text(pdf) if pdf is not None else ""


def analyse(submissions: Sequence[Submission], template_cells: SourceCells, threshold: float = THRESHOLD,
            min_longest: int = MIN_LONGEST) -> SimilarityReport:
    """Compare every pair of ``submissions`` (``graders.intake.discover.Submission`` records) after removing
    ``template_cells`` (a ``SourceCells``, e.g. ``template_cells()``); returns a ``SimilarityReport``.
    Their PDFs' text (written answers) is compared too, apart from the code."""
    named = []
    for submission in submissions:
        cells, problem = read_submission_cells(submission)
        named.append((submission.id, cells, problem))
    return analyse_cells(named, template_cells, threshold, min_longest,
                         pdf_texts=[read_pdf_text(s) for s in submissions])


@functools.lru_cache(maxsize=1)
def public_texts() -> frozenset[str]:
    """Normalised ``dictated.PUBLIC_TEXTS``."""
    from graders.similarity.structure import _normal_text
    return frozenset(filter(None, map(_normal_text, dictated.PUBLIC_TEXTS)))


@dataclass(frozen=True)
class TemplateSide:
    """What is subtracted from every submission, computed once per template (it is the same all term)."""
    known: frozenset          # normalised token tuples of the template's statements
    tokens: tuple             # token lists of the template's and the dictated statements
    words: frozenset          # shingles of the template's markdown
    names: frozenset          # API the template gives (structure.template_facts)
    texts: frozenset          # the template's comments and strings
    background: frozenset     # structure features of the dictated code


@functools.lru_cache(maxsize=4)
def _template_side(code: tuple[str, ...], markdown: tuple[str, ...]) -> TemplateSide:
    """``TemplateSide`` of the template's code cell texts and markdown cell texts (tuples)."""
    known = template_statements([("", text) for text in code])
    tokens = [tuple(t for t, _ in normalise(s)) for text in code for s in statements(text)]
    tokens += [tuple(t for t, _ in normalise(s)) for s in dictated.SNIPPETS]
    words = set().union(*(written.shingles(text) for text in markdown)) if markdown else set()
    names, texts = template_facts([_python_text(text) for text in code])
    texts = texts | markdown_texts(markdown)
    background = evidence.background_features([read_structure([s], names)
                                               for s in dictated.SNIPPETS + dictated.PUBLIC_SNIPPETS])
    return TemplateSide(frozenset(known), tuple(tokens), frozenset(words), names, texts, frozenset(background))


def template_side(template: SourceCells) -> TemplateSide:
    """``TemplateSide`` of a ``SourceCells`` template (cached on its text)."""
    return _template_side(tuple(text for _, text in template.code), tuple(template.markdown))


def analyse_cells(named_cells: Iterable[tuple[str, SourceCells | None, str]], template: SourceCells,
                  threshold: float = THRESHOLD, min_longest: int = MIN_LONGEST,
                  pdf_texts: Sequence[str] | None = None) -> SimilarityReport:
    """As ``analyse``, from ``[(id, SourceCells or None, problem)]`` (and the PDFs' texts, in that order)."""
    side = template_side(template)
    documents: dict[str, CodeDocument]
    answers: dict[str, dict[str, set[str]]]
    ids: list[str]
    structures: list[StructureDocument | None]
    documents, answers, ids, structures = {}, {}, [], []
    for sub_id, cells, problem in named_cells:
        ids.append(sub_id)
        if cells is None:
            documents[sub_id] = CodeDocument(sub_id, problem=problem)
            answers[sub_id] = {}
            structures.append(None)
            continue
        documents[sub_id] = read_document(sub_id, cells.code, side.known)
        answers[sub_id] = written.answer_shingles(cells.markdown, side.words)
        structures.append(read_structure([_python_text(text) for _, text in cells.code], side.names, side.texts))
    index = FingerprintIndex.build([documents[i] for i in ids], side.tokens)
    batch = evidence.score_batch(structures, side.background, public_texts())
    prose_scores = written.all_pairs([answers[i] for i in ids])
    pdf_scores = pdf_answers.all_pairs([pdf_answers.pdf_shingles(text, side.words)
                                        for text in (pdf_texts or [""] * len(ids))])
    pairs = _pairs(ids, index, batch, prose_scores, pdf_scores, threshold)
    clusters = decide.mark_clusters(pairs, lambda p: p.mass >= decide.MASS_FULL and (
        p.structure >= decide.NEAR or p.tokens >= decide.NEAR))
    return SimilarityReport(threshold, min_longest, ids, pairs, clusters, documents, index,
                            sum(d.template_statements for d in documents.values()),
                            {i: s for i, s in zip(ids, structures) if s is not None},
                            decide.neighbours(ids, pairs), side.background, batch.holders)


def _pairs(ids: list[str], index: FingerprintIndex, batch: evidence.BatchScores,
           prose_scores: dict[tuple[int, int], written.WrittenMeasure], pdf_scores: dict[tuple[int, int], float],
           threshold: float) -> list[PairScore]:
    """Every pair's ``PairScore``, most similar first."""
    no_prose = written.WrittenMeasure(None)
    pairs = []
    for i in range(len(ids)):
        for j in range(i + 1, len(ids)):
            shared = index.shared.get((i, j))
            tokens = measure(index.entries[i], index.entries[j], shared or [], weights=index.weights)
            found = decide.Measures(tokens.similarity, tokens.longest, float(batch.structure[i, j]),
                                    float(batch.structure_mass[i, j]), float(batch.texts[i, j]))
            similarity = decide.score(found)
            flagged, reason = decide.verdict(found, similarity, threshold)
            prose = prose_scores.get((i, j), no_prose)
            pairs.append(PairScore(ids[i], ids[j], similarity, tokens.longest, flagged, prose.score, prose.items,
                                   round(found.tokens, 4), round(found.structure, 4), round(found.mass, 1),
                                   round(found.texts, 2), reason, pdf_scores.get((i, j))))
    pairs.sort(key=lambda p: (-p.similarity, -p.longest, p.a, p.b))
    return pairs
