#!/usr/bin/env python3
"""Discovery of one student folder holding many large notebooks, with and without the parse budget.

A folder of ``--files`` notebooks of ``--mib`` MiB of code each (top-level calls, the costliest code
to parse per byte), beside the filled-in ``A4.ipynb``, is discovered twice side by side: with
``graders.intake.discover``'s budget (``CELL_PARSE_CHARS``, ``FOLDER_PARSE_CHARS``) and with both lifted
(every cell of every file parsed, as before the budget). Prints both times, the ratio and the file
each chose.

  python bench/bench_discovery.py [--files 20] [--mib 4.3]
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graders.intake import discover  # noqa: E402


def _notebook(cells):
    return json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                                  "source": text} for text in cells], "metadata": {}, "nbformat": 4,
                       "nbformat_minor": 5})


def _folder(root, files, mib):
    folder = Path(root) / "student"
    folder.mkdir()
    cell = "f(1)\n" * (2**16 // 5)                           # 64 KiB cells: each under the cell cap
    cells = [cell] * int(mib * 2**20 / (1.2 * 2**16))        # JSON writes each 5-character line in 6 bytes
    for n in range(files):
        (folder / f"A4 ({n}).ipynb").write_text(_notebook(cells))
    done = "def reconstruct(vae, x):\n    return 1\n\ndef kl_divergence(mu, logvar):\n    return 2\n"
    (folder / "A4.ipynb").write_text(_notebook([done]))
    return folder


def _timed(folder, scratch):
    started = time.perf_counter()
    subs = discover.discover(folder, scratch)
    return time.perf_counter() - started, subs[0].source.name


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--mib", type=float, default=4.3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        folder = _folder(root, args.files, args.mib)
        scratch = Path(root) / "scratch"
        scratch.mkdir()
        size = (folder / "A4 (0).ipynb").stat().st_size / 2**20
        bounded, chosen = _timed(folder, scratch)
        discover.CELL_PARSE_CHARS = discover.FOLDER_PARSE_CHARS = 2**40
        unbounded, chosen_before = _timed(folder, scratch)
    print(f"{args.files} notebooks of {size:.1f} MiB + A4.ipynb")
    print(f"  with the parse budget:    {bounded:8.2f} s  (graded {chosen})")
    print(f"  every cell parsed:        {unbounded:8.2f} s  (graded {chosen_before})")
    print(f"  ratio: {unbounded / bounded:.0f}x faster with the budget")


if __name__ == "__main__":
    main()
