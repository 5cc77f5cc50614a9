"""Public self-checks a student runs inside the notebook: a visible pass/fail per function.

Inlined into the template and the solution notebook. The constants are the
reference's outputs on fixed-seed inputs (``tests/test_selfcheck.py`` proves
they still are); they reveal values, not code. Each ``check_*`` prints one line
and returns ``True`` (pass), ``False`` (fail) or ``None`` (not done yet, or not
verifiable here). A check never fails a form the full grader accepts: what it
cannot verify without the reference (a loss written out instead of calling the
helpers) it says it cannot verify.
"""
import torch
from torch import nn

from reference.scaffold import CVAE, VAE, Encoder

SELF_CHECK_KL = 7.0045714          # kl_divergence(*torch.randn(2, 3, 10)) after torch.manual_seed(0)
SELF_CHECK_LOGLIK = -787.7623291     # binary_cross_entropy on 28 x 784 data after torch.manual_seed(0)
UNVERIFIED = "not verified here; the grader checks it against the reference"


def _report(name, run):
    try:
        problem = run()
    except NotImplementedError:
        print(f"… {name}: not done yet")
        return None
    except _Unverified:
        raise
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
    """The public inputs: KL on three rows (so that no factor is both "rows" and "the 1/2"), log-likelihood
    on 28 rows of 784 pixels."""
    torch.manual_seed(0)
    mu, logvar = torch.randn(2, 3, 10)
    x_hat = torch.rand(28, 784).clamp(0.01, 0.99)
    x = (torch.rand(28, 784) > 0.5).float()
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


def _counting_helpers(function, names, call):
    """``call()`` with each of ``names`` in ``function``'s globals (the notebook) replaced by a counting
    wrapper for the call's duration; returns ``(value, {name: calls})``."""
    space = getattr(function, "__globals__", {})
    counts = {name: 0 for name in names}
    saved = {name: space[name] for name in names if name in space}

    def counting(name, helper):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return helper(*args, **kwargs)
        return wrapper
    try:
        for name, helper in saved.items():
            space[name] = counting(name, helper)
        value = call()
    finally:
        space.update(saved)
    return value, counts


class _Unverified(Exception):
    """The check cannot tell right from wrong without the reference."""


def _loss_problem(loss, function, sample, helpers, kl_divergence, binary_cross_entropy):
    """``loss()`` must equal ``kl - loglik`` on ``sample()`` drawn from the same seed; a loss that does not
    call the helpers (``helpers``: the sampler's and the two terms' names) cannot be verified here."""
    torch.manual_seed(1)
    value, counts = _counting_helpers(function, helpers, loss)
    if not isinstance(value, torch.Tensor) or value.dim() != 0:
        return f"expected a 0-dim tensor, got {value!r}"
    if value.grad_fn is None:
        return "the loss carries no gradient: no .item(), float() or .detach() (training needs loss.backward())"
    torch.manual_seed(1)
    mu, logvar, x_hat, x = sample()
    expected = (kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)).item()
    if torch.isclose(value.detach().double(), torch.tensor(expected, dtype=torch.float64), rtol=1e-4, atol=1e-4):
        return None
    if not all(counts.values()):
        raise _Unverified
    return f"expected kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x) = {expected:.4f}, got {value.item():.4f}"


def _report_loss(name, run):
    try:
        return _report(name, run)
    except _Unverified:
        print(f"? {name}: written without calling the helpers: {UNVERIFIED}")
        return None


def check_elbo(elbo, reconstruct, kl_divergence, binary_cross_entropy):
    vae, x, _ = _tiny_model(VAE)
    return _report_loss("elbo", lambda: _loss_problem(
        lambda: elbo(vae, x), elbo, lambda: (*reconstruct(vae, x), x),
        ("reconstruct", "kl_divergence", "binary_cross_entropy"), kl_divergence, binary_cross_entropy))


def check_celbo(celbo, creconstruct, kl_divergence, binary_cross_entropy):
    cvae, x, y = _tiny_model(CVAE, 10)
    return _report_loss("celbo", lambda: _loss_problem(
        lambda: celbo(cvae, x, y), celbo, lambda: (*creconstruct(cvae, x, y), x),
        ("creconstruct", "kl_divergence", "binary_cross_entropy"), kl_divergence, binary_cross_entropy))


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
