"""The marking app's JSON endpoints (a Flask blueprint): every POST carries the version the page saw and
gets 409 with the current record when it is stale; ``/api/status`` says whether pages are being
rewritten. See ``app`` for the token and the headers every request passes."""
from typing import TYPE_CHECKING, Any, cast

from flask import Blueprint, Response, jsonify

from graders.items import WRITTEN_ITEMS
from graders.marking.bulk import apply_to_group
from graders.marking.context import body, current_batch, current_updater, known_item, known_student, mark_changes, mark_json, who
from graders.marking.store import Conflict

if TYPE_CHECKING:
    from graders.marking.updater import Updater

api = Blueprint("api", __name__)


@api.post("/api/mark")
def api_mark() -> Response | tuple[Response, int]:
    batch = current_batch()
    data = body()
    sid = known_student(data.get("student"))
    item = known_item(data)
    try:
        changes = mark_changes(data)
        mark = batch.store.update(item, sid, int(data.get("version", -1)), by=who(), **changes)
    except Conflict as conflict:
        return jsonify({"error": "conflict", "current": mark_json(conflict.current)}), 409
    except (TypeError, ValueError) as error:
        return jsonify({"error": str(error)}), 400
    done, total = batch.progress(item)
    return jsonify({"mark": mark_json(mark), "progress": [done, total], "merged": mark.merged})


@api.post("/api/group")
def api_group() -> Response | tuple[Response, int]:
    """One action on every member of an answer group: ``apply``/``remove`` (entry ids), ``comment``
    or ``manual``; answers ``done`` (records) and ``conflicts`` (member -> reason)."""
    batch = current_batch()
    data = body()
    item = known_item(data)
    students = data.get("students")
    if not isinstance(students, list) or not students:
        return jsonify({"error": "students: expected a list of ids"}), 400
    try:
        changes = mark_changes({k: v for k, v in data.items() if k in ("apply", "remove", "comment", "manual")})
        done = apply_to_group(batch.store, item, [known_student(str(s)) for s in students], who(), **changes)
    except ValueError as error:
        return jsonify({"error": str(error)}), 400
    return jsonify({"done": {batch.shown(sid): mark_json(m) for sid, m in done.done.items()},
                    "conflicts": {batch.shown(sid): why for sid, why in done.conflicts.items()},
                    "progress": list(batch.progress(item))})


@api.post("/api/rubric")
def api_rubric() -> Response | tuple[Response, int]:
    batch = current_batch()
    data = body()
    item = known_item(data)
    try:
        points = None if data.get("points") in (None, "") else float(data["points"])
        entry, changed = batch.store.set_entry(item, str(data.get("entry")), int(data.get("version", -1)),
                                               points=points, text=data.get("text"),
                                               ta_only=None if data.get("ta_only") is None else bool(data["ta_only"]))
    except Conflict as conflict:
        return jsonify({"error": "conflict", "current": conflict.current.__dict__}), 409
    except (KeyError, ValueError) as error:
        return jsonify({"error": str(error)}), 400
    return jsonify({"entry": entry.__dict__, "rescored": changed})


@api.post("/api/rubric/add")
def api_rubric_add() -> Response | tuple[Response, int]:
    batch = current_batch()
    data = body()
    item = known_item(data)
    if str(data.get("points", "")).strip() == "":
        return jsonify({"error": "points: enter a number for the new entry (an empty box is not 0)"}), 400
    try:
        entry = batch.store.add_entry(item, float(data["points"]), str(data.get("text", "")).strip()
                                      or "(no text)")
    except ValueError:
        return jsonify({"error": f"points: {str(data['points'])[:20]!r} is not a number"}), 400
    except KeyError as error:
        return jsonify({"error": str(error)}), 400
    return jsonify({"entry": entry.__dict__})


@api.post("/api/rubric/delete")
def api_rubric_delete() -> Response | tuple[Response, int]:
    """Delete an unused entry (``entry``, ``version``); 400 naming the answers that use it."""
    batch = current_batch()
    data = body()
    item = known_item(data)
    try:
        left = batch.store.delete_entry(item, str(data.get("entry")), int(data.get("version", -1)))
    except Conflict as conflict:
        return jsonify({"error": "conflict", "current": conflict.current.__dict__}), 409
    except (KeyError, ValueError) as error:
        return jsonify({"error": str(error).strip("'\"")}), 400
    return jsonify({"entries": [e.__dict__ for e in left]})


@api.post("/api/rubric/order")
def api_rubric_order() -> Response | tuple[Response, int]:
    """Reorder the rubric: ``order`` lists every entry id once."""
    batch = current_batch()
    data = body()
    item = known_item(data)
    try:
        entries = batch.store.reorder(item, [str(e) for e in data.get("order") or []])
    except ValueError as error:
        return jsonify({"error": str(error)}), 400
    return jsonify({"entries": [e.__dict__ for e in entries]})


@api.post("/api/student")
def api_student() -> Response | tuple[Response, int]:
    batch = current_batch()
    data = body()
    sid = known_student(data.get("student"))
    pages = data.get("pages")
    if pages is not None and not isinstance(pages, dict):
        return jsonify({"error": "pages: expected {item: [page numbers]}"}), 400
    if pages is not None and batch.first_page > 1:
        pages = _with_hidden_pages(pages, batch.store.student(sid).pages, batch.first_page)
    try:
        notes = batch.store.update_student(sid, int(data.get("version", -1)), pages=pages,
                                           comment=data.get("comment"))
    except Conflict as conflict:
        return jsonify({"error": "conflict", "current": conflict.current.__dict__}), 409
    except (TypeError, ValueError) as error:
        return jsonify({"error": str(error)}), 400
    return jsonify({"student": {**notes.__dict__, "student": batch.shown(notes.student)}})


@api.get("/api/status")
def api_status() -> Response:
    batch = current_batch()
    status = (cast("Updater", current_updater()).status() if current_updater()   # cast: not None here (typing only)
              else {"pending": False, "generation": 0, "error": ""})
    return jsonify({**status, "progress": {item: list(batch.progress(item)) for item in WRITTEN_ITEMS}})


def _with_hidden_pages(pages: dict[str, Any], stored: dict[str, list[int]], first_page: int) -> dict[str, Any]:
    """``pages`` (``{item: [page]}`` from a page that shows pages from ``first_page`` on) with the stored
    mapping of the pages it hides kept: an anonymous TA's map never drops an earlier TA's first page.
    Anything but lists of whole numbers is passed on unchanged, for the store to refuse."""
    if not all(isinstance(v, list) and all(isinstance(n, int) for n in v) for v in pages.values()):
        return pages
    merged = {item: sorted(set(pages.get(item, [])) | {n for n in stored.get(item, []) if n < first_page})
              for item in set(pages) | set(stored)}
    return {item: mapped for item, mapped in merged.items() if mapped}
