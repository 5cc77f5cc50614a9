"""The judge: turn what a worker sent back for one item into marks, with reasons.

Runs in the grader's process. Expected values come from the reference (full
mode) or from the notebook's public constants (``public=True``, the students'
self-check, which ships without the reference). Everything a worker sent was
produced beside student code: facts are read through ``childdata.View`` and
tensors through ``_tensor`` (shape and finiteness checked) before use, and the
expected value of a loss item is computed here from the judge's own inputs and
the validated sample, never taken from the child's numbers.
"""
import math
import signal
from dataclasses import dataclass, field

import torch

from graders import stats, training
from graders.items import AUTO_BY_ID
from graders.results import Check, ItemResult
from graders.childdata import View, clean_text
from reference import selfcheck

UNVERIFIED = "not verified here; the grader checks it against the reference"


@dataclass
class Outcome:
    """What came back for one item: tensors, facts, and how the child ended."""
    tensors: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    record: object = field(default_factory=dict)   # a dict or a worker.protocol.ItemRecord
    failure: str = ""   # set when nothing usable came back


@dataclass
class Context:
    inputs: dict                     # item id -> {name: tensor}
    public: bool = False
    baselines: object = None         # training.ReferenceBaselines, full mode only
    held_out: tuple = None           # (X, Y) held-out images and labels


def _record(outcome):
    """The child's end record as a ``View`` (a dict or a dataclass with the same fields)."""
    record = outcome.record
    if record is not None and not isinstance(record, dict) and hasattr(record, "__dataclass_fields__"):
        record = {k: getattr(record, k) for k in record.__dataclass_fields__}
    return View(record)


def describe_failure(outcome, function, time_limit):
    """One plain sentence for a child that returned nothing usable."""
    record = _record(outcome)
    if record.flag("timed_out"):
        return f"{function} did not finish within {time_limit:g} s (an endless loop, or far too slow)"
    if record.flag("disk_exceeded"):
        return f"the process running {function} was stopped: it wrote more files than the grader allows"
    code = record.integer("exit_code", default=None)
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = {"SIGXCPU": "it used up its CPU time", "SIGKILL": "it was killed (memory or process limits)",
               "SIGSEGV": "a segmentation fault"}.get(name, name)
        return f"the process running {function} crashed: {why}"
    return f"the process running {function} ended before returning a result (exit code {code}; sys.exit or os._exit?)"


def _fmt(value):
    if isinstance(value, torch.Tensor):
        if value.numel() == 1:
            return f"{value.double().item():.6g}"
        return f"tensor of shape {tuple(value.shape)}"
    return f"{value:.6g}" if isinstance(value, float) else clean_text(value)


def _tensor(tensors, name, shape=None):
    """``tensors[name]`` as float64 if it is a numeric tensor (of ``shape`` when given), else None."""
    value = tensors.get(name)
    if not isinstance(value, torch.Tensor) or value.dtype == torch.bool:
        return None
    if shape is not None and tuple(value.shape) != tuple(shape):
        return None
    return value.double()


def _scalar(tensors, name):
    value = _tensor(tensors, name)
    return value.reshape(()) if value is not None and value.numel() == 1 else None


def _close(received, expected, rtol=1e-4, atol=1e-4):
    if not isinstance(received, torch.Tensor) or received.shape != expected.shape or received.dtype == torch.bool:
        return False
    return bool(torch.allclose(received.double(), expected.double(), rtol=rtol, atol=atol))


def _type_text(meta):
    """A validated description of a returned value (``probes.describe``'s facts)."""
    meta = meta if isinstance(meta, View) else View(meta)
    kind = meta.text("type", "nothing", limit=80)
    if kind == "tensor" or kind.startswith("tensor subclass"):
        shape = meta.integers("shape", cap=8)
        return f"{meta.text('dtype', '?', limit=20)} {kind} of shape {tuple(shape) if shape is not None else '?'}"
    text = meta.text("repr", limit=80)
    return kind + (f" {text}" if text else "")


def _scaled(item, checks):
    """``checks`` (a subset of the item's, in the public self-check) scaled to the item's marks."""
    total = sum(c.marks for c in checks)
    return [Check(c.name, c.marks * item.marks / total, c.awarded * item.marks / total, c.passed, c.expected,
                  c.received, c.hint) for c in checks]


def scale_hint(received, expected, rows, columns, what):
    """"your value is 64 times the expected: ..." when ``received`` is a known multiple of ``expected``."""
    if received is None or not torch.isfinite(received) or abs(float(expected)) < 1e-9:
        return ""
    ratio = float(received) / float(expected)
    known = [(rows, f"it sums over the batch ({rows} rows) instead of averaging over the rows"),
             (1 / columns, f"it averages over the {columns} {what} instead of summing them"),
             (rows * columns, f"it sums over every element instead of averaging the per-row sums over the batch"),
             (1 / rows, "it divides by the batch size twice"),
             (columns, f"it multiplies by the number of {what}")]
    for factor, cause in known:
        if factor != 1 and abs(ratio - factor) <= 1e-3 * abs(factor):
            size = f"{factor:g} times" if factor >= 1 else f"1/{1 / factor:g} of"
            return f"your value is {size} the expected: {cause}"
    return ""


# --- KL divergence and log-likelihood -------------------------------------------------------------

def _kl_reference(mu, logvar):
    from reference.vae import kl_divergence
    return kl_divergence(mu, logvar)


def _loglik_reference(x_hat, x):
    from reference.vae import binary_cross_entropy
    return binary_cross_entropy(x_hat, x)


KL_MISTAKES = [
    ("has no factor 1/2", lambda mu, lv, v: 2 * v, "KL = 0.5 * sum(mu^2 + exp(logvar) - logvar - 1)"),
    ("has the wrong sign", lambda mu, lv, v: -v, "the KL divergence is >= 0"),
    ("leaves out the -1 term", lambda mu, lv, v: v + 0.5 * mu.shape[1], "include the -1 in each dimension"),
    ("uses exp(logvar) as the standard deviation", lambda mu, lv, v:
     (0.5 * (mu**2 + (2 * lv).exp() - 2 * lv - 1).sum(1)).mean(), "exp(logvar) is the variance, not the std"),
]
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
]


def _diagnose(mistakes, args, expected, received):
    for name, make, hint in mistakes:
        candidate = torch.as_tensor(make(*args, expected)).double()
        if received is not None and torch.isclose(received, candidate, rtol=1e-3, atol=1e-3):
            return f"your value {name}: {hint}"
    return ""


def judge_scalar(item, outcome, context):
    """``kl_divergence`` or ``binary_cross_entropy``: values on every case, 0-dim float32, gradients."""
    is_kl = item.args[0] == "mu"
    names = item.args
    inputs = context.inputs[item.id]
    reference, mistakes = (_kl_reference, KL_MISTAKES) if is_kl else (_loglik_reference, LOGLIK_MISTAKES)
    public_expected = {"c2": selfcheck.SELF_CHECK_KL if is_kl else selfcheck.SELF_CHECK_LOGLIK}
    cases = ["c2"] if context.public else ["c0", "c1", "c2"]
    marks = dict(item.checks)
    value_check = Check("value on fixed inputs", marks["value"], marks["value"], True)
    scalar_check = Check("returns a 0-dim float32 tensor", marks["form"], marks["form"], True)
    grad_check = Check("gradients flow to the inputs", marks["gradients"], marks["gradients"], True)
    probe = View(outcome.meta).view("probe")
    what = "latent dimensions" if is_kl else "pixels"
    for case in cases:
        args = [inputs[f"{case}/{n}"] for n in names]
        meta = probe.view(case)
        received = _scalar(outcome.tensors, f"{case}/value")
        again = _scalar(outcome.tensors, f"{case}/value2")
        if context.public:
            expected = torch.tensor(public_expected[case], dtype=torch.float64)
        else:
            leaves = [a.clone().requires_grad_(True) for a in args]
            expected_t = reference(*leaves)
            expected_grads = torch.autograd.grad(expected_t, leaves)
            expected = expected_t.detach().double()
        shape_text = f"inputs of shape {tuple(args[0].shape)}"
        if value_check.passed and not (received is not None and _close(received, expected, rtol=1e-3, atol=1e-3)):
            if received is not None and again is not None and torch.isfinite(received) and not torch.isclose(
                    received, again, rtol=1e-6, atol=1e-7):
                hint = (f"your value is random (two calls on the same inputs gave {_fmt(received)} and "
                        f"{_fmt(again)}): " + ("use the closed form 0.5 * sum(mu^2 + exp(logvar) - logvar - 1), "
                                               "not a Monte-Carlo estimate" if is_kl else
                                               "compute the log-likelihood itself, with no sampling"))
            elif received is not None and not torch.isfinite(received):
                hint = "got NaN or inf: check for log(0), exp overflow or swapped arguments"
            else:
                hint = (scale_hint(received, expected, len(args[0]), args[0].shape[1], what)
                        or _diagnose(mistakes, args, expected, received) or "compare your formula with the contract's")
            value_check = Check("value on fixed inputs", marks["value"], 0, False,
                                f"{expected.item():.6g} for {shape_text}",
                                _fmt(received) if received is not None else _type_text(meta), hint)
        if scalar_check.passed and not (meta.text("type") == "tensor" and meta.integers("shape") == []
                                        and meta.text("dtype") == "float32"):
            scalar_check = Check("returns a 0-dim float32 tensor", marks["form"], 0, False, "a 0-dim float32 tensor",
                                 _type_text(meta), "reduce with .mean()/.sum() to a 0-dim tensor; keep float32")
        if not context.public and grad_check.passed and value_check.passed:
            ok = all(_close(outcome.tensors.get(f"{case}/grad_{n}"), g, 1e-3, 1e-5)
                     for n, g in zip(names, expected_grads) if n != "x")
            if not ok:
                grad_check = Check("gradients flow to the inputs", marks["gradients"], 0, False,
                                   f"gradients with respect to {names[0]}" + (" and logvar" if is_kl else ""),
                                   "none or wrong ones", "compute with torch operations on the inputs; "
                                   "no .item(), numpy or .detach() inside")
    if not value_check.passed:  # the form of a wrong value earns nothing
        scalar_check = Check(scalar_check.name, marks["form"], 0, False, "", "", "not judged: the value is wrong")
        grad_check = Check(grad_check.name, marks["gradients"], 0, False, "", "", "not judged: the value is wrong")
    if context.public:  # one case and no gradient check: scaled to the item's marks
        return ItemResult.from_checks(item.marks, _scaled(item, [value_check, scalar_check]))
    return ItemResult.from_checks(item.marks, [value_check, scalar_check, grad_check])


# --- samplers: reconstruct and creconstruct ---------------------------------------------------------

def _one_hot(y):
    return torch.nn.functional.one_hot(y, 10).double()


def _class_part_text(part, y):
    """What a recorded class part is, in words, when it is not ``one_hot(y)``."""
    if part.shape != (len(y), 10):
        return f"a class part of shape {tuple(part.shape)}"
    if torch.equal(part, _one_hot(y)):
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


def judge_sampler(item, outcome, context):
    """Contract of the returned triple, conditioning (CVAE), noise statistics (also after
    ``model.eval()``) and reparameterized gradients."""
    conditional = item.conditional
    marks = dict(item.checks)
    inputs = context.inputs[item.id]
    mu, logvar, x, y = inputs["mu"], inputs["logvar"], inputs["x"], inputs["y"]
    t, meta = outcome.tensors, View(outcome.meta).view("probe")
    checks = []
    # 1. what came back
    calls = meta.views("calls", cap=3)
    out = meta.view("out")
    parts = out.views("items", cap=8)
    problems = []
    if out.text("type") not in ("tuple", "list") or len(parts) != 3:
        problems.append(f"returned {_type_text(out)}, not a tuple (mu, logvar, x_hat)")
    else:
        if not (_close(t.get("out_mu"), mu) and _close(t.get("out_logvar"), logvar)):
            problems.append("mu and logvar are not the encoder's outputs")
        decoded = _tensor(t, "decoder_out1")
        if decoded is None or not _close(t.get("out_x_hat"), decoded):
            problems.append("x_hat is not the decoder's output")
        if any(p.text("dtype") != "float32" for p in parts):
            problems.append("not all float32")
    if calls and (calls[0].integer("encoder", -1) != 1 or calls[0].integer("decoder", -1) != 1):
        problems.append(f"called the encoder {calls[0].integer('encoder', -1)} and the decoder "
                        f"{calls[0].integer('decoder', -1)} times per call (expected once each)")
    checks.append(Check("returns (mu, logvar, x_hat) from one encoder and one decoder call", marks["returns"],
                        0 if problems else marks["returns"], not problems,
                        "mu, logvar = model.encoder(...); x_hat = model.decoder(...)",
                        "; ".join(problems), "return mu, logvar, x_hat in that order"))
    latent = mu.shape[1]
    width = latent + (10 if conditional else 0)
    z1, z2, z_eval = (_tensor(t, name, (len(mu), width)) for name in ("decoder_in1", "decoder_in2", "decoder_in_eval"))
    if conditional:
        encoder_in = _tensor(t, "encoder_in")
        enc_ok = _close(encoder_in, torch.cat([x.double(), _one_hot(y)], 1))
        raw_z = _tensor(t, "decoder_in1")
        dec_ok = z1 is not None and torch.equal(z1[:, latent:], _one_hot(y))
        received = []
        if not enc_ok:
            if encoder_in is None:
                received.append("the encoder got nothing")
            elif encoder_in.shape == (len(y), 794) and _close(encoder_in[:, :784], x.double()):
                received.append(f"the encoder got {_class_part_text(encoder_in[:, 784:], y)}")
            else:
                received.append(f"the encoder got a tensor of shape {tuple(encoder_in.shape)}")
        if not dec_ok:
            if raw_z is None:
                received.append("the decoder got nothing")
            elif raw_z.shape == (len(y), width):
                received.append(f"the decoder got {_class_part_text(raw_z[:, latent:], y)}")
            else:
                received.append(f"the decoder got a tensor of shape {tuple(raw_z.shape)}")
        half = marks["conditions"] / 2
        checks.append(Check("conditions on the class", marks["conditions"], (half if enc_ok else 0) + (half if dec_ok else 0),
                            enc_ok and dec_ok, "encoder on append_class_to_data(x, y); decoder on "
                            "append_class_to_data(z, y)", "; ".join(received),
                            "append the same labels y to both inputs"))
    z1, z2, z_eval = (z[:, :latent] if z is not None else None for z in (z1, z2, z_eval))
    # 2. the noise, in training mode and after model.eval() (the contract draws eps fresh on every call)
    noise_name = "z = mu + exp(logvar / 2) * eps with fresh eps ~ N(0, I)"
    if z1 is None or z2 is None:
        checks.append(Check(noise_name, marks["noise"], 0, False, f"z of shape {tuple(mu.shape)} passed to the decoder",
                            "no z of that shape", "decode the sampled z"))
    else:
        std = torch.exp(0.5 * logvar.double())
        eps1, eps2 = (z1 - mu.double()) / std, (z2 - mu.double()) / std
        bad = stats.failing(stats.noise_statistics(eps1, eps2, logvar))
        hint, received = _noise_hint(bad), ", ".join(f"{k} off by {v:.1f} standard errors" for k, v in list(bad.items())[:3])
        if not bad:
            eps_eval = (z_eval - mu.double()) / std if z_eval is not None else None
            if eps_eval is None:
                bad, received = {"eval": 0}, "no z decoded after model.eval()"
                hint = "reconstruct must decode a sample in evaluation mode too"
            elif bool((eps_eval.abs() < 1e-6).all()) or stats.failing(stats.noise_statistics(eps_eval, eps1, logvar)):
                bad = {"eval": 0}
                received = ("after model.eval() it decodes mu without sampling" if bool((eps_eval.abs() < 1e-6).all())
                            else "after model.eval() the decoded z is not a fresh sample")
                hint = ("the contract's reconstruct draws eps ~ N(0, I) fresh on every call, in evaluation mode as "
                        "well: drop the `if not vae.training` branch (decode mu only where you choose to, outside "
                        "reconstruct)")
        checks.append(Check(noise_name, marks["noise"], 0 if bad else marks["noise"], not bad,
                            "standardised noise (z - mu) / exp(logvar / 2) with mean 0, variance 1, independent "
                            "entries, in training and in evaluation mode", received, hint))
    # 3. gradients: z must be a differentiable function of mu and logvar (the reparameterization),
    # dz/dmu = 1 and dz/dlogvar = f'(logvar) * eps = c(logvar) * (z - mu); the std's formula is the noise
    # check's business, so a wrong std is not charged twice.
    grad_mu, grad_lv = _tensor(t, "grad_mu", mu.shape), _tensor(t, "grad_logvar", mu.shape)
    if z1 is None:
        grad_ok, received = False, "no z to differentiate"
    elif not meta.flag("z_requires_grad") or grad_mu is None:
        grad_ok, received = False, "no gradient reaches mu"
    else:
        G = inputs["G"][:, :latent].double()
        spread = G * (z1 - mu.double())
        moving = spread.abs() > 1e-3
        grad_lv_or_zero = grad_lv if grad_lv is not None else torch.zeros_like(spread)
        factor = grad_lv_or_zero[moving] / spread[moving]
        grad_ok = _close(grad_mu, G, 1e-3, 1e-4) and bool(torch.isfinite(factor).all()) and bool(
            (factor.abs() > 1e-6).all()) and bool((grad_lv_or_zero[~moving].abs() <= 1e-2).all())
        received = "" if grad_ok else ("no gradient reaches logvar" if grad_lv is None and moving.any()
                                       else "other gradients")
    checks.append(Check("gradients reach mu and logvar through the sample", marks["gradients"],
                        marks["gradients"] if grad_ok else 0, grad_ok, "dz/dmu = 1 and dz/dlogvar proportional to z - mu",
                        received, "build z from mu and logvar with torch operations; no torch.normal, "
                        ".sample() or .detach()"))
    return ItemResult.from_checks(item.marks, checks)


def _noise_hint(bad):
    if not bad:
        return ""
    if "calls independent" in bad:
        return "draw new noise on every call (no fixed seed or stored eps inside the function)"
    if "rows independent" in bad:
        return "each row needs its own noise: eps = torch.randn_like(mu), not one row broadcast over the batch"
    if "dimensions independent" in bad:
        return "each latent dimension needs its own noise: eps of the same shape as mu"
    if any(k.startswith("variance") for k in bad) or "mean" in bad:
        return "the standard deviation is exp(0.5 * logvar) (logvar is the log-variance)"
    return "eps must be standard normal: torch.randn_like(mu)"


# --- losses: elbo and celbo -------------------------------------------------------------------------

def _stand_in_loss(inputs, mu, logvar, x_hat, x):
    """The probe's stand-in ``kl_divergence`` and ``binary_cross_entropy`` (known linear functionals)."""
    kl = ((mu * inputs["A"].double()).sum() + (logvar * inputs["C"].double()).sum()) / len(mu)
    loglik = (x_hat * inputs["E"].double() * (1 + x)).sum() / len(x)
    return kl, loglik


def _sample_problem(inputs, z1, z2):
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


def _monte_carlo(t, inputs, conditional, latent):
    """True when a call's value is the one-sample Monte-Carlo loss at its own ``z`` rather than the
    closed-form one: it matches the former to float precision and the latter only loosely (the
    estimate can land within the value tolerance of the closed form by chance). A correct float32 loss
    is flagged only if it is more than 2e-3 off the closed form (float noise is ~1e-4 here) and the
    estimate's own error happens to fall within a tenth of that: below 1e-6 per call."""
    mu, logvar, x, y = inputs["mu"].double(), inputs["logvar"].double(), inputs["x"].double(), inputs["y"]
    for call in (1, 2):
        received, z_full = _scalar(t, f"value{call}"), _tensor(t, f"decoder_in{call}")
        if received is None or z_full is None or z_full.shape[1] < latent or len(z_full) != len(mu):
            continue
        z = z_full[:, :latent].double()
        dec_in = torch.cat([z, _one_hot(y)], 1) if conditional else z
        loglik = _loglik_reference(torch.sigmoid(dec_in @ inputs["dec_w"].double().T + inputs["dec_b"].double()), x)
        closed = float(_kl_reference(mu, logvar).double() - loglik.double())
        sampled = float(_monte_carlo_kl(mu, logvar, z) - loglik.double())
        value = float(received)
        if abs(value - closed) > 2e-3 and abs(value - sampled) * 10 < abs(value - closed):
            return True
    return False


def _monte_carlo_kl(mu, logvar, z):
    """The one-sample estimate of KL(q(z|x) || N(0, I)) at ``z``, averaged over rows (float64)."""
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    log_q = -0.5 * (logvar + (z - mu) ** 2 / logvar.exp()).sum(1)
    log_p = -0.5 * (z ** 2).sum(1)
    return (log_q - log_p).mean()


def judge_loss(item, outcome, context):
    """``(c)elbo``: kl - loglik on one reconstruction, with the grader's helpers or written out.

    The judge checks what the child decoded (a fresh reparameterized sample; for the CVAE, ``one_hot(y)``
    appended on both the encoder's and the decoder's input), then computes the expected value itself:
    from the pinned ``mu``/``logvar``, the validated sample and its own decoder weights."""
    conditional = item.conditional
    inputs = context.inputs[item.id]
    marks = dict(item.checks)
    t, meta = outcome.tensors, View(outcome.meta).view("probe")
    mu, logvar, x, y = (inputs[k].double() for k in ("mu", "logvar", "x", "y"))
    y = inputs["y"]
    latent = mu.shape[1]
    width = latent + (10 if conditional else 0)
    calls = meta.views("calls", cap=2)
    first = calls[0] if calls else View({})
    received = _scalar(t, "value1")
    out = meta.view("out")
    value_ok, hint, notes, cause = False, "", [], ""
    expected_text = "kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)"
    problems = []
    decoder_calls = first.integer("decoder", -1)
    z_full1, z_full2 = _tensor(t, "decoder_in1", (len(mu), width)), _tensor(t, "decoder_in2", (len(mu), width))
    encoder_in = _tensor(t, "encoder_in1")
    if received is None:
        hint = "return the loss as a tensor"
    elif decoder_calls != 1:
        problems.append(f"the decoder ran {decoder_calls} times in one call ({first.integer('reconstruct', 0)} "
                        "reconstruct calls): decode once per call")
    elif z_full1 is None:
        got = _tensor(t, "decoder_in1")
        problems.append(f"the decoder got a tensor of shape {tuple(got.shape) if got is not None else '?'}, "
                        f"not ({len(mu)}, {width})")
    else:
        if conditional:
            if encoder_in is None or encoder_in.shape != (len(mu), 794) or not _close(encoder_in[:, :784], x):
                problems.append("the encoder did not get append_class_to_data(x, y)"
                                + (f" (it got a tensor of shape {tuple(encoder_in.shape)})" if encoder_in is not None else ""))
            elif not torch.equal(encoder_in[:, 784:], _one_hot(y)):
                problems.append(f"the encoder got {_class_part_text(encoder_in[:, 784:], y)}")
            if not torch.equal(z_full1[:, latent:], _one_hot(y)):
                problems.append(f"the decoder got {_class_part_text(z_full1[:, latent:], y)}")
        elif encoder_in is not None and not _close(encoder_in, x):
            problems.append("the encoder did not get x")
        sample = _sample_problem(inputs, z_full1[:, :latent], z_full2[:, :latent] if z_full2 is not None else None)
        if sample:
            problems.append(sample)
    if received is not None and not problems:
        dec_in = torch.cat([z_full1[:, :latent], _one_hot(y)], 1) if conditional else z_full1
        x_hat = torch.sigmoid(dec_in @ inputs["dec_w"].double().T + inputs["dec_b"].double())
        kl, loglik = _stand_in_loss(inputs, mu, logvar, x_hat, x)
        expected = kl - loglik
        candidates = [expected]
        if not context.public:  # written out, in full or in part (its own KL beside the grader's loglik ...)
            reference_kl, reference_loglik = _kl_reference(mu, logvar).double(), _loglik_reference(x_hat, x).double()
            expected = reference_kl - reference_loglik
            candidates += [expected, reference_kl - loglik, kl - reference_loglik]
        # rtol 1e-4: a loss of ~550 nats is dominated by its log-likelihood; a KL off by half a nat
        # (a one-sample Monte-Carlo estimate) must not pass within the float32 noise (~1e-5 relative)
        value_ok = any(_close(received, c, 1e-4, 1e-3) for c in candidates)
        if value_ok and not context.public and _monte_carlo(t, inputs, conditional, latent):
            value_ok = False
            hint = ("your KL is a one-sample Monte-Carlo estimate, log q(z|x) - log p(z) at the sample: its value "
                    "is random; use the closed form (kl_divergence)")
        helpers_used = first.integer("kl", 0) >= 1 and first.integer("loglik", 0) >= 1
        if not value_ok and context.public and not helpers_used:
            value_ok, cause = True, "unverified"
            notes.append(f"the loss is written without calling kl_divergence and binary_cross_entropy: its value is "
                         f"{UNVERIFIED}")
        elif not value_ok:
            arg0 = t.get("loglik_arg0")
            if _close(received, kl + loglik, 1e-3, 1e-3):
                hint = "binary_cross_entropy is a log-likelihood: subtract it (loss = kl - loglik)"
            elif _close(received, loglik - kl, 1e-3, 1e-3):
                hint = "that is the ELBO itself; return its negative, the loss to minimise (kl - loglik)"
            elif isinstance(arg0, torch.Tensor) and _close(arg0, x):
                hint = "call binary_cross_entropy(x_hat, x): x_hat first"
            elif isinstance(t.get("kl_arg0"), torch.Tensor) and _close(t["kl_arg0"], logvar):
                hint = "call kl_divergence(mu, logvar): mu first"
            elif not context.public and _close(received, _monte_carlo_kl(mu, logvar, z_full1[:, :latent])
                                               - _loglik_reference(x_hat, x).double(), 1e-4, 1e-3):
                hint = ("your KL is a one-sample Monte-Carlo estimate, log q(z|x) - log p(z) at the sample: its "
                        "value is random; use the closed form (kl_divergence)")
            else:
                hint = next((h for h in (scale_hint(received, c, len(mu), 784, "pixels") for c in candidates) if h),
                            "combine the KL and the log-likelihood of the same reconstruction")
    elif problems:
        hint = ("decode once per call, a fresh sample z = mu + exp(0.5 * logvar) * eps (call "
                + ("creconstruct" if conditional else "reconstruct") + " once)"
                + ("; append each row's own label: append_class_to_data(x, y) and append_class_to_data(z, y)"
                   if conditional else ""))
    checks = [Check("value: kl - loglik on one fresh reconstruction", marks["value"], marks["value"] if value_ok else 0,
                    value_ok, expected_text, "; ".join(problems) or (_fmt(received) if received is not None
                                                                      else _type_text(out)), hint)]
    scalar_ok = out.text("type") == "tensor" and out.integers("shape") == [] and out.flag("requires_grad")
    if value_ok:
        checks.append(Check("returns a 0-dim tensor that carries gradients", marks["form"],
                            marks["form"] if scalar_ok else 0, scalar_ok, "a 0-dim tensor with requires_grad",
                            _type_text(out), "no .item() or float(): training needs loss.backward()"))
    else:  # the form of a wrong value earns nothing
        checks.append(Check("returns a 0-dim tensor that carries gradients", marks["form"], 0, False, "", "",
                            "not judged: the value is wrong"))
    return ItemResult.from_checks(item.marks, checks, cause=cause, notes=notes)


# --- training ---------------------------------------------------------------------------------------

CONTRACT_LR = 1e-3


def _optimizer_problems(optimizers):
    """What differs from the contract's ``Adam(lr)`` (fixed lr = args.lr, no weight decay)."""
    problems = []
    for o in optimizers:
        name = o.text("class", "?", limit=60)
        lr_min, lr_max = o.number("lr_min"), o.number("lr_max")
        decay = o.number("weight_decay", 0.0)
        if name != "Adam":
            problems.append(f"another optimizer ({name}): the contract trains with Adam(lr)")
        if decay:
            problems.append(f"weight_decay={decay:g}: the contract's Adam(lr) has none")
        if lr_min is None or lr_max is None:
            problems.append("an optimizer without a readable learning rate")
        elif abs(lr_max - lr_min) > 1e-12:
            problems.append(f"the learning rate changed during training ({lr_max:g} down to {lr_min:g}: a "
                            "scheduler?): the contract's Adam(lr) keeps lr = args.lr")
        elif abs(lr_max - CONTRACT_LR) > 1e-12:
            problems.append(f"lr={lr_max:g} instead of args.lr = {CONTRACT_LR:g}")
    return problems


def _args_check(item, meta, context, marks):
    """``(Check, interference reasons)`` for "follows args", from the cross-checked counters."""
    counts = meta.view("counts")
    n = len(context.inputs[item.id]["X"])   # the judge's own training split, not the child's word
    hook_steps, adam_steps = counts.integer("hook_steps", 0, 0), counts.integer("adam_steps", 0, 0)
    backward, rows, train_rows = (counts.integer(k, 0, 0) for k in ("backward", "rows", "train_rows"))
    optimizers = counts.views("optimizers", cap=16)
    steps = max(hook_steps, adam_steps)
    budget = training.budget(context.public)
    expected = training.expected_steps(n, context.public)
    interfered = []
    if "counts" not in meta:
        interfered.append("the training probe sent back no step counts")
    elif not counts.flag("hook_intact", False):
        interfered.append("torch's optimizer hooks were removed during training")
    if hook_steps < adam_steps:
        interfered.append(f"the optimizer hooks saw {hook_steps} of {adam_steps} Adam steps")
    problems = list(interfered)
    data_calls = meta.texts("data_calls", cap=64, limit=20)
    if "train" not in data_calls:
        problems.append("get_mnist_data() never called for the train split" if not data_calls else
                        f"get_mnist_data called for {sorted(set(data_calls))[:4]}, never for the train split")
    if steps not in expected:
        problems.append(f"{steps} optimizer steps")
    problems += _optimizer_problems(optimizers)
    if backward > steps > 0:
        problems.append(f"{backward} backward passes through the loss for {steps} optimizer steps")
    if backward and rows and train_rows < 0.99 * rows:
        problems.append(f"{rows - train_rows} of the {rows} rows trained on are not from get_mnist_data('train')")
    ok = not problems
    hint = ("step counting was interfered with: leave torch's optimizer machinery alone" if interfered else
            "use args = MNISTArgs(**kwargs) for every setting, get_mnist_data() (the train split) for the data, "
            "torch.optim.Adam(model.parameters(), lr=args.lr) with no scheduler or weight decay, and one optimizer "
            "step per minibatch (evaluation passes on other splits are fine, without steps)")
    check = Check("follows args: epochs, batch_size, Adam(lr), data from get_mnist_data()", marks["args"],
                  marks["args"] if ok else 0, ok,
                  f"{' or '.join(str(s) for s in sorted(expected))} steps of Adam(lr=0.001) on the train split for "
                  f"epochs={budget['epochs']}, batch_size={budget['batch_size']}", "; ".join(problems[:4]), hint)
    return check, interfered, steps


def judge_training(item, outcome, context):
    """``_judge_training``'s result with its notes (non-finite losses ...) also among the messages, so
    every report shows them, unless a message already says the same."""
    result = _judge_training(item, outcome, context)
    result.messages += [f"note: {n}" for n in result.notes if not any(n in m for m in result.messages)]
    return result


def _judge_training(item, outcome, context):
    """Layout and structure of the returned model, following the budget's args (cross-checked counts),
    held-out loss against the reference (and, for the CVAE, the labels' effect)."""
    conditional = item.conditional
    marks = dict(item.checks)
    t, meta = outcome.tensors, View(outcome.meta).view("probe")
    losses, dropped = meta.numbers("losses")
    nonfinite = sum(1 for v in losses if v is None)
    details = {"seconds": meta.number("seconds"), "losses": [v for v in losses if v is not None]}  # finite only
    if nonfinite:
        details["nonfinite_losses"] = nonfinite
    notes, flags = [], []
    if dropped:
        notes.append(f"{dropped} recorded training losses were not numbers and were left out")
    state = training.state_dict_of({k: v for k, v in t.items() if isinstance(v, torch.Tensor)})
    shape_reason = (training.layout_problem(conditional, state) if state
                    else f"returned {meta.text('returned', 'nothing', limit=80)}")
    structure = meta.view("structure")
    shown = {"features": structure.texts("features", cap=32, limit=60), "decoder": structure.texts("decoder", cap=32, limit=60),
             "mu": structure.text("mu", limit=60), "logvar": structure.text("logvar", limit=60)}
    structure_wrong = training.structure_problems(shown) if state and "structure" in meta else []
    if "structure" in meta:
        details["structure"] = shown
    kind = "CVAE" if conditional else "VAE"
    layout_ok = not shape_reason and not structure_wrong
    checks = [Check(f"returns a {kind} of the contract's layout", marks["layout"], marks["layout"] if layout_ok else 0,
                    layout_ok, f"the {kind} layout of the handout's table (Linear, Tanh; decoder Linear, Tanh, "
                    "Linear, Sigmoid)", "; ".join(([shape_reason] if shape_reason else []) + structure_wrong[:3]),
                    "return the trained model, built with Encoder and nn.Sequential exactly as in the table, "
                    "activations included")]
    args_check, interfered, steps = _args_check(item, meta, context, marks)
    checks.append(args_check)
    if nonfinite:
        first = next(i for i, v in enumerate(losses) if v is None)
        notes.append(f"{nonfinite} of {len(losses)} recorded training losses were NaN or inf (the first at step "
                     f"{first + 1}): likely log(0) (a decoder without the final Sigmoid, or log of an unclamped 0) "
                     "or too large a learning rate")
    if context.public:
        if interfered:
            flags.append(f"{item.id}: step counting was interfered with")
        return ItemResult.from_checks(item.marks, _scaled(item, checks), details, notes=notes, flags=flags)
    baseline = context.baselines.get(conditional)
    hx, hy = context.held_out
    model = None
    if not shape_reason:
        try:
            model = training.load_state(conditional, state, shown if structure_wrong else None)
        except Exception as error:  # noqa: BLE001 - names and shapes fit, but e.g. a dtype does not
            shape_reason = clean_text(f"its weights could not be loaded ({type(error).__name__})")
    if model is None:
        checks.append(Check("learns: held-out loss", marks["learns"], 0, False, "", "", "not judged: no model to score"))
        if conditional:
            checks.append(Check("uses the labels", marks["labels"], 0, False, "", "", "not judged: no model to score"))
        return ItemResult.from_checks(item.marks, checks, details, notes=notes,
                                      flags=[f"{item.id}: step counting was interfered with"] if interfered else [])
    score = held_out_loss_safe(model, conditional, hx, hy)
    details.update(held_out=score if math.isfinite(score) else None, reference_held_out=baseline.trained,
                   untrained_held_out=baseline.untrained)
    share = (baseline.untrained - score) / (baseline.untrained - baseline.trained)
    learn_marks = marks["learns"]
    awarded = learn_marks if share >= training.FULL_SHARE else (learn_marks / 2 if share >= training.PARTIAL_SHARE else 0)
    if steps == 0 and share >= training.PARTIAL_SHARE:
        interfered.append("the model learned but no optimizer step was counted")
        checks[1] = Check(args_check.name, args_check.marks, 0, False, args_check.expected,
                          "; ".join(interfered), "step counting was interfered with: leave torch's optimizer "
                          "machinery alone")
    if interfered:
        flags.append(f"{item.id}: step counting was interfered with ({interfered[0]})")
    if structure_wrong:
        hint = (f"your model's structure differs from the table ({structure_wrong[0]}), charged on the layout "
                "check; this check scored your weights with your own activations")
    elif nonfinite:
        hint = notes[-1]
    else:
        hint = "zero the gradients, backward, step for every minibatch, over all the data each epoch"
    checks.append(Check("learns: held-out loss (nats per image) under the grading budget", learn_marks, awarded,
                        awarded == learn_marks,
                        f"<= {baseline.trained + (1 - training.FULL_SHARE) * (baseline.untrained - baseline.trained):.1f} "
                        f"(reference {baseline.trained:.1f}, untrained {baseline.untrained:.1f})",
                        f"{score:.1f}" if math.isfinite(score) else "not a finite loss", hint))
    if conditional:
        gap = held_out_loss_safe(model, True, hx, training.wrong_labels(hy)) - score
        gap = gap if math.isfinite(gap) else float("-inf")
        details["label_gap"] = gap if math.isfinite(gap) else None
        details["reference_label_gap"] = baseline.wrong_label_gap
        uses = gap >= training.LABEL_GAP_SHARE * baseline.wrong_label_gap
        checks.append(Check("uses the labels: wrong labels raise the held-out loss", marks["labels"],
                            marks["labels"] if uses else 0, uses,
                            f">= {training.LABEL_GAP_SHARE * baseline.wrong_label_gap:.1f} nats "
                            f"(reference {baseline.wrong_label_gap:.1f})", f"{gap:.1f} nats",
                            hint if structure_wrong or nonfinite else
                            "train each image with its own label (keep x and y aligned when shuffling)"))
    return ItemResult.from_checks(item.marks, checks, details, notes=notes, flags=flags)


def held_out_loss_safe(model, conditional, X, Y):
    value = training.held_out_loss(model, conditional, X, Y)
    return value if math.isfinite(value) else float("inf")


JUDGES = {"scalar": judge_scalar, "sampler": judge_sampler, "loss": judge_loss, "train": judge_training}


def _error_result(item, outcome, time_limit):
    """The ``error``/``fail`` result of a child that raised or returned nothing usable, or None."""
    if outcome.failure:
        return ItemResult.error(item.marks, clean_text(outcome.failure, 400), cause="malformed")
    meta = View(outcome.meta)
    replied = "probe" in meta or "error" in meta
    record = _record(outcome)
    if not record.raw or record.flag("timed_out") or not replied:
        cause = "timeout" if record.flag("timed_out") else "crash"
        return ItemResult.error(item.marks, describe_failure(outcome, item.function, time_limit), cause=cause)
    if "error" not in meta:
        return None
    message = meta.text("error", "an unknown error", limit=300)
    exception = meta.text("exception", limit=60)
    if exception == "NotImplementedError":
        return ItemResult(item.marks, "fail", 0.0, [f"{item.function} is not done yet (NotImplementedError)"],
                          cause="not_done")
    cause = "exception"
    if meta.flag("not_defined") or message.startswith(f"{item.function} is not defined"):
        cause = "not_defined"
    if exception == "SystemExit":
        message = f"{item.function} called sys.exit() ({message})"
    elif exception == "MemoryError" or "can't allocate memory" in message or "DefaultCPUAllocator" in message:
        message = f"{item.function} ran out of memory (the grader allows 2 GB): {message}"
    text = f"{item.function}: {message}" if not message.startswith(item.function) else message
    trace = clean_text(meta.raw.get("traceback", ""), 2000, keep_newlines=True) if isinstance(
        meta.raw.get("traceback"), str) else ""
    if trace.strip() not in ("", message.strip()):
        text += "\n" + trace
    for note in meta.texts("load_failures", cap=3, limit=300):
        text += f"\n(while loading: {note})"
    return ItemResult.error(item.marks, text, cause=cause)


def judge(item, outcome, context, time_limit):
    """The item's result; an outcome without usable data becomes an ``error`` with its reason.

    Never raises: a failure inside the judge (a grader bug, or child data that slipped past
    validation) becomes an ``error`` result with cause ``judge_error``."""
    item = AUTO_BY_ID.get(getattr(item, "id", item), item)
    try:
        failed = _error_result(item, outcome, time_limit)
        if failed is not None:
            return failed
        return JUDGES[item.kind](item, outcome, context)
    except Exception as error:  # noqa: BLE001
        return ItemResult.error(item.marks, f"the grader failed to judge this item ({type(error).__name__}: "
                                            f"{clean_text(error, 200)}); please report it", cause="judge_error")
