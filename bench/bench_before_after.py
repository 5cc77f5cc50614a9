#!/usr/bin/env python3
"""Per-submission cost on one core, this tree beside an earlier revision, measured in one run.

Checks the earlier revision out into a temporary git worktree (it uses this tree's virtual
environment), then, pinned to one core (``taskset -c CORE``), times ``python -c "import torch"``
and ``grade.py grade`` of 1 and of N distinct copies of the reference notebook with each tree.
The marginal cost per submission is ``(t(N) - t(1)) / (N - 1)``; ratios are to ``import torch``
measured in the same run.

  python bench/bench_before_after.py [--rev af8ac5b] [--n 4] [--core 0]
"""
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(command, cwd, core):
    started = time.perf_counter()
    subprocess.run(["taskset", "-c", str(core), *command], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def batch(folder, count):
    folder.mkdir(parents=True)
    text = (ROOT / "submissions" / "reference" / "A4.ipynb").read_text()
    for i in range(count):  # distinct copies: nothing is resumed
        (folder / f"copy{i}.ipynb").write_text(text.replace("Homework 4", f"Homework 4 (copy {i})", 1))
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", default="af8ac5b", help="the earlier revision (default: before issues 8-12)")
    parser.add_argument("--n", type=int, default=4, help="copies in the larger batch")
    parser.add_argument("--core", type=int, default=0, help="the core to pin to")
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="a4-bench-") as scratch:
        scratch = Path(scratch)
        before = scratch / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), args.rev], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            one, many = batch(scratch / "one", 1), batch(scratch / "many", args.n)
            torch_seconds = timed([python, "-c", "import torch"], ROOT, args.core)
            rows = {}
            for name, tree in (("before " + args.rev, before), ("after (this tree)", ROOT)):
                grade = [python, str(tree / "grade.py"), "grade"]
                t1 = timed(grade + [str(one), "--out", str(scratch / f"{tree.name}-1"), "--workers", "1"], tree, args.core)
                tn = timed(grade + [str(many), "--out", str(scratch / f"{tree.name}-n"), "--workers", "1"], tree,
                           args.core)
                rows[name] = (t1, tn, (tn - t1) / (args.n - 1))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, capture_output=True)
    print(f"one core (taskset -c {args.core}); python + import torch: {torch_seconds:.2f} s")
    print(f"{'tree':<22}{'grade 1':>10}{'grade ' + str(args.n):>10}{'marginal':>11}{'x import torch':>16}")
    for name, (t1, tn, marginal) in rows.items():
        print(f"{name:<22}{t1:>9.1f}s{tn:>9.1f}s{marginal:>10.2f}s{marginal / torch_seconds:>15.1f}x")
    (_, _, old), (_, _, new) = rows.values()
    print(f"marginal cost after / before: {new / old:.2f}")


if __name__ == "__main__":
    main()
