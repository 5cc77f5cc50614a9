"""One control group per sandbox: CPU, memory and process limits for a whole submission, not per process.

Where the grader may write a cgroup hierarchy (as root, on cgroup v2 with the ``cpu``, ``memory`` and
``pids`` controllers available to its own cgroup, or on the v1 hierarchies of those controllers), every
sandbox's processes (the worker, the loss server, the loader, every item's child and anything they
start, with ``setsid()`` or not) run in a group of their own under the grader's cgroup:

- ``cpu``: a quota of ``cpus`` cores and the default weight, so no submission's processes can take
  more than their share of the machine from the others graded beside it;
- ``memory``: ``memory_mb`` for the whole sandbox, swap included where the kernel counts it;
- ``pids``: at most ``processes`` processes and threads.

A process is put in its group before it runs anything (``wrap`` starts the command through a shell that
writes its own pid into the groups and then ``exec``s it), and student code cannot leave the group: the
cgroup files are root's, and the sandbox does not mount ``/sys``. Elsewhere (not root, no writable
hierarchy) ``Cgroup.create`` returns None and the per-process limits of ``worker.confine`` are all that
holds (SECURITY.md says what that means).
"""
from __future__ import annotations

import functools
import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("cpu", "memory", "pids")
PERIOD_US = 100000
_numbers = itertools.count()


@dataclass(frozen=True)
class GroupLimits:
    """The limits of one sandbox's group."""
    memory_mb: int               # the whole sandbox: worker, loss server, loader, children, their files in /tmp
    processes: int               # processes and threads
    cpus: float = 1.0            # CPU quota, in cores


def _own_paths() -> dict[str, str]:
    """``{controller or "": path}`` of this process's cgroups, from ``/proc/self/cgroup``."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in (controllers.split(",") if controllers else [""]):
            paths[controller] = path
    return paths


def _v2_base() -> Path | None:
    """The grader's own cgroup v2 folder when it offers every controller, else None."""
    path = _own_paths().get("")
    for mount in (ROOT, ROOT / "unified"):
        controllers = mount / "cgroup.controllers"
        if path is not None and controllers.exists():
            base = mount / path.lstrip("/")
            try:
                if set(CONTROLLERS) <= set((base / "cgroup.controllers").read_text().split()):
                    return base
            except OSError:
                return None
    return None


def _v1_bases() -> dict[str, Path] | None:
    """``{controller: the grader's own folder in that v1 hierarchy}`` when all three exist, else None."""
    paths, bases = _own_paths(), {}
    for controller in CONTROLLERS:
        mount = ROOT / controller
        if controller not in paths or not (mount / "cgroup.procs").exists():
            return None
        bases[controller] = mount / paths[controller].lstrip("/")
    return bases


@functools.lru_cache(maxsize=None)
def available() -> tuple[str | None, dict[str, Path]]:
    """``("v2", {"": base})``, ``("v1", {controller: base})`` or ``(None, {})``: where this grader can
    create groups (checked once by creating and removing one)."""
    if os.geteuid() != 0 or not ROOT.exists():
        return None, {}
    base = _v2_base()
    if base is not None and _enable_v2(base):
        return "v2", {"": base}
    bases = _v1_bases()
    if bases is not None:
        probe = {c: b / f"a4-probe-{os.getpid()}" for c, b in bases.items()}
        try:
            for folder in probe.values():
                folder.mkdir()
            return "v1", bases
        except OSError:
            return None, {}
        finally:
            for folder in probe.values():
                _remove(folder)
    return None, {}


def _enable_v2(base: Path) -> bool:
    """Enable the controllers for groups below ``base`` (moving this process into a leaf of its own
    first when ``base`` holds processes: cgroup v2 allows controllers only below process-free groups)."""
    wanted = " ".join(f"+{c}" for c in CONTROLLERS)
    try:
        (base / "cgroup.subtree_control").write_text(wanted)
        return True
    except OSError:
        pass
    try:
        leaf = base / f"a4-grader-{os.getpid()}"
        leaf.mkdir(exist_ok=True)
        (leaf / "cgroup.procs").write_text(str(os.getpid()))
        (base / "cgroup.subtree_control").write_text(wanted)
        return True
    except OSError:
        return False


class Cgroup:
    """One sandbox's group (in every hierarchy it needs); ``create`` it, ``wrap`` the command, ``close``."""

    def __init__(self, version: str, folders: dict[str, Path]) -> None:
        self.version, self.folders = version, folders

    @classmethod
    def create(cls, limits: GroupLimits) -> Cgroup | None:
        """A new group with ``limits``, or None where this grader cannot create one."""
        version, bases = available()
        if version is None:
            return None
        name = f"a4-{os.getpid()}-{next(_numbers)}"
        folders = {controller: base / name for controller, base in bases.items()}
        try:
            for folder in folders.values():
                folder.mkdir()
            group = cls(version, folders)
            group._limit(limits)
            return group
        except OSError:
            for folder in folders.values():
                _remove(folder)
            return None

    def _limit(self, limits: GroupLimits) -> None:
        quota, memory = int(PERIOD_US * limits.cpus), str(limits.memory_mb * 2**20)
        if self.version == "v2":
            folder = self.folders[""]
            _write(folder / "cpu.max", f"{quota} {PERIOD_US}")
            _write(folder / "memory.max", memory)
            _write(folder / "memory.swap.max", "0", required=False)
            _write(folder / "pids.max", str(limits.processes))
            return
        _write(self.folders["cpu"] / "cpu.cfs_period_us", str(PERIOD_US))
        _write(self.folders["cpu"] / "cpu.cfs_quota_us", str(quota))
        _write(self.folders["memory"] / "memory.limit_in_bytes", memory)
        _write(self.folders["memory"] / "memory.memsw.limit_in_bytes", memory, required=False)
        _write(self.folders["pids"] / "pids.max", str(limits.processes))

    def wrap(self, command: list[str]) -> list[str]:
        """``command`` started in this group: a shell writes its pid into every hierarchy, then execs it."""
        script = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"'
        procs = [str(folder / "cgroup.procs") for folder in self.folders.values()]
        return ["/bin/sh", "-c", script, "a4-cgroup", *procs, "--", *command]

    def peak_memory_mb(self) -> float | None:
        """The group's peak memory use, in MiB (None where the kernel does not say)."""
        folder = cast(Path, self.folders.get("memory", self.folders.get("")))  # v1: "memory", v2: ""
        for name in ("memory.max_usage_in_bytes", "memory.peak"):
            try:
                return int((folder / name).read_text()) / 2**20
            except (OSError, ValueError):
                continue
        return None

    def oom_kills(self) -> int:
        """Processes the kernel killed for the group's memory limit (0 where it does not say)."""
        folder = cast(Path, self.folders.get("memory", self.folders.get("")))  # v1: "memory", v2: ""
        try:
            if self.version == "v2":
                events = dict(line.split() for line in (folder / "memory.events").read_text().splitlines())
                return int(events.get("oom_kill", 0))
            for line in (folder / "memory.oom_control").read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
            return 0
        except (OSError, ValueError):
            return 0

    def pids(self) -> set[int]:
        found: set[int] = set()
        for folder in self.folders.values():
            try:
                found.update(int(p) for p in (folder / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                continue
        return found

    def close(self) -> None:
        """Kill every process left in the group, then remove it."""
        for _ in range(50):
            left = self.pids()
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.02)
        for folder in self.folders.values():
            _remove(folder)


def _write(path: Path, text: str, required: bool = True) -> None:
    try:
        path.write_text(text)
    except OSError:
        if required:
            raise


def _remove(folder: Path) -> None:
    for _ in range(20):
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)
