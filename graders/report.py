"""Reports: a self-contained HTML page per student, the class overview, the gradebook.

Input: the graded ``SubmissionResult``s and the options of the run (bins,
deadline, written marks). Output, in the report folder: ``<id>.html``,
``index.html``, ``grades.csv`` (for eClass/Moodle) and ``results.json``.
"""
import base64
import collections
import csv
import json
import re
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader

from graders import pictures, policies, scoring
from graders.written import extract_answers
from graders.discover import MOODLE
from graders.items import AUTO_ITEMS, WRITTEN_ITEMS

ANSWERS = Path(__file__).resolve().parent.parent / "reference" / "answers.md"


def model_answers(path=ANSWERS):
    """``{item: text}`` from the TA answers file, sections headed ``## q1a [5]``."""
    if not path.exists():
        return {}
    sections = re.split(r"^## (q\d[a-z]) \[\d+\]\s*$", path.read_text(), flags=re.MULTILINE)
    return {sections[i]: sections[i + 1].strip() for i in range(1, len(sections) - 1, 2)}


def report_filename(sub_id):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", sub_id) + ".html"


def _b64(png):
    return base64.b64encode(png).decode()


def _pictures(result, models, baselines, held_out):
    """``{item id: [{"alt", "data"}]}`` for the training items whose model could be loaded."""
    from graders.training import load_state
    out = {}
    if baselines is None or held_out is None:
        return out
    X, Y = held_out
    for item_id, conditional in (("q4.train", False), ("q5.train", True)):
        state = models.get(item_id)
        if state is None:
            continue
        try:
            student = load_state(conditional, state)
        except (RuntimeError, KeyError):
            continue
        baseline = baselines.get(conditional)
        kind = "CVAE" if conditional else "VAE"
        shown = [("reconstructions", pictures.reconstructions(student, baseline.model, X, Y if conditional else None))]
        if conditional:
            shown.append(("generated digits", pictures.generated_digits(student)))
        losses = result.items[item_id].details.get("losses", [])
        shown.append(("training curves", pictures.training_curves(losses, baseline.losses, f"{kind} training loss")))
        out[item_id] = [{"alt": f"{kind} {name}", "data": _b64(png)} for name, png in shown]
    return out


def _flags(result, summary):
    return [f for f in result.flags + ([summary.late] if summary.late else []) if f]


class Reporter:
    """Renders reports for one run; ``written`` is the TA's marks (``graders.written.read_marks``)."""

    def __init__(self, out_dir, bins=scoring.Bins(), deadline=None, written=None, baselines=None, held_out=None):
        self.out_dir = Path(out_dir)
        self.bins, self.deadline, self.written = bins, deadline, written or {}
        self.baselines, self.held_out = baselines, held_out
        self.env = Environment(loader=PackageLoader("graders", "templates"), autoescape=True)
        self.answers = model_answers()
        self.graded_at = datetime.now().strftime("%Y-%m-%d %H:%M")

    def summary(self, result):
        late = policies.late_flag(result.info.get("submitted_at"), self.deadline)
        return scoring.summarise(result, self.written.get(result.id), self.bins, late)

    def student_page(self, result, models):
        summary = self.summary(result)
        entry = self.written.get(result.id, {})
        answers = extract_answers(result.info.get("markdown", []))
        rows = [{"id": i.id, "kind": "auto", "awarded": f"{result.items[i.id].awarded:g}", "max": i.marks,
                 "status": result.items[i.id].status, "anchor": i.id.replace(".", "-")} for i in AUTO_ITEMS]
        written_rows = []
        for item, maximum in WRITTEN_ITEMS.items():
            mark = entry.get("marks", {}).get(item)
            rows.append({"id": item, "kind": "written", "awarded": "" if mark is None else f"{mark:g}",
                         "max": maximum, "status": "manual", "anchor": item})
            written_rows.append({"id": item, "max": maximum, "marks": "—" if mark is None else f"{mark:g}",
                                 "answer": answers.get(item, ""), "model": self.answers.get(item, "")})
        html = self.env.get_template("student.html.j2").render(
            s=result, summary=summary, flags=_flags(result, summary), rows=rows, written=written_rows,
            pictures=_pictures(result, models, self.baselines, self.held_out), bins_rule=self.bins.describe(),
            graded_at=self.graded_at, source_name=Path(result.info.get("source", "")).name,
            comment=entry.get("comment", ""), notes=result.info.get("notes", []))
        path = self.out_dir / report_filename(result.id)
        path.write_text(html, encoding="utf-8")
        return path

    def index(self, results):
        rows, reasons = [], collections.defaultdict(collections.Counter)
        for result in results:
            summary = self.summary(result)
            rows.append({"id": result.id, "file": report_filename(result.id), "summary": summary,
                         "flags": _flags(result, summary)})
            for item_id, item in result.items.items():
                if item.messages and item.awarded < item.max:
                    reasons[item_id][item.messages[0].split(":")[0].split("\n")[0][:100]] += 1
        labels = [f"{g:g}" for _, g in self.bins.edges] + [f"{self.bins.floor_grade:g}"]
        counts = collections.Counter(f"{r['summary'].final:g}" for r in rows if r["summary"].final is not None)
        distribution = [(f"final {label}", counts.get(label, 0)) for label in labels]
        distribution.append(("provisional", sum(1 for r in rows if r["summary"].final is None)))
        items = []
        for item in AUTO_ITEMS:
            common = reasons[item.id].most_common(1)
            items.append({"id": item.id, "full": sum(1 for r in results if r.items[item.id].awarded == item.marks),
                          "reason": common[0][0] if common else "", "reason_count": common[0][1] if common else 0})
        first = results[0].info if results else {}
        html = self.env.get_template("index.html.j2").render(
            rows=rows, distribution=distribution, items=items, bins_rule=self.bins.describe(),
            graded_at=self.graded_at, sandbox=first.get("sandbox", ""), data=first.get("data", ""))
        path = self.out_dir / "index.html"
        path.write_text(html, encoding="utf-8")
        return path

    def gradebook(self, results):
        """``grades.csv``: Moodle's offline grading worksheet columns (Identifier, Full name, Grade)."""
        path = self.out_dir / "grades.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["Identifier", "Full name", "Grade", "Status"])
            for result in results:
                summary = self.summary(result)
                moodle = MOODLE.match(result.id + "_assignsubmission_file_")
                identifier, name = ((f"Participant {moodle['number']}", moodle["name"]) if moodle
                                    else (result.id, result.id))
                grade = "" if summary.final is None else f"{summary.final:g}"
                writer.writerow([identifier, name, grade, "final" if summary.final is not None else "provisional"])
        return path

    def results_json(self, results):
        summaries = {r.id: self.summary(r) for r in results}
        document = scoring.contract_document(results, summaries)
        for entry, result in zip(document["submissions"], results):
            entry["details"] = result.full_json()
        path = self.out_dir / "results.json"
        path.write_text(json.dumps(document, indent=1))
        return path, scoring.contract_document(results, summaries)

    def write_all(self, results, models_of):
        """Every file; ``models_of(result)`` gives ``{item id: state dict}``. Returns the contract document."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for result in results:
            self.student_page(result, models_of(result))
        self.index(results)
        self.gradebook(results)
        return self.results_json(results)[1]
