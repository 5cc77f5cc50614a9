"""The student bundle (``grade.py release``): the notebook, the self-check and its public data, no solution."""
