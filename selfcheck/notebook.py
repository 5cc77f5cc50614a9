"""The code cells of a student's notebook (.ipynb) or its .py export, labelled as the grader labels them."""
import json
import re
from pathlib import Path

PY_CELL = re.compile(r"^# (?:%%|In\[[ \d]*\]:)")


class NotebookError(ValueError):
    """The file cannot be read as a notebook or a .py export; one line for the student."""


def code_cells(path: Path) -> list[tuple[str, str]]:
    """``[(label, text)]`` of the code cells in notebook order: ``cell N`` (N counts every cell, as
    ``graders.intake.source`` does) for a notebook, ``line N`` (a cell's first line) for a .py export."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise NotebookError(f"{path}: cannot read it ({error})") from None
    if str(path).lower().endswith(".py"):
        return _python_cells(text)
    try:
        notebook = json.loads(text)
        cells = notebook["cells"]
    except (ValueError, KeyError, TypeError):
        raise NotebookError(f"{path}: not a Jupyter notebook (nbformat 4 JSON with a list of cells)") from None
    found = []
    for number, cell in enumerate(cells, start=1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            found.append((f"cell {number}", "".join(source) if isinstance(source, list) else str(source)))
    return found


def _python_cells(text: str) -> list[tuple[str, str]]:
    cells, label = [], "line 1"
    body: list = []
    for number, line in enumerate(text.splitlines(), start=1):
        if PY_CELL.match(line):
            if body:
                cells.append((label, "\n".join(body)))
            label, body = f"line {number}", []
        body.append(line)
    if body:
        cells.append((label, "\n".join(body)))
    return cells
