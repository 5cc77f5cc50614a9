"""Image outputs of the notebook cells that belong to each written question.

A code cell belongs to the questions of the last heading above it: a heading
``## Question 3`` (or ``Q3``) covers every written item of question 3 (q3a-q3d), a
heading ``## Question 5(d)`` only q5d, ``## Questions 1 and 2`` the items of both, and
``## Answer q3b`` only q3b (a plot placed under the answer). Other headings of level 1-2
end the question. PNG, JPEG and SVG outputs are kept (shown as ``<img>`` data URIs, where
an SVG's scripts never run).

The notebook may be gone when the TA marks (a batch unpacked from a zip into a temporary
folder), so ``images(result, out_dir)`` reads it once, while it still exists, and keeps
what it found in ``OUT/marking/cells/<fingerprint or id>.json``; the report writer calls it
at grading time.
"""
import base64
import hashlib
import json
import re
from pathlib import Path

from graders.items import WRITTEN_ITEMS

HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*)$", re.MULTILINE)
QUESTION = re.compile(r"\b(?:questions?|q)\s*(\d)(?:\s*\(?([a-z])\)?(?![a-z]))?((?:\s*(?:,|and|&)\s*\d)*)",
                      re.IGNORECASE)
ANSWER = re.compile(r"^answer\s+(q\d[a-z])\b", re.IGNORECASE)
MIME = ("image/png", "image/jpeg", "image/svg+xml")
MAX_BYTES = 8 * 2**20


def _items_of_heading(title):
    """The written items a heading's title covers; ``None`` when it is no question heading."""
    answer = ANSWER.match(title.strip())
    if answer:
        item = answer.group(1).lower()
        return {item} if item in WRITTEN_ITEMS else set()
    match = QUESTION.search(title)
    if not match:
        return None
    numbers = {match.group(1), *re.findall(r"\d", match.group(3) or "")}
    if match.group(2):
        item = f"q{match.group(1)}{match.group(2).lower()}"
        return {item} if item in WRITTEN_ITEMS else set()
    return {item for item in WRITTEN_ITEMS if item[1] in numbers}


def _text(value):
    return "".join(value) if isinstance(value, list) else str(value or "")


def notebook_images(notebook):
    """``{item: [{"cell": n, "mime": m, "data": base64}]}`` from a notebook dict (nbformat 4 JSON)."""
    found, current = {}, set()
    for number, cell in enumerate(notebook.get("cells", []), start=1):
        if cell.get("cell_type") == "markdown":
            for level, title in HEADING.findall(_text(cell.get("source"))):
                covered = _items_of_heading(title)
                if covered is not None:
                    current = covered
                elif len(level) <= 2:
                    current = set()
            continue
        if cell.get("cell_type") != "code" or not current:
            continue
        for output in cell.get("outputs", []) or []:
            data = output.get("data", {}) if isinstance(output, dict) else {}
            mime = next((m for m in MIME if m in data), None)
            if mime is None:
                continue
            payload = _text(data[mime])
            if mime == "image/svg+xml":
                payload = base64.b64encode(payload.encode()).decode()
            payload = payload.replace("\n", "")
            for item in sorted(current):
                found.setdefault(item, []).append({"cell": number, "mime": mime, "data": payload})
    return found


def _cache_path(result, out_dir):
    key = result.info.get("fingerprint") or hashlib.sha256(result.id.encode()).hexdigest()[:20]
    return Path(out_dir) / "marking" / "cells" / f"{key}.json"


def images(result, out_dir):
    """The cached or freshly read images of ``result``'s notebook; ``{}`` when there is none."""
    cache = _cache_path(result, out_dir)
    if cache.exists():
        try:
            return json.loads(cache.read_text())
        except ValueError:
            pass
    source = Path(result.info.get("source") or "")
    if source.suffix != ".ipynb" or not source.is_file() or source.stat().st_size > MAX_BYTES * 4:
        return {}
    try:
        found = notebook_images(json.loads(source.read_text(encoding="utf-8")))
    except (OSError, ValueError, AttributeError, TypeError):
        return {}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(found))
    return found
