"""Image outputs of the notebook cells that belong to each written question.

A code cell belongs to the questions of the last heading above it: a heading
``## Question 3`` (or ``Q3``) covers every written item of question 3 (q3a-q3d), a
heading ``## Question 5(d)`` only q5d, ``## Questions 1 and 2`` the items of both, and
``## Answer q3b`` only q3b (a plot placed under the answer). Other headings of level 1-2
end the question. PNG, JPEG and SVG outputs are kept.

A plot's payload is student data placed inside an attribute, so it is checked before any
page gets it (``checked_plot``): strict base64 (nothing but ``A-Z a-z 0-9 + / =``), at
most ``MAX_BYTES`` decoded, and the bytes are what the declared type says (PNG and JPEG by
their signatures, SVG as UTF-8 XML text with an ``<svg`` root). A plot that fails is kept
as a one-line ``problem`` shown instead of the image. SVG is kept because matplotlib's
``%config InlineBackend.figure_formats = ['svg']`` is common; it is only ever shown as an
``<img>`` from a ``data:`` URI, where a browser draws SVG in secure static mode (no script,
no event handler, nothing fetched), never inlined into the page.

The notebook may be gone when the TA marks (a batch unpacked from a zip into a temporary
folder), so ``images(result, out_dir)`` reads it once, while it still exists, and keeps
what it found in ``OUT/marking/cells/<fingerprint or id>.json``; the report writer calls it
at grading time. The notebook read is the local file graded (``info["source_path"]``), not
the name shown (``info["source"]``, e.g. ``A4.zip/A4.ipynb``, which is no path).
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graders.items import WRITTEN_ITEMS

if TYPE_CHECKING:
    from graders.results import SubmissionResult

HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*)$", re.MULTILINE)
QUESTION = re.compile(r"\b(?:questions?|q)\s*(\d)(?:\s*\(?([a-z])\)?(?![a-z]))?((?:\s*(?:,|and|&)\s*\d)*)",
                      re.IGNORECASE)
ANSWER = re.compile(r"^answer\s+(q\d[a-z])\b", re.IGNORECASE)
MIME = ("image/png", "image/jpeg", "image/svg+xml")
MAX_BYTES = 8 * 2**20
SIGNATURES = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",)}
BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
SVG_ROOT = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*<svg[\s>]", re.DOTALL)


def _items_of_heading(title: str) -> set[str] | None:
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


def _text(value: object) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def plot_problem(mime: str, payload: object) -> str:
    """Why ``payload`` is not a base64 image of type ``mime`` (one line), or ``""`` when it is one."""
    if mime not in MIME:
        return f"output type {str(mime)[:40]!r} is not shown"
    if not isinstance(payload, str) or not payload:
        return "empty image output"
    if len(payload) > MAX_BYTES * 4 // 3 + 4:
        return f"image output over {MAX_BYTES // 2**20} MiB, not shown"
    if len(payload) % 4 or not BASE64.fullmatch(payload):
        return "image output is not valid base64, not shown"
    data = base64.b64decode(payload, validate=True)
    if mime == "image/svg+xml":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return "SVG output is not UTF-8 text, not shown"
        return "" if SVG_ROOT.match(data[:4096]) else "SVG output has no <svg> root, not shown"
    return "" if data.startswith(SIGNATURES[mime]) else f"output is not a {mime.split('/')[1].upper()} image, not shown"


def checked_plot(plot: object) -> dict | None:
    """``{"cell", "mime", "data"}`` when the plot is a valid image, else ``{"cell", "mime", "problem"}``;
    ``None`` for something that is no plot record at all."""
    if not isinstance(plot, dict) or not isinstance(plot.get("cell"), int):
        return None
    mime = str(plot.get("mime", ""))[:40]
    if "data" not in plot and isinstance(plot.get("problem"), str):   # checked before (the cache)
        return {"cell": plot["cell"], "mime": mime, "problem": plot["problem"][:200]}
    problem = plot_problem(mime, plot.get("data"))
    if problem:
        return {"cell": plot["cell"], "mime": mime, "problem": problem}
    return {"cell": plot["cell"], "mime": mime, "data": plot["data"]}


def notebook_images(notebook: dict[str, Any]) -> dict[str, list[dict | None]]:
    """``{item: [{"cell": n, "mime": m, "data": base64}]}`` from a notebook dict (nbformat 4 JSON)."""
    found: dict[str, list[dict | None]]
    current: set[str]
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
                payload = base64.b64encode(payload.encode("utf-8", "replace")).decode()
            plot = checked_plot({"cell": number, "mime": mime, "data": re.sub(r"\s+", "", payload)})
            for item in sorted(current):
                found.setdefault(item, []).append(plot)
    return found


def _cache_path(result: SubmissionResult, out_dir: str | Path) -> Path:
    key = result.info.fingerprint or hashlib.sha256(result.id.encode()).hexdigest()[:20]
    return Path(out_dir) / "marking" / "cells" / f"{key}.json"


def _checked(found: object) -> dict:
    """``found`` (read back from the cache, which is a file anyone may have edited) with every plot checked."""
    if not isinstance(found, dict):
        return {}
    out = {}
    for item, plots in found.items():
        if item in WRITTEN_ITEMS and isinstance(plots, list):
            out[item] = [p for p in map(checked_plot, plots) if p is not None]
    return out


def notebook_path(result: SubmissionResult) -> Path | None:
    """The local notebook graded: ``info.source_path`` (what the pipeline records), else
    ``info.source`` when that is itself a path to a file (older results, the demo batch)."""
    for key in ("source_path", "source"):
        raw = getattr(result.info, key)
        path = Path(raw) if isinstance(raw, str) and raw else None
        if path is None or (key == "source" and not path.is_absolute()):  # a display name is no path
            continue
        if path.suffix.lower() == ".ipynb" and path.is_file():
            return path
    return None


_READ: dict = {}


def _read_cache(cache: Path) -> dict | None:
    """The checked content of a cache file, remembered per (size, mtime) so a page view does not
    decode every plot again; ``None`` when there is no readable cache."""
    try:
        stat = cache.stat()
    except OSError:
        return None
    key = (str(cache), stat.st_size, stat.st_mtime_ns)
    if key not in _READ:
        try:
            _READ[key] = _checked(json.loads(cache.read_text()))
        except ValueError:
            return None
    return _READ[key]


def images(result: SubmissionResult, out_dir: str | Path) -> dict[str, list[dict | None]]:
    """The cached or freshly read images of ``result``'s notebook, each checked (``checked_plot``);
    ``{}`` when there is none."""
    cache = _cache_path(result, out_dir)
    cached = _read_cache(cache)
    if cached is not None:
        return cached
    source = notebook_path(result)
    if source is None or source.stat().st_size > MAX_BYTES * 4:
        return {}
    try:
        found = notebook_images(json.loads(source.read_text(encoding="utf-8")))
    except (OSError, ValueError, AttributeError, TypeError):
        return {}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(found))
    return found
