"""Worker side: call one student function on the judge's inputs and record what happened.

Each probe takes the submission's namespace (student definitions with the
grader's scaffold installed), the item's input tensors and returns
``(tensors, meta)``: plain tensors and JSON-able facts for the judge. Probes hold
no expected values and decide nothing; the judge does, in its own process.
"""
import time

import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook


def plain(value):
    """A detached, contiguous, plain ``torch.Tensor`` copy of ``value``, or None if it is not numeric."""
    if isinstance(value, torch.Tensor):
        return value.detach().as_subclass(torch.Tensor).cpu().contiguous().clone()
    try:
        return torch.as_tensor(value).detach().clone()
    except Exception:
        return None


def describe(value):
    """JSON facts about a returned value: its type, dtype, shape and whether it carries a gradient."""
    if isinstance(value, torch.Tensor):
        return {"type": "tensor" if type(value) is torch.Tensor else f"tensor subclass {type(value).__name__}",
                "dtype": str(value.dtype).replace("torch.", ""), "shape": list(value.shape),
                "requires_grad": bool(value.requires_grad)}
    return {"type": type(value).__name__, "repr": repr(value)[:200]}


class Recorder(nn.Module):
    """Passes its input through and keeps it."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x)
        return x


class Table(nn.Module):
    """A layer with known outputs: rows of a parameter table, whatever the input values."""

    def __init__(self, table):
        super().__init__()
        self.table = nn.Parameter(table.clone())

    def forward(self, h):
        return self.table[: len(h)] * 1.0


def pinned_model(model_class, encoder_class, inputs):
    """A ``model_class`` whose encoder returns ``inputs["mu"]``/``["logvar"]`` rows and records its input,
    and whose decoder records ``z`` then applies ``Linear(dec_w, dec_b)`` and a sigmoid."""
    encoder = encoder_class.__new__(encoder_class)
    nn.Module.__init__(encoder)
    encoder.features = Recorder()
    encoder.mu, encoder.logvar = Table(inputs["mu"]), Table(inputs["logvar"])
    linear = nn.Linear(*inputs["dec_w"].shape[::-1])
    with torch.no_grad():
        linear.weight.copy_(inputs["dec_w"])
        linear.bias.copy_(inputs["dec_b"])
    decoder = nn.Sequential(Recorder(), linear, nn.Sigmoid(), Recorder())
    model = model_class(encoder, decoder)
    return model


def _recorded(model):
    return model.encoder.features.seen, model.decoder[0].seen, model.decoder[3].seen


def probe_scalar(ns, inputs, function, arg_names):
    """``function(*args)`` for every case ``cN/<arg>``; value and gradients with respect to each arg."""
    tensors, meta = {}, {}
    cases = sorted({key.split("/")[0] for key in inputs})
    for case in cases:
        args = [inputs[f"{case}/{name}"].clone().requires_grad_(True) for name in arg_names]
        out = ns[function](*args)
        meta[case] = describe(out)
        value = plain(out)
        if value is not None:
            tensors[f"{case}/value"] = value
        if isinstance(out, torch.Tensor) and out.requires_grad and out.numel() >= 1:
            grads = torch.autograd.grad(out.sum(), args, allow_unused=True)
            for name, grad in zip(arg_names, grads):
                if grad is not None:
                    tensors[f"{case}/grad_{name}"] = plain(grad)
    return tensors, meta


def probe_sampler(ns, inputs, function, conditional):
    """Two calls of ``(c)reconstruct`` on a pinned model: outputs, recorded ``z``, and gradients of
    ``sum(z * G)`` with respect to the pinned ``mu`` and ``logvar``."""
    model_class = ns["CVAE"] if conditional else ns["VAE"]
    model = pinned_model(model_class, ns["Encoder"], inputs)
    args = (model, inputs["x"]) + ((inputs["y"],) if conditional else ())
    tensors, meta = {}, {"calls": []}
    for call in (1, 2):
        before = [len(seen) for seen in _recorded(model)]
        out = ns[function](*args)
        after = [len(seen) for seen in _recorded(model)]
        meta["calls"].append({"encoder": after[0] - before[0], "decoder": after[1] - before[1]})
        if call == 1:
            meta["out"] = describe(out)
            if isinstance(out, (tuple, list)):
                meta["out"]["items"] = [describe(part) for part in out]
                for name, part in zip(("mu", "logvar", "x_hat"), out):
                    if plain(part) is not None:
                        tensors[f"out_{name}"] = plain(part)
        encoder_in, decoder_in, decoder_out = _recorded(model)
        if after[1] > before[1]:
            tensors[f"decoder_in{call}"] = plain(decoder_in[-1])
            tensors[f"decoder_out{call}"] = plain(decoder_out[-1])
        if after[0] > before[0] and call == 1:
            tensors["encoder_in"] = plain(encoder_in[-1])
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


def probe_loss(ns, inputs, function, conditional):
    """``(c)elbo`` with recording stand-ins for ``(c)reconstruct``, ``kl_divergence`` and
    ``binary_cross_entropy`` (simple known functionals, not the real losses)."""
    model_class = ns["CVAE"] if conditional else ns["VAE"]
    model = pinned_model(model_class, ns["Encoder"], inputs)
    append = ns["append_class_to_data"]
    calls = {"reconstruct": 0, "kl": [], "loglik": []}

    def stand_in_reconstruct(vae, x, y=None):
        calls["reconstruct"] += 1
        mu, logvar = vae.encoder(x if y is None else append(x, y))
        z = mu + torch.exp(0.5 * logvar) * inputs["eps"][: len(mu)]
        return mu, logvar, vae.decoder(z if y is None else append(z, y))

    def stand_in_kl(mu, logvar):
        calls["kl"].append((mu, logvar))
        return ((mu * inputs["A"]).sum() + (logvar * inputs["C"]).sum()) / len(mu)

    def stand_in_loglik(x_hat, x):
        calls["loglik"].append((x_hat, x))
        return (x_hat * inputs["E"] * (1 + x)).sum() / len(x)

    ns.update(kl_divergence=stand_in_kl, binary_cross_entropy=stand_in_loglik)
    ns["creconstruct" if conditional else "reconstruct"] = stand_in_reconstruct
    args = (model, inputs["x"]) + ((inputs["y"],) if conditional else ())
    out = ns[function](*args)
    encoder_in, decoder_in, decoder_out = _recorded(model)
    meta = {"out": describe(out), "reconstruct_calls": calls["reconstruct"], "encoder_calls": len(encoder_in),
            "decoder_calls": len(decoder_in), "kl_calls": len(calls["kl"]), "loglik_calls": len(calls["loglik"])}
    tensors = {}
    if plain(out) is not None:
        tensors["value"] = plain(out)
    if decoder_out:
        tensors["decoder_out"] = plain(decoder_out[-1])
    for name, recorded in (("kl", calls["kl"]), ("loglik", calls["loglik"])):
        for position, arg in enumerate(recorded[0] if recorded else ()):
            if plain(arg) is not None:
                tensors[f"{name}_arg{position}"] = plain(arg)
    return tensors, meta


class StepCounter:
    """Counts optimizer steps and records each optimizer's class and learning rates (global hooks)."""

    def __init__(self):
        self.steps = 0
        self.optimizers = {}
        self.handle = register_optimizer_step_post_hook(self._after_step)

    def _after_step(self, optimizer, args, kwargs):
        self.steps += 1
        self.optimizers.setdefault(id(optimizer), {
            "class": type(optimizer).__name__,
            "lr": [float(g.get("lr", float("nan"))) for g in optimizer.param_groups]})


def probe_training(ns, inputs, function, conditional, budget, loss_source):
    """``function(**budget)`` with the grader's data and, when ``loss_source`` is given, the
    grader's loss functions defined from it, so that only the training loop is judged."""
    X, Y = inputs["X"], inputs["Y"]
    data_calls = []

    def get_mnist_data(split="train"):
        data_calls.append(split)
        return X.clone(), Y.clone()

    ns["get_mnist_data"] = get_mnist_data
    if loss_source:
        exec(compile(loss_source, "<grader's loss functions>", "exec"), ns)
    loss_name = "celbo" if conditional else "elbo"
    loss_fn, loss_values = ns.get(loss_name), []
    if loss_fn is not None:
        def recording_loss(*args):
            value = loss_fn(*args)
            loss_values.append(float(value.detach()) if isinstance(value, torch.Tensor) else float("nan"))
            return value
        ns[loss_name] = recording_loss
    counter = StepCounter()
    started = time.perf_counter()
    try:
        model = ns[function](**budget)
    finally:
        counter.handle.remove()
    meta = {"seconds": time.perf_counter() - started, "steps": counter.steps,
            "optimizers": list(counter.optimizers.values()), "data_calls": data_calls,
            "returned": type(model).__name__, "losses": loss_values[:20000], "n_train": len(X)}
    tensors = {}
    if isinstance(model, nn.Module):
        for name, value in model.state_dict().items():
            if isinstance(value, torch.Tensor):
                tensors[f"state/{name}"] = plain(value)
    return tensors, meta


def run_probe(item_id, ns, inputs, params, loss_source):
    """Dispatch ``item_id`` to its probe."""
    if item_id == "q4.kl_divergence":
        return probe_scalar(ns, inputs, "kl_divergence", ("mu", "logvar"))
    if item_id == "q4.binary_cross_entropy":
        return probe_scalar(ns, inputs, "binary_cross_entropy", ("x_hat", "x"))
    if item_id == "q4.reconstruct":
        return probe_sampler(ns, inputs, "reconstruct", conditional=False)
    if item_id == "q5.reconstruct":
        return probe_sampler(ns, inputs, "creconstruct", conditional=True)
    if item_id == "q4.elbo":
        return probe_loss(ns, inputs, "elbo", conditional=False)
    if item_id == "q5.celbo":
        return probe_loss(ns, inputs, "celbo", conditional=True)
    if item_id == "q4.train":
        return probe_training(ns, inputs, "train_mnist_vae", False, params, loss_source)
    if item_id == "q5.train":
        return probe_training(ns, inputs, "train_mnist_cvae", True, params, loss_source)
    raise KeyError(item_id)
