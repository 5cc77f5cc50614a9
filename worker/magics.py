"""IPython magics and shell escapes read as Python, in time linear in the cell's length.

IPython's ``TransformerManager.transform_cell`` re-tokenizes the whole cell once per magic it
rewrites, up to 500 passes: a cell of 520 ``%time`` lines costs minutes and then raises, 5,000
``!echo`` lines cost as much. Here each magic line is rewritten on its own (IPython's transformer on
that one line, so ``x = !ls`` and ``%time f()`` read exactly as IPython reads them) and a leading cell
magic (``%%time``) makes the whole cell one magic call. IPython's whole-cell transformer is kept as a
fallback for short cells only (``WHOLE_CELL_LINES``), where its cost is bounded.

Used by the loader (inside the sandbox) and by the similarity tokeniser (in the grader): pure text in,
text out; no student code runs.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from IPython.core.inputtransformer2 import TransformerManager

# A line that starts a magic or shell escape: ``%time ...``, ``!ls``, ``x = !ls``, ``x = %env``, ``obj?``.
MAGIC_LINE = re.compile(r"^[ \t]*(?:[!%]|[A-Za-z_][\w.]*(?:[ \t]*,[ \t]*[A-Za-z_][\w.]*)*[ \t]*=[ \t]*[!%]"
                        r"|[A-Za-z_][\w.]*\?\??[ \t]*$|\?)")
CELL_MAGIC = re.compile(r"^[ \t]*%%([A-Za-z_][\w-]*)")
WHOLE_CELL_LINES = 200


def _transformer() -> TransformerManager:
    from IPython.core.inputtransformer2 import TransformerManager
    return TransformerManager()


def transform_cell(text: str) -> str:
    """``text`` with its magics as ``get_ipython()`` calls; unchanged when it holds none. The result may
    still not parse (then the cell is not Python, magics or not)."""
    magic = CELL_MAGIC.match(text)
    if magic:
        return f"get_ipython().run_cell_magic({magic.group(1)!r}, '', '')\n"
    lines = text.split("\n")
    if not any(MAGIC_LINE.match(line) for line in lines):
        return text
    manager = _transformer()
    out = []
    for line in lines:
        if MAGIC_LINE.match(line):
            indent = line[:len(line) - len(line.lstrip())]
            try:
                line = indent + manager.transform_cell(line.strip()).strip()
            except Exception:  # noqa: BLE001 - IPython rejects some malformed magics: the line stays
                pass
        out.append(line)
    return "\n".join(out)


def python_text(text: str, parses: Callable[[str], bool]) -> str:
    """``text`` as Python for a cell that the predicate ``parses`` rejects: the line-wise transform above,
    or IPython's whole-cell transformer when that does not parse and the cell is short. The caller parses
    the result (it may still not be Python)."""
    python = transform_cell(text)
    if parses(python) or text.count("\n") >= WHOLE_CELL_LINES:
        return python
    try:
        whole = _transformer().transform_cell(text)
    except Exception:  # noqa: BLE001 - IPython's own limits on hostile text
        return python
    return whole if parses(whole) else python
