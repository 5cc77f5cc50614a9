"""Rubric entries per written item, seeded from the marking guide in ``reference/answers.md``.

The guide comes in three forms, all read here:

- a ``Marking:`` sentence listing ``what (points)`` parts separated by ``;`` or ``,``
  (q1a, q1b, q2a, q3b, q3d, q5a, q5d);
- a numbered list whose steps end with ``(points)`` (q2b) or start with ``(points)``
  (q3a, q3c);
- ``(N mark for X, N for Y)`` inside the text (q1c).

When what is read does not add up to the item's marks (or nothing is found, as for
q5b) the item gets one entry "Fully correct" worth all its marks. Every item also gets
a last entry "No answer / no credit" worth 0, so that a zero is a key press too.

The guide's parts are the model answer in steps, so the entries read from it are
``ta_only``: a student's copy shows their points and whether they were applied, not
their text. "Fully correct" and "No answer / no credit" say nothing of the answer.
"""
import functools
import re

from graders.items import WRITTEN_ITEMS
from graders.marking.store import Entry
from graders.intake.answers import model_answers

POINTS = re.compile(r"\((\d+(?:\.\d+)?)\)")
SHORT = 150


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip(" ;,.:\n")
    text = re.sub(r"^(and|or)\s+", "", text)
    return text if len(text) <= SHORT else text[:SHORT - 1].rstrip() + "…"


def _from_marking_sentence(section: str) -> list[tuple[float, str]]:
    guide = section.split("Marking:", 1)[1]
    parts, start = [], 0
    for match in POINTS.finditer(guide):
        text = _tidy(guide[start:match.start()])
        if not text:
            break
        parts.append((float(match.group(1)), text))
        start = match.end()
        if guide[start:start + 2].startswith(".") and not guide[start:start + 2].startswith(".."):
            break  # the sentence ends: what follows is commentary
    return parts


def _from_numbered_list(section: str) -> list[tuple[float, str]]:
    parts = []
    for step in re.split(r"^\s*\d+\.\s+", section, flags=re.MULTILINE)[1:]:
        leading = re.match(r"\s*\((\d+(?:\.\d+)?)\)\s*", step)
        if leading:
            parts.append((float(leading.group(1)), _tidy(step[leading.end():])))
            continue
        trailing = list(POINTS.finditer(step))
        if trailing:
            parts.append((float(trailing[-1].group(1)), _tidy(step[:trailing[-1].start()])))
    return parts


def _from_inline_note(section: str) -> list[tuple[float, str]]:
    match = re.search(r"\((\d+) marks? for (?:the )?(.+?), (\d+) for (?:the )?(.+?)\)", section)
    if not match:
        return []
    return [(float(match.group(1)), _tidy(match.group(2))), (float(match.group(3)), _tidy(match.group(4)))]


def parse_guide(item: str, section: str) -> list[tuple[float, str]]:
    """``[(points, text)]`` read from one item's section of the answers file (may be empty)."""
    for reader in (_from_marking_sentence if "Marking:" in section else None, _from_numbered_list,
                   _from_inline_note):
        if reader is None:
            continue
        parts = reader(section)
        if parts and abs(sum(p for p, _ in parts) - WRITTEN_ITEMS[item]) < 1e-9:
            return parts
    return []


@functools.lru_cache(maxsize=None)
def _default_parts(item: str) -> tuple[tuple[float, str, bool], ...]:
    return tuple(_parts(item, model_answers()))


def _parts(item: str, answers: dict[str, str]) -> list[tuple[float, str, bool]]:
    """``[(points, text, ta_only)]``: the guide's parts (TA-only), else "Fully correct"; then "No credit"."""
    guide = [(points, text, True) for points, text in parse_guide(item, answers.get(item, ""))]
    return (guide or [(float(WRITTEN_ITEMS[item]), "Fully correct", False)]) + [(0.0, "No answer / no credit", False)]


def seed_entries(item: str, answers: dict[str, str] | None = None) -> list[Entry]:
    """The rubric ``item`` starts with: the guide's parts, else "Fully correct"; then "No credit".

    ``answers`` defaults to ``reference/answers.md``, read once per process.
    """
    parts = _default_parts(item) if answers is None else _parts(item, answers)
    return [Entry(f"e{number}", points, text, ta_only=ta_only)
            for number, (points, text, ta_only) in enumerate(parts, start=1)]

