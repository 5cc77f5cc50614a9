"""Grading on a Dask cluster: a scheduler and two workers on 127.0.0.1, started and stopped here.

The batch (the reference, handed in as a folder with a PDF and an older, different ``.py``, and two
catalogue mutants) is graded locally and with ``--scheduler``; the marks and everything discovery found
(files, roles, flags, notes, PDF) must be equal. While the cluster grades, one worker is killed
(SIGKILL) with a submission in hand: nothing may be lost and nothing recorded twice. A submission that
tries to take the workers over through the scheduler (``client.run``) gets nowhere under bubblewrap,
and a cluster run without the sandbox is refused. Short item limits keep it quick.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graders.proof import catalogue
from graders.batch import cluster, keys
from graders.grading import sandbox
from tests.conftest import ROOT, run_grade

pytestmark = pytest.mark.slow   # a Dask cluster grades batches (the inner loop is pytest -m 'not slow')

LIMITS = ("--time-limit", "10", "--train-time-limit", "60")
MUTANTS = {"kl_sum": "kl: sums over the batch", "no_zero_grad": "train: no zero_grad"}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    for sub_id, name in MUTANTS.items():
        case = next(c for c in catalogue.MUTANTS if c.name == name)
        (folder / f"{sub_id}.py").write_text(catalogue.case_source(case))
    student = folder / "reference"                     # a folder: notebook, PDF, an older different .py
    student.mkdir()
    shutil.copy(ROOT / "submissions" / "reference" / "A4.ipynb", student / "A4.ipynb")
    (student / "answers.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    older = shutil.copy(folder / "kl_sum.py", student / "A4_old.py")
    os.utime(older, (time.time() - 86400, time.time() - 86400))
    return folder


@pytest.fixture(scope="module")
def local(batch, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    done = run_grade("grade", batch, "--out", out, "--json", "--workers", "2", *LIMITS)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done, out


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """``(address, {pid: Popen})``: ``dask scheduler`` and two ``dask worker`` processes (no nanny)."""
    logs = tmp_path_factory.mktemp("dask")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    dask = [str(Path(sys.executable).parent / "dask")]  # the CLI installed beside this Python
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                                  stdout=open(logs / "scheduler.log", "wb"), stderr=subprocess.STDOUT, env=env, cwd=ROOT)]
    for name in ("w1", "w2"):
        processes.append(subprocess.Popen(
            [*dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-nanny", "--no-dashboard",
             "--name", name, "--local-directory", str(logs / name)],
            stdout=open(logs / f"{name}.log", "wb"), stderr=subprocess.STDOUT, env=env, cwd=ROOT))
    from distributed import Client
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address, {p.pid: p for p in processes[1:]}
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _marks(document):
    return {s["id"]: (s["auto_awarded"], {k: (v["awarded"], v["status"]) for k, v in s["items"].items()})
            for s in document["submissions"]}


def _lines(out):
    path = out / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# Not "notes": they also hold the load's failed statements, which depend on the machine's load (an
# import past its 5 s budget on a busy machine); discovery's note is asserted on its own below.
INFO_FROM_DISCOVERY = ("source", "source_path", "files", "pdf_path", "submitted_at")


def _found(lines):
    """Per id: the flags and what discovery found (``info`` fields), from results.jsonl lines."""
    return {line["result"]["id"]: {"flags": line["result"]["flags"],
                                   "info": {k: line["result"]["info"].get(k) for k in INFO_FROM_DISCOVERY}}
            for line in lines}


# What differs between two runs of the same submissions by nature: when and where, and how long.
MEASURED = ("timings", "worker", "graded_at", "resources")


def _comparable(lines):
    """Per id: the whole stored result (items with every check, flags, info) but ``MEASURED`` and the load's
    seconds: a cluster run's must equal a local run's field for field."""
    out = {}
    for line in lines:
        result = json.loads(json.dumps(line["result"]))
        for key in MEASURED:
            result["info"].pop(key, None)
        result["info"].get("load", {}).pop("seconds", None)
        for item in result["items"].values():
            item.get("details", {}).pop("seconds", None)     # a training item's wall-clock time
        out[result["id"]] = result
    return out


def test_json_stdout_is_exactly_the_json_and_progress_goes_to_stderr(local):
    document, done, _ = local
    assert done.stdout.count("\n") == 1 and json.loads(done.stdout) == document
    lines = [line for line in done.stderr.splitlines() if line.startswith("graded ")]
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"], done.stderr
    assert "(100%)" in lines[-1] and "/min" in lines[-1] and "took" in lines[-1]


def test_a_worker_without_bubblewrap_or_of_another_version_is_refused():
    expected = cluster.Expected("0.1.0", "abc", "auto")
    worker = {"version": "0.1.0", "code": "abc", "bwrap": False, "python": "3", "host": "h"}
    assert "bubblewrap cannot start there" in cluster.problems(expected, worker)[0]
    assert "never grades without the sandbox" in cluster.problems(expected, worker)[0]
    unsandboxed = cluster.problems(cluster.Expected("0.1.0", "abc", "none"), {**worker, "bwrap": True})
    assert unsandboxed == ["the sandbox is off (--sandbox none): refused on a cluster"]
    assert cluster.problems(expected, {**worker, "bwrap": True}) == []
    assert "grader version 0.0.9" in cluster.problems(expected, {**worker, "bwrap": True, "version": "0.0.9"})[0]
    assert "different grader code" in cluster.problems(expected, {**worker, "bwrap": True, "code": "xyz"})[0]


def test_a_cluster_run_without_the_sandbox_is_refused_in_one_line(batch, tmp_path):
    """Before: with ``--sandbox none`` a submission reached the scheduler and ran ``client.run`` on every
    worker, patching the grader there (its template 40/40, the control 0/40). Now refused before
    anything is read, by the client, and by every task on its worker."""
    done = run_grade("grade", batch, "--out", tmp_path, "--json", "--scheduler", "tcp://127.0.0.1:9",
                     "--sandbox", "none")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"error: {cluster.UNSANDBOXED}"]
    assert not (tmp_path / "results.jsonl").exists()
    with pytest.raises(cluster.ClusterError, match="needs the sandbox"):
        cluster.refuse_unsandboxed("none")
    cluster.refuse_unsandboxed("auto")
    with pytest.raises(cluster.WorkerMismatch, match="needs the sandbox"):
        cluster._worker_run({"sandbox": "none"}, cluster.Expected("0.1.0", "abc", "none"))


def test_workers_are_checked_and_match_this_install(dask_cluster):
    from distributed import Client
    from graders.grading.pipeline import Settings
    expected = cluster.expected_for(Settings())
    with Client(dask_cluster[0], timeout=30) as client:
        described = client.run(cluster.describe_worker)
    assert len(described) == 2
    for worker in described.values():
        assert worker["code"] == keys.code_digest() and cluster.problems(expected, worker) == []


@pytest.mark.slow
@pytest.mark.proof
def test_cluster_marks_equal_local_and_a_killed_worker_loses_nothing(batch, local, dask_cluster, tmp_path):
    from distributed import Client
    address, workers = dask_cluster
    out = tmp_path / "out"
    grading = subprocess.Popen([sys.executable, str(ROOT / "grade.py"), "grade", str(batch), "--out", str(out),
                                "--json", "--scheduler", address, *LIMITS],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    killed, recorded_before = None, None
    with Client(address, timeout=30) as client:
        pids = client.run(os.getpid)                     # worker address -> pid
        deadline = time.monotonic() + 600
        while killed is None and grading.poll() is None and time.monotonic() < deadline:
            busy = {a: keys for a, keys in client.processing().items() if keys}
            if len(_lines(out)) >= 1 and busy:            # mid-batch: one result in, a worker busy
                victim = next(iter(busy))
                recorded_before = {line["result"]["id"] for line in _lines(out)}
                os.kill(pids[victim], signal.SIGKILL)
                workers[pids[victim]].wait(timeout=30)
                killed = pids[victim]
            time.sleep(0.2)
    stdout, stderr = grading.communicate(timeout=900)
    assert grading.returncode == 0, stderr
    assert killed is not None, "the batch finished before a worker could be killed mid-batch"

    lines = _lines(out)
    ids = [line["result"]["id"] for line in lines]
    assert sorted(ids) == ["kl_sum", "no_zero_grad", "reference"]      # nothing lost, nothing twice
    graded_after = [line for line in lines if line["result"]["id"] not in recorded_before]
    assert graded_after and all(not line["result"]["info"]["worker"].endswith(f":{killed}") for line in graded_after)
    assert all(line["result"]["info"]["timings"]["submission"] > 0 for line in lines)

    document = json.loads(stdout)
    print(f"\nworker-kill test: killed pid {killed} with {recorded_before or 'nothing'} recorded; "
          + "; ".join(f"{line['result']['id']} by {line['result']['info']['worker']}: "
                      f"{sum(i['awarded'] for i in line['result']['items'].values()):g}/40 "
                      f"{[k for k, i in line['result']['items'].items() if i['status'] != 'pass']}"
                      for line in lines) + f"; {len(lines)} lines in results.jsonl")
    assert _marks(document) == _marks(local[0])                          # identical to the local run
    assert _found(lines) == _found(_lines(local[2]))                     # and so is what discovery found
    assert _comparable(lines) == _comparable(_lines(local[2]))           # and everything else but timings
    reference = _found(lines)["reference"]
    assert reference["flags"] == ["several code files: graded A4.ipynb, also A4_old.py"]
    assert reference["info"]["pdf_path"].endswith("reference/answers.pdf")
    notes = next(line["result"]["info"]["notes"] for line in lines if line["result"]["id"] == "reference")
    assert notes[0] == "2 candidate files; graded A4.ipynb"
    assert [(f["path"], f["role"]) for f in reference["info"]["files"]] == [
        ("A4.ipynb", "graded"), ("A4_old.py", "ignored"), ("answers.pdf", "pdf")]
    assert (out / "models").is_dir() and len(list((out / "models").glob("*.safetensors"))) >= 2

    again = run_grade("grade", batch, "--out", out, "--json", "--scheduler", address, *LIMITS)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == document and len(_lines(out)) == 3  # resumed, nothing graded again


HIJACK = '''
def _take_over():
    from graders.judge import dispatch as judge
    from graders.results import ItemResult
    judge.a4_hijacked = True
    judge.judge = lambda item, outcome, context, time_limit: ItemResult(
        item.marks, "pass", item.marks) if "hijack" in str(getattr(outcome, "record", "")) else ItemResult(
        item.marks, "fail", 0.0)
    return True

hijacked = __import__("distributed").Client("ADDRESS", timeout=3).run(_take_over)
'''


@pytest.mark.slow
@pytest.mark.proof
@pytest.mark.skipif(not sandbox.bwrap_available(), reason="bubblewrap cannot start here")
def test_a_submission_cannot_reach_the_scheduler_to_patch_the_workers(dask_cluster, tmp_path):
    """The red team's ``client.run`` from a top-level assignment (template 40/40, control 0/40 with
    ``--sandbox none``): under bubblewrap the submission has no network, the statement fails, the
    workers' grader is untouched, the hijacker keeps the template's 0/40 and the control 40/40."""
    from distributed import Client
    address, _ = dask_cluster
    folder = tmp_path / "batch"
    folder.mkdir()
    shutil.copy(ROOT / "submissions" / "reference" / "A4.ipynb", folder / "control.ipynb")
    notebook = json.loads((ROOT / "submissions" / "template" / "A4.ipynb").read_text())
    notebook["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                              "source": HIJACK.replace("ADDRESS", address)})
    (folder / "hijack.ipynb").write_text(json.dumps(notebook))
    done = run_grade("grade", folder, "--out", tmp_path / "out", "--json", "--scheduler", address, *LIMITS)
    assert done.returncode == 0, done.stderr
    marks = {s["id"]: s["auto_awarded"] for s in json.loads(done.stdout)["submissions"]}
    assert marks == {"control": 40.0, "hijack": 0.0}
    with Client(address, timeout=30) as client:
        touched = client.run(lambda: getattr(__import__("graders.judge.dispatch").judge.dispatch, "a4_hijacked", False))
    assert touched and not any(touched.values())
    note = next(line for line in _lines(tmp_path / "out") if line["result"]["id"] == "hijack")["result"]["info"]
    assert any("hijacked" in text for text in note["notes"]), note["notes"]
