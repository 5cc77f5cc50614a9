"""The worker: load one submission once, then run each of its items in a forked child under limits.

Usage: ``python -m worker JOB_DIR`` (see ``worker.protocol`` for the job folder). Three kinds
of process, from the top:

1. the worker (this module's ``main``): reads the job and the inputs (files only the grader's
   user may read), imports the course's standard stack once, starts the loss server
   (``worker.lossserver``: the only process that holds the grader's loss functions), forks the
   loader, watches the load's total CPU and wall-clock time from outside, and writes what the
   loader sends into ``out/``. It runs no student code and never holds the grader's loss code.
2. the loader: becomes the submission's own user, takes its limits, loads the notebook by the
   loading rule (``worker.loader``) and sends a ``LoadReport``; then, item by item, forks
3. an item's child, which runs the item's probe (``worker.probes``) on the loaded namespace and
   replies with one frame (``worker.channel``). The loader waits up to the item's time limit,
   keeps the first ``OUTPUT_CAP`` bytes the child printed, kills every process the item left,
   and sends the record and the frame up. Items run in CPU time (``ItemSpec.time_limit``), with
   ``WALL_BACKSTOP`` times that of wall-clock time; the training items run last, and only they
   reach the loss server.

Both the worker and the loader are subreapers and clean up every process below them.
"""
from __future__ import annotations

import fcntl
import json
import os
import random
import select
import signal
import struct
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import torch

from reference import scaffold
from worker import channel, confine, loader, lossclient, probes
from worker.protocol import WALL_BACKSTOP, ItemRecord, Job, ProbeReply
from worker.supervise import (JOB_MARGIN, JobBudget, LoadWatch, LossServer, _write, is_training, merged_report,
                              parse_failure, plan_load)

if TYPE_CHECKING:
    from collections.abc import Callable

    from worker.protocol import ItemSpec, LoadReport, Skip

OUTPUT_CAP = 64 * 1024
FRAME_CAP = 64 * 2**20
MESSAGE = struct.Struct("<4sII")   # tag, JSON length, frame length
MESSAGE_TAG = b"A4M1"
F_SETPIPE_SZ = 1031
EVAL_ROWS = 1000                   # rows of the evaluation split get_mnist_data("test") returns
ACK_SECONDS = 10.0                 # how long a loader waits for the worker to open the loss server
STANDARD_STACK = ("numpy", "torch", "matplotlib.pyplot")   # imported once, before any budget runs


# --- the namespace student code sees ---------------------------------------------------------------

def data_source(X: torch.Tensor, Y: torch.Tensor) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """The grader's ``get_mnist_data``: the training images for ``"train"``; for any other split a
    small evaluation set taken from them (the grader's held-out images never enter the sandbox)."""
    def get_mnist_data(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        if split == "train":
            return X.clone(), Y.clone()
        return X[:EVAL_ROWS].clone(), Y[:EVAL_ROWS].clone()
    return get_mnist_data


def fresh_namespace(inputs: dict[str, torch.Tensor]) -> dict[str, Any]:
    ns = {"__name__": "__main__", "__builtins__": __builtins__}
    for name in ("MNISTArgs", "Encoder", "VAE", "CVAE", "append_class_to_data"):
        ns[name] = getattr(scaffold, name)
    X = next((v for k, v in inputs.items() if k.endswith(":X")), torch.zeros(0, 784))
    Y = next((v for k, v in inputs.items() if k.endswith(":Y")), torch.zeros(0, dtype=torch.int64))
    ns["get_mnist_data"] = data_source(X, Y)
    return ns


def import_standard_stack() -> None:
    """Import the course's standard stack in the worker, before the notebook is loaded: a notebook's
    ``import matplotlib.pyplot as plt`` then costs no statement budget, on an idle or a busy machine."""
    import importlib
    for name in STANDARD_STACK:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional package: the notebook's import will say so
            pass


def warm_torch() -> None:
    """One Adam step on a throwaway parameter (no random draw): torch imports about 900 modules
    (``torch._dynamo`` and what it needs) at the first step of any optimizer, 2 s of CPU. Done here once,
    before any fork, the loader, every item's child and every probe run share them; before, each of
    those processes imported them again (7 times, 14 s, per graded submission)."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([parameter])
    parameter.sum().backward()
    optimizer.step()


# --- messages from the loader to the worker ------------------------------------------------------

def send(fd: int, meta: dict[str, Any], frame: bytes = b"") -> None:
    text = json.dumps(meta).encode()
    data = MESSAGE.pack(MESSAGE_TAG, len(text), len(frame)) + text + frame
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Inbox:
    """Parses the loader's messages from a byte stream; anything malformed ends the stream."""

    def __init__(self) -> None:
        self.buffer, self.broken = bytearray(), False

    def feed(self, data: bytes) -> list[tuple[Any, bytes]]:
        self.buffer += data
        messages = []
        while not self.broken and len(self.buffer) >= MESSAGE.size:
            tag, text_len, frame_len = MESSAGE.unpack_from(self.buffer)
            if tag != MESSAGE_TAG or text_len > 4 * 2**20 or frame_len > FRAME_CAP:
                self.broken = True
                break
            end = MESSAGE.size + text_len + frame_len
            if len(self.buffer) < end:
                break
            try:
                meta = json.loads(bytes(self.buffer[MESSAGE.size:MESSAGE.size + text_len]))
            except ValueError:
                self.broken = True
                break
            messages.append((meta, bytes(self.buffer[MESSAGE.size + text_len:end])))
            del self.buffer[:end]
        return messages


# --- the item's child ---------------------------------------------------------------------------

def _child(job: Job, item: ItemSpec, ns: dict[str, Any], inputs: dict[str, torch.Tensor], loss_socket: str | None,
           report: LoadReport, result_fd: int, output_fd: int) -> NoReturn:
    """Runs in the forked child; never returns."""
    child_pid = os.getpid()
    try:
        os.setsid()
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        os.closerange(3, result_fd)
        os.closerange(result_fd + 1, 1024)
        scratch = Path(job.scratch) / item.id
        scratch.mkdir(parents=True, exist_ok=True)
        os.chdir(scratch)
        os.environ.update(HOME=str(scratch), TMPDIR=str(scratch))
        tempfile.tempdir = str(scratch)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        confine.set_cpu_limit(item.time_limit)
        torch.manual_seed(job.seed)
        np.random.seed(job.seed)
        random.seed(job.seed)
        reply = ProbeReply()
        try:
            if item.function not in ns:
                skip = report.skip_for(item.function)
                reply.error = f"{item.function} is not defined in the submission" + (
                    f" ({skip.describe()})" if skip else "")
                reply.not_defined = True
                tensors: dict[str, torch.Tensor] = {}
            else:
                losses = lossclient.stubs(loss_socket) if loss_socket and is_training(item) else None
                tensors, reply.probe = probes.run_probe(item.id, ns, channel.item_inputs(inputs, item.id),
                                                        item.params, losses)
        except BaseException as error:  # noqa: BLE001 - SystemExit and friends from student code too
            explained = loader.explain_name_error(error, report) if isinstance(error, NameError) else ""
            reply.error = (f"{type(error).__name__}: {error}"[:1000] + (f" ({explained})" if explained else ""))
            reply.traceback = loader.student_traceback(error)
            reply.exception = type(error).__name__
            tensors = {}
        frame = channel.encode(tensors, reply.to_json())
        sys.stdout.flush()
        sys.stderr.flush()
        if os.getpid() != child_pid:  # a process the student's code forked got here: only the child replies
            os._exit(0)
        with os.fdopen(result_fd, "wb") as pipe:
            pipe.write(frame)
    except BaseException:  # noqa: BLE001
        try:
            os.write(2, traceback.format_exc().encode()[-2000:])
        except OSError:
            pass
    os._exit(0)


def run_item(job: Job, item: ItemSpec, ns: dict[str, Any], inputs: dict[str, torch.Tensor], loss_socket: str | None,
             report: LoadReport) -> tuple[ItemRecord, bytes]:
    """Fork the item's child, wait up to its time limit, clean up; returns ``(ItemRecord, frame)``.

    Reading stops when the child's pipes close, or half a second after the child exited (processes
    it left behind may hold its pipes open), or when the item's processes have used ``time_limit``
    seconds of CPU time (all of them together, measured from ``/proc``), or after ``WALL_BACKSTOP``
    times that of wall-clock time."""
    result_read, result_write = os.pipe()
    output_read, output_write = os.pipe()
    for fd in (result_read, output_read):  # fewer wake-ups for a large reply or a flood of output
        try:
            fcntl.fcntl(fd, F_SETPIPE_SZ, 1 << 20)
        except OSError:
            pass
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(result_read)
        os.close(output_read)
        _child(job, item, ns, inputs, loss_socket, report, result_write, output_write)
    os.close(result_write)
    os.close(output_write)
    frame, output, output_bytes = bytearray(), bytearray(), 0
    open_fds = {result_read, output_read}
    record = ItemRecord(item.id)
    cpu_base = confine.tree_cpu_seconds(os.getpid(), include_self=False)
    deadline, status, next_check = started + item.time_limit * WALL_BACKSTOP, None, started + 0.5
    while open_fds:
        now = time.monotonic()
        if status is None:
            finished, code = os.waitpid(pid, os.WNOHANG)
            if finished:
                status, deadline = code, min(deadline, now + 0.5)
        if now >= deadline:
            record.timed_out = status is None
            break
        if now >= next_check:
            next_check = now + 0.5
            record.cpu_seconds = round(confine.tree_cpu_seconds(os.getpid(), include_self=False) - cpu_base, 3)
            if record.cpu_seconds > item.time_limit and status is None:
                record.timed_out = True
                break
            if confine.folder_bytes(job.scratch) > job.limits.disk_mb * 2**20:
                record.disk_exceeded = True
                break
        wait = min(deadline - now, 0.5 if status is None else 0.05)
        ready, _, _ = select.select(list(open_fds), [], [], wait)
        for fd in ready:
            chunk = os.read(fd, 1 << 20)
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
    if status is None:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        _, status = os.waitpid(pid, 0)
    record.cpu_seconds = round(max(record.cpu_seconds,
                                   confine.tree_cpu_seconds(os.getpid(), include_self=False) - cpu_base), 3)
    confine.kill_descendants()  # whatever the item started, in its session or out of it
    confine.remove_tree(Path(job.scratch) / item.id)  # its files count against no later item's quota
    record.seconds = round(time.monotonic() - started, 3)
    record.exit_code = os.waitstatus_to_exitcode(status)
    record.output = output.decode("utf-8", "replace")
    record.output_bytes = output_bytes
    record.frame_too_large = len(frame) > FRAME_CAP
    return record, bytes(frame[:FRAME_CAP])


# --- the loader -----------------------------------------------------------------------------------

def _loader(job: Job, inputs: dict[str, torch.Tensor], loss_socket: str | None, control_fd: int, ack_fd: int) -> NoReturn:
    """Runs in the forked loader; never returns. Before each training item it waits (up to
    ``ACK_SECONDS``) for the worker's byte on ``ack_fd``: the loss server is open."""
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        for fd in range(3, 1024):
            if fd not in (control_fd, ack_fd):
                try:
                    os.close(fd)
                except OSError:
                    pass
        scratch = Path(job.scratch)
        scratch.mkdir(parents=True, exist_ok=True)
        if job.limits.run_as is not None and os.geteuid() == 0:
            confine.drop_privileges(job.limits.run_as, [scratch])
        confine.die_with_parent()
        confine.become_subreaper()
        os.chdir(scratch)
        os.environ.update(HOME=str(scratch), TMPDIR=str(scratch))
        tempfile.tempdir = str(scratch)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        longest = max([item.time_limit for item in job.items] + [job.limits.load_seconds])
        confine.apply_limits(job.limits, job.limits.load_seconds, longest + job.limits.load_seconds)
        torch.manual_seed(job.seed)
        np.random.seed(job.seed)
        random.seed(job.seed)
        ns = fresh_namespace(inputs)
        report = loader.load(job.cells, ns, job.limits.statement_seconds, on_failure=lambda skip: send(
            control_fd, {"type": "failed", "skip": json.loads(json.dumps(skip.__dict__))}))
        scaffold_names = fresh_namespace(inputs)
        for name in loader.SCAFFOLD_NAMES:  # the grader's scaffold, whatever the notebook did to it
            ns[name] = scaffold_names[name]
        send(control_fd, {"type": "load", "report": json.loads(report.to_json())})
        for item in job.items:
            if loss_socket and is_training(item):
                select.select([ack_fd], [], [], ACK_SECONDS)
                os.read(ack_fd, 1) if select.select([ack_fd], [], [], 0)[0] else None
            send(control_fd, {"type": "start", "id": item.id})
            record, frame = run_item(job, item, ns, inputs, loss_socket, report)
            send(control_fd, {"type": "item", "record": json.loads(record.to_json())}, frame)
    except BaseException:  # noqa: BLE001 - whatever happened, the worker sees the stream end
        pass
    confine.kill_descendants()
    os._exit(0)


# --- the worker -----------------------------------------------------------------------------------

def _start_loader(job: Job, inputs: dict[str, torch.Tensor], loss_socket: str | None) -> tuple[int, int, int]:
    """Fork a loader for ``job``; returns ``(pid, the read end of its message pipe, the write end of its
    acknowledgement pipe)``."""
    control_read, control_write = os.pipe()
    ack_read, ack_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(control_read)
        os.close(ack_write)
        _loader(job, inputs, loss_socket, control_write, ack_read)
    os.close(control_write)
    os.close(ack_read)
    return pid, control_read, ack_write


def _serve(job: Job, out: Path, pid: int, control_read: int, budget: JobBudget, first_load: bool,
           on_item: Callable[[str], None], spare: frozenset[int], plan: LoadReport | None) -> tuple[set[str], str | None]:
    """Write what one loader sends into ``out`` until it ends; returns ``(item ids done, item started
    but not done or None)``. ``on_item(item id)`` runs after each item written; the processes in
    ``spare`` (the loss server) outlive the loader."""
    done: set[str]
    failures: list[Skip]
    inbox, done, started, failures = Inbox(), set(), None, []
    wanted = {item.id for item in job.items}
    watch: LoadWatch | None = LoadWatch(pid, job.limits.load_seconds)  # a fresh loader after a lost item loads again: bounded too
    while budget.left() > 0:
        if watch is not None:
            problem = watch.problem()
            if problem:
                if first_load:
                    _write(out / "worker.json", json.dumps({"load_stopped": problem, **watch.facts()}).encode())
                break
        ready, _, _ = select.select([control_read], [], [], min(0.5, budget.left()))
        if not ready:
            continue
        chunk = os.read(control_read, 1 << 20)
        if not chunk:
            break
        for meta, frame in inbox.feed(chunk):
            if meta.get("type") == "failed" and watch is not None and len(failures) < loader.MAX_SKIPS:
                failures += [skip for skip in [parse_failure(meta)] if skip is not None]
            elif meta.get("type") == "load" and watch is not None:
                if first_load:
                    watch.problem(force=True)
                    report = merged_report(job, plan, failures, meta.get("report", {}))
                    _write(out / "load.json", report.to_json().encode())
                    _write(out / "worker.json", json.dumps(watch.facts()).encode())
                watch = None
            elif meta.get("type") == "start" and meta.get("id") in wanted:
                started = meta["id"]
            elif meta.get("type") == "item" and meta.get("record", {}).get("id") in wanted - done:
                item_id = meta["record"]["id"]
                done.add(item_id)
                _write(out / f"{item_id}.frame", frame)
                _write(out / f"{item_id}.json", json.dumps(meta["record"]).encode())
                on_item(item_id)
        if inbox.broken:
            break
    os.close(control_read)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    confine.kill_descendants(spare=spare)
    return done, (started if started not in done else None)


def main(job_dir: str | Path) -> None:
    """Run the job in ``job_dir``. A loader that dies (an item's code may kill it: they share a uid)
    costs only the item it was running: the rest run in a fresh loader. Items run in the job's order,
    the training items last (only they reach the loss server)."""
    job_dir = Path(job_dir)
    job = Job.from_json((job_dir / "job.json").read_text())
    job = replace(job, items=sorted(job.items, key=is_training))
    torch.set_num_threads(1)
    import_standard_stack()
    warm_torch()
    inputs = channel.load_inputs(job_dir / "inputs.safetensors")
    out = job_dir / "out"
    out.mkdir(exist_ok=True)
    out.chmod(0o700)
    confine.become_subreaper()
    server = LossServer(job_dir, inputs, job.limits.run_as) if (job_dir / "losses.bin").exists() else None
    spare = frozenset([server.pid] if server is not None else [])
    plan = plan_load(job)
    seconds = job.limits.load_seconds + sum(i.time_limit for i in job.items)
    budget = JobBudget(seconds + JOB_MARGIN, seconds * WALL_BACKSTOP + JOB_MARGIN)
    remaining, first, finished = list(job.items), True, set()

    def on_item(item_id: str) -> None:
        finished.add(item_id)
        if server is not None:
            server.after(job, finished, out, item_id)

    try:
        while remaining and budget.left() > 0:
            part = replace(job, items=remaining)
            if server is not None and first:
                server.after(job, finished, out, None)  # open at once when the job has only training items
            pid, control_read, ack_write = _start_loader(part, inputs, server.socket_path if server else None)
            if server is not None:
                server.ack_fd = ack_write
                if server.is_open:
                    server.acknowledge()
            done, lost = _serve(part, out, pid, control_read, budget, first, on_item, spare, plan)
            os.close(ack_write)
            first = False
            if lost is not None:
                _write(out / f"{lost}.json", ItemRecord(lost, ended_loader=True).to_json().encode())
                on_item(lost)
            if not done and lost is None:
                break  # no item ran (loading failed, or ran past its budget): a new loader would do the same
            remaining = [item for item in remaining if item.id not in done and item.id != lost]
    finally:
        if budget.stopped:
            _write(out / "budget.json", json.dumps({"job_stopped": budget.stopped}).encode())
        if server is not None:
            server.stop()
        confine.kill_descendants()
        confine.kill_uid(job.limits.run_as)
        confine.reap()


if __name__ == "__main__":
    main(sys.argv[1])
