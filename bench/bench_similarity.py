#!/usr/bin/env python3
"""Similarity: speed on N synthetic submissions, and the calibration table beside copydetect.

``speed`` (default): all pairs of N submissions (default 500), end to end, on
one core. Each is the released template with a solution pasted in, built from
the calibration corpus (tests/similarity_corpus): the VAE functions of one
solution, the CVAE functions of another, for most one of the named disguises of
tests/similarity_disguises.py, and twelve written answers (a tenth of them half
copied): many near-copies, the worst case for pair work. The time covers
reading the files, tokenising, fingerprints, structure, the index, every pair's
measures, the JSON and similarity.html.

``calibrate``: the labelled batch of ``similarity_disguises.calibration_batch``
(independent solutions, disguised copies of each, hand-written LLM rewrites, a
helper inlined into both trainers, partial copies, a shared tutorial, a leak to
three students) written as .py hand-ins, then this project's
``grade.py similarity`` and copydetect (its defaults, the template as
boilerplate, when installed) on the same files, in the same run: pairs flagged
per kind, AUC of copies against independent pairs, CPU time.

``--before REV`` runs the same once more with the graders of git revision REV
(exported to a scratch folder) and prints both, side by side.

  taskset -c 1 python bench/bench_similarity.py speed [--n 500] [--before REV]
  taskset -c 1 python bench/bench_similarity.py calibrate [--before REV]
"""
import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ITEMS = ("q1a", "q1b", "q1c", "q2a", "q2b", "q3a", "q3b", "q3c", "q3d", "q5a", "q5b", "q5d")
VOCABULARY = ("the latent code prior posterior decoder encoder kl term reconstruction sample digit class network "
              "hidden unit layer sigmoid relu identity surface boundary epoch gradient variance mean estimator "
              "bias lipschitz constant bound because so that which when then larger smaller more less blurry "
              "sharp smooth overlap separate transform space map linear nonlinear trained failed seed").split()


def answers(rng, copied_from=None):
    """Twelve written answers of 40-80 words; with ``copied_from``, half of them copied with a word changed."""
    texts = {}
    for item in ITEMS:
        if copied_from and rng.random() < 0.5:
            words = copied_from[item].split()
            words[rng.randrange(len(words))] = rng.choice(VOCABULARY)
            texts[item] = " ".join(words)
        else:
            texts[item] = " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(40, 80)))
    return texts


def synthesise(count, seed, folder):
    """``count`` notebooks: template code and markdown, a mixed (often disguised) solution, written answers."""
    import nbformat
    from similarity_disguises import DISGUISES, corpus, disguise, partial_copy, submission_text
    from graders.intake.source import _python_cells
    rng = random.Random(seed)
    solutions = list(corpus().values())
    kinds = [None] + list(DISGUISES)
    written = []
    for number in range(count):
        source = partial_copy(rng.choice(solutions), rng.choice(solutions))
        kind = rng.choice(kinds)
        if kind:
            source = disguise(source, kind, number)
        written.append(answers(rng, rng.choice(written) if written and rng.random() < 0.1 else None))
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_code_cell(text) for _, text in _python_cells(submission_text(source)).code]
        notebook.cells += [nbformat.v4.new_markdown_cell(f"## Answer {item}\n\n{text}")
                           for item, text in written[-1].items()]
        nbformat.write(notebook, folder / f"student{number:03d}.ipynb")


def speed(args):
    """Time ``analyse`` + JSON + page on ``args.n`` synthetic notebooks; returns a dict of figures."""
    from graders import similarity
    from graders.intake import discover
    with tempfile.TemporaryDirectory(prefix="a4-simbench-") as scratch:
        batch = Path(scratch) / "batch"
        batch.mkdir()
        synthesise(args.n, args.seed, batch)
        started, cpu = time.perf_counter(), time.process_time()
        submissions = discover.discover(batch, Path(scratch))
        report = similarity.analyse(submissions, similarity.template_cells())
        text = json.dumps(report.to_json())
        report.write_html(Path(scratch) / "out")
        return {"submissions": len(submissions), "pairs": len(report.pairs),
                "flagged": sum(p.flagged for p in report.pairs), "json_kib": len(text) // 1024,
                "wall_s": round(time.perf_counter() - started, 1), "cpu_s": round(time.process_time() - cpu, 1)}


def write_batch(folder, builder):
    """The hand-ins of ``builder()`` (``similarity_disguises.calibration_batch`` or ``leak_batch``) as
    ``folder/<id>.py`` and the template as ``folder/../template/template.py``; returns the labels."""
    from similarity_disguises import template_code_cells
    hand_ins, labels = builder()
    folder.mkdir(parents=True)
    for sub_id, text in hand_ins.items():
        (folder / f"{sub_id}.py").write_text(text)
    template = folder.parent / "template"
    template.mkdir()
    (template / "template.py").write_text("\n\n".join(f"# %%\n{text}" for _, text in template_code_cells()) + "\n")
    return labels


def ours(folder):
    """``({(a, b): (similarity, flagged)}, cpu seconds)`` of this tree's ``similarity`` on ``folder``."""
    from graders import similarity
    from graders.intake import discover
    with tempfile.TemporaryDirectory() as scratch:
        cpu = time.process_time()
        report = similarity.analyse(discover.discover(folder, Path(scratch)), similarity.template_cells())
        document = report.to_json()
        cpu = time.process_time() - cpu
    return {(p["a"], p["b"]): (p["similarity"], p["flagged"]) for p in document["pairs"]}, cpu


def copydetect_scores(folder):
    """The same for copydetect 0.5 (its defaults; the template as boilerplate); flagged above display_t."""
    from copydetect import CopyDetector
    cpu = time.process_time()
    detector = CopyDetector(test_dirs=[str(folder)], boilerplate_dirs=[str(folder.parent / "template")],
                            extensions=["py"], autoopen=False, silent=True)
    detector.run()
    cpu = time.process_time() - cpu
    names = [Path(f).stem for f in detector.test_files]
    scores = {}
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i < j:
                value = float(max(detector.similarity_matrix[i, j]))
                scores[(a, b)] = (value, value > detector.conf.display_t)
    return scores, cpu


def table(scores, labels):
    """``{row: text}``: flagged/total per kind of pair, AUC of copies against independent pairs."""
    def lookup(a, b):
        return scores.get((a, b)) or scores.get((b, a))
    kinds = {}
    for pair, kind in labels.items():
        kinds.setdefault(kind, []).append(lookup(*pair))
    rows = {kind: f"{sum(f for _, f in found)}/{len(found)}" for kind, found in sorted(kinds.items())}
    copies = [s for kind, found in kinds.items() if kind.startswith("copy") for s, _ in found]
    independent = [s for s, _ in kinds.get("independent", [])]
    if not copies:
        return rows
    wins = sum((c > i) + 0.5 * (c == i) for c in copies for i in independent)
    rows["AUC, copies vs independent"] = f"{wins / (len(copies) * len(independent)):.3f}"
    rows["highest independent score"] = f"{max(independent):.2f}"
    rows["lowest copy score"] = f"{min(copies):.2f}"
    return rows


def calibrate(args):
    """The calibration rows for this tree (and copydetect when ``args.copydetect``): the labelled batch,
    then a batch of 20 where 7 hand in one leaked solution."""
    import similarity_disguises
    result = {"this project": {}}
    if args.copydetect:
        result["copydetect 0.5"] = {}
    cpu = {name: 0.0 for name in result}
    for prefix, builder in (("", similarity_disguises.calibration_batch),
                            ("batch of 20, 7 hand in one solution: ", similarity_disguises.leak_batch)):
        with tempfile.TemporaryDirectory(prefix="a4-simcal-") as scratch:
            folder = Path(scratch) / "batch"
            labels = write_batch(folder, builder)
            runs = {"this project": ours}
            if args.copydetect:
                runs["copydetect 0.5"] = copydetect_scores
            for name, run in runs.items():
                try:
                    found, seconds = run(folder)
                except ImportError:
                    result[name]["CPU time"] = "not installed (pip install copydetect)"
                    continue
                cpu[name] += seconds
                rows = table(found, labels) if not prefix else \
                    {k: v for k, v in table(found, labels).items() if k in ("leak", "independent")}
                result[name].update((prefix + row, text) for row, text in rows.items())
    for name in result:
        result[name].setdefault("CPU time", f"{cpu[name]:.1f} s")
    return result


def before(rev, mode, argv):
    """Run this script's ``mode`` in a subprocess with the graders (and reference) of git revision ``rev``."""
    with tempfile.TemporaryDirectory(prefix="a4-simbefore-") as scratch:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "graders", "reference"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", scratch], input=archive, check=True)
        run = subprocess.run([sys.executable, __file__, mode, "--tree", scratch, "--json", *argv],
                             capture_output=True, text=True, check=True)
        return json.loads(run.stdout.splitlines()[-1])


def show(columns):
    """Print ``{column: {row: text}}`` as an aligned table."""
    rows = list(dict.fromkeys(r for column in columns.values() for r in column))
    width = max(len(r) for r in rows) + 2
    print(f"{'':<{width}}" + "".join(f"{name:>28}" for name in columns))
    for row in rows:
        print(f"{row:<{width}}" + "".join(f"{str(column.get(row, '–')):>28}" for column in columns.values()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", choices=("speed", "calibrate"), default="speed")
    parser.add_argument("--n", type=int, default=500, help="submissions for speed (default 500)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--before", metavar="REV", help="also run with the graders of git revision REV")
    parser.add_argument("--tree", help=argparse.SUPPRESS)    # import graders from here (used by --before)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-copydetect", dest="copydetect", action="store_false")
    args = parser.parse_args()
    sys.path[:0] = [args.tree or str(ROOT), str(ROOT / "tests")]
    if args.tree:
        args.copydetect = False
    if args.mode == "speed":
        result = {"this tree": {k: str(v) for k, v in speed(args).items()}}
    else:
        result = calibrate(args)
    if args.json:
        print(json.dumps(result))
        return
    if args.before:
        earlier = before(args.before, args.mode, [f"--n={args.n}", f"--seed={args.seed}"])
        result = {f"{args.before[:10]} (before)": next(iter(earlier.values())), **result}
    show(result)


if __name__ == "__main__":
    main()
