"""Find the submissions under a path: a file, a submission folder, a .zip, or a batch of them.

Batch layouts (contract section 1): ``<id>.ipynb``, ``<id>.py``, ``<id>.zip``, a
folder ``<id>/``, and Moodle/eClass "download all" folders
``<Full Name>_<number>_assignsubmission_file_/``. A student's folder (or zip)
may hold any mix of the notebook, its ``.py`` and ``.html`` exports, a PDF of
the written answers and zips of these (a zip inside a zip is opened; one more
level is not), plus the debris of real downloads: ``__MACOSX``, ``._*``
AppleDouble files, ``.ipynb_checkpoints``, ``A4 (1).ipynb`` duplicates and
``Untitled.ipynb``.

Which file is graded (the way a TA would pick):

1. a readable file over an unreadable one; a real file over a Jupyter checkpoint;
2. one that fills in at least one homework function over one that only has
   the template's stubs, over one that defines none of them;
3. a notebook over a ``.py`` file (usually its export);
4. among what is left, the most recently modified; when the others hold
   different code, ``Submission.flags`` says so (``several notebooks: graded
   X, also Y``). Files with the same code are duplicates: the nicest name wins.

Every file found is listed in ``Submission.files`` as a ``SubmittedFile`` with
its role (``graded``, ``ignored``, ``pdf``, ``html``) and, for ignored ones, a
one-phrase reason. ``Submission.pdf`` is the PDF of the written answers.

Hostile content never raises out of ``discover``: unreadable files, FIFOs,
symbolic links (never followed inside a submission), encrypted or AES zips,
damaged zips, zip bombs (limits on entries, total size and compression
ratio), names that are not UTF-8 or too long, deep trees and zips nested more
than once each become an ignored file with its reason or, when nothing is
left to grade, the submission's ``problem`` (one line naming the file).
``discover`` itself raises ``SubmissionError`` only for the path the user
typed (missing, or not a submission at all).

Submission time (contract section 1): the modification time of the files the
course site stored, as downloaded: a file's own, or for anything inside a zip
the zip's own; never a date recorded inside an archive. With several stored
files (code and PDF), the latest of those in use (graded, PDF, HTML) counts.
Unpacked files keep the time they were unpacked.
"""
from __future__ import annotations

import ast
import hashlib
import os
import re
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, cast

from graders.intake import source as source_reader
from graders.intake import zipcheck
from graders.results import MoodleIdentity
from graders.safe_text import clean_id, display_name
from graders.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Sequence

SOURCE_SUFFIXES = (".ipynb", ".py")
GENERIC_STEMS = {"a4", "a4_solution", "submission", "notebook", "main", "homework4", "hw4", "solution", "answers",
                 "code", "vae", "untitled"}
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<number>\d+)_assign(?:submission|feedback)_\w+?_?$")
GENERIC_PATTERN = re.compile(r"untitled\d*|(?:a|hw|homework|assignment)[-_ ]?4(?:[-_ ]?(?:solutions?|final|v?\d+|done|"
                             r"complete|completed|submission|code|notebook|answers?|old|new|latest|vae|cvae))*")
IGNORED = {"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git"}
ZIP_LIMITS = {"files": 2000, "bytes": 200 * 2**20, "ratio": 200, "nesting": 2}
MAX_FOLDER_DEPTH = 10          # folders below the submission's own
MAX_MEMBER_PARTS = 16          # path components of a zip member
MAX_ENTRIES = 5000             # files and folders looked at per submission
MAX_CANDIDATES = 20            # code files compared per submission (each is read and parsed)
# Parsing is what comparing costs (about 1 s per 100 KiB of code on a busy core; twenty 4.3 MiB
# notebooks took 204 s): per submission, at most FOLDER_PARSE_CHARS of code are parsed, no cell over
# CELL_PARSE_CHARS; other cells are compared by their text (their defs found by a pattern) and noted.
CELL_PARSE_CHARS = 256 * 1024
FOLDER_PARSE_CHARS = 2**20
MAX_LISTED = 100               # ignored files listed per submission; the rest are counted
ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
DUPLICATE_NAME = re.compile(r"(?:\s*\(\d+\)|[-_ ]copy\d*|\s+copy(?:\s+\d+)?)$", re.IGNORECASE)
try:
    from graders.items import AUTO_ITEMS
    HOMEWORK_FUNCTIONS = frozenset(getattr(item, "function", "") for item in AUTO_ITEMS) - {""}
except Exception:  # the item registry is being reworked; the names are fixed by contract section 3
    HOMEWORK_FUNCTIONS = frozenset({"reconstruct", "kl_divergence", "binary_cross_entropy", "elbo",
                                    "train_mnist_vae", "creconstruct", "celbo", "train_mnist_cvae"})


class SubmissionError(UserError, ValueError):
    """A path that holds no gradable submission; the message is one line for the user."""


@dataclass
class SubmittedFile:
    """One file of a submission as the student handed it in.

    ``path``: relative to the submission, ``/``-separated, a zip member as
    ``A4.zip/A4.ipynb``; display-safe text (no control characters, capped).
    ``role``: ``"graded"`` (the code graded), ``"pdf"`` (written answers),
    ``"html"`` (an HTML export, kept for the TA) or ``"ignored"``.
    ``reason``: one phrase saying why (empty for ``graded``).
    ``local``: where the file lies on this machine now (inside the scratch
    folder for zip members; gone after the run), or ``None``.
    """
    path: str
    role: str
    reason: str = ""
    local: Path | None = None

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "role": self.role, "reason": self.reason}


@dataclass
class Submission:
    """One student's hand-in, as found; nothing read beyond what choosing the file needs.

    ``id`` is through ``safe_text.clean_id``. ``source`` is the local file to
    grade (for a zip member, its unpacked copy in the scratch folder);
    ``graded_name`` is how the student named it. ``files`` lists every file
    found, the graded one first. ``flags`` are for the TA (the report and
    ``results.json`` flags); ``notes`` explain the choice. ``stored_at`` is the
    submission time (POSIX seconds); ``submitted_at`` the same as local ISO text.
    """
    id: str
    source: Path | None          # the notebook or .py to grade; None when none was found
    origin: Path                 # what the user handed in (file, folder or zip)
    notes: list = field(default_factory=list)
    problem: str = ""            # why nothing can be graded, when source is None (one line, names the file)
    files: list = field(default_factory=list)    # [SubmittedFile], every file found, graded one first
    pdf: Path | None = None      # the written answers' PDF (local path), when there is one
    flags: list = field(default_factory=list)    # for the TA, e.g. "several notebooks: graded X, also Y"
    stored_at: float | None = None  # POSIX time the course site stored the submission (see module doc)
    download_all: bool = False   # nothing graded because it is Moodle's download-all zip of several students
    moodle: MoodleIdentity | None = None  # from a Moodle download's folder name (``moodle_identity``)

    @property
    def submitted_at(self) -> str:
        """The submission time as local ISO text (``stored_at``; for a hand-built record, the source's mtime)."""
        stamp = self.stored_at
        if stamp is None and self.source is not None:
            try:
                stamp = os.stat(self.source).st_mtime
            except OSError:
                return ""
        if stamp is None:
            return ""
        try:
            return datetime.fromtimestamp(stamp).isoformat(timespec="seconds")
        except (OverflowError, OSError, ValueError):
            return ""

    def files_json(self) -> list[dict[str, str]]:
        """``files`` as plain data for ``results.json``: ``[{"path", "role", "reason"}]``."""
        return [f.to_json() for f in self.files]

    @property
    def graded_name(self) -> str:
        """The graded file as handed in (``A4.zip/A4.ipynb``), or ``""``."""
        return next((f.path for f in self.files if f.role == "graded"), "")


def submission_id(path: Path) -> str:
    """The student id a file or folder name stands for, through ``clean_id``."""
    name, moodle = _owner_name(path)
    return f"{moodle.full_name}_{moodle.participant}" if moodle else name


def moodle_identity(path: Path) -> MoodleIdentity | None:
    """The ``MoodleIdentity`` in a Moodle download's folder name (of ``path`` or, for a generic file
    name such as ``submission.ipynb``, of its folder), or None."""
    return _owner_name(path)[1]


def _owner_name(path: Path) -> tuple[str, MoodleIdentity | None]:
    """The name that stands for the student (``path``'s stem through ``clean_id``, or its folder's for a
    generic file name) and the Moodle identity in it, if any."""
    name = clean_id(path.name[: -len(path.suffix)] if path.suffix.lower() in SOURCE_SUFFIXES + (".zip",) else path.name)
    moodle = MOODLE.match(name)
    if moodle:
        return name, MoodleIdentity(moodle["number"], moodle["name"])
    if name.lower() in GENERIC_STEMS and path.parent.name:
        return _owner_name(path.parent)
    return name, None


# ---------------------------------------------------------------- scanning


class _Refused(Exception):
    """A zip we will not open; the message is the reason."""


class _DownloadAll(_Refused):
    """A zip holding several students' Moodle folders: the course's download, not one hand-in."""


@dataclass
class _Found:
    shown: str                # display path, relative to the submission
    local: Path
    kind: str                 # "code", "pdf" or "html"
    modified: float           # for ordering only (a zip member's recorded date is fine here)
    stored: float             # mtime of the file the course site stored (the outermost zip for members)
    checkpoint: bool = False


class _Scan:
    """Walks one submission: its folder, file or zip, and the zips inside (to ``ZIP_LIMITS['nesting']``)."""
    scratch_root: Path
    scratch: Path | None
    found: list[_Found]
    ignored: list[SubmittedFile]
    failures: list[str]

    def __init__(self, scratch: Path) -> None:
        self.scratch_root, self.scratch = scratch, None
        self.found, self.ignored, self.failures = [], [], []
        self.download_all = False          # a zip inside was Moodle's download-all zip (_DownloadAll)
        self.entries, self.unlisted, self.unpacked = 0, 0, 0
        self.bytes_left, self.members_left = ZIP_LIMITS["bytes"], ZIP_LIMITS["files"]

    def ignore(self, shown: str, reason: str) -> None:
        if len(self.ignored) < MAX_LISTED:
            self.ignored.append(SubmittedFile(display_name(shown), "ignored", reason))
        else:
            self.unlisted += 1

    def fail(self, shown: str, reason: str) -> None:
        self.failures.append(f"{display_name(shown)}: {reason}")
        self.ignore(shown, reason)

    def walk(self, folder: Path, prefix: str, depth: int, checkpoint: bool = False) -> None:
        try:
            with os.scandir(folder) as listing:
                children = sorted(listing, key=lambda e: e.name)
        except OSError as error:
            self.fail(prefix or folder.name, f"cannot read the folder ({error.strerror or type(error).__name__})")
            return
        for child in children:
            self.entries += 1
            shown = prefix + child.name
            if self.entries > MAX_ENTRIES:
                self.ignore(shown, f"not looked at (more than {MAX_ENTRIES} files)")
                continue
            try:
                info = child.stat(follow_symlinks=False)
            except OSError as error:
                self.ignore(shown, f"cannot read it ({error.strerror or type(error).__name__})")
                continue
            if stat.S_ISLNK(info.st_mode):
                self.ignore(shown, "symbolic link (not followed)")
            elif stat.S_ISDIR(info.st_mode):
                if child.name == ".ipynb_checkpoints":
                    self.walk(Path(child.path), shown + "/", depth + 1, checkpoint=True)
                elif _junk_folder(child.name):
                    self.ignore(shown + "/", _junk_reason(child.name))
                elif depth >= MAX_FOLDER_DEPTH:
                    self.ignore(shown + "/", f"more than {MAX_FOLDER_DEPTH} folders deep (not looked at)")
                else:
                    self.walk(Path(child.path), shown + "/", depth + 1, checkpoint)
            elif stat.S_ISREG(info.st_mode):
                self.add(shown, Path(child.path), info.st_mtime, info.st_mtime, 0, checkpoint)
            else:
                self.ignore(shown, "not a regular file")

    def add(self, shown: str, local: Path | None, modified: float, stored: float, level: int,
            checkpoint: bool = False) -> None:
        """File ``local`` (shown as ``shown``) found at zip nesting ``level`` (0: stored as is)."""
        name = PurePosixPath(shown).name
        suffix = PurePosixPath(name.lower()).suffix
        if name.startswith("._"):
            self.ignore(shown, "macOS metadata (AppleDouble)")
        elif name.startswith(".") or name in ("Thumbs.db", "desktop.ini"):
            self.ignore(shown, "hidden or system file")
        elif suffix in SOURCE_SUFFIXES:
            self.found.append(_Found(shown, cast(Path, local), "code", modified, stored, checkpoint))
        elif suffix == ".pdf":
            self.found.append(_Found(shown, cast(Path, local), "pdf", modified, stored, checkpoint))
        elif suffix in (".html", ".htm"):
            self.found.append(_Found(shown, cast(Path, local), "html", modified, stored, checkpoint))
        elif suffix == ".zip":
            if level >= ZIP_LIMITS["nesting"]:
                self.fail(shown, "a zip nested more than once (not opened)")
                return
            try:
                self.unzip(shown, cast(Path, local), stored, level + 1)
            except _Refused as refusal:
                self.download_all = self.download_all or isinstance(refusal, _DownloadAll)
                self.fail(shown, str(refusal))
            except (Exception, RecursionError, MemoryError) as error:
                detail = str(error).splitlines()[0][:100] if str(error) else ""
                self.fail(shown, f"not a readable zip ({type(error).__name__}{': ' + detail if detail else ''})")
        else:
            self.ignore(shown, "not code, a PDF or an HTML export")

    def unzip(self, shown: str, local: Path, stored: float, level: int) -> None:
        """Check every member of zip ``local``, then copy out the ones that matter and ``add`` them."""
        try:
            with open(local, "rb") as handle:  # the real entry count, before Python parses every entry
                stated, real = zipcheck.stated_count(handle), zipcheck.entry_count(handle, ZIP_LIMITS["files"])
            if real > ZIP_LIMITS["files"]:
                claim = f"; it claims {stated}" if stated is not None and stated <= ZIP_LIMITS["files"] else ""
                raise _Refused(f"too many entries (more than {ZIP_LIMITS['files']}{claim})")
            archive = zipfile.ZipFile(local)
        except zipcheck.DamagedZip as error:
            raise _Refused(f"not a readable zip ({error})") from None
        except zipfile.BadZipFile as error:
            raise _Refused(f"not a readable zip ({str(error)[:100]})") from None
        except UnicodeDecodeError:
            raise _Refused("not a readable zip (a member name is not valid UTF-8)") from None
        with archive:
            members = archive.infolist()
            self.members_left -= len(members)
            if self.members_left < 0:
                raise _Refused(f"too many entries ({len(members)}; at most {ZIP_LIMITS['files']} in all)")
            junk_folders: dict[str, str]
            wanted, declared, junk_folders, students = [], 0, {}, set()

            for member in members:
                parts = [p for p in re.split(r"[/\\]", member.filename) if p not in ("", ".")]
                if member.filename.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", member.filename):
                    raise _Refused(f"zip entry {display_name(member.filename, 80)!r} points outside the archive")
                if member.compress_type == 99:
                    raise _Refused("the zip is AES-encrypted; hand in an unencrypted zip")
                if member.flag_bits & 0x1:
                    raise _Refused("the zip is password-protected (encrypted); hand in an unencrypted zip")
                if member.is_dir() or not parts:
                    continue
                if MOODLE.match(parts[0]) and len(parts) > 1:
                    students.add(parts[0])
                    if len(students) > 1:
                        raise _DownloadAll("holds several students' Moodle folders (a download-all zip): unzip it and "
                                       "grade the folder")
                member_shown = shown + "/" + "/".join(parts)
                mode = member.external_attr >> 16
                if stat.S_ISLNK(mode):
                    self.ignore(member_shown, "symbolic link (not followed)")
                    continue
                junk = next((i for i, part in enumerate(parts[:-1]) if _junk_folder(part)), None)
                if junk is not None:  # __MACOSX/, .git/, __pycache__/...: listed once per folder
                    junk_folders.setdefault("/".join(parts[:junk + 1]), _junk_reason(parts[junk]))
                    continue
                if len(parts) > MAX_MEMBER_PARTS:
                    self.ignore(member_shown, f"more than {MAX_MEMBER_PARTS} folders deep (not unpacked)")
                    continue
                suffix = PurePosixPath(parts[-1].lower()).suffix
                if parts[-1].startswith(".") or suffix not in SOURCE_SUFFIXES + (".pdf", ".html", ".htm", ".zip"):
                    self.add(member_shown, None, 0, stored, level)  # listed as ignored, not unpacked
                    continue
                if member.compress_type not in ZIP_METHODS:
                    raise _Refused(f"uses a compression method Python cannot read ({member.compress_type})")
                if member.file_size > 2**20 and member.file_size > ZIP_LIMITS["ratio"] * max(member.compress_size, 1):
                    raise _Refused(f"looks like a zip bomb ({display_name(parts[-1], 60)} expands "
                                   f"{member.file_size // max(member.compress_size, 1)}:1)")
                declared += member.file_size
                wanted.append((member, member_shown, ".ipynb_checkpoints" in parts[:-1]))
            for folder, reason in junk_folders.items():
                self.ignore(f"{shown}/{folder}/", reason)
            if declared > self.bytes_left:
                raise _Refused(f"unpacks to {declared // 2**20} MiB; at most {ZIP_LIMITS['bytes'] // 2**20} MiB in all")
            unpacked = [(self._copy_out(archive, member), member_shown, self._date(member, stored), checkpoint)
                        for member, member_shown, checkpoint in wanted]
        for target, member_shown, modified, checkpoint in unpacked:
            self.add(member_shown, target, modified, stored, level, checkpoint)

    def _copy_out(self, archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> Path:
        if self.scratch is None:
            self.scratch = Path(tempfile.mkdtemp(prefix="sub-", dir=self.scratch_root))
        self.unpacked += 1
        folder = self.scratch / f"{self.unpacked:05d}"
        folder.mkdir()
        target = folder / _local_name(member.filename)
        with archive.open(member) as stream, open(target, "xb") as out:
            while True:
                chunk = stream.read(2**20)
                if not chunk:
                    break
                self.bytes_left -= len(chunk)
                if self.bytes_left < 0:
                    raise _Refused(f"unpacks to more than {ZIP_LIMITS['bytes'] // 2**20} MiB")
                out.write(chunk)
        return target

    @staticmethod
    def _date(member: zipfile.ZipInfo, fallback: float) -> float:
        """A member's recorded date as a POSIX time, for ordering candidates only (never a submission time)."""
        try:
            return datetime(*member.date_time).timestamp()
        except (ValueError, OverflowError, OSError):
            return fallback


def _junk_folder(name: str) -> bool:
    """Folders never looked into: macOS metadata, hidden and tool folders (not Jupyter's checkpoints)."""
    return name != ".ipynb_checkpoints" and (name.startswith(".") or name in IGNORED)


def _junk_reason(name: str) -> str:
    return "macOS metadata" if name == "__MACOSX" else "hidden or tool folder"


def _local_name(member_name: str) -> str:
    """A short, safe file name for an unpacked member that keeps its name where it can and its suffix."""
    last = re.split(r"[/\\]", member_name)[-1]
    path = PurePosixPath(last)
    suffix = path.suffix.lower() if re.fullmatch(r"\.[a-z0-9]{1,8}", path.suffix.lower()) else ""
    stem = re.sub(r"[^\w .()+-]+", "_", clean_id(path.stem if suffix else last))[:100].strip(" .") or "file"
    return stem + suffix


# ---------------------------------------------------------------- choosing


@dataclass
class _Candidate:
    found: _Found
    problem: str = ""                  # why it cannot be read, if it cannot
    implemented: frozenset = frozenset()
    defined: frozenset = frozenset()
    signature: tuple = ()

    @property
    def notebook(self) -> bool:
        return self.found.shown.lower().endswith(".ipynb")

    def tier(self) -> tuple[bool, bool, bool, bool, bool]:
        return (not self.problem, not self.found.checkpoint, bool(self.implemented), bool(self.defined), self.notebook)

    def name_rank(self) -> tuple[bool, bool, bool, int, str]:
        """Smaller is nicer: not a copy, not Untitled, named like the homework, shallow."""
        stem = PurePosixPath(self.found.shown).stem
        return (bool(DUPLICATE_NAME.search(stem)), stem.lower().startswith("untitled"),
                not re.search(r"a4|hw4|homework|assignment", stem, re.IGNORECASE),
                self.found.shown.count("/"), self.found.shown)


MAGIC_LINE = re.compile(r"^([ \t]*)[%!].*$", re.MULTILINE)


def _without_magics(text: str) -> str:
    return MAGIC_LINE.sub(r"\1pass", text)


def _is_stub(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A template stub: its body is empty, ``pass``/``...``/a docstring, or raises NotImplementedError."""
    body = [statement for statement in function.body
            if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant))]
    if not body or all(isinstance(statement, ast.Pass) for statement in body):
        return True
    for statement in body:
        if isinstance(statement, ast.Raise) and statement.exc is not None:
            raised = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
            if isinstance(raised, ast.Name) and raised.id == "NotImplementedError":
                return True
    return False


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()


@dataclass
class _ParseBudget:
    """Characters of code that may still be parsed while choosing one submission's file."""
    left: int = field(default_factory=lambda: FOLDER_PARSE_CHARS)
    unparsed: int = 0            # cells compared by their text only, for the note


def _candidate(found: _Found, budget: _ParseBudget | None = None) -> _Candidate:
    """Read a code file (bounded, never raises) and describe what it defines.

    The signature is the text of its top-level definitions, imports and
    assignments, in order: equal for a notebook and its ``.py`` export, blind to
    markdown, outputs, cell boundaries and top-level calls. A cell over
    ``CELL_PARSE_CHARS``, or past what ``budget`` has left, is not parsed: its
    homework ``def``s are found by a pattern (defined, not known to be filled in)
    and its whole text is its part of the signature.
    """
    budget = budget or _ParseBudget()
    try:
        cells = source_reader.read_cells(found.local)
    except source_reader.UnreadableSource as error:
        return _Candidate(found, problem=str(error))
    implemented, defined, signature = set(), set(), []
    kept = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom, ast.Assign,
            ast.AnnAssign, ast.AugAssign)
    for _, text in cells.code:
        tree = None
        if len(text) <= min(CELL_PARSE_CHARS, budget.left):
            budget.left -= len(text)
            text = _without_magics(text)
            try:
                tree = ast.parse(text)
            except (Exception, RecursionError, MemoryError):
                pass
        else:
            budget.unparsed += 1
        if tree is None:
            defined |= set(re.findall(r"^def\s+(\w+)", text, re.MULTILINE)) & HOMEWORK_FUNCTIONS
            signature.append(_digest(text.strip()))
            continue
        lines = text.splitlines()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in HOMEWORK_FUNCTIONS:
                defined.add(node.name)
                if not _is_stub(node):
                    implemented.add(node.name)
            if isinstance(node, kept):
                first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
                signature.append(_digest("\n".join(line.rstrip() for line in lines[first - 1:node.end_lineno])))
    return _Candidate(found, "", frozenset(implemented), frozenset(defined), tuple(signature))


def _choose(candidates: Sequence[_Candidate]) -> tuple[_Candidate, list[tuple[_Candidate, str]], str]:
    """(graded candidate, [(candidate, reason)], flag text or "")."""
    best = max(c.tier() for c in candidates)
    top = [c for c in candidates if c.tier() == best]
    newest = max(top, key=lambda c: c.found.modified)
    chosen = min((c for c in top if c.signature == newest.signature), key=_Candidate.name_rank)
    others, differing = [], []
    for c in candidates:
        if c is chosen:
            continue
        if c.problem:
            reason = f"unreadable: {c.problem}"
        elif c.found.checkpoint:
            reason = "Jupyter checkpoint (an autosaved copy)"
        elif c.signature == chosen.signature:
            reason = (".py export of the graded notebook" if chosen.notebook and not c.notebook
                      else "same code as the graded file")
        elif not c.defined:
            reason = "defines none of the homework's functions"
        elif not c.implemented:
            reason = "the homework's functions are not filled in (template)"
        else:
            reason = "different code from the graded file (flagged for the TA)"
            differing.append(c)
        others.append((c, reason))
    flag = ""
    if differing:
        kind = "notebooks" if chosen.notebook and all(c.notebook for c in differing) else "code files"
        names = ", ".join(display_name(c.found.shown, 60) for c in differing[:3])
        more = f" and {len(differing) - 3} more" if len(differing) > 3 else ""
        flag = f"several {kind}: graded {display_name(chosen.found.shown, 60)}, also {names}{more}"
    return chosen, others, flag


def _pick_pdf(pdfs: list[_Found]) -> _Found | None:
    def rank(f: _Found) -> tuple[bool, bool, float, bool]:
        stem = PurePosixPath(f.shown).stem.lower()
        return (not f.checkpoint, not DUPLICATE_NAME.search(stem), f.modified, bool(re.search(r"answer|a4|hw4", stem)))
    return max(pdfs, key=rank) if pdfs else None


def _origin_mtime(path: Path) -> float | None:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return None


def _submission(path: Path, scratch: Path) -> Submission:
    """One student's ``Submission`` from a folder, a zip or a code file; never raises."""
    sub_id = submission_id(path)
    scan = _Scan(scratch)
    if path.is_dir() and not path.is_symlink():
        scan.walk(path, "", 0)
    else:
        scan.add(path.name, path, _origin_mtime(path) or 0, _origin_mtime(path) or 0, 0)
    code = [f for f in scan.found if f.kind == "code"]
    pdfs = [f for f in scan.found if f.kind == "pdf"]
    files, flags, notes = [], [], []
    graded = None
    if code:
        real = [f for f in code if not f.checkpoint]
        checkpoints = [f for f in code if f.checkpoint]
        pool = real or checkpoints          # a checkpoint is graded only when nothing else is there
        pool.sort(key=lambda f: _Candidate(f).name_rank())
        pool, skipped = pool[:MAX_CANDIDATES], pool[MAX_CANDIDATES:]
        # with one file there is nothing to choose: it is read once, when grading
        budget = _ParseBudget()
        looked = [_candidate(f, budget) for f in pool] if len(pool) > 1 else [_Candidate(pool[0])]
        chosen, others, flag = _choose(looked) if len(looked) > 1 else (looked[0], [], "")
        others += [(_Candidate(f), f"not looked at (more than {MAX_CANDIDATES} code files)") for f in skipped]
        if real:
            others += [(_Candidate(f), "Jupyter checkpoint (an autosaved copy)") for f in checkpoints]
        graded = chosen.found
        files.append(SubmittedFile(display_name(graded.shown), "graded", "", graded.local))
        files += [SubmittedFile(display_name(c.found.shown), "ignored", reason, c.found.local) for c, reason in others]
        flags += [flag] if flag else []
        if chosen.problem:
            notes.append(f"no readable code file; graded {display_name(graded.shown)}")
        elif len(pool) > 1:
            notes.append(f"{len(pool)} candidate files; graded {display_name(graded.shown)}")
        if budget.unparsed:
            notes.append(f"choosing the file: {budget.unparsed} code cells compared by their text only, not parsed "
                         f"(cells over {CELL_PARSE_CHARS // 1024} KiB, or past {FOLDER_PARSE_CHARS // 1024} KiB of "
                         "code per submission)")
    pdf = _pick_pdf(pdfs)
    for f in pdfs:
        files.append(SubmittedFile(display_name(f.shown), "pdf", "written answers" if f is pdf else "another PDF",
                                   f.local))
    files += [SubmittedFile(display_name(f.shown), "html", "HTML export (kept, not graded)", f.local)
              for f in scan.found if f.kind == "html"]
    files += scan.ignored
    if scan.unlisted:
        files.append(SubmittedFile(f"… {scan.unlisted} more", "ignored", "not listed (too many files)"))
    in_use = [f.stored for f in scan.found if f is graded or f.kind in ("pdf", "html")]
    stored_at = max(in_use) if in_use else _origin_mtime(path)
    problem = ""
    if graded is None:
        where = display_name(path.name, 80)
        if scan.failures:
            problem = scan.failures[0] + (f" (and {len(scan.failures) - 1} more problems)" if len(scan.failures) > 1
                                          else "")
            if pdf is not None:
                problem += f"; no other .ipynb or .py file in {where}"
        else:
            exports = [f.shown for f in scan.found if f.kind == "html"]
            problem = f"no .ipynb or .py file in {where}" + (
                f" (only the HTML export {display_name(exports[0], 60)}; hand in the .ipynb)" if exports else "")
    return Submission(sub_id, graded.local if graded else None, path, notes, problem, files,
                      pdf.local if pdf else None, flags, stored_at, download_all=graded is None and scan.download_all,
                      moodle=moodle_identity(path))


def _safely(path: Path, scratch: Path) -> Submission:
    try:
        return _submission(path, scratch)
    except (Exception, RecursionError, MemoryError) as error:  # a bug here must cost one submission only
        sub_id = submission_id(path)
        detail = str(error).splitlines()[0][:120] if str(error) else ""
        return Submission(sub_id, None, path, problem=f"{display_name(path.name, 80)}: could not be looked at "
                                                      f"({type(error).__name__}{': ' + detail if detail else ''})",
                          stored_at=_origin_mtime(path), moodle=moodle_identity(path))


# ---------------------------------------------------------------- batches


def _kind(path: Path) -> str:
    """"dir", "file", "link" or "other" without following a link."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return "other"
    return ("dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode)
            else "link" if stat.S_ISLNK(mode) else "other")


def _entries(folder: Path) -> list[Path]:
    """The batch's entries that stand for a student (folders, code files, zips), sorted by name."""
    out = []
    for p in sorted(folder.iterdir()):
        if p.name in IGNORED or p.name.startswith("."):
            continue
        if _kind(p) == "dir" or p.suffix.lower() in SOURCE_SUFFIXES + (".zip",):
            out.append(p)
    return out


def _is_batch(folder: Path) -> bool:
    """Whether ``folder`` holds many students' work rather than one student's files.

    A Moodle folder is one student's; a folder holding Moodle folders is a batch.
    A folder with a PDF, an HTML export, Jupyter checkpoints or a code file with a
    generic name (``A4.ipynb``, ``Untitled.ipynb``) beside only folders and other
    generic names is one student's. Otherwise several entries, or any folder or
    zip, make a batch.
    """
    if MOODLE.match(folder.name):
        return False
    gradable = _entries(folder)
    if any(_kind(p) == "dir" and MOODLE.match(p.name) for p in gradable):
        return True
    own = [p for p in folder.iterdir() if _kind(p) == "file" and p.suffix.lower() in (".pdf", ".html", ".htm")]
    own += [p for p in gradable if _kind(p) != "dir" and _generic(p)]
    if own or _kind(folder / ".ipynb_checkpoints") == "dir":
        return any(_kind(p) != "dir" and not _generic(p) for p in gradable)
    return len(gradable) > 1 or any(_kind(p) == "dir" or p.suffix.lower() == ".zip" for p in gradable)


def _generic(path: Path) -> bool:
    """Whether a file name says nothing about who handed it in (``A4 (1).ipynb``, ``Untitled3.ipynb``)."""
    stem = DUPLICATE_NAME.sub("", path.name[: -len(path.suffix)] if path.suffix else path.name).strip().lower()
    return stem in GENERIC_STEMS or GENERIC_PATTERN.fullmatch(stem) is not None


def _batch_entry(path: Path, scratch: Path) -> Submission:
    kind = _kind(path)
    if kind in ("dir", "file"):
        return _safely(path, scratch)
    why = "a symbolic link (not followed; copy the file in)" if kind == "link" else "not a regular file or folder"
    return Submission(submission_id(path), None, path, problem=f"{display_name(path.name, 80)}: {why}",
                      files=[SubmittedFile(display_name(path.name), "ignored", why)])


def discover(path: str | os.PathLike[str], scratch: str | os.PathLike[str]) -> list[Submission]:
    """The submissions at ``path``, sorted by id; ``scratch`` is a folder for unpacked zips.

    Raises ``SubmissionError`` only when ``path`` itself is missing or cannot be
    a submission; whatever a student handed in becomes a ``Submission`` (with
    ``problem`` set when nothing can be graded).
    """
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix.lower() not in SOURCE_SUFFIXES + (".zip",):
        raise SubmissionError(f"{path}: not a submission (expected .ipynb, .py, .zip or a folder)")
    if not path.is_file() and not path.is_dir():
        raise SubmissionError(f"{path}: not a regular file or folder")
    scratch = Path(scratch)
    if path.is_dir():
        try:
            batch = _is_batch(path)
        except OSError as error:
            raise SubmissionError(f"{path}: cannot read the folder ({error.strerror})") from None
    else:
        batch = False
    found = [_batch_entry(p, scratch) for p in _entries(path)] if batch else [_safely(path, scratch)]
    if not batch and path.is_file() and found[0].download_all:
        raise SubmissionError(f"{path}: Moodle's download-all zip; unzip it and grade the folder it makes")
    unique_ids(found)
    return sorted(found, key=lambda s: s.id)


def unique_ids(subs: Sequence[Submission]) -> None:

    """Give two entries of one id (``alice.py`` and ``alice/``) ids of their own, in place: the first
    keeps it, the next get ``alice~2``, ``alice~3``..., never an id another entry has or was given
    (``alice~2.ipynb`` keeps ``alice~2``; the second ``alice`` becomes ``alice~3``)."""
    taken = {sub.id for sub in subs}
    used = set()
    for sub in subs:
        if sub.id in used:
            number = 2
            while f"{sub.id}~{number}" in taken:
                number += 1
            sub.id = f"{sub.id}~{number}"
            taken.add(sub.id)
        used.add(sub.id)
