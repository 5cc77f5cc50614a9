"""Weights trained elsewhere (issue 17, item 4): what the course secret promises, and the TA's flag.

MNIST is public, held-out images included. The red team recovered the old pixel permutation with 784
column hashes of the public training images and returned weights trained at home on the held-out
images: a wrong training loop went from 31/40 to 40/40, unflagged. Here: the hashes find nothing in
what the sandbox now sees (secret selection, order and noise), the same trick then earns nothing over
the same code without it, and a student who knows the shuffle anyway is flagged for the TA
(``graders.judge.suspicious``), beside a control that keeps 40/40 unflagged.
"""
import json
from unittest import mock

import pytest
import torch

from graders.proof import catalogue
from graders.judge import suspicious
from graders.judge import baselines as training
from graders.grading.secret import PixelPermutation
from graders.judge.suspicious import Evidence
from reference import scaffold
from tests.conftest import ROOT, run_grade
from tests.hostile_files import column_hashes, trained_elsewhere

SECRET = "a-test-course-secret"


def _found_columns(hashes, X):
    table = set(hashes.split(","))
    return sum(h in table for h in column_hashes(X).split(","))


def test_column_hashes_found_the_old_shuffle_and_find_nothing_now():
    X, Y = scaffold.get_mnist_data("train")
    hashes = column_hashes(X[:4000])
    shuffle = PixelPermutation.from_secret(SECRET)
    assert _found_columns(hashes, shuffle.shuffle(X[:4000])) == 784       # before: public rows, plain order
    seen, seen_y = shuffle.training_set(X, Y, 4000)
    assert seen.shape == (4000, 784) and seen.dtype == torch.float32 and set(seen.unique().tolist()) == {0.0, 1.0}
    assert _found_columns(hashes, seen) == 0                              # now: nothing to look up
    assert sorted(seen_y.tolist()) == sorted(Y[:4000].tolist())          # the embedded set: all, reordered
    blank = shuffle.shuffle(X[:4000]).sum(0) == 0                        # pixels never on in the public rows
    assert 100 < int(blank.sum()) and 0.007 < seen[:, blank].mean().item() < 0.013   # now on 1% of the time


def test_the_transform_is_the_secret_s_and_maps_back_exactly():
    X, Y = scaffold.get_mnist_data("train")
    one, again, other = (PixelPermutation.from_secret(s) for s in (SECRET, SECRET, "another"))
    assert torch.equal(one.training_set(X, Y, 500)[0], again.training_set(X, Y, 500)[0])
    assert not torch.equal(one.training_set(X, Y, 500)[0], other.training_set(X, Y, 500)[0])
    assert one.digest != other.digest and SECRET not in one.digest and len(one.digest) == 16
    hx, hy = scaffold.get_mnist_data("test")
    for conditional in (False, True):
        model = training.empty_model(conditional, seed=3)                # trained on shuffled pixels
        plain = training.load_state(conditional, one.to_plain(model.state_dict(), conditional))
        shuffled_loss = training.held_out_loss(model, conditional, one.shuffle(hx), hy)
        assert training.held_out_loss(plain, conditional, hx, hy) == pytest.approx(shuffled_loss, rel=1e-5)
    public = PixelPermutation.from_environment(public=True)
    assert torch.equal(public.training_set(X, Y, 1000)[0], X[:1000])


def _evidence(held_out, train, reference_held_out=191.3, reference_train=185.0):
    return Evidence("q4.train", held_out, train, reference_held_out, reference_train)


def test_the_rules_and_their_thresholds():
    honest_relu = _evidence(156.5, 150.9)                                # faster than the reference, honestly
    assert honest_relu.flags() == []
    home_on_held_out = _evidence(150.0, 190.0)                           # fitted to the held-out images
    assert len(home_on_held_out.flags()) == 1
    assert "does better on the held-out images (150.0) than on the training images it was given (190.0)" in (
        home_on_held_out.flags()[0])
    far = _evidence(191.3 - suspicious.FAR_MARGIN - 1, 191.3 - suspicious.FAR_MARGIN - 6)
    assert len(far.flags()) == 1 and "below the reference's 191.3 under the same budget" in far.flags()[0]
    edge = _evidence(191.3 - suspicious.FAR_MARGIN, 185.0 - suspicious.FAR_MARGIN + suspicious.GAP_MARGIN)
    assert edge.flags() == []


def _home_trained_vae(epochs=60):
    """A VAE trained 'at home' with the reference loop on the public held-out images, plain pixels."""
    from reference import vae
    hx, hy = scaffold.get_mnist_data("test")
    torch.manual_seed(5)
    with mock.patch.object(vae, "get_mnist_data", lambda split="train": (hx.clone(), hy.clone())):
        return vae.train_mnist_vae(epochs=epochs, batch_size=100).state_dict()


@pytest.mark.slow
@pytest.mark.proof
def test_weights_trained_elsewhere_earn_nothing_or_are_flagged(tmp_path):
    """One batch: the reference (control), a wrong training loop, the same loop returning home-trained
    weights mapped by column hashes (the red team's trick), and by the real shuffle (a student who knows
    it). Before: the hash trick took the wrong loop to 40/40, unflagged."""
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "control.ipynb").write_bytes((ROOT / "submissions" / "reference" / "A4.ipynb").read_bytes())
    wrong = catalogue.case_source(next(c for c in catalogue.MUTANTS if c.name == "train: maximises the loss"))
    (folder / "wrong.py").write_text(wrong)
    home = _home_trained_vae()
    X, _ = scaffold.get_mnist_data("train")
    (folder / "hashes.py").write_text(trained_elsewhere(wrong, home, hashes=column_hashes(X[:4000])))
    order = PixelPermutation.from_secret(SECRET).order
    (folder / "knows.py").write_text(trained_elsewhere(wrong, home, order=order))
    done = run_grade("grade", folder, "--out", tmp_path / "out", "--json", "--quiet", env={"A4_SECRET": SECRET})
    assert done.returncode == 0, done.stderr[-3000:]
    subs = {s["id"]: s for s in json.loads(done.stdout)["submissions"]}
    elsewhere = {i: [f for f in s["flags"] if "elsewhere" in f] for i, s in subs.items()}
    learns = {i: s["items"]["q4.train"]["awarded"] for i, s in subs.items()}
    print(f"\nmarks {({i: s['auto_awarded'] for i, s in subs.items()})}; q4.train {learns}; flags {elsewhere}")
    assert subs["control"]["auto_awarded"] == 40.0 and elsewhere["control"] == []
    assert subs["wrong"]["auto_awarded"] < 40.0 and elsewhere["wrong"] == []
    assert subs["hashes"]["auto_awarded"] == subs["wrong"]["auto_awarded"]   # the trick earns nothing
    assert subs["hashes"]["items"] == subs["wrong"]["items"]
    assert learns["knows"] > learns["wrong"]                                 # knowing the shuffle scores ...
    assert any("does better on the held-out images" in f for f in elsewhere["knows"]), subs["knows"]["flags"]
