"""A small graded batch made without running the grader, for tests, the bench and screenshots.

``build_batch(out_dir, n)`` writes what ``grade.py grade`` would leave: ``results.jsonl``
(fake but well-formed ``SubmissionResult``s with written answers holding LaTeX), the
reports, ``written_marks.csv``, a notebook per student with a Q3 plot among its outputs,
and, for every student but the last, a two-page PDF (``OUT/pdfs/<id>.pdf``, as
``result.info.pdf``). Returns the ids.
"""
import base64
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ANSWERS = {
    "q1a": "The gradient is $\\nabla g(w) = \\sigma(x_i^\\top w)(1-\\sigma(x_i^\\top w))\\,x_i$ and "
           "$\\sigma(a)(1-\\sigma(a)) \\le \\frac{1}{4}$, so\n\n$$\\|\\nabla g(w)\\| \\le \\tfrac14 \\|x_i\\| \\le 1.$$\n\n"
           "Hence $L = 1$.",
    "q1b": "$\\tilde L = L + \\lambda / n$ by the triangle inequality.",
    "q3a": "With the identity activation the network is linear: a **straight** boundary.",
    "q5d": "Eights are hardest <script>alert(1)</script>; they blur into threes.",
}


def _png(title: str) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(3, 2), dpi=60)
    axes.plot([0, 1, 2, 3], [0, 1, 0, 1])
    axes.set_title(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def write_pdf(path: Path, sub_id: str) -> None:
    """A two-page PDF: a handwritten-style answer to q1a with math, then a q3 plot."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages
    path.parent.mkdir(parents=True, exist_ok=True)
    with PdfPages(path) as pages:
        figure = plt.figure(figsize=(6, 4))
        figure.text(0.05, 0.85, f"{sub_id}: answer to Q1(a)", fontsize=16)
        figure.text(0.05, 0.6, r"$\nabla g(w) = \sigma(x^T w)\,(1-\sigma(x^T w))\,x$", fontsize=15)
        figure.text(0.05, 0.4, r"$\sigma(a)(1-\sigma(a)) \leq 1/4 \Rightarrow L = 1$", fontsize=15)
        pages.savefig(figure)
        plt.close(figure)
        figure, axes = plt.subplots(figsize=(6, 4))
        axes.plot(range(10), [v * v for v in range(10)])
        axes.set_title("Q3(d): layer 2, epoch 4")
        pages.savefig(figure)
        plt.close(figure)


def _notebook(sub_id: str) -> dict[str, Any]:
    plot = base64.b64encode(_png(f"{sub_id}: decision surface")).decode()
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "## Question 3: what a network does"},
             {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": "plot()",
              "outputs": [{"output_type": "display_data", "metadata": {}, "data": {"image/png": plot}}]}]
    cells += [{"cell_type": "markdown", "metadata": {}, "source": f"## Answer {item}\n\n{text}"}
              for item, text in ANSWERS.items()]
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def build_batch(out_dir: str | Path, n: int = 3, pdfs: bool = True, ids: Iterable[str] | None = None,
                submitted_at: dict[str, str] | None = None) -> list[str]:
    """``ids`` names the students (default ``student1``...; its length then sets ``n``);
    ``submitted_at`` maps an id to its stored time (ISO), for the late rule."""
    from graders.marking import written
    from graders.items import AUTO_ITEMS
    from graders.reports.pages import Reporter
    from graders.intake.discover import moodle_identity
    from graders.results import ItemResult, SubmissionInfo, SubmissionResult
    out_dir = Path(out_dir)
    sources = out_dir.parent / f"{out_dir.name}-sources"
    sources.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines, results = [], []
    names = list(ids) if ids else [f"student{number + 1}" for number in range(n)]
    n = len(names)
    for number, sub_id in enumerate(names):
        lost: float = {0: 0, 1: 2, 2: 15}.get(number, number % 7)
        items = {}
        for item in AUTO_ITEMS:
            take = min(lost, item.marks)
            lost -= take
            items[item.id] = ItemResult(item.marks, "pass" if take == 0 else "partial", item.marks - take,
                                        [] if take == 0 else [f"check: lost {take:g} of {item.marks:g}"])
        notebook = sources / f"{sub_id}.ipynb"
        notebook.write_text(json.dumps(_notebook(sub_id)))
        info = SubmissionInfo(source=str(notebook), markdown=[c["source"] for c in _notebook(sub_id)["cells"]
                                                              if c["cell_type"] == "markdown"],
                              fingerprint=f"demo{number:04d}", sandbox="demo", data="demo", grader_version="demo",
                              mode="full", seed=0, device="cpu", torch="-",
                              submitted_at=(submitted_at or {}).get(sub_id))
        # what discovery reads from a Moodle download's folder, for an id of the form "Full Name_participant"
        info.set_moodle(moodle_identity(Path(f"{sub_id}_assignsubmission_file_")))
        if pdfs and number < n - 1:
            write_pdf(out_dir / "pdfs" / f"{sub_id}.pdf", sub_id)
            info.pdf = str(out_dir / "pdfs" / f"{sub_id}.pdf")
        result = SubmissionResult(sub_id, items, [], info)
        lines.append(json.dumps({"fingerprint": info.fingerprint, "result": result.full_json()}))  # batch/store.py
        results.append(result)
    (out_dir / "results.jsonl").write_text("\n".join(lines) + "\n")
    ids = [r.id for r in results]
    written.write_marks_file(out_dir / "written_marks.csv", ids)
    Reporter(out_dir).write_all(results, lambda result: {})
    return ids
