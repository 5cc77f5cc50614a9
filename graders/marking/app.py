"""The marking app's routes (Flask), its token check, and ``serve`` for ``grade.py mark OUT``.

Pages (server-rendered, ``graders/reports/templates/marking_*.html.j2``):

- ``/``: items with their progress (marked / total), students, links to the reports;
- ``/q/<item>/<n>``: grade by question: student ``n``'s answer to ``item`` with the
  rubric, the model answer, plots and PDF pages; keys j/k (or arrows) next/previous,
  n next unmarked, 1-9 and 0 apply rubric entries, c comment, m manual mark;
- ``/s/<n>``: one student, every item, and which PDF pages answer which item.

JSON (POST, each with the version the page saw; 409 with the current record when stale):
``/api/mark``, ``/api/rubric``, ``/api/rubric/add``, ``/api/student``; ``/api/status``.

Safety of what the pages show: every template is drawn with ``graders.reports.templating`` (every
``{{ }}`` escaped; markup only from the sanitising renderer), plots are checked images
(``cells.checked_plot``), and the CSP allows no inline script or style: the pages' code and
styles are files under ``static/``, and the report pages served under ``/reports/`` may run
only the template's own inline blocks (by hash), in a sandbox with an opaque origin.

Bounded work: PDFs are drawn in the background, once each (``pdf.Renderer``); a page view
never waits for one. Answers are drawn once, with caps (``render``).

Access: a random token, as Jupyter does. The URL printed carries ``?token=...``; the
first visit sets a cookie (HttpOnly, SameSite=Strict) and redirects to the URL without it;
every request needs the cookie or the token, and every POST also the ``X-Token`` header
(which pages read from their ``<meta>``), so another site cannot post marks through the
TA's browser.
"""
import hashlib
import hmac
import secrets
import signal
import sys
import threading
import time
import webbrowser
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, abort, jsonify, redirect, request, send_file, send_from_directory

from graders.items import WRITTEN_ITEMS
from graders.marking import csvsync, pagemap, rubrics
from graders.reports import cells
from graders.reports import pdf
from graders.reports import render
from graders.marking.bulk import apply_to_group
from graders.marking.groups import group_answers
from graders.marking.stats import question_stats
from graders.marking.store import Conflict, MarkStore
from graders.marking.updater import Updater
from graders.intake.policies import late_flag
from graders.intake.answers import extract_answers, model_answers
from graders.reports.pages import load_settings, stored_results
from graders.reports.templating import render_page

TEMPLATES = Path(__file__).resolve().parents[1] / "reports" / "templates"
CSP = ("default-src 'none'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class Batch:
    """What the pages show, read once: results in id order, answers, model answers, the store."""

    def __init__(self, out_dir):
        self.out_dir = Path(out_dir)
        self._seen, self._groups = None, {}
        self._load()
        if not self.results:
            raise FileNotFoundError(f"{self.out_dir}: no graded results (results.jsonl); run grade.py grade first")
        self.models = {item: render.to_html(text) for item, text in model_answers().items()}
        self.store = MarkStore(self.out_dir, seed=rubrics.seed_entries)
        self.pdfs = pdf.Renderer(self.out_dir)

    def _stamp(self):
        try:
            stat = (self.out_dir / "results.jsonl").stat()
            return stat.st_mtime_ns, stat.st_size
        except OSError:
            return None

    def _load(self):
        """Read the results, answers and late flags (``late: ...`` or "" per id) from ``OUT``."""
        self._seen = self._stamp()
        results = stored_results(self.out_dir)
        settings = load_settings(self.out_dir)
        self.answers = {r.id: extract_answers(r.info.markdown) for r in results}
        self.late = {r.id: late_flag(r.info.submitted_at, settings.deadline_of(r.id)) for r in results}
        self.results, self.ids = results, [r.id for r in results]

    def refresh(self):
        """Re-read if ``results.jsonl`` changed (a regrade into the same folder while the app runs):
        the new students appear in navigation at once. Returns whether anything was re-read."""
        if self._stamp() == self._seen:
            return False
        self._load()
        if self.results:
            self.queue_pdfs()
        return True

    def to_mark(self, item):
        """Indices of the answers to ``item`` still to mark, late work left out (final 0 already)."""
        marks = self.store.marks_of_item(item)
        return [i for i, sid in enumerate(self.ids)
                if not (sid in marks and marks[sid].marked) and not self.late.get(sid)]

    def groups(self, item):
        """``groups.group_answers`` for ``item`` over the current answers and page maps (cached until
        either changes: SymPy is not run on every page view)."""
        pages = {sid: notes.pages.get(item, []) for sid, notes in self.store.students().items()}
        key = (item, self._seen, repr(sorted(pages.items())))
        if self._groups.get(item, (None,))[0] != key:
            answers = {sid: self.answers[sid].get(item, "") for sid in self.ids}
            self._groups[item] = (key, group_answers(item, answers, pages))
        return self._groups[item][1]

    def proposed_pages(self, result):
        """``pagemap.propose`` on the student's PDF text, ``{item: [page]}``; ``{}`` while its pages are
        still being drawn, for a PDF without text, or one whose text cannot be read (the TA maps by hand)."""
        path = self.pdf_path(result)
        if path is None or self.pdfs.status(path).pending:
            return {}
        try:
            return pagemap.propose(pagemap.read_texts(path, self.out_dir))
        except pdf.PdfProblem:
            return {}

    def answer_html(self, sid, item):
        """The student's answer to ``item`` as safe HTML (drawn once: ``render`` caches it)."""
        return render.to_html(self.answers[sid].get(item, ""))

    def pdf_path(self, result):
        return pdf.locate(result, self.out_dir)[0]

    def queue_pdfs(self) -> None:
        """Ask the renderer for every student's PDF, in id order (the TA's likely order)."""
        for result in self.results:
            path = self.pdf_path(result)
            if path is not None:
                self.pdfs.request(path)

    def pdf_pages(self, result):
        """``(pages that can be shown, one-line note or "")``; never waits for the PDF to be drawn."""
        path, problem = pdf.locate(result, self.out_dir)
        if path is None:
            return 0, problem
        done = self.pdfs.status(path)
        if done.pending:
            return done.pages, ("The PDF's pages are being drawn in the background"
                                f"{f' ({done.pages} so far)' if done.pages else ''}; reload in a moment.")
        return done.pages, f"{pdf.shown_name(result)}: {done.problem}" if done.problem else ""

    def progress(self, item):
        marks = self.store.marks_of_item(item)
        return sum(1 for sid in self.ids if sid in marks and marks[sid].marked), len(self.ids)


def _mark_json(mark):
    return {"student": mark.student, "item": mark.item, "applied": mark.applied, "comment": mark.comment,
            "manual": mark.manual, "score": mark.score, "version": mark.version}


def _mark_changes(data):
    """The keyword arguments of ``MarkStore.update`` that a ``/api/mark`` body asks for.

    ``toggle`` (one entry id), ``apply`` / ``remove`` (lists of entry ids: the wanted state,
    safe to send twice), ``comment`` with ``base_comment`` (the stored text it was typed on),
    ``manual`` ("" or null clears it) with ``base_manual``. Raises ``ValueError`` on bad input.
    """
    changes = {}
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


def create_app(out_dir, token=None, start_updater=True, marker=None):
    """The Flask app for ``out_dir``; ``app.config["TOKEN"]``, ``app.batch`` and ``app.updater`` are set.

    ``marker``: the TA's name, written as ``by`` on each record (else the client's address).
    ``app.config["INJECT_LATENCY_S"]`` (tests and benchmarks only): each request first sleeps that long.
    """
    batch = Batch(out_dir)
    token = token or secrets.token_urlsafe(24)
    cookie = "a4mark-" + hashlib.sha256(token.encode()).hexdigest()[:10]
    app = Flask(__name__, static_folder="static", template_folder=None)
    app.config["TOKEN"] = token
    app.config["INJECT_LATENCY_S"] = 0.0
    app.batch = batch
    app.notes = csvsync.import_hand_edits(batch.store, batch.out_dir / "written_marks.csv")
    app.updater = Updater(batch.out_dir, batch.store, batch.ids) if start_updater else None
    if app.updater:
        app.updater.rewrite_all()
    batch.queue_pdfs()
    report_csp = _report_csp()

    def valid(value):
        return bool(value) and hmac.compare_digest(value.encode(), token.encode())

    def who():
        return marker or request.remote_addr or ""

    @app.before_request
    def check_token():
        if app.config["INJECT_LATENCY_S"]:
            time.sleep(app.config["INJECT_LATENCY_S"])
        batch.refresh()
        if valid(request.args.get("token")):
            if request.method == "GET":  # set the cookie; show a URL without the token
                rest = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "token"])
                response = redirect(request.path + (f"?{rest}" if rest else ""))
                response.set_cookie(cookie, token, httponly=True, samesite="Strict")
                return response
        elif not valid(request.cookies.get(cookie)):
            abort(403, "open the URL that grade.py mark printed (it carries the token)")
        if request.method == "POST" and not valid(request.headers.get("X-Token")):
            abort(403, "missing X-Token header")

    @app.after_request
    def headers(response):
        response.headers["Content-Security-Policy"] = report_csp if request.path.startswith("/reports/") else CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    def result_at(index):
        if not 0 <= index < len(batch.results):
            abort(404)
        return batch.results[index]

    def common():
        return {"token": token, "items": [(item, maximum, *batch.progress(item))
                                          for item, maximum in WRITTEN_ITEMS.items()]}

    @app.get("/")
    def home():
        scores = batch.store.scores()
        students = [{"index": i, "id": r.id, "auto": r.auto_awarded, "auto_max": r.auto_max,
                     "late": batch.late.get(r.id, ""),
                     "written": sum(scores.get(r.id, {}).values()), "marked": len(scores.get(r.id, {}))}
                    for i, r in enumerate(batch.results)]
        status = app.updater.status() if app.updater else {}
        return render_page("marking_home.html.j2", students=students, notes=app.notes, status=status,
                           stats=question_stats(batch.store, batch.ids),
                           total_items=len(WRITTEN_ITEMS), **common())

    @app.get("/q/<item>/")
    def first_unmarked(item):
        if item not in WRITTEN_ITEMS:
            abort(404)
        return redirect(f"/q/{item}/{next(iter(batch.to_mark(item)), 0)}")

    @app.get("/q/<item>/<int:index>")
    def question(item, index):
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
        state = {"item": item, "student": result.id, "index": index, "count": len(batch.ids),
                 "mark": _mark_json(mark), "entries": [e.__dict__ for e in entries],
                 "next_unmarked": next_unmarked, "notes_version": notes.version, "pages": notes.pages,
                 "done": done, "late": batch.late.get(result.id, "")}
        groups = [{"kind": g.kind, "label": g.label, "students": g.students,
                   "members": [(batch.ids.index(sid), sid) for sid in g.students if sid in batch.ids],
                   "here": result.id in g.students} for g in batch.groups(item)]
        return render_page("marking_question.html.j2", item=item, maximum=WRITTEN_ITEMS[item], result=result,
                           index=index, mark=mark, entries=entries, answer=batch.answer_html(result.id, item),
                           model=batch.models.get(item, ""), plots=cells.images(result, batch.out_dir).get(item, []),
                           page_count=count, pdf_problem=problem, assigned=notes.pages.get(item, []),
                           state=state, groups=groups, current_item=item, **common())

    @app.get("/s/<int:index>")
    def student(index):
        result = result_at(index)
        notes = batch.store.student(result.id)
        count, problem = batch.pdf_pages(result)
        plots = cells.images(result, batch.out_dir)
        rows = [{"item": item, "max": maximum, "mark": batch.store.get(item, result.id),
                 "answer": batch.answer_html(result.id, item), "plots": plots.get(item, []),
                 "pages": notes.pages.get(item, [])} for item, maximum in WRITTEN_ITEMS.items()]
        feedback = batch.store.feedback(result.id)
        proposed = batch.proposed_pages(result) if count else {}
        state = {"student": result.id, "index": index, "notes_version": notes.version, "pages": notes.pages,
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
                           page_file=page_file, proposed=proposed, **common())

    @app.get("/pdf/<int:index>/<int:page>.png")
    def pdf_page(index, page):
        path = batch.pdf_path(result_at(index))
        drawn = batch.pdfs.status(path).page(page) if path is not None else None
        if drawn is None:
            abort(404)
        return send_file(drawn, mimetype="image/png")

    @app.get("/reports/<path:name>")
    def reports(name):
        if not (name == "index.html" or name.startswith(("ta/", "students/"))) or not name.endswith(".html"):
            abort(404)
        return send_from_directory(batch.out_dir, name)

    def body():
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            abort(400, "expected a JSON object")
        return data

    def known_student(sid):
        if sid not in batch.ids:
            abort(404, f"no student {sid!r}")
        return sid

    @app.post("/api/mark")
    def api_mark():
        data = body()
        item, sid = data.get("item"), known_student(data.get("student"))
        if item not in WRITTEN_ITEMS:
            abort(404)
        try:
            changes = _mark_changes(data)
            mark = batch.store.update(item, sid, int(data.get("version", -1)), by=who(), **changes)
        except Conflict as conflict:
            return jsonify({"error": "conflict", "current": _mark_json(conflict.current)}), 409
        except (TypeError, ValueError) as error:
            return jsonify({"error": str(error)}), 400
        done, total = batch.progress(item)
        return jsonify({"mark": _mark_json(mark), "progress": [done, total], "merged": mark.merged})

    @app.post("/api/group")
    def api_group():
        """One action on every member of an answer group: ``apply``/``remove`` (entry ids), ``comment``
        or ``manual``; answers ``done`` (records) and ``conflicts`` (member -> reason)."""
        data = body()
        item = data.get("item")
        if item not in WRITTEN_ITEMS:
            abort(404)
        students = data.get("students")
        if not isinstance(students, list) or not students:
            return jsonify({"error": "students: expected a list of ids"}), 400
        try:
            changes = _mark_changes({k: v for k, v in data.items() if k in ("apply", "remove", "comment", "manual")})
            done = apply_to_group(batch.store, item, [known_student(str(s)) for s in students], who(), **changes)
        except ValueError as error:
            return jsonify({"error": str(error)}), 400
        return jsonify({"done": {sid: _mark_json(m) for sid, m in done.done.items()}, "conflicts": done.conflicts,
                        "progress": list(batch.progress(item))})

    @app.post("/api/rubric")
    def api_rubric():
        data = body()
        item = data.get("item")
        if item not in WRITTEN_ITEMS:
            abort(404)
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

    @app.post("/api/rubric/add")
    def api_rubric_add():
        data = body()
        item = data.get("item")
        if item not in WRITTEN_ITEMS:
            abort(404)
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

    @app.post("/api/rubric/delete")
    def api_rubric_delete():
        """Delete an unused entry (``entry``, ``version``); 400 naming the answers that use it."""
        data = body()
        if data.get("item") not in WRITTEN_ITEMS:
            abort(404)
        try:
            left = batch.store.delete_entry(data["item"], str(data.get("entry")), int(data.get("version", -1)))
        except Conflict as conflict:
            return jsonify({"error": "conflict", "current": conflict.current.__dict__}), 409
        except (KeyError, ValueError) as error:
            return jsonify({"error": str(error).strip("'\"")}), 400
        return jsonify({"entries": [e.__dict__ for e in left]})

    @app.post("/api/rubric/order")
    def api_rubric_order():
        """Reorder the rubric: ``order`` lists every entry id once."""
        data = body()
        if data.get("item") not in WRITTEN_ITEMS:
            abort(404)
        try:
            entries = batch.store.reorder(data["item"], [str(e) for e in data.get("order") or []])
        except ValueError as error:
            return jsonify({"error": str(error)}), 400
        return jsonify({"entries": [e.__dict__ for e in entries]})

    @app.post("/api/student")
    def api_student():
        data = body()
        sid = known_student(data.get("student"))
        pages = data.get("pages")
        if pages is not None and not isinstance(pages, dict):
            return jsonify({"error": "pages: expected {item: [page numbers]}"}), 400
        try:
            notes = batch.store.update_student(sid, int(data.get("version", -1)), pages=pages,
                                               comment=data.get("comment"))
        except Conflict as conflict:
            return jsonify({"error": "conflict", "current": conflict.current.__dict__}), 409
        except (TypeError, ValueError) as error:
            return jsonify({"error": str(error)}), 400
        return jsonify({"student": notes.__dict__})

    @app.get("/api/status")
    def api_status():
        status = app.updater.status() if app.updater else {"pending": False, "generation": 0, "error": ""}
        return jsonify({**status, "progress": {item: list(batch.progress(item)) for item in WRITTEN_ITEMS}})

    return app


def _report_csp():
    """The CSP of the report pages served under ``/reports/``: they are self-contained files (inline
    style and script, so they also work opened from disk), so only the templates' own inline blocks
    may run, by hash, and the page gets an opaque origin (``sandbox``): no cookie, no ``/api``."""
    import base64
    import re
    hashes = {"script": set(), "style": set()}
    for name in ("base.html.j2", "index.html.j2", "student.html.j2"):
        for kind, body in re.findall(r"<(script|style)>(.*?)</\1>", (TEMPLATES / name).read_text(), re.DOTALL):
            if "{{" not in body and "{%" not in body:
                digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
                hashes[kind].add(f"'sha256-{digest}'")
    return ("default-src 'none'; img-src data:; style-src " + " ".join(sorted(hashes["style"])) +
            "; script-src " + " ".join(sorted(hashes["script"])) +
            "; form-action 'none'; frame-ancestors 'none'; base-uri 'none'; sandbox allow-scripts")


def serve(out_dir, host="127.0.0.1", port=0, open_browser=True, echo=print, token=None, marker=None):
    """Run the app until interrupted; prints the URL (with its token) first.

    ``token``: the access token (else the one kept in ``OUT/marking/token``, see ``access``);
    ``marker``: the TA's name, recorded as ``by`` on each mark (else the client's address).
    """
    from werkzeug.serving import make_server
    from graders.marking.access import kept_token
    app = create_app(out_dir, token=kept_token(Path(out_dir), token), marker=marker)
    for note in app.notes:
        echo(f"note: {note}", file=sys.stderr)
    server = make_server(host, port, app, threaded=True)
    url = f"http://{'127.0.0.1' if host in ('127.0.0.1', '0.0.0.0') else host}:{server.server_port}/?token={app.config['TOKEN']}"
    echo(f"Marking {len(app.batch.ids)} students' written answers in {out_dir}")
    echo(f"Open: {url}")
    if marker:
        echo(f"Marks are recorded as by {marker!r}.", file=sys.stderr)
    echo("Every change is saved at once in OUT/marking/; grades, pages and written_marks.csv follow. "
         "Ctrl-C stops.", file=sys.stderr)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    if threading.current_thread() is threading.main_thread():  # a plain kill stops as cleanly as Ctrl-C
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.updater.flush()
    return 0
