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
