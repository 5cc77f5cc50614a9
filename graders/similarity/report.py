"""``similarity.html``: ranked pairs, clusters, written answers and side-by-side views, one self-contained file.

No script, font or style is fetched from anywhere: the page opens offline. Each
pair view is a section shown when its anchor is the URL's fragment
(``similarity.html#pair-3``), so the file holds them all without a server.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from graders.reports.templating import environment

if TYPE_CHECKING:
    from graders.similarity.analysis import PairScore, SimilarityReport
    from graders.similarity.tokenise import CodeDocument

SHOWN_PAIRS = 60         # pairs given a side-by-side view in similarity.html: every flagged pair and the top others

COLOURS = 6            # highlight colours for matched regions, cycled
MIN_REGION = 18        # tokens: shorter matched runs (one or two statements) are not highlighted
MAX_REGIONS = COLOURS  # regions highlighted per pair, longest first, each in its own colour
WRITTEN_SHOWN = 30     # rows in the written answers' table


def _listed(report: SimilarityReport) -> list[PairScore]:
    """The ranked table's pairs: every flagged pair (however many), then the most similar others up to
    SHOWN_PAIRS rows, then any other pair whose reason says why a high score is not flagged."""
    flagged = [p for p in report.pairs if p.flagged]
    others = [p for p in report.pairs if not p.flagged and p.similarity > 0]
    top = others[:max(0, SHOWN_PAIRS - len(flagged))]
    explained = [p for p in others[len(top):] if p.reason][:SHOWN_PAIRS]
    return flagged + top + explained


def _side(doc: CodeDocument, spans: Sequence[tuple[int, int]]) -> list[dict[str, object]]:
    """Rows ``{"number", "text", "region", "header"}`` of a document, ``region`` the index of the
    first matched span covering the line (or None)."""
    rows = []
    for number, text in enumerate(doc.text.split("\n") if doc.text else [], start=1):
        region = next((i for i, (first, last) in enumerate(spans) if first <= number <= last), None)
        rows.append({"number": number, "text": text, "region": None if region is None else region % COLOURS,
                     "header": text.startswith("# ── ")})
    return rows


def pair_view(report: SimilarityReport, pair: PairScore, number: int) -> dict[str, object]:
    """The template context of one pair's side-by-side view."""
    found = [r for r in report.regions(pair) if r[2] >= MIN_REGION]
    regions = found[:MAX_REGIONS]
    return {"number": number, "pair": pair, "more_regions": len(found) - len(regions),
            "functions": report.function_scores(pair), "texts": report.shared_texts(pair)[:12],
            "regions": [{"a": a, "b": b, "tokens": tokens, "colour": i % COLOURS}
                        for i, (a, b, tokens) in enumerate(regions)],
            "left": _side(report.documents[pair.a], [a for a, _, _ in regions]),
            "right": _side(report.documents[pair.b], [b for _, b, _ in regions]),
            "problems": [d.problem for d in (report.documents[pair.a], report.documents[pair.b]) if d.problem]}


def render(report: SimilarityReport) -> str:
    """The HTML text of ``similarity.html``."""
    env = environment()
    listed = _listed(report)
    shown = listed[:SHOWN_PAIRS]
    numbers = {(p.a, p.b): n for n, p in enumerate(shown, start=1)}
    written = sorted((p for p in report.pairs if p.written is not None), key=lambda p: (-p.written, p.a, p.b))
    pdfs = sorted((p for p in report.pairs if p.pdf is not None), key=lambda p: (-p.pdf, p.a, p.b))
    return env.get_template("similarity.html.j2").render(
        report=report, listed=listed, numbers=numbers, views=[pair_view(report, p, numbers[(p.a, p.b)]) for p in shown],
        pdfs=pdfs[:WRITTEN_SHOWN], neighbours=sorted(report.neighbours.items(),
                                                      key=lambda kv: (-kv[1].similarity, kv[0])),
        flagged=sum(p.flagged for p in report.pairs), written=written[:WRITTEN_SHOWN],
        unreadable=[d for d in report.documents.values() if d.problem],
        boilerplate=len(report.index.boilerplate) if report.index else 0)


def write_html(report: SimilarityReport, out_dir: str | Path) -> Path:
    """Write ``out_dir/similarity.html``; returns its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "similarity.html"
    path.write_text(render(report), encoding="utf-8")
    return path
