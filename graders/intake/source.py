"""Read a submission's code and markdown cells without running anything.

Contract: ``read_cells(path)`` returns ``SourceCells`` or raises
``UnreadableSource`` with a one-line reason; no other exception escapes, for
any file content (hostile JSON, deep nesting, lone surrogates, odd types) or
any kind of path (FIFO, device, unreadable). Text in the result never holds a
lone surrogate or NUL (each becomes U+FFFD). Sizes are capped: the file at
``MAX_SOURCE_BYTES``, the notebook at ``MAX_CELLS`` cells, each cell at
``MAX_CELL_CHARS`` characters, JSON nesting at ``MAX_JSON_DEPTH``.

Notebooks are read from their JSON directly (nbformat 4, and the
``worksheets`` layout of nbformat 2 and 3), not through ``nbformat``, whose
conversion and schema validation recurse and raise unpredictably.
"""
from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

PY_CELL = re.compile(r"^# (?:%%|In\[[ \d]*\]:)")
MAX_SOURCE_BYTES = 5 * 2**20
MAX_CELLS = 2000
MAX_CELL_CHARS = 2**20
MAX_JSON_DEPTH = 64
BAD_CHARS = re.compile("[\ud800-\udfff\x00]")
BRACKETS = re.compile(r'[\[\]{}"\\]')


class UnreadableSource(ValueError):
    """The file is not a notebook or Python source we can read; one line for the user."""


@dataclass
class SourceCells:
    code: list = field(default_factory=list)       # [(label, text)], label like "cell 7"
    markdown: list = field(default_factory=list)   # [text]


def _clean(text: str) -> str:
    return BAD_CHARS.sub("\ufffd", text)


def _json_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting in JSON ``text`` (brackets inside strings not counted)."""
    depth = deepest = 0
    in_string, skip_at = False, -1
    for match in BRACKETS.finditer(text):
        position, char = match.start(), match.group()
        if position == skip_at:
            continue
        if in_string:
            if char == "\\":
                skip_at = position + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _cell_text(value: object, label: str) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, list) and all(isinstance(part, str) for part in value):
        text = "".join(value)
    else:
        raise UnreadableSource(f"{label}: its source is a {type(value).__name__}, not text")
    if len(text) > MAX_CELL_CHARS:
        raise UnreadableSource(f"{label} holds {len(text) // 1024} KiB; cells over "
                               f"{MAX_CELL_CHARS // 1024} KiB are not graded")
    return _clean(text)


def _raw_cells(notebook: object) -> tuple[list[Any], str]:
    """The list of cell objects of a v4 notebook, or of v2/v3's worksheets, with the key holding code."""
    if not isinstance(notebook, dict):
        raise UnreadableSource(f"not a Jupyter notebook (the JSON is a {type(notebook).__name__}, not an object)")
    version = notebook.get("nbformat", 4)
    if isinstance(version, bool) or not isinstance(version, int):
        raise UnreadableSource(f"not a Jupyter notebook (nbformat is {str(version)[:20]!r}, not a number)")
    if version >= 4 or "cells" in notebook:
        cells = notebook.get("cells")
        if not isinstance(cells, list):
            raise UnreadableSource("not a Jupyter notebook (no list of 'cells')")
        return cells, "source"
    worksheets = notebook.get("worksheets")
    if not isinstance(worksheets, list) or not all(isinstance(w, dict) for w in worksheets):
        raise UnreadableSource(f"an nbformat {version} notebook without a list of 'worksheets'")
    cells = []
    for sheet in worksheets:
        sheet_cells = sheet.get("cells", [])
        if not isinstance(sheet_cells, list):
            raise UnreadableSource("a worksheet's 'cells' is not a list")
        cells += sheet_cells
    return cells, "input"


def _notebook_cells(raw: str) -> SourceCells:
    depth = _json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise UnreadableSource(f"not a usable Jupyter notebook (JSON nested {depth} deep; a notebook "
                               f"needs under {MAX_JSON_DEPTH})")
    try:
        notebook = json.loads(raw)
    except (ValueError, RecursionError, MemoryError) as error:
        reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        raise UnreadableSource(f"not a valid Jupyter notebook ({reason})") from None
    cells, code_key = _raw_cells(notebook)
    if len(cells) > MAX_CELLS:
        raise UnreadableSource(f"the notebook has {len(cells)} cells; notebooks over {MAX_CELLS} cells are not graded")
    result = SourceCells()
    for number, cell in enumerate(cells, start=1):
        label = f"cell {number}"
        if not isinstance(cell, dict):
            raise UnreadableSource(f"{label} is a {type(cell).__name__}, not a notebook cell")
        kind = cell.get("cell_type")
        if kind == "code":
            result.code.append((label, _cell_text(cell.get(code_key, cell.get("source", "")), label)))
        elif kind in ("markdown", "heading"):
            result.markdown.append(_cell_text(cell.get("source", ""), label))
    return result


def _python_cells(text: str) -> SourceCells:
    body: list[str]
    cells, label, body = SourceCells(), "line 1", []
    for number, line in enumerate(text.splitlines(), start=1):
        if PY_CELL.match(line):
            if body:
                cells.code.append((label, "\n".join(body)))
            label, body = f"line {number}", []
        body.append(line)
    if body:
        cells.code.append((label, "\n".join(body)))
    if len(cells.code) > MAX_CELLS:
        raise UnreadableSource(f"the file has {len(cells.code)} cells; files over {MAX_CELLS} cells are not graded")
    return cells


def _read_bytes(path: str | os.PathLike[str]) -> bytes:
    """At most ``MAX_SOURCE_BYTES + 1`` bytes of a regular file; never blocks on a FIFO or device."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as error:
        raise UnreadableSource(f"cannot read the file ({error.strerror or type(error).__name__})") from None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise UnreadableSource("not a regular file")
        chunks, size = [], 0
        while size <= MAX_SOURCE_BYTES:
            chunk = os.read(descriptor, min(2**20, MAX_SOURCE_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError as error:
        raise UnreadableSource(f"cannot read the file ({error.strerror or type(error).__name__})") from None
    finally:
        os.close(descriptor)


def read_cells(path: str | os.PathLike[str]) -> SourceCells:
    """``SourceCells`` of a ``.ipynb`` or ``.py`` file; raises only ``UnreadableSource`` (one line)."""
    try:
        data = _read_bytes(path)
        if not data.strip():
            raise UnreadableSource("the file is empty")
        if len(data) > MAX_SOURCE_BYTES:
            raise UnreadableSource(f"the file is over {MAX_SOURCE_BYTES // 2**20} MiB; larger sources are not graded")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UnreadableSource("not a text file (not UTF-8)") from None
        if str(path).lower().endswith(".ipynb"):
            return _notebook_cells(text)
        return _python_cells(_clean(text))
    except UnreadableSource:
        raise
    except (RecursionError, MemoryError, Exception) as error:  # the contract: nothing else escapes
        reason = str(error).splitlines()[0][:120] if str(error) else ""
        raise UnreadableSource(f"could not be read ({type(error).__name__}{': ' + reason if reason else ''})") from None
