"""All pairs of a batch compared: the ``SimilarityReport`` that the command line, ``grade`` and the HTML use."""
from dataclasses import dataclass, field
from pathlib import Path

from graders.similarity import dictated, written
from graders.similarity.compare import line_regions, measure
from graders.similarity.index import FingerprintIndex
from graders.similarity.tokenise import CodeDocument, normalise, read_document, statements, template_statements

# Calibrated on tests/similarity_corpus (see tests/test_similarity.py and the README's "Similarity"):
THRESHOLD = 0.28      # flagged when at least 28% of both files' own fingerprints are shared ...
MIN_LONGEST = 30      # ... and one shared run is at least 30 tokens (a few statements in a row, not chance)
SHOWN_PAIRS = 60      # pairs given a side-by-side view in similarity.html: every flagged pair and the top others


@dataclass
class PairScore:
    a: str
    b: str
    similarity: float
    longest: int
    flagged: bool
    written: float | None = None                       # written answers' score, reported apart; never flags
    written_items: dict = field(default_factory=dict)  # item -> Jaccard, the items worth reading

    def as_contract(self):
        """The contract's entry (section 5): exactly a, b, similarity, longest, flagged."""
        return {"a": self.a, "b": self.b, "similarity": round(self.similarity, 4), "longest": self.longest,
                "flagged": self.flagged}


@dataclass
class SimilarityReport:
    threshold: float
    min_longest: int
    ids: list                                          # submission ids in batch order
    pairs: list                                        # [PairScore], one per unordered pair, most similar first
    clusters: list                                     # [[id]]: flagged groups of three or more
    documents: dict = field(default_factory=dict)      # id -> CodeDocument
    index: FingerprintIndex | None = None
    template_statements: int = 0
    _strongest: dict | None = field(default=None, repr=False)

    def to_json(self):
        """The contract's ``similarity --json`` object."""
        return {"pairs": [p.as_contract() for p in self.pairs], "threshold": self.threshold}

    def strongest(self, sub_id):
        """The ``PairScore`` with the highest similarity that involves ``sub_id``; None if it has no pair."""
        if self._strongest is None:   # one pass over the ranked pairs, then a lookup per student
            self._strongest = {}
            for pair in self.pairs:
                self._strongest.setdefault(pair.a, pair)
                self._strongest.setdefault(pair.b, pair)
        return self._strongest.get(sub_id)

    def column(self, sub_id):
        """What the class overview shows for one student: ``{"partner", "similarity", "flagged"}`` or None."""
        best = self.strongest(sub_id)
        if best is None:
            return None
        return {"partner": best.b if best.a == sub_id else best.a, "similarity": round(best.similarity, 2),
                "flagged": best.flagged}

    def regions(self, pair):
        """Matched line spans of a pair: ``[((a_first, a_last), (b_first, b_last), tokens)]``, longest first."""
        i, j = self.ids.index(pair.a), self.ids.index(pair.b)
        a, b = self.index.entries[i], self.index.entries[j]
        shared = self.index.shared.get((min(i, j), max(i, j)), [])
        found = measure(a, b, shared, with_fragments=True).fragments
        return line_regions(a, b, found) if i < j else [(rb, ra, n) for ra, rb, n in line_regions(b, a, found)]

    def write_html(self, out_dir):
        """Write ``out_dir/similarity.html`` (self-contained) and return its path."""
        from graders.similarity.report import write_html
        return write_html(self, Path(out_dir))


def template_cells():
    """The released template's cells (``graders.source.SourceCells``): its code is subtracted from every file."""
    from graders.source import SourceCells
    from reference.notebook import template_notebook
    cells = SourceCells()
    for number, cell in enumerate(template_notebook().cells, start=1):
        if cell.cell_type == "code":
            cells.code.append((f"cell {number}", cell.source))
        elif cell.cell_type == "markdown":
            cells.markdown.append(cell.source)
    return cells


def read_submission_cells(submission):
    """``(SourceCells or None, problem)`` of a ``graders.discover.Submission``, read without running anything."""
    from graders.source import UnreadableSource, read_cells
    if submission.source is None:
        return None, submission.problem or "no source file"
    try:
        return read_cells(submission.source), ""
    except UnreadableSource as error:
        return None, str(error)


def analyse(submissions, template_cells, threshold=THRESHOLD, min_longest=MIN_LONGEST):
    """Compare every pair of ``submissions`` (``graders.discover.Submission`` records) after removing
    ``template_cells`` (a ``SourceCells``, e.g. ``template_cells()``); returns a ``SimilarityReport``."""
    named = []
    for submission in submissions:
        cells, problem = read_submission_cells(submission)
        named.append((submission.id, cells, problem))
    return analyse_cells(named, template_cells, threshold, min_longest)


def analyse_cells(named_cells, template, threshold=THRESHOLD, min_longest=MIN_LONGEST):
    """As ``analyse``, from ``[(id, SourceCells or None, problem)]``."""
    template_known = template_statements(template.code)
    template_tokens = [[t for t, _ in normalise(s)] for _, text in template.code for s in statements(text)]
    template_tokens += [[t for t, _ in normalise(s)] for s in dictated.SNIPPETS]
    template_words = set().union(*(written.shingles(text) for text in template.markdown)) if template.markdown else set()
    documents, answers, ids = {}, {}, []
    for sub_id, cells, problem in named_cells:
        ids.append(sub_id)
        if cells is None:
            documents[sub_id] = CodeDocument(sub_id, problem=problem)
            answers[sub_id] = {}
            continue
        documents[sub_id] = read_document(sub_id, cells.code, template_known)
        answers[sub_id] = written.answer_shingles(cells.markdown, template_words)
    index = FingerprintIndex.build([documents[i] for i in ids], template_tokens)
    prose_scores = written.all_pairs([answers[i] for i in ids])
    no_prose = written.WrittenMeasure(None)
    pairs = []
    for i in range(len(ids)):
        for j in range(i + 1, len(ids)):
            shared = index.shared.get((i, j))
            result = measure(index.entries[i], index.entries[j], shared or [])
            prose = prose_scores.get((i, j), no_prose)
            flagged = result.similarity >= threshold and result.longest >= min_longest
            pairs.append(PairScore(ids[i], ids[j], round(result.similarity, 4), result.longest, flagged,
                                   prose.score, prose.items))
    pairs.sort(key=lambda p: (-p.similarity, -p.longest, p.a, p.b))
    report = SimilarityReport(threshold, min_longest, ids, pairs, clusters(pairs), documents, index,
                              sum(d.template_statements for d in documents.values()))
    return report


def clusters(pairs):
    """Groups of three or more ids joined by flagged pairs (connected components), largest first."""
    parent = {}

    def root(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        if p.flagged:
            parent[root(p.a)] = root(p.b)
    groups = {}
    for x in list(parent):
        groups.setdefault(root(x), []).append(x)
    return sorted((sorted(g) for g in groups.values() if len(g) >= 3), key=lambda g: (-len(g), g))
