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
