"""Confinement of the processes that run student code: user, resource limits, and killing what is left.

Every process a submission starts must end with its item. Two mechanisms, both always on:

- the loader and the worker are *child subreapers* (``PR_SET_CHILD_SUBREAPER``): a process
  that escapes with ``setsid()`` and a double fork is re-parented to them, and
  ``kill_descendants`` finds and kills every process below them through ``/proc``;
- when the grader runs as root, all of one submission's processes run as a uid of its own
  (``Limits.run_as``), so the kernel's process limit is per submission and ``kill_uid``
  ends every process of that uid, wherever it went.
"""
from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import subprocess
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from worker.protocol import Limits

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)


def become_subreaper() -> None:
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def die_with_parent() -> None:
    """SIGKILL this process when its parent dies (set after any change of user: that clears it)."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def readable_by_others(paths: Iterable[str | os.PathLike[str]]) -> bool:
    """True when every folder above and in ``paths`` lets other users through and read (a Python
    installed under ``/root`` does not: a process that drops to another uid could not import)."""
    for path in paths:
        current = os.path.realpath(path)
        while True:
            try:
                mode = os.stat(current).st_mode
            except OSError:
                return False
            if not mode & 0o001 or (current == os.path.realpath(path) and not mode & 0o004):
                return False
            if current == "/":
                break
            current = os.path.dirname(current)
    return True


def drop_privileges(uid: int, writable: Iterable[str | os.PathLike[str]]) -> None:
    """Become ``uid`` with no groups; the folders in ``writable`` are handed to it first."""
    for folder in writable:
        os.chown(folder, uid, uid)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _limit(kind: int, soft: int, hard: int | None = None) -> None:
    current_soft, current_hard = resource.getrlimit(kind)
    hard = soft if hard is None else hard
    if current_hard != resource.RLIM_INFINITY:
        hard, soft = min(hard, current_hard), min(soft, current_hard)
    resource.setrlimit(kind, (soft, hard))


def _virtual_memory_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def apply_limits(limits: Limits, cpu_seconds: float, cpu_hard_seconds: float) -> None:
    """Resource limits for the loader (inherited by the items' children, which lower the CPU limit).

    The kernel ignores RLIMIT_NPROC for root and counts it per user: it holds only for a
    dedicated uid (``limits.run_as``)."""
    _limit(resource.RLIMIT_CPU, int(cpu_seconds) + 1, int(cpu_hard_seconds) + 1)
    _limit(resource.RLIMIT_AS, _virtual_memory_bytes() + limits.memory_mb * 2**20)
    _limit(resource.RLIMIT_FSIZE, limits.file_mb * 2**20)
    _limit(resource.RLIMIT_NOFILE, limits.open_files)
    _limit(resource.RLIMIT_CORE, 0)
    if os.geteuid() != 0:
        _limit(resource.RLIMIT_NPROC, limits.processes)


def set_cpu_limit(seconds: float) -> None:
    """Lower the CPU-seconds soft limit (an item's child); the hard limit stays the loader's."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    used = int(resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_SELF).ru_stime)
    wanted = used + int(seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard))


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process_table() -> dict[int, tuple[int, float, float]]:
    """``{pid: (parent pid, own CPU seconds, CPU seconds of its reaped children)}`` from ``/proc``."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        try:
            own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            reaped = (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
        except (IndexError, ValueError):
            own = reaped = 0.0
        table[int(entry)] = (int(fields[1]), own, reaped)
    return table


def _children_map(table: dict[int, tuple[int, float, float]] | None = None) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in (table or _process_table()).items():
        children.setdefault(parent, []).append(pid)
    return children


def tree_cpu_seconds(pid: int, include_self: bool = True) -> float:
    """CPU seconds used by ``pid``'s processes: every living (or unreaped) process below it, with the
    children each of them reaped, plus the children ``pid`` reaped (and ``pid``'s own time with
    ``include_self``). Measured from ``/proc``: the processes measured cannot change it, and it is the
    same on an idle and on a busy machine."""
    table = _process_table()
    if pid not in table:
        return 0.0
    children, total, stack = _children_map(table), table[pid][2] + (table[pid][1] if include_self else 0.0), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            total += table[child][1] + table[child][2]
            stack.append(child)
    return total


def descendants(pid: int | None = None, spare: frozenset[int] = frozenset()) -> list[int]:
    """Every process below ``pid`` (default: this process), through ``/proc``; ``spare`` and the
    processes below them left out."""
    children, found, stack = _children_map(), [], [pid or os.getpid()]
    while stack:
        for child in children.get(stack.pop(), []):
            if child in spare:
                continue
            found.append(child)
            stack.append(child)
    return found


def reap() -> None:
    """Collect every exited child (a subreaper inherits zombies)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_descendants(rounds: int = 50, spare: frozenset[int] = frozenset()) -> None:
    """SIGKILL every process below this one (but ``spare``) until none is left (a fork bomb needs
    several rounds)."""
    for _ in range(rounds):
        below = descendants(spare=spare)
        if not below:
            return
        for pid in below:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)
        reap()


def kill_uid(uid: int | None) -> None:
    """As root: SIGKILL every process of ``uid`` (from a child that becomes ``uid``; kill(-1) spares itself)."""
    if uid is None or os.geteuid() != 0:
        return
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            for _ in range(20):
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    break
                time.sleep(0.01)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def folder_bytes(folder: str, cap_entries: int = 20000) -> int:
    """Bytes in files under ``folder`` (at most ``cap_entries`` looked at; enough to see a quota passed)."""
    total, seen, stack = 0, 0, [folder]
    while stack and seen < cap_entries:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    seen += 1
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Remove ``path`` whatever student code left in it (``rm -rf`` does not recurse on the stack)."""
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        return
    except (OSError, RecursionError):  # a tree too deep for the stack, or odd permissions
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
