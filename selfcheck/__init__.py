"""The students' self-check: ``python grade.py check A4.ipynb`` (or ``python -m selfcheck A4.ipynb``).

One copy, used by the project's ``grade.py check`` and shipped in the student bundle
(``grade.py release``). It holds no reference code: every expected value comes from a data
folder (``public.safetensors`` and ``expected.json``) that ``graders.release.bundle`` computes
from the reference when it writes the bundle. The stand-ins that isolate an item are
lookups of those precomputed values, never implementations of a student function.

Modules: ``deps`` (what must be installed), ``notebook`` (cells of a .ipynb/.py),
``probes`` (run in a child process beside the student's code), ``child`` (that process),
``verdicts`` (the judging, in the parent), ``report`` (what is printed), ``cli``.
Student code runs only in the child, loaded by the grader's own loading rule
(``worker.loader``); the parent reads back plain data (JSON and safetensors).
"""
