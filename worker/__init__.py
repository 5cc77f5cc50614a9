"""Everything that runs inside the sandbox: the worker, its loader and probes, and the reply channel.

This package is mounted whole into the sandbox (with ``reference/scaffold.py``, the public
scaffold); nothing else of the project is. It must never import ``graders`` or the reference
answers.
"""
