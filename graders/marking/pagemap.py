"""Propose which PDF pages answer which written item, from the PDF's own text.

Students label their answers ("Question 1 (a)", "Q1a", "1(a)", "1.b)", "Problem 3 part c", or
"Question 5" followed by "(a)", "(b)" ...). ``propose(texts)`` reads those labels, page by
page, and returns ``{item: [page]}`` (1-based pages): a labelled answer starts on the page
holding its label, and a page without a label continues the answer before it. It is a
proposal for the TA to confirm or change in one action, never a mark.

A student's PDF is untrusted input to a C library, so its text is read in a child process
under the same time and memory limits as the page pictures (``graders.reports.pdf``), and
cached beside them (``OUT/marking/pdf/<digest>/text.json``). A scanned PDF has no text: its
proposal is empty, and the TA maps its pages by hand.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

from graders.items import WRITTEN_ITEMS
from graders.reports import pdf

ORDER = {item: number for number, item in enumerate(WRITTEN_ITEMS)}
_WORD = r"(?:question|problem|exercise|task|q)\s*\.?\s*"
# "Question 1 (a)", "Q1a", "Q.1(a)", "Problem 1 part a", "1(a)", "1a)", "1.a", "1 (a)", "1.(a)", "1a." at a line's start
_FULL = re.compile(rf"^\s*(?:{_WORD}(?P<q1>\d)\s*[.:\-]?\s*(?:part\s*)?\(?(?P<p1>[a-e])\)?(?![a-z])"
                   rf"|(?P<q2>\d)\s*(?:\.\s*)?(?:\((?P<p2>[a-e])\)|(?P<p3>[a-e])\s*[.)](?![a-z0-9]))"
                   rf"|(?P<q3>\d)\.(?P<p4>[a-e])\s*(?:[.:)]|$))",
                   re.IGNORECASE)
# "Question 5" alone: later "(a)" / "a)" / "Part a" lines are its parts
_QUESTION = re.compile(rf"^\s*{_WORD}(?P<q>\d)\b(?!\s*[.:\-]?\s*(?:part\s*)?\(?[a-e]\)?(?![a-z]))",
                       re.IGNORECASE)
_PART = re.compile(r"^\s*(?:part\s*\(?(?P<p1>[a-e])\)?(?![a-z])|\((?P<p2>[a-e])\)|(?P<p3>[a-e])\))", re.IGNORECASE)


def labels(text: str, question: str | None = None, last: str | None = None) -> tuple[list[str], str | None]:
    """The written items labelled in one page's ``text``, in order, and the question context after it.

    ``question``: the context the page starts in (a "Question 5" heading on an earlier page);
    ``last``: the item answered before. A bare "(b)" counts only as a later part of the current
    question than ``last`` (so an answer's own enumeration "(a) ... (b) ..." is not read as labels).
    """
    found: list = []
    for line in text.splitlines():
        full = _FULL.match(line)
        if full:
            number = full["q1"] or full["q2"] or full["q3"]
            part = (full["p1"] or full["p2"] or full["p3"] or full["p4"]).lower()
            question = number
        else:
            heading = _QUESTION.match(line)
            if heading:
                question = heading["q"]
                continue
            sub = _PART.match(line)
            if not (sub and question):
                continue
            number, part = question, (sub["p1"] or sub["p2"] or sub["p3"]).lower()
            previous = found[-1] if found else last
            if f"q{number}{part}" in ORDER and previous in ORDER and previous[1] == number \
                    and ORDER[f"q{number}{part}"] <= ORDER[previous]:
                continue
        item = f"q{number}{part}"
        if item in WRITTEN_ITEMS and (not found or found[-1] != item):
            found.append(item)
    return found, question


def propose(texts: list[str]) -> dict[str, list[int]]:
    """``{item: [page]}`` (1-based) from the pages' texts; see the module docstring."""
    proposal: dict[str, list[int]] = {}
    current, question = None, None
    context: str | None
    for page, text in enumerate(texts, start=1):
        context = question
        found, question = labels(text, question, current)
        opens = _opens_with_label(text, context, current)
        for item in ([] if opens or current is None else [current]) + found:
            if page not in proposal.setdefault(item, []):
                proposal[item].append(page)
        current = found[-1] if found else current
    return {item: pages for item, pages in sorted(proposal.items())}


def _opens_with_label(text: str, question: str | None, last: str | None) -> bool:
    """Whether the page opens with a label (after a question heading, if any): then nothing on it
    continues the answer before."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return False
    heading = _QUESTION.match(lines[0])
    if heading and len(lines) > 1:
        return bool(labels(lines[1], heading["q"], last)[0])
    return bool(labels(lines[0], question, last)[0])


def read_texts(pdf_path: str | Path, out_dir: str | Path) -> list[str]:
    """The text of each page of the PDF (at most ``pdf.MAX_PAGES``), cached; raises ``pdf.PdfProblem``."""
    pdf_path = Path(pdf_path)
    if not pdf_path.is_file():
        raise pdf.PdfProblem(f"{pdf_path.name}: no such file")
    cache = pdf.cache_dir(pdf_path, out_dir) / "text.json"
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        try:
            child = subprocess.run([sys.executable, "-m", "graders.marking.pagemap", str(pdf_path), str(cache)],
                                   capture_output=True, text=True, timeout=pdf.TIMEOUT,
                                   cwd=Path(__file__).resolve().parents[2])
        except subprocess.TimeoutExpired:
            raise pdf.PdfProblem(f"{pdf_path.name}: reading its text took over {pdf.TIMEOUT} s") from None
        if child.returncode != 0 or not cache.exists():
            last = (child.stderr.strip().splitlines() or ["PDFium failed"])[-1]
            raise pdf.PdfProblem(f"{pdf_path.name}: its text cannot be read ({last[:200]})")
    return json.loads(cache.read_text())["pages"]


def _extract(pdf_path: str | Path, target: str | Path) -> None:
    import pypdfium2
    document = pypdfium2.PdfDocument(str(pdf_path))
    try:
        texts = []
        for index in range(min(len(document), pdf.MAX_PAGES)):
            page = document[index]
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range()[:200_000])
            textpage.close()
            page.close()
    finally:
        document.close()
    Path(target).write_text(json.dumps({"pages": texts}))


if __name__ == "__main__":
    pdf._limit_self()   # the same memory and CPU limits as the page pictures' child
    _extract(sys.argv[1], sys.argv[2])
