"""Child side: call one student function on the public inputs and record what happened.

Runs beside the student's code (``selfcheck.child``); decides nothing. It holds no
implementation of a student function: the loss items' stand-in ``reconstruct`` returns the
sample precomputed for the public inputs (``z``, a lookup) and the stand-in KL and
log-likelihood are known linear functionals (``A``, ``C``, ``E``), not the real losses, as in
the grader's probes.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from worker import standins

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

LOSSES_MAX = 20000


def plain(value: object) -> torch.Tensor | None:
    """A detached plain tensor copy of ``value``, or None if it is not numeric."""
    if isinstance(value, torch.Tensor):
        return value.detach().as_subclass(torch.Tensor).cpu().contiguous().clone()
    try:
        return torch.as_tensor(value).detach().clone()
    except Exception:  # noqa: BLE001
        return None


def describe(value: object) -> dict:
    """Type, dtype, shape and whether it carries a gradient, as JSON facts."""
    if isinstance(value, torch.Tensor):
        return {"type": "tensor", "dtype": str(value.dtype).replace("torch.", ""), "shape": list(value.shape),
                "requires_grad": bool(value.requires_grad)}
    try:
        text = repr(value)[:120]
    except Exception:  # noqa: BLE001
        text = "?"
    return {"type": type(value).__name__[:80], "repr": text}


class Recorder(nn.Module):
    """Passes its input through and keeps it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x)
        return x


class Table(nn.Module):
    """A layer with known outputs: rows of a parameter table, whatever the input values."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = nn.Parameter(table.clone())

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.table[: len(h)] * 1.0


def pinned_model(ns: dict[str, Any], conditional: bool, inputs: dict[str, torch.Tensor]) -> Any:
    """The scaffold's (C)VAE whose encoder returns the public ``mu``/``logvar`` rows and records its input,
    and whose decoder records ``z`` then applies ``Linear(dec_w, dec_b)`` and a sigmoid."""
    encoder = ns["Encoder"].__new__(ns["Encoder"])
    nn.Module.__init__(encoder)
    encoder.features = Recorder()
    encoder.mu, encoder.logvar = Table(inputs["mu"]), Table(inputs["logvar"])
    linear = nn.Linear(*inputs["dec_w"].shape[::-1])
    with torch.no_grad():
        linear.weight.copy_(inputs["dec_w"])
        linear.bias.copy_(inputs["dec_b"])
    return (ns["CVAE"] if conditional else ns["VAE"])(encoder, nn.Sequential(Recorder(), linear, nn.Sigmoid(), Recorder()))


def _recorded(model: Any) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    return model.encoder.features.seen, model.decoder[0].seen, model.decoder[3].seen


def probe_scalar(function: Callable[..., object], inputs: dict[str, torch.Tensor],
                 names: Sequence[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Value, gradients (``grad_<name>``) and a second call's value (``value2``) on the public case."""
    args = [inputs[name].clone().requires_grad_(True) for name in names]
    out = function(*args)
    tensors: dict[str, Any]   # plain() values, each checked for None before it is stored
    meta: dict[str, Any]
    tensors, meta = {}, {"out": describe(out)}
    if plain(out) is not None:
        tensors["value"] = plain(out)
    if isinstance(out, torch.Tensor) and out.requires_grad and out.numel() >= 1:
        for name, grad in zip(names, torch.autograd.grad(out.sum(), args, allow_unused=True)):
            if grad is not None:
                tensors[f"grad_{name}"] = plain(grad)
    with torch.no_grad():
        again = plain(function(*[inputs[name].clone() for name in names]))
    if again is not None:
        tensors["value2"] = again
    return tensors, meta


def probe_sampler(ns: dict[str, Any], function: Callable[..., object], inputs: dict[str, torch.Tensor],
                  conditional: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Two calls on a pinned model in training mode and one after ``model.eval()``: outputs, decoded ``z``
    and the gradients of ``sum(z * G)`` with respect to the pinned ``mu`` and ``logvar``."""
    model = pinned_model(ns, conditional, inputs)
    args = (model, inputs["x"]) + ((inputs["y"],) if conditional else ())
    tensors: dict[str, Any]   # plain() values, each checked for None before it is stored
    meta: dict[str, Any]
    tensors, meta = {}, {"calls": []}
    for call in (1, 2, 3):
        if call == 3:
            model.eval()
        before = [len(seen) for seen in _recorded(model)]
        out = function(*args)
        after = [len(seen) for seen in _recorded(model)]
        meta["calls"].append({"encoder": after[0] - before[0], "decoder": after[1] - before[1]})
        if call == 1:
            meta["out"] = describe(out)
            if isinstance(out, (tuple, list)):
                meta["out"]["items"] = [describe(part) for part in out[:8]]
                for name, part in zip(("mu", "logvar", "x_hat"), out):
                    if plain(part) is not None:
                        tensors[f"out_{name}"] = plain(part)
        encoder_in, decoder_in, decoder_out = _recorded(model)
        suffix = "_eval" if call == 3 else str(call)
        if after[1] > before[1]:
            tensors[f"decoder_in{suffix}"] = plain(decoder_in[before[1]])
            tensors[f"decoder_out{suffix}"] = plain(decoder_out[-1])
        if after[0] > before[0] and call == 1:
            tensors["encoder_in"] = plain(encoder_in[0])
    model.train()
    if "decoder_in1" in tensors:
        z = model.decoder[0].seen[0]
        if z.requires_grad:
            G = inputs["G"]
            grads = torch.autograd.grad((z[:, : G.shape[1]] * G).sum(),
                                        [model.encoder.mu.table, model.encoder.logvar.table], allow_unused=True)
            for name, grad in zip(("grad_mu", "grad_logvar"), grads):
                if grad is not None:
                    tensors[name] = plain(grad)
        meta["z_requires_grad"] = bool(z.requires_grad)
    return tensors, meta


def probe_loss(ns: dict[str, Any], function: Callable[..., object], inputs: dict[str, torch.Tensor], conditional: bool,
               sampler: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Two calls of the loss with recording stand-ins for the sampler (``sampler``: its name), the KL and the
    log-likelihood; per call the value, the encoder's and decoder's inputs and how often each part ran."""
    model = pinned_model(ns, conditional, inputs)
    append = ns["append_class_to_data"]
    calls: dict[str, Any] = {"reconstruct": 0, "kl": [], "loglik": []}

    def stand_in_reconstruct(vae: Any, x: torch.Tensor,
                             y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        calls["reconstruct"] += 1
        mu, logvar = vae.encoder(x if y is None else append(x, y))
        z = mu + (inputs["z"][: len(mu)] - mu).detach()   # the precomputed sample (a lookup), gradient to mu
        return mu, logvar, vae.decoder(z if y is None else append(z, y))

    def stand_in_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        calls["kl"].append((mu, logvar))
        return standins.kl(mu, logvar, inputs["A"], inputs["C"])

    def stand_in_loglik(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        calls["loglik"].append((x_hat, x))
        return standins.loglik(x_hat, x, inputs["E"])

    own_sampler: Any = ns.get(sampler)

    def own_reconstruct(*args: object) -> object:
        calls["reconstruct"] += 1
        return own_sampler(*args)

    ns.update(kl_divergence=stand_in_kl, binary_cross_entropy=stand_in_loglik)
    ns[sampler] = stand_in_reconstruct
    try:
        return _loss_calls(function, model, inputs, conditional, calls)
    except Exception as error:  # noqa: BLE001 - e.g. a loss reading state its own reconstruct stores
        if own_sampler is None:
            raise
        # Again with the student's own sampler, as the grader does: a loss that relies on what its
        # reconstruct leaves on the model is correct work (its sample is then checked like any other).
        calls.update(reconstruct=0, kl=[], loglik=[])
        ns[sampler] = own_reconstruct
        tensors, meta = _loss_calls(function, pinned_model(ns, conditional, inputs), inputs, conditional, calls)
        meta["own_sampler"] = f"with the stand-in {sampler} it raised {type(error).__name__}"
        return tensors, meta


def _loss_calls(function: Callable[..., object], model: Any, inputs: dict[str, torch.Tensor], conditional: bool,
                calls: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Call the loss twice on ``model``; what each call used and returned (see ``probe_loss``)."""
    args = (model, inputs["x"]) + ((inputs["y"],) if conditional else ())
    tensors: dict[str, Any]   # plain() values, each checked for None before it is stored
    meta: dict[str, Any]
    tensors, meta = {}, {"calls": []}
    for call in (1, 2):
        before = [len(seen) for seen in _recorded(model)]
        counts = (calls["reconstruct"], len(calls["kl"]), len(calls["loglik"]))
        out = function(*args)
        encoder_in, decoder_in, _ = _recorded(model)
        meta["calls"].append({"reconstruct": calls["reconstruct"] - counts[0], "kl": len(calls["kl"]) - counts[1],
                              "loglik": len(calls["loglik"]) - counts[2], "encoder": len(encoder_in) - before[0],
                              "decoder": len(decoder_in) - before[1]})
        if plain(out) is not None:
            tensors[f"value{call}"] = plain(out)
        if len(encoder_in) > before[0]:
            tensors[f"encoder_in{call}"] = plain(encoder_in[before[0]])
        if len(decoder_in) > before[1]:
            tensors[f"decoder_in{call}"] = plain(decoder_in[before[1]])
        if call == 1:
            meta["out"] = describe(out)
            for name, recorded in (("kl", calls["kl"]), ("loglik", calls["loglik"])):
                for position, arg in enumerate(recorded[0] if recorded else ()):
                    if plain(arg) is not None:
                        tensors[f"{name}_arg{position}"] = plain(arg)
    return tensors, meta


def _leaf_types(module: object) -> list[str]:
    if not isinstance(module, nn.Module):
        return [] if module is None else [type(module).__name__]
    return [type(m).__name__ for m in module.modules() if next(iter(m.children()), None) is None][:32]


def model_structure(model: object) -> dict:
    """The returned model's parts and their module types, as plain data."""
    encoder = getattr(model, "encoder", None)
    return {"features": _leaf_types(getattr(encoder, "features", None)),
            "mu": type(getattr(encoder, "mu", None)).__name__, "logvar": type(getattr(encoder, "logvar", None)).__name__,
            "decoder": _leaf_types(getattr(model, "decoder", None))}


def training_stand_ins(ns: dict[str, Any]) -> dict:
    """Stand-ins for the loss functions while a training function is checked, as the grader hands its own
    losses to the training items (one mistake costs marks once): simple differentiable functions with the
    same signatures (squared errors of the decoded mean, not the VAE's losses). Only the layout, the steps
    and the optimizer are checked here, never what the model learns, so any such loss serves."""
    append = ns["append_class_to_data"]

    def decoded_mean(model: Any, inputs: torch.Tensor,
                     labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, log_variance = model.encoder(inputs if labels is None else append(inputs, labels))
        return mean, log_variance, model.decoder(mean if labels is None else append(mean, labels))

    def penalty(mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
        return (mean ** 2 + log_variance ** 2).mean()

    def fit(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return -((x_hat - x) ** 2).sum(1).mean()

    def squared_error_loss(model: Any, inputs: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        mean, log_variance, output = decoded_mean(model, inputs, labels)
        return penalty(mean, log_variance) - fit(output, inputs)

    return {"reconstruct": decoded_mean, "creconstruct": decoded_mean, "kl_divergence": penalty,
            "binary_cross_entropy": fit, "elbo": squared_error_loss, "celbo": squared_error_loss}


def probe_training(ns: dict[str, Any], function: Callable[..., object], budget: dict[str, Any], loss_name: str,
                   X: torch.Tensor, Y: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``function(**budget)`` with ``get_mnist_data`` giving ``X``/``Y`` and the loss stand-ins: optimizer
    steps (torch's global step hook) with each optimizer's class, learning rates and weight decay, the
    splits asked for, the training losses, the returned model's structure and state dict."""
    optimizers: dict[int, dict[str, Any]]
    losses: list[float]
    data_calls, steps, optimizers, losses = [], [0], {}, []

    def get_mnist_data(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        data_calls.append(str(split)[:20])
        return (X.clone(), Y.clone()) if split == "train" else (X[:500].clone(), Y[:500].clone())

    def after_step(optimizer: torch.optim.Optimizer, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        steps[0] += 1
        record = optimizers.setdefault(id(optimizer), {"class": type(optimizer).__name__, "lr_min": float("inf"),
                                                       "lr_max": float("-inf"), "weight_decay": 0.0})
        for group in getattr(optimizer, "param_groups", []):
            lr = float(group.get("lr", float("nan")))
            record["lr_min"], record["lr_max"] = min(record["lr_min"], lr), max(record["lr_max"], lr)
            record["weight_decay"] = max(record["weight_decay"], float(group.get("weight_decay", 0.0) or 0.0))

    ns.update(training_stand_ins(ns))
    loss = ns.get(loss_name)
    if loss is not None:
        def recording(*args: object, **kwargs: object) -> object:
            value = loss(*args, **kwargs)
            if isinstance(value, torch.Tensor) and value.requires_grad and len(losses) < LOSSES_MAX:
                losses.append(float(value.detach()))
            return value
        ns[loss_name] = recording
    ns["get_mnist_data"] = get_mnist_data
    handle = register_optimizer_step_post_hook(after_step)
    started = time.perf_counter()
    try:
        model = function(**budget)
    finally:
        handle.remove()
    meta: dict[str, Any] = {"seconds": time.perf_counter() - started, "data_calls": data_calls[:64], "steps": steps[0],
            "optimizers": list(optimizers.values())[:16], "losses": losses, "returned": type(model).__name__[:80],
            "structure": model_structure(model) if isinstance(model, nn.Module) else {}}
    tensors: dict[str, Any] = {}
    if isinstance(model, nn.Module):
        for name, value in list(model.state_dict().items())[:64]:
            if isinstance(value, torch.Tensor):
                tensors[f"state/{name[:200]}"] = plain(value)
    return tensors, meta
