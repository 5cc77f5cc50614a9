"""The marking app (Flask): its token check and headers, and ``serve`` for ``grade.py mark OUT``; the routes
are blueprints, ``pages`` (HTML) and ``api`` (JSON), reading the request through ``context``.

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
from __future__ import annotations

import hashlib
import hmac
import secrets
import signal
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast
from urllib.parse import urlencode

from flask import Flask, abort, redirect, request

from graders.marking import csvsync, pagemap, rubrics
from graders.reports import pdf
from graders.reports import render
from graders.marking.aliases import Aliases, alias_key
from graders.marking.api import api
from graders.marking.groups import group_answers
from graders.marking.pages import pages
from graders.marking.store import MarkStore
from graders.marking.updater import Updater
from graders.intake.policies import late_flag
from graders.intake.answers import extract_answers, model_answers
from graders.reports.pages import load_settings, stored_results

if TYPE_CHECKING:
    from flask import Response
    from markupsafe import Markup
    from werkzeug.wrappers import Response as BaseResponse

    from graders.marking.groups import Group
    from graders.results import SubmissionResult

    class MarkingApp(Flask):
        """The app ``create_app`` returns: a ``Flask`` with the attributes it sets (for type checking only)."""
        batch: Batch
        notes: list[str]
        updater: Updater | None

TEMPLATES = Path(__file__).resolve().parents[1] / "reports" / "templates"
CSP = ("default-src 'none'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class Batch:
    """What the pages show, read once: results in id order, answers, model answers, the store."""

    def __init__(self, out_dir: str | Path, anonymous: bool = False) -> None:
        self.out_dir = Path(out_dir)
        self.anonymous = anonymous        # aliases for ids, no reports, no first PDF page (marking.aliases)
        self.first_page = 2 if anonymous else 1
        self._seen: tuple[int, int] | None
        self._groups: dict[str, tuple[tuple[str, tuple[int, int] | None, str], list[Group]]]
        self._seen, self._groups = None, {}
        self._load()
        if not self.results:
            raise FileNotFoundError(f"{self.out_dir}: no graded results (results.jsonl); run grade.py grade first")
        self.models = {item: render.to_html(text) for item, text in model_answers().items()}
        self.store = MarkStore(self.out_dir, seed=rubrics.seed_entries)
        self.pdfs = pdf.Renderer(self.out_dir)

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = (self.out_dir / "results.jsonl").stat()
            return stat.st_mtime_ns, stat.st_size
        except OSError:
            return None

    def _load(self) -> None:
        """Read the results, answers and late flags (``late: ...`` or "" per id) from ``OUT``."""
        self._seen = self._stamp()
        results = stored_results(self.out_dir)
        settings = load_settings(self.out_dir)
        self.answers = {r.id: extract_answers(r.info.markdown) for r in results}
        self.late = {r.id: late_flag(r.info.submitted_at, settings.deadline_of(r.id)) for r in results}
        self.results, self.ids = results, [r.id for r in results]
        self.aliases = Aliases(self.ids, alias_key(self.out_dir) if self.anonymous else None)

    def shown(self, sid: str) -> str:
        """What the pages show for student ``sid``: the id, or its alias when marking anonymously."""
        return self.aliases.shown(sid)

    def refresh(self) -> bool:
        """Re-read if ``results.jsonl`` changed (a regrade into the same folder while the app runs):
        the new students appear in navigation at once. Returns whether anything was re-read."""
        if self._stamp() == self._seen:
            return False
        self._load()
        if self.results:
            self.queue_pdfs()
        return True

    def to_mark(self, item: str) -> list[int]:
        """Indices of the answers to ``item`` still to mark, late work left out (final 0 already)."""
        marks = self.store.marks_of_item(item)
        return [i for i, sid in enumerate(self.ids)
                if not (sid in marks and marks[sid].marked) and not self.late.get(sid)]

    def groups(self, item: str) -> list[Group]:
        """``groups.group_answers`` for ``item`` over the current answers and page maps (cached until
        either changes: SymPy is not run on every page view)."""
        pages = {sid: notes.pages.get(item, []) for sid, notes in self.store.students().items()}
        key = (item, self._seen, repr(sorted(pages.items())))
        if self._groups.get(item, (None,))[0] != key:
            answers = {sid: self.answers[sid].get(item, "") for sid in self.ids}
            self._groups[item] = (key, group_answers(item, answers, pages))
        return self._groups[item][1]

    def proposed_pages(self, result: SubmissionResult) -> dict[str, list[int]]:
        """``pagemap.propose`` on the student's PDF text, ``{item: [page]}``; ``{}`` while its pages are
        still being drawn, for a PDF without text, or one whose text cannot be read (the TA maps by hand)."""
        path = self.pdf_path(result)
        if path is None or self.pdfs.status(path).pending:
            return {}
        try:
            proposal = pagemap.propose(pagemap.read_texts(path, self.out_dir))
        except pdf.PdfProblem:
            return {}
        kept = {item: [p for p in pages if p >= self.first_page] for item, pages in proposal.items()}
        return {item: pages for item, pages in kept.items() if pages}

    def answer_html(self, sid: str, item: str) -> Markup:
        """The student's answer to ``item`` as safe HTML (drawn once: ``render`` caches it)."""
        return render.to_html(self.answers[sid].get(item, ""))

    def pdf_path(self, result: SubmissionResult) -> Path | None:
        return pdf.locate(result, self.out_dir)[0]

    def queue_pdfs(self) -> None:
        """Ask the renderer for every student's PDF, in id order (the TA's likely order)."""
        for result in self.results:
            path = self.pdf_path(result)
            if path is not None:
                self.pdfs.request(path)

    def pdf_pages(self, result: SubmissionResult) -> tuple[int, str]:
        """``(pages that can be shown, one-line note or "")``; never waits for the PDF to be drawn."""
        path, problem = pdf.locate(result, self.out_dir)
        if path is None:
            return 0, problem
        done = self.pdfs.status(path)
        if done.pending:
            return done.pages, ("The PDF's pages are being drawn in the background"
                                f"{f' ({done.pages} so far)' if done.pages else ''}; reload in a moment.")
        return done.pages, f"{pdf.shown_name(result)}: {done.problem}" if done.problem else ""

    def progress(self, item: str) -> tuple[int, int]:
        marks = self.store.marks_of_item(item)
        return sum(1 for sid in self.ids if sid in marks and marks[sid].marked), len(self.ids)


def create_app(out_dir: str | Path, token: str | None = None, start_updater: bool = True, marker: str | None = None,
               anonymous: bool = False) -> MarkingApp:
    """The Flask app for ``out_dir``; ``app.config["TOKEN"]``, ``app.batch`` and ``app.updater`` are set.

    ``marker``: the TA's name, written as ``by`` on each record (else the client's address). ``anonymous``:
    students shown by alias, without the reports or the PDFs' first pages (``marking.aliases``).
    ``app.config["INJECT_LATENCY_S"]`` (tests and benchmarks only): each request first sleeps that long.
    """
    batch = Batch(out_dir, anonymous)
    token = token or secrets.token_urlsafe(24)
    cookie = "a4mark-" + hashlib.sha256(token.encode()).hexdigest()[:10]
    app = cast("MarkingApp", Flask(__name__, static_folder="static", template_folder=None))   # cast: typing only
    app.config["TOKEN"] = token
    app.config["INJECT_LATENCY_S"] = 0.0
    app.config["MARKER"] = marker or ""
    app.batch = batch
    app.notes = csvsync.import_hand_edits(batch.store, batch.out_dir / "written_marks.csv")
    app.updater = Updater(batch.out_dir, batch.store, batch.ids) if start_updater else None
    if app.updater:
        app.updater.rewrite_all()
    batch.queue_pdfs()
    report_csp = _report_csp()

    def valid(value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(cast(str, value).encode(), token.encode())   # bool(value): a str

    @app.before_request
    def check_token() -> BaseResponse | None:
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
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = report_csp if request.path.startswith("/reports/") else CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    app.register_blueprint(pages)
    app.register_blueprint(api)
    return app


def _report_csp() -> str:
    """The CSP of the report pages served under ``/reports/``: they are self-contained files (inline
    style and script, so they also work opened from disk), so only the templates' own inline blocks
    may run, by hash, and the page gets an opaque origin (``sandbox``): no cookie, no ``/api``."""
    import base64
    import re
    hashes: dict[str, set[str]] = {"script": set(), "style": set()}
    for name in ("base.html.j2", "index.html.j2", "student.html.j2"):
        for kind, body in re.findall(r"<(script|style)>(.*?)</\1>", (TEMPLATES / name).read_text(), re.DOTALL):
            if "{{" not in body and "{%" not in body:
                digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
                hashes[kind].add(f"'sha256-{digest}'")
    return ("default-src 'none'; img-src data:; style-src " + " ".join(sorted(hashes["style"])) +
            "; script-src " + " ".join(sorted(hashes["script"])) +
            "; form-action 'none'; frame-ancestors 'none'; base-uri 'none'; sandbox allow-scripts")


def serve(out_dir: str | Path, host: str = "127.0.0.1", port: int = 0, open_browser: bool = True,
          echo: Callable[..., object] = print, token: str | None = None, marker: str | None = None,
          anonymous: bool = False) -> int:
    """Run the app until interrupted; prints the URL (with its token) first.

    ``token``: the access token (else the one kept in ``OUT/marking/token``, see ``access``);
    ``marker``: the TA's name, recorded as ``by`` on each mark (else the client's address).
    """
    from werkzeug.serving import make_server
    from graders.marking.access import kept_token
    app = create_app(out_dir, token=kept_token(Path(out_dir), token), marker=marker, anonymous=anonymous)
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
        cast("Updater", app.updater).flush()   # create_app started one (start_updater=True)
    return 0
