"""``written_marks.csv`` as the store's import/export format.

``export(store, path, ids)`` rewrites the CSV from the store: every row already in the
file is kept (students of other batches too, with their cells as they were), a row is
added for each id in ``ids``, and each (student, item) the store has a record for gets the
record's score. What was written is remembered in the store (``exported.json``).

``import_hand_edits(store, path)`` reads the CSV and takes in every cell that differs
from what the store last exported there: that is a mark a person typed into the file. It
becomes the record's manual mark (a number outside ``0..max`` or not a number is reported,
not taken). With no export remembered (the first start on a folder marked by hand) every
non-empty cell is taken for a record that has no mark yet. A blank cell never clears a
mark. Returns notes, one line each, for the TA.
"""
import csv
from collections.abc import Iterable
from pathlib import Path

from graders.items import WRITTEN_ITEMS
from graders.marking.store import Conflict, MarkStore, atomic_write
from graders.marking.written import COLUMNS, parse_mark

try:
    from graders.safe_text import csv_cell, csv_value
except ImportError:  # pragma: no cover - safe_text lands with another change
    def csv_cell(value: object) -> str:
        return "" if value is None else str(value)

    def csv_value(cell: str | None) -> str:
        return cell or ""


def _fmt(score: float | None) -> str:
    return "" if score is None else f"{score:g}"


def read_rows(path: str | Path) -> dict[str, dict[str, str]]:
    """``{id: {column: text}}`` of the CSV (empty when it does not exist); texts un-neutralised."""
    path = Path(path)
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        return {csv_value(row.get("id") or "").strip(): {k: csv_value(v or "").strip() for k, v in row.items() if k}
                for row in csv.DictReader(handle) if (row.get("id") or "").strip()}


def import_hand_edits(store: MarkStore, path: str | Path, by: str = "written_marks.csv") -> list[str]:
    rows, snapshot, notes = read_rows(path), store.exported(), []
    for sid, row in rows.items():
        before = (snapshot or {}).get(sid, {})
        for item, maximum in WRITTEN_ITEMS.items():
            text = row.get(item, "")
            if not text or (snapshot is not None and text == before.get(item, "")):
                continue
            value, problem = parse_mark(text, maximum)
            if problem:
                notes.append(f"{path}: {sid} {item}: {problem}; not taken")
                continue
            mark = store.get(item, sid)
            if mark.score == value:
                continue
            if snapshot is None and mark.marked:
                notes.append(f"{path}: {sid} {item}: the file says {text}, the store {mark.score:g}; kept the store's")
                continue
            try:
                store.update(item, sid, mark.version, manual=value, by=by)
            except Conflict:
                notes.append(f"{path}: {sid} {item}: changed in the app meanwhile; not taken")
                continue
            notes.append(f"{path}: {sid} {item}: read in {value:g} (typed into the file)")
        comment = row.get("comment", "")
        if comment and comment != before.get("comment", ""):
            notes_of = store.student(sid)
            if notes_of.comment != comment:
                store.update_student(sid, notes_of.version, comment=comment)
    return notes


def export(store: MarkStore, path: str | Path, ids: Iterable[str] = ()) -> Path:
    """Rewrite ``path`` from the store, keeping every other row and cell; returns the path."""
    path = Path(path)
    rows = read_rows(path)
    for sid in ids:
        rows.setdefault(sid, {"id": sid})
    records = {item: store.marks_of_item(item) for item in WRITTEN_ITEMS}
    students = store.students()
    for sid in set().union(*records.values(), students):
        rows.setdefault(sid, {"id": sid})
    snapshot = {}
    for sid, row in rows.items():
        row["id"] = sid
        for item in WRITTEN_ITEMS:
            mark = records[item].get(sid)
            if mark is not None:
                row[item] = _fmt(mark.score)
        if sid in students and students[sid].version:
            row["comment"] = students[sid].comment
        snapshot[sid] = {c: row.get(c, "") for c in COLUMNS if c != "id"}
    lines = []

    class _Sink:
        def write(self, text: str) -> None:
            lines.append(text)

    writer = csv.writer(_Sink(), lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for sid in sorted(rows):
        writer.writerow([csv_cell(rows[sid].get(c, "")) for c in COLUMNS])
    atomic_write(path, "".join(lines))
    store.set_exported(snapshot)
    return path
