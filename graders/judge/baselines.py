"""Judge side of the training items: the budget, held-out scoring, and the reference under the same budget.

A trained model comes back as a state dict; it is loaded into the grader's own
model of the contract's layout and scored by the reference loss (nats per image,
lower is better) on held-out images, averaged over ``SCORE_DRAWS`` noise draws
from a fixed seed. The reference is trained here, in the judge, on the same data
with the same budget.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from unittest import mock

import torch
from torch import nn

from graders.judge import baseline_store
from reference.scaffold import CVAE, VAE, MNISTArgs
from worker.protocol import TrainingPlan

if TYPE_CHECKING:
    from types import ModuleType

    from graders.grading.secret import PixelPermutation

BUDGET = {"epochs": 15, "batch_size": 100}   # differs from the defaults, so ignoring args shows
PUBLIC_BUDGET = {"epochs": 2, "batch_size": 100}  # the students' self-check: runs, layout, steps only
# Short probe runs (each in a fresh fork of the item's process): "follows args" on arguments that differ
# from the graded run's in every field, and the seed (the first two share a seed, the third differs only in it).
PROBE_ARGS = {"epochs": 1, "batch_size": 400, "lr": 2e-3}
PROBE_SECONDS = 20.0   # CPU seconds of one probe run (3 steps on 1,000 rows take about 1 s)
PROBE_ROWS = 1000      # the first rows of the training split a probe run gets
PROBE_RUNS = ({**PROBE_ARGS, "seed": 2}, {**PROBE_ARGS, "seed": 2}, {**PROBE_ARGS, "seed": 3})
SCORE_DRAWS = 4
FULL_SHARE = 0.9      # full marks: at least 90% of the reference's improvement over the untrained model
PARTIAL_SHARE = 0.5   # half marks: at least 50%
# CVAE uses labels: wrong labels cost at least 15% of what they cost the reference, scaled by the share of the
# reference's improvement the student's own model made. Measured (embedded data, reference gap 11.5 nats): labels
# shuffled apart from images 0.1, every label 0 -0.7, no optimizer step 0.1; a correct CVAE trained 10 epochs of
# batch 128 (fewer steps than asked: charged on 'follows args') 3.1 at 94% of the improvement. 40% charged that
# shorter training a second time; 15% keeps a factor of 10 on both sides.
LABEL_GAP_SHARE = 0.15
LABEL_JUDGED_SHARE = 0.1  # below this share the model learned too little to show whether it uses the labels: the
                          # check costs nothing (charged on 'learns') unless its batches paired rows with other labels


# torch's default generator is one per process, shared by every thread. The reference baselines train in
# a background thread from ``torch.manual_seed(args.seed)`` on; a judge thread that builds a model meanwhile
# (``nn.Linear`` draws its initial weights from that generator) would shift the baseline's stream and so
# every "learns" mark with it. Whatever draws from the default generator in the grader holds this lock.
GLOBAL_RNG = threading.RLock()


def _reference() -> ModuleType:
    """The reference answers: imported only in full mode (the students' bundle does not ship them)."""
    from reference import vae
    return vae


def empty_model(conditional: bool, seed: int | None = None) -> VAE | CVAE:
    """The contract's layout with default sizes, untrained; with ``seed``, its weights drawn as
    ``nn.Linear`` draws them but from a generator of its own (the global one is left alone)."""
    with GLOBAL_RNG:   # nn.Linear draws its first weights from the default generator
        model = _reference()._mlp_vae(CVAE if conditional else VAE, MNISTArgs(), 10 if conditional else 0)
    if seed is not None:
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for layer in model.modules():
                if isinstance(layer, torch.nn.Linear):
                    torch.nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
                    bound = 1 / math.sqrt(layer.in_features)
                    torch.nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return model


def wrong_labels(labels: torch.Tensor) -> torch.Tensor:
    """Each label moved to a different class, deterministically."""
    shift = torch.randint(1, 10, labels.shape, generator=torch.Generator().manual_seed(7))
    return (labels + shift) % 10


def held_out_loss(model: Any, conditional: bool, X: torch.Tensor, Y: torch.Tensor, seed: int = 0) -> float:
    """Mean reference loss over ``SCORE_DRAWS`` draws on ``X`` (and labels ``Y`` for a CVAE).

    The reference's ``(c)elbo`` with its noise drawn from a ``torch.Generator`` of this call's own,
    seeded with ``seed``: deterministic, and safe beside other judge threads (no global seeding)."""
    reference = _reference()
    generator = torch.Generator().manual_seed(seed)
    draws = []
    with torch.no_grad():
        for _ in range(SCORE_DRAWS):
            mu, logvar = model.encoder(reference.append_class_to_data(X, Y) if conditional else X)
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
            x_hat = model.decoder(reference.append_class_to_data(z, Y) if conditional else z)
            draws.append((reference.kl_divergence(mu, logvar) - reference.binary_cross_entropy(x_hat, X)).item())
    return sum(draws) / len(draws)


def state_dict_of(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The ``state/<name>`` tensors a training probe sent back, as a state dict."""
    return {key[len("state/"):]: value for key, value in tensors.items() if key.startswith("state/")}


def graded_budget(public: bool) -> dict[str, int]:
    """The keyword arguments of the graded run of ``train_mnist_*`` (its weights are scored)."""
    return PUBLIC_BUDGET if public else BUDGET


def plan(public: bool) -> TrainingPlan:
    """The graded run and the short probe runs, each of which differs from the graded run in every field
    the grader varies (lr, batch_size, epochs, seed); two probe runs share a seed, a third differs only in
    its seed."""
    return TrainingPlan(graded_budget(public), [dict(p) for p in PROBE_RUNS], PROBE_SECONDS, PROBE_ROWS)


def budget(public: bool) -> dict[str, Any]:
    """The training item's ``ItemSpec.params``: ``plan(public)`` as plain data."""
    return plan(public).to_params()


def expected_shapes(conditional: bool, args: MNISTArgs = MNISTArgs()) -> dict[str, list[int]]:
    """Parameter names and shapes of the contract's layout (the handout's table)."""
    extra = 10 if conditional else 0
    hidden, latent, pixels = args.hidden_dim, args.latent_dim, args.input_dim
    return {"encoder.features.0.weight": [hidden, pixels + extra], "encoder.features.0.bias": [hidden],
            "encoder.mu.weight": [latent, hidden], "encoder.mu.bias": [latent],
            "encoder.logvar.weight": [latent, hidden], "encoder.logvar.bias": [latent],
            "decoder.0.weight": [hidden, latent + extra], "decoder.0.bias": [hidden],
            "decoder.2.weight": [pixels, hidden], "decoder.2.bias": [pixels]}


def layout_problem(conditional: bool, state: dict[str, torch.Tensor]) -> str:
    """Why the state dict ``state`` does not fit the contract's layout, or ``""``."""
    expected = expected_shapes(conditional)
    got = {k: list(v.shape) for k, v in state.items()}
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
    parts = [f"missing {missing[:4]}" if missing else "", f"unexpected {unexpected[:4]}" if unexpected else "",
             "shape of " + ", ".join(f"{k} {got[k]} (expected {expected[k]})" for k in shapes[:3]) if shapes else ""]
    return "; ".join(p for p in parts if p)


# The handout's table as module types: what a state dict cannot show (activations, the final Sigmoid).
TABLE_STRUCTURE = {"features": ["Linear", "Tanh"], "mu": "Linear", "logvar": "Linear",
                   "decoder": ["Linear", "Tanh", "Linear", "Sigmoid"]}


def structure_problems(structure: dict[str, Any]) -> list[str]:
    """Sentences naming how ``structure`` (``probes.model_structure``'s fields, validated) differs from
    the table, e.g. "decoder ends in Linear: the table's decoder ends in Sigmoid"; empty when it fits."""
    problems = []
    for part, where in (("features", "encoder.features"), ("decoder", "decoder")):
        got, want = list(structure.get(part) or []), TABLE_STRUCTURE[part]
        if got == want:
            continue
        table = "the table's decoder" if part == "decoder" else "the table's encoder.features"
        found = []
        if part == "decoder" and got and got[-1] != "Sigmoid":
            found.append(_decoder_end(got, structure))
        others = sorted({t for t in got if t not in ("Linear", "Tanh", "Sigmoid")})
        if others:
            found.append(f"{where} uses {', '.join(others[:4])}: the table uses Tanh")
        if not found:
            found.append(f"{where} is {', '.join(got[:8]) or 'empty'}: {table} is {', '.join(want)}")
        problems += found
    for part in ("mu", "logvar"):
        if structure.get(part) not in (None, "", "Linear"):
            problems.append(f"encoder.{part} is a {structure[part]}: the table's is a Linear")
    return problems


def _decoder_end(got: list[str], structure: dict[str, Any]) -> str:
    """The decoder's last module is not a Sigmoid: what its outputs (``decoder_range``, measured by the
    probe on random inputs) show, a sigmoid applied in the decoder's own forward or logits."""
    span = structure.get("decoder_range") or []
    kind = structure.get("decoder_type") or "decoder"
    if len(span) == 2 and None not in span and 0.0 <= span[0] and span[1] <= 1.0:
        return (f"the decoder ({kind}: {', '.join(got[:8])}) applies a sigmoid in its own forward: the table's "
                "decoder is an nn.Sequential ending in an nn.Sigmoid() module")
    if len(span) == 2 and None not in span:
        return (f"decoder ends in {got[-1]}: the table's decoder ends in Sigmoid (its outputs range over "
                f"[{span[0]:.3g}, {span[1]:.3g}]: logits, not probabilities)")
    return f"decoder ends in {got[-1]}: the table's decoder ends in Sigmoid"


# Activations a student may have put where the table has Tanh or Sigmoid (default arguments assumed).
ACTIVATIONS = {"Tanh": nn.Tanh, "Sigmoid": nn.Sigmoid, "ReLU": nn.ReLU, "ELU": nn.ELU, "LeakyReLU": nn.LeakyReLU,
               "GELU": nn.GELU, "SiLU": nn.SiLU, "Softplus": nn.Softplus, "SELU": nn.SELU, "CELU": nn.CELU,
               "Mish": nn.Mish, "Hardtanh": nn.Hardtanh, "Identity": nn.Identity}


def _own_structure(conditional: bool, structure: dict[str, Any]) -> VAE | CVAE | None:
    """The student's own activations in the table's places, as a model, or None when the Linear layers
    are not where the table has them. A decoder ending in its last Linear (logits) gets the Sigmoid
    the training items applied (``worker.__main__.as_probabilities``)."""
    features, decoder = list(structure.get("features") or []), list(structure.get("decoder") or [])
    if decoder[-1:] == ["Linear"]:
        decoder.append("Sigmoid")
    if len(features) != 2 or len(decoder) != 4 or features[0] != "Linear" or decoder[0::2] != ["Linear", "Linear"]:
        return None
    if any(name not in ACTIVATIONS for name in (features[1], decoder[1], decoder[3])):
        return None
    model = empty_model(conditional)
    model.encoder.features[1] = ACTIVATIONS[features[1]]()
    model.decoder[1], model.decoder[3] = ACTIVATIONS[decoder[1]](), ACTIVATIONS[decoder[3]]()
    return model


def load_state(conditional: bool, state: dict[str, torch.Tensor], structure: dict[str, Any] | None = None) -> VAE | CVAE:
    """The grader's own model with ``state`` loaded (full mode): of the contract's layout, or, given the
    returned model's ``structure`` (module types) when it differs from the table only in activations,
    with the student's own activations, so that the structure is charged once, on the layout check."""
    model = (_own_structure(conditional, structure) if structure else None) or empty_model(conditional)
    model.load_state_dict(state, strict=True)
    return model


def run_args(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The full arguments of a run: ``MNISTArgs`` with ``kwargs`` applied, as a dict."""
    return {**MNISTArgs().__dict__, **kwargs}


def expected_steps(n_train: int, kwargs: dict[str, Any]) -> set[int]:
    """Optimizer steps a run with ``kwargs`` implies: with and without a last partial batch."""
    args = run_args(kwargs)
    epochs, batch = args["epochs"], args["batch_size"]
    return {epochs * math.ceil(n_train / batch), epochs * (n_train // batch)}


@dataclass
class Baseline:
    """The reference trained under the budget: held-out losses in nats per image (lower is better)."""
    untrained: float
    trained: float
    wrong_label_gap: float   # CVAE only: loss with wrong labels minus loss with true labels
    losses: list[float]      # the reference's training losses, step by step
    seconds: float           # wall-clock seconds its training took where it was trained
    model: nn.Module | None = None   # the trained reference model (plain pixel order), for pictures

    def numbers(self) -> dict[str, Any]:
        """Every field but the model, as JSON data (what ``baseline_store`` keeps beside its state)."""
        return {"untrained": self.untrained, "trained": self.trained, "wrong_label_gap": self.wrong_label_gap,
                "losses": list(self.losses), "seconds": self.seconds}

    @classmethod
    def kept(cls, numbers: dict[str, Any], model: nn.Module) -> Baseline:
        """From ``numbers()``'s form and the model; raises KeyError, TypeError or ValueError on another form."""
        return cls(float(numbers["untrained"]), float(numbers["trained"]), float(numbers["wrong_label_gap"]),
                   [float(v) for v in numbers["losses"]], float(numbers["seconds"]), model)


class ReferenceBaselines:
    """The reference trained under the budget, once per run and kind, shared by all submissions."""

    _cache: dict[bool, Baseline]

    def __init__(self, train: tuple[torch.Tensor, torch.Tensor], held_out: tuple[torch.Tensor, torch.Tensor],
                 permutation: PixelPermutation | None = None, store: baseline_store.BaselineStore | None = None) -> None:
        """``train`` and ``held_out`` are ``(X, Y)`` as the submissions see them (shuffled by the course
        secret); ``permutation`` (``graders.grading.secret.PixelPermutation``) maps the trained model back to
        plain pixel order for the pictures; ``store`` (``baseline_store.BaselineStore``) keeps them between
        runs."""
        self.train, self.held_out, self.permutation, self.store = train, held_out, permutation, store
        self._cache, self._lock = {}, threading.Lock()

    def start(self) -> ReferenceBaselines:
        """Train both baselines in a background thread, while the first workers run."""
        threading.Thread(target=lambda: [self.get(c) for c in (False, True)], daemon=True).start()
        return self

    def get(self, conditional: bool) -> Baseline:
        with self._lock:
            if conditional not in self._cache:
                self._cache[conditional] = self._kept_or_trained(conditional)
            return self._cache[conditional]

    def _kept_or_trained(self, conditional: bool) -> Baseline:
        if self.store is None:
            return self._train(conditional)
        name = baseline_store.key(conditional, [*self.train, *self.held_out])
        kept = self.store.load(name)
        if kept is not None:
            try:
                numbers, state = kept
                return Baseline.kept(numbers, load_state(conditional, state))
            except (KeyError, TypeError, ValueError, RuntimeError):   # not a baseline of this kind: train again
                pass
        baseline = self._train(conditional)
        if baseline.model is not None:
            self.store.save(name, baseline.numbers(), baseline.model.state_dict())
        return baseline

    def _train(self, conditional: bool) -> Baseline:
        reference = _reference()
        X, Y = self.train
        losses = []
        loss_name = "celbo" if conditional else "elbo"
        original = getattr(reference, loss_name)

        def recording(*args: object) -> torch.Tensor:
            value = original(*args)
            losses.append(value.item())
            return value

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        started = time.perf_counter()
        try:
            with GLOBAL_RNG, \
                    mock.patch.object(reference, "get_mnist_data", lambda split="train": (X.clone(), Y.clone())), \
                    mock.patch.object(reference, loss_name, recording):
                train = reference.train_mnist_cvae if conditional else reference.train_mnist_vae
                model = train(**BUDGET)
        finally:
            torch.set_num_threads(threads)
        seconds = time.perf_counter() - started
        hx, hy = self.held_out
        trained = held_out_loss(model, conditional, hx, hy)
        gap = held_out_loss(model, conditional, hx, wrong_labels(hy)) - trained if conditional else 0.0
        untrained = held_out_loss(empty_model(conditional, seed=1), conditional, hx, hy)
        if self.permutation is not None:  # the pictures show plain digits
            model = load_state(conditional, self.permutation.to_plain(model.state_dict(), conditional))
        return Baseline(untrained, trained, gap, losses, seconds, model)
