"""The settings of one grading run, in one place; every default is the sandbox's own constant
(``worker.protocol``) or stated here once, and the command line's defaults and help are read from it.

Importing this module loads no torch (``grade.py --help`` reads it)."""
import os
from dataclasses import dataclass, field

from worker.protocol import LOAD_SECONDS, STATEMENT_SECONDS, WALL_BACKSTOP, Limits

ITEM_SECONDS = 30.0     # CPU seconds of one function item
TRAIN_SECONDS = 120.0   # CPU seconds of one training item
TRAIN_ROWS = 4000       # training images the grader hands to train_mnist_*


CACHE_VARIABLE = "A4_CACHE_DIR"


def default_baseline_folder() -> str:
    """Where the reference baselines are kept between runs (``graders.judge.baseline_store``):
    ``$A4_CACHE_DIR``, else ``$XDG_CACHE_HOME/a4-grader/baselines`` (``~/.cache/...``); ``""``: nowhere."""
    if CACHE_VARIABLE in os.environ:
        return os.environ[CACHE_VARIABLE]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "a4-grader", "baselines")


@dataclass
class Settings:
    """Limits are CPU seconds (wall-clock: ``WALL_BACKSTOP`` times as long) and MiB."""
    public: bool = False             # the students' self-check: no reference, reduced training
    sandbox: str = "auto"            # "auto", "bwrap" or "none"
    workers: int = 1                 # submissions graded at once (one worker process each)
    item_seconds: float = ITEM_SECONDS       # limit per function item
    train_seconds: float = TRAIN_SECONDS     # limit per training item
    statement_seconds: float = STATEMENT_SECONDS  # limit per top-level statement while the notebook loads
    load_seconds: float = LOAD_SECONDS       # limit for loading the whole notebook
    memory_mb: int = Limits.memory_mb        # address space a child may add beyond the loaded worker
    disk_mb: int = Limits.disk_mb            # all files a submission's code may write, together
    seed: int = 1                    # torch/numpy/random seed in every child
    train_rows: int = TRAIN_ROWS     # training images the grader hands to train_mnist_*
    keep_jobs: bool = False          # keep job folders (for debugging)
    baseline_cache: str = field(default_factory=default_baseline_folder)  # "" keeps none


def limit_help(kind: str, seconds: float) -> str:
    """The command line's help for a time limit, from the setting's default."""
    return f"CPU seconds each {kind} item may use (default {seconds:g}; wall-clock: {WALL_BACKSTOP:g} times that)"
