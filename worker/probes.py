"""Worker side: call one student function on the judge's inputs and record what happened.

Each probe takes the submission's namespace (student definitions with the
grader's scaffold installed), the item's input tensors and returns
``(tensors, meta)``: plain tensors and JSON-able facts for the judge. Probes hold
no expected values and decide nothing; the judge does, in its own process, and
validates every fact first (student code ran here: any of it may be forged).
"""
from __future__ import annotations

import math
import os
import resource
import select
import signal
import time
from typing import TYPE_CHECKING, Any, cast, overload

import torch
from torch import nn
from torch.optim.optimizer import (_global_optimizer_post_hooks, register_optimizer_step_post_hook,
                                   register_optimizer_step_pre_hook)

from worker import channel, standins
from worker.gradients import GradientWatch
from worker.items import PROBE_BY_ID
from worker.protocol import TrainingPlan

if TYPE_CHECKING:
    from collections.abc import Callable

    from worker.items import ProbeItem

NAME_MAX = 80          # characters of a type name sent back (student-chosen text)
LOSSES_MAX = 20000     # recorded training losses


@overload
def plain(value: torch.Tensor) -> torch.Tensor:
    ...


@overload
def plain(value: object) -> torch.Tensor | None:
    ...


def plain(value: object) -> torch.Tensor | None:
    """A detached, contiguous, plain ``torch.Tensor`` copy of ``value``, or None if it is not numeric."""
    if isinstance(value, torch.Tensor):
        return value.detach().as_subclass(torch.Tensor).cpu().contiguous().clone()
    try:
        return torch.as_tensor(value).detach().clone()
    except Exception:
        return None


def type_name(value: object) -> str:
    return type(value).__name__[:NAME_MAX]


def describe(value: object) -> dict[str, Any]:
    """JSON facts about a returned value: its type, dtype, shape and whether it carries a gradient."""
    if isinstance(value, torch.Tensor):
        return {"type": "tensor" if type(value) is torch.Tensor else f"tensor subclass {type_name(value)}",
                "dtype": str(value.dtype).replace("torch.", ""), "shape": list(value.shape),
                "requires_grad": bool(value.requires_grad)}
    try:
        text = repr(value)[:200]
    except Exception:  # noqa: BLE001 - a student's __repr__
        text = "?"
    return {"type": type_name(value), "repr": text}


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


def pinned_model(model_class: Any, encoder_class: Any, inputs: dict[str, torch.Tensor]) -> Any:
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


def _recorded(model: Any) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    return model.encoder.features.seen, model.decoder[0].seen, model.decoder[3].seen


def probe_scalar(ns: dict[str, Any], inputs: dict[str, torch.Tensor], item: ProbeItem
                 ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``function(*args)`` for every case ``cN/<arg>``: value, gradients with respect to each arg, and the
    value of a second call on the same inputs (``cN/value2``: a random value differs)."""
    tensors, meta = {}, {}
    cases = sorted({key.split("/")[0] for key in inputs})
    function = ns[item.function]
    for case in cases:
        args = [inputs[f"{case}/{name}"].clone().requires_grad_(True) for name in item.args]
        out = function(*args)
        meta[case] = describe(out)
        value = plain(out)
        if value is not None:
            tensors[f"{case}/value"] = value
        if isinstance(out, torch.Tensor) and out.requires_grad and out.numel() >= 1:
            grads = torch.autograd.grad(out.sum(), args, allow_unused=True)
            for name, grad in zip(item.args, grads):
                if grad is not None:
                    tensors[f"{case}/grad_{name}"] = plain(grad)
        with torch.no_grad():
            again = plain(function(*[inputs[f"{case}/{name}"].clone() for name in item.args]))
        if again is not None:
            tensors[f"{case}/value2"] = again
    return tensors, meta


def probe_sampler(ns: dict[str, Any], inputs: dict[str, torch.Tensor], item: ProbeItem
                  ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Two calls of ``(c)reconstruct`` on a pinned model in training mode and a third after
    ``model.eval()``: outputs, recorded ``z``, and gradients of ``sum(z * G)`` with respect to the pinned
    ``mu`` and ``logvar``."""
    model_class = ns["CVAE"] if item.conditional else ns["VAE"]
    model = pinned_model(model_class, ns["Encoder"], inputs)
    args = (model, inputs["x"]) + ((inputs["y"],) if item.conditional else ())
    meta: dict[str, Any]
    tensors, meta = {}, {"calls": []}
    for call in (1, 2, 3):
        if call == 3:
            model.eval()
        before = [len(seen) for seen in _recorded(model)]
        out = ns[item.function](*args)
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


def probe_loss(ns: dict[str, Any], inputs: dict[str, torch.Tensor], item: ProbeItem
               ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Two calls of ``(c)elbo`` with recording stand-ins for ``(c)reconstruct``, ``kl_divergence`` and
    ``binary_cross_entropy`` (simple known functionals, not the real losses). Per call: the value, the
    first encoder input and decoder input (``z``, with the class part for a CVAE) actually used, and the
    number of calls of each part. The judge computes the expected value itself from these inputs."""
    model_class = ns["CVAE"] if item.conditional else ns["VAE"]
    model = pinned_model(model_class, ns["Encoder"], inputs)
    append = ns["append_class_to_data"]
    calls: dict[str, Any] = {"reconstruct": 0, "kl": [], "loglik": []}

    def stand_in_reconstruct(vae: Any, x: torch.Tensor, y: torch.Tensor | None = None
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        calls["reconstruct"] += 1
        mu, logvar = vae.encoder(x if y is None else append(x, y))
        z = mu + torch.exp(0.5 * logvar) * inputs["eps"][: len(mu)]
        return mu, logvar, vae.decoder(z if y is None else append(z, y))

    def stand_in_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        calls["kl"].append((mu, logvar))
        return standins.kl(mu, logvar, inputs["A"], inputs["C"])

    def stand_in_loglik(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        calls["loglik"].append((x_hat, x))
        return standins.loglik(x_hat, x, inputs["E"])

    sampler = "creconstruct" if item.conditional else "reconstruct"
    own_sampler = ns.get(sampler)

    def own_reconstruct(*args: Any) -> object:
        calls["reconstruct"] += 1
        return cast("Callable[..., object]", own_sampler)(*args)

    ns.update(kl_divergence=stand_in_kl, binary_cross_entropy=stand_in_loglik)
    ns[sampler] = stand_in_reconstruct
    try:
        return _loss_calls(ns, inputs, item, model, calls)
    except Exception as error:  # noqa: BLE001 - e.g. an elbo reading state its own reconstruct stores
        if own_sampler is None:
            raise
        # Again with the student's own sampler (the judge checks its z like any other): a loss that
        # relies on what its reconstruct leaves on the model is correct work.
        calls.update(reconstruct=0, kl=[], loglik=[])
        ns[sampler] = own_reconstruct
        tensors, meta = _loss_calls(ns, inputs, item, pinned_model(model_class, ns["Encoder"], inputs), calls)
        meta["own_sampler"] = f"with the grader's stand-in {sampler} it raised {type(error).__name__}"
        return tensors, meta


def _loss_calls(ns: dict[str, Any], inputs: dict[str, torch.Tensor], item: ProbeItem, model: Any,
                calls: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Call the loss twice on ``model``; what each call used and returned (see ``probe_loss``)."""
    args = (model, inputs["x"]) + ((inputs["y"],) if item.conditional else ())
    meta: dict[str, Any]
    tensors, meta = {}, {"calls": []}
    for call in (1, 2):
        before = [len(seen) for seen in _recorded(model)]
        counts = (calls["reconstruct"], len(calls["kl"]), len(calls["loglik"]))
        out = ns[item.function](*args)
        encoder_in, decoder_in, decoder_out = _recorded(model)
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
            if decoder_out:
                tensors["decoder_out"] = plain(decoder_out[-1])
            for name, recorded in (("kl", calls["kl"]), ("loglik", calls["loglik"])):
                for position, arg in enumerate(recorded[0] if recorded else ()):
                    if plain(arg) is not None:
                        tensors[f"{name}_arg{position}"] = plain(arg)
    return tensors, meta


# --- training ---------------------------------------------------------------------------------------

def _leaf_types(module: object) -> list[str]:
    """Types of ``module``'s leaf modules in registration order (the forward order of a Sequential)."""
    if not isinstance(module, nn.Module):
        return [] if module is None else [type_name(module)]
    return [type_name(m) for m in module.modules() if next(iter(m.children()), None) is None][:32]


def model_structure(model: Any) -> dict[str, Any]:
    """The returned model's structure as plain data: the contract's parts and their module types."""
    def part(owner: object, name: str) -> Any:
        try:
            return getattr(owner, name, None)
        except Exception:  # noqa: BLE001 - a student's __getattr__
            return None
    encoder = part(model, "encoder")
    decoder = part(model, "decoder")
    return {"type": type_name(model), "encoder": type_name(encoder),
            "features": _leaf_types(part(encoder, "features")),
            "mu": type_name(part(encoder, "mu")), "logvar": type_name(part(encoder, "logvar")),
            "decoder": _leaf_types(decoder), "decoder_type": type_name(decoder),
            "decoder_range": _output_range(decoder)}


def _output_range(decoder: Any) -> list[float] | None:
    """``[min, max]`` of ``decoder`` on 64 standard normal inputs of its first layer's width (a decoder
    whose own forward applies the sigmoid gives probabilities without a Sigmoid module), or None."""
    try:
        weight = next(p for p in decoder.parameters() if p.dim() == 2)
        z = torch.randn(64, weight.shape[1], generator=torch.Generator().manual_seed(5), dtype=weight.dtype)
        with torch.no_grad():
            out = decoder(z)
        out = out.detach().as_subclass(torch.Tensor).double()
        return [float(out.min()), float(out.max())] if out.numel() and bool(torch.isfinite(out).all()) else None
    except Exception:  # noqa: BLE001 - a student's decoder: any failure means "unknown"
        return None


class _RowKeys:
    """Exact integer fingerprints of the rows of the training split, to tell which data a batch holds."""

    def __init__(self, X: torch.Tensor, Y: torch.Tensor | None = None) -> None:
        generator = torch.Generator().manual_seed(4)
        self.weights = torch.randint(1, 2**20, (X.shape[1],), generator=generator, dtype=torch.int64)
        keys = self._keys(X).tolist()
        self.keys = set(keys)
        self.labels: dict[int, set[int]] = {}
        if Y is not None and len(Y) == len(keys):
            for key, label in zip(keys, Y.tolist()):
                self.labels.setdefault(key, set()).add(label)

    def _keys(self, X: torch.Tensor) -> torch.Tensor:
        return X.detach().round().to(torch.int64) @ self.weights

    def count(self, x: torch.Tensor) -> tuple[int, int]:
        """``(rows, rows found in the training split)`` of a batch ``x``."""
        try:
            x = x.detach().as_subclass(torch.Tensor).cpu().reshape(len(x), -1)
            if x.shape[1] != len(self.weights):
                return len(x), 0
            return len(x), sum(1 for key in self._keys(x).tolist() if key in self.keys)
        except Exception:  # noqa: BLE001
            return 0, 0

    def aligned(self, x: torch.Tensor, y: torch.Tensor) -> tuple[int, int]:
        """``(rows of the training split in x, of them paired with their own label in y)``; (0, 0) when
        ``y`` is not one label per row."""
        try:
            x = x.detach().as_subclass(torch.Tensor).cpu().reshape(len(x), -1)
            y = y.detach().as_subclass(torch.Tensor).cpu().reshape(-1)
            if x.shape[1] != len(self.weights) or len(y) != len(x) or y.is_floating_point():
                return 0, 0
            pairs = [(key, label) for key, label in zip(self._keys(x).tolist(), y.tolist()) if key in self.labels]
            return len(pairs), sum(1 for key, label in pairs if label in self.labels[key])
        except Exception:  # noqa: BLE001
            return 0, 0


class TrainingCounters:
    """Independent counts of what a training function did, kept in this probe's closure.

    - ``hook``: torch's global optimizer post-step hook (student code can clear it: checked at the end);
    - ``adam``: ``torch.optim.Adam`` replaced, for the call, by a counting subclass (and any name in
      the namespace bound to Adam);
    - ``backward``: backward passes through the grader's loss (a hook on each returned loss tensor),
      with the rows of each such batch and how many of them are rows of the training split;
    - ``gradients``: whether ``p.grad`` was cleared between steps (``worker.gradients.GradientWatch``).
    """

    def __init__(self, train_X: torch.Tensor, train_Y: torch.Tensor | None = None) -> None:
        self.hook_steps, self.adam_steps, self.backward = 0, 0, 0
        self.rows, self.train_rows = 0, 0
        self.labelled_rows, self.aligned_rows = 0, 0
        self.loss_calls = 0
        self.optimizers: dict[int, dict[str, Any]] = {}
        self._inside_adam = 0
        self._row_keys = _RowKeys(train_X, train_Y)
        self.gradients = GradientWatch()
        self.handle = register_optimizer_step_post_hook(self._after_step)
        self.pre_handle = register_optimizer_step_pre_hook(self._before_step)
        counters = self

        class Adam(torch.optim.Adam):
            def step(self, *args: Any, **kwargs: Any) -> Any:
                counters.adam_steps += 1
                counters._inside_adam += 1
                try:
                    return super().step(*args, **kwargs)
                finally:
                    counters._inside_adam -= 1

        Adam.__qualname__ = Adam.__name__ = "Adam"
        self.Adam = Adam

    def _before_step(self, optimizer: torch.optim.Optimizer, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if not self._inside_adam:
            try:
                self.gradients.before_step(optimizer)
            except Exception:  # noqa: BLE001 - an optimizer without the usual param_groups: no gradient facts
                pass

    def _after_step(self, optimizer: torch.optim.Optimizer, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self._inside_adam:  # Adam.step's own hook inside the counting subclass: counted once, outside
            return
        self.hook_steps += 1
        try:
            self.gradients.after_step(optimizer)
        except Exception:  # noqa: BLE001 - as in _before_step
            pass
        try:
            groups = optimizer.param_groups
            record = self.optimizers.setdefault(id(optimizer), {
                "class": type_name(optimizer), "counted": isinstance(optimizer, self.Adam), "steps": 0,
                "lr_min": float("inf"), "lr_max": float("-inf"), "weight_decay": 0.0})
            record["steps"] += 1
            for group in groups:
                lr = float(group.get("lr", float("nan")))
                record["lr_min"], record["lr_max"] = min(record["lr_min"], lr), max(record["lr_max"], lr)
                record["weight_decay"] = max(record["weight_decay"], float(group.get("weight_decay", 0.0) or 0.0))
        except Exception:  # noqa: BLE001 - an optimizer without the usual param_groups
            pass

    def hook_intact(self) -> bool:
        return self.handle.id in _global_optimizer_post_hooks

    def watch_loss(self, value: object, x: Any, y: torch.Tensor | None = None) -> None:
        """Count a call of the grader's loss; its backward pass (if any) counts ``x``'s rows and, given the
        labels ``y``, how many training rows carry their own label."""
        self.loss_calls += 1
        if not (isinstance(value, torch.Tensor) and value.requires_grad):
            return

        def on_backward(grad: torch.Tensor) -> None:
            self.backward += 1
            rows, found = self._row_keys.count(x)
            self.rows += rows
            self.train_rows += found
            if y is not None:
                labelled, aligned = self._row_keys.aligned(x, y)
                self.labelled_rows += labelled
                self.aligned_rows += aligned
        value.register_hook(on_backward)

    def install(self, ns: dict[str, Any]) -> Callable[[], None]:
        """Put the counting Adam in ``torch.optim`` and the namespace; returns the undo."""
        import torch.optim.adam as adam_module
        original = torch.optim.Adam
        names = [k for k, v in ns.items() if v is original]
        torch.optim.Adam = adam_module.Adam = self.Adam  # type: ignore[misc]  # a monkeypatch: mypy cannot assign to a class
        for k in names:
            ns[k] = self.Adam

        def undo() -> None:
            torch.optim.Adam = adam_module.Adam = original  # type: ignore[misc]  # the undo of the monkeypatch above
            for k in names:
                if ns.get(k) is self.Adam:
                    ns[k] = original
            self.handle.remove()
            self.pre_handle.remove()
            self.gradients.close()
        return undo

    def facts(self) -> dict[str, Any]:
        return {"hook_steps": self.hook_steps, "adam_steps": self.adam_steps, "hook_intact": self.hook_intact(),
                "backward": self.backward, "loss_calls": self.loss_calls, "rows": self.rows,
                "train_rows": self.train_rows, "labelled_rows": self.labelled_rows,
                "aligned_rows": self.aligned_rows, "optimizers": list(self.optimizers.values())[:16],
                "gradients": self.gradients.facts()}


def probe_training(ns: dict[str, Any], inputs: dict[str, torch.Tensor], item: ProbeItem, budget: dict[str, Any],
                   losses: dict[str, Callable[..., object]] | None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``function(**budget)`` with the grader's data and, when ``losses`` is given, the grader's loss
    functions (``{name: callable}``) in the namespace, so that only the training loop is judged.

    ``get_mnist_data`` gives the item's ``X``/``Y`` for ``"train"`` and the worker's own function's answer
    for any other split, and records the splits asked for; optimizer steps, loss calls and backward passes are counted
    independently
    (``TrainingCounters``). Returns the model's state dict, its structure and the counts."""
    X, Y = inputs["X"], inputs["Y"]
    data_calls = []
    provided = ns.get("get_mnist_data")

    def get_mnist_data(split: object = "train") -> tuple[torch.Tensor, torch.Tensor]:
        data_calls.append(str(split)[:20] if isinstance(split, str) else type_name(split))
        if split == "train" or provided is None:
            return X.clone(), Y.clone()
        return provided(split)  # the worker's small evaluation set (never the grader's held-out images)

    ns["get_mnist_data"] = get_mnist_data
    if losses:
        ns.update(losses)
    loss_name = "celbo" if item.conditional else "elbo"
    loss_values: list[float]
    loss_fn, loss_values = ns.get(loss_name), []
    counters = TrainingCounters(X, Y if item.conditional else None)
    if loss_fn is not None:
        def recording_loss(*args: Any, **kwargs: Any) -> object:
            value = loss_fn(*args, **kwargs)
            x = args[1] if len(args) > 1 else kwargs.get("x")
            y = (args[2] if len(args) > 2 else kwargs.get("y")) if item.conditional else None
            training_call = isinstance(value, torch.Tensor) and value.requires_grad
            if training_call and len(loss_values) < LOSSES_MAX:  # evaluation passes are not curve points
                try:
                    loss_values.append(float(value.detach()) if isinstance(value, torch.Tensor) else float("nan"))
                except Exception:  # noqa: BLE001
                    loss_values.append(float("nan"))
            counters.watch_loss(value, x, y)
            return value
        ns[loss_name] = recording_loss
    undo = counters.install(ns)
    started = time.perf_counter()
    try:
        model = ns[item.function](**budget)
    finally:
        seconds = time.perf_counter() - started
        facts = counters.facts()
        undo()
    tensors = {}
    if isinstance(model, nn.Module):  # before model_structure runs the decoder (batch norm statistics)
        for name, value in list(model.state_dict().items())[:64]:
            if isinstance(value, torch.Tensor):
                tensors[f"state/{name[:200]}"] = plain(value)
    meta = {"seconds": seconds, "data_calls": data_calls[:64], "returned": type_name(model),
            "losses": loss_values, "grader_losses": bool(losses), "n_train": len(X), "counts": facts,
            "structure": model_structure(model) if isinstance(model, nn.Module) else {}}
    return tensors, meta


def _in_fork(run: Callable[[], tuple[dict[str, torch.Tensor], dict[str, Any]]], seconds: float
             ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``run()``'s ``(tensors, meta)`` computed in a forked child of this process (the same state, none
    of its effects kept here), or ``({}, {"error": ...})`` when it raised, ended without a reply or used
    up ``seconds`` of CPU time (the kernel stops it: a limit that does not depend on the machine's load;
    the wall clock, four times that, is only a backstop against a child that sleeps)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the probe run's process: never returns
        try:
            os.close(read_end)
            os.setpgid(0, 0)
            torch.set_num_threads(1)  # a thread pool of the parent's does not exist here (fork)
            cpu = math.ceil(seconds)
            soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
            if hard != resource.RLIM_INFINITY:
                cpu = min(cpu, hard)
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, hard))
            try:
                tensors, meta = run()
            except BaseException as error:  # noqa: BLE001 - the student's training code raised
                tensors, meta = {}, {"error": f"{type(error).__name__}: {error}"[:300]}
            frame: bytes | bytearray = channel.encode(tensors, meta)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(frame)
        finally:
            os._exit(0)
    os.close(write_end)
    frame, deadline, exited = bytearray(), time.monotonic() + 4 * seconds, None
    timed_out = False
    while True:
        now = time.monotonic()
        if exited is None and os.waitpid(pid, os.WNOHANG)[0]:
            exited, deadline = True, min(deadline, now + 0.5)
        if now >= deadline:
            timed_out = exited is None
            break
        ready, _, _ = select.select([read_end], [], [], min(0.2, deadline - now))
        if ready:
            chunk = os.read(read_end, 1 << 20)
            if not chunk:
                break
            frame += chunk
    os.close(read_end)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if exited is None:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    if timed_out:
        return {}, {"error": f"did not finish within {4 * seconds:g} s of wall-clock time", "timed_out": True}
    try:
        return channel.decode(bytes(frame))
    except channel.BadFrame:
        return {}, {"error": f"ended without a result (it may have used up its {seconds:g} s of CPU time)"}


def probe_training_plan(ns: dict[str, Any], inputs: dict[str, torch.Tensor], item: ProbeItem, params: dict[str, Any],
                        losses: dict[str, Callable[..., object]] | None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The graded run of ``probe_training`` on the plan's budget, after the plan's probe runs, each in a
    fresh fork (``_in_fork``) so that every run starts from the same state, on the plan's first
    ``probe_rows`` training rows (a short run costs little): the graded run's tensors and
    meta, with ``meta["runs"]`` (per probe run: its keyword arguments and its ``probe_training`` meta,
    or an error) and each probe run's weights as ``run<i>/state/<name>``."""
    plan = TrainingPlan.from_params(params)
    runs, run_tensors = [], {}
    rows = {"X": inputs["X"][: plan.probe_rows], "Y": inputs["Y"][: plan.probe_rows]}
    for index, kwargs in enumerate(plan.probes):
        tensors, meta = _in_fork(lambda: probe_training(ns, rows, item, kwargs, losses), plan.probe_seconds)
        meta.pop("losses", None)
        runs.append({"args": kwargs, **meta})
        run_tensors.update({f"run{index}/{k}": v for k, v in tensors.items() if k.startswith("state/")})
    tensors, meta = probe_training(ns, inputs, item, plan.budget, losses)
    meta["runs"] = runs
    tensors.update(run_tensors)
    return tensors, meta


def run_probe(item_id: str, ns: dict[str, Any], inputs: dict[str, torch.Tensor], params: dict[str, Any],
              losses: dict[str, Callable[..., object]] | None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Run ``item_id``'s probe (by its kind, ``worker.items``) on the namespace ``ns``.

    ``params``: a training item's ``TrainingPlan`` (``to_params()``) or keyword arguments; ``losses``: the grader's loss
    functions ``{name: callable}`` for the training items, or None (the public self-check)."""
    item = PROBE_BY_ID[item_id]
    if item.kind == "scalar":
        return probe_scalar(ns, inputs, item)
    if item.kind == "sampler":
        return probe_sampler(ns, inputs, item)
    if item.kind == "loss":
        return probe_loss(ns, inputs, item)
    return probe_training_plan(ns, inputs, item, params, losses)
