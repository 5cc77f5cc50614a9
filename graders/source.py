"""Read a submission's code and markdown cells without running anything."""
import json
import re
from dataclasses import dataclass, field

import nbformat

PY_CELL = re.compile(r"^# (?:%%|In\[[ \d]*\]:)")
MAX_SOURCE_BYTES = 5 * 2**20


class UnreadableSource(ValueError):
    """The file is not a notebook or Python source we can read; one line for the user."""


@dataclass
class SourceCells:
    code: list = field(default_factory=list)       # [(label, text)], label like "cell 7"
    markdown: list = field(default_factory=list)   # [text]


def _notebook_cells(raw):
    try:
        notebook = nbformat.reads(raw, as_version=4)
    except (json.JSONDecodeError, nbformat.reader.NotJSONError, ValueError, KeyError, TypeError) as error:
        raise UnreadableSource(f"not a valid Jupyter notebook ({str(error).splitlines()[0][:120]})") from None
    cells = SourceCells()
    for number, cell in enumerate(notebook.get("cells", []), start=1):
        text = cell.get("source", "")
        text = "".join(text) if isinstance(text, list) else str(text)
        if cell.get("cell_type") == "code":
            cells.code.append((f"cell {number}", text))
        elif cell.get("cell_type") == "markdown":
            cells.markdown.append(text)
    return cells


def _python_cells(text):
    cells, label, body = SourceCells(), "line 1", []
    for number, line in enumerate(text.splitlines(), start=1):
        if PY_CELL.match(line):
            if body:
                cells.code.append((label, "\n".join(body)))
            label, body = f"line {number}", []
        body.append(line)
    if body:
        cells.code.append((label, "\n".join(body)))
    return cells


def read_cells(path):
    """``SourceCells`` of a ``.ipynb`` or ``.py`` file; raises ``UnreadableSource``."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UnreadableSource(f"cannot read the file ({error.strerror})") from None
    if not data.strip():
        raise UnreadableSource("the file is empty")
    if len(data) > MAX_SOURCE_BYTES:
        raise UnreadableSource(f"the file is {len(data) // 2**20} MiB; sources over 5 MiB are not graded")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableSource("not a text file (not UTF-8)") from None
    if path.suffix == ".ipynb":
        return _notebook_cells(text)
    return _python_cells(text)
