"""The process that runs the student's code: ``python -m selfcheck.child NOTEBOOK DATA_DIR OUT_DIR``.

Loads the notebook once by the grader's loading rule (``worker.loader``: top-level imports,
definitions and assignments, each within 5 s; training and plotting skipped), then runs each
item's probe in a forked child of that load, within the item's time limit, and writes
``OUT_DIR/load.json`` and per item ``<id>.json`` (facts) and ``<id>.safetensors`` (tensors).
POSIX only (fork and SIGALRM, as the grader's worker).
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from reference import scaffold
from selfcheck import probes
from selfcheck.notebook import code_cells
from worker import loader

if TYPE_CHECKING:
    from typing import Any, NoReturn

    from worker.protocol import LoadReport

SCAFFOLD = ("MNISTArgs", "Encoder", "VAE", "CVAE", "append_class_to_data")


def namespace(rows: int) -> dict:
    """The names the grader provides; ``get_mnist_data`` gives the first ``rows`` training images."""
    ns = {"__name__": "__main__", "__builtins__": __builtins__}
    for name in SCAFFOLD:
        ns[name] = getattr(scaffold, name)
    ns["get_mnist_data"] = lambda split="train": training_data(rows)
    return ns


_DATA: dict = {}


def training_data(rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``rows`` images and labels of ``get_mnist_data("train")`` (read once)."""
    if rows not in _DATA:
        X, Y = scaffold.get_mnist_data("train")
        _DATA[rows] = (X[:rows].clone(), Y[:rows].clone())
    return _DATA[rows]


def run_probe(item: dict, ns: dict, inputs: dict, expected: dict) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The probe of ``item`` (an entry of ``expected.json``'s ``items``): ``(tensors, meta)``."""
    function = ns[item["function"]]
    if item["kind"] == "scalar":
        return probes.probe_scalar(function, inputs, item["args"])
    if item["kind"] == "sampler":
        return probes.probe_sampler(ns, function, inputs, item["conditional"])
    if item["kind"] == "loss":
        sampler = "creconstruct" if item["conditional"] else "reconstruct"
        return probes.probe_loss(ns, function, inputs, item["conditional"], sampler)
    X, Y = training_data(expected["train"]["rows"])
    return probes.probe_training(ns, function, expected["train"]["budget"],
                                 "celbo" if item["conditional"] else "elbo", X, Y)


def _item_child(item: dict, ns: dict, inputs: dict, expected: dict, report: LoadReport, out_dir: Path,
                seed: int) -> NoReturn:
    """In the forked child: run the probe, write its files, never return."""
    meta: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    meta, tensors = {}, {}
    try:
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        if item["function"] not in ns:
            skip = report.skip_for(item["function"])
            meta.update(error=f"{item['function']} is not defined in the notebook"
                        + (f" ({skip.describe()})" if skip else ""), exception="not_defined")
        else:
            tensors, meta["probe"] = run_probe(item, ns, inputs, expected)
    except BaseException as error:  # noqa: BLE001 - the student's SystemExit too
        explained = loader.explain_name_error(error, report) if isinstance(error, NameError) else ""
        meta.update(error=f"{type(error).__name__}: {error}"[:1000] + (f" ({explained})" if explained else ""),
                    exception=type(error).__name__, traceback=loader.student_traceback(error))
    try:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(out_dir / f"{item['id']}.safetensors"))
        (out_dir / f"{item['id']}.json").write_text(json.dumps(meta, default=str))
    finally:
        sys.stdout.flush()
        os._exit(0)


def run_item(item: dict, ns: dict, inputs: dict, expected: dict, report: LoadReport, out_dir: Path, seed: int) -> None:
    """Fork the item's child and wait up to its time limit; a child still running then is killed."""
    pid = os.fork()
    if pid == 0:
        _item_child(item, ns, inputs, expected, report, out_dir, seed)
    deadline = time.monotonic() + item["time_limit"]
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    (out_dir / f"{item['id']}.json").write_text(json.dumps({"timed_out": True}))


def import_course_stack() -> None:
    """Import the course's stack (the template's imports) before the notebook loads, so that the 5 s budget of
    a statement never runs out on a slow first import of matplotlib on a busy machine."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import torch.nn.functional  # noqa: F401


def main(argv: list[str]) -> int:
    notebook, data_dir, out_dir = (Path(a) for a in argv[:3])
    torch.set_num_threads(1)
    import_course_stack()
    expected = json.loads((data_dir / "expected.json").read_text())
    inputs = load_file(str(data_dir / "public.safetensors"))
    ns = namespace(expected["train"]["rows"])
    report = loader.load(code_cells(notebook), ns, expected["statement_seconds"])
    (out_dir / "load.json").write_text(report.to_json())
    if any(item["kind"] == "train" for item in expected["items"]):
        training_data(expected["train"]["rows"])   # read once, before the items' children fork
    for item in expected["items"]:
        prefix = item["id"] + ":"
        run_item(item, ns, {k[len(prefix):]: v for k, v in inputs.items() if k.startswith(prefix)}, expected,
                 report, out_dir, expected["seed"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
