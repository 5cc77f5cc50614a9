"""``grade.py publish OUT``: make the marks final for students (contract section 5).

The pages in ``OUT/students/`` follow the marking live; what students receive is
published once the TA says so, and changes only when the TA publishes again:

- ``publish`` refuses (``NotReady``, naming each student and item) while an on-time
  student has an unmarked written item; a late student's grade is final (0) at once.
- ``OUT/published/<page>.html``: each student's final copy, standalone: plots, pictures
  and the PDF pages the TA mapped to each written item are inside the file (no link
  leaves it); rubric entries applied and not applied; never a model answer, and the
  marking guide's steps only as "part N of the marking guide".
- ``OUT/moodle_feedback.zip``: Moodle's "upload multiple feedback files in a zip" layout,
  one folder ``<Full Name>_<participant id>_assignfeedback_file_`` per student graded from
  a Moodle download, holding that student's page. Students graded from other layouts are
  listed in ``Published.not_included``.
- ``OUT/grades.csv`` (``Reporter.gradebook``) with its "Feedback comments" column.
- ``OUT/published/published.json``: when, and what each student was sent.

Every file is written whole and moved into place, so a failed run leaves the last
publication as it was.
"""
from __future__ import annotations

import base64
import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

from graders.items import WRITTEN_ITEMS
from graders.results import MoodleIdentity

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from graders.reports.pages import Reporter
    from graders.results import SubmissionResult

PUBLISHED = "published"
ZIP_NAME = "moodle_feedback.zip"
PAGE_WIDTH = 1000          # px: a PDF page as the student sees it inside their copy
JPEG_QUALITY = 80


@dataclass(frozen=True)
class Missing:
    """An on-time student whose written items are not all marked yet."""
    student: str
    items: tuple[str, ...]


class NotReady(Exception):
    """``publish`` refused: ``missing`` lists each student and item still unmarked."""

    def __init__(self, missing: list[Missing]) -> None:

        super().__init__(f"{len(missing)} on-time student(s) have unmarked written items")
        self.missing = missing


@dataclass
class Published:
    """What one ``publish`` wrote (paths inside ``OUT``)."""
    at: str                                             # ISO time of publishing
    pages: dict[str, str] = field(default_factory=dict)  # id -> page file in OUT/published/
    folders: dict[str, str] = field(default_factory=dict)  # id -> its folder in the feedback zip
    not_included: list[str] = field(default_factory=list)  # ids with no Moodle participant id
    grades: dict[str, float] = field(default_factory=dict)  # id -> final grade


def moodle_folder(moodle: MoodleIdentity | None) -> str | None:
    """``<Full Name>_<participant id>_assignfeedback_file_`` for a submission from a Moodle download (its
    ``SubmissionInfo.moodle``), else ``None``.

    Moodle's importer splits the folder name on ``_`` and reads the participant id from the
    second field, so underscores in the name become spaces (as Moodle's own download does).
    """
    if moodle is None:
        return None
    name = " ".join(moodle.full_name.replace("_", " ").replace("/", " ").replace("\\", " ").split())
    return f"{name}_{moodle.participant}_assignfeedback_file_"


def missing_marks(results: Iterable[SubmissionResult], reporter: Reporter) -> list[Missing]:
    """The on-time students (late ones are final at 0) with written items not marked yet."""
    out = []
    for result in results:
        summary = reporter.summary(result)
        if summary.late:
            continue
        marked = reporter.written.get(result.id, {}).get("marks", {})
        items = tuple(item for item in WRITTEN_ITEMS if item not in marked)
        if items:
            out.append(Missing(result.id, items))
    return out


def _page_images(result: SubmissionResult, out_dir: str | Path, pages_by_item: dict[str, list[int]]) -> dict[str, list[dict]]:
    """``{item: [{"page", "mime", "data"}]}``: the mapped PDF pages as JPEG data, ``{}`` without a PDF."""
    from PIL import Image

    from graders.reports import pdf
    wanted = sorted({p for pages in pages_by_item.values() for p in pages})
    path, _ = pdf.locate(result, out_dir)
    if not wanted or path is None:
        return {}
    try:
        rendered = pdf.pages(path, out_dir)
    except pdf.PdfProblem:
        return {}
    encoded = {}
    for number in wanted:
        if 1 <= number <= len(rendered):
            with Image.open(rendered[number - 1]) as opened:
                image = opened.convert("RGB")
                if image.width > PAGE_WIDTH:
                    image = image.resize((PAGE_WIDTH, round(image.height * PAGE_WIDTH / image.width)))
                buffer = io.BytesIO()
                image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
            encoded[number] = base64.b64encode(buffer.getvalue()).decode()
    return {item: [{"page": p, "mime": "image/jpeg", "data": encoded[p]} for p in pages if p in encoded]
            for item, pages in pages_by_item.items()}


def final_copy(reporter: Reporter, result: SubmissionResult, published_at: str) -> str:
    """The student's standalone final copy of ``result`` as HTML text."""
    context = reporter.page_context(result, {})
    images = _page_images(result, reporter.out_dir, reporter.pdf_pages_of(result.id))
    for row in context["written"]:
        row["page_images"] = images.get(row["id"], [])
    context.update(pdf_link="", published_at=published_at)
    return reporter.render_page(context, ta=False)


def _write_zip(path: Path, members: dict[str, str]) -> None:
    """``members`` (name in the zip -> text) into ``path``, via a temporary file and ``os.replace``."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in sorted(members.items()):
                archive.writestr(name, text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _swap_in(new: Path, target: Path) -> None:
    """Replace the folder ``target`` by ``new`` (both in the same folder)."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        os.replace(target, old / target.name)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def publish(out_dir: str | Path, extensions: Mapping[str, datetime] | None = None) -> Published:

    """Publish ``out_dir`` (see the module docstring); raises ``NotReady`` while marks are missing.

    ``extensions`` (id -> deadline) replaces the stored extensions when given.
    """
    from graders.marking.updater import current_rewriter
    out_dir = Path(out_dir)
    rewriter = current_rewriter(out_dir)
    reporter = rewriter.reporter()
    if extensions is not None:
        reporter.settings.extensions.clear()
        reporter.settings.extensions.update(extensions)
        reporter.settings_json()
    results = rewriter.results
    missing = missing_marks(results, reporter)
    if missing:
        raise NotReady(missing)
    done = Published(datetime.now().astimezone().isoformat(timespec="seconds"))
    shown_at = f"{datetime.fromisoformat(done.at):%Y-%m-%d %H:%M}"
    staging = Path(tempfile.mkdtemp(prefix=f".{PUBLISHED}.new.", dir=out_dir))
    members = {}
    for result in results:
        name = reporter.page_file(result.id)
        text = final_copy(reporter, result, shown_at)
        (staging / name).write_text(text, encoding="utf-8")
        done.pages[result.id] = name
        done.grades[result.id] = cast(float, reporter.summary(result).final)

        folder = moodle_folder(result.info.moodle)
        if folder is None:
            done.not_included.append(result.id)
        else:
            done.folders[result.id] = folder
            members[f"{folder}/{name}"] = text
    (staging / "published.json").write_text(json.dumps(asdict(done), indent=1, ensure_ascii=False))
    _swap_in(staging, out_dir / PUBLISHED)
    _write_zip(out_dir / ZIP_NAME, members)
    reporter.gradebook(results)
    return done
