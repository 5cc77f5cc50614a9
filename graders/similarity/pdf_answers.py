"""Written answers handed in as a PDF: their text (pypdfium2), compared pair by pair, reported apart.

Each PDF's text is cut into the same word shingles as the notebook's answers
(``written.shingles``), the template's markdown shingles are removed, and so
are shingles found in more than ``written.COMMON_SHARE`` of the batch's PDFs
(at least ``written.COMMON_MIN``): the questions' wording copied into every
answer sheet. A pair's score is the Jaccard index of the two remaining sets;
pairs where either PDF has fewer than ``written.MIN_SHINGLES`` shingles (a
scan without text, a drawing) are not compared. Never part of the code flag.
"""
from collections import defaultdict
from pathlib import Path

from graders.similarity import written

MAX_PAGES = 60   # a PDF is read up to this many pages (a hand-in is a few pages; a textbook is not one)


def pdf_text(path: Path) -> str:
    """The text of the PDF at ``path`` (pages joined by newlines); ``""`` when it has none or cannot be read."""
    import pypdfium2
    try:
        document = pypdfium2.PdfDocument(str(path))
    except Exception:  # noqa: BLE001 - pypdfium2 raises PdfiumError or OSError: no text then
        return ""
    try:
        pages = []
        for number in range(min(len(document), MAX_PAGES)):
            page = document[number]
            text_page = page.get_textpage()
            pages.append(text_page.get_text_range())
            text_page.close()
            page.close()
        return "\n".join(pages)
    except Exception:  # noqa: BLE001
        return ""
    finally:
        document.close()


def pdf_shingles(text: str, template_shingles: frozenset = frozenset()) -> set:
    """The shingles of a PDF's text minus the template's; empty when too few remain to compare."""
    kept = written.shingles(text) - template_shingles
    return kept if len(kept) >= written.MIN_SHINGLES else set()


def all_pairs(shingle_sets: list) -> dict:
    """``{(i, j): Jaccard}`` for ``i < j`` over PDFs' shingle sets; pairs with an empty set are left out."""
    holders = defaultdict(list)
    for number, shingles in enumerate(shingle_sets):
        for shingle in shingles:
            holders[shingle].append(number)
    cutoff = max(written.COMMON_MIN, written.COMMON_SHARE * len(shingle_sets))
    common = {s for s, who in holders.items() if len(who) > cutoff}
    kept = [s - common for s in shingle_sets]
    scores = {}
    for i in range(len(kept)):
        if not kept[i]:
            continue
        for j in range(i + 1, len(kept)):
            if kept[j]:
                scores[(i, j)] = round(len(kept[i] & kept[j]) / len(kept[i] | kept[j]), 3)
    return scores
