"""Build the solution notebook from ``notebook_source.py`` and strip it into the student template.

A code region between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` is the
answer: inside a function it becomes ``raise NotImplementedError(...)``, at the
top level it is dropped.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TYPE_CHECKING, cast

import nbformat

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "reference" / "notebook_source.py"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
_CELL = re.compile(r"^# %%( \[markdown\])?\s*$")
_INCLUDE = re.compile(r"^#> include (?P<file>[\w/.]+)(?::\s*(?P<names>.+))?$")
STUB = 'raise NotImplementedError("TODO: complete this function")'


class NotebookSourceError(ValueError):
    """The notebook source or an included file is malformed."""


def _regions(lines: Sequence[str]) -> list[tuple[int, int]]:
    """``[(begin, end)]`` 1-based line numbers of the top-level solution regions in ``lines``."""
    spans, start = [], None
    for number, line in enumerate(lines, start=1):
        if line == BEGIN:
            start = number
        elif line == END and start is not None:
            spans.append((start, number))
            start = None
    return spans


def function_span(lines: Sequence[str], node: ast.stmt) -> tuple[int, int]:
    """1-based first and last line of ``node`` with its decorators, the comments just above it
    and the indented comments closing its body (such as ``### END SOLUTION``)."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    while first > 1 and lines[first - 2].startswith("#") and lines[first - 2] not in (BEGIN, END):
        first -= 1
    last = cast(int, node.end_lineno)
    while last < len(lines) and lines[last].startswith((" ", "\t")) and lines[last].lstrip().startswith("#"):
        last += 1
    return first, last


def _definitions(path: str, names: Collection[str] | None = None) -> str:
    """Source of the top-level defs, classes and assignments of ``path`` (or only ``names``), in file order."""
    text = (ROOT / path).read_text()
    lines = text.splitlines()
    regions = _regions(lines)
    chunks: list[tuple[bool, str]]
    chunks, found = [], set()
    for node in ast.parse(text).body:
        if not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)):
            continue
        name = (cast(ast.Name, node.targets[0]).id if isinstance(node, ast.Assign)
                else getattr(node, "name", None) or cast(ast.Name, cast(ast.AnnAssign, node).target).id)

        if names is not None and name not in names:
            continue
        found.add(name)
        first, last = function_span(lines, node)
        chunk = "\n".join(lines[first - 1:last])
        if any(begin < first <= end for begin, end in regions):
            chunk = f"{BEGIN}\n{chunk}\n{END}"
        is_constant = isinstance(node, (ast.Assign, ast.AnnAssign))
        if chunks and is_constant and chunks[-1][0]:
            chunks[-1] = (True, chunks[-1][1] + "\n" + chunk)
        else:
            chunks.append((is_constant, chunk))
    missing = set(names or ()) - found
    if missing:
        raise NotebookSourceError(f"{path}: no top-level definition named {', '.join(sorted(missing))}")
    return "\n\n\n".join(chunk for _, chunk in chunks)


def _expand(code: str) -> str:
    lines = []
    for line in code.splitlines():
        match = _INCLUDE.match(line)
        if match:
            names = match["names"] and [n.strip() for n in match["names"].split(",")]
            lines.append(_definitions(match["file"], names))
        else:
            lines.append(line)
    return "\n".join(lines).strip("\n")


def _cells(source_text: str) -> list[tuple[str, str]]:
    """``[(kind, text)]`` from percent-format text; the header before the first cell is ignored."""
    cells, kind, body = [], None, []
    for line in source_text.splitlines() + ["# %%"]:
        match = _CELL.match(line)
        if not match:
            body.append(line)
            continue
        if kind == "markdown":
            cells.append(("markdown", "\n".join(re.sub(r"^# ?", "", line) for line in body).strip()))
        elif kind == "code":
            cells.append(("code", _expand("\n".join(body))))
        kind, body = ("markdown" if match[1] else "code"), []
    return cells[:-1] if cells and cells[-1] == ("code", "") else cells


def solution_notebook() -> nbformat.NotebookNode:
    """The solution notebook as an ``nbformat`` v4 object."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, text in _cells(SOURCE.read_text()):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        notebook.cells.append(make(text))
    return notebook


def strip_solutions(code: str) -> str:
    """``code`` with each solution region replaced by a stub (indented) or removed (top level)."""
    out, inside = [], None
    for line in code.splitlines():
        stripped = line.strip()
        if stripped == BEGIN:
            if inside is not None:
                raise NotebookSourceError("nested ### BEGIN SOLUTION")
            inside = line[: len(line) - len(line.lstrip())]
            if inside:
                out.append(f"{inside}{STUB}")
        elif stripped == END:
            if inside is None:
                raise NotebookSourceError("### END SOLUTION without a BEGIN")
            inside = None
        elif inside is None:
            out.append(line)
    if inside is not None:
        raise NotebookSourceError("### BEGIN SOLUTION without an END")
    return re.sub(r"\n{4,}", "\n\n\n", "\n".join(out)).strip("\n")


def template_notebook() -> nbformat.NotebookNode:
    """The student template: the solution notebook with every solution region stubbed out."""
    notebook = solution_notebook()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source)
    return notebook


def solution_lines() -> list[str]:

    """The non-blank lines inside solution regions, for the no-leak test."""
    lines, inside = [], False
    for cell in solution_notebook().cells:
        for line in cell.source.splitlines() if cell.cell_type == "code" else ():
            if line.strip() in (BEGIN, END):
                inside = line.strip() == BEGIN
            elif inside and line.strip():
                lines.append(line.strip())
    return lines
