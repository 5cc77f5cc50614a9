"""The ported real code of ``tests/real_code/`` grades as decided beforehand from the contract (issue 8, part 7).

Each submission in ``tests/real_code/`` is a complete A4 notebook (``.py`` in percent format or ``.ipynb``)
ported from a public VAE/CVAE implementation, keeping its idioms; ``EXPECTED.toml`` holds the marks per item,
decided from the contract before any grading, with the reasoning beside each number. The whole folder is
graded in ONE batch (``grade.py grade tests/real_code --json``), then every (submission, item) pair is
asserted on its own, so a failure names the file, the item, both marks and the grader's messages.

``KNOWN_GRADER_BUGS`` lists the disagreements seen when the corpus was first graded, with why the grader
(not the expectation) is judged wrong; they are asserted like every other pair and fail until the grader is
fixed. Never edit EXPECTED.toml to follow the grader: change it only when the contract says otherwise.
"""
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT, proof_sample, run_grade

pytestmark = pytest.mark.slow   # the ports are graded as one batch (the inner loop is pytest -m 'not slow')

CORPUS = ROOT / "tests" / "real_code"
EXPECTED = tomllib.loads((CORPUS / "EXPECTED.toml").read_text())
ITEMS = {"q4.reconstruct": 5, "q4.kl_divergence": 4, "q4.binary_cross_entropy": 4, "q4.elbo": 2, "q4.train": 10,
         "q5.reconstruct": 5, "q5.celbo": 5, "q5.train": 5}
# CI grades an even sample of the correct ports and of the mistaken ones, 5 each (A4_PROOF=full: every one); every
# port ran on the branch that added it, and the proofs before a release grade them all.
# A port that once showed a grader bug is graded every time (martinyanev: one mistake charged twice, issue 16).
ALWAYS = {"martinyanev_hardcoded_args"}
GRADED = sorted(set(proof_sample([s for s in sorted(EXPECTED) if EXPECTED[s]["verdict"] == "correct"], 5)
                    + proof_sample([s for s in sorted(EXPECTED) if EXPECTED[s]["verdict"] != "correct"], 5)) | ALWAYS)
PAIRS = [(sub, item) for sub in GRADED for item in ITEMS]

# (submission, item) -> what the grader did wrong when the corpus was first graded (2026-11-26).
KNOWN_GRADER_BUGS = {
    ("ethanluoyc_variable", "q4.elbo"):
        "error AttributeError 'VAE' object has no attribute 'z_mean': while judging elbo the grader swaps in its "
        "own reconstruct, which does not store z_mean/z_sigma on the model as the student's reconstruct does; "
        "the student's elbo is correct (one reconstruct, kl - loglik). False negative, reported as a crash.",
    ("ethanluoyc_variable", "q5.celbo"):
        "same as q4.elbo: the stand-in creconstruct does not set cvae.z_mean; correct celbo scored 0 as an error.",
    ("ethanluoyc_variable", "q4.train"):
        "error PermissionError [Errno 13] from DataLoader(num_workers=2) inside the sandbox: correct training code "
        "scored 0 with no word of the cause (worker processes/semaphores are not allowed there).",
    ("ethanluoyc_variable", "q5.train"):
        "same DataLoader(num_workers=2) PermissionError: 0 for correct training code.",
    ("cs236_logits_decoder", "q4.train"):
        "got 5 (layout 0, learns 3 of 6): the grader trains the student's loop with ITS loss functions, which "
        "take the Sigmoid-less decoder's logits as probabilities: 600 of 600 losses NaN, weights spoiled. The "
        "student's own loop and loss train a model that, loaded into the table's model, equals the reference "
        "(share 1.00). One structural mistake charged on layout AND learns; the hint 'the grader scores your "
        "weights in the table's model' names the wrong cause.",
    ("cs236_logits_decoder", "q5.train"):
        "got 1 (learns 0, labels 0): same cause as q4.train (the grader's loss on a logits decoder: NaN training).",
    ("lyeoni_relu", "q4.train"):
        "got 5 (layout 0, learns 3 of 6): the ReLU-trained weights are scored in the table's Tanh model, so the "
        "one structural mistake is charged twice (layout and learns); issue 8 part 3 asks for the layout check "
        "only. Design decision for the lead: if the literal 'load into the grader's copy' reading is kept, "
        "change this expectation and the rule in EXPECTED.toml together.",
    ("lyeoni_relu", "q5.train"):
        "got 3 (layout 0, learns 1 of 2): same double charge as q4.train.",
    ("tf_tutorial_monte_carlo", "q4.elbo"):
        "got 2 (pass) for a single-sample Monte-Carlo KL: the value check's rtol 1e-3 applies to the whole loss "
        "(~550 nats, dominated by the reconstruction term), so a KL error of ~0.5 nats passes; q5.celbo with "
        "the same code failed (by chance of the draw). False positive; compare the KL part on its own scale.",
}


# (submission, item) -> a disagreement still open: asserted as a strict xfail (it fails until the grader is
# fixed, and the test fails as soon as it is, so that the entry is removed with the fix).
OPEN_GRADER_BUGS: dict = {}   # (port, item) -> why the grader is still wrong: a strict xfail each


def _sources():
    return sorted(p for p in CORPUS.iterdir() if p.suffix in (".py", ".ipynb"))


# --- cheap checks of the corpus itself (no grading) ---------------------------------------------------

def test_every_file_has_expectations_and_every_expectation_a_file():
    assert sorted(p.stem for p in _sources()) == sorted(EXPECTED)
    assert len(EXPECTED) >= 16


@pytest.mark.parametrize("sub", sorted(EXPECTED))
def test_expectations_are_complete_and_in_range(sub):
    entry = EXPECTED[sub]
    assert entry["source"] and entry["verdict"]
    expected = entry["expected"]
    assert set(expected) == set(ITEMS), f"{sub}: items {sorted(set(ITEMS) ^ set(expected))}"
    for item, marks in expected.items():
        assert 0 <= marks <= ITEMS[item], f"{sub} {item}: {marks} outside [0, {ITEMS[item]}]"
    full = all(expected[i] == ITEMS[i] for i in ITEMS)
    assert full == (entry["verdict"] == "correct"), f"{sub}: a correct port must expect full marks, a mistake less"


@pytest.mark.parametrize("path", _sources(), ids=lambda p: p.name)
def test_each_port_names_its_source(path):
    text = path.read_text()
    assert "Ported from" in text[:3000], f"{path.name}: no 'Ported from' header naming the source"
    for name in ("class MNISTArgs", "def get_mnist_data", "class Encoder", "class VAE", "class CVAE",
                 "def append_class_to_data"):
        assert name in text, f"{path.name}: the scaffold's {name} is missing"


def test_correct_ports_and_real_mistakes_are_both_well_represented():
    """At least a third of the ports are correct (false negatives are the worst bug) and at least five
    make a real mistake (issue 16 added ports of the mistakes real code makes)."""
    verdicts = [EXPECTED[s]["verdict"] for s in EXPECTED]
    mistakes = sum(v != "correct" for v in verdicts)
    assert 5 <= mistakes <= 2 * len(verdicts) // 3


# --- the grader on the whole corpus, one batch ----------------------------------------------------------

def _grade_corpus(out, corpus=None):
    """``{id: contract JSON}`` and ``{id: load report without timings}`` of one batch grading of ``corpus``
    (default: the ports in ``GRADED``)."""
    if corpus is None:
        corpus = out.parent / (out.name + "-corpus")
        corpus.mkdir()
        for path in CORPUS.iterdir():
            if path.stem in GRADED:
                shutil.copy(path, corpus / path.name)
    done = run_grade("grade", corpus, "--out", out, "--json", "--workers", 2, "--quiet", timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    loads = {}
    for line in (Path(out) / "results.jsonl").read_text().splitlines():
        result = json.loads(line)["result"]
        load = dict(result.get("info", {}).get("load") or {})
        load.pop("seconds", None)
        loads[result["id"]] = load
    return {s["id"]: s for s in json.loads(done.stdout)["submissions"]}, loads


@pytest.fixture(scope="module")
def graded_with_loads(tmp_path_factory):
    return _grade_corpus(tmp_path_factory.mktemp("real_code"))


@pytest.fixture(scope="module")
def graded(graded_with_loads):
    return graded_with_loads[0]


def test_the_batch_holds_every_submission(graded):
    assert sorted(graded) == sorted(GRADED) and len(GRADED) >= min(10, len(EXPECTED))


@pytest.mark.parametrize("sub,item", [pytest.param(s, i, marks=pytest.mark.xfail(reason=OPEN_GRADER_BUGS[(s, i)],
                                                                            strict=True))
                                      if (s, i) in OPEN_GRADER_BUGS else (s, i) for s, i in PAIRS],
                         ids=[f"{s}-{i}" for s, i in PAIRS])
def test_marks_match_the_contract(graded, sub, item):
    expected = EXPECTED[sub]["expected"][item]
    got = graded[sub]["items"][item]
    bug = KNOWN_GRADER_BUGS.get((sub, item))
    messages = "\n".join(got.get("messages", []))[:1500]
    assert got["awarded"] == pytest.approx(expected, abs=1e-6), (
        f"{sub} {item}: expected {expected}, the grader gave {got['awarded']} ({got['status']})"
        + (f"\nKNOWN GRADER BUG: {bug}" if bug else "") + f"\ngrader's messages:\n{messages}")


@pytest.mark.slow
@pytest.mark.proof
def test_graded_idle_and_beside_three_busy_loops_identical_marks_and_load_reports(graded_with_loads, tmp_path):
    """Issue 16: the same corpus graded again while three processes spin on the CPU gives the same marks,
    item by item, and the same load reports (statements run, every skip with its reason; not the seconds)."""
    subset = tmp_path / "corpus"
    subset.mkdir()
    for path in proof_sample(sorted(p for p in Path(CORPUS).iterdir() if p.stem in GRADED), 10):
        shutil.copy(path, subset / path.name)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)]
    try:
        marks, loads = _grade_corpus(tmp_path / "busy", subset)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    idle_marks = {sub: value for sub, value in graded_with_loads[0].items() if sub in marks}
    idle_loads = {sub: value for sub, value in graded_with_loads[1].items() if sub in marks}
    assert len(idle_marks) == len(marks) >= min(10, len(EXPECTED))
    differences = [f"{sub} {item}: idle {idle_marks[sub]['items'][item]['awarded']}, busy "
                   f"{marks[sub]['items'][item]['awarded']}" for sub in sorted(idle_marks) for item in ITEMS
                   if idle_marks[sub]["items"][item]["awarded"] != marks[sub]["items"][item]["awarded"]]
    assert not differences, differences
    for sub in sorted(idle_loads):
        assert loads[sub] == idle_loads[sub], (sub, idle_loads[sub], loads[sub])
