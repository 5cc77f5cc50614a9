#!/usr/bin/env python3
"""Grading speed and scale, measured side by side in one run (issue 12's table).

Every figure is a fresh process timed here, pinned with ``taskset`` to core 0 (one core) or to
cores 0-1 (two), grading distinct copies of the reference notebook into fresh output folders so
nothing is resumed:

  floor: python -c "import torch"              one Python start with torch
  floor: reference training (VAE + CVAE)       what the grading budget costs on one core
  grade 1 / grade N, one core, --workers 1      marginal cost per submission = (tN - t1) / (N - 1)
  grade N, two cores, --workers 2               speed-up = tN(one core) / tN(two cores)
  grade N on Dask: 2 workers on this machine    throughput beside the local --workers 2 run
  peak memory                                   grader + its workers (PSS summed over the tree)

  python bench/bench_grading.py [--n 6] [--no-dask] [--repeat 1]
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LIMITS = ["--time-limit", "30", "--train-time-limit", "120"]


def pinned(cores, command):
    return (["taskset", "-c", cores] if shutil.which("taskset") else []) + command


class PeakMemory:
    """Samples the memory of a process and its descendants every second: PSS summed (shared pages
    counted once; RSS where PSS cannot be read); ``peak`` in MiB."""

    def __init__(self, pid):
        import psutil
        self.process, self.peak, self._stop = psutil.Process(pid), 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self):
        import psutil
        while not self._stop.is_set():
            try:
                tree = [self.process] + self.process.children(recursive=True)
                total = 0
                for proc in tree:
                    try:
                        total += proc.memory_full_info().pss   # shared pages counted once
                    except (psutil.Error, AttributeError):
                        try:
                            total += proc.memory_info().rss
                        except psutil.Error:
                            pass
                self.peak = max(self.peak, total / 2**20)
            except psutil.Error:
                return
            self._stop.wait(1.0)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak


def timed(command, env=None, memory=False):
    """``(seconds, peak MiB or None, stdout)`` of ``command``; raises if it fails."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})})
    sampler = PeakMemory(process.pid) if memory else None
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    peak = sampler.stop() if sampler else None
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}): {stderr.strip()[-500:]}")
    return seconds, peak, stdout


def copies(folder, count, tag):
    """``count`` distinct copies of the reference notebook (metadata differs) in ``folder``."""
    notebook = json.loads((ROOT / "submissions" / "reference" / "A4.ipynb").read_text())
    folder.mkdir(parents=True)
    for n in range(count):
        notebook.setdefault("metadata", {})["bench_copy"] = f"{tag}-{n}"
        (folder / f"{tag}{n:03d}.ipynb").write_text(json.dumps(notebook))
    return folder


def grade(cores, folder, out, workers=1, extra=(), memory=False):
    command = pinned(cores, [PYTHON, str(ROOT / "grade.py"), "grade", str(folder), "--out", str(out), "--json",
                             "--fresh", "--workers", str(workers), *LIMITS, *extra])
    seconds, peak, stdout = timed(command, memory=memory)
    marks = [s["auto_awarded"] for s in json.loads(stdout)["submissions"]]
    return seconds, peak, marks


def stage_timings(out):
    """Median of each ``info["timings"]`` entry over the results in ``out/results.jsonl`` (seconds)."""
    found = {}
    for line in (out / "results.jsonl").read_text().splitlines():
        for name, seconds in json.loads(line)["result"]["info"].get("timings", {}).items():
            if isinstance(seconds, (int, float)):
                found.setdefault(name, []).append(seconds)
    return {name: statistics.median(values) for name, values in found.items()}


def reference_training_seconds():
    code = ("import sys; sys.path.insert(0, %r)\n"
            "import torch; torch.set_num_threads(1)\n"
            "from graders import pipeline\n"
            "run = pipeline.Run.prepare(pipeline.Settings())\n"
            "print(sum(run.context.baselines.get(c).seconds for c in (False, True)))\n"
            "run.close()\n") % str(ROOT)
    return float(timed(pinned("0", [PYTHON, "-c", code]))[2].split()[-1])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalDask:
    """``dask scheduler`` and two single-threaded ``dask worker`` processes, one pinned per core."""

    def __init__(self, logs):
        dask = str(Path(PYTHON).parent / "dask")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        self.processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                            "--no-dashboard"], stdout=open(logs / "scheduler.log", "wb"),
                                           stderr=subprocess.STDOUT, env=env, cwd=ROOT)]
        for core in ("0", "1"):
            self.processes.append(subprocess.Popen(
                pinned(core, [dask, "worker", self.address, "--nworkers", "1", "--nthreads", "1", "--no-nanny",
                              "--no-dashboard", "--local-directory", str(logs / f"w{core}")]),
                stdout=open(logs / f"worker{core}.log", "wb"), stderr=subprocess.STDOUT, env=env, cwd=ROOT))
        from distributed import Client
        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        self.samplers = [PeakMemory(p.pid) for p in self.processes[1:]]

    def close(self):
        peaks = [s.stop() for s in self.samplers]
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        return max(peaks)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--n", type=int, default=6, help="submissions in the batch runs (default 6)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the floors (median reported)")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask measurement")
    args = parser.parse_args()
    n = max(2, args.n)
    rows = []

    def row(what, seconds, note=""):
        rows.append((what, seconds, note))
        print(f"{what:<52} {seconds:8.1f} s  {note}", flush=True)

    with tempfile.TemporaryDirectory(prefix="a4-bench-") as scratch:
        scratch = Path(scratch)
        torch_floor = statistics.median(timed(pinned("0", [PYTHON, "-c", "import torch"]))[0]
                                        for _ in range(args.repeat))
        row('python -c "import torch" (one core)', torch_floor)
        training = statistics.median(reference_training_seconds() for _ in range(args.repeat))
        row("reference training under the budget, VAE + CVAE", training)
        floor = torch_floor + training
        row("floor per submission (import + training)", floor)

        one, peak_one, marks = grade("0", copies(scratch / "one", 1, "one"), scratch / "out1", memory=True)
        row("grade 1 submission, one core", one, f"(start-up and reference baselines included; marks {marks})")
        batch, _, marks = grade("0", copies(scratch / "many", n, "ref"), scratch / "outn")
        marginal = (batch - one) / (n - 1)
        row(f"grade {n} submissions, one core, --workers 1", batch, f"marks {sorted(set(marks))}")
        row("  marginal cost per submission, one core", marginal,
            f"= {marginal / torch_floor:.1f}x import torch, {marginal / floor:.2f}x the floor")
        for name, seconds in stage_timings(scratch / "outn").items():
            row(f"    median {name} (results' timings)", seconds)
        two, peak_two, marks = grade("0,1", copies(scratch / "many2", n, "two"), scratch / "outn2", workers=2,
                                     memory=True)
        row(f"the same {n} on two cores, --workers 2", two, f"speed-up {batch / two:.2f}x "
                                                            f"({batch / two / 2:.2f}·N)")
        dask = None
        if not args.no_dask:
            logs = scratch / "dask"
            logs.mkdir()
            cluster = LocalDask(logs)
            try:
                dask, _, marks = grade("0,1", copies(scratch / "dask1", n, "dask"), scratch / "outd",
                                       extra=["--scheduler", cluster.address])
                row(f"the same {n} on Dask, 2 workers here (cold)", dask,
                    f"{n / dask * 60:.1f}/min vs local --workers 2 {n / two * 60:.1f}/min")
                warm, _, _ = grade("0,1", copies(scratch / "dask2", n, "warm"), scratch / "outd2",
                                   extra=["--scheduler", cluster.address])
                row(f"another {n} on the same Dask workers (warm)", warm, f"{n / warm * 60:.1f}/min")
            finally:
                worker_peak = cluster.close()
            print(f"peak memory of one Dask worker (PSS, process tree): {worker_peak:.0f} MiB")
        print(f"peak memory (PSS, process tree), grading 1: {peak_one:.0f} MiB; "
              f"{n} with --workers 2: {peak_two:.0f} MiB")
    return rows


if __name__ == "__main__":
    main()
