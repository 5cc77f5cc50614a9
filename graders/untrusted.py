"""Validation of what comes back from a worker: it was produced next to student code, so it is
untrusted until it passes here. Strings are capped and stripped of control characters and lone
surrogates; numbers must be finite; types are checked; lists are capped in length.
"""
import json
import math
import re

from worker.protocol import LoadReport, Skip

TEXT_CAP = 200
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
SURROGATE = re.compile(r"[\ud800-\udfff]")
MAX_SKIPS = 400
MAX_IMPORTS = 200


def clean_text(value, cap=TEXT_CAP, keep_newlines=False):
    """``value`` as display-safe text: no control characters or lone surrogates, at most ``cap`` characters."""
    text = value if isinstance(value, str) else str(value)
    text = SURROGATE.sub("\ufffd", text)
    if keep_newlines:
        text = "\n".join(CONTROL.sub("", line) for line in text.split("\n"))
    else:
        text = CONTROL.sub(" ", text)
    return text if len(text) <= cap else text[: cap - 1] + "…"


def finite_number(value, default=0.0):
    """``value`` as a finite float, else ``default`` (``None``, strings and NaN are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return default
    return float(value)


def clean_record(data):
    """An item record (``worker.protocol.ItemRecord`` as JSON bytes) as a dict of checked types."""
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError):
        raw = {}
    raw = raw if isinstance(raw, dict) else {}
    exit_code = raw.get("exit_code")
    return {"id": clean_text(raw.get("id", "")), "seconds": finite_number(raw.get("seconds")),
            "timed_out": raw.get("timed_out") is True, "disk_exceeded": raw.get("disk_exceeded") is True,
            "exit_code": exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None,
            "output": clean_text(raw.get("output", ""), 64 * 1024, keep_newlines=True),
            "output_bytes": int(finite_number(raw.get("output_bytes"))),
            "frame_too_large": raw.get("frame_too_large") is True}


def clean_load_report(report):
    """A ``LoadReport`` with every field checked and capped."""
    skips = []
    for skip in report.skips[:MAX_SKIPS]:
        if not isinstance(skip, Skip):
            continue
        names = [clean_text(n, 80) for n in (skip.names if isinstance(skip.names, list) else [])[:20]]
        skips.append(Skip(clean_text(skip.cell, 40), int(finite_number(skip.line)),
                          "skipped" if skip.kind == "skipped" else "failed", clean_text(skip.reason),
                          names, clean_text(skip.code, 80)))
    imports = [clean_text(i, 120) for i in report.imports[:MAX_IMPORTS] if isinstance(i, str)]
    return LoadReport(skips, imports, int(finite_number(report.statements)), finite_number(report.seconds),
                      report.finished is True)
