"""The stand-ins for ``kl_divergence`` and ``binary_cross_entropy`` while a student's ``elbo``/``celbo``
is probed: known linear functionals of their inputs, not the real losses (so a loss item is judged on
how it combines the parts, never on the parts themselves). The probe (``worker.probes``), the self-check
(``selfcheck.probes``) and both judges compute with these same two functions.

``A``, ``C``: (batch, latent) weights; ``E``: (batch, 784) weights; every tensor of one dtype. Each
returns a 0-dim tensor.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def kl(mu: torch.Tensor, logvar: torch.Tensor, A: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Stands in for ``kl_divergence(mu, logvar)``: ``(sum(mu * A) + sum(logvar * C)) / batch``."""
    return ((mu * A).sum() + (logvar * C).sum()) / len(mu)


def loglik(x_hat: torch.Tensor, x: torch.Tensor, E: torch.Tensor) -> torch.Tensor:
    """Stands in for ``binary_cross_entropy(x_hat, x)``: ``sum(x_hat * E * (1 + x)) / batch``."""
    return (x_hat * E * (1 + x)).sum() / len(x)
