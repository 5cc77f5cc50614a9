"""The reference answers, checked against independent closed forms and torch.distributions."""
import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from graders.judge import stats
from reference import vae as R
from reference.scaffold import CVAE, VAE, Encoder, get_mnist_data
from torch import nn


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kl_matches_closed_form_and_distributions(seed):
    g = torch.Generator().manual_seed(seed)
    mu, logvar = torch.randn(7, 5, generator=g) * 2, torch.rand(7, 5, generator=g) * 6 - 4
    value = R.kl_divergence(mu, logvar)
    by_hand = sum(0.5 * sum(m * m + math.exp(lv) - lv - 1 for m, lv in zip(mr.tolist(), lr.tolist()))
                  for mr, lr in zip(mu, logvar)) / 7
    library = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1).mean()
    assert value.dim() == 0 and value.dtype == torch.float32
    assert value.item() == pytest.approx(by_hand, rel=1e-5)
    assert value.item() == pytest.approx(library.item(), rel=1e-5)


def test_kl_is_zero_at_the_prior():
    assert R.kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4)).item() == 0.0


@pytest.mark.parametrize("seed", [0, 1])
def test_loglik_matches_closed_form_and_distributions(seed):
    g = torch.Generator().manual_seed(seed)
    x_hat = torch.rand(6, 784, generator=g) * 0.98 + 0.01
    x = (torch.rand(6, 784, generator=g) > 0.5).float()
    value = R.binary_cross_entropy(x_hat, x)
    by_hand = sum(sum(math.log(p) if t else math.log(1 - p) for p, t in zip(pr.tolist(), tr.tolist()))
                  for pr, tr in zip(x_hat, x)) / 6
    assert value.dim() == 0 and value.dtype == torch.float32 and value.item() < 0
    assert value.item() == pytest.approx(by_hand, rel=1e-5)
    assert value.item() == pytest.approx(Bernoulli(probs=x_hat).log_prob(x).sum(1).mean().item(), rel=1e-5)


def _model(conditional=False):
    torch.manual_seed(3)
    extra = 10 if conditional else 0
    encoder = Encoder(nn.Sequential(nn.Linear(784 + extra, 32), nn.Tanh()), 32, 16)
    decoder = nn.Sequential(nn.Linear(16 + extra, 784), nn.Sigmoid())
    return (CVAE if conditional else VAE)(encoder, decoder)


def test_reconstruct_noise_is_fresh_standard_normal():
    model = _model()
    x = (torch.rand(2048, 784) > 0.5).float()
    recorded = []
    model.decoder.register_forward_pre_hook(lambda module, args: recorded.append(args[0]))
    mu, logvar, x_hat = R.reconstruct(model, x)
    R.reconstruct(model, x)
    std = (0.5 * logvar).exp()
    eps1, eps2 = ((z - mu) / std for z in recorded)
    assert stats.failing(stats.noise_statistics(eps1.detach(), eps2.detach(), logvar.detach())) == {}
    assert x_hat.shape == (2048, 784) and mu.shape == logvar.shape == (2048, 16)
    grad_mu, grad_logvar = torch.autograd.grad(recorded[0].sum(), [mu, logvar])
    assert torch.allclose(grad_mu, torch.ones_like(mu))
    assert torch.allclose(grad_logvar, 0.5 * (recorded[0] - mu).detach(), atol=1e-6)


@pytest.mark.parametrize("conditional", [False, True])
def test_elbo_is_kl_minus_loglik_of_one_reconstruction(conditional):
    model = _model(conditional)
    x, y = (torch.rand(9, 784) > 0.5).float(), torch.arange(9) % 10
    torch.manual_seed(5)
    loss = R.celbo(model, x, y) if conditional else R.elbo(model, x)
    torch.manual_seed(5)
    mu, logvar, x_hat = R.creconstruct(model, x, y) if conditional else R.reconstruct(model, x)
    assert loss.item() == pytest.approx((R.kl_divergence(mu, logvar) - R.binary_cross_entropy(x_hat, x)).item())


def test_training_lowers_held_out_loss_clearly():
    X, _ = get_mnist_data("test")

    def held_out(model):
        torch.manual_seed(0)
        with torch.no_grad():
            return R.elbo(model, X).item()

    before, after = held_out(R.train_mnist_vae(epochs=0)), held_out(R.train_mnist_vae(epochs=3))
    assert before > 500 and after < 0.5 * before, (before, after)


def test_cvae_training_uses_labels():
    X, Y = get_mnist_data("test")
    model = R.train_mnist_cvae(epochs=20)
    torch.manual_seed(0)
    with torch.no_grad():
        right = R.celbo(model, X, Y).item()
        wrong = R.celbo(model, X, (Y + 3) % 10).item()
    assert wrong - right > 3, (right, wrong)
