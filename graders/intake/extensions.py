"""Per-student deadline extensions (``--extensions FILE``) for the late rule.

The file is a CSV with a header row naming the columns ``id`` and ``deadline``
(any other columns, such as a reason, are ignored)::

    id,deadline,reason
    Ann Bo_123456,2022-12-10T23:59,medical
    123457,2022-12-09T12:00,

``id`` is a submission id as the reports show it, or, for a Moodle download, the
participant number alone or the student's full name (when no other student has it).
``deadline`` is an ISO date and time. Every problem names the file and line.
"""
import csv
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from graders.errors import UserError
from graders.results import MoodleIdentity


class ExtensionsError(UserError, ValueError):
    """A problem in the extensions file; one line naming the file and row."""


def _aliases(students: Mapping[str, MoodleIdentity | None]) -> dict[str, set[str]]:
    """``{alias: {id}}``: each id under itself and, for a Moodle download, its participant number and
    full name (``SubmissionInfo.moodle``, as discovery read them from the folder name)."""
    aliases: dict[str, set[str]] = {}
    for sub_id, moodle in students.items():
        names = {sub_id}
        if moodle is not None:
            names |= {moodle.participant, moodle.full_name.casefold()}
        for name in names:
            aliases.setdefault(name, set()).add(sub_id)
    return aliases


def read_extensions(path: str | Path, students: Mapping[str, MoodleIdentity | None]) -> dict[str, datetime]:
    """``{submission id: deadline}`` from the file at ``path`` for the batch's ``students`` (``{id: its Moodle
    identity or None}``); raises ``ExtensionsError``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ExtensionsError(f"{path}: cannot be read ({error})") from None
    rows = csv.DictReader(text.splitlines())
    columns = {c.strip().lower(): c for c in rows.fieldnames or []}
    if "id" not in columns or "deadline" not in columns:
        raise ExtensionsError(f"{path}: expected a header row with the columns id and deadline")
    aliases, out = _aliases(students), {}
    for line, row in enumerate(rows, start=2):
        key, when = (row.get(columns["id"]) or "").strip(), (row.get(columns["deadline"]) or "").strip()
        if not key and not when:
            continue
        matches = aliases.get(key) or aliases.get(key.casefold()) or set()
        if len(matches) != 1:
            why = "matches no submission" if not matches else f"matches {len(matches)} submissions"
            raise ExtensionsError(f"{path}, line {line}: id {key!r} {why}")
        try:
            deadline = datetime.fromisoformat(when)
        except ValueError:
            raise ExtensionsError(f"{path}, line {line}: deadline {when!r} is not a date and time like "
                                  f"2022-12-10T23:59") from None
        out[matches.pop()] = deadline
    return out
