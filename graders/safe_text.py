"""Text from submissions made safe for terminals, spreadsheets and file names.

Ids and file names come from students (folder names, zip members); they may
hold control characters, escape sequences, lone surrogates (undecodable
bytes in a file name), spreadsheet formulas or names that collide with the
grader's own output files. Every function here is total: it accepts any
``str`` (or value) and never raises.

- ``clean_id(raw)``: the one normalisation of a student id, applied to ids
  derived from folder names (``graders.intake.discover``) and to the ``id`` column
  read back from ``written_marks.csv``, so both sides always agree.
- ``terminal_safe(text)``: printable on a terminal, one line, no escape
  sequences.
- ``display_name(text)``: a file name to show in a report (surrogates
  replaced, control characters escaped, length capped).
- ``csv_cell(value)`` / ``csv_value(cell)``: OWASP's CSV-injection
  neutralisation (a leading ``=``, ``+``, ``-``, ``@``, tab or CR gets a
  ``'`` prefix) and its exact inverse, for reading our own files back.
- ``page_name(sub_id, taken)`` / ``page_names(ids)``: a unique, safe report
  page file name per id.
"""
from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

ID_MAX = 120
PAGE_STEM_MAX = 80
DISPLAY_MAX = 200
SURROGATES = re.compile("[\ud800-\udfff]")
# C0, DEL, C1, line/paragraph separators, bidi overrides and isolates, BOM, zero-width joiners.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff]")
# Terminal escape sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), and two-byte escapes.
ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]"
                             r"|\x9b[0-?]*[ -/]*[@-~]")
CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CSV_QUOTED = re.compile("^'+[=+\\-@\t\r]")
RESERVED_PAGES = {"index", "grades", "results", "similarity", "written_marks", "models", "pdf", "pdfs",
                  "files", "assets", "static", "marking", "report", "reports"}
WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def _text(value: object) -> str:
    """``value`` as text with lone surrogates replaced by U+FFFD."""
    text = value if isinstance(value, str) else str(value)
    return SURROGATES.sub("\ufffd", text)


def replace_surrogates(text: str) -> str:
    """``text`` with every lone surrogate (invalid UTF-8 in a file name, ``\\ud800`` in JSON) as U+FFFD."""
    return _text(text)


def clean_id(raw: object) -> str:
    """The normal form of a student id; idempotent (``clean_id(clean_id(x)) == clean_id(x)``).

    NFC; lone surrogates become U+FFFD; each run of control characters,
    invisible format characters and whitespace becomes one space; leading and
    trailing spaces are removed; at most ``ID_MAX`` characters; ``"unnamed"``
    when nothing is left.
    """
    text = unicodedata.normalize("NFC", _text(raw))
    text = ESCAPE_SEQUENCE.sub(" ", text)
    text = re.sub(r"(?:\s|" + UNSAFE.pattern + ")+", " ", text).strip()
    text = text[:ID_MAX].strip()
    return text or "unnamed"


def terminal_safe(text: object, limit: int | None = None) -> str:
    """``text`` safe to print: escape sequences and control characters shown as ``\\xNN`` text, one line.

    Nothing a terminal interprets survives (ESC, CSI, BEL, CR, newlines, bidi
    overrides); the visible escapes keep the text recognisable. ``limit`` caps
    the length (an ellipsis marks the cut).
    """
    text = _text(text)
    text = UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                      text)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


def display_name(text: object, limit: int = DISPLAY_MAX) -> str:
    """A file name fit for a report or a JSON field: terminal-safe, at most ``limit`` characters.

    A long name keeps its end (the file name), prefixed with an ellipsis.
    """
    text = terminal_safe(text)
    if len(text) > limit:
        text = "…" + text[-(limit - 1):]
    return text


def csv_cell(value: object) -> str:
    """``value`` as a spreadsheet-safe CSV cell (OWASP): a leading ``= + - @``, tab or CR gets a ``'`` prefix.

    Text that already starts with quotes before such a character gets one
    more, so ``csv_value`` undoes exactly this and nothing else. ``None`` is
    the empty cell; numbers are written as text.
    """
    if value is None:
        return ""
    text = _text(value)
    if text.startswith(CSV_TRIGGERS) or CSV_QUOTED.match(text):
        return "'" + text
    return text


def csv_value(cell: str | None) -> str:
    """The inverse of ``csv_cell``: the text a cell written by it stood for."""
    text = _text(cell if cell is not None else "")
    return text[1:] if CSV_QUOTED.match(text) else text


def _page_stem(sub_id: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", clean_id(sub_id))
    stem = stem[:PAGE_STEM_MAX].strip("._- ")
    if not stem:
        return "student"
    base = stem.split(".")[0].lower()
    if stem.lower() in RESERVED_PAGES or base in RESERVED_PAGES or base in WINDOWS_RESERVED:
        stem = "student_" + stem
    return stem


def page_name(sub_id: str, taken: set[str], suffix: str = ".html") -> str:
    """A safe file name for ``sub_id``'s page, not in ``taken`` (compared case-insensitively); adds it there.

    ASCII letters, digits, ``.``, ``_`` and ``-`` only; no leading or trailing
    dot, space, dash or underscore; never one of the grader's own files
    (``index``, ``grades``, ``results``, ``similarity``, ``written_marks``...)
    nor a Windows device name (``CON``, ``NUL``, ``COM1``...); the stem at most
    ``PAGE_STEM_MAX`` characters; ``-2``, ``-3``... added until unique.
    """
    stem = _page_stem(sub_id)
    name, number = stem + suffix, 1
    while name.lower() in taken:
        number += 1
        name = f"{stem}-{number}{suffix}"
    taken.add(name.lower())
    return name


def page_names(ids: Iterable[str], suffix: str = ".html") -> dict[str, str]:
    """``{id: page file name}`` for a batch, unique and independent of the order ``ids`` come in."""
    taken: set[str]
    taken, names = set(), {}
    for sub_id in sorted(set(ids), key=lambda i: (_page_stem(i).lower(), _text(i))):
        names[sub_id] = page_name(sub_id, taken, suffix)
    return names
