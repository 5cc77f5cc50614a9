#!/usr/bin/env python3
"""Similarity speed: all pairs of N synthetic submissions (default 500), end to end, on one core.

Each submission is the released template with a solution pasted in, built from
the calibration corpus (tests/similarity_corpus): the VAE functions of one
solution, the CVAE functions of another, and, for most, one of the named
disguises of tests/similarity_disguises.py, and twelve written answers (a
tenth of them half copied). That makes many near-copies, the worst case for
pair work. The time covers reading the files, tokenising,
fingerprinting, the index, every pair's measures, the JSON and similarity.html.

  taskset -c 1 python bench/bench_similarity.py [--n 500] [--seed 0]
"""
import argparse
import ast
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

CVAE_PART = {"creconstruct", "celbo", "train_mnist_cvae"}


def chunks(source):
    """``[(name or None, text)]`` of a module's top-level statements."""
    lines = source.split("\n")
    out = []
    for node in ast.parse(source).body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        out.append((getattr(node, "name", None), "\n".join(lines[first - 1:node.end_lineno])))
    return out


def mix(first, second):
    """``first``'s module with its CVAE functions taken from ``second`` (and ``second``'s helpers added)."""
    own = chunks(first)
    names = {name for name, _ in own}
    other = chunks(second)
    kept = [text for name, text in own if name not in CVAE_PART]
    added = [text for name, text in other if name in CVAE_PART or (name not in names and name not in
                                                                     {"reconstruct", "kl_divergence",
                                                                      "binary_cross_entropy", "elbo",
                                                                      "train_mnist_vae"})]
    return "\n\n\n".join(kept + added) + "\n"


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
    from similarity_disguises import DISGUISES, corpus, disguise, submission_text
    from graders.source import _python_cells
    rng = random.Random(seed)
    solutions = list(corpus().values())
    kinds = [None] + list(DISGUISES)
    written = []
    for number in range(count):
        source = mix(rng.choice(solutions), rng.choice(solutions))
        kind = rng.choice(kinds)
        if kind:
            source = disguise(source, kind, number)
        written.append(answers(rng, rng.choice(written) if written and rng.random() < 0.1 else None))
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_code_cell(text) for _, text in _python_cells(submission_text(source)).code]
        notebook.cells += [nbformat.v4.new_markdown_cell(f"## Answer {item}\n\n{text}")
                           for item, text in written[-1].items()]
        nbformat.write(notebook, folder / f"student{number:03d}.ipynb")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="submissions (default 500)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from graders import discover, similarity
    with tempfile.TemporaryDirectory(prefix="a4-simbench-") as scratch:
        batch = Path(scratch) / "batch"
        batch.mkdir()
        started = time.perf_counter()
        synthesise(args.n, args.seed, batch)
        print(f"synthesised {args.n} submissions in {time.perf_counter() - started:.1f} s (not counted)")
        started, cpu = time.perf_counter(), time.process_time()
        submissions = discover.discover(batch, Path(scratch))
        template = similarity.template_cells()
        report = similarity.analyse(submissions, template)
        analysed, analysed_cpu = time.perf_counter(), time.process_time()
        text = json.dumps(report.to_json())
        path = report.write_html(Path(scratch) / "out")
        finished, finished_cpu = time.perf_counter(), time.process_time()
        pairs = len(report.pairs)
        flagged = sum(p.flagged for p in report.pairs)
        print(f"{len(submissions)} submissions, {pairs} pairs ({flagged} flagged), "
              f"{len(report.index.shared)} pairs sharing a fingerprint")
        print(f"analyse (read, tokenise, fingerprint, index, all pairs): {analysed - started:.1f} s wall, "
              f"{analysed_cpu - cpu:.1f} s CPU")
        print(f"JSON ({len(text) // 1024} KiB) and similarity.html ({path.stat().st_size // 1024} KiB): "
              f"{finished - analysed:.1f} s wall, {finished_cpu - analysed_cpu:.1f} s CPU")
        print(f"total: {finished - started:.1f} s wall ({finished_cpu - cpu:.1f} s CPU) for all pairs of "
              f"{len(submissions)} submissions on one core")


if __name__ == "__main__":
    main()
