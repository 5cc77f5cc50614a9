"""Question 1: the gradient Lipschitz constant of the logistic loss, measured next to its bounds.

For ``c(w) = mean_i BCE(sigmoid(x_i . w), y_i)`` the Hessian is
``(1/n) sum_i s_i (1 - s_i) x_i x_i^T`` with ``s_i (1 - s_i) <= 1/4``, so the
smallest gradient Lipschitz constant is at most ``lambda_max(X^T X) / (4 n)``,
which is at most 1/4 (hence at most the answer's L = 1) when ``||x_i|| <= 1``.
"""
import torch


def logistic_gradient(w, X, y, lam=0.0):
    """Gradient of ``c(w) + lam / (2 n) ||w||^2``; ``X`` float64 ``(n, d)``, ``w`` ``(d,)``."""
    n = len(X)
    return X.T @ (torch.sigmoid(X @ w) - y) / n + lam / n * w


def largest_ratio(X, y, lam=0.0, pairs=2000, scale=3.0, seed=0):
    """Max over random pairs of ``||grad(w1) - grad(w2)|| / ||w1 - w2||``: a lower estimate of L."""
    generator = torch.Generator().manual_seed(seed)
    d = X.shape[1]
    best = 0.0
    for _ in range(pairs):
        w1 = torch.randn(d, generator=generator, dtype=X.dtype) * scale
        w2 = w1 + torch.randn(d, generator=generator, dtype=X.dtype) * 1e-3
        ratio = (logistic_gradient(w1, X, y, lam) - logistic_gradient(w2, X, y, lam)).norm() / (w1 - w2).norm()
        best = max(best, ratio.item())
    return best


def lipschitz_table(n=200, d=5, p=50, lam=1.0, seed=0):
    """Rows ``(setting, measured, tight bound, answer's bound)`` for the three parts of Q1."""
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=generator, dtype=torch.float64)
    X = X / X.norm(dim=1, keepdim=True).clamp(min=1.0)  # ||x_i|| <= 1
    y = (torch.rand(n, generator=generator, dtype=torch.float64) < 0.5).double()
    centres = torch.rand(p, d, generator=generator, dtype=torch.float64) * 2 - 1
    Phi = torch.exp(-((X[:, None, :] - centres[None]) ** 2).sum(-1))  # RBF features in (0, 1]
    tight = lambda A: torch.linalg.eigvalsh(A.T @ A / len(A)).max().item() / 4  # noqa: E731
    return [
        ("(a) ||x_i|| <= 1", largest_ratio(X, y), tight(X), 1.0),
        (f"(b) + lambda/(2n)||w||^2, lambda={lam}", largest_ratio(X, y, lam), tight(X) + lam / n, 1.0 + lam / n),
        (f"(c) RBF features, p={p}", largest_ratio(Phi, y, scale=0.3), tight(Phi), p ** 0.5 * p ** 0.5 / 4),
    ]


def format_table(rows):
    lines = [f"{'setting':<40} {'measured':>10} {'tight bound':>12} {'answer bound':>13}"]
    lines += [f"{name:<40} {measured:>10.4f} {tight:>12.4f} {bound:>13.4f}" for name, measured, tight, bound in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_table(lipschitz_table()))
