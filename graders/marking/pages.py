"""The marking app's pages (a Flask blueprint): home, grade by question, one student, PDF pages and
the reports. Server-rendered from ``graders/reports/templates/marking_*.html.j2``; see ``app``."""
from __future__ import annotations

from typing import TYPE_CHECKING, cast

from flask import Blueprint, Response, abort, redirect, send_file, send_from_directory

from graders.items import WRITTEN_ITEMS
from graders.marking.context import common, current_batch, current_notes, current_updater, mark_json, result_at
from graders.marking.stats import question_stats
from graders.reports import cells
from graders.reports.templating import render_page

if TYPE_CHECKING:
    from werkzeug.wrappers import Response as BaseResponse

    from graders.marking.updater import Updater

pages = Blueprint("pages", __name__)


@pages.get("/")
def home() -> str:
    batch = current_batch()
    scores = batch.store.scores()
    students = [{"index": i, "id": batch.shown(r.id), "auto": r.auto_awarded, "auto_max": r.auto_max,
                 "late": batch.late.get(r.id, ""),
                 "written": sum(scores.get(r.id, {}).values()), "marked": len(scores.get(r.id, {}))}
                for i, r in enumerate(batch.results)]
    status = cast("Updater", current_updater()).status() if current_updater() else {}   # cast: not None here
    return render_page("marking_home.html.j2", students=students, notes=current_notes(), status=status,
                       stats=question_stats(batch.store, batch.ids),
                       total_items=len(WRITTEN_ITEMS), **common())


@pages.get("/q/<item>/")
def first_unmarked(item: str) -> BaseResponse:
    batch = current_batch()
    if item not in WRITTEN_ITEMS:
        abort(404)
    return redirect(f"/q/{item}/{next(iter(batch.to_mark(item)), 0)}")


@pages.get("/q/<item>/<int:index>")
def question(item: str, index: int) -> str:
    batch = current_batch()
    if item not in WRITTEN_ITEMS:
        abort(404)
    result = result_at(index)
    mark = batch.store.get(item, result.id)
    entries = batch.store.rubric(item)
    notes = batch.store.student(result.id)
    count, problem = batch.pdf_pages(result)
    done, _ = batch.progress(item)
    others = [i for i in batch.to_mark(item) if i != index]
    next_unmarked = next((i for i in others if i > index), others[0] if others else None)
    state = {"item": item, "student": batch.shown(result.id), "index": index, "count": len(batch.ids),
             "mark": mark_json(mark), "entries": [e.__dict__ for e in entries],
             "next_unmarked": next_unmarked, "notes_version": notes.version, "pages": notes.pages,
             "done": done, "late": batch.late.get(result.id, "")}
    groups = [{"kind": g.kind, "label": g.label, "students": [batch.shown(sid) for sid in g.students],
               "members": [(batch.ids.index(sid), batch.shown(sid)) for sid in g.students if sid in batch.ids],
               "here": result.id in g.students} for g in batch.groups(item)]
    return render_page("marking_question.html.j2", item=item, maximum=WRITTEN_ITEMS[item], result=result,
                       index=index, mark=mark, entries=entries, answer=batch.answer_html(result.id, item),
                       model=batch.models.get(item, ""), plots=cells.images(result, batch.out_dir).get(item, []),
                       page_count=count, pdf_problem=problem, assigned=notes.pages.get(item, []),
                       state=state, groups=groups, current_item=item, student_name=batch.shown(result.id), **common())


@pages.get("/s/<int:index>")
def student(index: int) -> str:
    batch = current_batch()
    result = result_at(index)
    notes = batch.store.student(result.id)
    count, problem = batch.pdf_pages(result)
    plots = cells.images(result, batch.out_dir)
    rows = [{"item": item, "max": maximum, "mark": batch.store.get(item, result.id),
             "answer": batch.answer_html(result.id, item), "plots": plots.get(item, []),
             "pages": notes.pages.get(item, [])} for item, maximum in WRITTEN_ITEMS.items()]
    feedback = batch.store.feedback(result.id)
    proposed = batch.proposed_pages(result) if count else {}
    state = {"student": batch.shown(result.id), "index": index, "notes_version": notes.version, "pages": notes.pages,
             "comment": notes.comment, "late": batch.late.get(result.id, ""), "proposed": proposed}
    page_file = result.id
    try:
        from graders.safe_text import page_names
        page_file = page_names(batch.ids)[result.id]
    except ImportError:  # pragma: no cover
        from graders.reports.pages import report_filename
        page_file = report_filename(result.id)
    return render_page("marking_student.html.j2", result=result, index=index, rows=rows, feedback=feedback,
                       page_count=count, pdf_problem=problem, notes=notes, state=state,
                       page_file=page_file, proposed=proposed, student_name=batch.shown(result.id), **common())


@pages.get("/pdf/<int:index>/<int:page>.png")
def pdf_page(index: int, page: int) -> Response:
    batch = current_batch()
    path = batch.pdf_path(result_at(index))
    drawn = batch.pdfs.status(path).page(page) if path is not None and page >= batch.first_page else None
    if drawn is None:
        abort(404)
    return send_file(drawn, mimetype="image/png")


@pages.get("/reports/<path:name>")
def reports(name: str) -> Response:
    batch = current_batch()
    if batch.anonymous or not (name == "index.html" or name.startswith(("ta/", "students/"))) \
            or not name.endswith(".html"):
        abort(404)  # anonymous marking: the reports name the students
    return send_from_directory(batch.out_dir, name)
