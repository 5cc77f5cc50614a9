"""The red-team corpus: every hostile or broken submission gets its verdict, and nothing gets out.

Run once under bubblewrap (every attack must be stopped) and once with the sandbox
off, which prints which attacks only the process limits still stop. Each run grades
round 1 (``ATTACKS``) and round 2 (``ROUND2``, issue 9) in one batch beside a clean
copy of the reference, with ``--deadline`` (two late submissions, one hidden in a
zip), then grades a second batch into the same output folder. After the batch:

- the clean control keeps 40/40, every submission has a verdict and a page, the JSON
  and every report exist, ``index.html`` is the class overview;
- nothing of ``reference/vae.py``'s solution or ``reference/answers.md`` is in any
  student-visible output (``--json``, ``results.json``, the pages, Gradescope's file);
- nothing was written outside (canary folder, the batch folder unchanged), nothing
  reached the TCP listener, no process an attack started is alive;
- CSV cells cannot start a formula; no raw escape sequence reaches the terminal.
"""
import csv
import difflib
import html
import json
import os
import re
import signal
import socket
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from graders.proof import catalogue
from graders.grading import sandbox
from graders.proof.catalogue import Case
from graders.items import AUTO_ITEMS
from reference.notebook import solution_notebook
from tests import hostile_files
from tests.conftest import ROOT, proof_sample, run_grade
from tests.redteam import (ATTACKS, CLEAN_REWRITES, HUNT_HELPERS, HUNT_REFERENCE, LATE_DEADLINE, LATE_PLAIN, LATE_ZIP,
                           LEAK_EXCEPTION, LEAK_FROM_ITEM, LEAK_TYPE_NAME, LOSES, ON_TIME, ROUND2)

import nbformat

pytestmark = pytest.mark.slow   # every test grades a batch under the sandbox (the inner loop is pytest -m 'not slow')

GOOD = "good-student"
ITEM_SECONDS, TRAIN_SECONDS = 15, 60
LIMITS = ["--time-limit", str(ITEM_SECONDS), "--train-time-limit", str(TRAIN_SECONDS), "--workers", "2"]
CORPUS = ATTACKS + ROUND2
GRADER_SIDE = {"batch stopper", "bounded parsing", "names", "loss on own numbers"}  # hold without the sandbox too


def sampled_by_kind(attacks, share=5):
    """A fifth of ``attacks`` (at least one) of every kind, spread evenly in each, in corpus order: what CI
    runs under bubblewrap (15 of 56, every kind present); ``A4_PROOF=full`` runs every attack. Each attack ran
    on the branch that added it."""
    kinds = {}
    for attack in attacks:
        kinds.setdefault(attack.kind, []).append(attack)
    chosen = {id(a) for group in kinds.values() for a in proof_sample(group, max(1, -(-len(group) // share)))}
    return [a for a in attacks if id(a) in chosen]


class Listener:
    """A TCP listener on 127.0.0.1 that records what reaches it; stops by itself."""

    def __init__(self, seconds=1800):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(1)
        self.port = self.server.getsockname()[1]
        self.received = []
        self.until = time.time() + seconds
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while time.time() < self.until:
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    self.received.append(connection.recv(100))
                except OSError:
                    self.received.append(b"(connected)")


class ProcessWatch:
    """Polls /proc for processes whose command line holds ``marker``: first and last time seen."""

    def __init__(self, marker):
        self.marker = marker.encode()
        self.seen = {}           # pid -> [first, last, command line]
        self.running = True
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def alive(self):
        found = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                command = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if self.marker in command:
                found[int(entry)] = command.replace(b"\0", b" ").decode(errors="replace")[-80:]
        return found

    def _poll(self):
        while self.running:
            now = time.monotonic()
            for pid, command in self.alive().items():
                self.seen.setdefault(pid, [now, now, command])[1] = now
            time.sleep(0.5)

    def stop(self):
        self.running = False
        self.thread.join(timeout=5)

    def kill_all(self):
        """Kill (by pid) every process an attack started that is still alive; returns their command lines."""
        left = self.alive()
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return sorted(left.values())


@pytest.fixture
def watch(tmp_path):
    marker = f"rtmark{os.getpid()}x{int(time.time())}"
    watcher = ProcessWatch(marker)
    yield watcher
    watcher.stop()
    watcher.kill_all()


def _slug(name):
    return "attack-" + "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def _stem(attack):
    return attack.stem if attack.stem is not None else _slug(attack.name)


def _fill(text, canary, port, marker=""):
    return (text.replace("{canary}", str(canary)).replace("{port}", str(port)).replace("{root}", str(ROOT))
            .replace("{marker}", marker))


def attack_source(attack, canary, port, marker):
    """The ``.py`` text of a replacement attack."""
    replacements = {k: _fill(v, canary, port, marker) for k, v in attack.replacements.items()}
    text = catalogue.case_source(Case(attack.name, None, replacements))
    return text + ("\n# %%\n" + _fill(attack.extra, canary, port, marker) if attack.extra else "")


def write_batch(folder, canary, port, include_harmful, marker, attacks=CORPUS):
    """The batch: the clean control, ``attacks``, and the two late submissions. Returns
    ``({stem: attack}, {stem: the submitted text})``; every file is dated ``ON_TIME`` except the late ones."""
    folder.mkdir(parents=True)
    nbformat.write(solution_notebook(), folder / f"{GOOD}.ipynb")
    used, texts = {}, {GOOD: hostile_files.solution_bytes().decode()}
    for attack in attacks:
        if attack.harmful_without_sandbox and not include_harmful:
            continue
        stem = _stem(attack)
        if attack.file_bytes is not None:
            path = folder / (stem + attack.suffix)
            path.parent.mkdir(parents=True, exist_ok=True)
            data = attack.file_bytes()
            path.write_bytes(data)
            texts[stem] = data.decode(errors="replace")
        elif attack.whole_file is not None:
            path = folder / (stem + (".ipynb" if "cells" in attack.whole_file else ".py"))
            path.write_text(attack.whole_file)
            texts[stem] = attack.whole_file
        else:
            texts[stem] = attack_source(attack, canary, port, marker)
            (folder / (stem + ".py")).write_text(texts[stem])
        used[stem] = attack
    for entry in folder.rglob("*"):
        os.utime(entry, (ON_TIME, ON_TIME))
    os.utime(folder / f"{GOOD}.ipynb", (ON_TIME, ON_TIME))
    notebook = hostile_files.solution_with_comment("handed in late")
    (folder / f"{LATE_PLAIN}.ipynb").write_bytes(notebook)                 # modified now: after the deadline
    (folder / f"{LATE_ZIP}.zip").write_bytes(hostile_files.dated_zip(notebook))  # members dated 2020, file now
    return used, texts


def _snapshot(folder):
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def _leaks(canary, listener):
    found = []
    if not (canary / "canary.txt").exists() or (canary / "canary.txt").read_text() != "precious":
        found.append("canary changed")
    found += [f"wrote {p.name}" for p in canary.iterdir() if p.name != "canary.txt"]
    found += [f"listener got {data!r}" for data in listener.received]
    return found


def _key(text):
    return "".join(c for c in text.lower() if c.isalnum())


def match_results(stems, results):
    """``{stem: result}``: by exact id, else by the id's letters and digits (ids may be sanitised)."""
    matched, left = {}, dict(results)
    for stem in stems:
        if stem in left:
            matched[stem] = left.pop(stem)
    for stem in stems:
        if stem in matched:
            continue
        for result_id in list(left):
            key, wanted = _key(result_id), _key(stem)
            if key and (key == wanted or key in wanted or wanted in key):
                matched[stem] = left.pop(result_id)
                break
    for stem in stems:  # what is left: the most similar id (an id whose control characters were dropped)
        if stem not in matched and left:
            best = max(left, key=lambda rid: difflib.SequenceMatcher(None, _key(rid), _key(stem)).ratio())
            if difflib.SequenceMatcher(None, _key(best), _key(stem)).ratio() >= 0.5:
                matched[stem] = left.pop(best)
    return matched


def verdict(attack, result):
    """Problems with ``result`` against ``attack`` (empty when the attack was stopped)."""
    if result is None:
        return ["no verdict in --json"]
    problems = []
    items = {item.id: result["items"].get(item.id) for item in AUTO_ITEMS}
    if any(got is None for got in items.values()):
        return [f"items missing: {[k for k, v in items.items() if v is None]}"]
    if attack.whole_file is not None or attack.outcome == "error":
        problems += [f"{k} is {v['status']}, expected error" for k, v in items.items() if v["status"] != "error"]
    elif attack.outcome == "error or full":
        all_error = all(v["status"] == "error" and v["awarded"] == 0 for v in items.values())
        all_full = all(v["awarded"] == v["max"] for v in items.values())
        if not (all_error or all_full):
            problems.append("neither all errors nor all full marks: " +
                            ", ".join(f"{k} {v['status']} {v['awarded']:g}" for k, v in items.items()))
        if all_error and not any(v["messages"] for v in items.values()):
            problems.append("error without a reason")
    else:
        for item_id, got in items.items():
            text = " ".join(got["messages"])
            if item_id in attack.expect:
                statuses, words = attack.expect[item_id]
                if statuses is None:
                    continue
                if statuses == LOSES:
                    if got["awarded"] >= got["max"]:
                        problems.append(f"{item_id} kept full marks: {got['status']} {text[:160]!r}")
                    continue
                if got["awarded"] != 0 or got["status"] not in statuses or words not in text:
                    problems.append(f"{item_id}: {got['status']} {got['awarded']} {text[:160]!r}")
            elif got["awarded"] != got["max"]:
                problems.append(f"{item_id} lost marks: {got['status']} {text[:160]!r}")
    return problems


# ---- what must never reach a student-visible output ------------------------------------------

def reference_lines():
    """Distinctive lines of ``reference/vae.py``'s solution regions: longer than 25 characters, not a
    signature, docstring or comment (the students' template has those too)."""
    lines, inside = set(), False
    for line in (ROOT / "reference" / "vae.py").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("### BEGIN SOLUTION"):
            inside = True
        elif stripped.startswith("### END SOLUTION"):
            inside = False
        elif inside and len(stripped) > 25 and not stripped.startswith(("def ", '"""', "#")):
            lines.add(stripped)
    return sorted(lines)


def answer_lines():
    """Distinctive lines of the TA's model answers (longer than 25 characters, not headings)."""
    return sorted({line.strip() for line in (ROOT / "reference" / "answers.md").read_text().splitlines()
                   if len(line.strip()) > 25 and not line.startswith("#")})


def _variants(line):
    """How a line may appear in an output: as is, JSON-escaped, HTML-escaped."""
    return {line, json.dumps(line)[1:-1], html.escape(line), html.escape(line, quote=False)}


def _count(text, line):
    """How often ``line`` appears in ``text``, as is or HTML-escaped."""
    return text.count(line) + (text.count(html.escape(line)) if html.escape(line) != line else 0)


def found_reference(text, lines):
    return sorted({line for line in lines if any(v in text for v in _variants(line))})


def student_visible(out_dir, stdout, extra=()):
    """``{name: text}`` of every output of a graded folder (pages in sub-folders too) and ``extra`` files."""
    out_dir = Path(out_dir)
    texts = {"--json stdout": stdout}
    for path in sorted(out_dir.rglob("*.html")) + [out_dir / "results.json", *map(Path, extra)]:
        if path.exists():
            texts[str(path.relative_to(out_dir)) if path.is_relative_to(out_dir) else path.name] = \
                path.read_text(errors="replace")
    return texts


TA_CODE_PAGES = ("similarity",)   # TA pages that show submitted code (a reference copy's code is the reference)


def _is_ta_copy(name):
    """Pages a TA reads (model answers allowed): ``ta/<id>.html``, or a flat ``<id>.html`` of the old layout."""
    parts = Path(name).parts
    return name.endswith(".html") and (parts[0] == "ta" or (len(parts) == 1 and name != "index.html"))


def reference_leaks(texts, control=GOOD):
    """Where reference code, or model answers beyond what the clean control's TA copy shows, appear.

    Student-visible outputs (``--json``, ``results.json``, ``students/*.html``, ``index.html``,
    Gradescope's file) must hold neither; a TA copy may show the model answers as often as the
    clean control's TA copy does; ``similarity.html`` (TA only) shows submitted code by design."""
    code, answers = reference_lines(), answer_lines()
    assert len(code) >= 12 and len(answers) >= 5
    found = {}
    for name, text in texts.items():
        if Path(name).name.startswith(TA_CODE_PAGES):
            continue  # shows the submissions' own code side by side, by design (TA only)
        hits = found_reference(text, code)
        if _is_ta_copy(name):
            folder = str(Path(name).parent)
            page = next((t for n, t in texts.items() if str(Path(n).parent) == folder and
                         Path(n).name.startswith(control)), None)
            if page is None:
                hits.append(f"no page of the clean control in {folder}/ to compare with")
            else:
                hits += [f"answers.md x{_count(text, line)}: {line[:40]}" for line in answers
                         if _count(text, line) > _count(page, line)]
        else:
            hits += [f"answers.md: {line[:40]}" for line in found_reference(text, answers)]
        hits += ["FOUND marker"] if "FOUND /" in text else []
        if hits:
            found[name] = [hit[:70] for hit in hits[:4]] + ([f"... {len(hits)} in all"] if len(hits) > 4 else [])
    return found


# ---- reports ------------------------------------------------------------------------------------

def page_problems(out_dir, n_submissions):
    """Every report exists, ``index.html`` is the class overview and links one page per submission."""
    out_dir = Path(out_dir)
    problems = [f"no {name}" for name in ("index.html", "grades.csv", "written_marks.csv", "results.json")
                if not (out_dir / name).exists()]
    if (out_dir / "index.html").exists():
        index = (out_dir / "index.html").read_text(errors="replace")
        links = {urllib.parse.unquote(html.unescape(h)) for h in re.findall(r'href="([^"#?]+\.html)"', index)}
        links = {link for link in links if "://" not in link and link != "index.html"}
        problems += [f"index links {link!r}, which is missing" for link in sorted(links)
                     if not (out_dir / link).is_file()]
        students = {link for link in links if link.startswith("students/")} or links
        if len(students) < n_submissions:
            problems.append(f"index.html links {len(students)} student pages for {n_submissions} submissions")
    if (out_dir / "results.json").exists():
        try:
            stored = json.loads((out_dir / "results.json").read_text())
        except ValueError as error:
            problems.append(f"results.json is not JSON: {error}")
        else:
            count = len(stored["submissions"]) if isinstance(stored, dict) and "submissions" in stored else len(stored)
            if count != n_submissions:
                problems.append(f"results.json holds {count} submissions for {n_submissions}")
    return problems


def csv_problems(out_dir):
    """Cells of the gradebook files a spreadsheet would run as a formula."""
    problems = []
    for name in ("grades.csv", "written_marks.csv"):
        path = Path(out_dir) / name
        if path.exists():
            for row in csv.reader(path.read_text(errors="replace").splitlines()):
                problems += [f"{name}: {cell[:30]!r}" for cell in row if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    return problems


def _late(result):
    return any(str(flag).lower().startswith("late") for flag in result.get("flags", []))


# ---- the run ------------------------------------------------------------------------------------

def run_corpus(tmp_path, mode, watch, attacks=CORPUS):
    canary = tmp_path / f"canary-{mode}"
    canary.mkdir()
    (canary / "canary.txt").write_text("precious")
    listener = Listener()
    harmful_ok = mode == "bwrap" or os.geteuid() != 0
    batch, out = tmp_path / f"batch-{mode}", tmp_path / f"out-{mode}"
    used, texts = write_batch(batch, canary, listener.port, harmful_ok, watch.marker.decode(), attacks)
    before = _snapshot(batch)
    started = time.monotonic()
    done = run_grade("grade", batch, "--json", "--sandbox", mode, "--out", out, "--deadline", LATE_DEADLINE,
                     *LIMITS, timeout=2400)
    seconds = time.monotonic() - started
    time.sleep(1)
    run = {"done": done, "used": used, "texts": texts, "batch": batch, "out": out, "seconds": seconds,
           "canary": canary, "listener": listener, "changed": _snapshot(batch) != before,
           "alive": watch.alive(), "lifetimes": {pid: last - first for pid, (first, last, _) in watch.seen.items()}}
    try:
        document = json.loads(done.stdout)
        run["results"] = {s["id"]: s for s in document["submissions"]}
    except (ValueError, KeyError, TypeError):
        run["results"] = {}
    run["matched"] = match_results([GOOD, LATE_ZIP, LATE_PLAIN, *used], run["results"])
    return run


def second_batch(tmp_path, out, mode):
    """Grade two more submissions into ``out`` (not with --json): must start, and print no raw escapes."""
    batch = tmp_path / f"second-{mode}"
    batch.mkdir()
    (batch / "esc\x1b[2Jagain.py").write_text("")
    (batch / "broken.ipynb").write_text('{"cells": [')
    ids_before = _csv_ids(out / "written_marks.csv")
    done = run_grade("grade", batch, "--sandbox", mode, "--out", out, *LIMITS, timeout=600)
    problems = []
    if done.returncode != 0:
        problems.append(f"second batch refused (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    if "\x1b" in done.stdout + done.stderr:
        problems.append("a raw escape sequence reached the terminal")
    lost = ids_before - _csv_ids(out / "written_marks.csv")
    if lost:
        problems.append(f"written_marks.csv lost the rows of {sorted(lost)[:3]}")
    return problems


def _csv_ids(path):
    if not path.exists():
        return set()
    return {row[0] for row in list(csv.reader(path.read_text(errors="replace").splitlines()))[1:] if row}


def assess(run, mode):
    """``{check: problems}`` for the whole corpus run; and ``{attack name: problems}``."""
    done, matched, used = run["done"], run["matched"], run["used"]
    checks = {}
    if done.returncode != 0 or not run["results"]:
        checks["batch"] = [f"exit {done.returncode}, {len(run['results'])} results; stderr: {done.stderr.strip()[-400:]}"]
    if done.stdout.count("\n") != 1 or "hacker" in done.stdout:
        checks["stdout"] = ["--json stdout is not exactly one line of the grader's JSON"]
    good = matched.get(GOOD)
    if good is None or good["auto_awarded"] != 40.0:
        checks["clean control"] = [f"clean control: {good and good['auto_awarded']}/40"]
    if good is not None and _late(good):
        checks["clean control"] = checks.get("clean control", []) + ["clean control flagged late"]
    n = len(used) + 3
    if len(run["results"]) != n and run["results"]:
        checks["verdicts"] = [f"{len(run['results'])} verdicts for {n} submissions"]
    checks["reports"] = page_problems(run["out"], n) if run["results"] else ["no reports checked (no results)"]
    per_attack = {attack.name: verdict(attack, matched.get(stem)) for stem, attack in used.items()}
    for stem in (LATE_ZIP, LATE_PLAIN):
        result = matched.get(stem)
        per_attack[stem] = (["no verdict"] if result is None else
                            [] if _late(result) else [f"{stem} not flagged late: flags {result.get('flags')}"])
    leaks = _leaks(run["canary"], run["listener"])
    for stem, attack in used.items():
        if attack.leaks and any(leak.startswith(attack.leaks) for leak in leaks):
            per_attack[attack.name] = per_attack[attack.name] + [leak for leak in leaks if leak.startswith(attack.leaks)]
    checks["side effects"] = leaks + (["the batch folder changed"] if run["changed"] else [])
    texts = student_visible(run["out"], done.stdout)
    checks["reference leaks"] = [f"{name}: {hits}" for name, hits in reference_leaks(texts).items()]
    checks["processes"] = [f"alive after grading: {c}" for c in run["alive"].values()]
    checks["processes"] += [f"pid {pid} lived {life:.0f} s (item limit {ITEM_SECONDS} s)"
                            for pid, life in run["lifetimes"].items() if life > ITEM_SECONDS + 10]
    checks["csv"] = csv_problems(run["out"])
    for name, attack in ((a.name, a) for a in used.values()):
        if attack.kind == "reference leak" and attack.own_text_is_clean:
            own = found_reference(run["texts"][_stem(attack)], reference_lines())
            assert own == [], f"{name}: the attack's own source holds reference lines {own[:2]}"
    return {k: v for k, v in checks.items() if v}, {k: v for k, v in per_attack.items() if v}


def print_table(title, used, per_attack, checks):
    rows = [(attack.kind, attack.name, "stopped" if attack.name not in per_attack else
             "NOT stopped: " + "; ".join(per_attack[attack.name])[:110]) for attack in used.values()]
    rows += [("late work in a zip", stem, "late" if stem not in per_attack else "; ".join(per_attack[stem])[:110])
             for stem in (LATE_ZIP, LATE_PLAIN)]
    print(f"\n{title}")
    for kind, name, result in rows:
        print(f"  {kind:<20} {name[:52]:<52} {result}")
    for check, problems in checks.items():
        print(f"  [{check}] " + " | ".join(map(str, problems))[:400])


@pytest.mark.skipif(not sandbox.bwrap_available(), reason="bubblewrap cannot start here")
def test_every_attack_is_stopped_under_bubblewrap(tmp_path, watch, capsys):
    attacks = sampled_by_kind(CORPUS)
    run = run_corpus(tmp_path, "bwrap", watch, attacks)
    checks, per_attack = assess(run, "bwrap")
    if run["results"]:
        second = second_batch(tmp_path, run["out"], "bwrap")
        if second:
            checks["second batch"] = second
    with capsys.disabled():
        print_table(f"Red team under bubblewrap ({run['seconds']:.0f} s):", run["used"], per_attack, checks)
    assert len(run["used"]) == len(attacks) >= min(15, len(CORPUS))
    assert checks == {}
    assert per_attack == {}


@pytest.mark.skipif(not sandbox.bwrap_available(), reason="bubblewrap cannot start here")
def test_gradescope_output_leaks_nothing_of_the_reference(tmp_path):
    """Every leak attack in one submission, graded as Gradescope would: its visible file holds no reference."""
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    replacements = dict(CLEAN_REWRITES, train_mnist_vae=LEAK_TYPE_NAME["train_mnist_vae"],
                        train_mnist_cvae=LEAK_EXCEPTION["train_mnist_cvae"], kl_divergence=LEAK_FROM_ITEM["kl_divergence"],
                        binary_cross_entropy=HUNT_REFERENCE["binary_cross_entropy"])
    source = catalogue.case_source(Case("all leaks", None, replacements)) + "\n# %%\n" + _fill(HUNT_HELPERS, "", 0)
    assert found_reference(source, reference_lines()) == []
    (root / "submission" / "a4.py").write_text(source)
    done = run_grade("gradescope", "--root", root, "--sandbox", "bwrap", timeout=900)
    assert done.returncode == 0, done.stderr[-1500:]
    texts = {"results.json": (root / "results" / "results.json").read_text(), "stdout": done.stdout}
    assert reference_leaks(texts) == {}


def _one_cell_batch(folder, cells):
    folder.mkdir()
    for name, cell in cells.items():
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)]), folder / f"{name}.ipynb")
    started = time.monotonic()
    done = run_grade("grade", folder, "--json", "--out", folder.parent / (folder.name + "-out"), *LIMITS, timeout=900)
    return done, time.monotonic() - started


def test_pathological_cells_cost_seconds_not_minutes(tmp_path):
    """520 ``%time`` magics or 5,000 ``!echo`` lines in one cell cost about what a one-line cell costs."""
    plain, plain_seconds = _one_cell_batch(tmp_path / "plain", {"magics": "x = 1", "shell": "y = 2"})
    done, seconds = _one_cell_batch(tmp_path / "cells", {
        "magics": "\n".join(f"%time x{i} = {i}" for i in range(520)),
        "shell": "\n".join(f"!echo line {i}" for i in range(5000))})
    assert plain.returncode == 0, plain.stderr[-1500:]
    assert done.returncode == 0, done.stderr[-1500:]
    assert {s["id"] for s in json.loads(done.stdout)["submissions"]} == {"magics", "shell"}
    assert seconds < 2 * plain_seconds + 20, f"{seconds:.0f} s, against {plain_seconds:.0f} s for one-line cells"


@pytest.mark.slow
@pytest.mark.proof
def test_without_the_sandbox_prints_what_process_limits_still_stop(tmp_path, watch, capsys):
    run = run_corpus(tmp_path, "none", watch)
    checks, per_attack = assess(run, "none")
    if run["results"]:
        second = second_batch(tmp_path, run["out"], "none")
        if second:
            checks["second batch"] = second
    with capsys.disabled():
        print_table(f"Red team with the sandbox off (process limits only; {run['seconds']:.0f} s):", run["used"],
                    per_attack, checks)
        print(f"  side effects that got out: {checks.get('side effects') or 'none'}")
    # What must hold without the sandbox: the batch, its reports and the grader-side defences.
    must = {k: v for k, v in checks.items() if k in ("batch", "stdout", "clean control", "verdicts", "reports", "csv",
                                                     "second batch")}
    assert must == {}
    grader_side = {a.name: per_attack[a.name] for a in run["used"].values()
                   if a.kind in GRADER_SIDE and a.name in per_attack}
    grader_side.update({stem: per_attack[stem] for stem in (LATE_ZIP, LATE_PLAIN) if stem in per_attack})
    assert grader_side == {}
    stopped = sum(1 for a in run["used"].values() if a.name not in per_attack)
    assert stopped >= 12


# ---- round 3 (issue 17): each trick beside the same code without it ------------------------------

from tests.redteam import ROUND3, WRONG_LR  # noqa: E402 - the round-3 records, after the earlier rounds
from graders.grading import cgroups  # noqa: E402
from graders.grading.pipeline import WORKER_MB, Settings  # noqa: E402
from reference.notebook import template_notebook  # noqa: E402

ROUND3_LIMITS = ["--time-limit", str(ITEM_SECONDS), "--train-time-limit", "50", "--workers", "2"]


def _base_source(trick):
    """The ``.py`` text of the trick's base: the template, the reference, or the reference with a wrong lr."""
    if trick.base == "template":
        text = "\n\n".join("# %%\n" + c.source for c in template_notebook().cells if c.cell_type == "code") + "\n"
    else:
        text = catalogue.case_source(Case(trick.base, None, WRONG_LR if trick.base == "wrong lr" else {}))
    return text + ("\n# %%\n" + trick.base_code if trick.base_code else "")


def _trick_source(trick):
    if trick.replacements:
        return catalogue.case_source(Case(trick.name, None, trick.replacements)) + (
            "\n# %%\n" + trick.base_code if trick.base_code else "")
    return _base_source(trick) + "\n# %%\n" + trick.code


def write_round3(folder, tricks):
    """The clean control and, per trick, ``<slug>-base.py`` (unless its base is the control) and
    ``<slug>-trick.py``; returns ``{trick name: (base id, trick id)}``."""
    folder.mkdir(parents=True)
    nbformat.write(solution_notebook(), folder / f"{GOOD}.ipynb")
    pairs, bases = {}, {("reference", ""): GOOD}
    for trick in tricks:
        slug = _slug(trick.name)[len("attack-"):][:40]
        base = bases.get((trick.base, trick.base_code))
        if base is None:   # one file per distinct base, shared by the tricks built on it
            base = bases[(trick.base, trick.base_code)] = f"{slug}-base"
            (folder / f"{base}.py").write_text(_base_source(trick))
        (folder / f"{slug}-trick.py").write_text(_trick_source(trick))
        pairs[trick.name] = (base, f"{slug}-trick")
    return pairs


def _stored(out):
    """``{id: stored result}`` from ``results.jsonl`` (with ``info``: notes, resources)."""
    rows = [json.loads(line) for line in (Path(out) / "results.jsonl").read_text().splitlines() if line.strip()]
    rows = [row.get("result", row) for row in rows if isinstance(row, dict)]
    return {row["id"]: row for row in rows if isinstance(row, dict) and "id" in row}


def round3_problems(trick, base, got, stored):
    """Why ``got`` (the trick's result) earned something over ``base`` or missed an expected sign."""
    problems = []
    for item_id, item in got["items"].items():
        if item["awarded"] > base["items"][item_id]["awarded"]:
            problems.append(f"{item_id}: {item['awarded']:g} > {base['items'][item_id]['awarded']:g} without the trick")
    flags = " ".join(map(str, got.get("flags", [])))
    problems += [f"no flag with {word!r}: {flags[:200]!r}" for word in trick.flags if word not in flags]
    info = stored.get("info", {})
    notes = " ".join(map(str, info.get("notes", [])))
    problems += [f"no note with {word!r}: {notes[:200]!r}" for word in trick.notes if word not in notes]
    if trick.error_words:
        problems += [f"{k}: {v['status']} {' '.join(v['messages'])[:120]!r}" for k, v in got["items"].items()
                     if v["status"] != "error" or trick.error_words not in " ".join(v["messages"])]
    peak = (info.get("resources") or {}).get("peak_memory_mb")
    if "memory" in trick.name and cgroups.available()[0] and (peak is None or peak > Settings().memory_mb + WORKER_MB):
        problems.append(f"the sandbox held {peak} MiB (limit {Settings().memory_mb + WORKER_MB} MiB)")
    return problems


def run_round3(tmp_path, mode, tricks, capsys):
    batch, out = tmp_path / f"round3-{mode}", tmp_path / f"round3-out-{mode}"
    pairs = write_round3(batch, tricks)
    started = time.monotonic()
    done = run_grade("grade", batch, "--json", "--sandbox", mode, "--out", out, *ROUND3_LIMITS, timeout=2400)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    results = {s["id"]: s for s in json.loads(done.stdout)["submissions"]}
    stored = _stored(out)
    assert results[GOOD]["auto_awarded"] == 40.0, results[GOOD]
    per_trick = {}
    with capsys.disabled():
        print(f"\nRound 3 ({mode}, {seconds:.0f} s): trick vs the same code without it")
        for trick in tricks:
            base_id, trick_id = pairs[trick.name]
            base, got = results[base_id], results[trick_id]
            per_trick[trick.name] = round3_problems(trick, base, got, stored.get(trick_id, {}))
            resources = stored.get(trick_id, {}).get("info", {}).get("resources", {})
            print(f"  {trick.name[:52]:<52} base {base['auto_awarded']:>4g}  trick {got['auto_awarded']:>4g}  "
                  f"before: {trick.before}  peak {resources.get('peak_memory_mb')} MiB  "
                  f"{'; '.join(per_trick[trick.name])[:200] or 'earns nothing'}")
    assert set(results) == {GOOD, *(i for pair in pairs.values() for i in pair)}
    return {name: problems for name, problems in per_trick.items() if problems}


@pytest.mark.slow
@pytest.mark.skipif(not sandbox.bwrap_available(), reason="bubblewrap cannot start here")
def test_round3_tricks_earn_nothing_under_bubblewrap(tmp_path, capsys):
    """CI: 4 of the 7 tricks that load in time, spread evenly (``A4_PROOF=full``: all of them)."""
    assert run_round3(tmp_path, "bwrap", proof_sample([t for t in ROUND3 if not t.slow_load], 4), capsys) == {}


@pytest.mark.slow
@pytest.mark.proof
def test_round3_tricks_earn_nothing_without_the_sandbox(tmp_path, capsys):
    assert run_round3(tmp_path, "none", [t for t in ROUND3 if not t.slow_load], capsys) == {}


@pytest.mark.slow
@pytest.mark.proof
def test_round3_loads_past_their_budget_are_stopped_from_outside(tmp_path, capsys):
    """A load that disarms its own timer and one of twenty 4.8 s statements: stopped by the worker at
    the load's total (``LOAD_WALL_BACKSTOP`` x 60 s), every item an error naming it; the batch finishes."""
    mode = "bwrap" if sandbox.bwrap_available() else "none"
    started = time.monotonic()
    assert run_round3(tmp_path, mode, [t for t in ROUND3 if t.slow_load], capsys) == {}
    assert time.monotonic() - started < 600
