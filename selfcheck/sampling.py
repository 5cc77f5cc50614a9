"""The samplers' checks (``reconstruct``/``creconstruct``) and the sample a loss decoded.

The noise is standardised with the pinned samplers' standard deviation ``std``, shipped as
numbers for the public ``logvar`` (computed by the reference when the bundle was written),
and tested with the grader's statistics (``graders/judge/stats.py``, copied into the bundle as
``selfcheck/_stats.py``): a correct sampler fails with probability below 1e-9.
"""
import torch

from selfcheck.evidence import close, scalar, tensor, type_text
from selfcheck.results import CheckResult

try:
    from selfcheck import _stats as stats  # type: ignore[attr-defined]  # the bundle's copy
except ImportError:                          # in the project
    from graders.judge import stats

NAMES = {"returns": "returns (mu, logvar, x_hat) from one encoder and one decoder call",
         "conditions": "conditions on the class", "noise": "z = mu + exp(logvar / 2) * eps with fresh eps ~ N(0, I)",
         "gradients": "gradients reach mu and logvar through the sample"}


def one_hot(y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.one_hot(y, 10).double()


def class_part_text(part: torch.Tensor, y: torch.Tensor) -> str:
    """What a recorded class part is, in words, when it is not ``one_hot(y)``."""
    if part.shape != (len(y), 10):
        return f"a class part of shape {tuple(part.shape)}"
    if torch.equal(part, one_hot(y)):
        return "one_hot(y)"
    if bool(((part == 0) | (part == 1)).all() and (part.sum(1) == 1).all()):
        classes = part.argmax(1)
        if bool((classes == classes[0]).all()):
            return f"one_hot({int(classes[0])}) for every row instead of each row's label"
        if bool((classes == (y + 1) % 10).all()):
            return "the next class's one-hot (y + 1) instead of y's"
        return "one-hot vectors of other classes than y"
    return "values that are not one_hot(y)"


def _returns_check(item: dict, t: dict, meta: dict, inputs: dict, marks: dict[str, float]) -> CheckResult:
    out, calls, problems = meta.get("out", {}), meta.get("calls", []), []
    parts = out.get("items", [])
    if out.get("type") not in ("tuple", "list") or len(parts) != 3:
        problems.append(f"returned {type_text(out)}, not a tuple (mu, logvar, x_hat)")
    else:
        if not (close(t.get("out_mu"), inputs["mu"].double()) and close(t.get("out_logvar"), inputs["logvar"].double())):
            problems.append("mu and logvar are not the encoder's outputs")
        decoded = tensor(t, "decoder_out1")
        if decoded is None or not close(t.get("out_x_hat"), decoded):
            problems.append("x_hat is not the decoder's output")
        if any(p.get("dtype") != "float32" for p in parts):
            problems.append("not all float32")
    if calls and (calls[0].get("encoder") != 1 or calls[0].get("decoder") != 1):
        problems.append(f"called the encoder {calls[0].get('encoder')} and the decoder {calls[0].get('decoder')} "
                        "times per call (expected once each)")
    return CheckResult("returns", NAMES["returns"], marks["returns"], "fail" if problems else "pass",
                         "mu, logvar = model.encoder(...); x_hat = model.decoder(...)" if problems else "",
                         "; ".join(problems), "return mu, logvar, x_hat in that order" if problems else "")


def _conditions_check(t: dict, inputs: dict, marks: dict[str, float], width: int, latent: int) -> CheckResult:
    x, y = inputs["x"].double(), inputs["y"]
    encoder_in, z1 = tensor(t, "encoder_in"), tensor(t, "decoder_in1")
    enc_ok = close(encoder_in, torch.cat([x, one_hot(y)], 1))
    dec_ok = z1 is not None and z1.shape == (len(y), width) and torch.equal(z1[:, latent:], one_hot(y))
    received = []
    if not enc_ok:
        received.append("the encoder got nothing" if encoder_in is None else
                        f"the encoder got {class_part_text(encoder_in[:, 784:], y)}"
                        if encoder_in.shape == (len(y), 794) and close(encoder_in[:, :784], x) else
                        f"the encoder got a tensor of shape {tuple(encoder_in.shape)}")
    if not dec_ok:
        received.append("the decoder got nothing" if z1 is None else
                        f"the decoder got {class_part_text(z1[:, latent:], y)}" if z1.shape == (len(y), width) else
                        f"the decoder got a tensor of shape {tuple(z1.shape)}")
    ok = enc_ok and dec_ok
    return CheckResult("conditions", NAMES["conditions"], marks["conditions"], "pass" if ok else "fail",
                         "" if ok else "encoder on append_class_to_data(x, y); decoder on append_class_to_data(z, y)",
                         "; ".join(received), "" if ok else "append the same labels y to both inputs")


def noise_hint(bad: dict) -> str:
    if "calls independent" in bad:
        return "draw new noise on every call (no fixed seed or stored eps inside the function)"
    if "rows independent" in bad:
        return "each row needs its own noise: eps = torch.randn_like(mu), not one row broadcast over the batch"
    if "dimensions independent" in bad:
        return "each latent dimension needs its own noise: eps of the same shape as mu"
    if any(k.startswith("variance") for k in bad) or "mean" in bad:
        return "the standard deviation is exp(0.5 * logvar) (logvar is the log-variance)"
    return "eps must be standard normal: torch.randn_like(mu)"


def _noise_check(z1: torch.Tensor | None, z2: torch.Tensor | None, z_eval: torch.Tensor | None, inputs: dict,
                 marks: dict[str, float]) -> CheckResult:
    mu, std, logvar = inputs["mu"].double(), inputs["std"].double(), inputs["logvar"]
    if z1 is None or z2 is None:
        return CheckResult("noise", NAMES["noise"], marks["noise"], "fail", f"z of shape {tuple(mu.shape)} passed "
                             "to the decoder", "no z of that shape", "decode the sampled z")
    eps1 = (z1 - mu) / std
    bad = stats.failing(stats.noise_statistics(eps1, (z2 - mu) / std, logvar))
    hint = noise_hint(bad) if bad else ""
    received = ", ".join(f"{k} off by {s:.1f} standard errors" for k, s in list(bad.items())[:3])
    if not bad:
        eps_eval = (z_eval - mu) / std if z_eval is not None else None
        if eps_eval is None:
            bad, received = True, "no z decoded after model.eval()"
            hint = "reconstruct must decode a sample in evaluation mode too"
        elif bool((eps_eval.abs() < 1e-6).all()) or stats.failing(stats.noise_statistics(eps_eval, eps1, logvar)):
            bad = True
            received = ("after model.eval() it decodes mu without sampling" if bool((eps_eval.abs() < 1e-6).all())
                        else "after model.eval() the decoded z is not a fresh sample")
            hint = ("the contract's reconstruct draws eps ~ N(0, I) fresh on every call, in evaluation mode as well: "
                    "drop the `if not vae.training` branch (decode mu only where you choose to, outside reconstruct)")
    return CheckResult("noise", NAMES["noise"], marks["noise"], "fail" if bad else "pass",
                         "standardised noise (z - mu) / exp(logvar / 2) with mean 0, variance 1, independent entries, "
                         "in training and in evaluation mode" if bad else "", received, hint)


def _gradients_check(t: dict, meta: dict, inputs: dict, z1: torch.Tensor | None, marks: dict[str, float]) -> CheckResult:
    """dz/dmu = 1 and dz/dlogvar proportional to z - mu (the std's formula is the noise check's business)."""
    mu = inputs["mu"].double()
    grad_mu, grad_lv = tensor(t, "grad_mu", mu.shape), tensor(t, "grad_logvar", mu.shape)
    if z1 is None:
        ok, received = False, "no z to differentiate"
    elif not meta.get("z_requires_grad") or grad_mu is None:
        ok, received = False, "no gradient reaches mu"
    else:
        G = inputs["G"][:, : mu.shape[1]].double()
        spread = G * (z1 - mu)
        moving = spread.abs() > 1e-3
        lv = grad_lv if grad_lv is not None else torch.zeros_like(spread)
        factor = lv[moving] / spread[moving]
        ok = close(grad_mu, G, 1e-3, 1e-4) and bool(torch.isfinite(factor).all()) and bool(
            (factor.abs() > 1e-6).all()) and bool((lv[~moving].abs() <= 1e-2).all())
        received = "" if ok else ("no gradient reaches logvar" if grad_lv is None and moving.any() else "other gradients")
    return CheckResult("gradients", NAMES["gradients"], marks["gradients"], "pass" if ok else "fail",
                         "" if ok else "dz/dmu = 1 and dz/dlogvar proportional to z - mu", received,
                         "" if ok else "build z from mu and logvar with torch operations; no torch.normal, .sample() "
                                       "or .detach()")


def judge_sampler(item: dict, t: dict, meta: dict, inputs: dict) -> list:
    """The grader's sampler checks, in its order: returns, (conditions,) noise, gradients."""
    marks = dict(item["checks"])
    mu = inputs["mu"]
    latent = mu.shape[1]
    width = latent + (10 if item["conditional"] else 0)
    checks = [_returns_check(item, t, meta, inputs, marks)]
    if item["conditional"]:
        checks.append(_conditions_check(t, inputs, marks, width, latent))
    z1, z2, z_eval = (tensor(t, name, (len(mu), width)) for name in ("decoder_in1", "decoder_in2", "decoder_in_eval"))
    z1, z2, z_eval = (z[:, :latent] if z is not None else None for z in (z1, z2, z_eval))
    checks.append(_noise_check(z1, z2, z_eval, inputs, marks))
    checks.append(_gradients_check(t, meta, inputs, z1, marks))
    return checks


def _sample_problem(inputs: dict, z1: torch.Tensor, z2: torch.Tensor | None) -> str:
    """Why a loss's decoded ``z`` is not a fresh reparameterized sample; ``""`` when it is the stand-in's
    sample or passes the noise statistics."""
    mu, std = inputs["mu"].double(), inputs["std"].double()
    if torch.allclose(z1, inputs["z"].double(), rtol=1e-4, atol=1e-4):
        return ""
    if torch.allclose(z1, mu, rtol=1e-6, atol=1e-6):
        return ("it decodes mu without sampling: the loss must decode a fresh sample z = mu + exp(logvar / 2) * eps "
                "(as reconstruct does)")
    eps1 = (z1 - mu) / std
    scores = stats.noise_statistics(eps1, (z2 - mu) / std if z2 is not None else eps1, inputs["logvar"])
    if z2 is None:
        scores.pop("calls independent")
    bad = stats.failing(scores)
    return ("the decoded z is not mu + exp(logvar / 2) * eps with fresh eps ~ N(0, I) ("
            + ", ".join(f"{k} off by {s:.1f} standard errors" for k, s in list(bad.items())[:2]) + ")") if bad else ""


def loss_sample_problems(item: dict, t: dict, meta: dict, inputs: dict) -> tuple[list, object]:
    """``(problems, z_full)``: what is wrong with the encoder input and the sample a loss decoded."""
    mu, x, y = inputs["mu"], inputs["x"].double(), inputs["y"]
    latent, conditional = mu.shape[1], item["conditional"]
    width = latent + (10 if conditional else 0)
    first = (meta.get("calls") or [{}])[0]
    z1, z2 = tensor(t, "decoder_in1", (len(mu), width)), tensor(t, "decoder_in2", (len(mu), width))
    encoder_in = tensor(t, "encoder_in1")
    if scalar(t, "value1") is None:
        return [], z1
    if first.get("decoder") != 1:
        return [f"the decoder ran {first.get('decoder')} times in one call ({first.get('reconstruct', 0)} reconstruct "
                "calls): decode once per call"], z1
    if z1 is None:
        got = tensor(t, "decoder_in1")
        return [f"the decoder got a tensor of shape {tuple(got.shape) if got is not None else '?'}, not "
                f"({len(mu)}, {width})"], z1
    problems = []
    if conditional:
        if encoder_in is None or encoder_in.shape != (len(mu), 794) or not close(encoder_in[:, :784], x):
            problems.append("the encoder did not get append_class_to_data(x, y)")
        elif not torch.equal(encoder_in[:, 784:], one_hot(y)):
            problems.append(f"the encoder got {class_part_text(encoder_in[:, 784:], y)}")
        if not torch.equal(z1[:, latent:], one_hot(y)):
            problems.append(f"the decoder got {class_part_text(z1[:, latent:], y)}")
    elif encoder_in is not None and not close(encoder_in, x):
        problems.append("the encoder did not get x")
    sample = _sample_problem(inputs, z1[:, :latent], z2[:, :latent] if z2 is not None else None)
    return problems + ([sample] if sample else []), z1
