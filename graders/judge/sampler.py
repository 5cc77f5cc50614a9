"""Judging ``reconstruct`` and ``creconstruct`` on a pinned model: the returned triple, the conditioning
(CVAE), the noise (also after ``model.eval()``) and the reparameterized gradients.

A z that is not ``mu + exp(logvar / 2) * eps`` is tested against the other standard deviations real code
uses by mistake (exp(logvar), logvar itself, ...): the message names the one the evidence shows, and the
gradient check then judges the reparameterization of THAT formula, so one mistake is charged once.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from graders.judge import stats
from graders.judge.evidence import close, probe_facts, tensor_at, type_text
from graders.results import Check, ItemResult

if TYPE_CHECKING:
    from collections.abc import Callable

    from graders.items import AutoItem
    from graders.judge.childdata import View
    from graders.judge.evidence import Context, Outcome

    # an entry of STD_MISTAKES: (std as a function of logvar, its derivative, what the code does)
    _StdMistake = tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor], str]

NOISE_NAME = "z = mu + exp(logvar / 2) * eps with fresh eps ~ N(0, I)"

# (std as a function of logvar, its derivative, what the code does): the mistakes real code makes
STD_MISTAKES = [
    (lambda lv: lv.exp(), lambda lv: lv.exp(),
     "z = mu + exp(logvar) * eps: it uses exp(logvar), the variance, as the standard deviation"),
    (lambda lv: lv, lambda lv: torch.ones_like(lv),
     "z = mu + logvar * eps: it uses logvar itself as the standard deviation (sigma)"),
    (lambda lv: (0.25 * lv).exp(), lambda lv: 0.25 * (0.25 * lv).exp(),
     "z = mu + exp(logvar / 4) * eps: it takes exp(logvar / 2), the standard deviation, as the variance"),
    (lambda lv: torch.ones_like(lv), lambda lv: torch.zeros_like(lv),
     "z = mu + eps: it leaves out the standard deviation"),
]
STD_HINT = "the standard deviation is exp(0.5 * logvar) (logvar is the log-variance): z = mu + exp(0.5 * logvar) * eps"


def one_hot(y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.one_hot(y, 10).double()


def class_part_text(part: torch.Tensor, y: torch.Tensor) -> str:
    """What a recorded class part is, in words, when it is not ``one_hot(y)``."""
    if part.shape != (len(y), 10):
        return f"a class part of shape {tuple(part.shape)}"
    if torch.equal(part, one_hot(y)):
        return "one_hot(y)"
    rows_one_hot = bool(((part == 0) | (part == 1)).all() and (part.sum(1) == 1).all())
    if rows_one_hot:
        classes = part.argmax(1)
        if bool((classes == classes[0]).all()):
            return f"one_hot({int(classes[0])}) for every row instead of each row's label"
        if bool((classes == (y + 1) % 10).all()):
            return "the next class's one-hot (y + 1) instead of y's"
        return "one-hot vectors of other classes than y"
    return "values that are not one_hot(y)"


def _returns_check(t: dict[str, torch.Tensor], meta: View, mu: torch.Tensor, logvar: torch.Tensor, marks: float) -> Check:
    calls = meta.views("calls", cap=3)
    out = meta.view("out")
    parts = out.views("items", cap=8)
    problems = []
    if out.text("type") not in ("tuple", "list") or len(parts) != 3:
        problems.append(f"returned {type_text(out)}, not a tuple (mu, logvar, x_hat)")
    else:
        if not (close(t.get("out_mu"), mu) and close(t.get("out_logvar"), logvar)):
            problems.append("mu and logvar are not the encoder's outputs")
        decoded = tensor_at(t, "decoder_out1")
        if decoded is None or not close(t.get("out_x_hat"), decoded):
            problems.append("x_hat is not the decoder's output")
        if any(p.text("dtype") != "float32" for p in parts):
            problems.append("not all float32")
    if calls and (calls[0].integer("encoder", -1) != 1 or calls[0].integer("decoder", -1) != 1):
        problems.append(f"called the encoder {calls[0].integer('encoder', -1)} and the decoder "
                        f"{calls[0].integer('decoder', -1)} times per call (expected once each)")
    return Check("returns (mu, logvar, x_hat) from one encoder and one decoder call", marks,
                 0 if problems else marks, not problems, "mu, logvar = model.encoder(...); x_hat = model.decoder(...)",
                 "; ".join(problems), "return mu, logvar, x_hat in that order" if problems else "")


def _conditions_check(t: dict[str, torch.Tensor], inputs: dict[str, torch.Tensor], z1: torch.Tensor | None, latent: int,
                      marks: float) -> Check:
    x, y = inputs["x"], inputs["y"]
    width = latent + 10
    encoder_in = tensor_at(t, "encoder_in")
    enc_ok = close(encoder_in, torch.cat([x.double(), one_hot(y)], 1))
    raw_z = tensor_at(t, "decoder_in1")
    dec_ok = z1 is not None and torch.equal(z1[:, latent:], one_hot(y))
    received = []
    if not enc_ok:
        if encoder_in is None:
            received.append("the encoder got nothing")
        elif encoder_in.shape == (len(y), 794) and close(encoder_in[:, :784], x.double()):
            received.append(f"the encoder got {class_part_text(encoder_in[:, 784:], y)}")
        else:
            received.append(f"the encoder got a tensor of shape {tuple(encoder_in.shape)}")
    if not dec_ok:
        if raw_z is None:
            received.append("the decoder got nothing")
        elif raw_z.shape == (len(y), width):
            received.append(f"the decoder got {class_part_text(raw_z[:, latent:], y)}")
        else:
            received.append(f"the decoder got a tensor of shape {tuple(raw_z.shape)}")
    half = marks / 2
    return Check("conditions on the class", marks, (half if enc_ok else 0) + (half if dec_ok else 0),
                 enc_ok and dec_ok, "encoder on append_class_to_data(x, y); decoder on append_class_to_data(z, y)",
                 "; ".join(received), "" if enc_ok and dec_ok else "append the same labels y to both inputs")


def std_mistake(z1: torch.Tensor, z2: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> _StdMistake | None:
    """The ``STD_MISTAKES`` entry whose standard deviation makes ``(z - mu) / std`` pass every noise
    statistic (fresh standard normal noise, independent entries, the same variance in every logvar
    quartile), or None. Where that std is near 0 (logvar as sigma, logvar ~ 0) the ratio is all rounding:
    those few entries (about 1%) are replaced by draws of a fixed generator before testing."""
    filler = torch.Generator().manual_seed(11)
    for std_of, derivative, text in STD_MISTAKES:
        std = std_of(logvar)
        usable = std.abs() > 0.05
        if usable.double().mean() < 0.9:
            continue
        fill1 = torch.randn(std.shape, generator=filler, dtype=std.dtype)
        fill2 = torch.randn(std.shape, generator=filler, dtype=std.dtype)
        safe = torch.where(usable, std, torch.ones_like(std))
        r1 = torch.where(usable, (z1 - mu) / safe, fill1)
        r2 = torch.where(usable, (z2 - mu) / safe, fill2)
        if torch.allclose(r1, r2) or stats.failing(stats.noise_statistics(r1, r2, logvar)):
            continue
        return std_of, derivative, text
    return None


def _noise_check(z1: torch.Tensor | None, z2: torch.Tensor | None, z_eval: torch.Tensor | None, mu: torch.Tensor,
                 logvar: torch.Tensor, marks: float) -> tuple[Check, _StdMistake | None]:
    """``(Check, the diagnosed std mistake or None)``."""
    if z1 is None or z2 is None:
        return Check(NOISE_NAME, marks, 0, False, f"z of shape {tuple(mu.shape)} passed to the decoder",
                     "no z of that shape", "decode the sampled z"), None
    expected = ("standardised noise (z - mu) / exp(logvar / 2) with mean 0, variance 1, independent entries, in "
                "training and in evaluation mode")
    std = torch.exp(0.5 * logvar)
    eps1, eps2 = (z1 - mu) / std, (z2 - mu) / std
    bad = stats.failing(stats.noise_statistics(eps1, eps2, logvar))
    if bad and bool(((z1 - mu).abs() < 1e-6).all()):
        return Check(NOISE_NAME, marks, 0, False, expected, "z = mu: no noise is added",
                     "z = mu + exp(0.5 * logvar) * eps with eps = torch.randn_like(mu)"), None
    if bad:
        mistake = std_mistake(z1, z2, mu, logvar)
        if mistake is not None:
            return Check(NOISE_NAME, marks, 0, False, expected, mistake[2], STD_HINT), mistake
        received = ", ".join(f"{k} off by {v:.1f} standard errors" for k, v in list(bad.items())[:3])
        return Check(NOISE_NAME, marks, 0, False, expected, received, _noise_hint(bad)), None
    eps_eval = (z_eval - mu) / std if z_eval is not None else None
    if eps_eval is None:
        return Check(NOISE_NAME, marks, 0, False, expected, "no z decoded after model.eval()",
                     "reconstruct must decode a sample in evaluation mode too"), None
    decodes_mu = bool((eps_eval.abs() < 1e-6).all())
    if decodes_mu or stats.failing(stats.noise_statistics(eps_eval, eps1, logvar)):
        received = ("after model.eval() it decodes mu without sampling" if decodes_mu
                    else "after model.eval() the decoded z is not a fresh sample")
        return Check(NOISE_NAME, marks, 0, False, expected, received,
                     "the contract's reconstruct draws eps ~ N(0, I) fresh on every call, in evaluation mode as well: "
                     "drop the `if not vae.training` branch (decode mu only where you choose to, outside "
                     "reconstruct)"), None
    return Check(NOISE_NAME, marks, marks, True), None


def _gradient_check(t: dict[str, torch.Tensor], meta: View, inputs: dict[str, torch.Tensor], z1: torch.Tensor | None,
                    mu: torch.Tensor, logvar: torch.Tensor, mistake: _StdMistake | None, marks: float) -> Check:
    """z must be a differentiable function of mu and logvar: dz/dmu = 1 and dz/dlogvar = std'(logvar) * eps.
    With the contract's std (or any, when no mistake was diagnosed) that is c(logvar) * (z - mu); with a
    diagnosed std mistake, that std's own derivative: the std's formula is the noise check's business."""
    grad_mu, grad_lv = tensor_at(t, "grad_mu", mu.shape), tensor_at(t, "grad_logvar", mu.shape)
    latent = mu.shape[1]
    if z1 is None:
        ok, received = False, "no z to differentiate"
    elif not meta.flag("z_requires_grad") or grad_mu is None:
        ok, received = False, "no gradient reaches mu"
    else:
        G = inputs["G"][:, :latent].double()
        grad_lv_or_zero = grad_lv if grad_lv is not None else torch.zeros_like(G)
        if mistake is not None:
            std_of, derivative, _ = mistake
            std = std_of(logvar)
            usable = std.abs() > 0.05
            want = G * derivative(logvar) * (z1 - mu) / torch.where(usable, std, torch.ones_like(std))
            ok = close(grad_mu, G, 1e-3, 1e-4) and close(grad_lv_or_zero[usable], want[usable], 1e-2, 1e-3)
        else:
            spread = G * (z1 - mu)
            moving = spread.abs() > 1e-3
            factor = grad_lv_or_zero[moving] / spread[moving]
            ok = close(grad_mu, G, 1e-3, 1e-4) and bool(torch.isfinite(factor).all()) and bool(
                (factor.abs() > 1e-6).all()) and bool((grad_lv_or_zero[~moving].abs() <= 1e-2).all())
        received = "" if ok else ("no gradient reaches logvar" if grad_lv is None else "other gradients")
    return Check("gradients reach mu and logvar through the sample", marks, marks if ok else 0, ok,
                 "dz/dmu = 1 and dz/dlogvar proportional to z - mu", received,
                 "" if ok else "build z from mu and logvar with torch operations; no torch.normal, .sample() or "
                               ".detach()")


def judge_sampler(item: AutoItem, outcome: Outcome, context: Context) -> ItemResult:
    """Contract of the returned triple, conditioning (CVAE), noise statistics (also after
    ``model.eval()``) and reparameterized gradients."""
    marks = dict(item.checks)
    inputs = context.inputs[item.id]
    mu, logvar = inputs["mu"].double(), inputs["logvar"].double()
    t, meta = outcome.tensors, probe_facts(outcome)
    latent = mu.shape[1]
    width = latent + (10 if item.conditional else 0)
    checks = [_returns_check(t, meta, inputs["mu"], inputs["logvar"], marks["returns"])]
    z1, z2, z_eval = (tensor_at(t, name, (len(mu), width)) for name in ("decoder_in1", "decoder_in2", "decoder_in_eval"))
    if item.conditional:
        checks.append(_conditions_check(t, inputs, z1, latent, marks["conditions"]))
    z1, z2, z_eval = (z[:, :latent] if z is not None else None for z in (z1, z2, z_eval))
    noise, mistake = _noise_check(z1, z2, z_eval, mu, logvar, marks["noise"])
    checks.append(noise)
    checks.append(_gradient_check(t, meta, inputs, z1, mu, logvar, mistake, marks["gradients"]))
    return ItemResult.from_checks(item.marks, checks)


def _noise_hint(bad: dict[str, float]) -> str:
    """The fix the failing statistics point to: a mean off 0 first, then the noise's shape (shared rows or
    dimensions also spoil the variance statistics), then its spread, then its freshness across calls."""
    if "mean" in bad:  # noise of mean != 0 spoils the independence statistics too
        return "eps must be standard normal (mean 0, variance 1): torch.randn_like(mu)"
    if "rows independent" in bad:
        return "each row needs its own noise: eps = torch.randn_like(mu), not one row broadcast over the batch"
    if "dimensions independent" in bad:
        return "each latent dimension needs its own noise: eps of the same shape as mu"
    if "tails" in bad:
        return "eps must be standard normal: torch.randn_like(mu)"
    if any(k.startswith("variance") for k in bad):
        return "the standard deviation is exp(0.5 * logvar) (logvar is the log-variance)"
    return "draw new noise on every call (no fixed seed or stored eps inside the function)"
