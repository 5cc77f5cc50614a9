"""Written items: the TA's marks file (CSV), read and written (the answers: ``graders.intake.answers``)."""
import csv
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from graders.items import WRITTEN_ITEMS
from graders.safe_text import clean_id, csv_cell, csv_value
from graders.errors import UserError

COLUMNS = ["id", *WRITTEN_ITEMS, "comment"]


class MarksError(UserError, ValueError):
    """Problems in the marks file, each naming its row and column."""


def parse_mark(text: str, maximum: float) -> tuple[float | None, str]:
    """``(value, "")`` for a mark in 0..``maximum`` written as ``text``, else ``(None, why)``."""
    try:
        value = float(text)
    except ValueError:
        return None, f"{text!r} is not a number"
    if not 0 <= value <= maximum:
        return None, f"{text} is outside 0..{maximum}"
    return value, ""


def read_marks(path: str | Path, known_ids: Collection[str], notes: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """``{id: {"marks": {item: float}, "comment": str}}`` for ``known_ids``; raises ``MarksError`` listing problems.

    Rows for students not in ``known_ids`` (another batch graded into the same folder, a
    student who withdrew) are kept in the file and ignored here; each adds a line to
    ``notes`` when a list is given.
    """
    path = Path(path)
    if not path.exists():
        return {}
    problems, marks = [], {}
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        unknown_columns = [c for c in reader.fieldnames or [] if c not in COLUMNS]
        if "id" not in (reader.fieldnames or []):
            raise MarksError(f"{path}: no 'id' column (expected columns {', '.join(COLUMNS)})")
        for column in unknown_columns:
            problems.append(f"{path}: unknown column {column!r} (written items are {', '.join(WRITTEN_ITEMS)})")
        for number, row in enumerate(reader, start=2):
            raw_id = csv_value(row.get("id") or "").strip()  # the same clean_id as discover's ids
            sub_id = clean_id(raw_id) if raw_id else ""
            if sub_id not in known_ids:
                if notes is not None and sub_id:
                    notes.append(f"{path} row {number}: {sub_id!r} is not in this batch; row kept, not used")
                continue
            entry: dict[str, Any] = {"marks": {}, "comment": csv_value(row.get("comment") or "").strip()}
            for item, maximum in WRITTEN_ITEMS.items():
                text = csv_value(row.get(item) or "").strip()
                if not text:
                    continue
                value, problem = parse_mark(text, maximum)
                if problem:
                    problems.append(f"{path} row {number}, column {item}: {problem}")
                    continue
                entry["marks"][item] = value
            marks[sub_id] = entry
    if problems:
        raise MarksError("; ".join(problems))
    return marks


def write_marks_file(path: str | Path, ids: Iterable[str]) -> Path:
    """Write the marks file with a row per id; rows and values already there are kept as they are."""
    path = Path(path)
    rows = {}
    if path.exists():
        with open(path, newline="", encoding="utf-8") as handle:
            rows = {clean_id(csv_value(row.get("id") or "")): {k: csv_value(v) for k, v in row.items() if k}
                    for row in csv.DictReader(handle) if csv_value(row.get("id") or "").strip()}
    for sub_id in ids:
        rows.setdefault(sub_id, {"id": sub_id})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for sub_id in sorted(rows):
            writer.writerow({c: csv_cell(sub_id if c == "id" else rows[sub_id].get(c, "")) for c in COLUMNS})
    return path
