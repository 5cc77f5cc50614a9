"""``python grade.py check A4.ipynb``: run the student's notebook in a child process and judge it.

``run`` is the one self-check: the project's ``grade.py check`` and the bundle's call it, with
the data folder the release wrote (``selfcheck/data``) or one built from the reference.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from selfcheck import deps

if TYPE_CHECKING:
    from typing import Any

    import torch

    from selfcheck.results import ItemVerdict

PACKAGE = Path(__file__).resolve().parent
DATA = PACKAGE / "data"


class CheckError(Exception):
    """Something the student must fix before checking (a missing file, a missing package); one line."""


def _child(notebook: Path, data_dir: Path, out_dir: Path, expected: dict) -> subprocess.CompletedProcess:
    root = PACKAGE.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root)] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    limit = 60 + 60 + sum(item["time_limit"] for item in expected["items"])
    try:
        return subprocess.run([sys.executable, "-m", "selfcheck.child", str(notebook.resolve()), str(data_dir),
                               str(out_dir)], cwd=out_dir, env=env, capture_output=True, text=True, timeout=limit,
                              errors="replace")
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess([], -9, "", f"the check ran past {limit} s and was stopped")


def _reply(out_dir: Path, item_id: str) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """``(tensors, meta)`` an item's child wrote, or ``({}, None)`` when it wrote nothing."""
    from safetensors.torch import load_file
    meta_path, tensor_path = out_dir / f"{item_id}.json", out_dir / f"{item_id}.safetensors"
    if not meta_path.exists():
        return {}, None
    meta = json.loads(meta_path.read_text())
    return (load_file(str(tensor_path)) if tensor_path.exists() else {}), meta


def run(notebook: Path, data_dir: Path = DATA) -> tuple[list[ItemVerdict], list[str]]:
    """The verdicts of every item and the load notes: ``([ItemVerdict], [str])``."""
    from safetensors.torch import load_file
    from selfcheck import verdicts
    from worker.protocol import LoadReport
    expected = json.loads((data_dir / "expected.json").read_text())
    inputs = load_file(str(data_dir / "public.safetensors"))
    with tempfile.TemporaryDirectory(prefix="a4-check-") as scratch:
        out_dir = Path(scratch)
        done = _child(notebook, data_dir, out_dir, expected)
        load_path = out_dir / "load.json"
        if not load_path.exists():
            tail = (done.stderr or "").strip().splitlines()[-3:]
            raise CheckError(f"{notebook}: loading the notebook stopped before any check ran"
                             + (f" ({' / '.join(tail)})" if tail else ""))
        report = LoadReport.from_json(load_path.read_text())
        results = []
        for item in expected["items"]:
            prefix = item["id"] + ":"
            tensors, meta = _reply(out_dir, item["id"])
            results.append(verdicts.judge(item, tensors, meta,
                                          {k[len(prefix):]: v for k, v in inputs.items() if k.startswith(prefix)},
                                          expected))
    return results, [skip.describe() for skip in report.skips if skip.kind == "failed"]


def validate(notebook: Path) -> None:
    """Raise ``CheckError`` (one line) for a missing package, a missing file or one that is not a notebook."""
    missing = deps.missing()
    if missing:
        raise CheckError(deps.missing_message(missing))
    if not notebook.exists():
        raise CheckError(f"{notebook}: no such file")
    if notebook.suffix not in (".ipynb", ".py"):
        raise CheckError(f"{notebook}: expected your notebook (.ipynb) or its .py export")
    from selfcheck.notebook import NotebookError, code_cells
    try:
        code_cells(notebook)
    except NotebookError as error:
        raise CheckError(str(error)) from None


def check(notebook: Path, data_dir: Path = DATA) -> str:
    """The printed self-check of ``notebook``; raises ``CheckError`` for what the student must fix first."""
    notebook = Path(notebook)
    validate(notebook)
    from selfcheck import report
    if not (data_dir / "expected.json").exists():
        raise CheckError(f"{data_dir}: the self-check's data is missing (use the folder 'grade.py release' wrote)")
    verdicts, notes = run(notebook, data_dir)
    return report.render(str(notebook), verdicts, notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m selfcheck", description="Run the public checks on your notebook.")
    parser.add_argument("notebook", help="your A4.ipynb (or its .py export)")
    args = parser.parse_args(argv)
    try:
        print(check(Path(args.notebook)))
    except CheckError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
