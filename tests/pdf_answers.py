"""Written-answer PDFs as students hand them in, with the true page -> item map, for ``pagemap`` tests.

``student_pdf(path, seed)`` writes one student's PDF: a cover page (sometimes), the written
items in order (a few left out), each under a label in one of the styles students use, one
to three answers a page, some answers running over onto the next page; ``scanned=True``
draws every page as a picture (no text layer), as a phone scan is. Returns the true
``{item: [page]}``.
"""
import random

from graders.items import WRITTEN_ITEMS

STYLES = [
    lambda q, p: f"Question {q} ({p})",
    lambda q, p: f"Q{q}{p}",
    lambda q, p: f"{q}({p})",
    lambda q, p: f"Problem {q} part {p}",
    lambda q, p: f"Q{q}.{p})",
    lambda q, p: f"{q}{p})",
    lambda q, p: f"Question {q}{p}.",
    None,  # "Question 1" headings, then "(a)", "(b)" ...
]
FILLER = ["We use the chain rule and bound each factor.", "Hence the estimator is unbiased.",
          "The decision boundary is linear in this case.", "See the figure below for the samples.",
          "Step (1): draw the noise; step (2): map it.", "So the constant is L + lambda/n.",
          "The KL term is non-negative, which gives the bound."]


def _answer_lines(rng, item):
    lines = [rng.choice(FILLER) for _ in range(rng.randint(2, 5))]
    if item == "q2b" and rng.random() < 0.5:
        lines += ["(a) draw eps", "(b) map it through mu + L eps"]   # an enumeration inside an answer
    return lines


def student_pdf(path, seed, scanned=False):
    """Write the PDF; returns the true ``{item: [page]}`` (1-based pages)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages
    rng = random.Random(seed)
    style = STYLES[seed % len(STYLES)]
    items = [item for item in WRITTEN_ITEMS if rng.random() > 0.12]
    pages, truth, question = [], {}, None
    if rng.random() < 0.5:
        pages.append(["Homework 4", f"Student {seed}", "Written answers"])
    page = []
    for item in items:
        number, part = item[1], item[2]
        if style is None:
            if question != number:
                page.append(f"Question {number}")
                question = number
            label = f"({part})"
        else:
            label = style(number, part)
        for line in [label] + _answer_lines(rng, item):
            page.append(line)
            truth.setdefault(item, set()).add(len(pages) + 1)   # the page this line is on
            if len(page) > 14 or (rng.random() < 0.08 and len(page) > 4):   # the answer runs over
                pages.append(page)
                page = []
        if page and rng.random() < 0.45:    # a new page for the next answer
            pages.append(page)
            page = []
    if page:
        pages.append(page)
    truth = {item: sorted(numbers) for item, numbers in truth.items()}
    with PdfPages(path) as document:
        for lines in pages:
            figure = plt.figure(figsize=(6, 8))
            text = "\n".join(lines)
            if scanned:
                figure.figimage(_raster(text), 20, 20)
            else:
                figure.text(0.06, 0.95, text, va="top", fontsize=10, family="DejaVu Sans")
            document.savefig(figure)
            plt.close(figure)
    return truth


def _raster(text):
    """``text`` drawn into a greyscale picture (a page without a text layer)."""
    import numpy as np
    from PIL import Image, ImageDraw
    image = Image.new("L", (400, 560), 255)
    ImageDraw.Draw(image).multiline_text((10, 10), text, fill=0)
    return np.asarray(image)
