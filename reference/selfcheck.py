"""Public self-checks a student runs inside the notebook: a visible pass/fail per function.

Inlined into the template and the solution notebook. The constants are the
reference's outputs on fixed-seed inputs (``tests/test_selfcheck.py`` proves
they still are); they reveal values, not code. Each ``check_*`` prints one line
and returns ``True`` (pass), ``False`` (fail) or ``None`` (not done yet).
"""
import torch
from torch import nn

from reference.scaffold import CVAE, VAE, Encoder

SELF_CHECK_KL = 7.6054945          # kl_divergence(*torch.randn(2, 2, 10)) after torch.manual_seed(0)
SELF_CHECK_LOGLIK = -32.3261948     # binary_cross_entropy on 28 x 32 data after torch.manual_seed(0)


def _report(name, run):
    try:
        problem = run()
    except NotImplementedError:
        print(f"… {name}: not done yet")
        return None
    except Exception as error:  # a student's bug: report it, never crash the notebook
        problem = f"raised {type(error).__name__}: {error}"
    print(f"✔ {name}" if problem is None else f"✘ {name}: {problem}")
    return problem is None


def _scalar_problem(value, expected):
    if not isinstance(value, torch.Tensor) or value.dim() != 0 or value.dtype != torch.float32:
        return f"expected a 0-dim float32 tensor, got {value!r}"
    if not torch.isclose(value.detach(), torch.tensor(expected), rtol=1e-4, atol=1e-4):
        return f"expected {expected:.4f}, got {value.item():.4f}"
    return None


def _self_check_inputs():
    torch.manual_seed(0)
    mu, logvar = torch.randn(2, 2, 10)
    x_hat = torch.rand(28, 32).clamp(0.01, 0.99)
    x = (torch.rand(28, 32) > 0.5).float()
    return mu, logvar, x_hat, x


def _tiny_model(model_class, condition_dim=0):
    """A small model of the scaffold's classes, 6 binary images and their labels."""
    torch.manual_seed(0)
    small = Encoder(nn.Sequential(nn.Linear(784 + condition_dim, 8), nn.Tanh()), 8, 4)
    model = model_class(small, nn.Sequential(nn.Linear(4 + condition_dim, 784), nn.Sigmoid()))
    return model, (torch.rand(6, 784) > 0.5).float(), torch.arange(6) % 10


def check_kl_divergence(kl_divergence):
    mu, logvar, _, _ = _self_check_inputs()
    return _report("kl_divergence", lambda: _scalar_problem(kl_divergence(mu, logvar), SELF_CHECK_KL))


def check_binary_cross_entropy(binary_cross_entropy):
    _, _, x_hat, x = _self_check_inputs()
    return _report("binary_cross_entropy",
                   lambda: _scalar_problem(binary_cross_entropy(x_hat, x), SELF_CHECK_LOGLIK))


def _sample_problem(sample, shapes):
    out = sample()
    if not (isinstance(out, tuple) and len(out) == 3):
        return "expected a tuple (mu, logvar, x_hat)"
    if [tuple(t.shape) for t in out] != shapes:
        return f"expected shapes {shapes}, got {[tuple(t.shape) for t in out]}"
    if torch.equal(out[2], sample()[2]):
        return "two calls gave the same x_hat: draw fresh noise eps ~ N(0, I) on every call"
    if out[1].grad_fn is None or torch.autograd.grad(out[2].sum(), out[1], allow_unused=True)[0] is None:
        return "no gradient reaches logvar: build z = mu + exp(0.5 * logvar) * eps"
    return None


def check_reconstruct(reconstruct):
    vae, x, _ = _tiny_model(VAE)
    return _report("reconstruct", lambda: _sample_problem(lambda: reconstruct(vae, x), [(6, 4), (6, 4), (6, 784)]))


def check_creconstruct(creconstruct):
    cvae, x, y = _tiny_model(CVAE, 10)
    return _report("creconstruct",
                   lambda: _sample_problem(lambda: creconstruct(cvae, x, y), [(6, 4), (6, 4), (6, 784)]))


def _loss_problem(loss, sample, kl_divergence, binary_cross_entropy):
    """``loss()`` must equal ``kl - loglik`` on ``sample()`` drawn from the same seed."""
    torch.manual_seed(1)
    value = loss()
    torch.manual_seed(1)
    mu, logvar, x_hat, x = sample()
    return _scalar_problem(value, (kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)).item())


def check_elbo(elbo, reconstruct, kl_divergence, binary_cross_entropy):
    vae, x, _ = _tiny_model(VAE)
    return _report("elbo", lambda: _loss_problem(
        lambda: elbo(vae, x), lambda: (*reconstruct(vae, x), x), kl_divergence, binary_cross_entropy))


def check_celbo(celbo, creconstruct, kl_divergence, binary_cross_entropy):
    cvae, x, y = _tiny_model(CVAE, 10)
    return _report("celbo", lambda: _loss_problem(
        lambda: celbo(cvae, x, y), lambda: (*creconstruct(cvae, x, y), x), kl_divergence, binary_cross_entropy))


def check_get_activation_index(get_activation_index):
    acts = [torch.zeros(5, 4), torch.zeros(5, 3)]
    cases = {(1, 1): 0, (1, 4): 3, (2, 1): 4, (2, 3): 6}
    def problem():
        got = {case: get_activation_index(acts, *case) for case in cases}
        wrong = {case: got[case] for case in cases if got[case] != cases[case]}
        return None if not wrong else f"for (layer, unit) -> index expected {cases}, got {got}"
    return _report("get_activation_index", problem)


def when_done(action, *needed):
    """``action()``, or a "skipped" note while a TODO it uses (or a result in ``needed``) is missing."""
    if any(value is None for value in needed):
        print("… skipped: it needs results of cells above that are not done yet")
        return None
    try:
        return action()
    except NotImplementedError:
        print("… skipped: complete the TODOs it uses first")
        return None
