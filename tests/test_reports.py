"""Reports: per-student pages, the class overview, written marks, policies, gradebooks."""
import csv
import json
import re
import shutil
import subprocess

import nbformat
import pytest

from graders.proof.catalogue import EXAMPLE_MISTAKES, Case, case_source
from graders.items import WRITTEN_ITEMS
from reference.notebook import solution_notebook, template_notebook
from tests.conftest import run_grade

pytestmark = pytest.mark.slow   # a graded batch is the fixture (the inner loop is pytest -m 'not slow')

IDS = ["broken", "extra-import", "mistakes", "reference", "template"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    batch, out = tmp_path_factory.mktemp("batch"), tmp_path_factory.mktemp("reports")
    solution = solution_notebook()
    solution.cells[-1].source = "## Answer q5d\n\nEights are hardest: they blur into threes.<script>alert(1)</script>"
    nbformat.write(solution, batch / "reference.ipynb")
    nbformat.write(template_notebook(), batch / "template.ipynb")
    (batch / "mistakes.py").write_text(case_source(EXAMPLE_MISTAKES))
    (batch / "extra-import.py").write_text("import jinja2\n" + case_source(Case("x", None, {})))
    (batch / "broken.py").write_text("")
    done = run_grade("grade", batch, "--out", out, "--json")
    assert done.returncode == 0, done.stderr
    return batch, out, json.loads(done.stdout)


def _page(out, sub_id, copy="students"):
    """The student's copy (``students/``) or the TA's copy (``ta/``) of a report page."""
    return (out / copy / f"{sub_id}.html").read_text()


def test_every_student_has_a_self_contained_page(graded):
    _, out, _ = graded
    for sub_id in IDS:
        page = _page(out, sub_id)
        assert sub_id in page and "Provisional" in page and "raw &gt;= 80 -&gt; 100" in page
        for item in ("q4.reconstruct", "q5.train", *WRITTEN_ITEMS):
            assert item in page
        assert not re.search(r'(src|href)="(https?:)?//', page) and "<link" not in page and "@import" not in page
        assert "sandbox: bubblewrap" in page or "sandbox: process limits only" in page


def test_pages_show_marks_reasons_and_pictures(graded):
    _, out, _ = graded
    reference = _page(out, "reference")
    assert "auto 40/40, written pending" in reference and reference.count("data:image/png;base64,") == 3
    assert reference.count("data:image/svg+xml;base64,") == 2  # the training curves
    assert "Eights are hardest" in reference          # the student's written answer
    assert "<script>alert(1)" not in reference and "&lt;script&gt;alert(1)" in reference
    assert "share strokes with several other digits" not in reference  # the student's copy: no model answers
    ta = _page(out, "reference", "ta")
    assert "share strokes with several other digits" in ta and "Eights are hardest" in ta  # beside the model answer
    assert not (out / "reference.html").exists()
    mistakes = _page(out, "mistakes")
    assert re.search(r"sums? over the batch", mistakes) and "exp(0.5 * logvar)" in mistakes
    assert "could not be loaded: broken.py: the file is empty" in _page(out, "broken")
    assert _page(out, "template").count("data:image/") == 0


def test_imports_changed_is_flagged_not_penalised(graded):
    _, out, document = graded
    subs = {s["id"]: s for s in document["submissions"]}
    assert any("imports changed: added import jinja2" in f for f in subs["extra-import"]["flags"])
    assert subs["extra-import"]["auto_awarded"] == 40.0
    assert "imports changed" in (out / "index.html").read_text()


def test_index_lists_students_bins_and_what_to_reteach(graded):
    _, out, _ = graded
    index = (out / "index.html").read_text()
    for sub_id in IDS:
        assert f'href="ta/{sub_id}.html"' in index and f'href="students/{sub_id}.html"' in index
    assert "auto 40/40, written pending" in index and "What to re-teach" in index
    assert re.search(r'q4.kl_divergence</td><td class="num">2 / 5</td>', index)  # extra-import and reference


def _fill_marks(path, rows):
    with open(path, newline="") as handle:
        table = list(csv.DictReader(handle))
    for row in table:
        row.update(rows.get(row["id"], {}))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, table[0].keys())
        writer.writeheader()
        writer.writerows(table)


def test_written_marks_make_grades_final_and_gradebook_round_trips(graded, tmp_path):
    batch, out, _ = graded
    work = tmp_path / "reports"
    shutil.copytree(out, work)
    full = {item: str(marks) for item, marks in WRITTEN_ITEMS.items()}
    _fill_marks(work / "written_marks.csv", {"reference": {**full, "comment": "Well done"},
                                             "mistakes": {**full, "q3c": "0", "q3d": "0", "q5b": "1"},
                                             "template": {"q1a": "5"}})
    done = run_grade("grade", batch, "--out", work, "--json")
    subs = {s["id"]: s for s in json.loads(done.stdout)["submissions"]}
    assert (subs["reference"]["raw_total"], subs["reference"]["final_grade"]) == (100.0, 100)
    assert (subs["mistakes"]["raw_total"], subs["mistakes"]["final_grade"]) == (35 + 44, 80)  # 79: the 80 bin
    assert subs["template"]["final_grade"] is None  # one written mark entered: still provisional
    assert "Well done" in (work / "students" / "reference.html").read_text()
    with open(work / "grades.csv", newline="") as handle:
        grades = {row["Identifier"]: row for row in csv.DictReader(handle)}
    assert grades["reference"]["Grade"] == "100" and grades["template"]["Status"] == "provisional"
    kept = (work / "written_marks.csv").read_text()
    assert "Well done" in kept and kept.count("\n") == len(IDS) + 1


def test_bad_written_marks_name_row_and_column_and_lose_nothing(graded, tmp_path):
    batch, out, _ = graded
    work = tmp_path / "reports"
    shutil.copytree(out, work)
    _fill_marks(work / "written_marks.csv", {"reference": {"q1a": "6", "q2b": "lots"}, "template": {"q1b": "2"}})
    before = (work / "written_marks.csv").read_text()
    done = run_grade("grade", batch, "--out", work)
    assert done.returncode == 2
    assert "row" in done.stderr and "column q1a: 6 is outside 0..5" in done.stderr
    assert "column q2b: 'lots' is not a number" in done.stderr and done.stderr.count("\n") == 1
    assert (work / "written_marks.csv").read_text() == before


def test_late_submission_scores_zero_with_the_reason(graded, tmp_path):
    batch, out, _ = graded
    work = tmp_path / "reports"
    shutil.copytree(out, work)
    _fill_marks(work / "written_marks.csv", {"reference": {i: str(m) for i, m in WRITTEN_ITEMS.items()}})
    done = run_grade("grade", batch, "--out", work, "--json", "--deadline", "2022-12-08T23:59")
    reference = next(s for s in json.loads(done.stdout)["submissions"] if s["id"] == "reference")
    assert reference["raw_total"] == 100.0 and reference["final_grade"] == 0
    assert "accepts no late submissions" in (work / "students" / "reference.html").read_text()


def test_gradescope_mode(tmp_path):
    (tmp_path / "submission").mkdir()
    shutil.copy("submissions/mistakes/A4.py", tmp_path / "submission" / "A4.py")
    done = run_grade("gradescope", "--root", tmp_path)
    assert done.returncode == 0, done.stderr
    document = json.loads((tmp_path / "results" / "results.json").read_text())
    assert document["score"] == 35.0 and len(document["tests"]) == 8
    kl = next(t for t in document["tests"] if t["name"].startswith("q4.kl_divergence"))   # form and gradients kept
    assert kl["max_score"] == 4 and kl["score"] == 1 and re.search(r"sums? over the batch", kl["output"])


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_report_renders_in_a_real_browser(graded, tmp_path):
    _, out, _ = graded
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                          "--no-first-run", "--disable-background-networking", "--disable-component-update",
                          "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
                          "--dump-dom", (out / "students" / "reference.html").as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert 'data-images-loaded="5/5"' in dom
    assert re.search(r'id="final-grade">auto 40/40, written pending<', dom)
