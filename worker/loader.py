"""Worker side: execute the chosen definitions into a fresh namespace, one statement at a time.

A statement that fails is recorded and skipped; later statements still run, so
one broken cell costs only the functions that need it.
"""
import linecache
import traceback


def load(chunks, namespace):
    """Exec each span of each chunk into ``namespace``; returns ``{name-ish: error}`` notes as a list."""
    failures = []
    for chunk in chunks:
        filename = f"<submission {chunk['label']}>"
        lines = chunk["text"].splitlines(keepends=True)
        linecache.cache[filename] = (len(chunk["text"]), None, lines, filename)
        for first, last in chunk["spans"]:
            code = "\n" * (first - 1) + "".join(lines[first - 1:last])
            try:
                exec(compile(code, filename, "exec"), namespace)
            except BaseException as error:  # noqa: BLE001 - a student's SystemExit must not end the worker
                if isinstance(error, KeyboardInterrupt):
                    raise
                failures.append(f"{chunk['label']} line {first}: {type(error).__name__}: {error}"[:300])
    return failures


def student_traceback(error):
    """The traceback of ``error`` limited to frames in the submission, as text."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith("<submission")]
    lines = traceback.format_list(frames[-6:]) if frames else []
    return ("".join(lines) + f"{type(error).__name__}: {error}").strip()[:2000]
