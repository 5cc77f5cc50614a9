"""Statistical tests that the noise of a sampler is fresh standard normal noise.

The judge standardises ``eps = (z - mu) / exp(logvar / 2)`` for two calls on an
``(N, D)`` batch with ``logvar`` spread over [-3, 2]. Under a correct sampler
every entry is an independent N(0, 1) draw, and each statistic below is, to a
close normal approximation (n >= 4,096 terms each), standard normal:

- mean of all entries; variance in each quartile of ``logvar`` (a wrong
  standard deviation shows here); fraction of ``|eps| > 1.96`` (a bounded
  indicator; catches non-Gaussian noise of the right variance);
- products of neighbouring rows, of neighbouring columns, and of the two calls
  (noise shared across the batch, across dimensions, or reused between calls).

A statistic fails beyond ``THRESHOLD`` = 6.5 standard errors: two-sided
P(|Z| > 6.5) = 8.0e-11, so with ``len(STATISTICS)`` = 9 statistics the whole
check falsely fails a correct sampler with probability below 1e-9 (union
bound, plus the normal approximation's error, far below 1e-6 at these sizes).
The worker seeds its generator, so each submission's verdict is also repeatable.
"""
import math

import torch

THRESHOLD = 6.5
STATISTICS = ("mean", "variance q1", "variance q2", "variance q3", "variance q4", "tails",
              "rows independent", "dimensions independent", "calls independent")
FALSE_FAILURE_BOUND = len(STATISTICS) * math.erfc(THRESHOLD / math.sqrt(2))


def noise_statistics(eps1: torch.Tensor, eps2: torch.Tensor, logvar: torch.Tensor) -> dict[str, float]:
    """``{name: z-score}`` for float64 ``(N, D)`` standardised noise of two calls and the ``logvar`` used."""
    eps1, eps2, logvar = eps1.double(), eps2.double(), logvar.double()
    n = eps1.numel()
    scores = {"mean": eps1.mean().item() * math.sqrt(n)}
    edges = torch.quantile(logvar.flatten(), torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
    bins = torch.bucketize(logvar.flatten(), edges)
    flat = eps1.flatten()
    for q in range(4):
        members = flat[bins == q]
        scores[f"variance q{q + 1}"] = (members.pow(2).mean().item() - 1) * math.sqrt(len(members) / 2)
    p = math.erfc(1.96 / math.sqrt(2))
    scores["tails"] = ((flat.abs() > 1.96).double().mean().item() - p) / math.sqrt(p * (1 - p) / n)
    rows = (eps1[1:] * eps1[:-1]).flatten()
    dims = (eps1[:, 1:] * eps1[:, :-1]).flatten()
    calls = (eps1 * eps2).flatten()
    for name, products in (("rows independent", rows), ("dimensions independent", dims), ("calls independent", calls)):
        scores[name] = products.mean().item() * math.sqrt(len(products))
    return scores


def failing(scores: dict[str, float]) -> dict[str, float]:
    """The statistics beyond the threshold (NaN counts as failing)."""
    return {name: z for name, z in scores.items() if not abs(z) <= THRESHOLD}
