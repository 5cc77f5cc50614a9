"""Judging ``elbo`` and ``celbo``: kl - loglik on one fresh reconstruction, with the grader's helpers
(recording stand-ins in the probe) or written out, and the 0-dim form, judged on any value."""
from __future__ import annotations

from typing import TYPE_CHECKING, cast

import torch

from graders.judge import stats
from graders.judge.childdata import View
from graders.judge.evidence import UNVERIFIED, close, fmt, probe_facts, scalar_at, tensor_at, type_text
from graders.judge.sampler import class_part_text, one_hot
from graders.judge.scalar import kl_reference, loglik_reference, scale_hint
from graders.results import Check, ItemResult
from worker import standins

if TYPE_CHECKING:
    from graders.items import AutoItem
    from graders.judge.evidence import Context, Outcome


def _stand_in_loss(inputs: dict[str, torch.Tensor], mu: torch.Tensor, logvar: torch.Tensor, x_hat: torch.Tensor,
                   x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The probe's stand-in ``kl_divergence`` and ``binary_cross_entropy`` (known linear functionals)."""
    return (standins.kl(mu, logvar, inputs["A"].double(), inputs["C"].double()),
            standins.loglik(x_hat, x, inputs["E"].double()))


def _sample_problem(inputs: dict[str, torch.Tensor], z1: torch.Tensor, z2: torch.Tensor | None) -> str:
    """Why the decoded ``z`` (first call; ``z2`` of a second call or None) is not a fresh reparameterized
    sample: ``""`` when it is the stand-in reconstruct's exact sample or passes the noise statistics."""
    mu, logvar = inputs["mu"].double(), inputs["logvar"].double()
    std = torch.exp(0.5 * logvar)
    if torch.allclose(z1, mu + std * inputs["eps"].double()[: len(mu)], rtol=1e-4, atol=1e-4):
        return ""
    if torch.allclose(z1, mu, rtol=1e-6, atol=1e-6):
        return ("it decodes mu without sampling: the loss must decode a fresh sample z = mu + exp(logvar / 2) * eps "
                "(as reconstruct does)")
    eps1 = (z1 - mu) / std
    scores = stats.noise_statistics(eps1, (z2 - mu) / std if z2 is not None else eps1, logvar)
    if z2 is None:
        scores.pop("calls independent")
    bad = stats.failing(scores)
    if bad:
        return ("the decoded z is not mu + exp(logvar / 2) * eps with fresh eps ~ N(0, I) ("
                + ", ".join(f"{k} off by {v:.1f} standard errors" for k, v in list(bad.items())[:2]) + ")")
    return ""


def _monte_carlo(t: dict[str, torch.Tensor], inputs: dict[str, torch.Tensor], conditional: bool, latent: int) -> bool:
    """True when a call's value is the one-sample Monte-Carlo loss at its own ``z`` rather than the
    closed-form one: it matches the former to float precision and the latter only loosely (the
    estimate can land within the value tolerance of the closed form by chance). A correct float32 loss
    is flagged only if it is more than 2e-3 off the closed form (float noise is ~1e-4 here) and the
    estimate's own error happens to fall within a tenth of that: below 1e-6 per call."""
    mu, logvar, x, y = inputs["mu"].double(), inputs["logvar"].double(), inputs["x"].double(), inputs["y"]
    for call in (1, 2):
        received, z_full = scalar_at(t, f"value{call}"), tensor_at(t, f"decoder_in{call}")
        if received is None or z_full is None or z_full.shape[1] < latent or len(z_full) != len(mu):
            continue
        z = z_full[:, :latent].double()
        dec_in = torch.cat([z, one_hot(y)], 1) if conditional else z
        loglik = loglik_reference(torch.sigmoid(dec_in @ inputs["dec_w"].double().T + inputs["dec_b"].double()), x)
        closed = float(kl_reference(mu, logvar).double() - loglik.double())
        sampled = float(_monte_carlo_kl(mu, logvar, z) - loglik.double())
        value = float(received)
        if abs(value - closed) > 2e-3 and abs(value - sampled) * 10 < abs(value - closed):
            return True
    return False


def _monte_carlo_kl(mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The one-sample estimate of KL(q(z|x) || N(0, I)) at ``z``, averaged over rows (float64)."""
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    log_q = -0.5 * (logvar + (z - mu) ** 2 / logvar.exp()).sum(1)
    log_p = -0.5 * (z ** 2).sum(1)
    return (log_q - log_p).mean()


def _decoded_problems(t: dict[str, torch.Tensor], first: View, inputs: dict[str, torch.Tensor], conditional: bool,
                      width: int) -> list[str]:
    """Why what the loss decoded is not one fresh reparameterized sample of the contract's inputs (for a
    CVAE: ``one_hot(y)`` appended on both inputs); empty when it is."""
    mu, x, y = inputs["mu"].double(), inputs["x"].double(), inputs["y"]
    latent = mu.shape[1]
    problems = []
    decoder_calls = first.integer("decoder", -1)
    z_full1, z_full2 = tensor_at(t, "decoder_in1", (len(mu), width)), tensor_at(t, "decoder_in2", (len(mu), width))
    encoder_in = tensor_at(t, "encoder_in1")
    if decoder_calls != 1:
        return [f"the decoder ran {decoder_calls} times in one call ({first.integer('reconstruct', 0)} "
                "reconstruct calls): decode once per call"]
    if z_full1 is None:
        got = tensor_at(t, "decoder_in1")
        return [f"the decoder got a tensor of shape {tuple(got.shape) if got is not None else '?'}, "
                f"not ({len(mu)}, {width})"]
    if conditional:
        if encoder_in is None or encoder_in.shape != (len(mu), 794) or not close(encoder_in[:, :784], x):
            problems.append("the encoder did not get append_class_to_data(x, y)"
                            + (f" (it got a tensor of shape {tuple(encoder_in.shape)})" if encoder_in is not None else ""))
        elif not torch.equal(encoder_in[:, 784:], one_hot(y)):
            problems.append(f"the encoder got {class_part_text(encoder_in[:, 784:], y)}")
        if not torch.equal(z_full1[:, latent:], one_hot(y)):
            problems.append(f"the decoder got {class_part_text(z_full1[:, latent:], y)}")
    elif encoder_in is not None and not close(encoder_in, x):
        problems.append("the encoder did not get x")
    sample = _sample_problem(inputs, z_full1[:, :latent], z_full2[:, :latent] if z_full2 is not None else None)
    return problems + ([sample] if sample else [])


MONTE_CARLO_HINT = ("your KL is a one-sample Monte-Carlo estimate, log q(z|x) - log p(z) at the sample: its value "
                    "is random; use the closed form (kl_divergence)")


def _wrong_value_hint(t: dict[str, torch.Tensor], received: torch.Tensor,
                      parts: tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]], context: Context,
                      inputs: dict[str, torch.Tensor], z: torch.Tensor) -> str:
    """Why a loss value differs, from the evidence only; "" when no diagnosis fits."""
    kl, loglik, x_hat, candidates = parts
    mu, logvar, x = inputs["mu"].double(), inputs["logvar"].double(), inputs["x"].double()
    arg0 = t.get("loglik_arg0")
    if close(received, kl + loglik, 1e-3, 1e-3):
        return "binary_cross_entropy is a log-likelihood: subtract it (loss = kl - loglik)"
    if close(received, loglik - kl, 1e-3, 1e-3):
        return "that is the ELBO itself; return its negative, the loss to minimise (kl - loglik)"
    if isinstance(arg0, torch.Tensor) and close(arg0, x):
        return "call binary_cross_entropy(x_hat, x): x_hat first"
    if isinstance(t.get("kl_arg0"), torch.Tensor) and close(t["kl_arg0"], logvar):
        return "call kl_divergence(mu, logvar): mu first"
    if context.public:
        return next((h for h in (scale_hint(received, c, len(mu), 784, "pixels") for c in candidates) if h), "")
    reference_kl = kl_reference(mu, logvar).double()
    if close(received, _monte_carlo_kl(mu, logvar, z) - loglik_reference(x_hat, x).double(), 1e-4, 1e-3):
        return MONTE_CARLO_HINT
    squared = ((x - x_hat) ** 2).sum(1).mean()
    for factor in (1, len(mu)):
        if close(received, factor * (reference_kl + squared), 1e-4, 1e-3):
            return ("your reconstruction term is the squared error sum((x - x_hat)^2)"
                    + (f" and it sums over the batch ({len(mu)} rows)" if factor > 1 else "")
                    + ": the loss is kl_divergence - binary_cross_entropy, the Bernoulli log-likelihood")
    return next((h for h in (scale_hint(received, c, len(mu), 784, "pixels") for c in candidates) if h), "")


def _value_verdict(t: dict[str, torch.Tensor], first: View, received: torch.Tensor, inputs: dict[str, torch.Tensor],
                   context: Context, conditional: bool, z_full1: torch.Tensor) -> tuple[bool, str, str, list[str]]:
    """``(value_ok, hint, cause, notes)`` of a loss whose decoded sample is right."""
    mu, logvar, x, y = inputs["mu"].double(), inputs["logvar"].double(), inputs["x"].double(), inputs["y"]
    latent = mu.shape[1]
    dec_in = torch.cat([z_full1[:, :latent], one_hot(y)], 1) if conditional else z_full1
    x_hat = torch.sigmoid(dec_in @ inputs["dec_w"].double().T + inputs["dec_b"].double())
    kl, loglik = _stand_in_loss(inputs, mu, logvar, x_hat, x)
    candidates = [kl - loglik]
    if not context.public:  # written out, in full or in part (its own KL beside the grader's loglik ...)
        reference_kl, reference_loglik = kl_reference(mu, logvar).double(), loglik_reference(x_hat, x).double()
        candidates += [reference_kl - reference_loglik, reference_kl - loglik, kl - reference_loglik]
    # rtol 1e-4: a loss of ~550 nats is dominated by its log-likelihood; a KL off by half a nat
    # (a one-sample Monte-Carlo estimate) must not pass within the float32 noise (~1e-5 relative)
    value_ok = any(close(received, c, 1e-4, 1e-3) for c in candidates)
    if value_ok and not context.public and _monte_carlo(t, inputs, conditional, latent):
        return False, MONTE_CARLO_HINT, "", []
    if value_ok:
        return True, "", "", []
    if context.public and not (first.integer("kl", 0) >= 1 and first.integer("loglik", 0) >= 1):
        return True, "", "unverified", [f"the loss is written without calling kl_divergence and "
                                        f"binary_cross_entropy: its value is {UNVERIFIED}"]
    hint = _wrong_value_hint(t, received, (kl, loglik, x_hat, candidates), context, inputs, z_full1[:, :latent])
    return False, hint, "", []


def judge_loss(item: AutoItem, outcome: Outcome, context: Context) -> ItemResult:
    """``(c)elbo``: kl - loglik on one reconstruction, with the grader's helpers or written out.

    The judge checks what the child decoded (a fresh reparameterized sample; for the CVAE, ``one_hot(y)``
    appended on both the encoder's and the decoder's input), then computes the expected value itself:
    from the pinned ``mu``/``logvar``, the validated sample and its own decoder weights. The form (a 0-dim
    tensor carrying gradients) is judged on any value."""
    conditional = item.conditional
    inputs = context.inputs[item.id]
    marks = dict(item.checks)
    t, meta = outcome.tensors, probe_facts(outcome)
    width = inputs["mu"].shape[1] + (10 if conditional else 0)
    calls = meta.views("calls", cap=2)
    first = calls[0] if calls else View({})
    received = scalar_at(t, "value1")
    out = meta.view("out")
    notes: list[str]
    value_ok, hint, cause, notes, problems = False, "", "", [], []
    if received is None:
        hint = "return the loss as a tensor"
    else:
        problems = _decoded_problems(t, first, inputs, conditional, width)
    if received is not None and not problems:
        value_ok, hint, cause, notes = _value_verdict(t, first, received, inputs, context, conditional,
                                                      cast(torch.Tensor, tensor_at(t, "decoder_in1", (len(inputs["mu"]), width))))
    elif problems:
        hint = ("decode once per call, a fresh sample z = mu + exp(0.5 * logvar) * eps (call "
                + ("creconstruct" if conditional else "reconstruct") + " once)"
                + ("; append each row's own label: append_class_to_data(x, y) and append_class_to_data(z, y)"
                   if conditional else ""))
    checks = [Check("value: kl - loglik on one fresh reconstruction", marks["value"], marks["value"] if value_ok else 0,
                    value_ok, "kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)",
                    "; ".join(problems) or (fmt(received) if received is not None else type_text(out)), hint)]
    scalar_ok = out.text("type") == "tensor" and out.integers("shape") == [] and out.flag("requires_grad")
    checks.append(Check("returns a 0-dim tensor that carries gradients", marks["form"],
                        marks["form"] if scalar_ok else 0, scalar_ok, "a 0-dim tensor with requires_grad",
                        type_text(out), "no .item() or float(): training needs loss.backward()"))
    own = meta.text("own_sampler", limit=200)
    if own:  # the probe ran the loss again with the student's own sampler (worker.probes.probe_loss)
        notes = [*notes, f"judged with your own {'creconstruct' if conditional else 'reconstruct'}: {own}"]
    return ItemResult.from_checks(item.marks, checks, cause=cause, notes=notes)
