"""The student bundle: no solution inside, it installs and explains itself, and its self-check, run by a
Python that cannot import the project, reads like the grader and never fails what the grader accepts.

``pytest tests/test_release.py -s`` prints the measurements (files, lines searched, found, times).
"""
import json
import re
import subprocess
import sys
import time
import tomllib
import venv
from pathlib import Path

import pytest

from tests.conftest import proof_sample
import torch

from tests.conftest import ROOT, run_grade

SYMBOLS = ("✔", "✘", "?", "…")
ITEM_LINE = re.compile(r"^(?P<symbol>[✔✘?…]) (?P<item>q\d\.\w+)\s")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "R"
    done = run_grade("release", out, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


def _python(folder: Path, with_packages: bool) -> Path:
    """A fresh interpreter: the course's packages (this environment's site-packages as plain paths, so no
    installed or editable copy of the project comes with them) or none at all."""
    venv.EnvBuilder(with_pip=False).create(folder)
    site = next(folder.glob("lib/python*/site-packages"))
    if with_packages:
        import site as site_module
        paths = [p for p in site_module.getsitepackages() if Path(p).is_dir()]
        (site / "course_packages.pth").write_text("\n".join(paths) + "\n")
    return folder / "bin" / "python"


@pytest.fixture(scope="module")
def clean_python(tmp_path_factory, bundle):
    python = _python(tmp_path_factory.mktemp("clean") / "venv", True)
    probe = subprocess.run([str(python), "-I", "-c", "import graders"], cwd=bundle, capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin"})
    if probe.returncode == 0:
        pytest.skip("the project is installed (not editable) in this environment's site-packages")
    assert "No module named 'graders'" in probe.stderr
    return python


def check_in_bundle(python: Path, bundle: Path, notebook: Path) -> tuple[dict, str, float]:
    """``python -I grade.py check NOTEBOOK`` in the bundle, no PYTHONPATH: ``({item: symbol}, output, seconds)``."""
    started = time.perf_counter()
    done = subprocess.run([str(python), "-I", "grade.py", "check", str(notebook)], cwd=bundle, capture_output=True,
                          text=True, timeout=600, env={"PATH": "/usr/bin:/bin", "HOME": str(bundle)})
    assert done.returncode == 0, done.stderr
    symbols = {m["item"]: m["symbol"] for m in map(ITEM_LINE.match, done.stdout.splitlines()) if m}
    return symbols, done.stdout, time.perf_counter() - started


# --- no solution inside ----------------------------------------------------------------------------

def solution_lines() -> list[str]:
    """The non-trivial lines of the solution's function bodies and of the catalogue's correct variants:
    not a signature, comment or docstring, not a line the template itself gives (``args =
    MNISTArgs(**kwargs)``), and at least three names (``return model`` and ``loss.backward()`` are not
    solutions)."""
    from graders.proof.catalogue import VARIANTS
    from reference.notebook import solution_lines as regions, template_notebook
    given = {line.strip() for cell in template_notebook().cells if cell.cell_type == "code"
             for line in cell.source.splitlines()}
    lines = set(regions())
    for case in VARIANTS:
        for source in case.replacements.values():
            lines |= {line.strip() for line in source.splitlines()[1:]}
    return sorted(line for line in lines if line and line not in given and not line.startswith(("def ", "#", '"""'))
                  and len(re.findall(r"[A-Za-z_]\w*", line)) >= 3)


def test_the_bundle_holds_no_solution(bundle):
    lines = solution_lines()
    files = [p for p in bundle.rglob("*") if p.is_file()]
    texts = {p: p.read_bytes().decode("utf-8", "ignore") for p in files}
    found = [(line, str(p.relative_to(bundle))) for line in lines for p, text in texts.items() if line in text]
    print(f"\nbundle: {len(files)} files; solution and correct-variant lines searched: {len(lines)}; found: {len(found)}")
    assert len(lines) > 60 and "z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)" in lines
    assert found == []
    shipped = {str(p.relative_to(bundle)) for p in files}
    assert not any(p.startswith("graders/") for p in shipped)
    assert not {"reference/vae.py", "reference/answers.md", "worker/probes.py", "worker/__main__.py"} & shipped
    assert {"A4.ipynb", "HW4.md", "README.md", "requirements.txt", "grade.py", "selfcheck/data/expected.json"} <= shipped


def test_the_bundle_ships_numbers_not_code_for_its_data(bundle):
    expected = json.loads((bundle / "selfcheck" / "data" / "expected.json").read_text())
    from graders.items import AUTO_ITEMS
    assert [(i["id"], [tuple(c) for c in i["checks"]]) for i in expected["items"]] == \
        [(i.id, list(i.checks)) for i in AUTO_ITEMS]
    assert expected["scalar"]["q4.kl_divergence"]["shape"] == [3, 10]


def test_check_names_are_the_judges_words():
    """The self-check names each check as the judge does (the judge's source holds each name)."""
    from selfcheck import sampling, training, verdicts
    judge_source = "".join(p.read_text() for p in sorted((ROOT / "graders" / "judge").glob("*.py")))
    names = [n for group in verdicts.NAMES.values() for n in group.values()]
    names += list(sampling.NAMES.values()) + list(training.NAMES.values())
    missing = [n for n in names if n not in judge_source]
    assert missing == []


# --- the three-row KL separates "sums over the batch" from "no factor 1/2" ---------------------------

def _scalar_verdict(values, factor):
    from selfcheck.verdicts import judge_scalar
    tensors, expected = values
    item = next(i for i in expected["items"] if i["id"] == "q4.kl_divergence")
    inputs = {k.split(":", 1)[1]: v for k, v in tensors.items() if k.startswith("q4.kl_divergence:")}
    value = torch.tensor(expected["scalar"]["q4.kl_divergence"]["value"] * factor)
    checks = judge_scalar(item, {"value": value, "value2": value}, {"out": {"type": "tensor", "shape": [],
                                                                             "dtype": "float32"}},
                          inputs, expected["scalar"]["q4.kl_divergence"])
    return {c.key: c for c in checks}


def test_kl_public_input_separates_the_batch_sum_from_the_missing_half():
    from graders.release.bundle import public_data
    values = public_data()
    half = _scalar_verdict(values, 2.0)
    summed = _scalar_verdict(values, 3.0)
    assert "no factor 1/2" in half["value"].hint and "sums over the batch" not in half["value"].hint
    assert "sums over the batch (3 rows)" in summed["value"].hint
    assert half["form"].state == "pass" and half["value"].state == "fail"   # each check judged on its own


# --- installs and explains itself --------------------------------------------------------------------

def test_the_readme_and_requirements_list_what_check_and_the_notebook_import(bundle):
    from selfcheck import deps
    required = {line.strip() for line in (bundle / "requirements.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    assert {package for _, package in deps.REQUIRED} <= required
    readme = (bundle / "README.md").read_text()
    assert "python -m pip install -r requirements.txt" in readme and "python grade.py check A4.ipynb" in readme
    assert "A4_EPOCHS=1 A4_Q3_EPOCH_SCALE=0.01" in readme and "HW4.md" in readme
    notebook = json.loads((bundle / "A4.ipynb").read_text())
    imports = {m for c in notebook["cells"] if c["cell_type"] == "code"
               for m in re.findall(r"^(?:import|from) (\w+)", "".join(c["source"]), re.M)}
    third_party = imports - set(sys.stdlib_module_names)
    assert third_party <= {module for module, _ in deps.REQUIRED}, third_party


@pytest.mark.slow
def test_check_names_every_missing_package_at_once(bundle, tmp_path):
    bare = _python(tmp_path / "bare", False)
    done = subprocess.run([str(bare), "-I", "grade.py", "check", "A4.ipynb"], cwd=bundle, capture_output=True,
                          text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert "torch, numpy, matplotlib, mlxtend, safetensors, ipython" in done.stderr
    assert "python -m pip install -r requirements.txt" in done.stderr


# --- the self-check from the bundle, in a Python without the project ----------------------------------

@pytest.mark.slow
def test_bundle_check_passes_the_solution_and_waits_on_the_template(bundle, clean_python, tmp_path):
    from reference.notebook import solution_notebook
    import nbformat
    solution = tmp_path / "solution.ipynb"
    nbformat.write(solution_notebook(), solution)
    symbols, output, seconds = check_in_bundle(clean_python, bundle, solution)
    print(f"\ncheck on the solution from the bundle: {seconds:.1f} s\n{output}")
    assert set(symbols.values()) == {"✔"} and len(symbols) == 8, output
    # 40 less what only the grader's own training judges: q4.train's learns 6 and seed 0.5, q5.train's
    # learns 2, labels 1 and seed 0.5
    assert "Checked here: 30 of 30 marks (of 40)" in output
    symbols, output, seconds = check_in_bundle(clean_python, bundle, bundle / "A4.ipynb")
    print(f"check on the template from the bundle: {seconds:.1f} s")
    assert set(symbols.values()) == {"…"} and len(symbols) == 8, output


@pytest.mark.slow
@pytest.mark.proof
def test_bundle_check_never_fails_a_correct_variant(bundle, clean_python, tmp_path):
    """Every correct variant of the catalogue earns full marks from the grader (``grade.py validate``,
    ``tests/test_catalogue.py``); the self-check gives the same verdict (✔) or says it cannot verify (?)."""
    from graders.proof.catalogue import VARIANTS, case_source
    for number, case in enumerate(proof_sample(VARIANTS, 6)):
        path = tmp_path / f"variant_{number}.py"
        path.write_text(case_source(case))
        symbols, output, seconds = check_in_bundle(clean_python, bundle, path)
        print(f"{case.name:<55} {' '.join(symbols[i] for i in sorted(symbols))}  ({seconds:.0f} s)", flush=True)
        assert len(symbols) == 8 and set(symbols.values()) <= {"✔", "?"}, f"{case.name}\n{output}"


@pytest.mark.slow
@pytest.mark.proof
def test_bundle_check_never_fails_what_the_grader_accepts_in_real_code(bundle, clean_python):
    """The ported public code (``tests/real_code``): on every item the grader gives full marks (its
    expectations, decided from the contract), the self-check never says ✘."""
    expected = tomllib.loads((ROOT / "tests" / "real_code" / "EXPECTED.toml").read_text())
    from graders.items import AUTO_BY_ID
    for name, entry in proof_sample(sorted(expected.items()), 8):
        path = next((ROOT / "tests" / "real_code").glob(f"{name}.*"))
        symbols, output, seconds = check_in_bundle(clean_python, bundle, path)
        full = [item for item, marks in entry["expected"].items() if marks == AUTO_BY_ID[item].marks]
        wrong = [item for item in full if symbols.get(item) == "✘"]
        print(f"{name:<32} {entry['verdict']:<10} {' '.join(symbols.get(i, ' ') for i in sorted(AUTO_BY_ID))}  "
              f"full marks expected on {len(full)} items", flush=True)
        assert wrong == [], f"{name}: ✘ on {wrong} where the grader gives full marks\n{output}"
