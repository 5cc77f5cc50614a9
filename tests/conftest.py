import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def root():
    return ROOT


def run_grade(*args, timeout=900, env=None):
    """``python grade.py ARGS`` as a subprocess; returns the CompletedProcess (text)."""
    import subprocess
    return subprocess.run([sys.executable, str(ROOT / "grade.py"), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


PROOF_FULL = os.environ.get("A4_PROOF") == "full"


def proof_sample(cases, k):
    """The corpus-scale proofs (every correct variant through the bundle's check, every real port through it,
    the corpus beside busy loops) on ``k`` of ``cases`` spread evenly, in a fixed order, so that CI stays
    well inside its time; all of them with ``A4_PROOF=full`` (before a release: ``A4_PROOF=full pytest -m slow``)."""
    cases = list(cases)
    if PROOF_FULL or len(cases) <= k:
        return cases
    if k <= 1:
        return cases[:k]
    return [cases[round(i * (len(cases) - 1) / (k - 1))] for i in range(k)]
