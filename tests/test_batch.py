"""The batch seam (graders.batch.runner) and progress lines (graders.batch.progress), without grading anything real.

``grade_submission`` is replaced by a stand-in whose speed the test controls, so these check the
order of results, recording as jobs finish, resuming, executors that grade elsewhere, and what
progress prints.
"""
import io
import json
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace

import pytest

from graders.batch import keys, runner as batch
from graders.intake.discover import Submission
from graders.grading.pipeline import Settings
from graders.batch.progress import Progress
from graders.results import ItemResult, SubmissionInfo, SubmissionResult
from graders.grading.secret import PixelPermutation


def _run(workers=3, sandbox="bubblewrap", secret="course secret", **settings):
    """What ``batch`` reads of a ``pipeline.Run``: settings, sandbox, data and the secret's transform."""
    return SimpleNamespace(settings=Settings(workers=workers, **settings), data_source="test data",
                           sandbox=SimpleNamespace(description=sandbox),
                           permutation=PixelPermutation.from_secret(secret))


def _submissions(folder, count):
    subs = []
    for n in range(count):
        path = Path(folder) / f"s{n}.py"
        path.write_text(f"x = {n}\n")
        subs.append(Submission(f"s{n}", path, path))
    return subs


def _result(sub_id, awarded=1.0):
    return SubmissionResult(sub_id, {"q4.kl_divergence": ItemResult(4.0, "partial", awarded)})


@pytest.fixture
def graded_here(monkeypatch):
    """Replace grading: submission n takes (count - n) * 0.15 s, so they finish in reverse order."""
    calls = []

    def fake(run, sub):
        calls.append(sub.id)
        n = int(sub.id[1:])
        time.sleep((3 - n) * 0.15)
        return _result(sub.id, float(n))
    monkeypatch.setattr(batch, "grade_submission", fake)
    return calls


def test_results_are_recorded_as_they_finish_and_returned_in_submission_order(tmp_path, graded_here):
    subs = _submissions(tmp_path, 3)
    store, seen = batch.ResultStore(tmp_path / "out"), []
    results = batch.grade_all(_run(workers=3), subs, store, lambda r: seen.append(r.id))
    assert [r.id for r in results] == ["s0", "s1", "s2"]
    assert seen == ["s2", "s1", "s0"]                                  # as they finished
    lines = [json.loads(line) for line in store.path.read_text().splitlines()]
    assert [line["result"]["id"] for line in lines] == ["s2", "s1", "s0"]
    assert [r.auto_awarded for r in results] == [0.0, 1.0, 2.0]
    timings = {line["result"]["id"]: line["result"]["info"]["timings"]["submission"] for line in lines}
    assert timings["s0"] >= 0.4 and 0.0 <= timings["s2"] < timings["s0"]


def test_a_rerun_resumes_and_grades_nothing_again(tmp_path, graded_here):
    subs = _submissions(tmp_path, 3)
    store = batch.ResultStore(tmp_path / "out")
    batch.grade_all(_run(), subs, store)
    graded_here.clear()
    seen = []
    again = batch.grade_all(_run(), subs, store, lambda r: seen.append(r.info.resumed))
    assert graded_here == [] and seen == [True, True, True]
    assert [r.auto_awarded for r in again] == [0.0, 1.0, 2.0]
    assert len(store.path.read_text().splitlines()) == 3
    subs[1].source.write_text("x = 'changed'\n")                       # new content: graded again
    batch.grade_all(_run(), subs, store)
    assert graded_here == ["s1"] and len(store.path.read_text().splitlines()) == 4



@pytest.mark.parametrize("changed", [{"sandbox": "process limits only"}, {"secret": "another course secret"},
                                     {"train_seconds": 60.0}, {"memory_mb": 1024}, {"statement_seconds": 2.0},
                                     {"load_seconds": 30.0}, {"public": True}, {"seed": 2}])
def test_a_result_is_resumed_only_under_the_same_sandbox_secret_and_limits(tmp_path, graded_here, changed):
    """Before: a result graded with ``--sandbox none`` (28/40, the reference importable) came back
    "resumed" under bubblewrap. Now any difference in sandbox, secret or limits regrades."""
    subs = _submissions(tmp_path, 2)
    store = batch.ResultStore(tmp_path / "out")
    batch.grade_all(_run(), subs, store)
    graded_here.clear()
    batch.grade_all(_run(workers=1, keep_jobs=True, baseline_cache=str(tmp_path / "elsewhere")), subs, store)
    # none of the three can change a mark: resumed
    assert graded_here == []
    batch.grade_all(_run(**changed), subs, store)
    assert sorted(graded_here) == ["s0", "s1"]


def test_the_resume_key_names_what_it_holds_and_never_the_secret(monkeypatch):
    key = batch.resume_key(_run(secret="hunter2-course-secret"))
    assert key["sandbox"] == "bubblewrap" and key["data"] == "test data" and len(key["code"]) == 16
    assert key["secret"] == PixelPermutation.from_secret("hunter2-course-secret").digest
    assert "hunter2" not in json.dumps(key)
    assert json.loads(key["settings"])["train_seconds"] == 120.0 and "workers" not in key["settings"]
    monkeypatch.setattr(keys, "GRADER_VERSION", "9.9.9")
    assert batch.resume_key(_run(secret="hunter2-course-secret"))["version"] == "9.9.9"


def test_two_submissions_with_one_id_are_refused_before_grading(tmp_path, graded_here):
    subs = _submissions(tmp_path, 2)
    subs[1].id = "s0"
    with pytest.raises(ValueError, match="two submissions share the id 's0'"):
        batch.grade_all(_run(), subs, batch.ResultStore(tmp_path / "out"))
    assert graded_here == []

class RemoteExecutor:
    """Stands in for cluster.DaskExecutor: completes each submission's future from another thread."""

    def __init__(self, fail=()):
        self.sent, self.fail = [], set(fail)

    def submit_submission(self, sub):
        self.sent.append(sub.id)
        future = Future()
        future.set_running_or_notify_cancel()
        delay = 0.05 * len(self.sent)

        def finish():
            time.sleep(delay)
            if sub.id in self.fail:
                future.set_exception(RuntimeError(f"{sub.id}: the workers grading it kept dying"))
            else:
                future.set_result(_result(sub.id, 3.0))
        threading.Thread(target=finish).start()
        return future


def test_an_executor_that_grades_elsewhere_is_used_and_each_result_recorded_once(tmp_path, graded_here):
    subs = _submissions(tmp_path, 3)
    store, remote = batch.ResultStore(tmp_path / "out"), RemoteExecutor()
    results = batch.grade_all(_run(), subs, store, executor=remote)
    assert graded_here == [] and remote.sent == ["s0", "s1", "s2"]
    assert [r.auto_awarded for r in results] == [3.0, 3.0, 3.0]
    ids = [json.loads(line)["result"]["id"] for line in store.path.read_text().splitlines()]
    assert sorted(ids) == ["s0", "s1", "s2"]
    assert all(r.info.fingerprint == batch.fingerprint(s, _run()) for r, s in zip(results, subs))


def test_an_executor_failure_stops_the_batch_and_keeps_what_was_recorded(tmp_path, graded_here):
    subs = _submissions(tmp_path, 3)
    store = batch.ResultStore(tmp_path / "out")
    with pytest.raises(RuntimeError, match="s2: the workers grading it kept dying"):
        batch.grade_all(_run(), subs, store, executor=RemoteExecutor(fail={"s2"}))
    ids = [json.loads(line)["result"]["id"] for line in store.path.read_text().splitlines()]
    assert ids == ["s0", "s1"]                                         # finished before s2 failed


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_progress_prints_plain_lines_every_step_or_interval_with_rate_and_eta():
    stream, clock = io.StringIO(), FakeClock()
    progress = Progress(100, stream=stream, every=10.0, step=0.05, bar=False, clock=clock)
    for n in range(1, 101):
        clock.now += 0.5                                               # 2 submissions a second
        progress(_result(f"s{n}"))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 20                                            # every 5 of 100
    assert lines[0] == "graded 5/100 (5%)  120.0/min  ETA 48s  last: s5 1/4"
    assert lines[-1].startswith("graded 100/100 (100%)  120.0/min  took 50s")


def test_progress_lines_follow_the_interval_when_steps_are_slow():
    stream, clock = io.StringIO(), FakeClock()
    progress = Progress(1000, stream=stream, every=10.0, step=0.05, bar=False, clock=clock)
    progress(_result("old", 0.0).__class__("old", {}, info=SubmissionInfo(resumed=True)))
    for n in range(4):
        clock.now += 6.0                                               # one per 6 s: a line per 10 s
        progress(_result(f"s{n}"))
    lines = stream.getvalue().splitlines()
    assert [line.split("  ")[0] for line in lines] == ["graded 3/1000 (0%)", "graded 5/1000 (0%)"]
    assert "1 resumed" in lines[0] and "10.0/min" in lines[-1] and "ETA 1h39m" in lines[-1]


def test_default_workers_is_one_per_core_unless_memory_is_short():
    per = batch.MEMORY_PER_WORKER_MB
    assert batch.default_workers(cores=16, memory_mb=64 * 1024) == 16
    assert batch.default_workers(cores=16, memory_mb=1024 + 4 * per) == 4
    assert batch.default_workers(cores=2, memory_mb=512) == 1


def test_alice_alice_ipynb_and_alice_2_keep_three_rows_and_their_own_marks(tmp_path, monkeypatch):
    """Before: ``alice.ipynb`` was renamed ``alice~2``, which ``alice~2.ipynb`` already had: one result
    overwrote the other and both rows showed 0/40, the 40/40 work lost. Each file's marks here are
    its own (the stand-in grader reads them from the file)."""
    from graders.intake.discover import discover
    batch_dir = tmp_path / "batch"
    (batch_dir / "alice").mkdir(parents=True)
    (batch_dir / "alice" / "A4.py").write_text("marks = 0\n")
    (batch_dir / "alice.ipynb").write_text('{"cells": [], "metadata": {"marks": 40}, "nbformat": 4, '
                                           '"nbformat_minor": 5}')
    (batch_dir / "alice~2.ipynb").write_text('{"cells": [], "metadata": {"marks": 3}, "nbformat": 4, '
                                             '"nbformat_minor": 5}')

    def own_marks(run, sub):
        text = sub.source.read_text()
        marks = json.loads(text)["metadata"]["marks"] if text.startswith("{") else 0.0
        return _result(sub.id, float(marks))
    monkeypatch.setattr(batch, "grade_submission", own_marks)
    subs = discover(batch_dir, tmp_path / "scratch")
    results = batch.grade_all(_run(), subs, batch.ResultStore(tmp_path / "out"))
    assert {r.id: r.auto_awarded for r in results} == {"alice": 0.0, "alice~2": 3.0, "alice~3": 40.0}
