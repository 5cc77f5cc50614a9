"""Facts measured outside the student's processes, and the child's facts checked against them.

The worker writes what it measured itself into the job's ``out/``: ``worker.json`` (the load's CPU and
wall-clock time, and why it stopped the load, if it did) and, per training item, ``<id>.server.json``
(``worker.lossserver.ServerCounts``: the loss calls, backward passes and rows the loss server saw).
A training item's child reports the same counts from its own process, where student code runs and
could rewrite them; where the two disagree the server's numbers are the ones judged, and the
submission is flagged.
"""
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graders.judge.childdata import View, clean_text

CROSS_CHECKED = ("backward", "rows", "train_rows")   # counted by the child and by the loss server alike


@dataclass
class WorkerFacts:
    """What the worker measured of the load (from ``out/worker.json``)."""
    load_stopped: str = ""           # why the worker stopped the load from outside, or ""
    load_cpu_seconds: float = 0.0
    load_wall_seconds: float = 0.0
    job_stopped: str = ""            # why the worker stopped the whole job (its CPU or wall-clock total), or ""


def _json(path: Path) -> dict:
    try:
        raw = json.loads(path.read_bytes()[: 1 << 16])
    except (OSError, ValueError, RecursionError):
        return {}
    return raw if isinstance(raw, dict) else {}


def worker_facts(job_dir: Path) -> WorkerFacts:
    """The worker's own measurements of the load; defaults when it wrote none."""
    view = View(_json(Path(job_dir) / "out" / "worker.json"))
    stopped = View(_json(Path(job_dir) / "out" / "budget.json")).text("job_stopped")
    return WorkerFacts(view.text("load_stopped"), view.number("load_cpu_seconds", 0.0),
                       view.number("load_wall_seconds", 0.0), stopped)


def server_counts(job_dir: Path, item_id: str) -> dict | None:
    """``{count: int}`` the loss server measured for a training item, or None when it did not run."""
    path = Path(job_dir) / "out" / f"{item_id}.server.json"
    if not path.exists():
        return None
    view = View(_json(path))
    counts: dict[str, float] = {key: view.integer(key, 0, 0) for key in ("loss_calls", "refused", *CROSS_CHECKED)}
    counts["lr_first_step"] = view.number("lr_first_step", 0.0)
    return counts


def reconcile(meta: dict, server: dict | None, item_id: str = "") -> str:
    """Put the loss server's counts into a training probe's ``meta`` where the child's differ; returns a
    flag naming the difference, or ``""`` when they agree (or there is nothing to compare)."""
    if server is None or not isinstance(meta.get("probe"), dict):
        return ""
    counts = meta["probe"].get("counts")
    if not isinstance(counts, dict):
        return ""
    differ = [f"{key} {clean_text(counts.get(key), 20)} (server {server[key]})" for key in CROSS_CHECKED
              if counts.get(key) != server[key]]
    differ += _reconcile_lr(counts, server["lr_first_step"])
    if not differ:
        return ""
    for key in CROSS_CHECKED:
        counts[key] = server[key]
    return (f"{item_id}: " if item_id else "") + \
        "training facts reported by the submission's process differ from the grader's loss server: " + ", ".join(differ)


LR_TOLERANCE = 0.1   # relative: Adam's first step moves a parameter by lr * |g| / (|g| + eps), within 1e-4


def _reconcile_lr(counts: dict[str, Any], measured: float) -> list[str]:
    """Where the optimizers the child reports claim a learning rate that the parameters' first step did not
    take (``measured``, the loss server's), put the measured one in their place; returns the differences."""
    optimizers = counts.get("optimizers")
    if not measured or not isinstance(optimizers, list):
        return []
    differ = []
    for record in optimizers:
        if not isinstance(record, dict) or record.get("class") != "Adam":
            continue
        claimed = record.get("lr_max")
        if record.get("lr_min") != claimed:
            continue  # a changing learning rate: the judge says so from the child's own record
        if not isinstance(claimed, (int, float)) or abs(claimed - measured) > LR_TOLERANCE * measured:
            differ.append(f"lr {clean_text(claimed, 20)} (the first step moved the parameters by {measured:.3g})")
            record["lr_min"] = record["lr_max"] = measured
    return differ
