"""The command line: the contract's JSON, one-line errors, the example submissions, resuming."""
import json

import pytest

from graders.items import AUTO_ITEMS
from tests.conftest import run_grade

pytestmark = pytest.mark.slow   # each test runs grade.py on submissions (the inner loop is pytest -m 'not slow')

ITEM_KEYS = {"awarded", "max", "status", "messages"}
SUBMISSION_KEYS = {"id", "items", "auto_awarded", "auto_max", "raw_total", "final_grade", "flags"}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    done = run_grade("grade", "submissions", "--json", "--out", out)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), out, done


def test_json_is_exactly_the_contract(graded):
    document, _, done = graded
    assert set(document) == {"submissions"}
    assert done.stdout.count("\n") == 1  # one JSON object, nothing else on stdout
    for sub in document["submissions"]:
        assert set(sub) == SUBMISSION_KEYS
        assert list(sub["items"]) == [item.id for item in AUTO_ITEMS]
        for item_id, item in sub["items"].items():
            assert set(item) == ITEM_KEYS
            assert item["status"] in {"pass", "partial", "fail", "error", "manual"}
            assert isinstance(item["awarded"], float) and isinstance(item["max"], float)
        assert sub["auto_max"] == 40.0 and sub["raw_total"] is None and sub["final_grade"] is None


def test_example_submissions_get_their_marks(graded):
    subs = {s["id"]: s for s in graded[0]["submissions"]}
    assert subs["reference"]["auto_awarded"] == 40.0
    assert subs["template"]["auto_awarded"] == 0.0
    mistakes = subs["mistakes"]["items"]
    # the value's 3 marks lost; its form and gradients are judged on any value and are right (issue 15)
    assert mistakes["q4.kl_divergence"]["status"] == "partial" and mistakes["q4.kl_divergence"]["awarded"] == 1.0
    assert "sums over the batch" in " ".join(mistakes["q4.kl_divergence"]["messages"])
    assert mistakes["q4.reconstruct"]["awarded"] < 5.0
    assert "exp(0.5 * logvar)" in " ".join(mistakes["q4.reconstruct"]["messages"])
    others = {k: v["awarded"] for k, v in mistakes.items() if k not in ("q4.kl_divergence", "q4.reconstruct")}
    assert others == {item.id: float(item.marks) for item in AUTO_ITEMS if item.id in others}


def test_rerun_resumes_from_stored_results(graded):
    _, out, _ = graded
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 3
    again = run_grade("grade", "submissions", "--json", "--out", out)
    assert json.loads(again.stdout) == graded[0]
    assert len((out / "results.jsonl").read_text().splitlines()) == 3  # nothing graded twice


def test_committed_mistakes_example_is_current(root):
    from graders.proof.catalogue import EXAMPLE_MISTAKES, case_source
    assert (root / "submissions" / "mistakes" / "A4.py").read_text() == case_source(EXAMPLE_MISTAKES)


@pytest.mark.parametrize("args, words", [
    (["grade", "no/such/path"], "no such file"),
    (["grade", "README.md"], "not a submission"),
    (["check", "missing.ipynb"], "no such file"),
])
def test_bad_input_is_one_line(args, words, tmp_path):
    done = run_grade(*args, "--out", tmp_path) if args[0] == "grade" else run_grade(*args)
    assert done.returncode == 2
    assert words in done.stderr and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_help_explains_the_commands():
    done = run_grade("--help")
    for command in ("grade", "check", "release", "validate", "figures"):
        assert command in done.stdout
