"""`grade.py publish OUT`: final student copies, Moodle's feedback zip, the worksheet's comments column.

A Moodle batch of eight is made without the grader (``graders.marking.demo``): seven students from a
Moodle download (one of them late, one with an underscore in the name) and one handed in as a plain
file, which has no participant id and so cannot be in the zip.
"""
import csv
import io
import json
import re
import zipfile
from datetime import datetime

import pytest

from graders.marking import publish
from graders.reports import pages as report
from graders.intake.extensions import ExtensionsError, read_extensions
from graders.items import WRITTEN_ITEMS
from graders.intake import answers
from graders.marking import rubrics, updater
from graders.reports import render
from graders.marking.store import MarkStore
from tests.conftest import run_grade

MOODLE_IDS = ["Ann Bo_123456", "Chen Li_123457", "Dara Okafor_123458", "Eve Tan_123459", "Jo_Ann Smith_123460",
              "Karim Haddad_123461", "Late Larry_123462"]
PLAIN = "walkin"
DEADLINE = datetime(2022, 12, 8, 23, 59)
ON_TIME, LATE = "2022-12-08T20:00:00", "2022-12-09T10:00:00"
COMMENT = 'Good, but "=1+1" is not a proof,\nsee the notes'


def moodle_import(path_in_zip, participants):
    """Moodle's ``assignfeedback_file_zip_importer::is_valid_filename_for_import``, line by line:
    ``(participant, plugin, filename)`` for a file in the feedback zip, or ``None`` when Moodle skips it."""
    if path_in_zip.endswith("/") or path_in_zip.rsplit("/", 1)[-1].startswith((".", "~")):
        return None
    parts = path_in_zip.split("/")
    while parts:
        info = parts.pop(0).split("_", 4)          # PHP explode('_', $pathpart, 5)
        if len(info) < 4 or not info[1].isdigit():
            continue
        participant = participants.get(int(info[1]))
        if participant is None or (info[2], info[3]) != ("assignfeedback", "file"):
            continue
        parts.insert(0, info[4] if len(info) == 5 else "")
        return participant, f"{info[2]}_{info[3]}", "/".join(parts)
    return None


def _students(out):
    """``{id: MoodleIdentity}`` of the stored results, as ``grade.py publish`` hands them to the extensions."""
    return {r.id: r.info.moodle for r in report.stored_results(out)}


def _mark_everything(out, ids, skip=()):
    """Every written item of every student in ``ids`` marked with the rubric's first entry, but ``skip``."""
    store = MarkStore(out, seed=rubrics.seed_entries)
    for sid in ids:
        for item in WRITTEN_ITEMS:
            if (sid, item) not in skip:
                store.update(item, sid, store.get(item, sid).version, toggle="e1", by="ta")
    return store


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    from graders.marking.demo import build_batch
    out = tmp_path_factory.mktemp("publish") / "out"
    ids = MOODLE_IDS + [PLAIN]
    times = {sid: (LATE if sid.startswith("Late") else ON_TIME) for sid in ids}
    build_batch(out, ids=ids, submitted_at=times)
    report.Reporter(out, deadline=DEADLINE).settings_json()
    return out, ids


@pytest.fixture
def batch(graded, tmp_path):
    """A fresh copy of the graded batch (its sources, PDFs included, stay where they were made)."""
    import shutil
    out, ids = graded
    shutil.copytree(out, tmp_path / "out")
    return tmp_path / "out", ids


@pytest.mark.slow
def test_publish_refuses_and_lists_what_is_missing(batch):
    out, ids = batch
    on_time = [sid for sid in ids if not sid.startswith("Late")]
    _mark_everything(out, on_time, skip={("Chen Li_123457", "q2b"), (PLAIN, "q1a"), (PLAIN, "q5d")})
    with pytest.raises(publish.NotReady) as refused:
        publish.publish(out)
    assert {(m.student, m.items) for m in refused.value.missing} == {("Chen Li_123457", ("q2b",)),
                                                                      (PLAIN, ("q1a", "q5d"))}
    result = run_grade("publish", out)
    assert result.returncode == 1
    assert "Chen Li_123457: q2b" in result.stderr and f"{PLAIN}: q1a, q5d" in result.stderr
    assert "Late Larry" not in result.stderr  # late: final 0 at once, nothing to mark
    assert not (out / "published").exists() and not (out / "moodle_feedback.zip").exists()


@pytest.mark.slow
def test_the_zip_imports_into_moodle_and_maps_every_folder_to_its_student(batch):
    out, ids = batch
    store = _mark_everything(out, [sid for sid in ids if not sid.startswith("Late")])
    store.update("q1a", "Ann Bo_123456", store.get("q1a", "Ann Bo_123456").version, comment=COMMENT)
    done = publish.publish(out)
    assert done.not_included == [PLAIN]
    with zipfile.ZipFile(out / "moodle_feedback.zip") as archive:
        names = archive.namelist()
        pages = {name: archive.read(name).decode() for name in names}
    participants = {int(sid.rsplit("_", 1)[1]): sid for sid in MOODLE_IDS}
    imported = {moodle_import(name, participants) for name in names}
    assert len(names) == len(MOODLE_IDS) == len(imported)
    for name in names:
        student, plugin, filename = moodle_import(name, participants)
        assert plugin == "assignfeedback_file" and filename == "/" + done.pages[student]
        assert f"Homework 4 report: {student}" in pages[name].replace("&#39;", "'")  # the right student's page
    assert "Jo Ann Smith_123460_assignfeedback_file_/" + done.pages["Jo_Ann Smith_123460"] in names
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = {row["Identifier"]: row for row in csv.DictReader(handle)}
    assert list(rows["Participant 123456"]) == ["Identifier", "Full name", "Grade", "Status", "Feedback comments"]
    assert rows["Participant 123456"]["Feedback comments"] == "q1a: " + COMMENT
    assert rows["Participant 123462"]["Grade"] == "0" and rows["Participant 123462"]["Status"] == "final"
    assert all(row["Status"] == "final" for row in rows.values())


@pytest.mark.slow
def test_a_comment_that_looks_like_a_formula_stays_text_in_the_worksheet(batch):
    out, ids = batch
    store = _mark_everything(out, [sid for sid in ids if not sid.startswith("Late")])
    store.update_student(PLAIN, 0, comment="=HYPERLINK(\"http://x\")")
    from graders.marking.updater import current_rewriter
    current_rewriter(out).rewrite()
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = {row["Identifier"]: row for row in csv.DictReader(handle)}
    assert rows[PLAIN]["Feedback comments"] == "'=HYPERLINK(\"http://x\")"


@pytest.mark.slow
def test_a_published_copy_stands_alone_and_holds_no_model_answer(batch):
    out, ids = batch
    store = _mark_everything(out, [sid for sid in ids if not sid.startswith("Late")])
    student = "Ann Bo_123456"
    store.update_student(student, 0, pages={"q2a": [1], "q3d": [2]})
    done = publish.publish(out)
    page = (out / "published" / done.pages[student]).read_text()
    links = re.findall(r'(?:href|src)="([^"]*)"', page)
    assert links and all(link.startswith(("data:", "#")) for link in links), links
    assert 'alt="q2a: PDF page 1" src="data:image/jpeg;base64,' in page
    assert 'alt="q3d: PDF page 2" src="data:image/jpeg;base64,' in page
    assert page.count("No answer found.") == len(WRITTEN_ITEMS) - 4 - 2  # 4 notebook answers, 2 mapped to PDF
    assert "Final copy, published" in page and "Provisional" not in page
    for item, answer in answers.model_answers().items():
        for line in (line.strip() for line in answer.splitlines()):
            if len(line) > 40:
                assert line not in page, (item, line)
    guide = [e for e in rubrics.seed_entries("q2b") if e.ta_only]
    drawn = [str(render.inline_html(e.text)) for e in guide]         # entries are drawn as markdown with math
    assert guide and not any(e.text in page or text in page for e, text in zip(guide, drawn))
    assert "part 2 of the marking guide (not awarded)" in page.replace("\n      ", " ")
    updater.rewrite_reports(out)
    ta_copy = (out / "ta" / done.pages[student]).read_text()
    assert drawn[0] in ta_copy  # TAs still read the guide's steps


@pytest.mark.slow
def test_copies_change_only_when_published_again(batch):
    out, ids = batch
    store = _mark_everything(out, [sid for sid in ids if not sid.startswith("Late")])
    done = publish.publish(out)
    student = "Eve Tan_123459"
    sent = (out / "published" / done.pages[student]).read_bytes()
    store.update("q3c", student, store.get("q3c", student).version, manual=0)
    updater.rewrite_reports(out)
    assert (out / "published" / done.pages[student]).read_bytes() == sent        # what the student has
    assert "mark set by the TA: 0" in (out / "students" / done.pages[student]).read_text()  # live copy moved on
    again = publish.publish(out)
    assert "mark set by the TA: 0" in (out / "published" / again.pages[student]).read_text()
    manifest = json.loads((out / "published" / "published.json").read_text())
    assert manifest["at"] == again.at and manifest["grades"][student] == again.grades[student]


@pytest.mark.slow
def test_an_extension_moves_the_late_rule_for_that_student_alone(batch, tmp_path):
    out, ids = batch
    extensions = tmp_path / "extensions.csv"
    extensions.write_text("id,deadline,reason\n123462,2022-12-10T12:00,medical\n")
    assert read_extensions(extensions, _students(out)) == {"Late Larry_123462": datetime(2022, 12, 10, 12, 0)}
    _mark_everything(out, ids, skip={("Late Larry_123462", "q1a")})
    with pytest.raises(publish.NotReady) as refused:   # on time now, so its unmarked item counts
        publish.publish(out, read_extensions(extensions, _students(out)))
    assert [m.student for m in refused.value.missing] == ["Late Larry_123462"]
    store = MarkStore(out, seed=rubrics.seed_entries)
    store.update("q1a", "Late Larry_123462", 0, toggle="e1")
    done = publish.publish(out)   # the extension is kept in report_settings.json
    assert done.grades["Late Larry_123462"] > 0
    page = (out / "published" / done.pages["Late Larry_123462"]).read_text()
    assert "Deadline extended for this submission to 2022-12-10 12:00." in page


@pytest.mark.slow
@pytest.mark.parametrize("text, problem", [
    ("who,when\nAnn Bo_123456,2022-12-10T12:00\n", "expected a header row with the columns id and deadline"),
    ("id,deadline\nNobody,2022-12-10T12:00\n", "line 2: id 'Nobody' matches no submission"),
    ("id,deadline\nann bo,next friday\n", "line 2: deadline 'next friday' is not a date and time"),
])
@pytest.mark.slow
def test_a_bad_extensions_file_is_one_line_naming_file_and_row(batch, tmp_path, text, problem):
    out, ids = batch
    path = tmp_path / "ext.csv"
    path.write_text(text)
    with pytest.raises(ExtensionsError, match=re.escape(problem)):
        read_extensions(path, _students(out))


@pytest.mark.slow
def test_the_command_line_names_the_extensions_file_in_one_line(batch, tmp_path):
    out, _ = batch
    path = tmp_path / "ext.csv"
    path.write_text("id,deadline\nNobody,2022-12-10T12:00\n")
    result = run_grade("publish", out, "--extensions", path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert f"{path}, line 2: id 'Nobody' matches no submission" in result.stderr


def test_feedback_comments_cell_is_plain_text_in_item_order():
    feedback = {"q2b": {"comment": "step 3 missing"}, "q1a": {"comment": "  fine "}, "q1b": {"comment": ""}}
    assert report.feedback_comments(feedback, "Well done overall.") == "q1a: fine\nq2b: step 3 missing\nWell done overall."


@pytest.mark.slow
def test_the_zip_is_replaced_whole(batch):
    out, ids = batch
    _mark_everything(out, [sid for sid in ids if not sid.startswith("Late")])
    publish.publish(out)
    first = zipfile.ZipFile(io.BytesIO((out / "moodle_feedback.zip").read_bytes())).namelist()
    publish.publish(out)
    assert zipfile.ZipFile(out / "moodle_feedback.zip").namelist() == first
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging folder or temporary file left


@pytest.mark.slow
def test_a_regrade_while_marking_keeps_every_student_in_grades_and_index(batch):
    """A student graded into the folder while the app runs is in grades.csv, written_marks.csv and
    index.html after the next mark change (the roster is read again, never written from an old one)."""
    from graders.marking.updater import Updater
    from graders.results import SubmissionResult
    out, ids = batch
    store = MarkStore(out, seed=rubrics.seed_entries)
    updater = Updater(out, store, ids)
    lines = (out / "results.jsonl").read_text().splitlines()
    newcomer = json.loads(lines[0])
    newcomer["result"]["id"] = "Zed Newcomer_123499"
    newcomer["result"]["info"].update(moodle_participant="123499", moodle_name="Zed Newcomer")  # as discovery found it
    newcomer["fingerprint"] = "regraded"
    (out / "results.jsonl").write_text("\n".join(lines + [json.dumps(newcomer)]) + "\n")
    assert SubmissionResult.from_full_json(newcomer["result"]).id == "Zed Newcomer_123499"
    store.update("q1a", ids[0], 0, toggle="e1")
    assert updater.flush(60) and updater.status()["error"] == ""
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = {row["Identifier"] for row in csv.DictReader(handle)}
    assert "Participant 123499" in rows and len(rows) == len(ids) + 1
    assert "Zed Newcomer_123499" in (out / "index.html").read_text().replace("&#39;", "'")
    assert "Zed Newcomer_123499" in (out / "written_marks.csv").read_text()
