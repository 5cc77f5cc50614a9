"""The marks store: ``OUT/marking/``, every change written at once, atomically, never dropped.

Layout (JSON, readable by a person):

- ``items/<item>.json``: one written item: its rubric (entries with points, text and a
  version each) and one record per student (entries applied, comment, manual mark, the
  score that follows, a version). Two TAs marking different items write different files.
- ``students.json``: per student, which PDF pages answer which item, and the general
  comment (the ``comment`` column of ``written_marks.csv``); a version per student.
- ``exported.json``: what ``written_marks.csv`` last said when this store wrote it, so
  that a hand edit of the CSV is recognised (``csvsync``).

Contract of every change: the caller passes the version it saw; if the record moved on
meanwhile the change is refused with ``Conflict`` (the app answers 409 and the page
reloads), so a stale write never overwrites a newer one and a refused one is never
silently lost. Each change is a read-modify-write of one file under a lock (a thread lock
and ``fcntl.flock``, so two servers on one folder also queue), written to a temporary file,
fsynced and moved into place with ``os.replace``.

Score of a record: the manual mark if one is set, else the sum of the points of the
entries applied, clamped to ``0..max``; ``None`` (unmarked) when neither.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graders.items import WRITTEN_ITEMS

if TYPE_CHECKING:
    from types import EllipsisType


class Conflict(Exception):
    """A change was based on an old version; ``current`` is the record as it is now."""

    def __init__(self, current: Mark | Entry | StudentNotes) -> None:
        super().__init__("the record changed since it was read")
        self.current: Any = current   # Any: each handler knows which kind of record its call raises with


@dataclass
class Entry:
    """A rubric entry: ``points`` awarded when applied (may be 0 or negative).

    ``ta_only``: the text is for TAs alone (a step of the marking guide, which is the model
    answer in parts): a student's copy shows the entry's points and whether it was applied,
    never its text.
    """
    id: str
    points: float
    text: str
    version: int = 1
    ta_only: bool = False


@dataclass
class Mark:
    """One student's answer to one item, as marked."""
    student: str
    item: str
    applied: list = field(default_factory=list)   # entry ids
    comment: str = ""
    manual: float | None = None                   # a mark typed in (or read from the CSV)
    score: float | None = None                    # follows from the above and the rubric
    version: int = 0                              # 0: never written
    updated: str = ""
    by: str = ""
    merged: bool = field(default=False, repr=False, compare=False)   # set by ``update``; never stored

    @property
    def marked(self) -> bool:
        return self.score is not None


@dataclass
class StudentNotes:
    """Per student: ``pages`` maps item -> PDF page numbers (1-based); the general comment."""
    student: str
    pages: dict = field(default_factory=dict)
    comment: str = ""
    version: int = 0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def atomic_write(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _stale_conflicts(mark: Mark, toggle: str | None, applied: Sequence[str] | None, comment: str | None,
                     manual: float | None | EllipsisType, base_comment: str | None,
                     base_manual: float | None | EllipsisType) -> bool:
    """Whether a change based on an older version than ``mark`` would undo someone's work.

    A toggle or a full ``applied`` list depends on what the TA saw, so it always conflicts; a
    comment (or manual mark) conflicts unless its base is still the stored value or the new
    value is already stored (the same change sent twice)."""
    if toggle is not None or applied is not None:
        return True
    if comment is not None and str(comment)[:20000] != mark.comment and base_comment != mark.comment:
        return True
    if manual is not ...:
        new = None if manual is None else float(manual)
        if new != mark.manual and (base_manual is ... or base_manual != mark.manual):
            return True
    return False


def score_of(mark: Mark, entries: dict[str, Entry], maximum: float) -> float | None:
    """The score a record earns under ``entries`` (``{id: Entry}``); see the module docstring."""
    if mark.manual is not None:
        return float(mark.manual)
    if not mark.applied:
        return None
    total = sum(entries[e].points for e in mark.applied if e in entries)
    return float(min(maximum, max(0.0, round(total, 6))))


class MarkStore:
    """The store of one output folder. Safe to share between threads; see the module docstring."""

    _locks: dict = {}
    _locks_guard = threading.Lock()

    def __init__(self, out_dir: str | Path, seed: Callable[[str], list[Entry]] | None = None) -> None:
        """``seed(item) -> [Entry]`` gives the rubric an item starts with (``rubrics.seed_entries``)."""
        self.root = Path(out_dir) / "marking"
        self.root.mkdir(parents=True, exist_ok=True)
        self.seed = seed or (lambda item: [])
        # called with (kind, student ids) after every successful change
        self.listeners: list[Callable[[str, set[str]], object]] = []

    # -- files -----------------------------------------------------------------
    def _item_path(self, item: str) -> Path:
        if item not in WRITTEN_ITEMS:
            raise KeyError(f"{item!r} is not a written item")
        return self.root / "items" / f"{item}.json"

    @contextlib.contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        key = str(path)
        with self._locks_guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(str(path) + ".lock", "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    @staticmethod
    def _read(path: str | Path, default: Any) -> Any:
        try:
            return json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return default

    def _item_data(self, item: str) -> dict[str, Any]:
        data = self._read(self._item_path(item), None)
        if data is None:
            return {"item": item, "max": WRITTEN_ITEMS[item],
                    "rubric": [asdict(e) for e in self.seed(item)], "records": {}}
        if any("ta_only" not in e for e in data["rubric"]):  # written before ``ta_only`` existed
            guide = {e.text for e in self.seed(item) if e.ta_only}
            for entry in data["rubric"]:
                entry.setdefault("ta_only", entry.get("text") in guide)
        return data

    def _notify(self, kind: str, students: Iterable[str]) -> None:
        for listener in self.listeners:
            listener(kind, set(students))

    # -- reading ---------------------------------------------------------------
    def rubric(self, item: str) -> list[Entry]:
        """``[Entry]`` of ``item``, in order (number keys apply them by position)."""
        return [Entry(**e) for e in self._item_data(item)["rubric"]]

    def marks_of_item(self, item: str) -> dict[str, Mark]:
        """``{student: Mark}`` of every record of ``item``."""
        data = self._item_data(item)
        return {sid: Mark(student=sid, item=item, **record) for sid, record in data["records"].items()}

    def get(self, item: str, student: str) -> Mark:
        return self.marks_of_item(item).get(student) or Mark(student, item)

    def scores(self) -> dict[str, dict[str, float]]:
        """``{student: {item: score}}`` over every item, marked records only."""
        out: dict[str, dict[str, float]] = {}
        for item in WRITTEN_ITEMS:
            for sid, mark in self.marks_of_item(item).items():
                if mark.score is not None:
                    out.setdefault(sid, {})[item] = mark.score
        return out

    def feedback(self, student: str) -> dict[str, dict[str, Any]]:
        """``{item: {"score", "entries": [(points, text)], "comment", "manual", "rubric"}}`` for a student's pages.

        ``entries``: the entries applied, in the order applied; ``rubric``: every entry of the
        item in rubric order as ``{"points", "text", "applied", "ta_only"}`` (a student's copy
        shows those not applied too, and hides the text of ``ta_only`` ones).
        """
        out = {}
        for item in WRITTEN_ITEMS:
            data = self._item_data(item)
            record = data["records"].get(student)
            if not record:
                continue
            rubric = [Entry(**e) for e in data["rubric"]]
            entries = {e.id: e for e in rubric}
            applied = [e for e in record.get("applied", []) if e in entries]
            out[item] = {"score": record.get("score"), "comment": record.get("comment", ""),
                         "manual": record.get("manual"),
                         "entries": [(entries[e].points, entries[e].text) for e in applied],
                         "rubric": [{"points": e.points, "text": e.text, "applied": e.id in applied,
                                     "ta_only": e.ta_only} for e in rubric]}
        return out

    def student(self, student: str) -> StudentNotes:
        data = self._read(self.root / "students.json", {}).get(student)
        return StudentNotes(student, **data) if data else StudentNotes(student)

    def students(self) -> dict[str, StudentNotes]:
        return {sid: StudentNotes(sid, **d) for sid, d in self._read(self.root / "students.json", {}).items()}

    # -- changing --------------------------------------------------------------
    def update(self, item: str, student: str, version: int, *, toggle: str | None = None,
               applied: Sequence[str] | None = None, apply: Sequence[str] = (), remove: Collection[str] = (),
               comment: str | None = None, manual: float | None | EllipsisType = ..., base_comment: str | None = None,
               base_manual: float | None | EllipsisType = ..., by: str = "") -> Mark:
        """Change one record if it is still at ``version``; returns the new ``Mark``.

        ``toggle``: an entry id to apply or remove (clears a manual mark: the TA is using the
        rubric); ``applied``: the full list; ``apply`` / ``remove``: entry ids wanted applied or
        not (idempotent; they clear a manual mark too); ``comment``; ``manual``: a number or None.

        A change based on an old version is merged on the current record when it cannot undo
        anyone's work (see ``_stale_conflicts``): ``apply``/``remove`` always; ``comment`` when
        ``base_comment`` (the text the TA started from) is still the stored one, or equals the
        new one; ``manual`` likewise with ``base_manual``. ``Mark.merged`` then says so.
        Raises ``Conflict`` otherwise, ``ValueError`` for bad input.
        """
        path = self._item_path(item)
        with self._locked(path):
            data = self._item_data(item)
            entries = {e["id"]: Entry(**e) for e in data["rubric"]}
            record = data["records"].get(student)
            mark = Mark(student, item, **record) if record else Mark(student, item)
            merged = version != mark.version
            if merged and _stale_conflicts(mark, toggle, applied, comment, manual, base_comment, base_manual):
                raise Conflict(mark)
            wanted = [e for e in (toggle, *(applied or ()), *apply, *remove) if e is not None]
            unknown = [e for e in wanted if e not in entries]
            if unknown:
                raise ValueError(f"{item} has no rubric entry {unknown[0]!r}")
            if toggle is not None:
                mark.applied = ([e for e in mark.applied if e != toggle] if toggle in mark.applied
                                else mark.applied + [toggle])
            if applied is not None:
                mark.applied = list(dict.fromkeys(applied))
            mark.applied = [e for e in mark.applied if e not in remove] + [e for e in apply if e not in mark.applied]
            if toggle is not None or apply or remove:
                mark.manual = None
            if comment is not None:
                mark.comment = str(comment)[:20000]
            if manual is not ...:
                if manual is not None:
                    manual = float(manual)
                    if not 0 <= manual <= WRITTEN_ITEMS[item]:
                        raise ValueError(f"{item}: {manual:g} is outside 0..{WRITTEN_ITEMS[item]}")
                mark.manual = manual
            mark.score = score_of(mark, entries, WRITTEN_ITEMS[item])
            mark.version += 1
            mark.updated, mark.by = _now(), by
            record = asdict(mark)
            del record["student"], record["item"], record["merged"]
            data["records"][student] = record
            atomic_write(path, json.dumps(data, indent=1, ensure_ascii=False))
        self._notify("mark", [student])
        mark.merged = merged
        return mark

    def set_entry(self, item: str, entry_id: str, version: int, *, points: float | None = None, text: str | None = None,
                  ta_only: bool | None = None) -> tuple[Entry, list[str]]:
        """Change a rubric entry (at ``version``) and re-score every record that applies it.

        Returns ``(Entry, [students whose score changed])``; raises ``Conflict`` (current ``Entry``).
        A re-scored record's version moves on, so a tab showing the old score must reload.
        """
        path = self._item_path(item)
        with self._locked(path):
            data = self._item_data(item)
            index = next((i for i, e in enumerate(data["rubric"]) if e["id"] == entry_id), None)
            if index is None:
                raise KeyError(f"{item} has no rubric entry {entry_id!r}")
            entry = Entry(**data["rubric"][index])
            if version != entry.version:
                raise Conflict(entry)
            if points is not None:
                entry.points = float(points)
            if text is not None:
                entry.text = str(text)[:2000]
            if ta_only is not None:
                entry.ta_only = bool(ta_only)
            entry.version += 1
            data["rubric"][index] = asdict(entry)
            changed = self._rescore(item, data)
            users = [sid for sid, r in data["records"].items() if entry_id in r.get("applied", [])]
            atomic_write(path, json.dumps(data, indent=1, ensure_ascii=False))
        self._notify("rubric", users)
        return entry, changed

    def add_entry(self, item: str, points: float, text: str, ta_only: bool = False) -> Entry:
        """Append a rubric entry; returns it."""
        path = self._item_path(item)
        with self._locked(path):
            data = self._item_data(item)
            taken = {e["id"] for e in data["rubric"]}
            number = len(taken) + 1
            while f"e{number}" in taken:
                number += 1
            entry = Entry(f"e{number}", float(points), str(text)[:2000], ta_only=bool(ta_only))
            data["rubric"].append(asdict(entry))
            atomic_write(path, json.dumps(data, indent=1, ensure_ascii=False))
        return entry

    def delete_entry(self, item: str, entry_id: str, version: int) -> list[Entry]:
        """Remove an unused rubric entry (at ``version``); returns the remaining ``[Entry]``.

        Raises ``ValueError`` naming the answers that apply it (remove it from them first, or set
        its points to 0: marks are never changed silently), ``KeyError``, ``Conflict``."""
        path = self._item_path(item)
        with self._locked(path):
            data = self._item_data(item)
            entry = next((Entry(**e) for e in data["rubric"] if e["id"] == entry_id), None)
            if entry is None:
                raise KeyError(f"{item} has no rubric entry {entry_id!r}")
            if version != entry.version:
                raise Conflict(entry)
            users = sorted(sid for sid, r in data["records"].items() if entry_id in r.get("applied", []))
            if users:
                raise ValueError(f"{item}: entry {entry_id} is applied to {len(users)} answer(s) "
                                 f"({', '.join(users[:5])}{', ...' if len(users) > 5 else ''}); remove it there first")
            data["rubric"] = [e for e in data["rubric"] if e["id"] != entry_id]
            atomic_write(path, json.dumps(data, indent=1, ensure_ascii=False))
        return [Entry(**e) for e in data["rubric"]]

    def reorder(self, item: str, order: list[str]) -> list[Entry]:
        """Put the rubric in ``order`` (every entry id once; number keys follow positions); returns it."""
        path = self._item_path(item)
        with self._locked(path):
            data = self._item_data(item)
            by_id = {e["id"]: e for e in data["rubric"]}
            if sorted(order) != sorted(by_id):
                raise ValueError(f"{item}: the new order must list each entry once ({', '.join(by_id)})")
            data["rubric"] = [by_id[e] for e in order]
            atomic_write(path, json.dumps(data, indent=1, ensure_ascii=False))
        return [Entry(**e) for e in data["rubric"]]

    def _rescore(self, item: str, data: dict[str, Any]) -> list[str]:
        entries = {e["id"]: Entry(**e) for e in data["rubric"]}
        changed = []
        for sid, record in data["records"].items():
            mark = Mark(sid, item, **record)
            score = score_of(mark, entries, WRITTEN_ITEMS[item])
            if score != mark.score:
                record["score"] = score
                record["version"] = mark.version + 1
                changed.append(sid)
        return changed

    def update_student(self, student: str, version: int, *, pages: dict[str, list[int]] | None = None,
                       comment: str | None = None) -> StudentNotes:
        """Change a student's page assignment (``{item: [page]}``) or general comment if at ``version``."""
        path = self.root / "students.json"
        with self._locked(path):
            data = self._read(path, {})
            notes = StudentNotes(student, **data[student]) if student in data else StudentNotes(student)
            if version != notes.version:
                raise Conflict(notes)
            if pages is not None:
                notes.pages = {item: sorted({int(p) for p in numbers if int(p) > 0})
                               for item, numbers in pages.items() if item in WRITTEN_ITEMS and numbers}
            if comment is not None:
                notes.comment = str(comment)[:20000]
            notes.version += 1
            record = asdict(notes)
            del record["student"]
            data[student] = record
            atomic_write(path, json.dumps(data, indent=1, ensure_ascii=False))
        self._notify("student", [student])
        return notes

    # -- the CSV snapshot (csvsync) ----------------------------------------------
    def exported(self) -> dict[str, dict[str, str]] | None:
        return self._read(self.root / "exported.json", None)

    def set_exported(self, table: dict[str, dict[str, str]]) -> None:
        atomic_write(self.root / "exported.json", json.dumps(table, indent=1, ensure_ascii=False))
