"""The judge: turn what a worker sent back for one item into marks, with reasons.

Runs in the grader's process. Expected values come from the reference (full
mode) or from the notebook's public constants (``public=True``, the students'
self-check, which ships without the reference).
"""
import math
import signal
from dataclasses import dataclass, field

import torch

from graders import stats, training
from graders.results import Check, ItemResult
from reference import selfcheck


@dataclass
class Outcome:
    """What came back for one item: tensors, facts, and how the child ended."""
    tensors: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    record: dict = field(default_factory=dict)
    failure: str = ""   # set when nothing usable came back


@dataclass
class Context:
    inputs: dict                     # item id -> {name: tensor}
    public: bool = False
    baselines: object = None         # training.ReferenceBaselines, full mode only
    held_out: tuple = None           # (X, Y) held-out images and labels


def describe_failure(outcome, function, time_limit):
    """One plain sentence for a child that returned nothing usable."""
    record = outcome.record
    if record.get("timed_out"):
        return f"{function} did not finish within {time_limit:g} s (an endless loop, or far too slow)"
    code = record.get("exit_code", 0)
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
            return f"{value.item():.6g}"
        return f"tensor of shape {tuple(value.shape)}"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _close(received, expected, rtol=1e-4, atol=1e-4):
    if received is None or received.shape != expected.shape:
        return False
    return bool(torch.allclose(received.double(), expected.double(), rtol=rtol, atol=atol))


def _type_text(meta):
    if meta.get("type") == "tensor":
        return f"{meta['dtype']} tensor of shape {tuple(meta['shape'])}"
    return meta.get("type", "nothing") + (f" {meta['repr']}" if "repr" in meta else "")


# --- KL divergence and log-likelihood -------------------------------------------------------------

def _kl_reference(mu, logvar):
    from reference.vae import kl_divergence
    return kl_divergence(mu, logvar)


def _loglik_reference(x_hat, x):
    from reference.vae import binary_cross_entropy
    return binary_cross_entropy(x_hat, x)


KL_MISTAKES = [
    ("sums over the batch", lambda mu, lv, v: v * len(mu), "average over rows (the batch) instead of summing"),
    ("averages over the latent dimensions too", lambda mu, lv, v: v / mu.shape[1],
     "sum over the latent dimensions, then average over rows"),
    ("has no factor 1/2", lambda mu, lv, v: 2 * v, "KL = 0.5 * sum(mu^2 + exp(logvar) - logvar - 1)"),
    ("has the wrong sign", lambda mu, lv, v: -v, "the KL divergence is >= 0"),
    ("leaves out the -1 term", lambda mu, lv, v: v + 0.5 * mu.shape[1], "include the -1 in each dimension"),
    ("uses exp(logvar) as the standard deviation", lambda mu, lv, v:
     (0.5 * (mu**2 + (2 * lv).exp() - 2 * lv - 1).sum(1)).mean(), "exp(logvar) is the variance, not the std"),
]
LOGLIK_MISTAKES = [
    ("is the negative log-likelihood", lambda xh, x, v: -v,
     "binary_cross_entropy returns the log-likelihood (a value <= 0), as in the original notebook"),
    ("sums over the batch", lambda xh, x, v: v * len(x), "average over rows instead of summing"),
    ("averages over pixels too", lambda xh, x, v: v / x.shape[1], "sum over the 784 pixels, then average over rows"),
    ("leaves out the (1 - x) log(1 - x_hat) term", lambda xh, x, v: (x * xh.log()).sum(1).mean(),
     "a pixel that is 0 contributes log(1 - x_hat)"),
    ("swaps x_hat and x", lambda xh, x, v: (xh * x.clamp(1e-12).log() + (1 - xh) * (1 - x).clamp(1e-12).log())
     .sum(1).mean(), "the signature is binary_cross_entropy(x_hat, x)"),
]


def _diagnose(mistakes, args, expected, received):
    for name, make, hint in mistakes:
        candidate = make(*args, expected)
        if received is not None and received.numel() == 1 and torch.isclose(
                received.double(), torch.as_tensor(candidate).double(), rtol=1e-3, atol=1e-3):
            return f"your value {name}: {hint}"
    return ""


def judge_scalar(item, outcome, context):
    """``kl_divergence`` or ``binary_cross_entropy``: values on every case, 0-dim float32, gradients."""
    is_kl = item.id == "q4.kl_divergence"
    names = ("mu", "logvar") if is_kl else ("x_hat", "x")
    inputs = context.inputs[item.id]
    reference, mistakes = (_kl_reference, KL_MISTAKES) if is_kl else (_loglik_reference, LOGLIK_MISTAKES)
    public_expected = {"c2": selfcheck.SELF_CHECK_KL if is_kl else selfcheck.SELF_CHECK_LOGLIK}
    cases = ["c2"] if context.public else ["c0", "c1", "c2"]
    value_check = Check("value on fixed inputs", 3, 3, True)
    scalar_check = Check("returns a 0-dim float32 tensor", 0.5, 0.5, True)
    grad_check = Check("gradients flow to the inputs", 0.5, 0.5, True)
    for case in cases:
        args = [inputs[f"{case}/{n}"] for n in names]
        meta = outcome.meta.get("probe", {}).get(case, {})
        received = outcome.tensors.get(f"{case}/value")
        if context.public:
            expected = torch.tensor(public_expected[case])
        else:
            leaves = [a.clone().requires_grad_(True) for a in args]
            expected_t = reference(*leaves)
            expected_grads = torch.autograd.grad(expected_t, leaves)
            expected = expected_t.detach()
        shape_text = f"inputs of shape {tuple(args[0].shape)}"
        if value_check.passed and not (received is not None and received.numel() == 1
                                       and _close(received.reshape(()), expected, rtol=1e-3, atol=1e-3)):
            hint = _diagnose(mistakes, args, expected, received) or (
                "got NaN or inf: check for log(0), exp overflow or swapped arguments" if received is not None
                and received.numel() == 1
                and not torch.isfinite(received).all() else "compare your formula with the contract's")
            value_check = Check("value on fixed inputs", 3, 0, False, f"{expected.item():.6g} for {shape_text}",
                                _fmt(received) if received is not None else _type_text(meta), hint)
        if scalar_check.passed and not (meta.get("type") == "tensor" and meta.get("shape") == []
                                        and meta.get("dtype") == "float32"):
            scalar_check = Check("returns a 0-dim float32 tensor", 0.5, 0, False, "a 0-dim float32 tensor",
                                 _type_text(meta), "reduce with .mean()/.sum() to a 0-dim tensor; keep float32")
        if not context.public and grad_check.passed and value_check.passed:
            ok = all(_close(outcome.tensors.get(f"{case}/grad_{n}"), g, 1e-3, 1e-5)
                     for n, g in zip(names, expected_grads) if n != "x")
            if not ok:
                grad_check = Check("gradients flow to the inputs", 0.5, 0, False,
                                   f"gradients with respect to {names[0]}" + (" and logvar" if is_kl else ""),
                                   "none or wrong ones", "compute with torch operations on the inputs; "
                                   "no .item(), numpy or .detach() inside")
    if not value_check.passed:  # the form of a wrong value earns nothing
        scalar_check = Check(scalar_check.name, 0.5, 0, False, "", "", "not judged: the value is wrong")
        grad_check = Check(grad_check.name, 0.5, 0, False, "", "", "not judged: the value is wrong")
    checks = [value_check, scalar_check] + ([] if context.public else [grad_check])
    if context.public:  # the public check has one case and no gradient check: scale to the item's marks
        checks = [Check(c.name, c.marks * item.marks / 3.5, c.awarded * item.marks / 3.5, c.passed, c.expected,
                        c.received, c.hint) for c in checks]
    return ItemResult.from_checks(item.marks, checks)


# --- samplers: reconstruct and creconstruct ---------------------------------------------------------

def judge_sampler(item, outcome, context):
    """Contract of the returned triple, conditioning (CVAE), noise statistics and reparameterized gradients."""
    conditional = item.id == "q5.reconstruct"
    inputs = context.inputs[item.id]
    mu, logvar, x, y = inputs["mu"], inputs["logvar"], inputs["x"], inputs["y"]
    t, meta = outcome.tensors, outcome.meta.get("probe", {})
    checks = []
    # 1. what came back
    calls = meta.get("calls", [])
    out = meta.get("out", {})
    parts = out.get("items", [])
    problems = []
    if out.get("type") not in ("tuple", "list") or len(parts) != 3:
        problems.append(f"returned {_type_text(out)}, not a tuple (mu, logvar, x_hat)")
    else:
        if not (_close(t.get("out_mu"), mu) and _close(t.get("out_logvar"), logvar)):
            problems.append("mu and logvar are not the encoder's outputs")
        if "decoder_out1" not in t or not _close(t.get("out_x_hat"), t["decoder_out1"]):
            problems.append("x_hat is not the decoder's output")
        if any(p.get("dtype") != "float32" for p in parts):
            problems.append("not all float32")
    if calls and (calls[0].get("encoder") != 1 or calls[0].get("decoder") != 1):
        problems.append(f"called the encoder {calls[0].get('encoder')} and the decoder {calls[0].get('decoder')} "
                        "times per call (expected once each)")
    checks.append(Check("returns (mu, logvar, x_hat) from one encoder and one decoder call", 1, 0 if problems else 1,
                        not problems, "mu, logvar = model.encoder(...); x_hat = model.decoder(...)",
                        "; ".join(problems), "return mu, logvar, x_hat in that order"))
    latent = mu.shape[1]
    z1, z2 = t.get("decoder_in1"), t.get("decoder_in2")
    if conditional:
        one_hot = torch.nn.functional.one_hot(y, 10).float()
        enc_ok = _close(t.get("encoder_in"), torch.cat([x, one_hot], 1))
        dec_ok = z1 is not None and z1.shape == (len(y), latent + 10) and _close(z1[:, latent:], one_hot)
        received = []
        if not enc_ok:
            got = t.get("encoder_in")
            received.append(f"the encoder got {'nothing' if got is None else tuple(got.shape)}"
                            + (" with other values" if got is not None and got.shape == (len(y), 794) else ""))
        if not dec_ok:
            received.append(f"the decoder got {'nothing' if z1 is None else tuple(z1.shape)}"
                            + (" with another class part" if z1 is not None and z1.shape[1] == latent + 10 else ""))
        checks.append(Check("conditions on the class", 2, (1 if enc_ok else 0) + (1 if dec_ok else 0),
                            enc_ok and dec_ok, "encoder on append_class_to_data(x, y); decoder on "
                            "append_class_to_data(z, y)", "; ".join(received),
                            "append the same labels y to both inputs"))
        z1 = z1[:, :latent] if z1 is not None and z1.shape[1] == latent + 10 else None
        z2 = z2[:, :latent] if z2 is not None and z2.shape[1] == latent + 10 else None
    noise_marks, grad_marks = (1, 1) if conditional else (2, 2)
    # 2. the noise
    if z1 is None or z2 is None or z1.shape != mu.shape or z2.shape != mu.shape:
        checks.append(Check("z = mu + exp(logvar / 2) * eps with fresh eps ~ N(0, I)", noise_marks, 0, False,
                            f"z of shape {tuple(mu.shape)} passed to the decoder", "no z of that shape",
                            "decode the sampled z"))
    else:
        std = torch.exp(0.5 * logvar.double())
        eps1, eps2 = (z1.double() - mu.double()) / std, (z2.double() - mu.double()) / std
        bad = stats.failing(stats.noise_statistics(eps1, eps2, logvar))
        hint = _noise_hint(bad, eps1, eps2)
        checks.append(Check("z = mu + exp(logvar / 2) * eps with fresh eps ~ N(0, I)", noise_marks,
                            0 if bad else noise_marks, not bad, "standardised noise (z - mu) / exp(logvar / 2) "
                            "with mean 0, variance 1, independent entries",
                            ", ".join(f"{k} off by {v:.1f} standard errors" for k, v in list(bad.items())[:3]),
                            hint))
    # 3. gradients: z must be a differentiable function of mu and logvar (the reparameterization),
    # dz/dmu = 1 and dz/dlogvar = f'(logvar) * eps = c(logvar) * (z - mu); the std's formula is the noise
    # check's business, so a wrong std is not charged twice.
    if z1 is None or z1.shape != mu.shape:
        grad_ok, received = False, "no z to differentiate"
    elif not meta.get("z_requires_grad") or "grad_mu" not in t:
        grad_ok, received = False, "no gradient reaches mu"
    else:
        G = inputs["G"][:, :latent].double()
        spread = G * (z1.double() - mu.double())
        grad_lv = t.get("grad_logvar", torch.zeros_like(mu)).double()
        moving = spread.abs() > 1e-3
        factor = grad_lv[moving] / spread[moving]
        grad_ok = _close(t["grad_mu"], G, 1e-3, 1e-4) and bool(torch.isfinite(factor).all()) and bool(
            (factor.abs() > 1e-6).all()) and bool((grad_lv[~moving].abs() <= 1e-2).all())
        received = "" if grad_ok else ("no gradient reaches logvar" if "grad_logvar" not in t and moving.any()
                                       else "other gradients")
    checks.append(Check("gradients reach mu and logvar through the sample", grad_marks,
                        grad_marks if grad_ok else 0, grad_ok, "dz/dmu = 1 and dz/dlogvar proportional to z - mu",
                        received, "build z from mu and logvar with torch operations; no torch.normal, "
                        ".sample() or .detach()"))
    return ItemResult.from_checks(item.marks, checks)


def _noise_hint(bad, eps1, eps2):
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
    kl = ((mu * inputs["A"]).sum() + (logvar * inputs["C"]).sum()) / len(mu)
    loglik = (x_hat * inputs["E"] * (1 + x)).sum() / len(x)
    return kl, loglik


def judge_loss(item, outcome, context):
    """``(c)elbo``: kl - loglik on one reconstruction, with the grader's helpers or written out."""
    inputs = context.inputs[item.id]
    t, meta = outcome.tensors, outcome.meta.get("probe", {})
    mu, logvar, x = inputs["mu"], inputs["logvar"], inputs["x"]
    received, x_hat = t.get("value"), t.get("decoder_out")
    out = meta.get("out", {})
    checks = []
    value_ok, expected_text, hint = False, "kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)", ""
    if received is not None and received.numel() == 1 and x_hat is not None and meta.get("decoder_calls") == 1:
        kl, loglik = _stand_in_loss(inputs, mu, logvar, x_hat, x)
        candidates = [kl - loglik]
        if not context.public:
            candidates.append(_kl_reference(mu, logvar) - _loglik_reference(x_hat, x))
        value_ok = any(_close(received.reshape(()), c.detach(), 1e-3, 1e-3) for c in candidates)
        if not value_ok:
            if _close(received.reshape(()), (kl + loglik).detach(), 1e-3, 1e-3):
                hint = "binary_cross_entropy is a log-likelihood: subtract it (loss = kl - loglik)"
            elif _close(received.reshape(()), (loglik - kl).detach(), 1e-3, 1e-3):
                hint = "that is the ELBO itself; return its negative, the loss to minimise (kl - loglik)"
            elif "loglik_arg0" in t and _close(t["loglik_arg0"], x):
                hint = "call binary_cross_entropy(x_hat, x): x_hat first"
            elif "kl_arg0" in t and _close(t["kl_arg0"], logvar):
                hint = "call kl_divergence(mu, logvar): mu first"
            else:
                hint = "combine the KL and the log-likelihood of the same reconstruction"
    elif meta.get("decoder_calls", 0) != 1:
        hint = (f"decode once per call: the decoder ran {meta.get('decoder_calls', 0)} times "
                f"({meta.get('reconstruct_calls', 0)} reconstruct calls)")
    else:
        hint = "return the loss as a tensor"
    value_marks, scalar_marks = 0.75 * item.marks, 0.25 * item.marks
    checks.append(Check("value: kl - loglik on one reconstruction", value_marks, value_marks if value_ok else 0, value_ok,
                        expected_text, _fmt(received) if received is not None else _type_text(out), hint))
    scalar_ok = out.get("type") == "tensor" and out.get("shape") == [] and out.get("requires_grad", False)
    if value_ok:
        checks.append(Check("returns a 0-dim tensor that carries gradients", scalar_marks,
                            scalar_marks if scalar_ok else 0, scalar_ok, "a 0-dim tensor with requires_grad",
                            _type_text(out), "no .item() or float(): training needs loss.backward()"))
    else:  # the form of a wrong value earns nothing
        checks.append(Check("returns a 0-dim tensor that carries gradients", scalar_marks, 0, False, "", "",
                            "not judged: the value is wrong"))
    return ItemResult.from_checks(item.marks, checks)


# --- training ---------------------------------------------------------------------------------------

def judge_training(item, outcome, context):
    """Layout of the returned model, following the budget's args, held-out loss against the reference."""
    conditional = item.id == "q5.train"
    t, meta = outcome.tensors, outcome.meta.get("probe", {})
    layout_marks, args_marks, learn_marks, label_marks = (1, 1, 2, 1) if conditional else (2, 2, 6, 0)
    checks, details = [], {"seconds": meta.get("seconds"), "losses": meta.get("losses", [])}
    state = training.state_dict_of(t)
    reason = training.layout_problem(conditional, state) if state else f"returned {meta.get('returned')}"
    kind = "CVAE" if conditional else "VAE"
    checks.append(Check(f"returns a {kind} of the contract's layout", layout_marks, 0 if reason else layout_marks,
                        not reason, f"the {kind} layout of the handout's table", reason,
                        "return the trained model, built with Encoder and nn.Sequential as in the table"))
    steps, n = meta.get("steps", 0), meta.get("n_train", 0)
    optimizers = meta.get("optimizers", [])
    expected = training.expected_steps(n, context.public)
    run_budget = training.budget(context.public)
    adam = bool(optimizers) and all(o["class"] == "Adam" and all(abs(lr - 1e-3) < 1e-12 for lr in o["lr"])
                                    for o in optimizers)
    data_calls = meta.get("data_calls", [])
    train_split = bool(data_calls) and all(split == "train" for split in data_calls)
    follows = steps in expected and adam and train_split
    optimizer_text = ", ".join(f"{o['class']} lr={o['lr'][0]:g}" for o in optimizers) or "no optimizer"
    received = (f"{steps} optimizer steps with {optimizer_text}"
                + ("" if data_calls else "; get_mnist_data() never called")
                + ("" if train_split or not data_calls else f"; get_mnist_data called for {sorted(set(data_calls))}"))
    checks.append(Check("follows args: epochs, batch_size, Adam(lr), data from get_mnist_data()", args_marks,
                        args_marks if follows else 0, bool(follows),
                        f"{' or '.join(str(s) for s in sorted(expected))} steps of Adam(lr=0.001) for epochs="
                        f"{run_budget['epochs']}, batch_size={run_budget['batch_size']}", received,
                        "use args = MNISTArgs(**kwargs) for every setting, get_mnist_data() (the train split) for "
                        "the data, and one optimizer step per minibatch"))
    if context.public:
        return ItemResult.from_checks(item.marks, [Check(c.name, c.marks * item.marks / (layout_marks + args_marks),
                                                         c.awarded * item.marks / (layout_marks + args_marks),
                                                         c.passed, c.expected, c.received, c.hint)
                                                   for c in checks], details)
    baseline = context.baselines.get(conditional)
    hx, hy = context.held_out
    model = None if reason else training.load_state(conditional, state)
    if model is None:
        checks.append(Check("learns: held-out loss", learn_marks, 0, False, "", "", "not judged: no model to score"))
        if conditional:
            checks.append(Check("uses the labels", label_marks, 0, False, "", "", "not judged: no model to score"))
        return ItemResult.from_checks(item.marks, checks, details)
    score = held_out_loss_safe(model, conditional, hx, hy)
    details.update(held_out=score, reference_held_out=baseline.trained, untrained_held_out=baseline.untrained)
    share = (baseline.untrained - score) / (baseline.untrained - baseline.trained)
    awarded = learn_marks if share >= training.FULL_SHARE else (learn_marks / 2 if share >= training.PARTIAL_SHARE else 0)
    checks.append(Check("learns: held-out loss (nats per image) under the grading budget", learn_marks, awarded,
                        awarded == learn_marks,
                        f"<= {baseline.trained + (1 - training.FULL_SHARE) * (baseline.untrained - baseline.trained):.1f} "
                        f"(reference {baseline.trained:.1f}, untrained {baseline.untrained:.1f})",
                        f"{score:.1f}" if math.isfinite(score) else "not a finite loss",
                        "zero the gradients, backward, step for every minibatch, over all the data each epoch"))
    if conditional:
        gap = held_out_loss_safe(model, True, hx, training.wrong_labels(hy)) - score
        details["label_gap"], details["reference_label_gap"] = gap, baseline.wrong_label_gap
        uses = gap >= training.LABEL_GAP_SHARE * baseline.wrong_label_gap
        checks.append(Check("uses the labels: wrong labels raise the held-out loss", label_marks,
                            label_marks if uses else 0, uses,
                            f">= {training.LABEL_GAP_SHARE * baseline.wrong_label_gap:.1f} nats "
                            f"(reference {baseline.wrong_label_gap:.1f})", f"{gap:.1f} nats",
                            "train each image with its own label (keep x and y aligned when shuffling)"))
    return ItemResult.from_checks(item.marks, checks, details)


def held_out_loss_safe(model, conditional, X, Y):
    value = training.held_out_loss(model, conditional, X, Y)
    return value if math.isfinite(value) else float("inf")


JUDGES = {"q4.kl_divergence": judge_scalar, "q4.binary_cross_entropy": judge_scalar,
          "q4.reconstruct": judge_sampler, "q5.reconstruct": judge_sampler,
          "q4.elbo": judge_loss, "q5.celbo": judge_loss,
          "q4.train": judge_training, "q5.train": judge_training}


def judge(item, outcome, context, time_limit):
    """The item's result; an outcome without usable data becomes an ``error`` with its reason."""
    if outcome.failure:
        return ItemResult.error(item.marks, outcome.failure)
    replied = "probe" in outcome.meta or "error" in outcome.meta
    if not outcome.record or outcome.record.get("timed_out") or not replied:
        return ItemResult.error(item.marks, describe_failure(outcome, item.function, time_limit))
    if "error" in outcome.meta:
        message = outcome.meta["error"]
        exception = outcome.meta.get("exception")
        if exception == "NotImplementedError":
            return ItemResult(item.marks, "fail", 0.0, [f"{item.function} is not done yet (NotImplementedError)"])
        if exception == "SystemExit":
            message = f"{item.function} called sys.exit() ({message})"
        elif exception == "MemoryError" or "can't allocate memory" in message or "DefaultCPUAllocator" in message:
            message = f"{item.function} ran out of memory (the grader allows 2 GB): {message[:200]}"
        text = f"{item.function}: {message}" if not message.startswith(item.function) else message
        if outcome.meta.get("traceback", "").strip() not in ("", message.strip()):
            text += "\n" + outcome.meta["traceback"]
        for note in outcome.meta.get("load_failures", [])[:3]:
            text += f"\n(while loading: {note})"
        return ItemResult.error(item.marks, text)
    return JUDGES[item.id](item, outcome, context)
