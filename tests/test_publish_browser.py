"""A published student copy opened alone (copied into an empty folder) in Debian's headless Chromium.

Set ``A4_PUBLISH_SCREENSHOTS=DIR`` to keep a screenshot of the copy scrolled to a PDF page.
"""
import os
import shutil
from pathlib import Path

import pytest

from graders.marking import publish
from graders.items import WRITTEN_ITEMS
from graders.marking import rubrics
from graders.marking.store import MarkStore

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                                                   reason="Debian's chromium and chromedriver are not installed")]
from selenium.webdriver.common.by import By  # noqa: E402

STUDENT = "Ann Bo_123456"


def test_a_published_copy_opened_alone_shows_everything(tmp_path):
    from graders.marking.demo import build_batch
    out = tmp_path / "out"
    ids = build_batch(out, ids=[STUDENT, "Chen Li_123457"])
    store = MarkStore(out, seed=rubrics.seed_entries)
    for sid in ids:
        for item in WRITTEN_ITEMS:
            store.update(item, sid, 0, toggle="e1")
    store.update_student(STUDENT, 0, pages={"q2a": [1], "q3d": [2]}, comment="Clear work.")
    done = publish.publish(out)
    alone = tmp_path / "inbox"
    alone.mkdir()
    page = alone / done.pages[STUDENT]
    shutil.copyfile(out / "published" / done.pages[STUDENT], page)
    assert [p.name for p in alone.iterdir()] == [page.name]

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--window-size=1200,900", f"--user-data-dir={tmp_path / 'p'}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    try:
        browser.get(page.as_uri())
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])")
        assert images and all(loaded for _, loaded in images), images           # no broken image
        alts = [alt for alt, _ in images]
        assert "q2a: PDF page 1" in alts and "q3d: PDF page 2" in alts
        links = browser.execute_script("return Array.from(document.links).map(a => a.getAttribute('href'))")
        for link in links:                                                        # no link leaves the page
            assert link.startswith("#") and browser.find_elements(By.ID, link[1:]), link
        q2a = browser.find_element(By.ID, "q2a")
        assert q2a.find_element(By.CSS_SELECTOR, "figure.pdf-page img").get_attribute("naturalWidth") != "0"
        points = next(e.points for e in rubrics.seed_entries("q2a") if e.id == "e1")
        assert q2a.find_element(By.TAG_NAME, "h3").text == f"q2a · {points:g} / 3"
        assert "Final copy, published" in browser.find_element(By.ID, "published").text
        assert "Model answer" not in browser.page_source
        folder = os.environ.get("A4_PUBLISH_SCREENSHOTS")
        if folder:
            browser.execute_script("document.getElementById('q2a').scrollIntoView()")
            Path(folder).mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(Path(folder) / "published-copy.png"))
    finally:
        browser.quit()
