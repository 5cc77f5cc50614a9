"""The worker: runs one submission's items, each in a fresh forked child under limits.

Usage: ``python -m worker JOB_DIR``. ``JOB_DIR/job.json`` names the
items, limits and the chosen definitions; ``JOB_DIR/inputs.safetensors`` holds
the inputs. For every item the worker forks a child that loads the definitions,
installs the grader's scaffold, runs the probe and sends back one frame (see
``worker.channel``) over a pipe; its stdout and stderr go to a second pipe of
which only the first ``OUTPUT_CAP`` bytes are kept. The worker writes
``out/<item>.json`` (how the child ended) and ``out/<item>.frame``. It never
runs student code itself.
"""
import json
import os
import random
import resource
import select
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot  # noqa: E402,F401 - imported once here so each child's import of it is free
import numpy as np  # noqa: E402
import torch  # noqa: E402

from worker import channel, loader, probes  # noqa: E402
from reference import scaffold  # noqa: E402

OUTPUT_CAP = 64 * 1024
FRAME_CAP = 64 * 2**20


def _limit(kind, value):
    soft, hard = resource.getrlimit(kind)
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(kind, (value, value if hard == resource.RLIM_INFINITY else hard))


def _virtual_memory_bytes():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def drop_privileges(uid, scratch):
    """Become ``uid`` (with no groups) so that RLIMIT_NPROC applies; ``scratch`` stays writable."""
    os.chown(scratch, uid, uid)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def apply_limits(limits):
    """Resource limits for a child: CPU seconds, address space, files written, open files, processes.

    The kernel ignores RLIMIT_NPROC for root: a child still running as root (no sandbox) is bounded
    only by its time limit and the kill of its process group."""
    _limit(resource.RLIMIT_CPU, int(limits["cpu_seconds"]) + 1)
    _limit(resource.RLIMIT_AS, _virtual_memory_bytes() + limits["memory_mb"] * 2**20)
    _limit(resource.RLIMIT_FSIZE, limits["file_mb"] * 2**20)
    _limit(resource.RLIMIT_NOFILE, 256)
    _limit(resource.RLIMIT_CORE, 0)
    if os.geteuid() != 0:
        _limit(resource.RLIMIT_NPROC, limits["processes"])


def _namespace(job):
    ns = {"__name__": "submission", "__builtins__": __builtins__}
    failures = loader.load(job["chunks"], ns)
    for name in ("MNISTArgs", "Encoder", "VAE", "CVAE", "append_class_to_data", "get_mnist_data"):
        ns[name] = getattr(scaffold, name)
    return ns, failures


def _child(job, item, inputs, result_fd, output_fd):
    """Runs in the forked child; never returns."""
    try:
        os.setsid()
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        os.closerange(3, result_fd)
        os.closerange(result_fd + 1, 1024)
        scratch = Path(job["scratch"]) / item["id"]
        scratch.mkdir(parents=True, exist_ok=True)
        os.chdir(scratch)
        os.environ.update(HOME=str(scratch), TMPDIR=str(scratch))
        tempfile.tempdir = str(scratch)
        if job["limits"].get("run_as") is not None and os.geteuid() == 0:
            drop_privileges(job["limits"]["run_as"], scratch)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        apply_limits(job["limits"] | {"cpu_seconds": item["time_limit"]})
        torch.manual_seed(job["seed"])
        np.random.seed(job["seed"])
        random.seed(job["seed"])
        meta = {}
        try:
            ns, meta["load_failures"] = _namespace(job)
            function = item["function"]
            if function not in ns:
                meta["error"] = f"{function} is not defined in the submission"
                tensors = {}
            else:
                tensors, meta["probe"] = probes.run_probe(item["id"], ns, channel.item_inputs(inputs, item["id"]),
                                                          item.get("params", {}),
                                                          job.get("loss_source"))
        except BaseException as error:  # noqa: BLE001 - SystemExit and friends from student code too
            meta["error"] = f"{type(error).__name__}: {error}"[:1000]
            meta["traceback"] = loader.student_traceback(error)
            meta["exception"] = type(error).__name__
            tensors = {}
        frame = channel.encode(tensors, meta)
        sys.stdout.flush()
        sys.stderr.flush()
        with os.fdopen(result_fd, "wb") as pipe:
            pipe.write(frame)
    except BaseException:  # noqa: BLE001
        try:
            os.write(2, traceback.format_exc().encode()[-2000:])
        except OSError:
            pass
    os._exit(0)


def run_item(job, item, inputs):
    """Fork, wait up to the item's time limit, and return ``(record, frame bytes)``."""
    result_read, result_write = os.pipe()
    output_read, output_write = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(result_read)
        os.close(output_read)
        _child(job, item, inputs, result_write, output_write)
    os.close(result_write)
    os.close(output_write)
    frame, output, output_bytes = bytearray(), bytearray(), 0
    open_fds = {result_read, output_read}
    deadline = started + item["time_limit"]
    timed_out = False
    while open_fds:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        ready, _, _ = select.select(list(open_fds), [], [], min(remaining, 1.0))
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                open_fds.discard(fd)
                os.close(fd)
            elif fd == result_read:
                frame += chunk[: max(0, FRAME_CAP + 1 - len(frame))]
            else:
                output_bytes += len(chunk)
                output += chunk[: max(0, OUTPUT_CAP - len(output))]
    for fd in open_fds:
        os.close(fd)
    try:
        os.killpg(pid, signal.SIGKILL)  # the child and anything it started in its session
    except (ProcessLookupError, PermissionError):
        pass
    _, status = os.waitpid(pid, 0)
    record = {"id": item["id"], "seconds": round(time.monotonic() - started, 3), "timed_out": timed_out,
              "exit_code": os.waitstatus_to_exitcode(status), "output": output.decode("utf-8", "replace"),
              "output_bytes": output_bytes, "frame_too_large": len(frame) > FRAME_CAP}
    return record, bytes(frame[:FRAME_CAP])


def main(job_dir):
    job_dir = Path(job_dir)
    job = json.loads((job_dir / "job.json").read_text())
    torch.set_num_threads(1)
    inputs = channel.load_inputs(job_dir / "inputs.safetensors")
    out = job_dir / "out"
    out.mkdir(exist_ok=True)
    if job["limits"].get("run_as") is not None and os.geteuid() == 0:
        job_dir.chmod(0o711)  # children (another user) may pass through, not list, read or write
        out.chmod(0o700)
    for item in job["items"]:
        record, frame = run_item(job, item, inputs)
        (out / f"{item['id']}.frame").write_bytes(frame)
        (out / f"{item['id']}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main(sys.argv[1])
