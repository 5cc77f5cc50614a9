"""The one base class of the errors a person running the grader can fix (a path, a file, an option).

``grade.py`` prints such an error as one line naming the file (exit 2) and never a traceback
(``--debug`` shows one). Every stage's own error of that kind derives from ``UserError``.
"""


class UserError(Exception):
    """A problem with what the user asked for or handed in; its message is one line for the user."""
