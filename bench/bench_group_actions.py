#!/usr/bin/env python3
"""Actions a TA needs to mark one question (q1b) for a class of 40, before and after answer groups.

The class is synthetic but shaped like a real one: each student's answer is one of the ways
of writing the model expression (``L + λ/n`` in LaTeX, Unicode, reordered, ``\\dfrac``,
``n^{-1}``), a copy of a classmate's text, a blank, or an answer of their own with a
different expression (``L + k·λ/n``). Actions counted: before, one rubric key and one "next"
per answer; after, two per group used (pick the entry, "apply to all"), taken largest group
first, then a key and a "next" for each answer left. Groups from ``graders.marking.groups``.

  .venv/bin/python bench/bench_group_actions.py [--students 40]
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graders.marking.groups import group_answers  # noqa: E402

WAYS = [r"By the triangle inequality, $\tilde L = L + \frac{\lambda}{n}$.", "L̃ = L + λ/n",
        r"So $\tilde{L} = \frac{\lambda}{n} + L$.", r"$$\tilde L = L + \lambda n^{-1}$$",
        r"By the triangle inequality,   $\tilde L = L + \dfrac{\lambda}{n}$ .", ""]


def class_answers(n: int) -> dict[str, str]:
    """``n`` answers: every 5th student writes an expression of their own, the rest cycle through ``WAYS``."""
    out = {}
    for i in range(n):
        sid = f"s{i:02d}"
        out[sid] = (rf"I get $\tilde L = L + {i + 2}\frac{{\lambda}}{{n}}$ from my bound." if i % 5 == 4
                    else WAYS[i % len(WAYS)])
    return out


def actions(answers: dict[str, str]) -> tuple[int, int, int]:
    """``(before, after, groups used)``."""
    left, after, used = set(answers), 0, 0
    for group in sorted(group_answers("q1b", answers), key=lambda g: -len(g.students)):
        members = left & set(group.students)
        if len(members) >= 2 or (group.kind == "blank" and members):
            left -= members
            after, used = after + 2, used + 1
    return 2 * len(answers), after + 2 * len(left), used


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=40)
    args = parser.parse_args(argv)
    before, after, used = actions(class_answers(args.students))
    print(f"q1b, {args.students} students: {before} actions one by one, {after} with answer groups "
          f"({used} group actions; ratio {before / after:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
