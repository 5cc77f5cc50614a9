"""`grade.py validate`: the reference earns 40/40, the template 0, each of the catalogue's
mutants loses marks on its own item only, each correct variant earns 40/40 (and, with A4_PROOF=full, two runs agree)."""
import pytest

from graders.proof.catalogue import MUTANTS, VARIANTS
from graders.items import AUTO_ITEMS
from tests.conftest import PROOF_FULL, run_grade


def test_catalogue_is_large_and_covers_every_item():
    assert len(MUTANTS) >= 30 and len(VARIANTS) >= 10
    per_item = {item.id: sum(1 for m in MUTANTS if m.item == item.id) for item in AUTO_ITEMS}
    assert min(per_item.values()) >= 3, per_item


def test_catalogue_holds_the_real_mistakes_and_real_correct_forms():
    """Issue 8.6 / 9.5 mutants and the public-code forms of correct answers (pytorch/examples)."""
    names = {c.name for c in MUTANTS + VARIANTS}
    for name in ("elbo: pytorch/examples sums over the batch", "kl: Monte-Carlo estimate",
                 "elbo: decodes mu without sampling", "celbo: conditions on class 0 for every row",
                 "train: ReLU instead of Tanh", "train: decoder without the final Sigmoid",
                 "reconstruct: decodes mu in eval mode", "elbo in the pytorch/examples style",
                 "celbo in the pytorch/examples style", "train with a test pass per epoch (pytorch/examples)"):
        assert name in names


def test_issue_16_cases():
    """Constants equal to the defaults, the seed, and the diagnoses real code needs; correct seeding forms."""
    mutants = {c.name: c.item for c in MUTANTS}
    assert mutants["train: Adam lr hard-coded to the default 1e-3"] == "q4.train"
    assert mutants["train: ignores the seed"] == "q4.train"
    assert mutants["train: seeds with a constant"] == "q4.train"
    assert mutants["train cvae: epochs hard-coded to the default 20"] == "q5.train"
    assert mutants["train: the decoder applies the sigmoid in its own forward"] == "q4.train"
    assert mutants["kl: logvar taken as sigma"] == "q4.kl_divergence"
    assert mutants["loglik: minus the squared error"] == "q4.binary_cross_entropy"
    variants = {c.name for c in VARIANTS}
    assert {"train cvae with a DataLoader seeded by its own generator",
            "train with the seed set once, unconditionally, and random_split"} <= variants


# Of the catalogue's cases in CI: the first mistake of every item, a correct variant, the first and the last,
# the rest spread over it (graders.proof.validate.sample_cases); all of them in full.
SAMPLE = 12


def test_the_sample_spreads_over_the_catalogue_and_covers_every_item():
    from graders.proof.catalogue import CASES
    from graders.proof.validate import sample_cases
    chosen = sample_cases(CASES, SAMPLE)
    assert len(chosen) == len(set(c.name for c in chosen)) == SAMPLE and chosen[0] is CASES[0]
    assert chosen[-1] is CASES[-1] and any(not c.is_mutant for c in chosen)
    assert {c.item for c in chosen if c.is_mutant} == {item.id for item in AUTO_ITEMS}
    assert sample_cases(CASES, None) == list(CASES)


@pytest.mark.slow
def test_validate_holds():
    """The expectations of ``SAMPLE`` cases, graded once (all, twice, marks compared, with ``A4_PROOF=full``:
    CI's determinism check is the real-code corpus graded idle and beside busy loops, tests/test_real_code.py)."""
    repeat, sample = (2, []) if PROOF_FULL else (1, ["--sample", SAMPLE])
    done = run_grade("validate", "--repeat", repeat, "--workers", "2", *sample, timeout=4800)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, "\n".join(line for line in lines if not line.startswith("ok "))[-3000:]
    cases = len(MUTANTS) + len(VARIANTS) if PROOF_FULL else SAMPLE
    assert sum(line.startswith("ok ") for line in lines) == cases + 2
    if repeat > 1:
        assert lines[-1].endswith(f"marks identical over {repeat} runs")
