"""The stand-ins for ``kl_divergence`` and ``binary_cross_entropy`` while a student's ``elbo``/``celbo``
is probed: known linear functionals of their inputs, not the real losses (so a loss item is judged on
how it combines the parts, never on the parts themselves). The probe (``worker.probes``), the self-check
(``selfcheck.probes``) and both judges compute with these same two functions.

``A``, ``C``: (batch, latent) weights; ``E``: (batch, 784) weights; every tensor of one dtype. Each
returns a 0-dim tensor.
"""


def kl(mu, logvar, A, C):
    """Stands in for ``kl_divergence(mu, logvar)``: ``(sum(mu * A) + sum(logvar * C)) / batch``."""
    return ((mu * A).sum() + (logvar * C).sum()) / len(mu)


def loglik(x_hat, x, E):
    """Stands in for ``binary_cross_entropy(x_hat, x)``: ``sum(x_hat * E * (1 + x)) / batch``."""
    return (x_hat * E * (1 + x)).sum() / len(x)
