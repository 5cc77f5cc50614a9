"""Typed, capped reading of a probe's facts: nothing from student code is used unchecked.

A probe's ``meta`` is JSON produced in a process that ran student code, so any
field may be missing, of another type, huge, non-finite or hostile text (a
type name, an exception message). The judge reads it only through ``View``,
whose getters are total: they return a value of the asked type, within caps,
or the default, and never raise. Text passes through ``clean_text`` before it
can reach a message, ``details`` or a report.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any, overload

from worker.protocol import LoadReport, Skip

TEXT_MAX = 200
LIST_MAX = 20000
MAX_SKIPS = 400
MAX_IMPORTS = 200
# C0 (but newline), DEL, C1, line/paragraph separators, bidi controls, BOM, zero-width characters,
# lone surrogates.
_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff"
                     "\ud800-\udfff]")


def clean_text(value: object, limit: int = TEXT_MAX, keep_newlines: bool = False) -> str:
    """``value`` as printable text: control characters, bidi controls and lone surrogates removed,
    newlines kept only with ``keep_newlines``, at most ``limit`` characters (an ellipsis marks a cut).
    Accepts anything; never raises."""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:  # noqa: BLE001 - a hostile __str__
        return "?"
    text = _UNSAFE.sub("", text[: limit * 4 + 16])
    if not keep_newlines:
        text = text.replace("\n", " ")
    if len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


def finite(value: object) -> float | None:
    """``value`` as a finite float, or None (bools, strings, NaN and inf are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None


class View:
    """Typed, capped read access to one JSON object from a child (``dict`` or anything else)."""

    def __init__(self, raw: object) -> None:
        self.raw = raw if isinstance(raw, dict) else {}

    def __contains__(self, key: object) -> bool:
        return key in self.raw

    def view(self, key: str) -> View:
        """The sub-object at ``key`` as a ``View`` (empty if missing or not an object)."""
        return View(self.raw.get(key))

    def views(self, key: str, cap: int = 64) -> list[View]:
        """The list at ``key`` as ``View``s (non-objects become empty views), at most ``cap``."""
        value = self.raw.get(key)
        return [View(v) for v in value[:cap]] if isinstance(value, list) else []

    def text(self, key: str, default: str = "", limit: int = TEXT_MAX) -> str:
        value = self.raw.get(key)
        return clean_text(value, limit) if isinstance(value, str) else default

    @overload
    def number(self, key: str, default: None = None) -> float | None:
        ...

    @overload
    def number(self, key: str, default: float) -> float:
        ...

    def number(self, key: str, default: float | None = None) -> float | None:
        value = finite(self.raw.get(key))
        return default if value is None else value

    @overload
    def integer(self, key: str, default: int = 0, low: int = -2**62, high: int = 2**62) -> int:
        ...

    @overload
    def integer(self, key: str, default: None, low: int = -2**62, high: int = 2**62) -> int | None:
        ...

    def integer(self, key: str, default: int | None = 0, low: int = -2**62, high: int = 2**62) -> int | None:
        value = self.raw.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return default
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.raw.get(key)
        return value if isinstance(value, bool) else default

    def texts(self, key: str, cap: int = 64, limit: int = TEXT_MAX) -> list[str]:
        """The strings of the list at ``key`` (other entries left out), cleaned, at most ``cap``."""
        value = self.raw.get(key)
        return [clean_text(v, limit) for v in value[:cap] if isinstance(v, str)] if isinstance(value, list) else []

    def integers(self, key: str, cap: int = 64) -> list[int] | None:
        """The list at ``key`` if it holds only integers (at most ``cap``), else None."""
        value = self.raw.get(key)
        if not isinstance(value, list) or len(value) > cap:
            return None
        out = [v for v in value if isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**62]
        return out if len(out) == len(value) else None

    def numbers(self, key: str, cap: int = LIST_MAX) -> tuple[list[float | None], int]:
        """``(values, dropped)``: the list at ``key`` with non-finite entries as None and anything that
        is not a number left out; ``dropped`` counts the entries left out (other types, past ``cap``)."""
        value = self.raw.get(key)
        if not isinstance(value, list):
            return [], 0
        out, dropped = [], max(0, len(value) - cap)
        for entry in value[:cap]:
            if isinstance(entry, bool) or not isinstance(entry, (int, float)):
                dropped += 1
            else:
                out.append(finite(entry))
        return out, dropped


# --- the worker's files: item records and the load report -------------------------------------------

def clean_record(data: str | bytes) -> dict[str, Any]:
    """An item record (``worker.protocol.ItemRecord`` as JSON bytes) as a dict of checked types."""
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError):
        raw = {}
    raw = raw if isinstance(raw, dict) else {}
    exit_code = raw.get("exit_code")
    return {"id": clean_text(raw.get("id", "")), "seconds": (finite(raw.get("seconds")) or 0.0),
            "cpu_seconds": (finite(raw.get("cpu_seconds")) or 0.0),
            "timed_out": raw.get("timed_out") is True, "disk_exceeded": raw.get("disk_exceeded") is True,
            "exit_code": exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None,
            "output": clean_text(raw.get("output", ""), 64 * 1024, keep_newlines=True),
            "output_bytes": int(finite(raw.get("output_bytes")) or 0),
            "frame_too_large": raw.get("frame_too_large") is True, "ended_loader": raw.get("ended_loader") is True}


def clean_load_report(report: LoadReport) -> LoadReport:
    """A ``LoadReport`` with every field checked and capped."""
    skips = []
    for skip in report.skips[:MAX_SKIPS]:
        if not isinstance(skip, Skip):
            continue
        names = [clean_text(n, 80) for n in (skip.names if isinstance(skip.names, list) else [])[:20]]
        skips.append(Skip(clean_text(skip.cell, 40), int(finite(skip.line) or 0),
                          "skipped" if skip.kind == "skipped" else "failed", clean_text(skip.reason),
                          names, clean_text(skip.code, 80)))
    imports = [clean_text(i, 120) for i in report.imports[:MAX_IMPORTS] if isinstance(i, str)]
    return LoadReport(skips, imports, int(finite(report.statements) or 0), finite(report.seconds) or 0.0)
