"""Grades follow the marks: after each change, in a background thread, ``written_marks.csv``
is exported and the changed students' pages, ``index.html``, ``grades.csv`` and
``results.json`` are rewritten from the stored results (``report.Rewriter``; no regrading).

Changes that arrive together are handled in one pass (``DELAY`` seconds after the first),
so a TA pressing keys quickly never waits for pages to be written: the store is already
saved when the request returns, and everything here follows from the store.
``status()`` says whether work is pending (the browser test waits on it); ``flush()``
waits until none is.
"""
from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

from graders.reports import pages as report
from graders.marking import csvsync, rubrics, written
from graders.marking.store import MarkStore

DELAY = 0.1


def written_marks(store: MarkStore) -> dict[str, dict[str, Any]]:
    """``{id: {"marks": {item: score}, "comment": str}}`` from a ``MarkStore`` (``read_marks``'s form)."""
    scores = store.scores()
    comments = {sid: notes.comment for sid, notes in store.students().items()}
    return {sid: {"marks": scores.get(sid, {}), "comment": comments.get(sid, "")}
            for sid in set(scores) | set(comments)}


def current_rewriter(out_dir: str | Path) -> report.Rewriter:
    """A ``Rewriter`` over ``out_dir``'s stored results and its current written marks: the marking
    app's store when there is one, else ``written_marks.csv``."""
    out_dir = Path(out_dir)
    if (out_dir / "marking" / "items").is_dir() or (out_dir / "marking" / "students.json").is_file():
        store = MarkStore(out_dir, seed=rubrics.seed_entries)
        return report.Rewriter(out_dir, lambda: written_marks(store), store.feedback,
                        lambda sub_id: store.student(sub_id).pages)
    rewriter = report.Rewriter(out_dir, lambda: {})
    csv_marks = written.read_marks(out_dir / "written_marks.csv", {r.id for r in rewriter.results}, [])
    rewriter.written = lambda: csv_marks
    return rewriter


def rewrite_reports(out_dir: str | Path, ids: Collection[str] | None = None) -> dict[str, Any]:
    """Rewrite the reports of ``out_dir`` from its stored results and its current written marks."""
    return current_rewriter(out_dir).rewrite(ids)


def store_feedback(out_dir: str | Path) -> tuple[Callable[[str], dict[str, dict[str, Any]]] | None,
                                                 Callable[[str], dict[str, list[int]]] | None]:
    """``(feedback, pdf_pages)`` for a ``Reporter`` from ``out_dir``'s marking store, or ``(None, None)``
    when the TA has not opened the marking app on it."""
    out_dir = Path(out_dir)
    if not (out_dir / "marking" / "items").is_dir():
        return None, None
    store = MarkStore(out_dir, seed=rubrics.seed_entries)
    return store.feedback, lambda sub_id: store.student(sub_id).pages


class Updater:
    def __init__(self, out_dir: Path, store: MarkStore, ids: Iterable[str] = (), marks_path: Path | None = None) -> None:
        self.out_dir, self.store, self.ids = out_dir, store, list(ids)
        self.marks_path = marks_path or out_dir / "written_marks.csv"
        self.rewriter = report.Rewriter(out_dir, self.written, store.feedback, lambda sid: store.student(sid).pages)
        self._cond = threading.Condition()
        self._dirty: set[str]
        self._dirty, self._all, self._busy = set(), False, False
        self.generation, self.error = 0, ""
        store.listeners.append(self.changed)
        self._thread = threading.Thread(target=self._loop, name="report-updater", daemon=True)
        self._thread.start()

    def written(self) -> dict[str, dict[str, Any]]:
        """``{id: {"marks": {item: score}, "comment": str}}`` from the store (``read_marks``'s form)."""
        return written_marks(self.store)

    def changed(self, kind: str, students: Iterable[str]) -> None:
        with self._cond:
            self._dirty |= set(students)
            self._all = self._all or kind == "all"
            self._cond.notify_all()

    def rewrite_all(self) -> None:
        self.changed("all", ())

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._dirty and not self._all:
                    self._cond.wait()
                self._busy = True
            time.sleep(DELAY)
            with self._cond:
                ids, everything = self._dirty, self._all
                self._dirty, self._all = set(), False
            try:
                self.ids = [r.id for r in self.rewriter.refresh()]   # a regrade may have added students
                csvsync.export(self.store, self.marks_path, self.ids)
                self.rewriter.rewrite(None if everything else ids)
                self.error = ""
            except Exception:  # keep serving; the TA sees the error on the overview
                self.error = traceback.format_exc(limit=3)
            with self._cond:
                self.generation += 1
                self._busy = bool(self._dirty or self._all)
                self._cond.notify_all()

    def status(self) -> dict[str, object]:
        with self._cond:
            return {"pending": self._busy or bool(self._dirty or self._all), "generation": self.generation,
                    "error": self.error}

    def flush(self, timeout: float = 60) -> bool:
        """Wait until every change so far is exported and its pages rewritten; False on timeout."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._busy or self._dirty or self._all:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True
