"""Find the submissions under a path: a file, a submission folder, a .zip, or a batch of them.

Batch layouts (contract section 1): ``<id>.ipynb``, ``<id>.py``, a folder
``<id>/`` holding one of those, a ``.zip`` of such a folder, and Moodle/eClass
"download all" folders ``<Full Name>_<number>_assignsubmission_file_/``.
"""
import os
import re
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

SOURCE_SUFFIXES = (".ipynb", ".py")
GENERIC_STEMS = {"a4", "a4_solution", "submission", "notebook", "main", "homework4", "hw4"}
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<number>\d+)_assign(?:submission|feedback)_\w+?_?$")
IGNORED = {"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git"}
ZIP_LIMITS = {"files": 2000, "bytes": 200 * 2**20}


class SubmissionError(ValueError):
    """A path that holds no gradable submission; the message is one line for the user."""


@dataclass
class Submission:
    id: str
    source: Path | None          # the notebook or .py to grade; None when none was found
    origin: Path                 # what the user handed in (file, folder or zip)
    notes: list = field(default_factory=list)
    problem: str = ""            # why nothing can be graded, when source is None

    @property
    def submitted_at(self):
        """The source file's modification time (Moodle's download keeps submission times), ISO text."""
        if self.source is None or not self.source.exists():
            return ""
        return datetime.fromtimestamp(self.source.stat().st_mtime).isoformat(timespec="seconds")


def submission_id(path):
    """The student id a file or folder name stands for."""
    name = path.name[: -len(path.suffix)] if path.suffix in SOURCE_SUFFIXES + (".zip",) else path.name
    moodle = MOODLE.match(name)
    if moodle:
        return f"{moodle['name']}_{moodle['number']}"
    if name.lower() in GENERIC_STEMS and path.parent.name:
        return submission_id(path.parent)
    return name


def _candidates(folder):
    found = []
    for path in sorted(folder.rglob("*")):
        parts = set(path.relative_to(folder).parts)
        if path.is_file() and path.suffix in SOURCE_SUFFIXES and not parts & IGNORED and len(parts) <= 4:
            found.append(path)
    return found


def _pick(candidates):
    """The file to grade among several: notebooks first, then names with 'a4', then the shallowest."""
    return min(candidates, key=lambda p: (p.suffix != ".ipynb", "a4" not in p.name.lower(), len(p.parts), p.name))


def _from_folder(folder, origin, sub_id):
    candidates = _candidates(folder)
    if not candidates:
        return Submission(sub_id, None, origin, problem=f"no .ipynb or .py file in {origin.name}")
    chosen = _pick(candidates)
    notes = []
    if len(candidates) > 1:
        notes.append(f"{len(candidates)} candidate files; graded {chosen.relative_to(folder)}")
    return Submission(sub_id, chosen, origin, notes)


def extract_zip(path, into):
    """Unpack ``path`` into the folder ``into`` with limits on count and size and no path escapes."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > ZIP_LIMITS["files"] or sum(m.file_size for m in members) > ZIP_LIMITS["bytes"]:
                raise SubmissionError(f"{path.name}: zip too large to unpack")
            for member in members:
                target = (into / member.filename).resolve()
                if not target.is_relative_to(into.resolve()):
                    raise SubmissionError(f"{path.name}: zip entry {member.filename!r} points outside the archive")
            archive.extractall(into)
            for member in members:  # keep the archive's times: they are the submission times
                target = into / member.filename
                if target.exists() and not member.is_dir():
                    stamp = time.mktime(member.date_time + (0, 0, -1))
                    os.utime(target, (stamp, stamp))
    except zipfile.BadZipFile as error:
        raise SubmissionError(f"{path.name}: not a readable zip ({error})") from None


def _one(path, scratch):
    sub_id = submission_id(path)
    if path.is_dir():
        return _from_folder(path, path, sub_id)
    if path.suffix == ".zip":
        into = scratch / f"zip-{len(list(scratch.iterdir()))}-{sub_id}"
        into.mkdir()
        try:
            extract_zip(path, into)
        except SubmissionError as error:
            return Submission(sub_id, None, path, problem=str(error))
        return _from_folder(into, path, sub_id)
    return Submission(sub_id, path, path)


def _is_batch(folder):
    """A batch holds several entries, or sub-folders / zips; a submission folder holds its files."""
    entries = [p for p in folder.iterdir() if p.name not in IGNORED and not p.name.startswith(".")]
    gradable = [p for p in entries if p.is_dir() or p.suffix in SOURCE_SUFFIXES + (".zip",)]
    if MOODLE.match(folder.name):
        return False
    return len(gradable) > 1 or any(p.is_dir() or p.suffix == ".zip" for p in gradable)


def discover(path, scratch):
    """The submissions at ``path``, sorted by id; ``scratch`` is a folder for unpacked zips."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix not in SOURCE_SUFFIXES + (".zip",):
        raise SubmissionError(f"{path}: not a submission (expected .ipynb, .py, .zip or a folder)")
    if path.is_dir() and _is_batch(path):
        entries = sorted(p for p in path.iterdir()
                         if p.name not in IGNORED and not p.name.startswith(".")
                         and (p.is_dir() or p.suffix in SOURCE_SUFFIXES + (".zip",)))
        found = [_one(p, scratch) for p in entries]
    else:
        found = [_one(path, scratch)]
    seen = {}
    for sub in found:  # two entries for one student (e.g. alice.py and alice/): keep both, apart
        seen[sub.id] = seen.get(sub.id, 0) + 1
        if seen[sub.id] > 1:
            sub.id = f"{sub.id}~{seen[sub.id]}"
    return sorted(found, key=lambda s: s.id)
