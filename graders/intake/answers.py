"""The written answers: a student's, from the markdown cells of their notebook, and the TA's model
answers, from ``reference/answers.md``. Plain text in, ``{item: text}`` out."""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from graders.items import WRITTEN_ITEMS

if TYPE_CHECKING:
    from collections.abc import Iterable

ANSWER_HEADING = re.compile(r"^\s*#{1,6}\s*Answer\s+(q\d[a-z])\b", re.IGNORECASE | re.MULTILINE)
ANSWERS = Path(__file__).resolve().parents[2] / "reference" / "answers.md"


def extract_answers(markdown_cells: Iterable[str]) -> dict[str, str]:
    """``{item: text}`` from markdown cells headed ``## Answer q1a`` (the rest of the cell is the answer)."""
    answers = {}
    for text in markdown_cells:
        match = ANSWER_HEADING.search(text)
        if match and match.group(1).lower() in WRITTEN_ITEMS:
            body = text[match.end():].strip()
            if body and body != "*(your answer)*":
                answers[match.group(1).lower()] = body
    return answers


def model_answers(path: Path = ANSWERS) -> dict[str, str]:
    """``{item: text}`` from the TA answers file, sections headed ``## q1a [5]``."""
    if not path.exists():
        return {}
    sections = re.split(r"^## (q\d[a-z]) \[\d+\]\s*$", path.read_text(), flags=re.MULTILINE)
    return {sections[i]: sections[i + 1].strip() for i in range(1, len(sections) - 1, 2)}
