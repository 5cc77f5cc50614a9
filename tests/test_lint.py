"""The project's code passes ruff as configured in ``pyproject.toml`` (``[tool.ruff]``)."""
import subprocess
import sys

from tests.conftest import ROOT


def test_ruff_finds_nothing():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", str(ROOT)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]
