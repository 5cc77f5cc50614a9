"""The solution notebook and the released template: they run, and the template leaks no solution."""

import nbformat
import pytest
from nbclient import NotebookClient

from reference.notebook import solution_lines, solution_notebook, strip_solutions, template_notebook, \
    NotebookSourceError

pytestmark = pytest.mark.slow   # notebooks run through nbclient (the inner loop is pytest -m 'not slow')

QUICK = {"A4_EPOCHS": "1", "A4_Q3_EPOCH_SCALE": "0.01"}


def _execute(notebook, tmp_path, monkeypatch):
    for key, value in QUICK.items():
        monkeypatch.setenv(key, value)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                   ).execute()
    return "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
                   if o.output_type == "stream")


def test_solution_notebook_runs_and_passes_its_self_checks(tmp_path, monkeypatch):
    printed = _execute(solution_notebook(), tmp_path, monkeypatch)
    for name in ("get_activation_index", "reconstruct", "kl_divergence", "binary_cross_entropy", "elbo",
                 "creconstruct", "celbo"):
        assert f"✔ {name}" in printed
    assert "✘" not in printed and "…" not in printed


def test_template_runs_and_reports_not_done(tmp_path, monkeypatch):
    printed = _execute(template_notebook(), tmp_path, monkeypatch)
    for name in ("reconstruct", "kl_divergence", "binary_cross_entropy", "elbo", "creconstruct", "celbo"):
        assert f"… {name}: not done yet" in printed
    assert "✔" not in printed and "✘" not in printed


def test_no_solution_line_appears_in_the_template():
    lines = solution_lines()
    assert len(lines) > 30
    template = "\n".join(c.source for c in template_notebook().cells)
    leaked = [line for line in lines if line in template and len(line) > 12]
    assert leaked == []
    assert template.count('raise NotImplementedError("TODO') == 9  # 8 graded functions + get_activation_index


def test_template_tells_students_how_grading_works():
    text = template_notebook().cells[0].source
    assert "*imports, definitions and assignments*, in order, each within 5 seconds" in text
    assert "starts with `train`" in text and "which cell and line and why" in text


def test_committed_examples_match_the_release(root):
    for folder, build in (("reference", solution_notebook), ("template", template_notebook)):
        committed = nbformat.read(root / "submissions" / folder / "A4.ipynb", as_version=4)
        assert [c.source for c in committed.cells] == [c.source for c in build().cells], \
            f"submissions/{folder} is stale: run python grade.py release"


def test_strip_solutions_rejects_unbalanced_markers():
    with pytest.raises(NotebookSourceError):
        strip_solutions("def f():\n    ### BEGIN SOLUTION\n    return 1\n")
    assert strip_solutions("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n") == \
        'def f():\n    raise NotImplementedError("TODO: complete this function")'
