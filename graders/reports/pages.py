"""Reports: a self-contained HTML page per student, the class overview, the gradebook.

Input: the graded ``SubmissionResult``s and the options of the run (bins,
deadline, written marks). Output, in the report folder:

- ``students/<id>.html``: the student's copy (marks, reasons, their own answers, the
  TA's rubric entries and comments); never the model answers. Send these.
- ``ta/<id>.html``: the TA's copy, the same plus the model answer beside each written
  answer. Never send these.
- ``index.html`` (class overview, linking both copies), ``grades.csv`` (for
  eClass/Moodle), ``results.json``, ``report_settings.json`` (the bins and deadline, so
  that ``graders.marking.updater.rewrite_reports`` can redo the pages after a mark changes without regrading).
"""
from __future__ import annotations

import base64
import collections
import csv
import html
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast


from graders import scoring
from graders.batch.store import ResultStore
from graders.results import CAUSES, SubmissionInfo
from graders.intake import policies
from graders.reports import cells
from graders.reports import pdf
from graders.reports import render
from graders.intake.answers import extract_answers, model_answers
from graders.safe_text import csv_cell
from graders.reports.templating import environment
from graders.items import AUTO_ITEMS, WRITTEN_ITEMS, WRITTEN_MAX
from graders.judge.childdata import clean_text

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

    import torch

    from graders.judge.baselines import ReferenceBaselines
    from graders.results import ItemResult, SubmissionResult
    from reference.scaffold import CVAE, VAE


def _lost_on(item: ItemResult) -> str:
    """What an item lost marks on, as data: its first failed check's name, else its cause in words."""
    failed = next((check.name for check in item.checks if not check.passed), None)
    return failed or (CAUSES.get(item.cause, "") if item.cause else "") or item.status


def report_filename(sub_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", sub_id) + ".html"


def _b64(png: bytes) -> str:
    return base64.b64encode(png).decode()


def _pictures(result: SubmissionResult, models: dict[str, dict[str, torch.Tensor]], baselines: ReferenceBaselines | None,
              held_out: tuple[torch.Tensor, torch.Tensor] | None) -> dict[str, list[dict[str, str]]]:
    """``{item id: [{"alt", "data"}]}`` for the training items whose model could be loaded."""
    from graders.reports import pictures  # torch: only when there are models to draw
    from graders.judge.baselines import load_state
    out: dict[str, list[dict[str, str]]] = {}
    if baselines is None or held_out is None:
        return out
    X, Y = held_out
    for item_id, conditional in ((i.id, i.conditional) for i in AUTO_ITEMS if i.trains):
        state = models.get(item_id)
        if state is None:
            continue
        try:
            student = load_state(conditional, state, result.items[item_id].details.get("structure"))
        except (RuntimeError, KeyError, TypeError, AttributeError):
            continue
        baseline = baselines.get(conditional)
        kind = "CVAE" if conditional else "VAE"
        shown: list[tuple[str, str | bytes]] = [
            ("reconstructions", pictures.reconstructions(student, cast("VAE | CVAE", baseline.model), X,
                                                         Y if conditional else None))]
        if conditional:
            shown.append(("generated digits", pictures.generated_digits(cast("CVAE", student))))
        losses = result.items[item_id].details.get("losses", [])
        shown.append(("training curves", pictures.training_curves(losses, baseline.losses, f"{kind} training loss")))
        out[item_id] = [{"alt": f"{kind} {name}", **pictures.encoded(picture)} for name, picture in shown]
    return out


def _cached_pictures(out_dir: str | Path, result: SubmissionResult,
                     compute: Callable[[], dict[str, list[dict[str, str]]]]) -> dict[str, list[dict[str, str]]]:
    """``compute()``'s pictures, kept in ``OUT/pictures/`` so that pages can be redone without the models."""
    key = result.info.fingerprint or re.sub(r"[^A-Za-z0-9_-]+", "_", result.id)[:80]
    path = Path(out_dir) / "pictures" / f"{key}.json"
    found = compute()
    if found:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(found))
        return found
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _relative_link(path: str | Path | None, out_dir: str | Path) -> str:
    """A link from a page in ``OUT/students/`` or ``OUT/ta/`` to ``path`` inside ``OUT``, or ``""``."""
    if path is None:
        return ""
    try:
        return "../" + Path(path).resolve().relative_to(Path(out_dir).resolve()).as_posix()
    except ValueError:
        return ""


def _when(iso: str | None) -> str:
    """``"YYYY-MM-DD HH:MM"`` of an ISO time, or ``""``."""
    try:
        return f"{datetime.fromisoformat(iso):%Y-%m-%d %H:%M}" if iso else ""
    except (TypeError, ValueError):
        return ""


def _flags(result: SubmissionResult, summary: scoring.Summary) -> list[str]:
    return [f for f in result.flags + ([summary.late] if summary.late else []) if f]


@dataclass(frozen=True)
class ReportSettings:
    """What a run decided about grades, kept in ``report_settings.json`` so pages can be redone.

    ``extensions``: submission id -> that student's own deadline (``--extensions``), which
    replaces ``deadline`` in the late rule for that student alone.
    """
    bins: scoring.Bins = scoring.Bins()
    deadline: datetime | None = None
    extensions: dict[str, datetime] = field(default_factory=dict)

    def deadline_of(self, sub_id: str) -> datetime | None:
        return self.extensions.get(sub_id, self.deadline)


def feedback_comments(feedback: dict, comment: str) -> str:
    """One plain-text cell for the gradebook's "Feedback comments" column: each written item's
    comment (``q1a: ...``) in item order, then the general comment."""
    parts = [f"{item}: {feedback[item]['comment'].strip()}" for item in WRITTEN_ITEMS
             if item in feedback and (feedback[item].get("comment") or "").strip()]
    if (comment or "").strip():
        parts.append(comment.strip())
    return "\n".join(parts)


class Reporter:
    """Renders reports for one run; ``written`` is the TA's marks (``graders.marking.written.read_marks``)."""

    def __init__(self, out_dir: str | Path, bins: scoring.Bins = scoring.Bins(), deadline: datetime | None = None,
                 written: dict[str, dict[str, Any]] | None = None, baselines: ReferenceBaselines | None = None,
                 held_out: tuple[torch.Tensor, torch.Tensor] | None = None,
                 feedback: Callable[[str], dict[str, dict[str, Any]]] | None = None,
                 extensions: Mapping[str, datetime] | None = None,
                 pdf_pages: Callable[[str], dict[str, list[int]]] | None = None) -> None:
        """``feedback(id) -> {item: {"score", "entries": [(points, text)], "comment", "rubric"}}``: the marking
        app's rubric entries and comments; ``pdf_pages(id) -> {item: [page]}``: the PDF pages the TA mapped
        to each item (both none by default: the marking app's store supplies them, ``graders.marking.updater``);
        ``extensions``: id -> deadline."""
        self.out_dir = Path(out_dir)
        self.settings = ReportSettings(bins, deadline, dict(extensions or {}))
        self.bins, self.deadline, self.written = bins, deadline, written or {}
        self.feedback = feedback or (lambda sub_id: {})
        self.pdf_pages_of = pdf_pages or (lambda sub_id: {})
        self.pages: dict[str, str] = {}  # id -> page file name, set for the whole batch by write_all / rewrite_reports
        self.baselines, self.held_out = baselines, held_out
        self.env = environment()  # every value escaped; answers arrive as Markup from render
        self.answers = model_answers()
        self.graded_at = datetime.now().strftime("%Y-%m-%d %H:%M")

    def summary(self, result: SubmissionResult) -> scoring.Summary:
        late = policies.late_flag(result.info.submitted_at, self.settings.deadline_of(result.id))
        return scoring.summarise(result, self.written.get(result.id), self.bins, late)

    def page_file(self, sub_id: str) -> str:
        return self.pages.get(sub_id) or report_filename(sub_id)

    def page_context(self, result: SubmissionResult, models: dict[str, dict[str, torch.Tensor]]) -> dict[str, Any]:
        """Everything ``student.html.j2`` reads for ``result`` (both copies; ``ta`` is added per copy)."""
        summary = self.summary(result)
        entry = self.written.get(result.id, {})
        answers = extract_answers(result.info.markdown)
        feedback = self.feedback(result.id)
        plots = cells.images(result, self.out_dir)
        kept = pdf.keep(result, self.out_dir)  # for the marking app, while the file graded from still exists
        mapped = self.pdf_pages_of(result.id)
        rows = [{"id": i.id, "kind": "auto", "awarded": f"{result.items[i.id].awarded:g}", "max": i.marks,
                 "status": result.items[i.id].status, "anchor": i.id.replace(".", "-")} for i in AUTO_ITEMS]
        written_rows = []
        for item, maximum in WRITTEN_ITEMS.items():
            mark = entry.get("marks", {}).get(item)
            rows.append({"id": item, "kind": "written", "awarded": "" if mark is None else f"{mark:g}",
                         "max": maximum, "status": "manual", "anchor": item})
            written_rows.append({"id": item, "max": maximum, "marks": "—" if mark is None else f"{mark:g}",
                                 "answer": render.to_html(answers.get(item, "")),
                                 "model": render.to_html(self.answers.get(item, "")),
                                 "feedback": feedback.get(item, {}), "plots": plots.get(item, []),
                                 "pdf_pages": mapped.get(item, []), "page_images": []})
        shown = _cached_pictures(self.out_dir, result,
                                 lambda: _pictures(result, models, self.baselines, self.held_out))
        extended = self.settings.extensions.get(result.id)
        return dict(s=result, summary=summary, flags=_flags(result, summary), rows=rows, written=written_rows,
                    pictures=shown, bins_rule=self.bins.describe(),
                    graded_at=_when(result.info.graded_at) or self.graded_at, published_at="",
                    source_name=Path(result.info.source).name, comment=entry.get("comment", ""),
                    notes=result.info.notes, auto_max=f"{result.auto_max:g}", written_max=f"{WRITTEN_MAX:g}",
                    files=[f for f in result.info.files if isinstance(f, dict)][:20],
                    pdf_link=_relative_link(kept, self.out_dir), has_pdf=kept is not None,
                    extension=f"{extended:%Y-%m-%d %H:%M}" if extended else "")

    def render_page(self, context: dict[str, Any], ta: bool) -> str:
        return self.env.get_template("student.html.j2").render(ta=ta, **context)

    def student_page(self, result: SubmissionResult, models: dict[str, dict[str, torch.Tensor]]) -> Path:
        """Write the student's copy and the TA's copy of ``result``'s page; returns the student's copy."""
        context = self.page_context(result, models)
        name = self.page_file(result.id)
        for folder, ta in (("students", False), ("ta", True)):
            (self.out_dir / folder).mkdir(parents=True, exist_ok=True)
            (self.out_dir / folder / name).write_text(self.render_page(context, ta), encoding="utf-8")
        legacy = self.out_dir / name  # earlier versions wrote one page, with the model answers, here
        if legacy.is_file() and "<h1>Homework 4 report:" in legacy.read_text(encoding="utf-8", errors="replace"):
            legacy.unlink()
        return self.out_dir / "students" / name

    def broken_page(self, result: SubmissionResult, error: Exception) -> None:
        """A plain page saying the student's report could not be drawn (the marks stand, in results.json)."""
        text = clean_text(f"{type(error).__name__}: {error}")
        for folder in ("students", "ta"):
            (self.out_dir / folder).mkdir(parents=True, exist_ok=True)
            (self.out_dir / folder / self.page_file(result.id)).write_text(
                f"<!doctype html><meta charset='utf-8'><title>A4 report</title><h1>Homework 4 report: "
                f"{html.escape(clean_text(result.id))}</h1><p>Auto-graded {result.auto_awarded:g}/{result.auto_max:g}. "
                f"This page could not be drawn ({html.escape(text)}); the marks are in results.json.</p>",
                encoding="utf-8")

    def index(self, results: Sequence[SubmissionResult]) -> Path:
        rows: list[dict[str, Any]]
        reasons: collections.defaultdict[str, collections.Counter[str]]
        rows, reasons = [], collections.defaultdict(collections.Counter)

        for result in results:
            summary = self.summary(result)
            rows.append({"id": result.id, "file": self.page_file(result.id), "summary": summary,
                         "flags": _flags(result, summary)})
            for item_id, item in result.items.items():
                if item.awarded < item.max:
                    reasons[item_id][_lost_on(item)] += 1
        labels = [f"{g:g}" for _, g in self.bins.edges] + [f"{self.bins.floor_grade:g}"]
        counts = collections.Counter(f"{r['summary'].final:g}" for r in rows if r["summary"].final is not None)
        distribution = [(f"final {label}", counts.get(label, 0)) for label in labels]
        distribution.append(("provisional", sum(1 for r in rows if r["summary"].final is None)))
        items = []
        for item in AUTO_ITEMS:
            common = reasons[item.id].most_common(1)
            items.append({"id": item.id, "full": sum(1 for r in results if r.items[item.id].awarded == item.marks),
                          "reason": common[0][0] if common else "", "reason_count": common[0][1] if common else 0})
        first = results[0].info if results else SubmissionInfo()
        similar = similarity_column(self.out_dir)
        for row in rows:
            row["similar"] = similar.get(row["id"])
        page = self.env.get_template("index.html.j2").render(
            rows=rows, distribution=distribution, items=items, bins_rule=self.bins.describe(),
            graded_at=self.graded_at, sandbox=first.sandbox, data=first.data,
            with_similarity=bool(similar))
        path = self.out_dir / "index.html"
        path.write_text(page, encoding="utf-8")
        return path

    def gradebook(self, results: Iterable[SubmissionResult]) -> Path:
        """``grades.csv``: Moodle's offline grading worksheet columns (Identifier, Full name, Grade, Feedback
        comments), so that it imports as is; ``Status`` says whether the grade is final or provisional."""
        path = self.out_dir / "grades.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["Identifier", "Full name", "Grade", "Status", "Feedback comments"])
            for result in results:
                summary = self.summary(result)
                moodle = result.info.moodle
                identifier, name = ((f"Participant {moodle.participant}", moodle.full_name) if moodle
                                    else (result.id, result.id))
                grade = "" if summary.final is None else f"{summary.final:g}"
                comments = feedback_comments(self.feedback(result.id),
                                             self.written.get(result.id, {}).get("comment", ""))
                writer.writerow([csv_cell(v) for v in (identifier, name, grade,  # no formulas from folder names
                                                       "final" if summary.final is not None else "provisional",
                                                       comments)])
        return path

    def results_json(self, results: Sequence[SubmissionResult]) -> tuple[Path, dict[str, Any]]:
        """``results.json`` (the contract's document with every detail); returns ``(path, contract document)``.
        A late submission's ``late: ...`` flag is in its contract flags, as on its page."""
        summaries = {r.id: self.summary(r) for r in results}
        contract = scoring.contract_document(results, summaries)
        for entry in contract["submissions"]:
            late = summaries[entry["id"]].late
            entry["flags"] += [late] if late else []
        document = json.loads(json.dumps(contract))
        for entry, result in zip(document["submissions"], results):
            entry["details"] = result.full_json()
        path = self.out_dir / "results.json"
        path.write_text(json.dumps(document, indent=1))
        return path, contract

    def settings_json(self) -> Path:
        """``report_settings.json``: the bins, deadline and extensions of this run, read back by
        ``load_settings`` (``rewrite_reports``, ``publish``)."""
        path = self.out_dir / "report_settings.json"
        bins = self.bins
        path.write_text(json.dumps({"bins": {"edges": [list(e) for e in bins.edges],
                                             "floor_grade": bins.floor_grade, "inclusive": bins.inclusive},
                                    "deadline": self.deadline.isoformat() if self.deadline else None,
                                    "extensions": {k: v.isoformat() for k, v in self.settings.extensions.items()}},
                                   indent=1))
        return path

    def set_pages(self, results: Iterable[SubmissionResult]) -> None:
        ids = [r.id for r in results]
        try:
            from graders.safe_text import page_names
            self.pages = page_names(ids)
        except ImportError:  # pragma: no cover
            self.pages = {i: report_filename(i) for i in ids}

    def write_all(self, results: Sequence[SubmissionResult],
                  models_of: Callable[[SubmissionResult], dict[str, dict[str, torch.Tensor]]]) -> dict[str, Any]:
        """Every file; ``models_of(result)`` gives ``{item id: state dict}``. Returns the contract document."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.set_pages(results)
        self.settings_json()
        for result in results:
            try:
                self.student_page(result, models_of(result))
            except Exception as error:  # noqa: BLE001 - one page must not cost the class its reports
                self.broken_page(result, error)
        self.index(results)
        self.gradebook(results)
        return self.results_json(results)[1]


SIMILARITY_FILE = "similarity.json"


def similarity_column(out_dir: str | Path) -> dict[str, dict[str, Any]]:
    """``{id: {"partner", "similarity", "flagged"}}`` from ``OUT/similarity.json`` (written by ``grade``)."""
    path = Path(out_dir) / SIMILARITY_FILE
    try:
        column = json.loads(path.read_text()).get("column", {}) if path.exists() else {}
    except (ValueError, OSError, AttributeError):
        return {}
    return {k: v for k, v in column.items() if isinstance(v, dict)}


def stored_results(out_dir: str | Path) -> list[SubmissionResult]:
    """The latest stored ``SubmissionResult`` per id, from ``OUT/results.jsonl``, in id order."""
    return ResultStore(out_dir).latest()


def load_settings(out_dir: str | Path) -> ReportSettings:
    """The ``ReportSettings`` the last grading run wrote (defaults when there is no file)."""
    try:
        data = json.loads((Path(out_dir) / "report_settings.json").read_text())
    except (OSError, ValueError):
        return ReportSettings()
    bins = data.get("bins", {})
    deadline = datetime.fromisoformat(data["deadline"]) if data.get("deadline") else None
    extensions = {k: datetime.fromisoformat(v) for k, v in (data.get("extensions") or {}).items()}
    return ReportSettings(scoring.Bins(tuple(tuple(e) for e in bins.get("edges", scoring.Bins.edges)),
                                       bins.get("floor_grade", 0), bins.get("inclusive", True)), deadline, extensions)


class Rewriter:
    """Redoes grades and pages from the stored results, without regrading (the marking app's job).

    ``written()`` gives the current marks, as ``graders.marking.written.read_marks`` does;
    ``feedback(id)`` the rubric entries and comments. ``rewrite(ids)`` rewrites the pages
    of ``ids`` (all when ``None``), then ``index.html``, ``grades.csv`` and
    ``results.json`` (every student: a grade can move the class overview).
    """

    def __init__(self, out_dir: str | Path, written: Callable[[], dict[str, dict[str, Any]]],
                 feedback: Callable[[str], dict[str, dict[str, Any]]] | None = None,
                 pdf_pages: Callable[[str], dict[str, list[int]]] | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.written, self.feedback, self.pdf_pages = written, feedback, pdf_pages
        self._seen: tuple[int, int] | None = None
        self.results: list[SubmissionResult] = []
        self.refresh()

    def refresh(self) -> list[SubmissionResult]:
        """Read the stored results again if ``results.jsonl`` changed (a regrade into the same folder
        while the marking app runs), so that no page, grade or roster is written from an old one."""
        try:
            stat = (self.out_dir / "results.jsonl").stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        if stamp != self._seen:
            self.results, self._seen = stored_results(self.out_dir), stamp
        return self.results

    def reporter(self) -> Reporter:
        """A ``Reporter`` with the stored settings and the current results, marks and feedback."""
        self.refresh()
        settings = load_settings(self.out_dir)
        reporter = Reporter(self.out_dir, settings.bins, settings.deadline, self.written(), feedback=self.feedback,
                            extensions=settings.extensions, pdf_pages=self.pdf_pages)
        reporter.set_pages(self.results)
        return reporter

    def rewrite(self, ids: Collection[str] | None = None) -> dict[str, Any]:

        reporter = self.reporter()
        for result in self.results:
            if ids is None or result.id in ids:
                reporter.student_page(result, {})
        reporter.index(self.results)
        reporter.gradebook(self.results)
        return reporter.results_json(self.results)[1]
