"""The judge's inputs for every item, the same for every submission of a run.

Keys are ``"<item id>:<name>"``; a probe sees its item's names only. Shapes:
sampler items use N = 2,048 rows and a 16-dim latent; loss items 64 rows.
"""
import torch

from reference import selfcheck

GRADING_SEED = 20221208
LATENT = 16
SAMPLER_ROWS = 2048
LOSS_ROWS = 64


def _normal(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=generator)


def _uniform(generator: torch.Generator, low: float, high: float, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=generator) * (high - low) + low


def _binary(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return (torch.rand(*shape, generator=generator) > 0.5).float()


def _pinned(generator: torch.Generator, rows: int, condition_dim: int) -> dict[str, torch.Tensor]:
    return {
        "mu": _normal(generator, rows, LATENT),
        "logvar": _uniform(generator, -3.0, 2.0, rows, LATENT),
        "dec_w": _normal(generator, 784, LATENT + condition_dim) * 0.3,
        "dec_b": _normal(generator, 784) * 0.1,
        "x": _binary(generator, rows, 784),
        "y": torch.randint(0, 10, (rows,), generator=generator),
    }


def scalar_cases(generator: torch.Generator) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """KL and log-likelihood inputs: a batch, a few rows, and the notebook's public self-check inputs.

    Log-likelihood inputs are 784 pixels wide, as the contract's are: a function that hard-codes 784
    is correct and must not fail on another width."""
    mu, logvar, x_hat, x = selfcheck._self_check_inputs()
    kl = {"c0/mu": _normal(generator, 32, LATENT), "c0/logvar": _uniform(generator, -3, 2, 32, LATENT),
          "c1/mu": _normal(generator, 1, 5) * 2, "c1/logvar": _uniform(generator, -1, 1, 1, 5),
          "c2/mu": mu, "c2/logvar": logvar}
    loglik = {"c0/x_hat": _uniform(generator, 0.02, 0.98, LOSS_ROWS, 784), "c0/x": _binary(generator, LOSS_ROWS, 784),
              "c1/x_hat": _uniform(generator, 0.05, 0.95, 3, 784), "c1/x": _binary(generator, 3, 784),
              "c2/x_hat": x_hat, "c2/x": x}
    return kl, loglik


def loss_inputs(generator: torch.Generator, condition_dim: int) -> dict[str, torch.Tensor]:
    inputs = _pinned(generator, LOSS_ROWS, condition_dim)
    inputs.update(eps=_normal(generator, LOSS_ROWS, LATENT), A=_normal(generator, LOSS_ROWS, LATENT),
                  C=_normal(generator, LOSS_ROWS, LATENT), E=_normal(generator, LOSS_ROWS, 784))
    return inputs


def build_inputs(train_X: torch.Tensor, train_Y: torch.Tensor) -> dict[str, torch.Tensor]:
    """All items' inputs as ``{"item:name": tensor}``; ``train_X`` float32 (N, 784), ``train_Y`` int64 (N,)."""
    generator = torch.Generator().manual_seed(GRADING_SEED)
    kl, loglik = scalar_cases(generator)
    per_item = {
        "q4.kl_divergence": kl,
        "q4.binary_cross_entropy": loglik,
        "q4.reconstruct": _pinned(generator, SAMPLER_ROWS, 0) | {"G": _normal(generator, SAMPLER_ROWS, LATENT)},
        "q5.reconstruct": _pinned(generator, SAMPLER_ROWS, 10) | {"G": _normal(generator, SAMPLER_ROWS, LATENT)},
        "q4.elbo": loss_inputs(generator, 0),
        "q5.celbo": loss_inputs(generator, 10),
        "q4.train": {"X": train_X, "Y": train_Y},
        "q5.train": {"X": train_X, "Y": train_Y},
    }
    return {f"{item}:{name}": tensor for item, names in per_item.items() for name, tensor in names.items()}
