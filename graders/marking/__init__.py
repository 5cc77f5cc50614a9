"""The TA's marking app (``grade.py mark OUT``): written items marked by question, with rubrics.

Modules, one job each:

- ``store``: the marks store in ``OUT/marking/`` (atomic writes, per-record versions);
- ``rubrics``: rubric entries per written item, seeded from ``reference/answers.md``;
- ``csvsync``: ``written_marks.csv`` read in (hand edits) and written out (export);
- ``render``: markdown with ``$...$`` / ``$$...$$`` math to safe HTML, offline, capped and cached;
- ``pdf``: a submission's PDF pages as PNGs, drawn once in the background (bounded) and kept in ``OUT``;
- ``cells``: image outputs of the notebook cells that belong to each question;
- ``updater``: rewrites grades and pages after a change, in the background;
- ``app``: the Flask routes and the token check.
"""
