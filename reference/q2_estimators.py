"""Question 2: the naive pathwise average is biased; the reparameterized one is not.

Example: ``X ~ N(theta, sigma^2)`` and ``f_theta(x) = theta * x^2``. Then
``L(theta) = E[f] = theta (theta^2 + sigma^2)`` and
``dL/dtheta = 3 theta^2 + sigma^2``. The naive average of ``d f_theta / d theta
= x^2`` estimates ``theta^2 + sigma^2``: it drops the ``f grad log P`` term of
equation (1). Writing ``x = theta + sigma * eps`` first gives an unbiased average.
"""
import torch


def estimates(theta=1.5, sigma=0.7, n=100_000, seed=0):
    """Rows ``(estimator, mean, standard error)`` with the closed form first."""
    generator = torch.Generator().manual_seed(seed)
    eps = torch.randn(n, generator=generator, dtype=torch.float64)
    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    x = t + sigma * eps
    f = t * x**2
    per_sample_reparam = (x**2 + 2 * t * x).detach()         # d/dtheta of theta (theta + sigma eps)^2
    per_sample_naive = (x**2).detach()                       # d f / d theta with x held fixed
    score = ((x - t) / sigma**2).detach()                    # d log N(x; theta, sigma^2) / d theta
    per_sample_score = (f.detach() * score + per_sample_naive)  # equation (1), both terms
    row = lambda name, v: (name, v.mean().item(), (v.std() / n**0.5).item())  # noqa: E731
    return [
        ("closed form 3 theta^2 + sigma^2", 3 * theta**2 + sigma**2, 0.0),
        row("naive: mean of grad f(X_i)", per_sample_naive),
        row("score function, equation (1)", per_sample_score),
        row("reparameterized: grad f(theta + sigma eps_i)", per_sample_reparam),
    ]


def format_table(rows):
    lines = [f"{'estimator':<48} {'estimate':>10} {'std. error':>11}"]
    lines += [f"{name:<48} {mean:>10.4f} {se:>11.4f}" for name, mean, se in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_table(estimates()))
