"""The reference baselines kept between runs (graders.judge.baseline_store): the key names everything a
baseline depends on, a kept one equals a freshly trained one, and a bad or unwritable store is a miss."""
import os

import pytest
import torch

from graders.judge import baseline_store
from graders.judge.baselines import Baseline, ReferenceBaselines, empty_model
from reference import scaffold


def _baseline(conditional=False):
    model = empty_model(conditional, seed=3)
    return Baseline(untrained=543.25, trained=101.0625 + 1e-9, wrong_label_gap=11.5 if conditional else 0.0,
                    losses=[550.0, 300.1234567891234, 0.1 + 0.2], seconds=4.2, model=model)


def test_the_key_names_the_kind_and_every_value_of_the_data():
    X, Y = torch.rand(20, 784), torch.arange(20) % 10
    key = baseline_store.key(False, [X, Y])
    assert key == baseline_store.key(False, [X.clone(), Y.clone()]) and len(key) == 32
    assert key != baseline_store.key(True, [X, Y])
    changed = X.clone()
    changed[7, 300] += 1e-6
    assert key != baseline_store.key(False, [changed, Y])
    assert key != baseline_store.key(False, [X, Y.to(torch.int32)])      # the dtype is part of it
    assert key != baseline_store.key(False, [X.reshape(40, 392), Y])      # and the shape


@pytest.mark.parametrize("conditional", [False, True])
def test_a_kept_baseline_comes_back_bit_for_bit(tmp_path, conditional):
    store = baseline_store.BaselineStore(tmp_path / "kept")
    kept = _baseline(conditional)
    store.save("k", kept.numbers(), kept.model.state_dict())
    path = tmp_path / "kept" / "k.safetensors"
    assert oct(path.stat().st_mode & 0o777) == "0o600" and oct((tmp_path / "kept").stat().st_mode & 0o777) == "0o700"
    numbers, state = store.load("k")
    assert numbers == kept.numbers()                       # floats through JSON: exact
    expected = kept.model.state_dict()
    assert sorted(state) == sorted(expected) and all(torch.equal(v, expected[k]) for k, v in state.items())
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["k.safetensors"]   # no temporary left


def test_a_damaged_or_missing_file_is_a_miss_and_an_unwritable_folder_keeps_nothing(tmp_path):
    store = baseline_store.BaselineStore(tmp_path)
    assert store.load("absent") is None
    (tmp_path / "torn.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"__metadata__\"")
    assert store.load("torn") is None
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    kept = _baseline()
    baseline_store.BaselineStore(blocked / "below").save("k", kept.numbers(), kept.model.state_dict())  # no raise
    assert not (blocked / "below").exists()


def test_a_kept_file_of_the_other_kind_is_trained_again_not_an_error(tmp_path, monkeypatch):
    """A CVAE's baseline asked for under a VAE's key (a collision, or a hand-copied file) is a miss."""
    from graders.judge import baselines
    store = baseline_store.BaselineStore(tmp_path)
    X, Y = torch.rand(20, 784), torch.arange(20) % 10
    cvae = _baseline(True)
    store.save(baseline_store.key(False, [X, Y, X, Y]), cvae.numbers(), cvae.model.state_dict())
    trained = _baseline(False)
    monkeypatch.setattr(baselines.ReferenceBaselines, "_train", lambda self, conditional: trained)
    assert ReferenceBaselines((X, Y), (X, Y), store=store).get(False) is trained


def test_the_default_folder_follows_the_environment(monkeypatch, tmp_path):
    from graders import settings
    monkeypatch.setenv(settings.CACHE_VARIABLE, str(tmp_path / "mine"))
    assert settings.Settings().baseline_cache == str(tmp_path / "mine")
    monkeypatch.delenv(settings.CACHE_VARIABLE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert settings.default_baseline_folder() == os.path.join(str(tmp_path / "xdg"), "a4-grader", "baselines")


@pytest.mark.slow
def test_a_kept_baseline_equals_a_freshly_trained_one(tmp_path):
    """The store is only a shortcut: the reference trained again from scratch gives the same numbers and
    weights as the kept copy (training is single-threaded from a fixed seed)."""
    X, Y = scaffold.get_mnist_data("train")
    HX, HY = scaffold.get_mnist_data("test")
    train, held_out = (X[:2000], Y[:2000]), (HX[:500], HY[:500])
    store = baseline_store.BaselineStore(tmp_path)
    first = ReferenceBaselines(train, held_out, store=store).get(False)       # trained, then kept
    assert len(list(tmp_path.iterdir())) == 1
    kept = ReferenceBaselines(train, held_out, store=store).get(False)        # read back
    fresh = ReferenceBaselines(train, held_out).get(False)                    # trained again, no store
    for other in (kept, fresh):
        assert (other.untrained, other.trained, other.losses) == (first.untrained, first.trained, first.losses)
        assert all(torch.equal(v, first.model.state_dict()[k]) for k, v in other.model.state_dict().items())
    assert fresh.trained < fresh.untrained - 50     # it learned: the comparison is not between two blanks
