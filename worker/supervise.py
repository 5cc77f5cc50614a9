"""The worker's own measurements and helpers around the loader: the loss server's handle, the notebook's
plan read where no student code runs, the load's report as the grader reads it, and the load's total
enforced from outside the loader (``worker.__main__`` drives them).

Nothing here runs student code; what it reads from the loader is untrusted and checked.
"""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from worker import confine, loader, lossserver
from worker.items import PROBE_BY_ID
from worker.protocol import LOAD_WALL_BACKSTOP, LoadReport, Skip

if TYPE_CHECKING:
    from pathlib import Path

    import torch

    from worker.protocol import ItemSpec, Job

LOSS_SOCKET = "losses.sock"        # the loss server's socket, in the job folder
JOB_MARGIN = 30.0                  # seconds beyond the load's and the items' budgets, for the whole job

def is_training(item: ItemSpec | _Named) -> bool:
    return PROBE_BY_ID[item.id].kind == "train" if item.id in PROBE_BY_ID else bool(item.params)


def _write(path: str | os.PathLike[str], data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)


class LossServer:
    """The worker's handle on the loss server (``worker.lossserver``), a child of the worker started
    before any loader: it reads ``losses.bin`` itself, so the grader's loss code is never on the heap of
    the worker (which every loader is forked from)."""

    ack_fd: int | None

    def __init__(self, job_dir: Path, inputs: dict[str, torch.Tensor], allowed_uid: int | None) -> None:
        self.socket_path = str(job_dir / LOSS_SOCKET)
        ours, theirs = socket.socketpair()
        self.pid = os.fork()
        if self.pid == 0:
            ours.close()
            lossserver.serve(str(job_dir), self.socket_path, theirs.detach(), inputs, allowed_uid)
        theirs.close()
        self.sock = ours
        self.ready = self.sock.recv(1) == b"+"
        self.is_open, self.ack_fd = False, None

    def command(self, byte: bytes) -> None:
        self.sock.sendall(byte)

    def report(self) -> dict[str, Any]:
        """The counts of the training item that just ended (``lossserver.ServerCounts`` as a dict)."""
        self.command(lossserver.REPORT)
        size = struct.unpack("<I", self._exactly(4))[0]
        return json.loads(self._exactly(size))

    def _exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("the loss server ended")
            data += chunk
        return data

    def after(self, job: Job, finished: set[str], out: Path, item_id: str | None) -> None:
        """Once every other item is finished: open for the training items (counts reset for each),
        record each training item's counts, close after the last."""
        if item_id is not None and is_training(_Named(item_id)) and self.is_open:
            _write(out / f"{item_id}.server.json", json.dumps(self.report()).encode())
        others = [i for i in job.items if not is_training(i) and i.id not in finished]
        training = [i for i in job.items if is_training(i) and i.id not in finished]
        wanted = not others and bool(training)
        if wanted:
            self.command(lossserver.OPEN)
            self.acknowledge()
        elif self.is_open:
            self.command(lossserver.CLOSE)
        self.is_open = wanted

    def acknowledge(self) -> None:
        """Tell the running loader that the server is open (it waits for this before a training item)."""
        if self.ack_fd is not None:
            try:
                os.write(self.ack_fd, b"+")
            except OSError:
                pass

    def stop(self) -> None:
        try:
            self.command(lossserver.QUIT)
        except OSError:
            pass
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)


class _Named:
    params: dict[str, Any]

    def __init__(self, item_id: str) -> None:
        self.id, self.params = item_id, {}


def plan_load(job: Job) -> LoadReport | None:
    """What the loading rule skips and which imports the notebook makes, read in a process of its own
    in which no student code runs (``loader.load(dry_run=True)``), under the load's budgets; None if
    that process did not answer."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            confine.set_cpu_limit(job.limits.load_seconds)
            data: bytes | bytearray = loader.load(job.cells, {}, job.limits.statement_seconds, dry_run=True).to_json().encode()
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(data)
        finally:
            os._exit(0)
    os.close(write_fd)
    data, deadline = bytearray(), time.monotonic() + job.limits.load_seconds * LOAD_WALL_BACKSTOP
    while time.monotonic() < deadline:
        ready, _, _ = select.select([read_fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(read_fd, 1 << 20) if ready else b""
        if not chunk:
            break
        data += chunk
    os.close(read_fd)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
    try:
        return LoadReport.from_json(bytes(data))
    except (ValueError, TypeError, KeyError):
        return None


def merged_report(job: Job, plan: LoadReport | None, failures: list[Skip], claimed: dict[str, Any]) -> LoadReport:
    """The load report the grader reads: what was skipped and imported from the worker's own ``plan``,
    the statements that failed as the loader reported each while loading (``failures``, recorded before
    any later statement ran), the count and time the loader ``claimed`` at the end (a JSON dict)."""
    try:
        claimed_report = LoadReport.from_json(json.dumps(claimed))
    except (ValueError, TypeError, KeyError, AttributeError):
        claimed_report = LoadReport()
    if plan is None:
        return claimed_report
    order = {label: position for position, (label, _) in enumerate(job.cells)}
    skips = sorted([*plan.skips, *failures], key=lambda skip: (order.get(skip.cell, len(order)), skip.line))
    return LoadReport(skips[:loader.MAX_SKIPS], plan.imports, min(claimed_report.statements, plan.statements),
                      claimed_report.seconds)


def parse_failure(meta: dict[str, Any]) -> Skip | None:
    """A streamed ``Skip`` of kind failed from the loader's message, or None if malformed."""
    try:
        skip = Skip(**meta.get("skip", {}))
    except TypeError:
        return None
    ok = isinstance(skip.cell, str) and isinstance(skip.line, int) and isinstance(skip.reason, str)
    return replace(skip, kind="failed") if ok else None


class LoadWatch:
    """The load's total, enforced from outside the loader: until the loader reports its load, all its
    processes together may use ``load_seconds`` of CPU time and ``LOAD_WALL_BACKSTOP`` times that of
    wall-clock time. Student code in the loader can disarm its own statement timers, not this."""

    def __init__(self, pid: int, load_seconds: float) -> None:
        self.pid, self.budget, self.started = pid, load_seconds, time.monotonic()
        self.cpu, self.next_check = 0.0, self.started + 0.5

    def problem(self, force: bool = False) -> str:
        """Why the load must stop now, or ``""`` (measured at most twice a second, or now with ``force``)."""
        now = time.monotonic()
        if now < self.next_check and not force:
            return ""
        self.next_check = now + 0.5
        self.cpu = confine.tree_cpu_seconds(self.pid)
        if self.cpu > self.budget:
            return f"loading the notebook used more than its {self.budget:g} s of CPU time in all"
        if now - self.started > self.budget * LOAD_WALL_BACKSTOP:
            return (f"loading the notebook ran past {self.budget * LOAD_WALL_BACKSTOP:g} s of wall-clock time "
                    f"({self.cpu:.1f} s of CPU time)")
        return ""

    def facts(self) -> dict[str, float]:
        return {"load_cpu_seconds": round(self.cpu, 3), "load_wall_seconds": round(time.monotonic() - self.started, 3)}


class JobBudget:
    """The whole job's limits, the worker's own (the loader, which runs student code, measures each item;
    this holds if it lies): all the worker's processes together may use ``cpu_seconds`` of CPU time, and
    the job ``wall_seconds`` of wall-clock time."""

    def __init__(self, cpu_seconds: float, wall_seconds: float) -> None:
        self.cpu_seconds, self.deadline = cpu_seconds, time.monotonic() + wall_seconds
        self.next_check, self.stopped = 0.0, ""

    def left(self) -> float:
        """Wall-clock seconds left, or 0 once either limit is passed (then ``stopped`` says which)."""
        now = time.monotonic()
        if not self.stopped and now >= self.next_check:
            self.next_check = now + 0.5
            used = confine.tree_cpu_seconds(os.getpid(), include_self=False)
            if used > self.cpu_seconds:
                self.stopped = f"the submission's processes used more than {self.cpu_seconds:g} s of CPU time in all"
        if not self.stopped and now >= self.deadline:
            self.stopped = "the submission ran past its wall-clock limit"
        return 0.0 if self.stopped else self.deadline - now
