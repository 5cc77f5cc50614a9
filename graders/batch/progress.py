"""Progress of a long batch on stderr: done/total, rate and ETA, wherever the submissions are graded.

``Progress(total)`` is the ``progress`` callback of ``batch.grade_all``: call it with each finished
``SubmissionResult`` (from any thread). On a terminal it draws a tqdm bar; otherwise (a log file, a
CI job, ``--json`` piped elsewhere) it prints plain lines, at most one per ``every`` seconds or per
``step`` of the batch, and always the last. It writes to its stream only (stderr), never stdout.
Results resumed from ``results.jsonl`` count as done but not in the rate.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, cast

from graders.safe_text import terminal_safe

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

    from graders.results import SubmissionResult


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Progress:
    """Counts finished submissions and reports them; ``close()`` ends the bar (or prints nothing more)."""

    def __init__(self, total: int, stream: TextIO | None = None, every: float = 10.0, step: float = 0.05,
                 bar: bool | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.stream = total, stream or sys.stderr
        self.every, self.step, self.clock = every, step, clock
        self.done = self.resumed = 0
        self.started = clock()
        self._last_time, self._last_done = self.started, 0
        self._lock = threading.Lock()
        use_bar = bar if bar is not None else self.stream.isatty()
        self._bar = None
        if use_bar:
            from tqdm import tqdm
            self._bar = tqdm(total=total, unit="submission", file=self.stream, dynamic_ncols=True)

    def rate(self) -> float:
        """Submissions graded (not resumed) per second since the start; 0 before the first."""
        graded = self.done - self.resumed
        elapsed = self.clock() - self.started
        return graded / elapsed if graded and elapsed > 0 else 0.0

    def eta(self) -> float | None:
        """Seconds until the rest is graded at the current rate; None before the first is graded."""
        rate = self.rate()
        return (self.total - self.done) / rate if rate else None

    def line(self, result: SubmissionResult | None = None) -> str:
        """``graded 12/300 (4%)  0.35/min ... `` as printed when stderr is not a terminal."""
        percent = 100 * self.done / self.total if self.total else 100
        parts = [f"graded {self.done}/{self.total} ({percent:.0f}%)"]
        if self.resumed:
            parts.append(f"{self.resumed} resumed")
        rate = self.rate()
        if rate:
            parts.append(f"{rate * 60:.1f}/min")
            eta = cast(float, self.eta())  # rate is not 0: never None
            parts.append(f"ETA {_duration(eta)}" if self.done < self.total else f"took {_duration(self.clock() - self.started)}")
        if result is not None:
            parts.append(f"last: {terminal_safe(result.id, 40)} {result.auto_awarded:g}/{result.auto_max:g}")
        return "  ".join(parts)

    def __call__(self, result: SubmissionResult) -> None:
        with self._lock:
            self.done += 1
            if result.info.resumed:
                self.resumed += 1
            if self._bar is not None:
                self._bar.set_postfix_str(f"{terminal_safe(result.id, 24)} {result.auto_awarded:g}/{result.auto_max:g}")
                self._bar.update(1)
                return
            now = self.clock()
            due = (now - self._last_time >= self.every
                   or self.done - self._last_done >= max(1, self.step * self.total)
                   or self.done == self.total)
            if due:
                self._last_time, self._last_done = now, self.done
                print(self.line(result), file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
