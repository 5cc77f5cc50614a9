"""Grading on a Dask cluster: a scheduler and two workers on 127.0.0.1, started and stopped here.

The batch (the reference and two catalogue mutants) is graded locally and with ``--scheduler``; the
marks must be equal. While the cluster grades, one worker is killed (SIGKILL) with a submission in
hand: nothing may be lost and nothing recorded twice. Short item limits keep it quick.
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

from graders import catalogue, cluster
from tests.conftest import ROOT, run_grade

LIMITS = ("--time-limit", "10", "--train-time-limit", "60")
MUTANTS = {"kl_sum": "kl: sums over the batch", "no_zero_grad": "train: no zero_grad"}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    shutil.copy(ROOT / "submissions" / "reference" / "A4.ipynb", folder / "reference.ipynb")
    for sub_id, name in MUTANTS.items():
        case = next(c for c in catalogue.MUTANTS if c.name == name)
        (folder / f"{sub_id}.py").write_text(catalogue.case_source(case))
    return folder


@pytest.fixture(scope="module")
def local(batch, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    done = run_grade("grade", batch, "--out", out, "--json", "--workers", "2", *LIMITS)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done


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


def test_json_stdout_is_exactly_the_json_and_progress_goes_to_stderr(local):
    document, done = local
    assert done.stdout.count("\n") == 1 and json.loads(done.stdout) == document
    lines = [line for line in done.stderr.splitlines() if line.startswith("graded ")]
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"], done.stderr
    assert "(100%)" in lines[-1] and "/min" in lines[-1] and "took" in lines[-1]


def test_a_worker_without_bubblewrap_or_of_another_version_is_refused():
    expected = cluster.Expected("0.1.0", "abc", "auto")
    worker = {"version": "0.1.0", "code": "abc", "bwrap": False, "python": "3", "host": "h"}
    assert "bubblewrap cannot start there" in cluster.problems(expected, worker)[0]
    assert "--sandbox none" in cluster.problems(expected, worker)[0]
    assert cluster.problems(cluster.Expected("0.1.0", "abc", "none"), worker) == []
    assert cluster.problems(expected, {**worker, "bwrap": True}) == []
    assert "grader version 0.0.9" in cluster.problems(expected, {**worker, "bwrap": True, "version": "0.0.9"})[0]
    assert "different grader code" in cluster.problems(expected, {**worker, "bwrap": True, "code": "xyz"})[0]


def test_workers_are_checked_and_match_this_install(dask_cluster):
    from distributed import Client
    from graders.pipeline import Settings
    expected = cluster.expected_for(Settings())
    with Client(dask_cluster[0], timeout=30) as client:
        described = client.run(cluster.describe_worker)
    assert len(described) == 2
    for worker in described.values():
        assert worker["code"] == cluster.code_digest() and cluster.problems(expected, worker) == []


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
    assert (out / "models").is_dir() and len(list((out / "models").glob("*.safetensors"))) >= 2

    again = run_grade("grade", batch, "--out", out, "--json", "--scheduler", address, *LIMITS)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == document and len(_lines(out)) == 3  # resumed, nothing graded again
