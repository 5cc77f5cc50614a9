"""Every submission layout of contract section 1, and ids taken from names."""
import zipfile

import pytest

from graders.discover import SubmissionError, discover, submission_id

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
