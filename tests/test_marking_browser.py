"""The marking app in a real browser: Debian's headless Chromium driven by selenium (no download).

A graded batch of three is made without the grader (``graders.marking.demo``). Set
``A4_MARKING_SCREENSHOTS=DIR`` to keep screenshots of the question view and a student page.
"""
import csv
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from graders.marking import written
from graders.items import WRITTEN_ITEMS
from graders.marking.store import MarkStore

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                                reason="Debian's chromium and chromedriver are not installed")]
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

# Written marks typed into written_marks.csv before the app starts: every item but q1a, so that
# q1a, marked in the browser, completes every grade. Auto marks: 40, 38 and 25.
OTHERS = {
    "student1": {item: m for item, m in WRITTEN_ITEMS.items() if item != "q1a"},                       # 55
    "student2": {**{item: m for item, m in WRITTEN_ITEMS.items() if item != "q1a"}, "q3c": 0, "q3d": 0},  # 40
    "student3": {"q1b": 3, "q1c": 2, "q2a": 3, "q2b": 7, "q3a": 5, "q3b": 5, "q3c": 0, "q3d": 0, "q5a": 3, "q5b": 2,
                 "q5d": 0},                                                                            # 30
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from graders.marking.demo import build_batch
    out = tmp_path_factory.mktemp("browser") / "out"
    ids = build_batch(out)
    with open(out / "written_marks.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, written.COLUMNS)
        writer.writeheader()
        for sid in ids:
            writer.writerow({"id": sid, **{k: f"{v:g}" for k, v in OTHERS[sid].items()}})
        writer.writerow({"id": "last-years-student", "q1a": "4", "comment": "kept"})
    return out


@pytest.fixture(scope="module")
def server(demo):
    from werkzeug.serving import make_server
    from graders.marking.app import create_app
    app = create_app(demo, token="browser-test-token")
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def _browser(tmp_path, name, console=False):
    """Headless Chromium; ``console``: keep the page's console (``driver.get_log("browser")``)."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000", f"--user-data-dir={tmp_path / name}"):
        options.add_argument(flag)
    if console:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)


@pytest.fixture
def browser(tmp_path):
    driver = _browser(tmp_path, "profile")
    yield driver
    driver.quit()


def _wait(driver, condition, timeout=15):
    """Wait for ``condition``; a page that is reloading meanwhile is waited out, not an error."""
    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)
                         ).until(lambda d: condition(d))


def _score(driver):
    return driver.find_element(By.ID, "score").text


def _press(driver, keys, expected_score):
    driver.find_element(By.TAG_NAME, "body").send_keys(keys)
    _wait(driver, lambda d: _score(d) == expected_score and d.find_element(By.ID, "saved").text == "saved")


def _student_on_page(driver):
    """The student whose answer the page shows, once its keys work (``body[data-ready]``); else None."""
    if driver.find_element(By.TAG_NAME, "body").get_attribute("data-ready") != "yes":
        return None
    return driver.find_element(By.ID, "student-id").text


def _screenshot(driver, name):
    folder = os.environ.get("A4_MARKING_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / name))


def _csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["id"]: row for row in csv.DictReader(handle)}


def test_mark_q1a_for_everyone_by_keyboard_then_change_a_rubric_entry(server, demo, browser):
    app, base = server
    browser.get(f"{base}/?token=browser-test-token")
    assert "token" not in browser.current_url and browser.find_element(By.ID, "progress-q1a").text == "0/3"
    browser.get(f"{base}/q/q1a/")                      # the first unmarked answer
    _wait(browser, lambda d: _student_on_page(d) == "student1")
    assert browser.find_elements(By.CSS_SELECTOR, "#answer math[display=block]")   # LaTeX rendered as MathML
    assert "Marking: gradient of σ(xᵀw) correct (2)" in browser.find_element(By.ID, "model").text
    _press(browser, "1", "2")                          # gradient (2)
    _press(browser, "2", "4")                          # bound (2)
    _press(browser, "3", "5")                          # conclusion (1)
    assert browser.find_element(By.ID, "progress").text == "1/3"
    browser.find_element(By.TAG_NAME, "body").send_keys("j")
    _wait(browser, lambda d: _student_on_page(d) == "student2")
    assert _score(browser) == "unmarked"
    _press(browser, "1", "2")
    _press(browser, "3", "3")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
    _wait(browser, lambda d: _student_on_page(d) == "student3")
    _press(browser, "4", "0")                          # "No answer / no credit"
    browser.find_element(By.TAG_NAME, "body").send_keys("c")
    browser.switch_to.active_element.send_keys("Show the bound on σ(1 − σ).", Keys.ESCAPE)
    _wait(browser, lambda d: d.find_element(By.ID, "saved").text == "saved")
    assert MarkStore(demo).get("q1a", "student3").comment == "Show the bound on σ(1 − σ)."
    assert browser.find_element(By.ID, "progress").text == "3/3"
    assert not browser.find_elements(By.ID, "next-unmarked")

    # The gradient entry is worth 0.5, not 2: every answer that has it is re-scored.
    browser.find_element(By.TAG_NAME, "body").send_keys("k")
    _wait(browser, lambda d: _student_on_page(d) == "student2")
    points = browser.find_element(By.CSS_SELECTOR, '#rubric li[data-entry="e1"] input.points')
    points.send_keys(Keys.CONTROL, "a")
    points.send_keys("0.5", Keys.TAB)
    _wait(browser, lambda d: _score(d) == "1.5")       # the page reloads with the new score
    assert "1 answer(s) re-scored" not in browser.find_element(By.ID, "banner").text
    assert "2 answer(s) re-scored" in browser.find_element(By.ID, "banner").text
    browser.refresh()
    assert _score(browser) == "1.5"
    assert browser.find_element(By.CSS_SELECTOR, '#rubric li[data-entry="e1"] input.points').get_attribute("value") == "0.5"
    assert app.updater.flush(60) and app.updater.status()["error"] == ""

    store = MarkStore(demo)
    assert {sid: m.score for sid, m in store.marks_of_item("q1a").items()} == {
        "student1": 3.5, "student2": 1.5, "student3": 0.0, "last-years-student": 4.0}
    assert store.get("q1a", "student1").applied == ["e1", "e2", "e3"]
    rows = _csv(demo / "written_marks.csv")
    assert {sid: rows[sid]["q1a"] for sid in rows} == {"student1": "3.5", "student2": "1.5", "student3": "0",
                                                        "last-years-student": "4"}
    assert rows["last-years-student"]["comment"] == "kept" and rows["student2"]["q3c"] == "0"
    grades = _csv_grades(demo / "grades.csv")
    # 40 + 55 + 3.5 = 98.5 -> 100; 38 + 40 + 1.5 = 79.5 -> 80 (it was 81.5 -> 100 before the change); 25 + 30 = 55 -> 60
    assert grades == {"student1": ("100", "final"), "student2": ("80", "final"), "student3": ("60", "final")}

    browser.get(f"{base}/reports/students/student2.html")
    assert browser.find_element(By.ID, "final-grade").text == "80"
    marking = browser.find_element(By.CSS_SELECTOR, "#q1a .feedback").text
    assert "+0.5 part 1 of the marking guide" in marking and "gradient of σ(xᵀw) correct" not in marking  # TAs only
    assert "Model answer" not in browser.page_source and "Marking: gradient" not in browser.page_source
    assert browser.find_elements(By.CSS_SELECTOR, "#q1a math")
    browser.execute_script("document.getElementById('q1a').scrollIntoView()")
    _screenshot(browser, "report-student-copy.png")
    browser.get(f"{base}/reports/students/student3.html")
    assert "Show the bound on σ(1 − σ)." in browser.find_element(By.CSS_SELECTOR, "#q1a .ta-comment").text
    assert browser.find_element(By.ID, "final-grade").text == "60"
    browser.get(f"{base}/reports/ta/student2.html")
    assert "Marking: gradient of σ(xᵀw) correct (2)" in browser.page_source
    marking = browser.find_element(By.CSS_SELECTOR, "#q1a .feedback").text
    assert "+0.5 gradient of σ(xᵀw) correct" in marking and "+1 uses ‖xᵢ‖ ≤ 1 and concludes L = 1" in marking

    # the per-student view: say which PDF pages answer q1a, then see them in the question view
    browser.get(f"{base}/s/0")
    box = browser.find_element(By.CSS_SELECTOR, 'input.map[data-item="q1a"][value="1"]')
    box.click()
    _wait(browser, lambda d: d.find_element(By.ID, "saved").text == "saved")
    assert MarkStore(demo).student("student1").pages == {"q1a": [1]}
    browser.get(f"{base}/s/0")
    _wait(browser, lambda d: all(i.get_attribute("naturalWidth") not in (None, "0")
                                 for i in d.find_elements(By.CSS_SELECTOR, "#item-q1a img.page")))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#item-q1a img.page")) == 1
    _screenshot(browser, "marking-student-view.png")
    browser.get(f"{base}/q/q1a/0")
    assert browser.find_element(By.CSS_SELECTOR, "#pdf img.page").get_attribute("alt") == "PDF page 1"
    _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#pdf img.page").get_attribute("naturalWidth") != "0")
    _screenshot(browser, "marking-question-view.png")


def _csv_grades(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["Identifier"]: (row["Grade"], row["Status"]) for row in csv.DictReader(handle)}


def _fire(driver, requests):
    """Send ``requests`` ([(path, body)]) from the page all at once; returns their HTTP statuses."""
    return driver.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "Promise.all(arguments[0].map(function (r) { return api(r[0], r[1]).then(function (x) { return x.status; }); }))"
        ".then(done);", requests)


def test_two_sessions_writing_at_once_lose_nothing(server, demo, browser, tmp_path):
    app, base = server
    other = _browser(tmp_path, "second-ta")
    try:
        for driver in (browser, other):
            driver.get(f"{base}/?token=browser-test-token")
            driver.get(f"{base}/q/q2a/0")
        # Two TAs, two items, every student, all at the same moment.
        versions = MarkStore(demo).get
        batches = {driver: [("/api/mark", {"item": item, "student": sid, "version": versions(item, sid).version,
                                           "toggle": "e1"})
                            for sid in ("student1", "student2", "student3")]
                   for driver, item in ((browser, "q2a"), (other, "q2b"))}
        statuses = {}
        threads = [threading.Thread(target=lambda d=d: statuses.__setitem__(d, _fire(d, batches[d])))
                   for d in batches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == {browser: [200, 200, 200], other: [200, 200, 200]}
        store = MarkStore(demo)
        for item in ("q2a", "q2b"):
            assert {sid: m.applied for sid, m in store.marks_of_item(item).items()} == {
                "student1": ["e1"], "student2": ["e1"], "student3": ["e1"]}

        # Both open the same answer; the first applies entry 1; the second, still showing version 0,
        # applies entry 2: sent as "apply e2", it is merged on the newer record (no reload, nothing undone).
        for driver in (browser, other):
            driver.get(f"{base}/q/q1b/0")
            _wait(driver, lambda d: _student_on_page(d) == "student1")
        _press(browser, "1", "1")
        _press(other, "2", "2")
        assert other.find_element(By.ID, "merged").text == "merged with another TA's change"
        assert other.find_elements(By.CSS_SELECTOR, "#rubric li.applied") and len(
            other.find_elements(By.CSS_SELECTOR, "#rubric li.applied")) == 2
        assert MarkStore(demo).get("q1b", "student1").applied == ["e1", "e2"]
        assert app.updater.flush(60)
        assert _csv(demo / "written_marks.csv")["student1"]["q1b"] == "2"
    finally:
        other.quit()


# -- no input is ever lost (issue 18, item 1) -------------------------------------------------------
def _open(driver, url, student):
    driver.get(url)
    _wait(driver, lambda d: _student_on_page(d) == student)


def _settled(driver):
    """Every queued change answered (the page says "saved")."""
    _wait(driver, lambda d: d.find_element(By.ID, "saved").text == "saved")


def test_a_burst_of_keys_gives_the_same_marks_as_slow_typing(server, demo, browser):
    app, base = server
    browser.get(f"{base}/?token=browser-test-token")
    before = MarkStore(demo).get("q3b", "student1").version
    _open(browser, f"{base}/q/q3b/0", "student1")
    browser.find_element(By.TAG_NAME, "body").send_keys("123")      # one burst: three keydowns, no waiting
    _settled(browser)
    _open(browser, f"{base}/q/q3b/1", "student2")
    for key, score in (("1", "1"), ("2", "3"), ("3", "5")):           # the same keys, each waited for
        _press(browser, key, score)
    marks = MarkStore(demo).marks_of_item("q3b")
    assert marks["student1"].applied == marks["student2"].applied == ["e1", "e2", "e3"]
    assert marks["student1"].score == marks["student2"].score == 5.0
    assert marks["student1"].version == before + 3                  # three changes, none refused or lost
    _open(browser, f"{base}/q/q3b/0", "student1")
    browser.find_element(By.TAG_NAME, "body").send_keys("22")      # off and on again in one burst
    _settled(browser)
    assert MarkStore(demo).get("q3b", "student1").applied == ["e1", "e3", "e2"] and _score(browser) == "5"


def test_with_300_ms_of_latency_nothing_is_lost(server, demo, browser):
    app, base = server
    browser.get(f"{base}/?token=browser-test-token")
    app.config["INJECT_LATENCY_S"] = 0.3
    try:
        _open(browser, f"{base}/q/q5a/0", "student1")
        body = browser.find_element(By.TAG_NAME, "body")
        for key in "123":                                          # keys 150 ms apart, each reply 300 ms away
            body.send_keys(key)
            time.sleep(0.15)
        body.send_keys("c")
        browser.switch_to.active_element.send_keys("typed through a slow tunnel", Keys.ESCAPE)
        browser.find_element(By.TAG_NAME, "body").send_keys("j")     # leaves only once all is saved
        _wait(browser, lambda d: _student_on_page(d) == "student2", timeout=30)
        mark = MarkStore(demo).get("q5a", "student1")
        assert (mark.applied, mark.comment) == (["e1", "e2", "e3"], "typed through a slow tunnel")

        # A comment typed just before a reload (less than the 0.7 s of the autosave) survives it.
        browser.find_element(By.TAG_NAME, "body").send_keys("c")
        browser.switch_to.active_element.send_keys("typed, then reloaded")
        browser.refresh()
        _wait(browser, lambda d: _student_on_page(d) == "student2", timeout=30)
        _wait(browser, lambda d: MarkStore(demo).get("q5a", "student2").comment == "typed, then reloaded", timeout=30)
        _settled(browser)
        assert browser.find_element(By.ID, "comment").get_attribute("value") == "typed, then reloaded"
    finally:
        app.config["INJECT_LATENCY_S"] = 0.0


def test_two_tas_commenting_on_one_answer_keep_both_texts(server, demo, browser, tmp_path):
    app, base = server
    other = _browser(tmp_path, "second-commenter")
    try:
        for driver in (browser, other):
            driver.get(f"{base}/?token=browser-test-token")
            _open(driver, f"{base}/q/q3d/2", "student3")
        for driver, text in ((browser, "From TA one."), (other, "From TA two.")):   # both type at once
            driver.find_element(By.TAG_NAME, "body").send_keys("c")
            driver.switch_to.active_element.send_keys(text)
        for driver in (browser, other):
            driver.switch_to.active_element.send_keys(Keys.ESCAPE)
        first, second = sorted((browser, other), key=lambda d: d.find_element(By.ID, "comment-conflict").is_displayed())
        _wait(second, lambda d: d.find_element(By.ID, "comment-conflict").is_displayed())
        _settled(first)
        stored = MarkStore(demo).get("q3d", "student3").comment
        mine = second.find_element(By.ID, "comment").get_attribute("value")
        assert {stored, mine} == {"From TA one.", "From TA two."}        # the refused text is still on screen
        assert second.find_element(By.ID, "their-comment").text == stored
        second.find_element(By.ID, "keep-both").click()
        _settled(second)
        assert MarkStore(demo).get("q3d", "student3").comment == f"{stored}\n\n{mine}"
        first.refresh()
        _wait(first, lambda d: d.find_element(By.ID, "comment").get_attribute("value") == f"{stored}\n\n{mine}")
    finally:
        other.quit()


def test_a_group_is_marked_in_one_action_a_used_entry_is_not_deleted_and_pages_zoom(server, demo, browser):
    app, base = server
    browser.get(f"{base}/?token=browser-test-token")
    _open(browser, f"{base}/q/q5b/0", "student1")
    group = browser.find_element(By.CSS_SELECTOR, "#groups .group.here")   # the demo has no q5b answers
    assert "no answer (blank, 3 answers, this one among them)" in group.text
    group.find_element(By.CSS_SELECTOR, "button.group-apply").click()      # entry 1 is selected
    _wait(browser, lambda d: "3 answer(s) changed" in group.find_element(By.CSS_SELECTOR, ".group-result").text)
    _wait(browser, lambda d: _score(d) == "2")
    assert {sid: m.applied for sid, m in MarkStore(demo).marks_of_item("q5b").items()} == {
        "student1": ["e1"], "student2": ["e1"], "student3": ["e1"]}
    _press(browser, "1", "unmarked")                                        # each answer still editable alone
    assert MarkStore(demo).get("q5b", "student2").applied == ["e1"]
    browser.find_element(By.CSS_SELECTOR, '#rubric li[data-entry="e1"] button.delete-entry').click()
    _wait(browser, lambda d: "Not deleted: q5b: entry e1 is applied to 2 answer(s) (student2, student3)"
          in d.find_element(By.ID, "banner").text)
    page = browser.find_element(By.CSS_SELECTOR, "#pdf img.page")
    narrow = page.size["width"]
    page.click()
    _wait(browser, lambda d: "zoomed" in page.get_attribute("class") and page.size["width"] > narrow)


# -- stored XSS (issue 17, item 1): a hostile plot, id and PDF name are text on every marking page -------
import json  # noqa: E402

# What the red team's plot did: close the src attribute, run script that posts marks with the page's token.
# (The PDF name, limited to 255 bytes, only flags that it ran; the id raises an alert.)
_ATTACK = ("var t=document.querySelector('meta[name=x-token]').content,"
           "me=JSON.parse(document.getElementById('state').textContent).student;"
           "function m(s,i,v){fetch('/api/mark',{method:'POST',credentials:'same-origin',"
           "headers:{'Content-Type':'application/json','X-Token':t},"
           "body:JSON.stringify({item:i,student:s,version:0,manual:v})})}"
           "document.documentElement.dataset.pwned='yes';m(me,'q1a',5);m(me,'q1b',3);m('victim','q1a',0);")


HOSTILE_ID = "mallory\"'><img src=x data-hostile=id onerror=alert(document.domain)>"
HOSTILE_PDF = "answers<img src=x data-hostile=pdf onerror=document.documentElement.dataset.pwned=1>.pdf"  # < 255 bytes
HOSTILE_PLOT = "iVBORw0KGgo\" data-hostile=\"plot\" onerror=\"" + _ATTACK.replace('"', "'") + "\" x=\""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A batch of three: ``anna`` (a control), the hostile student and ``victim``, a classmate."""
    from graders.marking.demo import _notebook, build_batch
    from graders.reports.pages import Reporter, stored_results
    out = tmp_path_factory.mktemp("hostile") / "out"
    build_batch(out, 3)
    results = stored_results(out)
    for result, sid in zip(results, ["anna", HOSTILE_ID, "victim"]):
        result.id = sid
    mallory = results[1]
    notebook = _notebook("mallory")
    notebook["cells"][1]["outputs"][0]["data"]["image/png"] = HOSTILE_PLOT
    source = Path(mallory.info.source).with_name("mallory.ipynb")
    source.write_text(json.dumps(notebook))
    (out / "pdfs" / HOSTILE_PDF).write_bytes(b"%PDF-1.4 broken on purpose")
    mallory.info.source, mallory.info.fingerprint = str(source), "hostile01"
    mallory.info.pdf = str(out / "pdfs" / HOSTILE_PDF)
    (out / "results.jsonl").write_text("".join(json.dumps({"fingerprint": r.info.fingerprint,
                                                           "result": r.full_json()}) + "\n" for r in results))
    written.write_marks_file(out / "written_marks.csv", [r.id for r in sorted(results, key=lambda r: r.id)])
    Reporter(out).write_all(sorted(results, key=lambda r: r.id), lambda r: {})
    return out


def _visit(driver, url):
    """Load ``url``; ``(alerts seen, what the page's scripts and DOM show)``. Alerts are dismissed as
    they come (chromedriver's default), so the page's state is still read after one."""
    from selenium.common.exceptions import UnexpectedAlertPresentException
    alerts = []
    for attempt in range(20):
        try:
            if attempt == 0:
                driver.get(url)
            _wait(driver, lambda d: d.execute_script("return document.readyState") == "complete")
            time.sleep(0.4)                               # an onerror handler, had one been injected, has run
            return alerts, driver.execute_script(
                "return {pwned: document.documentElement.dataset.pwned || null,"
                " injected: document.querySelectorAll('[data-hostile]').length,"
                " text: document.body.innerText, ready: document.body.dataset.ready || null}")
        except UnexpectedAlertPresentException as error:
            alerts.append(error.alert_text or "alert")
    return alerts, {}


def _records(out):
    store = MarkStore(out)
    return {item: {sid: (m.score, m.version) for sid, m in store.marks_of_item(item).items()} for item in WRITTEN_ITEMS}


@pytest.mark.slow
def test_a_hostile_plot_id_and_pdf_name_are_text_on_every_marking_page(hostile, tmp_path):
    from werkzeug.serving import make_server
    from graders.marking.app import create_app
    app = create_app(hostile, token="hostile-token")
    renderer = getattr(app.batch, "pdfs", None)
    if renderer is not None:
        assert renderer.idle(60)                          # the PDFs drawn (or failed) in the background
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    before = _records(hostile)
    index = app.batch.ids.index(HOSTILE_ID)
    driver = _browser(tmp_path, "hostile-profile", console=True)
    findings = []
    try:
        driver.get(f"{base}/?token=hostile-token")
        pages = ["/", f"/s/{index}", *(f"/q/{item}/{index}" for item in WRITTEN_ITEMS),
                 *(f"/s/{i}" for i in range(3) if i != index)]
        for path in pages:
            alerts, state = _visit(driver, base + path)
            if alerts or state.get("pwned") or state.get("injected"):
                findings.append(f"{path}: alerts={alerts} script ran={bool(state.get('pwned'))} "
                                f"elements injected={state.get('injected')}")
                continue
            if path == "/" or path.endswith(f"/{index}"):
                assert HOSTILE_ID in state["text"], path                         # the id, as text
            if path.startswith(("/q/", "/s/")):
                assert state["ready"] == "yes", path                             # the page's own script ran
        for path in (f"/q/q3a/{index}", f"/s/{index}"):                           # where the plot and PDF show
            alerts, state = _visit(driver, base + path)
            if not (alerts or state.get("pwned") or state.get("injected")):
                assert f"{HOSTILE_PDF}: cannot be rendered" in state["text"], path   # the PDF name, as text
                assert "notebook cell 2: image output is not valid base64, not shown" in state["text"], path
        from graders.safe_text import page_names
        page = page_names(app.batch.ids)[HOSTILE_ID]
        for path in ("/reports/index.html", f"/reports/ta/{page}", f"/reports/students/{page}"):   # served by the app
            alerts, state = _visit(driver, base + path)
            if alerts or state.get("pwned") or state.get("injected") or HOSTILE_ID not in state.get("text", ""):
                findings.append(f"{path}: alerts={alerts} script ran={bool(state.get('pwned'))} "
                                f"elements injected={state.get('injected')}")
        _visit(driver, base + "/reports/index.html")
        driver.find_element(By.CSS_SELECTOR, "#students th.sortable").click()     # the report's own script runs
        driver.find_element(By.CSS_SELECTOR, "#students th.sortable").click()
        first = driver.find_element(By.CSS_SELECTOR, "#students tbody tr td").text
        if not first.startswith("victim"):
            findings.append(f"/reports/index.html: sorting by id (descending) put {first!r} first")
        time.sleep(1)
        console = [entry["message"] for entry in driver.get_log("browser")]
        findings += [f"console: {m[:200]}" for m in console if "Content Security Policy" in m or "alert" in m]
        after = _records(hostile)
        if after != before:
            findings.append(f"marks changed by visiting the pages: {after} (were {before})")
        assert findings == [], "\n".join(findings)

        # The pages still work under the CSP, on the hostile student's answer: keys m, c, 1-9, 0, n, j, k.
        store = MarkStore(hostile)
        while len(store.rubric("q2a")) < 10:
            store.add_entry("q2a", 0.5, f"extra entry {len(store.rubric('q2a')) + 1}")
        driver.get(f"{base}/q/q2a/{index}")
        _wait(driver, lambda d: _student_on_page(d) == HOSTILE_ID)
        _press(driver, "0", "0.5")                                              # the 10th entry
        _press(driver, "1", f"{store.rubric('q2a')[0].points + 0.5:g}")
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys("m")
        driver.switch_to.active_element.send_keys(Keys.CONTROL, "a")
        driver.switch_to.active_element.send_keys("3", Keys.TAB)
        _wait(driver, lambda d: _score(d) == "3" and d.find_element(By.ID, "saved").text == "saved")
        driver.find_element(By.TAG_NAME, "body").send_keys("c")
        driver.switch_to.active_element.send_keys("<b>ok</b>", Keys.ESCAPE)
        _wait(driver, lambda d: d.find_element(By.ID, "saved").text == "saved")
        mark = MarkStore(hostile).get("q2a", HOSTILE_ID)
        assert (mark.manual, mark.comment, mark.applied) == (3.0, "<b>ok</b>", ["e10", "e1"])
        driver.find_element(By.TAG_NAME, "body").send_keys("n")                  # the next unmarked answer
        _wait(driver, lambda d: _student_on_page(d) == "victim")
        for key, student in (("k", HOSTILE_ID), ("k", "anna"), ("j", HOSTILE_ID)):
            driver.find_element(By.TAG_NAME, "body").send_keys(key)
            _wait(driver, lambda d: _student_on_page(d) == student)
        assert not [m for m in (e["message"] for e in driver.get_log("browser")) if "Content Security Policy" in m]
        assert {sid: m.score for sid, m in MarkStore(hostile).marks_of_item("q1a").items()} == {}   # control
    finally:
        driver.quit()
        httpd.shutdown()
