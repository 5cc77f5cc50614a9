"""The loading rule (contract section 1): imports, definitions and assignments run in notebook order,
each within a budget; training, plotting and everything else is skipped, each skip recorded."""
from worker.loader import load


def _load(cells, seconds=5.0):
    ns = {"__name__": "__main__"}
    report = load(cells, ns, seconds)
    return {k for k in ns if not k.startswith("__")}, report


def _skipped(report):
    return {(s.where(), s.kind) for s in report.skips}


def test_tutorial_configuration_runs_and_work_is_skipped():
    cells = [("cell 1", "import math\nimport torch\n"
                        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\nLIMIT = heavy = 3\n"
                        "print('hello')\n"),
             ("cell 2", "def train_all():\n    return 1\n\nmodel = train_all()\nfor i in range(3):\n    pass\n"),
             ("cell 3", "%matplotlib inline\n!pip install foo\nclass C:\n    pass\nSCALE = math.sqrt(4)\n")]
    names, report = _load(cells)
    assert names == {"math", "torch", "device", "LIMIT", "heavy", "train_all", "C", "SCALE"}
    assert str(__import__("torch").device("cpu")) == "cpu"
    reasons = {s.code: s.reason for s in report.skips}
    assert reasons["print('hello')"] == "not an import, definition or assignment"
    assert reasons["model = train_all()"] == "it calls train_all(), a training function"
    assert reasons["for i in range(3):"] == "a loop"
    assert all(s.kind == "skipped" for s in report.skips)


def test_training_and_plotting_are_skipped_directly_and_through_the_notebooks_functions():
    cells = [("cell 1", "import matplotlib.pyplot as plt\nfrom IPython.display import display as show\n"),
             ("cell 2", "def show_samples(x):\n    plt.imshow(x)\n\ndef main():\n    return train_mnist_vae()\n"),
             ("cell 3", "vae = main()\nfigure = show_samples(1)\nimage = show(2)\nresult = run(lambda: train_mnist_vae())\n"
                        "axes = plt.subplots(2)\n")]
    names, report = _load(cells)
    assert {"vae", "figure", "image", "result", "axes"}.isdisjoint(names)
    reasons = {s.code: s.reason for s in report.skips}
    assert reasons["vae = main()"] == "it calls main(), a training function"
    assert reasons["figure = show_samples(1)"] == "it calls show_samples(), plotting"
    assert reasons["image = show(2)"] == "it calls show(), plotting"
    assert "train_mnist_vae" in reasons["result = run(lambda: train_mnist_vae())"]
    assert reasons["axes = plt.subplots(2)"] == "it calls plt.subplots(), plotting"
    assert report.skip_for("vae").where() == "cell 3 line 1"


def test_syntax_error_costs_only_its_cell_and_names_what_it_held():
    cells = [("cell 1", "def good():\n    return 1\n"), ("cell 2", "def bad(:\n    pass\nX = 1\n"),
             ("cell 3", "def also_good():\n    return 2\n")]
    names, report = _load(cells)
    assert names == {"good", "also_good"}
    (skip,) = report.skips
    assert (skip.cell, skip.kind, skip.names) == ("cell 2", "failed", ["X", "bad"])
    assert "syntax error" in skip.reason


def test_failing_and_slow_statements_are_recorded_and_the_rest_loads():
    cells = [("cell 1", "import not_a_module_xyz\ndef f():\n    return 1\n"),
             ("cell 2", "import time\nslow = time.sleep(30)\nafter = 2\n"),
             ("cell 3", "try:\n    import google.colab\n    COLAB = True\nexcept ImportError:\n    COLAB = False\n")]
    names, report = _load(cells, seconds=0.5)
    assert {"f", "time", "after", "COLAB"} <= names and "slow" not in names
    assert _skipped(report) == {("cell 1 line 1", "failed"), ("cell 2 line 2", "failed")}
    assert "ran past its 0.5 s budget" in report.skip_for("slow").reason
    assert "not_a_module_xyz" in report.skip_for("not_a_module_xyz").reason


def test_scaffold_definitions_are_left_to_the_grader_and_exits_do_not_stop_loading():
    cells = [("cell 1", "class VAE:\n    pass\ndef get_mnist_data(split='train'):\n    return 1\n"),
             ("cell 2", "import sys\nx = sys.exit(3)\ny = 4\n")]
    names, report = _load(cells)
    assert "VAE" not in names and "get_mnist_data" not in names and "y" in names
    assert report.skip_for("VAE").reason == "the grader provides the scaffold's VAE"
    assert report.skip_for("x").reason.startswith("SystemExit")


def test_py_export_lines_are_absolute():
    cells = [("line 40", "# %%\nimport not_a_module_xyz\n")]
    _, report = _load(cells)
    assert report.skips[0].where() == "line 41"


# ---- budgets that do not depend on the machine's load (issue 16 item 4, issue 17 item 8) -----------

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from contextlib import contextmanager  # noqa: E402

import pytest  # noqa: E402

SPIN = ("def _spin(seconds):\n    import time\n    end = time.process_time() + seconds\n"
        "    while time.process_time() < end:\n        pass\n")


@contextmanager
def busy_loops(count=3):
    """``count`` processes that spin on a CPU each, beside whatever runs inside the block."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def test_statement_budget_counts_cpu_time_not_waiting():
    """A statement that waits 1.5 s fits a 1 s budget (CPU time; the wall-clock backstop is 6 s); one that
    computes for 1.5 s does not."""
    names, report = _load([("cell 1", SPIN + "waited = __import__('time').sleep(1.5)\nspun = _spin(1.5)\n")], 1.0)
    assert "waited" in names and "spun" not in names
    assert [(s.code, s.kind, s.reason) for s in report.skips] == [("spun = _spin(1.5)", "failed",
                                                                    "ran past its 1 s budget")]


def test_a_busy_machine_does_not_change_the_load_report():
    """0.1 s of CPU time in a 2 s budget fits whether or not three busy loops share the machine's cores
    (the wall-clock backstop, 12 s, is reached only where more than 120 processes share a core)."""
    cells = [("cell 1", SPIN + "first = _spin(0.1)\nsecond = _spin(0.1)\n")]
    _, idle = _load(cells, 2.0)
    with busy_loops():
        _, busy = _load(cells, 2.0)
    assert idle.skips == busy.skips == []
    assert idle.statements == busy.statements == 3


def test_dry_run_plans_without_running_anything():
    """The worker's own plan (no student code runs): the same skips and imports as a real load, nothing run."""
    cells = [("cell 1", "import math\nimport torch\nx = math.sqrt(4)\nprint(x)\n"),
             ("cell 2", "def train_all():\n    return 1\n\nmodel = train_all()\n%matplotlib inline\n"),
             ("cell 3", "def broken(:\n")]
    planned_ns = {}
    planned = load(cells, planned_ns, 5.0, dry_run=True)
    names, real = _load(cells)
    assert planned_ns == {}
    assert planned.skips == real.skips and planned.imports == real.imports == ["import math", "import torch"]
    assert planned.statements == real.statements == 4


@pytest.mark.slow
@pytest.mark.proof
def test_same_marks_and_load_report_on_an_idle_and_a_saturated_machine(tmp_path):
    """The reference and the template, graded once on an idle machine and once beside three busy loops:
    identical marks, flags and load reports (the template's ``import matplotlib.pyplot as plt`` included)."""
    from reference.notebook import solution_notebook, template_notebook
    from tests.conftest import run_grade
    import nbformat
    batch = tmp_path / "batch"
    batch.mkdir()
    nbformat.write(solution_notebook(), batch / "reference.ipynb")
    nbformat.write(template_notebook(), batch / "template.ipynb")

    def grade(out):
        done = run_grade("grade", batch, "--json", "--out", out, "--workers", "2", timeout=1800)
        assert done.returncode == 0, done.stderr[-1500:]
        rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
        rows = [row.get("result", row) for row in rows]
        return {row["id"]: (row["auto_awarded"] if "auto_awarded" in row else None,
                            {k: v["awarded"] for k, v in row["items"].items()}, row.get("flags"),
                            {k: v for k, v in row["info"]["load"].items() if k != "seconds"}) for row in rows}

    idle = grade(tmp_path / "idle")
    with busy_loops():
        busy = grade(tmp_path / "busy")
    assert idle == busy
    assert sum(idle["reference"][1].values()) == 40
    assert not [s for s in idle["template"][3]["skips"] if s["kind"] == "failed"]
