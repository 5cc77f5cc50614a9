"""The code behind the written questions: Q1 bounds, Q2 estimators, Q3 seeds and plots, Q5(d)."""
import torch

from reference import q1_lipschitz, q2_estimators, q3_networks
import pytest

from tests.conftest import run_grade

pytestmark = pytest.mark.slow   # Q1-Q3's code runs in full (the inner loop is pytest -m 'not slow')


def test_q1_measured_constants_sit_under_the_bounds():
    for name, measured, tight, answer in q1_lipschitz.lipschitz_table():
        assert 0 < measured <= tight * 1.0001 <= answer, name


def test_q2_naive_average_is_biased_and_reparameterization_is_not():
    rows = {name.split(":")[0]: (mean, se) for name, mean, se in q2_estimators.estimates()}
    closed = rows["closed form 3 theta^2 + sigma^2"][0]
    naive, score, reparam = rows["naive"], rows["score function, equation (1)"], rows["reparameterized"]
    assert abs(naive[0] - closed) > 100 * naive[1]
    assert abs(reparam[0] - closed) < 5 * reparam[1] and abs(score[0] - closed) < 5 * score[1]


def test_q3_recorded_seeds_succeed_and_fail_as_claimed():
    X, labels = q3_networks.two_sinusoids()
    accuracy = {}
    for seed, layers in ((q3_networks.SUCCESSFUL_SEED_2_2_1, 2), (q3_networks.FAILED_SEED_2_2_1, 2),
                         (q3_networks.FAILED_SEED_2_1, 1)):
        net = q3_networks.train_classifier(q3_networks.make_classifier("sigmoid", layers, 2, seed=seed), X, labels)
        accuracy[(seed, layers)] = q3_networks.accuracy(net, X, labels)
    assert accuracy[(q3_networks.SUCCESSFUL_SEED_2_2_1, 2)] > 0.97
    assert accuracy[(q3_networks.FAILED_SEED_2_2_1, 2)] < 0.85
    assert accuracy[(q3_networks.FAILED_SEED_2_1, 1)] < 0.85


def test_q3_networks_start_like_flux():
    net = q3_networks.make_classifier("relu", 2, 16, seed=3)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    assert all(torch.count_nonzero(m.bias) == 0 for m in linears)
    for m in linears:  # Glorot-uniform: |w| <= sqrt(6 / (fan_in + fan_out))
        assert m.weight.abs().max() <= (6 / sum(m.weight.shape)) ** 0.5


def test_get_activation_index_numbers_from_one():
    acts = [torch.zeros(3, 4), torch.zeros(3, 2)]
    assert [q3_networks.get_activation_index(acts, 1, 1), q3_networks.get_activation_index(acts, 2, 2)] == [0, 5]


def test_figures_command_writes_every_plot(tmp_path):
    done = run_grade("figures", tmp_path, env={"A4_Q3_EPOCH_SCALE": "0.01"}, timeout=900)
    assert done.returncode == 0, done.stderr
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["q3a_decision_surface_identity.png", "q3a_decision_surface_relu.png",
                    "q3a_decision_surface_sigmoid.png", "q3b_hidden_units.png", "q3c_data_transformations.png",
                    "q3d_epoch_by_epoch.png", "q5d_generated.png"]
    for name in pngs:
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    assert "measured" in (tmp_path / "q1_lipschitz.txt").read_text()
