"""The marking app's parts: store (atomic, versioned), rubrics, CSV import/export, rendering, reports."""
import base64
import csv
import json
import os
import threading

import pytest

from graders.marking import written
from graders.items import WRITTEN_ITEMS
from graders.marking import csvsync, rubrics
from graders.reports import cells
from graders.reports import pdf
from graders.reports import render
from graders.marking.store import Conflict, MarkStore, atomic_write


@pytest.fixture
def store(tmp_path):
    return MarkStore(tmp_path, seed=rubrics.seed_entries)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    from graders.marking.demo import build_batch
    out = tmp_path_factory.mktemp("marking") / "out"
    return out, build_batch(out)


def _csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["id"]: row for row in csv.DictReader(handle)}


# -- store --------------------------------------------------------------------------------------
def test_atomic_write_leaves_the_old_file_whole_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "items" / "q1a.json"
    atomic_write(target, '{"old": true}')

    def broken_replace(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, '{"new": true}')
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in target.parent.iterdir()] == ["q1a.json"]  # no temporary file left behind


def test_every_change_is_on_disk_when_update_returns(store, tmp_path):
    mark = store.update("q1a", "ann", 0, toggle="e1")
    assert (mark.score, mark.version) == (2.0, 1)
    on_disk = json.loads((tmp_path / "marking" / "items" / "q1a.json").read_text())
    assert on_disk["records"]["ann"]["applied"] == ["e1"] and on_disk["records"]["ann"]["score"] == 2.0
    assert MarkStore(tmp_path).get("q1a", "ann").score == 2.0   # a new process sees it


def test_a_stale_write_is_refused_and_the_newer_one_kept(store):
    store.update("q1a", "ann", 0, toggle="e1")
    with pytest.raises(Conflict) as refused:
        store.update("q1a", "ann", 0, toggle="e2")   # a second tab that still shows version 0
    assert refused.value.current.applied == ["e1"] and refused.value.current.version == 1
    assert store.get("q1a", "ann").applied == ["e1"]
    assert store.update("q1a", "ann", 1, toggle="e2").applied == ["e1", "e2"]  # after reloading: both kept


def test_concurrent_writers_on_different_items_and_students_lose_nothing(store):
    students = [f"s{n}" for n in range(8)]
    errors = []

    def mark(item):
        try:
            for sid in students:
                store.update(item, sid, 0, toggle="e1", by=item)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
    threads = [threading.Thread(target=mark, args=(item,)) for item in WRITTEN_ITEMS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    scores = store.scores()
    assert sorted(scores) == students
    assert all(set(scores[sid]) == set(WRITTEN_ITEMS) for sid in students)


def test_score_is_the_clamped_sum_and_a_manual_mark_overrides(store):
    assert store.update("q1a", "ann", 0, applied=["e1", "e2", "e3"]).score == 5.0
    assert store.update("q1a", "ann", 1, manual=3.5).score == 3.5
    assert store.update("q1a", "ann", 2, toggle="e3").score == 4.0      # using the rubric clears it
    assert store.update("q1a", "ann", 3, applied=["e4"]).score == 0.0   # "No answer / no credit"
    with pytest.raises(ValueError, match="outside 0..5"):
        store.update("q1a", "ann", 4, manual=6)
    with pytest.raises(ValueError, match="no rubric entry"):
        store.update("q1a", "ann", 4, toggle="e99")


def test_changing_an_entrys_points_rescores_every_answer_that_has_it(store):
    store.update("q1a", "ann", 0, applied=["e1", "e3"])
    store.update("q1a", "bob", 0, applied=["e2"])
    store.update("q1a", "cat", 0, applied=["e1"], manual=None)
    store.update("q1a", "dan", 0, manual=4)           # a manual mark does not move
    entry = store.rubric("q1a")[0]
    updated, changed = store.set_entry("q1a", "e1", entry.version, points=0.5)
    assert updated.points == 0.5 and sorted(changed) == ["ann", "cat"]
    marks = store.marks_of_item("q1a")
    assert {sid: m.score for sid, m in marks.items()} == {"ann": 1.5, "bob": 2.0, "cat": 0.5, "dan": 4.0}
    assert marks["ann"].version == 2 and marks["bob"].version == 1   # a tab showing ann's old score must reload
    with pytest.raises(Conflict):
        store.set_entry("q1a", "e1", entry.version, points=1)       # stale rubric edit
    assert store.feedback("ann")["q1a"]["entries"] == [(0.5, entry.text), (1.0, "uses ‖xᵢ‖ ≤ 1 and concludes L = 1")]


def test_student_notes_keep_pdf_pages_per_item(store):
    notes = store.update_student("ann", 0, pages={"q1a": [2, 1, 2], "q3d": [3], "bogus": [1], "q2a": []})
    assert notes.pages == {"q1a": [1, 2], "q3d": [3]} and notes.version == 1
    with pytest.raises(Conflict):
        store.update_student("ann", 0, comment="stale")
    assert store.student("ann").pages == {"q1a": [1, 2], "q3d": [3]}


# -- rubrics ------------------------------------------------------------------------------------
def test_rubrics_are_seeded_from_the_marking_guide_and_add_up():
    for item, maximum in WRITTEN_ITEMS.items():
        entries = rubrics.seed_entries(item)
        assert entries[-1].points == 0 and entries[-1].text == "No answer / no credit"
        assert sum(e.points for e in entries) == maximum, item
        assert len({e.id for e in entries}) == len(entries)
    q1a = [(e.points, e.text) for e in rubrics.seed_entries("q1a")]
    assert q1a[:3] == [(2.0, "gradient of σ(xᵀw) correct"), (2.0, "bound σ(1 − σ) ≤ 1/4 or ≤ 1"),
                       (1.0, "uses ‖xᵢ‖ ≤ 1 and concludes L = 1")]
    assert [e.points for e in rubrics.seed_entries("q2b")] == [1, 1, 1, 2, 2, 0]
    assert [e.points for e in rubrics.seed_entries("q3c")] == [4, 4, 0]
    assert [(e.points, e.text) for e in rubrics.seed_entries("q1c")][:2] == [(1.0, "√p factor"), (1.0, "result")]
    assert [(e.points, e.text) for e in rubrics.seed_entries("q5b")][0] == (2.0, "Fully correct")


# -- written_marks.csv ----------------------------------------------------------------------------
def test_export_keeps_rows_of_other_batches_and_hand_edits_are_read_in(store, tmp_path):
    path = tmp_path / "written_marks.csv"
    path.write_text("id,q1a,q1b,q1c,q2a,q2b,q3a,q3b,q3c,q3d,q5a,q5b,q5d,comment\n"
                    "old-student,4,3,,,,,,,,,,,from last year\nann,,2,,,,,,,,,,,\n")
    notes = csvsync.import_hand_edits(store, path)      # first start: the file's marks come in
    assert store.get("q1b", "ann").score == 2.0 and store.get("q1a", "old-student").score == 4.0
    assert any("ann q1b: read in 2" in n for n in notes)
    store.update("q1a", "ann", 0, applied=["e1", "e2"])
    csvsync.export(store, path, ids=["ann", "bob"])
    rows = _csv(path)
    assert set(rows) == {"ann", "bob", "old-student"}
    assert (rows["ann"]["q1a"], rows["ann"]["q1b"], rows["bob"]["q1a"]) == ("4", "2", "")
    assert (rows["old-student"]["q1a"], rows["old-student"]["comment"]) == ("4", "from last year")
    # a TA edits the file by hand: the changed cell is read in, the others are not touched
    text = path.read_text().replace("ann,4,2", "ann,4,3")
    path.write_text(text.replace("bob,,", "bob,1,").replace("\nann,", "\nann,"))
    notes = csvsync.import_hand_edits(store, path)
    assert store.get("q1b", "ann").score == 3.0 and store.get("q1b", "ann").manual == 3.0
    assert store.get("q1a", "bob").score == 1.0 and store.get("q1a", "ann").applied == ["e1", "e2"]
    assert len(notes) == 2
    path.write_text(path.read_text().replace("bob,1,", "bob,9,"))
    assert csvsync.import_hand_edits(store, path) == [f"{path}: bob q1a: 9 is outside 0..5; not taken"]
    assert store.get("q1a", "bob").score == 1.0


def test_read_marks_keeps_and_ignores_students_of_other_batches(tmp_path):
    path = tmp_path / "written_marks.csv"
    path.write_text("id,q1a,comment\nann,4,\nstranger,5,gone\n")
    notes = []
    assert written.read_marks(path, {"ann"}, notes) == {"ann": {"marks": {"q1a": 4.0}, "comment": ""}}
    assert notes == [f"{path} row 3: 'stranger' is not in this batch; row kept, not used"]
    written.write_marks_file(path, ["ann", "bob"])
    assert set(_csv(path)) == {"ann", "bob", "stranger"} and _csv(path)["stranger"]["q1a"] == "5"


# -- rendering, plots, PDF ------------------------------------------------------------------------
def test_markdown_and_latex_render_offline_and_safely():
    html = render.to_html("Bound: $\\sigma(a)(1-\\sigma(a)) \\le \\frac{1}{4}$\n\n$$L = 1$$\n\n<script>x()</script>"
                          " $\\text{<img src=x onerror=alert(1)>}$ ![p](http://example.com/p.png)")
    assert '<math display="inline"' in html and "<mfrac><mrow><mn>1</mn></mrow><mrow><mn>4</mn></mrow></mfrac>" in html
    assert '<math display="block"' in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "onerror" not in html.replace("onerror=alert(1)", "")  # text only, no element
    assert "example.com" not in html and "[image not shown: p]" in html
    assert 'class="math-error">\\frac{1}{</code>' in render.to_html("$\\frac{1}{$")


PNG_HEADER = b"\x89PNG\r\n\x1a\n"


def _png64(tag):
    return base64.b64encode(PNG_HEADER + tag.encode()).decode()


def test_plots_belong_to_the_question_whose_heading_precedes_them():
    def code(n):
        return {"cell_type": "code", "source": "", "outputs": [{"data": {"image/png": _png64(f"PNG{n}")}}]}
    notebook = {"cells": [
        {"cell_type": "markdown", "source": "## Question 3: networks"}, code(1),
        {"cell_type": "markdown", "source": "## Answer q3b\n\ntext"}, code(2),
        {"cell_type": "markdown", "source": "## Question 4: a VAE"}, code(3),
        {"cell_type": "markdown", "source": "## Question 5(d): generating"}, code(4),
        {"cell_type": "markdown", "source": "# Appendix"}, code(5)]}
    found = {item: [p["data"] for p in plots] for item, plots in cells.notebook_images(notebook).items()}
    found = {item: [base64.b64decode(d)[8:].decode() for d in plots] for item, plots in found.items()}
    assert found == {"q3a": ["PNG1"], "q3b": ["PNG1", "PNG2"], "q3c": ["PNG1"], "q3d": ["PNG1"], "q5d": ["PNG4"]}


@pytest.mark.parametrize("mime, payload, problem", [
    ("image/png", _png64("ok"), ""),
    ("image/jpeg", base64.b64encode(b"\xff\xd8\xff\xe0 jfif").decode(), ""),
    ("image/svg+xml", base64.b64encode(b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>').decode(), ""),
    ("image/png", _png64("x") + '" onerror="alert(1)', "not valid base64"),   # closes the src attribute
    ("image/png", "AAAA\" x=\"", "not valid base64"),
    ("image/png", base64.b64encode(b"<script>alert(1)</script>").decode(), "not a PNG image"),
    ("image/jpeg", _png64("png, not jpeg"), "not a JPEG image"),
    ("image/svg+xml", base64.b64encode(b"<html><script>alert(1)</script></html>").decode(), "no <svg> root"),
    ("image/svg+xml", base64.b64encode(b"\xff\xfe<svg>").decode(), "not UTF-8"),
    ("text/html", _png64("x"), "is not shown"),
    ("image/png", "", "empty image output"),
    ("image/png", 12, "empty image output"),
])
def test_a_plot_is_shown_only_as_base64_of_its_declared_image_type(mime, payload, problem):
    checked = cells.checked_plot({"cell": 3, "mime": mime, "data": payload})
    if problem:
        assert "data" not in checked and problem in checked["problem"] and checked["cell"] == 3
    else:
        assert checked == {"cell": 3, "mime": mime, "data": payload}


def test_a_hostile_plot_in_the_cache_file_is_checked_when_read_back(tmp_path):
    from graders.results import SubmissionInfo, SubmissionResult
    result = SubmissionResult("ann", {}, [], SubmissionInfo(fingerprint="f1"))
    cache = tmp_path / "marking" / "cells" / "f1.json"
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"q3a": [{"cell": 2, "mime": "image/png", "data": 'A" onerror="alert(1)'},
                                         {"cell": 4, "mime": "image/png", "data": _png64("fine")}],
                                 "not-an-item": [{"cell": 1, "mime": "image/png", "data": _png64("x")}]}))
    assert cells.images(result, tmp_path) == {"q3a": [
        {"cell": 2, "mime": "image/png", "problem": "image output is not valid base64, not shown"},
        {"cell": 4, "mime": "image/png", "data": _png64("fine")}]}


def test_pdf_pages_are_rendered_once_and_cached(tmp_path):
    from graders.marking.demo import write_pdf
    source = tmp_path / "answers.pdf"
    write_pdf(source, "ann")
    pages = pdf.pages(source, tmp_path / "out")
    assert len(pages) == 2 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pages)
    stamp = pages[0].stat().st_mtime_ns
    assert pdf.pages(source, tmp_path / "out") == pages and pages[0].stat().st_mtime_ns == stamp
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4 not really")
    with pytest.raises(pdf.PdfProblem, match="bad.pdf: cannot be rendered"):
        pdf.pages(tmp_path / "bad.pdf", tmp_path / "out")


# -- reports follow the marks ------------------------------------------------------------------
def test_student_copy_has_no_model_answers_and_the_ta_copy_has(batch):
    out, ids = batch
    model_only = "Marking: gradient of σ(xᵀw) correct"
    for sid in ids:
        student, ta = (out / "students" / f"{sid}.html").read_text(), (out / "ta" / f"{sid}.html").read_text()
        assert model_only not in student and "Model answer" not in student
        assert model_only in ta and "TA copy" in ta
        assert '<math display="block"' in student            # the student's own LaTeX, rendered
        assert "&lt;script&gt;alert(1)" in student and "<script>alert(1)" not in student
    assert not (out / "student1.html").exists()
    index = (out / "index.html").read_text()
    assert 'href="ta/student1.html"' in index and 'href="students/student1.html"' in index
    assert "auto 38/40, written pending" in index and ">(0)<" not in index
    assert "auto 25/40, written pending" in (out / "students" / "student3.html").read_text()
    # the Q3 plot saved in each notebook shows under q3a-q3d (read at grading time, kept in OUT)
    assert 'alt="q3c plot from notebook cell 2"' in (out / "students" / "student1.html").read_text()
    assert list((out / "marking" / "cells").glob("*.json"))


def test_app_requires_the_token_and_grades_follow_a_mark(batch, tmp_path):
    import shutil
    from graders.marking.app import create_app
    out = tmp_path / "out"
    shutil.copytree(batch[0], out)
    rows = _csv(out / "written_marks.csv")
    full = {item: str(m) for item, m in WRITTEN_ITEMS.items() if item != "q1a"}
    with open(out / "written_marks.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, written.COLUMNS)
        writer.writeheader()
        for sid, row in rows.items():
            writer.writerow({**row, **(full if sid == "student2" else {})})
    app = create_app(out, token="secret-token")
    client = app.test_client()
    assert client.get("/").status_code == 403 and client.get("/?token=wrong").status_code == 403
    assert client.get("/?token=secret-token").status_code == 302 and client.get("/").status_code == 200
    q3b = client.get("/q/q3b/0").get_data(as_text=True)
    assert 'alt="plot from notebook cell 2"' in q3b and "Marking: a plot (1)" in q3b   # plot and marking guide
    assert client.get("/q/q9z/0").status_code == 404 and client.get("/q/q1a/7").status_code == 404
    answer = {"item": "q1a", "student": "student2", "version": 0, "toggle": "e1"}
    assert client.post("/api/mark", json=answer).status_code == 403          # no X-Token header
    done = client.post("/api/mark", json=answer, headers={"X-Token": "secret-token"})
    assert done.status_code == 200 and done.json["mark"]["score"] == 2.0 and done.json["progress"] == [1, 3]
    again = client.post("/api/mark", json=answer, headers={"X-Token": "secret-token"})
    assert again.status_code == 409 and again.json["current"]["version"] == 1
    assert app.updater.flush(30)
    grades = {row["Identifier"]: row for row in csv.DictReader(open(out / "grades.csv", newline=""))}
    assert (grades["student2"]["Grade"], grades["student2"]["Status"]) == ("100", "final")   # 38 + 55 + 2 = 95
    assert grades["student1"]["Status"] == "provisional"
    page = (out / "students" / "student2.html").read_text()
    assert 'id="final-grade">100<' in page and "+2 part 1 of the marking guide" in " ".join(
        page.replace("</span>", " ").split())
    assert "gradient of σ(xᵀw) correct" not in page   # the guide's steps are the model answer: TAs only
    assert "+2 gradient of σ(xᵀw) correct" in " ".join((out / "ta" / "student2.html").read_text()
                                                       .replace("</span>", " ").split())
    assert _csv(out / "written_marks.csv")["student2"]["q1a"] == "2"


def test_the_pdf_graded_from_is_kept_in_out_for_the_marking_app(tmp_path):
    from graders.marking.demo import write_pdf
    from graders.results import SubmissionInfo, SubmissionResult
    unpacked = tmp_path / "unpacked" / "ann.pdf"   # a zip's temporary folder, gone after grading
    write_pdf(unpacked, "ann")
    result = SubmissionResult("ann", {}, [], SubmissionInfo(pdf_path=str(unpacked), fingerprint="f00"))
    out = tmp_path / "out"
    kept = pdf.keep(result, out)
    assert kept == out / "marking" / "pdfs" / "f00.pdf" and kept.read_bytes() == unpacked.read_bytes()
    unpacked.unlink()
    assert pdf.locate(result, out) == (kept, "")
    assert pdf.locate(SubmissionResult("bob", {}, []), out) == (None, "no PDF was handed in")
    gone = SubmissionResult("cat", {}, [], SubmissionInfo(pdf=str(tmp_path / "nowhere.pdf")))
    assert pdf.locate(gone, out) == (None, "the PDF handed in is no longer where it was graded from")


def test_rewrite_reports_follows_hand_marks_without_regrading(batch, tmp_path):
    import shutil
    from graders.marking.updater import rewrite_reports
    out = tmp_path / "out"
    shutil.copytree(batch[0], out)
    with open(out / "written_marks.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, written.COLUMNS)
        writer.writeheader()
        writer.writerow({"id": "student3", **{item: str(m) for item, m in WRITTEN_ITEMS.items()}, "comment": "ok"})
        writer.writerow({"id": "someone-else", "q1a": "1"})
    document = rewrite_reports(out)
    finals = {s["id"]: (s["raw_total"], s["final_grade"]) for s in document["submissions"]}
    assert finals == {"student1": (None, None), "student2": (None, None), "student3": (85.0, 100)}
    assert 'id="final-grade">100<' in (out / "students" / "student3.html").read_text()
    with open(out / "grades.csv", newline="") as handle:
        grades = {row["Identifier"]: row["Grade"] for row in csv.DictReader(handle)}
    assert grades == {"student1": "", "student2": "", "student3": "100"}


# -- bounded work: PDFs drawn once in the background, answers drawn with caps (issue 17, item 8) -----
# Stand-ins for the PDFium child: argv is [python, -c, SCRIPT, pdf, folder]; each start is logged.
_CHILD = ("import json, os, pathlib, sys, time\n"
          "folder = pathlib.Path(sys.argv[2])\n"
          "with open(os.environ['A4_TEST_PDF_LOG'], 'a') as log: log.write(sys.argv[2] + '\\n')\n"
          "(folder / 'total.json').write_text(json.dumps({'total': 60}))\n"
          "for n in range(1, 1 + int(os.environ.get('A4_TEST_FAST_PAGES', '0'))):\n"
          "    (folder / f'{n}.png').write_bytes(b'\\x89PNG\\r\\n\\x1a\\n')\n"
          "while True:\n"
          "    time.sleep(float(os.environ.get('A4_TEST_PAGE_SECONDS', '60')))\n"
          "    n = len(list(folder.glob('*.png'))) + 1\n"
          "    (folder / f'{n}.png').write_bytes(b'\\x89PNG\\r\\n\\x1a\\n')\n")


@pytest.fixture
def slow_pdf_child(tmp_path, monkeypatch):
    """A PDF 'renderer' that never finishes (60 pages, each slower than the test's page limit); returns
    a function giving how many times it was started for this test's PDFs."""
    import sys
    log = tmp_path / "starts.log"
    monkeypatch.setenv("A4_TEST_PDF_LOG", str(log))
    monkeypatch.setattr(pdf, "CHILD", [sys.executable, "-c", _CHILD])
    monkeypatch.setattr(pdf, "PAGE_TIMEOUT", 4.0)   # > a loaded machine's Python start
    monkeypatch.setattr(pdf, "TIMEOUT", 8.0)
    # Only drawings into this test's folders count: an earlier test's app may still be drawing in the background.
    return lambda: sum(line.startswith(str(tmp_path)) for line in log.read_text().splitlines()) if log.exists() else 0


@pytest.mark.slow
def test_a_pdf_whose_pages_hang_is_stopped_recorded_and_never_tried_again(tmp_path, slow_pdf_child, monkeypatch):
    source = tmp_path / "slow.pdf"
    source.write_bytes(b"%PDF-1.4 slow")
    monkeypatch.setenv("A4_TEST_FAST_PAGES", "2")
    folder = pdf.cache_dir(source, tmp_path / "out")
    done = pdf.render(source, folder)
    assert (done.pages, done.total) == (2, 60)
    assert done.problem == "page 3 took over 4 s to draw; pages 1-2 of 60 are shown"
    assert slow_pdf_child() == 1
    assert pdf.render(source, folder) == done and slow_pdf_child() == 1               # recorded: not drawn again
    assert pdf.recorded(folder) == done                                                # also after a restart
    assert [p.name for p in pdf.pages(source, tmp_path / "out")] == ["1.png", "2.png"]  # what is drawn is usable
    assert slow_pdf_child() == 1


@pytest.mark.slow
def test_a_pdf_drawing_past_the_total_limit_is_stopped(tmp_path, slow_pdf_child, monkeypatch):
    source = tmp_path / "long.pdf"
    source.write_bytes(b"%PDF-1.4 long")
    monkeypatch.setenv("A4_TEST_PAGE_SECONDS", "0.3")   # every page within its limit, but 60 of them
    done = pdf.render(source, tmp_path / "pages")
    assert done.problem.startswith("drawing took over 8 s; pages 1-") and done.problem.endswith(" of 60 are shown")
    assert 5 <= done.pages < 60


@pytest.mark.slow
def test_the_marking_views_never_wait_for_a_slow_pdf_and_show_its_note(batch, tmp_path, slow_pdf_child):
    import shutil
    from concurrent.futures import ThreadPoolExecutor
    from graders.marking.app import create_app
    out = tmp_path / "out"
    shutil.copytree(batch[0], out)
    shutil.rmtree(out / "marking" / "pdf", ignore_errors=True)      # nothing drawn yet
    app = create_app(out, token="t", start_updater=False)
    client = app.test_client()
    client.get("/?token=t")
    with ThreadPoolExecutor(6) as pool:                               # a TA's tabs, all at once
        pages = list(pool.map(lambda path: client.get(path).get_data(as_text=True),
                              ["/q/q1a/0", "/s/0", "/q/q3a/0", "/q/q1a/1", "/s/1", "/q/q2a/0"]))
    assert all("being drawn in the background" in page for page in pages)   # none waited for its PDF's outcome
    assert app.batch.pdfs.idle(30)
    assert slow_pdf_child() == 2                                     # two students with a PDF: one start each
    for _ in range(3):
        page = client.get("/q/q1a/0").get_data(as_text=True)
        assert 'id="pdf-note">student1.pdf: page 1 took over 4 s to draw</p>' in page
        assert client.get("/pdf/0/1.png").status_code == 404
    again = create_app(out, token="t", start_updater=False)           # a restart does not try again either
    assert again.batch.pdfs.idle(10) and slow_pdf_child() == 2
    assert "student1.pdf: page 1 took over 4 s" in again.test_client().get("/s/0?token=t", follow_redirects=True
                                                                            ).get_data(as_text=True)


def test_an_answer_of_a_quarter_million_formulas_is_drawn_capped_with_a_note_and_once():
    text = " ".join(f"$\\frac{{a_{{{i}}}}}{{b}}$" for i in range(250_000))
    html = render.to_html(text)
    assert html.count("<math") == render.MAX_FORMULAS == 400
    assert f"This answer is {len(text):,} characters long; only the first 50,000 are shown." in html
    assert "formulas: the first 400 within the limits are drawn, the other" in html
    assert len(html) < 400_000                                       # a page, not 130 MB
    assert render.to_html(text) is html                              # drawn once: cached by text
    long_one = "$" + "x+" * 1500 + "x$ and $y$"
    drawn = render.to_html(long_one)
    assert drawn.count("<math") == 1 and "<code>x+x+" in drawn and "the other 1 are shown as LaTeX source" in drawn
    plain = render.to_html("Bound: $\\sigma(a) \\le 1$")
    assert "render-note" not in plain and plain.count("<math") == 1


# -- a notebook handed in inside a zip shows its plots (issue 17, item 1's separate bug) -----------
def test_plots_of_a_notebook_handed_in_inside_a_zip_show_in_the_marking_app(tmp_path):
    """The pipeline records the display name (``alice.zip/A4/A4.ipynb``) as ``source`` and the unpacked
    file as ``source_path``; the plots are read from the latter while grading, then kept in OUT."""
    import shutil
    import zipfile
    from graders.intake.discover import discover
    from graders.marking.app import create_app
    from graders.marking.demo import _notebook, write_pdf
    from graders.reports.pages import Reporter
    from graders.results import SubmissionInfo, SubmissionResult
    batch_dir, scratch, out = tmp_path / "batch", tmp_path / "scratch", tmp_path / "out"
    batch_dir.mkdir()
    scratch.mkdir()
    notebook = _notebook("alice")
    plot = notebook["cells"][1]["outputs"][0]["data"]["image/png"]
    write_pdf(tmp_path / "w.pdf", "alice")
    with zipfile.ZipFile(batch_dir / "alice.zip", "w") as archive:
        archive.writestr("A4/A4.ipynb", json.dumps(notebook))
        archive.write(tmp_path / "w.pdf", "A4/written answers.pdf")
    (sub,) = discover(batch_dir, scratch)
    from graders.items import AUTO_ITEMS
    from graders.results import ItemResult
    info = SubmissionInfo(source=sub.graded_name, source_path=str(sub.source), files=sub.files_json(),
                          pdf_path=str(sub.pdf), fingerprint="zip0001",
                          markdown=[c["source"] for c in notebook["cells"] if c["cell_type"] == "markdown"])
    assert info.source == "alice.zip/A4/A4.ipynb"                      # a display name, not a path
    result = SubmissionResult(sub.id, {i.id: ItemResult(i.marks, "pass", i.marks) for i in AUTO_ITEMS}, [], info)
    out.mkdir()
    (out / "results.jsonl").write_text(json.dumps({"fingerprint": "zip0001", "result": result.full_json()}) + "\n")
    Reporter(out).write_all([result], lambda r: {})                     # at grading time, scratch still there
    shutil.rmtree(scratch)                                              # then the unpacked zip is gone
    client = create_app(out, token="t", start_updater=False).test_client()
    client.get("/?token=t")
    for path in ("/q/q3a/0", "/q/q3d/0", "/s/0"):
        page = client.get(path).get_data(as_text=True)
        assert f'alt="plot from notebook cell 2" src="data:image/png;base64,{plot}"' in page, path
    assert 'alt="plot from notebook cell 2"' not in client.get("/q/q1a/0").get_data(as_text=True)  # not a Q3 item
    assert f'src="data:image/png;base64,{plot}"' in (out / "ta" / "alice.html").read_text()


# -- the CSP: no inline script or style in the app, the reports' own blocks only (issue 17, item 1) ----
def _inline_blocks(page):
    """``(inline scripts and styles, style attributes, event-handler attributes)`` of an HTML page."""
    from html.parser import HTMLParser

    class Blocks(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=False)
            self.inline, self.styles, self.handlers, self._open = [], [], [], None

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            self.styles += [tag] if "style" in attrs else []
            self.handlers += [a for a in attrs if a.startswith("on")]
            executable = tag == "script" and "src" not in attrs and attrs.get("type") != "application/json"
            self._open = [tag, ""] if executable or tag == "style" else None

        def handle_data(self, data):
            if self._open:
                self._open[1] += data

        def handle_endtag(self, tag):
            if self._open and tag == self._open[0]:
                self.inline.append(tuple(self._open))
            self._open = None
    parser = Blocks()
    parser.feed(page)
    return parser.inline, parser.styles, parser.handlers


def test_the_csp_allows_no_inline_script_or_style_and_the_pages_have_none(batch, tmp_path):
    import base64
    import hashlib
    import shutil
    from graders.marking.app import create_app
    out = tmp_path / "out"
    shutil.copytree(batch[0], out)
    client = create_app(out, token="t", start_updater=False).test_client()
    client.get("/?token=t")
    for path in ("/", "/q/q1a/0", "/q/q3b/1", "/s/0", "/s/2"):
        response = client.get(path)
        csp = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
        assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'" and csp["default-src"] == "'none'"
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
        assert _inline_blocks(response.get_data(as_text=True)) == ([], [], []), path
    for name in ("marking.js", "question.js", "student.js", "marking.css"):
        assert client.get(f"/static/{name}").status_code == 200
    # A report page is a self-contained file: its own inline blocks run (by hash), nothing else, sandboxed.
    for path in ("/reports/index.html", "/reports/ta/student1.html", "/reports/students/student2.html"):
        response = client.get(path)
        policy = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in policy and "sandbox allow-scripts" in policy and "'self'" not in policy
        inline, _, handlers = _inline_blocks(response.get_data(as_text=True))
        assert inline and handlers == []
        for _, body in inline:
            assert f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'" in policy


# -- issue 18: changes from a stale tab merged when they undo nothing; the token kept; who marked -----
def test_a_stale_apply_or_remove_is_merged_and_is_idempotent(store):
    store.update("q1a", "ann", 0, apply=["e1"])                       # TA one
    merged = store.update("q1a", "ann", 0, apply=["e2"])               # TA two, still at version 0
    assert (merged.applied, merged.score, merged.version, merged.merged) == (["e1", "e2"], 4.0, 2, True)
    again = store.update("q1a", "ann", 0, apply=["e2"])                # the same change sent twice
    assert again.applied == ["e1", "e2"] and again.score == 4.0
    assert store.update("q1a", "ann", 3, remove=["e1"]).applied == ["e2"]
    assert store.update("q1a", "ann", 1, remove=["e1"]).applied == ["e2"]   # stale and repeated: same state
    with pytest.raises(Conflict):
        store.update("q1a", "ann", 1, toggle="e3")                     # a toggle depends on what was seen
    with pytest.raises(ValueError, match="no rubric entry 'e99'"):
        store.update("q1a", "ann", 5, apply=["e99"])
    assert "merged" not in json.dumps(store._item_data("q1a"))        # never written to disk


def test_a_stale_comment_is_merged_only_when_nobody_else_changed_the_comment(store):
    store.update("q1a", "ann", 0, apply=["e1"])
    merged = store.update("q1a", "ann", 0, comment="mine", base_comment="")   # only the rubric moved on
    assert (merged.comment, merged.applied) == ("mine", ["e1"])
    with pytest.raises(Conflict) as refused:
        store.update("q1a", "ann", 1, comment="another", base_comment="")     # typed on "", now "mine"
    assert refused.value.current.comment == "mine"
    assert store.update("q1a", "ann", 1, comment="mine", base_comment="").comment == "mine"   # sent twice
    assert store.update("q1a", "ann", 3, comment="mine\n\nanother", base_comment="mine").comment == "mine\n\nanother"
    store.update("q1a", "ann", 4, manual=3)
    with pytest.raises(Conflict):
        store.update("q1a", "ann", 4, manual=2, base_manual=None)              # someone set 3 meanwhile
    assert store.update("q1a", "ann", 4, manual=2, base_manual=3).score == 2.0


def test_the_token_is_kept_across_restarts_in_a_private_file(tmp_path):
    import stat
    from graders.marking.access import kept_token
    first = kept_token(tmp_path)
    path = tmp_path / "marking" / "token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) >= 16
    assert kept_token(tmp_path) == first                              # a restart: the same URL
    assert kept_token(tmp_path, "my-own-token-of-20ch") == "my-own-token-of-20ch"
    with pytest.raises(ValueError, match="--token: use at least 16"):
        kept_token(tmp_path, "short")


def test_each_record_says_which_ta_marked_it(batch, tmp_path):
    import shutil
    from graders.marking.app import create_app
    out = tmp_path / "out"
    shutil.copytree(batch[0], out)
    app = create_app(out, token="secret-token-1234", start_updater=False, marker="Ada L.")
    client = app.test_client()
    client.get("/?token=secret-token-1234")
    reply = client.post("/api/mark", json={"item": "q1a", "student": "student1", "version": 0, "apply": ["e1"]},
                        headers={"X-Token": "secret-token-1234"})
    assert reply.status_code == 200 and reply.json["merged"] is False
    assert MarkStore(out).get("q1a", "student1").by == "Ada L."
    stale = client.post("/api/mark", json={"item": "q1a", "student": "student1", "version": 0, "comment": "x",
                                           "base_comment": "old"}, headers={"X-Token": "secret-token-1234"})
    assert stale.status_code == 409 and stale.json["current"]["applied"] == ["e1"]
    bad = client.post("/api/mark", json={"item": "q1a", "student": "student1", "version": 1, "apply": "e1"},
                      headers={"X-Token": "secret-token-1234"})
    assert bad.status_code == 400 and "expected a list" in bad.json["error"]


def test_late_work_is_flagged_skipped_by_next_unmarked_and_a_regrade_appears_in_navigation(tmp_path):
    from datetime import datetime
    from graders.reports import pages as report
    from graders.marking.app import create_app
    from graders.marking.demo import build_batch
    out = tmp_path / "out"
    ids = ["ann", "bob", "cat"]
    build_batch(out, ids=ids, submitted_at={"ann": "2022-12-01T10:00:00", "bob": "2022-12-03T10:00:00",
                                            "cat": "2022-12-01T11:00:00"})
    report.Reporter(out, deadline=datetime(2022, 12, 2, 12, 0)).settings_json()
    app = create_app(out, token="late-token-123456", start_updater=False)
    client = app.test_client()
    client.get("/?token=late-token-123456")
    bob = client.get("/q/q1a/1").get_data(as_text=True)
    assert 'id="late-flag">late: submitted 2022-12-03 10:00, 22.0 h after the deadline' in bob
    assert 'id="late-flag"' not in client.get("/q/q1a/0").get_data(as_text=True)
    assert 'id="late-flag"' in client.get("/s/1").get_data(as_text=True)
    ann = client.get("/q/q1a/0").get_data(as_text=True)
    assert 'id="next-unmarked" href="/q/q1a/2"' in ann                 # bob (late) skipped
    post = {"item": "q1a", "student": "cat", "version": 0, "apply": ["e1"]}
    assert client.post("/api/mark", json=post, headers={"X-Token": "late-token-123456"}).status_code == 200
    assert client.get("/q/q1a/").headers["Location"].endswith("/q/q1a/0")
    assert "no other unmarked answer" in client.get("/q/q1a/0").get_data(as_text=True)
    late = {"item": "q1a", "student": "bob", "version": 0, "apply": ["e1"]}   # still markable on request
    assert client.post("/api/mark", json=late, headers={"X-Token": "late-token-123456"}).status_code == 200

    lines = (out / "results.jsonl").read_text().splitlines()             # a regrade adds a student meanwhile
    newcomer = json.loads(lines[0])
    newcomer["result"]["id"], newcomer["fingerprint"] = "dan", "regraded"
    (out / "results.jsonl").write_text("\n".join(lines + [json.dumps(newcomer)]) + "\n")
    assert client.get("/q/q1a/3").status_code == 200 and "dan" in client.get("/q/q1a/3").get_data(as_text=True)
    assert app.batch.ids == ["ann", "bob", "cat", "dan"]
    assert 'href="/s/3">dan</a>' in client.get("/").get_data(as_text=True)


def test_one_action_marks_a_whole_answer_group_and_reports_members_it_left(tmp_path):
    from graders.marking.app import create_app
    from graders.marking.demo import build_batch
    out = tmp_path / "out"
    ids = build_batch(out, 4)
    app = create_app(out, token="group-token-123456", start_updater=False)
    client = app.test_client()
    client.get("/?token=group-token-123456")
    groups = app.batch.groups("q1a")
    assert groups and groups[0].students == sorted(ids)              # the demo's four answers are identical
    page = client.get("/q/q1a/0").get_data(as_text=True)
    assert "apply to all 4" in page and "identical answers" in page
    store = MarkStore(out, seed=rubrics.seed_entries)
    store.update("q1a", ids[1], 0, comment="own words")
    headers = {"X-Token": "group-token-123456"}
    reply = client.post("/api/group", json={"item": "q1a", "students": ids, "apply": ["e1"]}, headers=headers)
    assert reply.status_code == 200 and sorted(reply.json["done"]) == sorted(ids) and reply.json["progress"] == [4, 4]
    again = client.post("/api/group", json={"item": "q1a", "students": ids, "apply": ["e1"]}, headers=headers)
    assert {m["applied"] == ["e1"] for m in again.json["done"].values()} == {True}   # the wanted state: no toggle
    said = client.post("/api/group", json={"item": "q1a", "students": ids, "comment": "see the bound"}, headers=headers)
    assert said.json["conflicts"] == {ids[1]: "has its own comment (kept; add to it on its page)"}
    marks = MarkStore(out).marks_of_item("q1a")
    assert [marks[sid].comment for sid in ids] == ["see the bound", "own words", "see the bound", "see the bound"]
    assert {marks[sid].score for sid in ids} == {2.0}
    one = {"item": "q1a", "student": ids[2], "version": marks[ids[2]].version, "remove": ["e1"]}
    assert client.post("/api/mark", json=one, headers=headers).json["mark"]["score"] is None   # still editable alone
    bad = client.post("/api/group", json={"item": "q1a", "students": ids, "apply": ["e99"]}, headers=headers)
    assert bad.status_code == 400 and "e99" in bad.json["error"]


def test_the_student_page_proposes_the_pdf_page_map_to_confirm_in_one_action(tmp_path):
    from graders.marking.app import create_app
    from graders.marking.demo import build_batch
    from graders.reports.pages import stored_results
    from pathlib import Path
    from tests.pdf_answers import student_pdf
    out = tmp_path / "out"
    build_batch(out, 3)
    pdf_path = Path(stored_results(out)[0].info.pdf)
    truth = student_pdf(pdf_path, 3)                                   # labelled answers, several pages
    app = create_app(out, token="pages-token-123456", start_updater=False)
    assert app.batch.pdfs.idle(120)
    client = app.test_client()
    client.get("/?token=pages-token-123456")
    page = client.get("/s/0").get_data(as_text=True)
    state = json.loads(page.split('id="state">')[1].split("</script>")[0])
    assert state["proposed"] == truth and 'id="use-proposal">use this map' in page
    assert page.count('class="proposed"') == sum(len(p) for p in truth.values())
    confirm = client.post("/api/student", json={"student": "student1", "version": 0, "pages": state["proposed"]},
                          headers={"X-Token": "pages-token-123456"})           # what the button sends
    assert confirm.status_code == 200 and MarkStore(out).student("student1").pages == truth
    assert "this is the map in use" in client.get("/s/0").get_data(as_text=True)
    assert json.loads(client.get("/s/2").get_data(as_text=True).split('id="state">')[1].split("</script>")[0]
                      )["proposed"] == {}                               # no PDF: nothing proposed


def test_an_entry_with_empty_points_is_refused_and_the_home_page_has_question_stats(tmp_path):
    from graders.marking.app import create_app
    from graders.marking.demo import build_batch
    out = tmp_path / "out"
    build_batch(out, 3, pdfs=False)
    app = create_app(out, token="stats-token-123456", start_updater=False)
    client = app.test_client()
    client.get("/?token=stats-token-123456")
    headers = {"X-Token": "stats-token-123456"}
    empty = client.post("/api/rubric/add", json={"item": "q1a", "points": "", "text": "partial"}, headers=headers)
    assert empty.status_code == 400 and empty.json["error"] == "points: enter a number for the new entry (an empty box is not 0)"
    assert client.post("/api/rubric/add", json={"item": "q1a", "points": "x", "text": "t"}, headers=headers).status_code == 400
    assert [e.text for e in MarkStore(out, seed=rubrics.seed_entries).rubric("q1a")][-1] == "No answer / no credit"
    for sid, entries in (("student1", ["e1", "e2"]), ("student2", ["e1"])):
        client.post("/api/mark", json={"item": "q1a", "student": sid, "version": 0, "apply": entries}, headers=headers)
    home = client.get("/").get_data(as_text=True)
    row = home.split('id="stats-q1a">')[1].split("</tr>")[0]
    assert "2/3" in row and "3/5" in row and "2×1, 4×1" in row and "gradient of σ(xᵀw) correct: 2" in row


def test_a_rubric_entry_is_deleted_only_when_unused_and_entries_reorder(store):
    store.update("q1a", "ann", 0, apply=["e1"])
    e1, e2 = store.rubric("q1a")[:2]
    with pytest.raises(ValueError, match=r"entry e1 is applied to 1 answer\(s\) \(ann\); remove it there first"):
        store.delete_entry("q1a", "e1", e1.version)
    left = store.delete_entry("q1a", "e2", e2.version)
    assert [e.id for e in left] == ["e1", "e3", "e4"] and store.get("q1a", "ann").score == 2.0
    assert [e.id for e in store.reorder("q1a", ["e3", "e1", "e4"])] == ["e3", "e1", "e4"]
    with pytest.raises(ValueError, match="each entry once"):
        store.reorder("q1a", ["e3", "e1"])
    assert store.get("q1a", "ann").applied == ["e1"] and store.get("q1a", "ann").score == 2.0


def test_rubric_entry_text_is_drawn_as_markdown_with_math_in_the_app_and_the_students_page(batch, tmp_path):
    """Issue 18: an entry's `code` and $math$ are drawn (not raw backticks), on the question page and in
    the student's copy, and anything else in it stays text."""
    import shutil
    from graders.marking.app import create_app
    out = tmp_path / "out"
    shutil.copytree(batch[0], out)
    app = create_app(out, token="t")
    client = app.test_client()
    client.get("/?token=t")
    added = client.post("/api/rubric/add", headers={"X-Token": "t"},
                        json={"item": "q1a", "points": 1, "text": "uses `exp` and $x^2$ <script>alert(1)</script>"})
    assert added.status_code == 200
    entry = added.json["entry"]
    page = client.get("/q/q1a/0").get_data(as_text=True)
    assert "uses <code>exp</code> and <span class=\"math inline\"><math" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    mark = client.post("/api/mark", headers={"X-Token": "t"},
                       json={"item": "q1a", "student": app.batch.ids[0], "version": 0, "toggle": entry["id"]})
    assert mark.status_code == 200 and app.updater.flush(30)
    copy = (out / "students" / f"{app.batch.ids[0]}.html").read_text()
    assert "uses <code>exp</code> and" in copy and "`exp`" not in copy


def test_anonymous_marking_shows_aliases_hides_reports_and_first_pages_and_stores_real_ids(batch, tmp_path):
    """Issue 18: ``--anonymous``: no student id on any page (stable aliases instead, the same after a
    restart), no reports, no PDF first page (the demo's holds the student's name); a mark sent for an
    alias is stored for the real id, and a page map saved from the anonymous view keeps page 1's mapping."""
    import shutil
    from graders.marking.app import create_app
    out = tmp_path / "out"
    shutil.copytree(batch[0], out)
    app = create_app(out, token="t", start_updater=False, anonymous=True)
    client = app.test_client()
    client.get("/?token=t")
    ids = app.batch.ids
    aliases = [app.batch.shown(sid) for sid in ids]
    assert all(a.startswith("S-") and len(a) == 8 for a in aliases) and len(set(aliases)) == len(ids)
    pages = [client.get(url).get_data(as_text=True) for url in ("/", "/q/q1a/0", "/s/0", "/q/q3b/1")]
    assert not [sid for sid in ids for page in pages if sid in page]
    assert aliases[0] in pages[1] and aliases[0] in pages[2]
    assert client.get("/reports/index.html").status_code == 404
    assert app.batch.pdfs.idle(60)
    assert client.get("/pdf/0/1.png").status_code == 404 and client.get("/pdf/0/2.png").status_code == 200
    drawn = client.get("/s/0").get_data(as_text=True)              # the pages listed once drawn
    assert 'src="/pdf/0/1.png"' not in drawn and 'src="/pdf/0/2.png"' in drawn and ids[0] not in drawn
    app.batch.store.update_student(ids[0], app.batch.store.student(ids[0]).version, pages={"q1a": [1]})
    notes = app.batch.store.student(ids[0])
    saved = client.post("/api/student", headers={"X-Token": "t"},
                        json={"student": aliases[0], "version": notes.version, "pages": {"q3b": [2]}})
    assert saved.status_code == 200 and saved.json["student"]["student"] == aliases[0]
    assert app.batch.store.student(ids[0]).pages == {"q1a": [1], "q3b": [2]}
    entry = app.batch.store.rubric("q1a")[0].id
    marked = client.post("/api/mark", headers={"X-Token": "t"},
                         json={"item": "q1a", "student": aliases[0], "version": 0, "toggle": entry})
    assert marked.status_code == 200 and marked.json["mark"]["student"] == aliases[0]
    assert app.batch.store.get("q1a", ids[0]).applied == [entry]
    assert client.post("/api/mark", headers={"X-Token": "t"},
                       json={"item": "q1a", "student": ids[1], "version": 0, "toggle": entry}).status_code == 404
    again = create_app(out, token="t", start_updater=False, anonymous=True)
    assert [again.batch.shown(sid) for sid in ids] == aliases
    assert oct((out / "marking" / "alias_key").stat().st_mode & 0o777) == "0o600"
