#!/usr/bin/env python3
"""Cost of one student's report pictures (graders.reports.pictures), measured here.

Per student the report draws, for the VAE and the CVAE, the reconstructions of 12 held-out digits
(originals, reference, student), 16 generated digits per class (CVAE) and the training curves.
This times that set with untrained models of the contract's layout (drawing costs the same).

  python bench/bench_pictures.py [--repeat N] [--compare OLD_PICTURES.py]
"""
import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def one_student(pictures, models, X, Y, losses):
    sizes = 0
    for conditional in (False, True):
        student, reference = models[conditional]
        sizes += len(pictures.reconstructions(student, reference, X, Y if conditional else None))
        if conditional:
            sizes += len(pictures.generated_digits(student))
        sizes += len(pictures.training_curves(losses, [v * 0.95 for v in losses], "training loss"))
    return sizes


def measure(pictures, repeat, models, X, Y, losses):
    one_student(pictures, models, X, Y, losses)  # warm: imports, fonts
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        size = one_student(pictures, models, X, Y, losses)
        times.append(time.perf_counter() - started)
    return statistics.median(times), size


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--compare", metavar="FILE", help="another pictures module to time beside this one")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(1)
    from graders.reports import pictures
    from graders.judge import baselines as training
    models = {c: (training.empty_model(c, seed=1), training.empty_model(c, seed=2)) for c in (False, True)}
    X, Y = torch.rand(12, 784), torch.arange(12) % 10
    losses = [550 - 400 * (1 - 0.97 ** step) for step in range(320)]
    modules = [("graders.reports.pictures", pictures)]
    if args.compare:
        spec = importlib.util.spec_from_file_location("pictures_compare", args.compare)
        other = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(other)
        modules.insert(0, (Path(args.compare).name, other))
    for name, module in modules:
        seconds, size = measure(module, args.repeat, models, X, Y, losses)
        print(f"{name:<28} {seconds * 1000:8.1f} ms per student   {size / 1024:7.1f} KiB of pictures")


if __name__ == "__main__":
    main()
