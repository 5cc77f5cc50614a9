"""A submission's PDF as PNG pages: drawn once, in the background, in a bounded child process.

``locate(result, out_dir)`` finds a submission's PDF (``result.info.pdf``, a copy discovery
keeps in ``OUT``, or ``info["pdf_path"]``, the file graded from, which ``keep`` copies into
``OUT/marking/pdfs/`` at grading time).

A student's PDF is untrusted input to a C library, so PDFium runs in a child process
(``python -m graders.reports.pdf``, its own address-space and CPU limits) that writes one
PNG per page into ``OUT/marking/pdf/<sha256 of the PDF>/``. The parent bounds it: at most
``PAGE_TIMEOUT`` seconds for any one page and ``TIMEOUT`` for the whole PDF, at most
``MAX_PAGES`` pages. Whatever happens is recorded in that folder's ``pages.json``
(``{"pages": pages drawn, "total": pages in the PDF, "problem": one line or ""}``), so a PDF
is drawn once, ever: a slow or broken one is never tried again on the next visit (delete its
folder to retry). Pages drawn before a timeout are kept and shown.

``Renderer`` draws the PDFs asked for one at a time in one background thread; the pages of
the app ask it for a ``Rendered`` and never wait. ``pages(pdf_path, out_dir)`` draws (or
reads the record) synchronously, for scripts and tests.
"""
from __future__ import annotations

import collections
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graders.results import SubmissionResult

MAX_PAGES = 60
SCALE = 1.6          # 72 dpi * 1.6: readable handwriting at 1000 px page width
PAGE_TIMEOUT = 15    # seconds for one page (opening the document counts as the first page's)
TIMEOUT = 90         # seconds for the whole PDF
MEMORY = 2 * 2**30
MAX_KEEP_BYTES = 200 * 2**20
RECORD = "pages.json"
CHILD = None         # the child's argv before the two paths; None: this module (tests put a stand-in here)


def _candidates(result: SubmissionResult, out_dir: str | Path) -> Iterator[Path]:
    for key in ("pdf", "pdf_path"):
        raw = getattr(result.info, key)
        if raw:
            path = Path(raw)
            yield path if path.is_absolute() else Path(out_dir) / path


def _kept(result: SubmissionResult, out_dir: str | Path) -> Path:
    key = result.info.fingerprint or hashlib.sha256(result.id.encode()).hexdigest()[:20]
    return Path(out_dir) / "marking" / "pdfs" / f"{key}.pdf"


def keep(result: SubmissionResult, out_dir: str | Path) -> Path | None:
    """Copy the submission's PDF into ``OUT/marking/pdfs/`` while it exists (a batch unpacked from a
    zip lives in a temporary folder); nothing when it is already inside ``OUT`` or there is none."""
    import shutil
    out_dir = Path(out_dir).resolve()
    for path in _candidates(result, out_dir):
        if not path.is_file():
            continue
        if out_dir in path.resolve().parents:
            return path
        target = _kept(result, out_dir)
        if not target.exists() and path.stat().st_size <= MAX_KEEP_BYTES:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        return target if target.exists() else path
    return None


def locate(result: SubmissionResult, out_dir: str | Path) -> tuple[Path | None, str]:
    """``(path or None, problem)``: the student's PDF as kept, or why there is none."""
    for path in _candidates(result, out_dir):
        if path.is_file():
            return path, ""
    kept = _kept(result, out_dir)
    if kept.is_file():
        return kept, ""
    if any(True for _ in _candidates(result, out_dir)):
        return None, "the PDF handed in is no longer where it was graded from"
    return None, "no PDF was handed in"


def shown_name(result: SubmissionResult) -> str:
    """The PDF's name as the student handed it in (``info["files"]``), else the local file's name."""
    from graders.safe_text import display_name
    for entry in result.info.files:
        if isinstance(entry, dict) and entry.get("role") == "pdf" and entry.get("reason") == "written answers":
            return display_name(str(entry.get("path", "")))
    for path in _candidates(result, "."):
        return display_name(path.name)
    return "the PDF"


class PdfProblem(Exception):
    """The PDF could not be rendered; one line for the TA."""


@dataclass(frozen=True)
class Rendered:
    """What can be shown of one PDF: pages ``1..pages`` are PNGs in ``folder``.

    ``problem``: one line (without the file name) when not every page is shown; ``pending``:
    not drawn yet (queued or drawing), ``pages`` then counts the pages drawn so far."""
    folder: Path
    pages: int = 0
    total: int = 0
    problem: str = ""
    pending: bool = False

    def page(self, number: int) -> Path | None:
        """The PNG of page ``number`` (1-based) when it is drawn, else ``None``."""
        path = self.folder / f"{number}.png"
        return path if 1 <= number <= self.pages and path.is_file() else None


_DIGESTS: dict = {}


def _digest(path: str | Path) -> str:
    """The PDF's content hash, remembered per (path, size, mtime) so a page view does not re-read it."""
    stat = Path(path).stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:24]
    return _DIGESTS[key]


def cache_dir(pdf_path: str | Path, out_dir: str | Path) -> Path:
    return Path(out_dir) / "marking" / "pdf" / _digest(pdf_path)


def recorded(folder: Path) -> Rendered | None:
    """The record of a PDF drawn before (``pages.json``), or ``None`` when it never was."""
    try:
        data = json.loads((Path(folder) / RECORD).read_text())
        return Rendered(Path(folder), int(data["pages"]), int(data.get("total", data["pages"])),
                        str(data.get("problem", ""))[:300])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _drawn(folder: Path, start: int) -> int:
    """How many pages in a row, from page 1, the child has finished (it renames each PNG into place)."""
    count = start
    while (folder / f"{count + 1}.png").exists():
        count += 1
    return count


def _stop(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except OSError:
        pass
    child.wait()


def _watch(child: subprocess.Popen, folder: Path, page_timeout: float, timeout: float) -> tuple[int, str]:
    """Wait for the child, killing it past a page's or the PDF's time; ``(pages drawn, problem)``."""
    started = last = time.monotonic()
    done = 0
    while child.poll() is None:
        time.sleep(0.05)
        now, before = time.monotonic(), done
        done = _drawn(folder, done)
        last = now if done > before else last
        if now - last > page_timeout:
            _stop(child)
            return done, f"page {done + 1} took over {page_timeout:g} s to draw"
        if now - started > timeout:
            _stop(child)
            return done, f"drawing took over {timeout:g} s"
    done = _drawn(folder, done)
    if child.returncode != 0:
        last_line = ((child.stderr.read() if child.stderr else "").strip().splitlines() or ["PDFium failed"])[-1]
        return done, f"cannot be rendered ({last_line[:200]})"
    return done, ""


def render(pdf_path: str | Path, folder: str | Path, command: list[str] | None = None, page_timeout: float | None = None,
           timeout: float | None = None) -> Rendered:
    """Draw ``pdf_path`` into ``folder`` once, bounded (see the module docstring), and record it.

    ``command``: the child's argv before the two paths (tests put a slow stand-in there).
    Returns the record; a second call returns the first one's record without drawing.
    ``page_timeout`` and ``timeout`` default to ``PAGE_TIMEOUT`` and ``TIMEOUT``."""
    page_timeout = PAGE_TIMEOUT if page_timeout is None else page_timeout
    timeout = TIMEOUT if timeout is None else timeout
    folder = Path(folder)
    done = recorded(folder)
    if done is not None:
        return done
    folder.mkdir(parents=True, exist_ok=True)
    argv = (command or CHILD or [sys.executable, "-m", "graders.reports.pdf"]) + [str(pdf_path), str(folder)]
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             start_new_session=True, cwd=Path(__file__).resolve().parents[2])
    try:
        pages, problem = _watch(child, folder, page_timeout, timeout)
    finally:
        if child.poll() is None:
            _stop(child)
        if child.stderr:
            child.stderr.close()
    try:
        total = int(json.loads((folder / "total.json").read_text())["total"])
    except (OSError, ValueError, KeyError, TypeError):
        total = pages
    if not problem and total > pages:
        problem = f"{total} pages; the first {pages} are shown"
    if problem and pages:
        problem += f"; pages 1-{pages} of {total or '?'} are shown" if "are shown" not in problem else ""
    record = {"pages": pages, "total": total, "problem": problem}
    (folder / RECORD).write_text(json.dumps(record))
    return Rendered(folder, pages, total, problem)


def pages(pdf_path: str | Path, out_dir: str | Path) -> list[Path]:
    """``[Path]`` of the drawn pages (1-based order), drawing them now if never drawn; raises
    ``PdfProblem`` (naming the file) when no page could be drawn."""
    pdf_path = Path(pdf_path)
    if not pdf_path.is_file():
        raise PdfProblem(f"{pdf_path.name}: no such file")
    done = render(pdf_path, cache_dir(pdf_path, out_dir))
    if done.pages == 0:
        raise PdfProblem(f"{pdf_path.name}: {done.problem or 'no pages'}")
    return [done.folder / f"{n}.png" for n in range(1, done.pages + 1)]


class Renderer:
    """Draws the PDFs asked for, one at a time, in one background thread; each once (see ``render``).

    ``status(path)`` never waits: the record when there is one, else a pending ``Rendered``
    (and the PDF moves to the front of the queue). ``request(path)`` queues one at the back."""

    def __init__(self, out_dir: str | Path, command: list[str] | None = None, page_timeout: float | None = None,
                 timeout: float | None = None) -> None:
        self.out_dir, self.command = Path(out_dir), command
        self.page_timeout, self.timeout = page_timeout, timeout
        self._queue: collections.deque[str] = collections.deque()
        self._busy: str | None = None
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def _folder(self, pdf_path: str | Path) -> Path:
        return cache_dir(pdf_path, self.out_dir)

    def request(self, pdf_path: str | Path, first: bool = False) -> None:
        """Queue ``pdf_path`` (at the front when ``first``) unless it is drawn, queued or drawing."""
        with self._wake:
            key = str(pdf_path)
            if first and key in self._queue:
                self._queue.remove(key)
            if key in self._queue or key == self._busy:
                return
            self._queue.appendleft(key) if first else self._queue.append(key)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pdf-renderer", daemon=True)
                self._thread.start()
            self._wake.notify_all()

    def status(self, pdf_path: str | Path) -> Rendered:
        """What can be shown of ``pdf_path`` now; asks for it to be drawn next when it never was."""
        folder = self._folder(pdf_path)
        done = recorded(folder)
        if done is not None:
            return done
        self.request(pdf_path, first=True)
        return Rendered(folder, _drawn(folder, 0) if folder.is_dir() else 0, 0, "", pending=True)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue:
                    self._busy = None
                    self._wake.notify_all()
                    self._wake.wait()
                self._busy = self._queue.popleft()
            try:
                path = Path(self._busy)
                if path.is_file():
                    render(path, self._folder(path), self.command, self.page_timeout, self.timeout)
            except Exception as error:  # noqa: BLE001 - one PDF must not stop the others
                print(f"pdf renderer: {self._busy}: {type(error).__name__}: {error}", file=sys.stderr)

    def idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until nothing is queued or drawing; ``True`` when idle."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._queue or self._busy is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(left)
        return True


def _limit_self() -> None:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (TIMEOUT + 5, TIMEOUT + 5))


def render_all(pdf_path: str | Path, folder: str | Path) -> None:
    """Child side: draw every page (up to ``MAX_PAGES``) to ``folder/<n>.png``, each renamed into place
    when complete; ``total.json`` holds the document's page count."""
    import pypdfium2
    folder = Path(folder)
    document = pypdfium2.PdfDocument(str(pdf_path))
    try:
        (folder / "total.json").write_text(json.dumps({"total": len(document)}))
        for index in range(min(len(document), MAX_PAGES)):
            page = document[index]
            partial = folder / f".{index + 1}.png.part"
            page.render(scale=SCALE).to_pil().save(partial, format="PNG", optimize=True)
            os.replace(partial, folder / f"{index + 1}.png")
            page.close()
    finally:
        document.close()


if __name__ == "__main__":
    _limit_self()
    render_all(sys.argv[1], sys.argv[2])
