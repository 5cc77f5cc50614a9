"""Every submission layout of contract section 1, and ids taken from names."""
import json
import os
import re
import stat
import struct
from datetime import datetime
import zipfile
from pathlib import Path

import pytest

from graders.intake.discover import SubmittedFile, SubmissionError, discover, submission_id

NB = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def test_batch_mixing_every_layout(tmp_path):
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / "alice.ipynb").write_text(NB)
    (batch / "bob.py").write_text("x = 1\n")
    (batch / "carol").mkdir()
    (batch / "carol" / "A4.ipynb").write_text(NB)
    moodle = batch / "Dana Li_4411_assignsubmission_file_"
    (moodle / "hw4" / ".ipynb_checkpoints").mkdir(parents=True)
    (moodle / "hw4" / "A4.ipynb").write_text(NB)
    (moodle / "hw4" / ".ipynb_checkpoints" / "A4-checkpoint.ipynb").write_text(NB)
    (moodle / "notes.pdf").write_bytes(b"%PDF")
    with zipfile.ZipFile(batch / "erin.zip", "w") as archive:
        archive.writestr("erin/A4.ipynb", NB)
        archive.writestr("__MACOSX/erin/._A4.ipynb", "junk")
    (batch / "readme.txt").write_text("ignored")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    subs = discover(batch, scratch)
    by_id = {s.id: s for s in subs}
    assert sorted(by_id) == ["Dana Li_4411", "alice", "bob", "carol", "erin"]
    assert by_id["Dana Li_4411"].source.name == "A4.ipynb" and ".ipynb_checkpoints" not in str(
        by_id["Dana Li_4411"].source)
    assert by_id["erin"].source.name == "A4.ipynb" and by_id["erin"].source.exists()


def test_single_file_and_folder(tmp_path):
    (tmp_path / "frank").mkdir()
    (tmp_path / "frank" / "A4.ipynb").write_text(NB)
    assert [s.id for s in discover(tmp_path / "frank", tmp_path)] == ["frank"]
    assert [s.id for s in discover(tmp_path / "frank" / "A4.ipynb", tmp_path)] == ["frank"]


def test_folder_without_source_is_a_verdict_not_a_crash(tmp_path):
    batch = tmp_path / "b"
    (batch / "gina").mkdir(parents=True)
    (batch / "gina" / "answers.pdf").write_bytes(b"%PDF")
    (batch / "hal.ipynb").write_text(NB)
    subs = {s.id: s for s in discover(batch, tmp_path)}
    assert subs["gina"].source is None and "no .ipynb or .py" in subs["gina"].problem


def test_zip_escaping_its_folder_is_refused(tmp_path):
    batch = tmp_path / "b"
    batch.mkdir()
    with zipfile.ZipFile(batch / "ivan.zip", "w") as archive:
        archive.writestr("../../evil.py", "x = 1")
    (batch / "other.py").write_text("x = 1")
    subs = {s.id: s for s in discover(batch, tmp_path)}
    assert subs["ivan"].source is None and "outside" in subs["ivan"].problem
    assert not (tmp_path / "evil.py").exists()


def test_bad_paths_are_clear_errors(tmp_path):
    with pytest.raises(SubmissionError, match="no such file"):
        discover(tmp_path / "missing", tmp_path)
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(SubmissionError, match="not a submission"):
        discover(tmp_path / "x.txt", tmp_path)


def test_moodle_names():
    from pathlib import Path
    assert submission_id(Path("Ann Bo_123_assignsubmission_file_")) == "Ann Bo_123"
    assert submission_id(Path("x/jo_smith/A4.ipynb")) == "jo_smith"


def test_the_moodle_identity_is_a_fact_of_discovery_not_parsed_back_out_of_the_id(tmp_path):
    """The gradebook, the feedback zip and the extensions read ``SubmissionInfo.moodle``; before, each
    re-appended Moodle's folder suffix to the id and matched it again (and an id made unique with ``~2``
    lost its participant number)."""
    from graders.intake.discover import moodle_identity
    from graders.results import MoodleIdentity, SubmissionInfo
    batch = tmp_path / "batch"
    for folder in ("Ann Bo_123456_assignsubmission_file_", "Ann Bo_123456_assignsubmission_onlinetext_"):
        (batch / folder).mkdir(parents=True)
        (batch / folder / "A4.ipynb").write_text(NB)
    (batch / "plain.ipynb").write_text(NB)
    (batch / "jo").mkdir()
    (batch / "jo" / "submission.ipynb").write_text(NB)
    subs = {s.id: s for s in discover(batch, tmp_path / "scratch")}
    ann = MoodleIdentity("123456", "Ann Bo")
    assert {k: v.moodle for k, v in subs.items()} == {"Ann Bo_123456": ann, "Ann Bo_123456~2": ann,
                                                       "jo": None, "plain": None}
    assert moodle_identity(batch / "Ann Bo_123456_assignsubmission_file_" / "submission.ipynb") == ann
    info = SubmissionInfo()
    info.set_moodle(ann)
    assert SubmissionInfo.from_json(info.to_json()).moodle == ann and SubmissionInfo().moodle is None


# ---------------------------------------------------------------- real course downloads (issue 8, part 1)


STUB = '    """docstring"""\n    raise NotImplementedError("TODO: complete this function")\n'


def notebook(*functions, body="    return 1\n", extra=""):
    """A v4 notebook defining ``functions`` (implemented with ``body``), plus a cell ``extra``."""
    cells = [{"cell_type": "markdown", "source": "# A4", "metadata": {}}]
    for name in functions:
        cells.append({"cell_type": "code", "source": f"def {name}(*args):\n{body}", "metadata": {},
                      "outputs": [], "execution_count": None})
    if extra:
        cells.append({"cell_type": "code", "source": extra, "metadata": {}, "outputs": [], "execution_count": None})
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


DONE = notebook("reconstruct", "kl_divergence", "elbo")
TEMPLATE = notebook("reconstruct", "kl_divergence", "elbo", body=STUB)
EXPORT = "#!/usr/bin/env python\n# In[1]:\n\n\n" + "".join(
    f"def {n}(*args):\n    return 1\n\n\n# In[ ]:\n\n\n" for n in ("reconstruct", "kl_divergence", "elbo"))
NOV_1, NOV_20, DEC_30 = (datetime(2026, 11, 1, 12).timestamp(), datetime(2026, 11, 20, 12).timestamp(),
                         datetime(2026, 12, 30, 12).timestamp())


def stamp(path, when):
    os.utime(path, (when, when))
    return path


def only(tmp_path, folder):
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    subs = discover(folder, scratch)
    assert len(subs) == 1
    return subs[0]


def roles(sub):
    return {f.path: (f.role, f.reason) for f in sub.files}


def test_moodle_folder_with_pdf_and_zip_grades_the_notebook_inside(tmp_path):
    folder = tmp_path / "Ann Bo_123456_assignsubmission_file_"
    folder.mkdir()
    (folder / "answers.pdf").write_bytes(b"%PDF-1.4")
    with zipfile.ZipFile(folder / "A4.zip", "w") as archive:
        archive.writestr(zipfile.ZipInfo("A4/A4.ipynb", date_time=(2020, 1, 1, 0, 0, 0)), DONE)
        archive.writestr("__MACOSX/A4/._A4.ipynb", "junk")
        archive.writestr("A4/.ipynb_checkpoints/A4-checkpoint.ipynb", TEMPLATE)
    stamp(folder / "answers.pdf", NOV_1)
    stamp(folder / "A4.zip", NOV_20)
    sub = only(tmp_path, folder)
    assert sub.id == "Ann Bo_123456" and sub.problem == ""
    assert sub.source.name == "A4.ipynb" and json.loads(sub.source.read_text()) == json.loads(DONE)
    assert sub.pdf == folder / "answers.pdf"
    assert sub.graded_name == "A4.zip/A4/A4.ipynb"
    assert roles(sub) == {
        "A4.zip/A4/A4.ipynb": ("graded", ""),
        "A4.zip/A4/.ipynb_checkpoints/A4-checkpoint.ipynb": ("ignored", "Jupyter checkpoint (an autosaved copy)"),
        "answers.pdf": ("pdf", "written answers"),
        "A4.zip/__MACOSX/": ("ignored", "macOS metadata"),
    }
    assert all(isinstance(f, SubmittedFile) for f in sub.files) and sub.files[0].role == "graded"
    assert sub.files_json()[0] == {"path": "A4.zip/A4/A4.ipynb", "role": "graded", "reason": ""}
    # the zip's own time, the latest stored file in use; never the 2020 date inside the archive
    assert sub.stored_at == NOV_20 and sub.submitted_at == "2026-11-20T12:00:00"
    assert sub.flags == []


def test_late_zip_stays_late_whatever_its_members_say(tmp_path):
    batch = tmp_path / "batch"
    batch.mkdir()
    with zipfile.ZipFile(batch / "late.zip", "w") as archive:
        archive.writestr(zipfile.ZipInfo("A4.ipynb", date_time=(2020, 1, 1, 0, 0, 0)), DONE)
    stamp(batch / "late.zip", DEC_30)
    (batch / "ontime.ipynb").write_text(DONE)
    stamp(batch / "ontime.ipynb", NOV_1)
    subs = {s.id: s for s in discover(batch, tmp_path)}
    assert subs["late"].submitted_at == "2026-12-30T12:00:00"
    assert subs["ontime"].submitted_at == "2026-11-01T12:00:00"
    assert subs["late"].source.stat().st_mtime > datetime(2025, 1, 1).timestamp()  # member date not copied


def test_the_filled_in_notebook_over_untitled_template_and_export(tmp_path):
    folder = tmp_path / "carl"
    folder.mkdir()
    stamp(write(folder / "A4.ipynb", DONE), NOV_1)
    stamp(write(folder / "Untitled.ipynb", notebook()), NOV_20)           # newer, but empty
    stamp(write(folder / "Untitled1.ipynb", TEMPLATE), NOV_20)            # newer, only the stubs
    stamp(write(folder / "A4.py", EXPORT), NOV_20)                        # the .py export
    write(folder / "A4.html", "<html></html>")
    write(folder / "._A4.ipynb", "apple double")
    sub = only(tmp_path, folder)
    assert sub.source == folder / "A4.ipynb" and sub.flags == []
    assert roles(sub) == {
        "A4.ipynb": ("graded", ""),
        "A4.py": ("ignored", ".py export of the graded notebook"),
        "Untitled.ipynb": ("ignored", "defines none of the homework's functions"),
        "Untitled1.ipynb": ("ignored", "the homework's functions are not filled in (template)"),
        "A4.html": ("html", "HTML export (kept, not graded)"),
        "._A4.ipynb": ("ignored", "macOS metadata (AppleDouble)"),
    }


def test_py_file_wins_when_the_notebook_is_only_the_template(tmp_path):
    folder = tmp_path / "dee"
    folder.mkdir()
    write(folder / "A4.ipynb", TEMPLATE)
    write(folder / "solution.py", EXPORT)
    assert only(tmp_path, folder).source == folder / "solution.py"


def test_duplicates_with_the_same_code_grade_the_plain_name(tmp_path):
    folder = tmp_path / "fay"
    folder.mkdir()
    stamp(write(folder / "A4 (1).ipynb", DONE), NOV_20)
    stamp(write(folder / "A4.ipynb", DONE.replace("# A4", "# A4, other markdown")), NOV_1)
    sub = only(tmp_path, folder)
    assert sub.source == folder / "A4.ipynb" and sub.flags == []
    assert roles(sub)["A4 (1).ipynb"] == ("ignored", "same code as the graded file")


def test_two_different_notebooks_grade_the_newest_and_flag_it(tmp_path):
    folder = tmp_path / "gus"
    folder.mkdir()
    stamp(write(folder / "A4.ipynb", DONE), NOV_1)
    stamp(write(folder / "A4 (1).ipynb", notebook("reconstruct", "elbo", body="    return 2\n")), NOV_20)
    sub = only(tmp_path, folder)
    assert sub.source == folder / "A4 (1).ipynb"
    assert sub.flags == ["several notebooks: graded A4 (1).ipynb, also A4.ipynb"]
    assert roles(sub)["A4.ipynb"] == ("ignored", "different code from the graded file (flagged for the TA)")


def test_checkpoint_is_graded_only_when_nothing_else_is_there(tmp_path):
    folder = tmp_path / "hana"
    (folder / ".ipynb_checkpoints").mkdir(parents=True)
    write(folder / ".ipynb_checkpoints" / "A4-checkpoint.ipynb", DONE)
    sub = only(tmp_path, folder)
    assert sub.source.name == "A4-checkpoint.ipynb" and sub.problem == ""


def test_zip_nested_once_is_opened_twice_is_not(tmp_path):
    inner2 = zip_bytes({"deep.ipynb": DONE})
    inner = zip_bytes({"code/A4.ipynb": DONE, "more.zip": inner2})
    folder = tmp_path / "ida"
    folder.mkdir()
    (folder / "outer.zip").write_bytes(zip_bytes({"inner.zip": inner}))
    sub = only(tmp_path, folder)
    assert sub.graded_name == "outer.zip/inner.zip/code/A4.ipynb"
    assert roles(sub)["outer.zip/inner.zip/more.zip"] == ("ignored", "a zip nested more than once (not opened)")


def write(path, text):
    path.write_text(text)
    return path


def zip_bytes(members, compression=zipfile.ZIP_DEFLATED):
    import io
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# ---------------------------------------------------------------- hostile inputs (issue 9, part 1)


def patch_zip(data, method=None, flags=None, name=None, new_name=None):
    """Rewrite the compression method / flag bits / a name in every local and central header of ``data``."""
    data = bytearray(data)
    for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        at = data.find(signature)
        while at >= 0:
            if flags is not None:
                struct.pack_into("<H", data, at + flag_at, struct.unpack_from("<H", data, at + flag_at)[0] | flags)
            if method is not None:
                struct.pack_into("<H", data, at + method_at, method)
            at = data.find(signature, at + 4)
    if name is not None:
        data = bytearray(bytes(data).replace(name, new_name))
    return bytes(data)


def hostile_batch(tmp_path):
    """A batch with one hostile zip per student, beside a clean control."""
    batch = tmp_path / "batch"
    batch.mkdir()
    plain = zip_bytes({"A4.ipynb": DONE})
    bomb_info = zipfile.ZipInfo("A4.ipynb")
    bomb_info.compress_type = zipfile.ZIP_DEFLATED
    link = zipfile.ZipInfo("A4.py")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    cases = {
        "encrypted": patch_zip(plain, flags=0x1),
        "aes": patch_zip(plain, method=99),
        "badname": patch_zip(zip_bytes({"AAAA.ipynb": DONE}), flags=0x800, name=b"AAAA", new_name=b"\xff\xfe\xc0\xaf"),
        "notazip": b"this is not a zip at all",
        "truncated": plain[: len(plain) // 2],
        "bomb": zip_bytes({bomb_info: b"\0" * (8 * 2**20)}),
        "many": zip_bytes({f"f{i}.txt": "" for i in range(2001)}),
        "escape": zip_bytes({"../../evil.py": "x = 1"}),
        "symlink": zip_bytes({link: "/etc/passwd"}),
        "badcrc": patch_zip(zip_bytes({"A4.ipynb": DONE}, zipfile.ZIP_STORED), name=b'"cells"', new_name=b'"cellz"'),
        "method": patch_zip(plain, method=9),
    }
    for name, data in cases.items():
        (batch / f"{name}.zip").write_bytes(data)
    (batch / "control.ipynb").write_text(DONE)
    return batch


EXPECTED_PROBLEMS = {
    "encrypted": "encrypted.zip: the zip is password-protected",
    "aes": "aes.zip: the zip is AES-encrypted",
    "badname": "badname.zip: not a readable zip (a member name is not valid UTF-8)",
    "notazip": "notazip.zip: not a readable zip",
    "truncated": "truncated.zip: not a readable zip",
    "bomb": "bomb.zip: looks like a zip bomb (A4.ipynb expands",
    "many": "many.zip: too many entries (more than 2000",
    "escape": "escape.zip: zip entry '../../evil.py' points outside the archive",
    "symlink": "no .ipynb or .py file in symlink.zip",
    "badcrc": "badcrc.zip: not a readable zip (BadZipFile: Bad CRC-32",
    "method": "method.zip: uses a compression method Python cannot read (9)",
}


def test_hostile_zips_are_verdicts_naming_the_file(tmp_path):
    subs = {s.id: s for s in discover(hostile_batch(tmp_path), tmp_path)}
    assert subs["control"].source is not None and subs["control"].problem == ""
    for sub_id, expected in EXPECTED_PROBLEMS.items():
        assert subs[sub_id].source is None, sub_id
        assert subs[sub_id].problem.startswith(expected), (sub_id, subs[sub_id].problem)
        assert "\n" not in subs[sub_id].problem
    assert roles(subs["symlink"])["symlink.zip/A4.py"] == ("ignored", "symbolic link (not followed)")
    assert not (tmp_path / "evil.py").exists()


def test_zip_size_limit_counts_across_nested_zips(tmp_path, monkeypatch):
    from graders.intake import discover as module
    monkeypatch.setitem(module.ZIP_LIMITS, "bytes", 3000)
    folder = tmp_path / "kim"
    folder.mkdir()
    noise = os.urandom(2000)
    (folder / "a.zip").write_bytes(zip_bytes({"x.pdf": noise, "in.zip": zip_bytes({"y.pdf": noise})}))
    sub = only(tmp_path, folder)
    assert "unpacks to" in roles(sub)["a.zip"][1] or "unpacks to" in roles(sub)["a.zip/in.zip"][1]


def test_long_deep_and_strange_member_names(tmp_path):
    folder = tmp_path / "lee"
    folder.mkdir()
    long_name = "n" * 300 + ".ipynb"
    deep = "/".join(["d"] * 40) + "/A4.py"
    (folder / "code.zip").write_bytes(zip_bytes({long_name: DONE, deep: EXPORT, "ctl\x1b[2J.txt": "x"}))
    sub = only(tmp_path, folder)
    assert sub.source is not None and sub.source.exists() and len(sub.source.name) <= 110
    assert sub.graded_name.endswith(".ipynb") and len(sub.graded_name) <= 200
    shown = roles(sub)
    assert any(p.endswith("/A4.py") and r == ("ignored", "more than 16 folders deep (not unpacked)")
               for p, r in shown.items())
    assert shown["code.zip/ctl\\x1b[2J.txt"] == ("ignored", "not code, a PDF or an HTML export")


def test_fifos_symlinks_and_deep_trees_in_folders(tmp_path):
    batch = tmp_path / "batch"
    (batch / "mo").mkdir(parents=True)
    os.mkfifo(batch / "mo" / "A4.ipynb")
    os.symlink("/etc/passwd", batch / "mo" / "A4.py")
    (batch / "ned").mkdir()
    write(batch / "ned" / "A4.ipynb", DONE)
    deep = batch / "ned"
    for _ in range(300):
        deep = deep / "d"
    os.makedirs(deep)
    os.mkfifo(batch / "pipe.ipynb")
    os.symlink(batch / "ned" / "A4.ipynb", batch / "linked.ipynb")
    subs = {s.id: s for s in discover(batch, tmp_path)}
    assert subs["mo"].source is None and subs["mo"].problem == "no .ipynb or .py file in mo"
    assert roles(subs["mo"]) == {"A4.ipynb": ("ignored", "not a regular file"),
                                 "A4.py": ("ignored", "symbolic link (not followed)")}
    assert subs["ned"].source == batch / "ned" / "A4.ipynb"
    assert any("folders deep" in r for _, r in roles(subs["ned"]).values())
    assert subs["pipe"].problem == "pipe.ipynb: not a regular file or folder"
    assert subs["linked"].problem.startswith("linked.ipynb: a symbolic link")


def test_unreadable_candidate_loses_to_a_readable_one(tmp_path):
    folder = tmp_path / "oz"
    folder.mkdir()
    stamp(write(folder / "A4.ipynb", "[" * 100_000), NOV_20)
    stamp(write(folder / "A4_old.ipynb", DONE), NOV_1)
    sub = only(tmp_path, folder)
    assert sub.source == folder / "A4_old.ipynb"
    assert roles(sub)["A4.ipynb"][1].startswith("unreadable: not a usable Jupyter notebook (JSON nested")


def test_only_an_unreadable_notebook_is_still_graded_so_its_reason_is_reported(tmp_path):
    folder = tmp_path / "pat"
    folder.mkdir()
    write(folder / "A4.ipynb", "[1, 2]")
    sub = only(tmp_path, folder)
    assert sub.source == folder / "A4.ipynb" and sub.problem == "" and sub.notes == []   # read once, when grading
    stamp(write(folder / "A4 (1).ipynb", "{broken"), NOV_1)
    sub = only(tmp_path, folder)
    assert sub.source == folder / "A4.ipynb" and sub.notes == ["no readable code file; graded A4.ipynb"]
    assert roles(sub)["A4 (1).ipynb"] == ("ignored", "unreadable: not a valid Jupyter notebook "
                                                     "(Expecting property name enclosed in double quotes: line 1 "
                                                     "column 2 (char 1))")


def test_ids_from_folder_names_are_clean(tmp_path):
    batch = tmp_path / "batch"
    batch.mkdir()
    for name in [" padded ", "esc\x1b[31mape", "Ann\nBo_77_assignsubmission_file_"]:
        (batch / name).mkdir()
        write(batch / name / "A4.ipynb", DONE)
    os.mkdir(os.fsencode(batch) + b"/bad\xffname")
    write(batch / "bad\udcffname" / "A4.ipynb", DONE)
    subs = discover(batch, tmp_path)
    assert sorted(s.id for s in subs) == ["Ann Bo_77", "bad\ufffdname", "esc ape", "padded"]
    assert all(s.source is not None and s.source.exists() for s in subs)


def test_a_bug_while_looking_costs_one_submission_only(tmp_path, monkeypatch):
    from graders.intake import discover as module
    batch = tmp_path / "batch"
    for name in ("qa", "rb"):
        (batch / name).mkdir(parents=True)
        write(batch / name / "A4.ipynb", DONE)
    real_walk = module._Scan.walk

    def walk(self, folder, prefix, depth, checkpoint=False):
        if Path(folder).name == "qa":
            raise RecursionError("maximum recursion depth exceeded")
        return real_walk(self, folder, prefix, depth, checkpoint)
    monkeypatch.setattr(module._Scan, "walk", walk)
    subs = {s.id: s for s in discover(batch, tmp_path)}
    assert subs["qa"].problem == "qa: could not be looked at (RecursionError: maximum recursion depth exceeded)"
    assert subs["rb"].source is not None


def test_only_html_export_says_so(tmp_path):
    folder = tmp_path / "sam"
    folder.mkdir()
    write(folder / "A4.html", "<html></html>")
    (folder / "answers.pdf").write_bytes(b"%PDF")
    sub = only(tmp_path, folder)
    assert sub.problem == "no .ipynb or .py file in sam (only the HTML export A4.html; hand in the .ipynb)"
    assert sub.pdf == folder / "answers.pdf"


@pytest.mark.slow
def test_moodle_pdf_and_zip_grades_like_the_bare_notebook(tmp_path, root):
    """End to end: HW4's own hand-in form (answers.pdf + A4.zip in a Moodle folder) beside the bare notebook."""
    from conftest import run_grade
    reference = (root / "submissions" / "reference" / "A4.ipynb").read_bytes()
    batch = tmp_path / "batch"
    moodle = batch / "Ann Bo_123456_assignsubmission_file_"
    moodle.mkdir(parents=True)
    (moodle / "answers.pdf").write_bytes(b"%PDF-1.4\n")
    (moodle / "A4.zip").write_bytes(zip_bytes({"A4/A4.ipynb": reference, "__MACOSX/A4/._A4.ipynb": b"x"}))
    (batch / "bare.ipynb").write_bytes(reference)
    done = run_grade("grade", batch, "--out", tmp_path / "out", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    subs = {s["id"]: s for s in json.loads(done.stdout)["submissions"]}
    assert set(subs) == {"Ann Bo_123456", "bare"}
    marks = {sub_id: {k: v["awarded"] for k, v in s["items"].items()} for sub_id, s in subs.items()}
    assert marks["Ann Bo_123456"] == marks["bare"] and len(marks["bare"]) == 8
    page = next((tmp_path / "out" / "students").glob("Ann_Bo_123456*.html")).read_text()
    assert "A4.zip/A4/A4.ipynb (graded)" in page and "answers.pdf (pdf" in page
    link = re.search(r'href="\.\./(marking/pdfs/[^"]+\.pdf)"', page).group(1)
    assert (tmp_path / "out" / link).read_bytes() == b"%PDF-1.4\n"
    files = json.loads((tmp_path / "out" / "results.json").read_text())["submissions"][0]["details"]["info"]["files"]
    assert [f["role"] for f in files][:1] == ["graded"] and any(f["role"] == "pdf" for f in files)


def test_tool_folders_in_zips_and_unreadable_folders_are_listed_once(tmp_path, monkeypatch):
    folder = tmp_path / "tia"
    (folder / "data").mkdir(parents=True)
    members = {"A4/A4.ipynb": DONE, **{f"A4/.git/objects/{i:02x}": "blob" for i in range(50)},
               "A4/__pycache__/x.cpython-311.pyc": "pyc"}
    (folder / "A4.zip").write_bytes(zip_bytes(members))
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "data":
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)
    monkeypatch.setattr(os, "scandir", scandir)
    sub = only(tmp_path, folder)
    assert sub.graded_name == "A4.zip/A4/A4.ipynb"
    assert roles(sub) == {"A4.zip/A4/A4.ipynb": ("graded", ""),
                          "A4.zip/A4/.git/": ("ignored", "hidden or tool folder"),
                          "A4.zip/A4/__pycache__/": ("ignored", "hidden or tool folder"),
                          "data/": ("ignored", "cannot read the folder (Permission denied)")}


def test_batch_or_one_student(tmp_path):
    """A student's own folder with sub-folders is one submission; a folder of Moodle folders is a batch."""
    own = tmp_path / "uma"
    (own / "figures").mkdir(parents=True)
    write(own / "A4.ipynb", DONE)
    (own / "answers.pdf").write_bytes(b"%PDF")
    assert [s.id for s in discover(own, tmp_path)] == ["uma"]
    batch = tmp_path / "batch"
    for name in ("Vi Ng_1_assignsubmission_file_", "Wu Li_2_assignsubmission_file_"):
        (batch / name).mkdir(parents=True)
        write(batch / name / "A4.ipynb", DONE)
    (batch / "HW4.pdf").write_bytes(b"%PDF")     # the handout, left beside the downloads
    assert [s.id for s in discover(batch, tmp_path)] == ["Vi Ng_1", "Wu Li_2"]


def test_many_code_files_are_compared_up_to_a_cap(tmp_path):
    folder = tmp_path / "val"
    folder.mkdir()
    for i in range(30):
        write(folder / f"A4 ({i}).ipynb", TEMPLATE)
    write(folder / "A4.ipynb", DONE)
    sub = only(tmp_path, folder)
    assert sub.source == folder / "A4.ipynb"
    reasons = [f.reason for f in sub.files if f.role == "ignored"]
    assert reasons.count("not looked at (more than 20 code files)") == 11
    assert reasons.count("the homework's functions are not filled in (template)") == 19


def test_a_batch_of_files_named_after_students_stays_a_batch(tmp_path):
    batch = tmp_path / "batch"
    batch.mkdir()
    for name in ("A4_alice.ipynb", "a4-bob.ipynb", "carol.py"):
        write(batch / name, DONE)
    assert [s.id for s in discover(batch, tmp_path)] == ["A4_alice", "a4-bob", "carol"]


def test_moodle_download_all_zip_is_a_clear_error(tmp_path):
    bundle = tmp_path / "A4-submissions.zip"
    bundle.write_bytes(zip_bytes({"Vi Ng_1_assignsubmission_file_/A4.ipynb": DONE,
                                  "Wu Li_2_assignsubmission_file_/A4.ipynb": DONE}))
    with pytest.raises(SubmissionError, match="download-all zip; unzip it"):
        discover(bundle, tmp_path)
    one = tmp_path / "one.zip"   # one student's Moodle folder, zipped: fine
    one.write_bytes(zip_bytes({"Vi Ng_1_assignsubmission_file_/A4.ipynb": DONE}))
    assert discover(one, tmp_path)[0].source is not None


def test_corrupted_zips_never_raise(tmp_path):
    """200 seeded byte-level corruptions of a good zip: each is a submission, graded or with a problem."""
    import random
    good = zip_bytes({"A4/A4.ipynb": DONE, "answers.pdf": b"%PDF", "inner.zip": zip_bytes({"x.py": "y = 1"})},
                     zipfile.ZIP_STORED)
    chance = random.Random(4)
    batch = tmp_path / "batch"
    batch.mkdir()
    for number in range(200):
        data = bytearray(good)
        for _ in range(chance.randint(1, 8)):
            data[chance.randrange(len(data))] = chance.randrange(256)
        (batch / f"s{number:03d}.zip").write_bytes(bytes(data))
    subs = discover(batch, tmp_path)
    assert len(subs) == 200
    for sub in subs:
        assert (sub.source is None) == bool(sub.problem), sub
        assert "\n" not in sub.problem and all(isinstance(f, SubmittedFile) for f in sub.files)


def test_submission_time_is_the_latest_stored_file_in_use(tmp_path):
    from graders.intake.discover import Submission
    folder = tmp_path / "Xi Yu_9_assignsubmission_file_"
    folder.mkdir()
    stamp(write(folder / "A4.ipynb", DONE), NOV_1)
    stamp(write(folder / "answers.pdf", "%PDF"), NOV_20)            # the PDF came later: the hand-in is that late
    stamp(write(folder / "notes.txt", "x"), DEC_30)                 # an ignored file does not count
    sub = only(tmp_path, folder)
    assert sub.stored_at == NOV_20 and sub.submitted_at == "2026-11-20T12:00:00"
    by_hand = Submission("x", folder / "A4.ipynb", folder / "A4.ipynb")     # grade.py check builds these
    assert by_hand.submitted_at == "2026-11-01T12:00:00" and by_hand.files == [] and by_hand.pdf is None


def test_ids_are_unique_without_taking_an_existing_id(tmp_path):
    """``alice/``, ``alice.ipynb`` and ``alice~2.ipynb``: the renamed entry must not become ``alice~2``,
    which is already another student's (before: two rows ``alice~2``, one result overwrote the other)."""
    batch = tmp_path / "batch"
    (batch / "alice").mkdir(parents=True)
    write(batch / "alice" / "A4.ipynb", TEMPLATE)
    write(batch / "alice.ipynb", DONE)
    write(batch / "alice~2.ipynb", notebook("reconstruct", body="    return 2\n"))
    subs = discover(batch, tmp_path)
    by_id = {s.id: s for s in subs}
    assert len(subs) == 3 and len(by_id) == 3
    assert by_id["alice"].source == batch / "alice" / "A4.ipynb"
    assert by_id["alice~2"].source == batch / "alice~2.ipynb"
    assert by_id["alice~3"].source == batch / "alice.ipynb"


def test_unique_ids_keep_first_and_skip_every_taken_id():
    from graders.intake.discover import Submission, unique_ids
    subs = [Submission(i, None, Path(i)) for i in ["a", "a", "a~2", "a~3", "a", "a~2"]]
    unique_ids(subs)
    assert [s.id for s in subs] == ["a", "a~4", "a~2", "a~3", "a~5", "a~2~2"]


def test_a_zip_lying_about_its_entry_count_is_refused_before_parsing(tmp_path, monkeypatch):
    """A zip claiming 1 entry while its central directory holds 20,001 records: refused from the real
    count (before: refused only after ``zipfile`` built every record, +280 MiB at 1.2 M records).
    ``zipfile.ZipFile`` is never constructed for it; the control zip, honest, is still graded."""
    from graders.intake import discover as module
    from tests.hostile_files import lying_count_zip
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / "liar.zip").write_bytes(lying_count_zip(20_001, stated=1, first=(b"A4.ipynb", DONE.encode())))
    (batch / "control.zip").write_bytes(lying_count_zip(1, stated=1, first=(b"A4.ipynb", DONE.encode())))
    opened, real_zipfile = [], zipfile.ZipFile

    def watched(file, *args, **kwargs):
        opened.append(Path(file).name)
        return real_zipfile(file, *args, **kwargs)
    monkeypatch.setattr(module.zipfile, "ZipFile", watched)
    subs = {s.id: s for s in discover(batch, tmp_path)}
    assert subs["liar"].source is None
    assert subs["liar"].problem == "liar.zip: too many entries (more than 2000; it claims 1)"
    assert subs["control"].source is not None and subs["control"].source.read_text() == DONE
    assert opened == ["control.zip"]


def test_entry_count_stops_past_the_limit_and_follows_prepended_bytes(tmp_path):
    from graders.intake import zipcheck
    from tests.hostile_files import lying_count_zip
    import io
    data = lying_count_zip(5000, stated=3)
    assert zipcheck.entry_count(io.BytesIO(data), 10) == 11           # stopped at limit + 1
    assert zipcheck.entry_count(io.BytesIO(data), 10_000) == 5000
    assert zipcheck.stated_count(io.BytesIO(data)) == 3
    assert zipcheck.entry_count(io.BytesIO(b"#!/bin/sh\n" + data), 10_000) == 5000   # like zipfile: concat
    with pytest.raises(zipcheck.DamagedZip, match="no end of central directory record"):
        zipcheck.entry_count(io.BytesIO(b"not a zip"), 10)


@pytest.mark.slow
def test_choosing_among_huge_notebooks_parses_a_bounded_amount(tmp_path, monkeypatch):
    """Twenty large notebooks of filler code beside the filled-in A4.ipynb (before: every cell of every
    file was parsed; twenty 4.3 MiB notebooks cost 204 s). Now at most FOLDER_PARSE_CHARS are parsed
    per submission, no cell over CELL_PARSE_CHARS, the right file is still graded and the note says so."""
    from graders.intake import discover as module
    folder = tmp_path / "zed"
    folder.mkdir()
    filler = json.loads(TEMPLATE)
    filler["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                            "source": "x = 1\n" * 50_000})                 # 300 KB: over the cell cap
    filler["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                            "source": "y = 2\n" * 30_000})                 # 180 KB: parsed while budget lasts
    for i in range(20):
        write(folder / f"A4 ({i}).ipynb", json.dumps(filler))
    write(folder / "A4.ipynb", DONE)
    parsed, real_parse = [], module.ast.parse
    monkeypatch.setattr(module.ast, "parse",
                        lambda text, *a, **k: parsed.append(len(text)) or real_parse(text, *a, **k))
    sub = only(tmp_path, folder)
    assert sub.source == folder / "A4.ipynb"
    assert sum(parsed) <= module.FOLDER_PARSE_CHARS and max(parsed) <= module.CELL_PARSE_CHARS
    assert any("code cells compared by their text only, not parsed (cells over 256 KiB, or past 1024 KiB" in n
               for n in sub.notes), sub.notes
