"""Ids and names from students made safe for terminals, spreadsheets and file names (issue 9, part 8)."""
import csv
import io
from pathlib import Path

import pytest

from graders.results import SubmissionInfo
from graders.safe_text import clean_id, csv_cell, csv_value, display_name, page_name, page_names, terminal_safe


@pytest.mark.parametrize("raw, expected", [
    ("  alice ", "alice"),
    ("Dana\tLi", "Dana Li"),
    ("bob\x1b[31mRED", "bob RED"),
    ("eve\r\nmallory", "eve mallory"),
    ("x\u202eevil", "x evil"),
    ("bad\udcffname", "bad\ufffdname"),
    ("Zoe\u0301", "Zoé"),          # NFD from macOS folders becomes NFC
    ("", "unnamed"),
    ("\x00\x07", "unnamed"),
])
def test_clean_id(raw, expected):
    assert clean_id(raw) == expected


def test_clean_id_is_idempotent_and_capped():
    for raw in ["  a\x1b]0;title\x07b ", "x" * 500, "é\u0301 \n\t y", "\ud800"]:
        once = clean_id(raw)
        assert clean_id(once) == once
        assert len(once) <= 120
        once.encode("utf-8")  # no surrogate left


def test_terminal_safe_leaves_no_control_character():
    text = terminal_safe("alice\x1b[2J\x1b]0;pwned\x07\r\nok\x9b31m\u202e\udc80")
    assert all(ord(c) >= 0x20 and not 0x7f <= ord(c) <= 0x9f for c in text)
    assert "\\x1b[2J" in text and "\\x0d\\x0a" in text and "\\u202e" in text and "\ufffd" in text
    assert terminal_safe("plain Zoë_1") == "plain Zoë_1"
    assert terminal_safe("abcdef", limit=4) == "abc…"


def test_display_name_keeps_the_end_of_long_names():
    shown = display_name("A4.zip/" + "d/" * 300 + "A4.ipynb")
    assert len(shown) == 200 and shown.endswith("/A4.ipynb") and shown.startswith("…")


@pytest.mark.parametrize("value, cell", [
    ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
    ("+1", "'+1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("'=x", "''=x"), ("alice", "alice"), ("'quoted", "'quoted"), ("", ""), (None, ""), (40.0, "40.0"),
])
def test_csv_cell_neutralises_formulas(value, cell):
    assert csv_cell(value) == cell


@pytest.mark.parametrize("text", ["=1+1", "''=x", "'=x", "-", "@", "'", "plain", "", "\t=", "a=b"])
def test_csv_value_inverts_csv_cell_through_a_real_csv_file(text):
    handle = io.StringIO()
    csv.writer(handle).writerow([csv_cell(text)])
    handle.seek(0)
    (read,) = next(csv.reader(handle))
    assert csv_value(read) == text


def test_page_names_are_safe_unique_and_never_the_graders_own_files():
    ids = ["index", "INDEX", "grades", "results", "similarity", "written_marks", "con", "Nul.txt", "COM1",
           " .alice. ", "alice", "Alice", "../../etc/passwd", "\x1b[31m", "a" * 300, "Zoë", "Zo_", ""]
    names = page_names(ids)
    assert set(names) == set(ids)
    lowered = [n.lower() for n in names.values()]
    assert len(set(lowered)) == len(ids)                      # unique, also on case-insensitive disks
    for name in names.values():
        stem = name[: -len(".html")]
        assert name.endswith(".html") and stem and len(stem) <= 90
        assert not stem.startswith((".", "-", "_", " ")) and not stem.endswith((".", " "))
        assert all(c.isascii() and (c.isalnum() or c in "._-") for c in stem)
        base = stem.split(".")[0].lower()
        assert base not in {"index", "grades", "results", "similarity", "written_marks", "con", "nul", "com1"}
    assert names["alice"] != names["Alice"] and names["../../etc/passwd"] == "etc_passwd.html"
    assert page_names(list(reversed(ids))) == names          # independent of order


def test_page_name_adds_to_taken():
    taken = {"bob.html"}
    assert page_name("bob", taken) == "bob-2.html" and page_name("BOB", taken) == "BOB-3.html"
    assert {"bob-2.html", "bob-3.html"} <= taken


def test_written_marks_file_round_trips_hostile_ids(tmp_path):
    """write_marks_file neutralises formulas; read_marks maps every id back to the same clean id."""
    from graders.marking.written import read_marks, write_marks_file
    ids = [clean_id(raw) for raw in ['=HYPERLINK("http://evil","x")', " spaced ", "@SUM(1)", "-1", "'=x", "plain"]]
    path = write_marks_file(tmp_path / "written_marks.csv", ids)
    cells = [row.split(",")[0] for row in path.read_text(encoding="utf-8").splitlines()[1:]]
    assert not any(c.lstrip('"').startswith(("=", "+", "-", "@")) for c in cells)
    # a TA types marks and a formula-looking comment, with a stray space before an id
    text = path.read_text(encoding="utf-8").replace("\nplain,", "\n plain ,3").replace("'-1,", "'-1,4")
    path.write_text(text, encoding="utf-8")
    marks = read_marks(path, set(ids))
    assert set(marks) == set(ids)
    assert marks["plain"]["marks"] == {"q1a": 3.0} and marks["-1"]["marks"] == {"q1a": 4.0}
    write_marks_file(path, ids)   # rewriting keeps everything, encodes nothing twice
    assert read_marks(path, set(ids)) == marks
    assert path.read_text(encoding="utf-8").count("''=x") == 1


def test_status_lines_cannot_be_forged_by_an_id():
    from types import SimpleNamespace

    import grade
    item = SimpleNamespace(awarded=5.0, max=5.0)
    forged = "mallory\r\x1b[2Kalice   40/40\x1b[0m"
    line = grade._status_line(SimpleNamespace(id=forged, auto_awarded=0.0, auto_max=40.0, items={"q4.reconstruct": item}))
    assert "\x1b" not in line and "\r" not in line and "\n" not in line
    assert line.startswith("mallory\\x0d\\x1b[2Kalice   40/40\\x1b[0m")


# -- every template, every field, hostile (issue 17, item 1) ------------------------------------------
from html.parser import HTMLParser  # noqa: E402
from types import SimpleNamespace as NS  # noqa: E402


def _hostile(label):
    """A string that, drawn raw anywhere in a page (text, attribute, title, textarea, script), makes markup."""
    return (f"</textarea></title></script>\"'><x-h-{label} data-hostile onerror=alert(1)>"
            f"<script>alert('{label}')</script>")


class _Page(HTMLParser):
    """What a browser would build: elements, attributes, text and script bodies."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.attributes, self.data, self.scripts, self._in_script = [], [], [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += attrs
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        (self.scripts if self._in_script else self.data).append(data)


def _labels_in(value):
    """The labels of the hostile strings inside ``value`` (any nesting of containers and namespaces)."""
    import re
    if isinstance(value, str):
        return set(re.findall(r"x-h-([a-z0-9-]+)", value))
    if isinstance(value, dict):
        return set().union(*map(_labels_in, value.keys()), *map(_labels_in, value.values())) if value else set()
    if isinstance(value, (list, tuple, set)):
        return set().union(*map(_labels_in, value)) if value else set()
    if isinstance(value, NS):
        return _labels_in(vars(value))
    return set()


def _report_contexts():
    from graders.reports import render
    h = _hostile
    summary = NS(final=None, raw=None, auto=30.0, written=None, display=h("summary-display"), late=h("late"))
    check = NS(name=h("check-name"), awarded=0.0, marks=2.0, passed=False, expected=h("expected"),
               received=h("received"), hint=h("hint"))
    items = {"q4.loss": NS(status="fail", awarded=0.0, max=2.0, checks=[check], messages=[], details={}),
             "q4.train": NS(status="error", awarded=0.0, max=5.0, checks=[], messages=[h("message")],
                            details={"held_out": 1.0, "reference_held_out": 2.0, "untrained_held_out": 3.0,
                                     "seconds": 4.0})}
    s = NS(id=h("id"), items=items, info=SubmissionInfo(**{k: h(f"info-{k}") for k in
                                                            ("grader_version", "mode", "sandbox", "data", "seed",
                                                             "device", "torch")}))
    written = [{"id": h("written-id"), "marks": h("written-marks"), "max": 5,
                "answer": render.to_html(h("answer")), "model": render.to_html(h("model")),
                "plots": [{"cell": 2, "mime": h("plot-mime"), "data": h("plot-data")},
                          {"cell": 3, "mime": "image/png", "problem": h("plot-problem")}],
                "pdf_pages": [1], "page_images": [{"page": 1, "mime": h("page-mime"), "data": h("page-data")}],
                "feedback": {"entries": [(1.0, h("entry-text"))], "manual": 2.0, "comment": h("feedback-comment"),
                             "rubric": [{"points": 1.0, "text": h("rubric-text"), "applied": False, "ta_only": False}]}}]
    student = dict(s=s, summary=summary, flags=[h("flag")], ta=True, graded_at=h("graded-at"),
                   source_name=h("source-name"), bins_rule=h("bins-rule"), comment=h("comment"), notes=[h("note")],
                   files=[{"path": h("file-path"), "role": h("file-role"), "reason": h("file-reason")}],
                   pdf_link=h("pdf-link"), auto_max=h("auto-max"), written_max=h("written-max"),
                   has_pdf=True, extension=h("extension"),
                   published_at=h("published-at"),
                   rows=[{"id": h("row-id"), "kind": h("row-kind"), "awarded": h("row-awarded"), "max": 5,
                          "status": h("row-status"), "anchor": h("row-anchor")}],
                   pictures={"q4.train": [{"alt": h("picture-alt"), "mime": h("picture-mime"),
                                           "data": h("picture-data")}]}, written=written)
    index = dict(rows=[{"id": h("index-id"), "file": h("index-file"), "flags": [h("index-flag")],
                        "summary": NS(auto=1.0, written=None, raw=None, final=None, display=h("index-display")),
                        "similar": NS(similarity=0.9, partner=h("partner"), flagged=True)}],
                 distribution=[(h("bin-label"), 3)], items=[NS(id=h("item-id"), full=1, reason=h("reason"),
                                                               reason_count=2)],
                 bins_rule=h("index-bins"), graded_at=h("index-graded"), sandbox=h("index-sandbox"),
                 data=h("index-data"), with_similarity=True)
    return {"student.html.j2": student, "index.html.j2": index, "base.html.j2": {}}


def _marking_contexts():
    from graders.reports import render
    h = _hostile
    common = {"token": h("token"), "current_item": h("current-item"), "items": [(h("nav-item"), 5, 1, 3)],
              "anonymous": False, "first_page": 1}
    mark = NS(marked=True, score=2.0, applied=[h("applied")], manual=1.0, comment=h("mark-comment"))
    state = {"student": h("state-student"), "count": 3, "next_unmarked": 2, "done": 1, "item": h("state-item"),
             "late": h("state-late")}
    result = NS(id=h("student-id"), auto_awarded=30.0, auto_max=40.0)
    home = dict(common, students=[{"index": 0, "id": h("home-id"), "auto": 1.0, "auto_max": 40.0, "written": 2.0,
                                   "marked": 1, "late": h("home-late")}],
                stats=[NS(item=h("stats-item"), marked=1, total=2, mean=1.5, max=5.0, distribution=[(1.0, 2)],
                          entries=[("e1", h("stats-entry"), 2)])],
                notes=[h("csv-note")], status={"pending": True, "error": h("updater-error")}, total_items=16)
    question = dict(common, item=h("item"), maximum=5, result=result, index=1, state=state, mark=mark,
                    student_name=h("q-student-name"),
                    answer=render.to_html(h("q-answer")), model=render.to_html(h("q-model")), page_count=2,
                    plots=[{"cell": 2, "mime": h("q-plot-mime"), "data": h("q-plot-data")},
                           {"cell": 3, "mime": "image/png", "problem": h("q-plot-problem")}],
                    assigned=[1], pdf_problem=h("pdf-problem"),
                    entries=[NS(id=h("entry-id"), version=1, points=1.0, text=h("entry-text"))],
                    groups=[{"kind": h("group-kind"), "label": h("group-label"), "students": [h("group-student")],
                             "members": [(0, h("group-member"))], "here": True}])
    student = dict(common, result=result, index=1, page_file=h("page-file"), page_count=1, pdf_problem=h("s-pdf"),
                   student_name=h("s-student-name"),
                   rows=[{"item": h("s-item"), "max": 5, "mark": NS(score=None), "answer": render.to_html(h("s-answer")),
                          "plots": [{"cell": 2, "mime": h("s-plot-mime"), "data": h("s-plot-data")},
                                    {"cell": 3, "mime": "image/png", "problem": h("s-plot-problem")}], "pages": [1]}],
                   feedback={h("s-item"): {"entries": [(1.0, h("s-entry"))], "comment": h("s-comment")}},
                   notes=NS(comment=h("general-comment"), pages={h("s-item"): [1]}), state=state,
                   proposed={h("proposed-item"): [1]})
    return {"marking_base.html.j2": common, "marking_home.html.j2": home, "marking_question.html.j2": question,
            "marking_student.html.j2": student}


def _similarity_contexts():
    h = _hostile
    pair = NS(a=h("pair-a"), b=h("pair-b"), similarity=0.9, longest=40, flagged=True, written=0.5,
              written_items={h("written-item"): 0.5}, structure=0.8, tokens=0.7, texts=2.0, reason=h("pair-reason"),
              pdf=0.4)
    row = NS(header=True, number=1, region=0, text=h("code-line"))
    view = {"number": 1, "pair": pair, "more_regions": 2, "problems": [h("pair-problem")],
            "regions": [{"a": (1, 2), "b": (3, 4), "tokens": 30, "colour": 0}], "left": [row], "right": [row]}
    report = NS(ids=[h("report-id")], pairs=[pair, pair], threshold=0.5, min_longest=20, template_statements=3,
                clusters=[NS(label=h("cluster-label"), lowest=0.95, members=[h("cluster-a"), h("cluster-b")])])
    overview = dict(report=report, listed=[pair], numbers={(pair.a, pair.b): 1}, views=[view], flagged=2,
                    written=[pair], unreadable=[NS(id=h("unreadable-id"), problem=h("unreadable-problem"))],
                    boilerplate=4, pdfs=[NS(a=h("pdf-a"), b=h("pdf-b"), pdf=0.4)],
                    neighbours=[(h("neighbour-id"), NS(partner=h("neighbour-partner"), similarity=0.9, standout=3.5,
                                                       flagged=True))])
    return {"similarity.html.j2": overview, "similarity_pair.html.j2": {"view": view}}


def _variables(env, name):
    """Every top-level variable ``name`` reads, with the templates it extends or includes."""
    from jinja2 import meta, nodes
    ast = env.parse(env.loader.get_source(env, name)[0])
    found = set(meta.find_undeclared_variables(ast))
    bound = {n.name for n in ast.find_all(nodes.Name) if n.ctx == "store"}   # e.g. a loop's name an include reads
    for other in meta.find_referenced_templates(ast):
        found |= _variables(env, other) - bound
    return found


# Fields a template reads but does not show in the context given (a branch not taken there).
# ``current_item`` and ``mark.applied`` are only compared with other values, ``report.ids`` only counted.
# ``student.html.j2``: ``feedback.entries`` only says whether there is marking to show (the rubric list
# shows it); ``auto_max`` only on a final grade without written marks (a late one), not this summary.
NOT_SHOWN = {"student.html.j2": {"entry-text", "auto-max"}, "similarity.html.j2": {"report-id"},
             "similarity_pair.html.j2": {"written-item"},  # the pair view shows no per-item scores
             "marking_base.html.j2": {"current-item"},
             "marking_home.html.j2": {"current-item", "stats-entry"},   # an entry's text is cut to 40 characters there
             # the marking pages name the student by student_name (an alias when marking anonymously), never result.id
             "marking_question.html.j2": {"current-item", "applied", "student-id"},
             "marking_student.html.j2": {"current-item", "student-id"}}


def test_every_template_escapes_a_hostile_string_in_every_field():
    """Every template under graders/reports/templates, drawn by the one environment the grader uses, with a
    hostile string in every field it reads: no element, attribute or script comes out of a field,
    and each string is there, as text or as an attribute's value."""
    from graders.reports.templating import environment
    env = environment()
    contexts = {**_report_contexts(), **_marking_contexts(), **_similarity_contexts()}
    assert set(contexts) == set(env.list_templates(extensions=["j2"]))     # a new template needs a context here
    for name, context in contexts.items():
        assert _variables(env, name) <= set(context) | {"loop", "range"}, name   # every field it reads is given
        page = _Page()
        page.feed(env.get_template(name).render(**context))
        assert not [t for t in page.tags if t.startswith("x-h-")], name
        assert not [a for a, _ in page.attributes if a == "data-hostile" or a.startswith("on")], name
        assert not [s for s in page.scripts if "alert(" in s and "\\u003c" not in s], name   # tojson: \u003c
        shown = _labels_in(page.data) | _labels_in([v or "" for _, v in page.attributes]) | _labels_in(page.scripts)
        given = _labels_in(context)
        assert given - shown <= NOT_SHOWN.get(name, set()), (name, given - shown)


def test_the_app_and_the_reports_draw_with_the_escaping_environment():
    """No second, non-escaping environment: Flask's (which escapes only .html/.htm/.xml/.xhtml) is unused."""
    import inspect

    from graders.reports import pages as report
    from graders.marking import app
    from graders.similarity import report as similarity_report
    for module in (app, report, similarity_report):
        source = inspect.getsource(module)
        assert "render_template" not in source and "Environment(" not in source, module.__name__
    assert "| safe" not in "".join(p.read_text() for p in (Path(report.__file__).parent / "templates").glob("*.j2"))
