"""A submission's PDF as PNG pages, rendered once with pypdfium2 and cached in ``OUT``.

``locate(result, out_dir)`` finds a submission's PDF (``result.info["pdf"]``, a copy discovery
keeps in ``OUT``, or ``info["pdf_path"]``, the file graded from, which ``keep`` copies into
``OUT/marking/pdfs/`` at grading time). ``pages(pdf_path, out_dir)`` returns the PNG paths, one per page, rendering them on first
use into ``OUT/marking/pdf/<sha256 of the PDF>/<n>.png``. A student's PDF is untrusted
input to a C library, so it is rendered in a child process (``python -m
graders.marking.pdf``) with a time and memory limit: a PDF that hangs or crashes PDFium
costs that student's pages, never the app. At most ``MAX_PAGES`` pages are rendered.
"""
import hashlib
import json
import resource
import subprocess
import sys
from pathlib import Path

MAX_PAGES = 60
SCALE = 1.6          # 72 dpi * 1.6: readable handwriting at 1000 px page width
TIMEOUT = 120
MEMORY = 2 * 2**30


MAX_KEEP_BYTES = 200 * 2**20


def _candidates(result, out_dir):
    for key in ("pdf", "pdf_path"):
        raw = result.info.get(key)
        if raw:
            path = Path(raw)
            yield path if path.is_absolute() else Path(out_dir) / path


def _kept(result, out_dir):
    key = result.info.get("fingerprint") or hashlib.sha256(result.id.encode()).hexdigest()[:20]
    return Path(out_dir) / "marking" / "pdfs" / f"{key}.pdf"


def keep(result, out_dir):
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


def locate(result, out_dir):
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


class PdfProblem(Exception):
    """The PDF could not be rendered; one line for the TA."""


_DIGESTS = {}


def _digest(path):
    """The PDF's content hash, remembered per (path, size, mtime) so a page view does not re-read it."""
    stat = Path(path).stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:24]
    return _DIGESTS[key]


def cache_dir(pdf_path, out_dir):
    return Path(out_dir) / "marking" / "pdf" / _digest(pdf_path)


def _limit():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def pages(pdf_path, out_dir):
    """``[Path]`` of the rendered pages (1-based order); raises ``PdfProblem``."""
    pdf_path = Path(pdf_path)
    if not pdf_path.is_file():
        raise PdfProblem(f"{pdf_path.name}: no such file")
    folder = cache_dir(pdf_path, out_dir)
    done = folder / "pages.json"
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            child = subprocess.run([sys.executable, "-m", "graders.marking.pdf", str(pdf_path), str(folder)],
                                   capture_output=True, text=True, timeout=TIMEOUT, preexec_fn=_limit,
                                   cwd=Path(__file__).resolve().parents[2])
        except subprocess.TimeoutExpired:
            raise PdfProblem(f"{pdf_path.name}: rendering took over {TIMEOUT} s") from None
        if child.returncode != 0 or not done.exists():
            last = (child.stderr.strip().splitlines() or ["PDFium failed"])[-1]
            raise PdfProblem(f"{pdf_path.name}: cannot be rendered ({last[:200]})")
    count = json.loads(done.read_text())["pages"]
    return [folder / f"{n}.png" for n in range(1, count + 1)]


def render_all(pdf_path, folder):
    """Render every page (up to ``MAX_PAGES``) to ``folder/<n>.png``; then write ``pages.json``."""
    import pypdfium2
    document = pypdfium2.PdfDocument(str(pdf_path))
    try:
        count = min(len(document), MAX_PAGES)
        for index in range(count):
            page = document[index]
            page.render(scale=SCALE).to_pil().save(Path(folder) / f"{index + 1}.png", optimize=True)
            page.close()
    finally:
        document.close()
    (Path(folder) / "pages.json").write_text(json.dumps({"pages": count}))


if __name__ == "__main__":
    render_all(sys.argv[1], sys.argv[2])
