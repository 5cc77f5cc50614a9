#!/usr/bin/env python3
"""Homework 4, the student bundle: ``python grade.py check A4.ipynb`` runs the public checks.

The same self-check as the course's grader (``selfcheck/``), with the expected values of its
public inputs; see README.md.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="grade.py", description="Homework 4: the students' self-check.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser("check", help="run the public checks on your notebook",
                                description="Run the public checks on your notebook in under a minute: each "
                                            "function's contract, values on fixed inputs, the sampling noise and "
                                            "gradients, and a short training run.")
    check.add_argument("notebook", help="your A4.ipynb (or its .py export)")
    args = parser.parse_args(argv)
    from selfcheck.cli import main as check_main
    return check_main([args.notebook])


if __name__ == "__main__":
    sys.exit(main())
