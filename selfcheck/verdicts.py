"""Parent side: what came back from the child, compared with the shipped expected values.

Check names and marks are the grader's (``expected.json`` carries the registry's marks; the
names below are the judge's words for the same checks, ``tests/test_release.py`` holds them
equal). Tolerances are the judge's. Nothing here computes a student function: the expected
values, their gradients, the standard deviation of the pinned samplers and the values of
known mistakes are numbers computed by the reference when the bundle was written.
"""
import math
from typing import cast

import torch

from selfcheck.evidence import UNVERIFIED, close, fmt, scalar, tensor, type_text  # noqa: F401 - re-exported
from selfcheck.results import CheckResult, ItemVerdict
from selfcheck.sampling import judge_sampler
from selfcheck.training import judge_training
from worker import standins

NAMES = {
    "scalar": {"value": "value on fixed inputs", "form": "returns a 0-dim float32 tensor",
               "gradients": "gradients flow to the inputs"},
    "loss": {"value": "value: kl - loglik on one fresh reconstruction",
             "form": "returns a 0-dim tensor that carries gradients"},
}
def judge_scalar(item: dict, tensors: dict, meta: dict, inputs: dict, expected: dict) -> list[CheckResult]:
    """``kl_divergence``/``binary_cross_entropy`` on the public case: value (with the grader's diagnoses of
    known wrong values), 0-dim float32, gradients (the expected ones when the value is right, else that
    they reach the inputs). Each check is judged on any value: none costs marks for another's failure."""
    marks, names, facts = dict(item["checks"]), NAMES["scalar"], meta.get("out", {})
    is_kl = item["args"][0] == "mu"
    received, again = scalar(tensors, "value"), scalar(tensors, "value2")
    value_ok = received is not None and close(received, expected["value"], 1e-3, 1e-3)
    hint = ""
    if not value_ok:
        if received is not None and again is not None and torch.isfinite(received) and not close(again, received, 1e-6, 1e-7):
            hint = (f"your value is random (two calls on the same inputs gave {fmt(received)} and {fmt(again)}): "
                    + ("use the closed form 0.5 * sum(mu^2 + exp(logvar) - logvar - 1), not a Monte-Carlo estimate"
                       if is_kl else "compute the log-likelihood itself, with no sampling"))
        elif received is not None and not torch.isfinite(received):
            hint = "your value is NaN or inf on finite inputs"
        else:
            hint = next((message for value, message in expected["known"]
                         if received is not None and close(received, value, 1e-3, 1e-3)),
                        "")   # no known mistake fits: expected and received say it, no guessed cause
    shape_text = f"inputs of shape {tuple(expected['shape'])}"
    checks = [CheckResult("value", names["value"], marks["value"], "pass" if value_ok else "fail",
                          "" if value_ok else f"{expected['value']:.6g} for {shape_text}",
                          "" if value_ok else (fmt(received) if received is not None else type_text(facts)), hint)]
    form_ok = facts.get("type") == "tensor" and facts.get("shape") == [] and facts.get("dtype") == "float32"
    checks.append(CheckResult("form", names["form"], marks["form"], "pass" if form_ok else "fail",
                              "" if form_ok else "a 0-dim float32 tensor", "" if form_ok else type_text(facts),
                              "" if form_ok else "reduce with .mean()/.sum() to a 0-dim tensor; keep float32"))
    graded = [n for n in item["args"] if n != "x"]
    if value_ok:
        grads_ok = all(close(tensors.get(f"grad_{n}"), inputs[f"expected_grad_{n}"], 1e-3, 1e-5) for n in graded)
    else:
        grads_ok = all(tensor(tensors, f"grad_{n}") is not None and bool(torch.isfinite(tensors[f"grad_{n}"]).all())
                       for n in graded)
    checks.append(CheckResult("gradients", names["gradients"], marks["gradients"], "pass" if grads_ok else "fail",
                              "" if grads_ok else f"gradients with respect to {' and '.join(graded)}",
                              "" if grads_ok else "none or wrong ones",
                              "" if grads_ok else "compute with torch operations on the inputs; no .item(), numpy or "
                                                  ".detach() inside"))
    return checks


def _stand_ins(inputs: dict, z_full: torch.Tensor, conditional: bool, latent: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss stand-ins' terms at a decoded ``z``: (kl, loglik) of the linear functionals, float64."""
    mu, logvar, x = (inputs[k].double() for k in ("mu", "logvar", "x"))
    dec_in = z_full.double() if conditional else z_full[:, :latent].double()
    x_hat = torch.sigmoid(dec_in @ inputs["dec_w"].double().T + inputs["dec_b"].double())   # the pinned decoder
    return (standins.kl(mu, logvar, inputs["A"].double(), inputs["C"].double()),
            standins.loglik(x_hat, x, inputs["E"].double()))


def loss_value(item: dict, tensors: dict, meta: dict, inputs: dict, expected: dict,
               z_full: torch.Tensor) -> tuple[str, str, str]:
    """``(state, hint, note)`` of the value check for a loss whose decoded sample ``z_full`` passed."""
    latent = inputs["mu"].shape[1]
    received = scalar(tensors, "value1")
    first = (meta.get("calls") or [{}])[0]
    looked_up = close(z_full[:, :latent], inputs["z"].double(), 1e-5, 1e-5)
    kl, loglik = _stand_ins(inputs, z_full, item["conditional"], latent)
    if looked_up:   # the stand-in's own sample: every form the grader accepts has a precomputed value
        candidates = list(expected["lookup"])
    else:           # the loss drew its own sample: the forms computable without the reference
        candidates = [float(kl - loglik), expected["reference_kl"] - float(loglik)]
    if any(close(received, c, 1e-4, 1e-3) for c in candidates):
        return "pass", "", ""
    if not looked_up and first.get("loglik", 0) < 1:
        return "unverified", "", (f"the loss draws its own sample and computes the log-likelihood without calling "
                                  f"binary_cross_entropy: its value is {UNVERIFIED}")
    arg0 = tensors.get("loglik_arg0")
    if close(received, float(kl + loglik), 1e-3, 1e-3):
        hint = "binary_cross_entropy is a log-likelihood: subtract it (loss = kl - loglik)"
    elif close(received, float(loglik - kl), 1e-3, 1e-3):
        hint = "that is the ELBO itself; return its negative, the loss to minimise (kl - loglik)"
    elif isinstance(arg0, torch.Tensor) and close(arg0, inputs["x"].double()):
        hint = "call binary_cross_entropy(x_hat, x): x_hat first"
    elif isinstance(tensors.get("kl_arg0"), torch.Tensor) and close(tensors["kl_arg0"], inputs["logvar"].double()):
        hint = "call kl_divergence(mu, logvar): mu first"
    else:
        hint = next((m for v, m in expected.get("known", []) if looked_up and close(received, v, 1e-3, 1e-3)),
                    "combine the KL and the log-likelihood of the same reconstruction")
    return "fail", hint, ""


def judge_loss(item: dict, tensors: dict, meta: dict, inputs: dict, expected: dict) -> tuple[list, list]:
    """``(c)elbo``: what it decoded (one fresh sample, for the CVAE ``one_hot(y)`` on both inputs), then its
    value against the precomputed forms; ``(checks, notes)``."""
    from selfcheck.sampling import loss_sample_problems
    marks, names = dict(item["checks"]), NAMES["loss"]
    received = scalar(tensors, "value1")
    problems, z_full = loss_sample_problems(item, tensors, meta, inputs)
    notes, hint = [], ""
    if received is None:
        state, hint = "fail", "return the loss as a tensor"
    elif problems:
        state = "fail"
        hint = ("decode once per call, a fresh sample z = mu + exp(0.5 * logvar) * eps (call "
                + ("creconstruct" if item["conditional"] else "reconstruct") + " once)"
                + ("; append each row's own label: append_class_to_data(x, y) and append_class_to_data(z, y)"
                   if item["conditional"] else ""))
    else:
        state, hint, note = loss_value(item, tensors, meta, inputs, expected, cast(torch.Tensor, z_full))  # no problems: a z
        notes += [note] if note else []
    facts = meta.get("out", {})
    checks = [CheckResult("value", names["value"], marks["value"], state,
                          "" if state != "fail" else "kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)",
                          "" if state != "fail" else ("; ".join(problems) or (fmt(received) if received is not None
                                                                               else type_text(facts))), hint)]
    form_ok = facts.get("type") == "tensor" and facts.get("shape") == [] and bool(facts.get("requires_grad"))
    checks.append(CheckResult("form", names["form"], marks["form"], "pass" if form_ok else "fail",
                              "" if form_ok else "a 0-dim tensor with requires_grad",
                              "" if form_ok else type_text(facts),
                              "" if form_ok else "no .item() or float(): training needs loss.backward()"))
    return checks, notes


def error_verdict(item: dict, meta: dict | None) -> ItemVerdict | None:
    """The verdict of an item whose child raised, timed out or sent nothing; None when it replied."""
    verdict = ItemVerdict(item["id"], item["function"], item["marks"])
    if meta is None:
        verdict.error = (f"the check stopped while running {item['function']} (the process ended: sys.exit, "
                         "os._exit, a crash or too much memory?)")
    elif meta.get("timed_out"):
        verdict.error = f"{item['function']} did not finish within {item['time_limit']:g} s (an endless loop, or far too slow)"
    elif meta.get("exception") == "NotImplementedError":
        verdict.not_done = True
    elif "error" in meta:
        message = str(meta["error"])
        text = message if message.startswith(item["function"]) else f"{item['function']}: {message}"
        trace = str(meta.get("traceback", ""))
        verdict.error = text + ("\n" + trace if trace.strip() not in ("", message.strip()) else "")
    else:
        return None
    return verdict


def judge(item: dict, tensors: dict, meta: dict | None, inputs: dict, expected: dict) -> ItemVerdict:
    """The item's verdict from its child's reply (``meta`` None: no reply)."""
    failed = error_verdict(item, meta)
    if failed is not None:
        return failed
    verdict = ItemVerdict(item["id"], item["function"], item["marks"])
    facts = (meta or {}).get("probe", {})
    kind = item["kind"]
    if kind == "scalar":
        verdict.checks = judge_scalar(item, tensors, facts, inputs, expected["scalar"][item["id"]])
    elif kind == "sampler":
        verdict.checks = judge_sampler(item, tensors, facts, inputs)
    elif kind == "loss":
        verdict.checks, verdict.notes = judge_loss(item, tensors, facts, inputs, expected["loss"][item["id"]])
    else:
        verdict.checks, verdict.notes = judge_training(item, tensors, facts, expected["train"])
    judged = {c.key for c in verdict.checks}
    verdict.checks += [CheckResult(key, key, marks, "not_here", hint="not checked here: the grader checks it")
                       for key, marks in item["checks"] if key not in judged]   # a check the grader added since
    assert math.isclose(sum(c.marks for c in verdict.checks), item["marks"]), item["id"]
    return verdict
