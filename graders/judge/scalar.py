"""Judging ``kl_divergence`` and ``binary_cross_entropy``: values on fixed cases, the 0-dim float32 form,
gradients, and diagnoses of a wrong value that hold on every case.

Each check is judged on any value: a wrong value loses the value marks only; the form and whether
gradients flow are judged on what came back (against the reference's gradients when the value is right).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, cast

import torch

from graders.judge.evidence import close, fmt, probe_facts, scalar_at, scaled, tensor_at, type_text
from graders.results import Check, ItemResult
from reference import selfcheck

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from graders.items import AutoItem
    from graders.judge.childdata import View
    from graders.judge.evidence import Context, Outcome


def kl_reference(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    from reference.vae import kl_divergence
    return kl_divergence(mu, logvar)


def loglik_reference(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    from reference.vae import binary_cross_entropy
    return binary_cross_entropy(x_hat, x)


def _kl_with_variance(mu: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    """The contract's KL with ``variance`` in place of exp(logvar) (NaN where it is not positive)."""
    return (0.5 * (mu ** 2 + variance - variance.log() - 1).sum(1)).mean()


# (what the value is, the formula, the fix): each formula takes the inputs and the expected value
KL_MISTAKES = [
    ("has no factor 1/2", lambda mu, lv, v: 2 * v, "KL = 0.5 * sum(mu^2 + exp(logvar) - logvar - 1)"),
    ("has the wrong sign", lambda mu, lv, v: -v, "the KL divergence is >= 0"),
    ("leaves out the -1 term", lambda mu, lv, v: v + 0.5 * mu.shape[1], "include the -1 in each dimension"),
    ("uses exp(logvar) as the standard deviation", lambda mu, lv, v: _kl_with_variance(mu, (2 * lv).exp()),
     "exp(logvar) is the variance, not the std"),
    ("uses logvar as the standard deviation (sigma = logvar)", lambda mu, lv, v: _kl_with_variance(mu, lv ** 2),
     "logvar is the log of the variance: the variance is exp(logvar)"),
    ("uses exp(logvar / 2), the standard deviation, as the variance",
     lambda mu, lv, v: _kl_with_variance(mu, (0.5 * lv).exp()), "the variance is exp(logvar)"),
]
_LOGLIK_HINT = "binary_cross_entropy is the Bernoulli log-likelihood, sum over pixels of x log x_hat + (1 - x) log(1 - x_hat)"
LOGLIK_MISTAKES = [
    ("is the negative log-likelihood", lambda xh, x, v: -v,
     "binary_cross_entropy returns the log-likelihood (a value <= 0), as in the original notebook"),
    ("takes x_hat as logits (applies a sigmoid to it)",
     lambda xh, x, v: (x * torch.nn.functional.logsigmoid(xh) + (1 - x) * torch.nn.functional.logsigmoid(-xh))
     .sum(1).mean(), "x_hat is already a probability (the decoder ends in Sigmoid): no sigmoid or *_with_logits"),
    ("leaves out the (1 - x) log(1 - x_hat) term", lambda xh, x, v: (x * xh.log()).sum(1).mean(),
     "a pixel that is 0 contributes log(1 - x_hat)"),
    ("swaps x_hat and x", lambda xh, x, v: (xh * x.clamp(1e-12).log() + (1 - xh) * (1 - x).clamp(1e-12).log())
     .sum(1).mean(), "the signature is binary_cross_entropy(x_hat, x)"),
    ("is minus the squared error, -sum((x - x_hat)^2)", lambda xh, x, v: -((x - xh) ** 2).sum(1).mean(), _LOGLIK_HINT),
    ("is the squared error, sum((x - x_hat)^2)", lambda xh, x, v: ((x - xh) ** 2).sum(1).mean(), _LOGLIK_HINT),
]


def _factors(rows: int, columns: int, what: str) -> list[tuple[float, str]]:
    """``(factor, cause)`` for the reductions over the wrong axis a value can have (1: none)."""
    return [(1, ""), (rows, f"it sums over the batch ({rows} rows) instead of averaging over the rows"),
            (1 / columns, f"it averages over the {columns} {what} instead of summing them"),
            (rows / columns, f"it sums over the batch and averages over the {columns} {what}"),
            (1 / rows, "it divides by the batch size twice"),
            (columns, f"it multiplies by the number of {what}")]


def _fits(received: torch.Tensor, value: torch.Tensor | float) -> bool:
    value = torch.as_tensor(value).double()
    return bool(torch.isfinite(value)) and bool(torch.isclose(received, value, rtol=1e-3, atol=1e-3))


def diagnoses(mistakes: Sequence[tuple[str, Callable[..., object], str]],
              cases: Sequence[tuple[Sequence[torch.Tensor], torch.Tensor, torch.Tensor]], what: str) -> list[str]:
    """Every cause that explains the received value on EVERY case: a formula mistake of ``mistakes``
    (or none), times a reduction over a wrong axis (or none). ``cases``: ``[(args, expected, received)]``
    with float64 tensors. Returns sentences, most specific first; empty when nothing fits."""
    bases = [("", lambda *a: a[-1], "")] + list(mistakes)
    found = []
    for name, make, hint in bases:
        for index in range(len(_factors(1, 1, what))):
            if not name and index == 0:
                continue  # the expected value itself
            fitted = True
            for args, expected, received in cases:
                factor = _factors(len(args[0]), args[0].shape[1], what)[index][0]
                with torch.no_grad():
                    if not _fits(received, factor * torch.as_tensor(make(*args, expected)).double()):
                        fitted = False
                        break
            if fitted:
                args = max(cases, key=lambda c: len(c[0][0]))[0]
                factor, cause = _factors(len(args[0]), args[0].shape[1], what)[index]
                found.append(_sentence(name, hint, factor, cause))
    return found


def _sentence(name: str, hint: str, factor: float, cause: str) -> str:
    if not name:
        size = f"{factor:g} times" if factor >= 1 else f"1/{1 / factor:g} of"
        return f"your value is {size} the expected: {cause}"
    return f"your value {name}" + (f" and {cause}" if cause else "") + f": {hint}"


def _value_hint(is_kl: bool, cases: Sequence[tuple[Sequence[torch.Tensor], torch.Tensor, torch.Tensor]],
                randoms: list[tuple[torch.Tensor, torch.Tensor]], what: str) -> str:
    """Why the value differs, from the evidence only: randomness, NaN, a diagnosis that holds on every
    case (several are joined with "or"), else nothing (expected and received say it)."""
    if randoms:
        first, second = randoms[0]
        return (f"your value is random (two calls on the same inputs gave {fmt(first)} and {fmt(second)}): "
                + ("use the closed form 0.5 * sum(mu^2 + exp(logvar) - logvar - 1), not a Monte-Carlo estimate"
                   if is_kl else "compute the log-likelihood itself, with no sampling"))
    bad = next((c for c in cases if not torch.isfinite(c[2])), None)
    if bad is not None:  # no formula fits a non-finite value: the inputs it came from, and no guessed cause
        names = ("mu", "logvar") if is_kl else ("x_hat", "x")
        spans = ", ".join(f"{n} in [{fmt(a.min())}, {fmt(a.max())}]" for n, a in zip(names, bad[0]))
        return f"your value is NaN or inf on finite inputs ({spans})"
    if not cases:
        return ""
    found = diagnoses(KL_MISTAKES if is_kl else LOGLIK_MISTAKES, cases, what)
    return "; or ".join(found[:3])


def _per_row_hint(tensors: dict[str, torch.Tensor], case: str, expected: torch.Tensor, rows: int) -> str:
    """A vector of one value per row whose mean is the expected value: "average over the rows"."""
    value = tensor_at(tensors, f"{case}/value")
    if value is not None and value.dim() == 1 and len(value) == rows and rows > 1 and _fits(value.mean(), expected):
        return f"your value has one entry per row (shape ({rows},)): average them over the batch to one number"
    return ""


def _form_check(marks: float, metas: list[View], tensors: dict[str, torch.Tensor],
                cases: dict[str, tuple[list[torch.Tensor], torch.Tensor, torch.Tensor | None]], arguments: str) -> Check:
    """The 0-dim float32 form, judged on any value that comes from the inputs: a value that is the same on
    every case (expected values differ) and carries no gradient to them ignores its inputs, and a constant
    is no form of this loss (a stub ``return torch.tensor(0.0)`` earns nothing)."""
    bad = next((m for m in metas if not (m.text("type") == "tensor" and m.integers("shape") == []
                                         and m.text("dtype") == "float32")), None)
    if bad is not None:
        return Check("returns a 0-dim float32 tensor", marks, 0, False, "a 0-dim float32 tensor", type_text(bad),
                     "reduce with .mean()/.sum() to a 0-dim tensor; keep float32")
    constant = _constant(tensors, cases)
    if constant is not None:
        return Check("returns a 0-dim float32 tensor", marks, 0, False, "a 0-dim float32 tensor computed from "
                     + arguments, f"{fmt(constant)} on every input, with no gradient to them",
                     f"compute the value from {arguments} with torch operations")
    return Check("returns a 0-dim float32 tensor", marks, marks, True, "a 0-dim float32 tensor")


def _constant(tensors: dict[str, torch.Tensor], cases: dict[str, tuple[list[torch.Tensor], torch.Tensor, torch.Tensor | None]]
              ) -> torch.Tensor | None:
    """The value received on every case when it is one constant that no gradient joins to the inputs
    (NaN counts as one value); ``None`` otherwise, or with fewer than two cases."""
    values = [received for _, _, received in cases.values()]
    if len(values) < 2 or any(v is None for v in values):
        return None
    if any(key.startswith(f"{case}/grad_") for case in cases for key in tensors):
        return None
    first = cast("torch.Tensor", values[0])
    same = all(torch.equal(v, first) or bool(torch.isnan(v).all() and torch.isnan(first).all())
               for v in cast("list[torch.Tensor]", values))
    return first if same else None


def _gradient_check(item: AutoItem, tensors: dict[str, torch.Tensor],
                    cases: dict[str, tuple[list[torch.Tensor], torch.Tensor, torch.Tensor | None]],
                    expected_grads: dict[str, tuple[torch.Tensor, ...]], value_ok: bool, marks: float) -> Check:
    """Against the reference's gradients when the value is right; otherwise whether gradients reach the
    tensor inputs at all (finite, not all zero), which any value can show."""
    names = [n for n in item.args if n != "x"]
    ok = True
    for case, (args, _, _) in cases.items():
        for name, arg in zip(item.args, args):
            if name == "x":
                continue
            grad = tensors.get(f"{case}/grad_{name}")
            if value_ok:
                ok = ok and close(grad, expected_grads[case][item.args.index(name)], 1e-3, 1e-5)
            else:
                got = tensor_at(tensors, f"{case}/grad_{name}", arg.shape)
                ok = ok and got is not None and bool(torch.isfinite(got).all()) and bool((got != 0).any())
    what = " and ".join(names)
    return Check("gradients flow to the inputs", marks, marks if ok else 0, ok, f"gradients with respect to {what}",
                 "" if ok else "none or wrong ones",
                 "" if ok else "compute with torch operations on the inputs; no .item(), numpy or .detach() inside")


def judge_scalar(item: AutoItem, outcome: Outcome, context: Context) -> ItemResult:
    """``kl_divergence`` or ``binary_cross_entropy``: values on every case, 0-dim float32, gradients."""
    is_kl = item.args[0] == "mu"
    inputs = context.inputs[item.id]
    reference = kl_reference if is_kl else loglik_reference
    marks = dict(item.checks)
    probe = probe_facts(outcome)
    what = "latent dimensions" if is_kl else "pixels"
    names = ["c2"] if context.public else ["c0", "c1", "c2"]
    cases, expected_grads, randoms, metas, wrong = {}, {}, [], [], None
    for case in names:
        args = [inputs[f"{case}/{n}"].double() for n in item.args]
        metas.append(probe.view(case))
        if context.public:
            expected = torch.tensor(selfcheck.SELF_CHECK_KL if is_kl else selfcheck.SELF_CHECK_LOGLIK,
                                    dtype=torch.float64)
        else:
            leaves = [inputs[f"{case}/{n}"].clone().requires_grad_(True) for n in item.args]
            value = reference(*leaves)
            expected_grads[case] = torch.autograd.grad(value, leaves)
            expected = value.detach().double()
        received, again = scalar_at(outcome.tensors, f"{case}/value"), scalar_at(outcome.tensors, f"{case}/value2")
        cases[case] = (args, expected, received)
        if received is not None and again is not None and torch.isfinite(received) and not torch.isclose(
                received, again, rtol=1e-6, atol=1e-7):
            randoms.append((received, again))
        if wrong is None and not (received is not None and close(received, expected, rtol=1e-3, atol=1e-3)):
            wrong = case
    value_ok = wrong is None
    if value_ok:
        value_check = Check("value on fixed inputs", marks["value"], marks["value"], True)
    else:
        args, expected, received = cases[cast(str, wrong)]
        usable = cast("list[tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]]",
                      [c for c in cases.values() if c[2] is not None])
        hint = (_value_hint(is_kl, usable, randoms, what) if received is not None
                else _per_row_hint(outcome.tensors, cast(str, wrong), expected, len(args[0])))
        value_check = Check("value on fixed inputs", marks["value"], 0, False,
                            f"{expected.item():.6g} for inputs of shape {tuple(args[0].shape)}",
                            fmt(received) if received is not None else type_text(metas[names.index(cast(str, wrong))]),
                            hint)
    checks = [value_check, _form_check(marks["form"], metas, outcome.tensors, cases,
                                       " and ".join(item.args))]
    if context.public:  # one case and no gradient check: scaled to the item's marks
        return ItemResult.from_checks(item.marks, scaled(item, checks))
    checks.append(_gradient_check(item, outcome.tensors, cases, expected_grads, value_ok, marks["gradients"]))
    return ItemResult.from_checks(item.marks, checks)


def scale_hint(received: torch.Tensor | None, expected: torch.Tensor, rows: int, columns: int, what: str) -> str:
    """"your value is 64 times the expected: ..." when ``received`` is a reduction over a wrong axis of
    ``expected`` (``_factors``), else ""."""
    if received is None or not torch.isfinite(received) or abs(float(expected)) < 1e-9:
        return ""
    ratio = float(received) / float(expected)
    for factor, cause in _factors(rows, columns, what)[1:]:
        if factor != 1 and abs(ratio - factor) <= 1e-3 * abs(factor):
            return _sentence("", "", factor, cause)
    return ""
