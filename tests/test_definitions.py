"""Only definitions are chosen; a broken cell costs only its own definitions."""
from graders.definitions import select
from worker.loader import load


def _names(cells):
    chunks, notes = select(cells)
    ns = {}
    failures = load(chunks, ns)
    return {k for k in ns if not k.startswith("__")}, notes, failures


def test_top_level_work_is_not_run():
    cells = [("cell 1", "import math\nLIMIT = 3\nprint('hello')\nmodel = train()\n"),
             ("cell 2", "def f(x):\n    return x + LIMIT\n\nf(1)\nfor i in range(3):\n    pass\n"),
             ("cell 3", "%matplotlib inline\n!pip install foo\nclass C:\n    pass\n")]
    names, notes, failures = _names(cells)
    assert names == {"math", "LIMIT", "f", "C"}
    assert notes == [] and failures == []


def test_syntax_error_costs_only_its_cell():
    cells = [("cell 1", "def good():\n    return 1\n"), ("cell 2", "def bad(:\n    pass\n"),
             ("cell 3", "def also_good():\n    return 2\n")]
    names, notes, _ = _names(cells)
    assert names == {"good", "also_good"}
    assert len(notes) == 1 and "cell 2" in notes[0] and "syntax error" in notes[0]


def test_failing_import_is_recorded_and_the_rest_loads():
    cells = [("cell 1", "import not_a_module_xyz\ndef f():\n    return 1\n")]
    names, _, failures = _names(cells)
    assert "f" in names and len(failures) == 1 and "not_a_module_xyz" in failures[0]


def test_only_cheap_constant_assignments_are_kept():
    cells = [("cell 1", "A = torch_device = 1\nB = dict(a=1)\nC = heavy()\nD, E = 1, 2\n")]
    names, _, _ = _names(cells)
    assert names == {"A", "torch_device", "B", "D", "E"}
