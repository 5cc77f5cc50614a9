#!/usr/bin/env python3
"""Grading speed, measured side by side in one run.

Prints, per example submission, the wall time to grade it under bubblewrap and
with process limits only, next to the floors it cannot beat: starting Python and
importing torch, and training the reference under the grading budget. Also the
students' self-check time. Ratios are of times measured here, in this run.

  python bench/bench_grading.py [--repeat N]
"""
import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def wall(action, repeat):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median reported)")
    args = parser.parse_args()

    from graders import discover, pipeline, sandbox, training

    import_torch = wall(lambda: subprocess.run([sys.executable, "-c", "import torch"], check=True), args.repeat)
    run = pipeline.Run.prepare(pipeline.Settings())
    baselines = training.ReferenceBaselines(run.context.baselines.train, run.context.held_out)
    reference_training = {kind: baselines._train(kind).seconds for kind in (False, True)}
    print(f"python + import torch:                    {import_torch:6.2f} s")
    print(f"reference training under the budget (VAE): {reference_training[False]:6.2f} s")
    print(f"reference training under the budget (CVAE):{reference_training[True]:6.2f} s")
    print()

    modes = ["bwrap", "none"] if sandbox.bwrap_available() else ["none"]
    runs = {mode: pipeline.Run.prepare(pipeline.Settings(sandbox=mode)) for mode in modes}
    for r in runs.values():  # warm the judge-side baselines so they are not timed per submission
        r.context.baselines.get(False), r.context.baselines.get(True)
    subs = discover.discover(ROOT / "submissions", Path(run.scratch))
    header = f"{'submission':<12}" + "".join(f"{'grade (' + m + ')':>18}" for m in modes)
    header += f"{'x import torch':>16}" + (f"{'bwrap / none':>14}" if len(modes) == 2 else "")
    print(header)
    for sub in subs:
        times = {m: wall(lambda: pipeline.grade_submission(runs[m], sub), args.repeat) for m in modes}
        row = f"{sub.id:<12}" + "".join(f"{times[m]:>16.2f} s" for m in modes)
        row += f"{times[modes[0]] / import_torch:>15.1f}x"
        if len(modes) == 2:
            row += f"{times['bwrap'] / times['none']:>14.2f}"
        print(row)
    print()
    for name in ("template", "reference"):
        notebook = ROOT / "submissions" / name / "A4.ipynb"
        seconds = wall(lambda: subprocess.run([sys.executable, str(ROOT / "grade.py"), "check", str(notebook)],
                                              check=True, capture_output=True), args.repeat)
        print(f"self-check of the {name:<9} {seconds:6.2f} s  ({seconds / import_torch:.1f}x import torch)")
    for r in list(runs.values()) + [run]:
        r.close()


if __name__ == "__main__":
    main()
