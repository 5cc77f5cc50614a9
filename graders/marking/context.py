"""What every route of the marking app reads: the batch being marked, the updater, who is marking, the
request's JSON body and the student it names. Each reads the app of the current request."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import abort, current_app, request

from graders.items import WRITTEN_ITEMS

if TYPE_CHECKING:
    from graders.marking.app import Batch
    from graders.marking.store import Mark
    from graders.marking.updater import Updater
    from graders.results import SubmissionResult


def current_batch() -> Batch:
    """The ``app.Batch`` of the running app."""
    return getattr(current_app, "batch")


def current_updater() -> Updater | None:
    """The app's ``Updater`` (``None`` when it was started without one)."""
    return getattr(current_app, "updater", None)


def current_notes() -> list[str]:
    """Notes from importing hand edits of ``written_marks.csv`` at start (shown on the home page)."""
    return getattr(current_app, "notes", [])


def who() -> str:
    """Recorded as ``by`` on each change: the TA's name given to ``grade.py mark --as``, else the client."""
    return current_app.config.get("MARKER") or request.remote_addr or ""


def result_at(index: int) -> SubmissionResult:
    """The stored result of the ``index``-th student; 404 when there is none."""
    results = current_batch().results
    if not 0 <= index < len(results):
        abort(404)
    return results[index]


def common() -> dict[str, object]:
    """What every page's template reads: the token (for its POSTs) and each item's progress."""
    batch = current_batch()
    return {"token": current_app.config["TOKEN"], "anonymous": batch.anonymous, "first_page": batch.first_page,
            "items": [(item, maximum, *batch.progress(item)) for item, maximum in WRITTEN_ITEMS.items()]}


def body() -> dict[str, Any]:
    """The request's JSON object; 400 otherwise."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, "expected a JSON object")
    return data


def known_item(data: dict[str, Any]) -> str:
    """The written item a request's JSON names (``data["item"]``); 404 when it is none of them."""
    item = data.get("item")
    if item not in WRITTEN_ITEMS:
        abort(404)
    return item


def known_student(shown: object) -> str:
    """The id of the student a page names (its id, or its alias when marking anonymously); 404 otherwise."""
    batch = current_batch()
    sid = batch.aliases.real(shown) if isinstance(shown, str) else None
    if sid is None or sid not in batch.ids:
        abort(404, f"no student {shown!r}")
    return sid


def mark_json(mark: Mark) -> dict[str, object]:
    """A mark as the pages read it (the student as the pages name them)."""
    return {"student": current_batch().shown(mark.student), "item": mark.item, "applied": mark.applied,
            "comment": mark.comment, "manual": mark.manual, "score": mark.score, "version": mark.version}


def mark_changes(data: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``MarkStore.update`` that a ``/api/mark`` body asks for.

    ``toggle`` (one entry id), ``apply`` / ``remove`` (lists of entry ids: the wanted state,
    safe to send twice), ``comment`` with ``base_comment`` (the stored text it was typed on),
    ``manual`` ("" or null clears it) with ``base_manual``. Raises ``ValueError`` on bad input.
    """
    changes: dict[str, Any] = {}
    if "toggle" in data:
        changes["toggle"] = str(data["toggle"])
    for key in ("apply", "remove"):
        if key in data:
            if not isinstance(data[key], list):
                raise ValueError(f"{key}: expected a list of rubric entry ids")
            changes[key] = [str(e) for e in data[key]]
    if "comment" in data:
        changes["comment"] = str(data["comment"])
        if isinstance(data.get("base_comment"), str):
            changes["base_comment"] = data["base_comment"]
    if "manual" in data:
        changes["manual"] = None if data["manual"] in (None, "") else float(data["manual"])
        if "base_manual" in data:
            changes["base_manual"] = None if data["base_manual"] in (None, "") else float(data["base_manual"])
    return changes
