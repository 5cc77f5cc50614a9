"""The notebook's public constants are still the reference's outputs; the checks catch mistakes."""
import pytest
import torch

from reference import selfcheck, vae as R


def test_constants_are_the_reference_outputs():
    mu, logvar, x_hat, x = selfcheck._self_check_inputs()
    assert R.kl_divergence(mu, logvar).item() == pytest.approx(selfcheck.SELF_CHECK_KL, abs=1e-5)
    assert R.binary_cross_entropy(x_hat, x).item() == pytest.approx(selfcheck.SELF_CHECK_LOGLIK, abs=1e-4)


def test_checks_pass_the_reference(capsys):
    assert selfcheck.check_kl_divergence(R.kl_divergence)
    assert selfcheck.check_binary_cross_entropy(R.binary_cross_entropy)
    assert selfcheck.check_reconstruct(R.reconstruct)
    assert selfcheck.check_creconstruct(R.creconstruct)
    assert selfcheck.check_elbo(R.elbo, R.reconstruct, R.kl_divergence, R.binary_cross_entropy)
    assert selfcheck.check_celbo(R.celbo, R.creconstruct, R.kl_divergence, R.binary_cross_entropy)


def test_checks_report_mistakes_and_not_done(capsys):
    assert selfcheck.check_kl_divergence(lambda mu, lv: (mu**2).sum()) is False
    assert "expected 7.6055" in capsys.readouterr().out

    def unfinished(*args):
        raise NotImplementedError

    assert selfcheck.check_elbo(unfinished, R.reconstruct, R.kl_divergence, R.binary_cross_entropy) is None
    assert "not done yet" in capsys.readouterr().out
    assert selfcheck.check_reconstruct(lambda vae, x: (*vae.encoder(x), vae.decoder(vae.encoder(x)[0]))) is False
    assert "fresh noise" in capsys.readouterr().out
