"""What the worker needs to know about each auto-graded item: its probe kind, function, conditioning.

The grader's registry (``graders.items``) extends these records with marks and
checks; the worker reads only this module (it never imports ``graders``).

Kinds: ``scalar`` (a 0-dim loss term of given tensors), ``sampler`` (a
reparameterized reconstruction), ``loss`` (an ELBO loss on one
reconstruction), ``train`` (a training function run under the grading budget).
"""
from dataclasses import dataclass

KINDS = ("scalar", "sampler", "loss", "train")


@dataclass(frozen=True)
class ProbeItem:
    id: str
    kind: str
    function: str
    conditional: bool = False
    args: tuple = ()          # scalar items: the names of the function's tensor arguments, in order

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind


PROBE_ITEMS = (
    ProbeItem("q4.reconstruct", "sampler", "reconstruct"),
    ProbeItem("q4.kl_divergence", "scalar", "kl_divergence", args=("mu", "logvar")),
    ProbeItem("q4.binary_cross_entropy", "scalar", "binary_cross_entropy", args=("x_hat", "x")),
    ProbeItem("q4.elbo", "loss", "elbo"),
    ProbeItem("q4.train", "train", "train_mnist_vae"),
    ProbeItem("q5.reconstruct", "sampler", "creconstruct", conditional=True),
    ProbeItem("q5.celbo", "loss", "celbo", conditional=True),
    ProbeItem("q5.train", "train", "train_mnist_cvae", conditional=True),
)
PROBE_BY_ID = {item.id: item for item in PROBE_ITEMS}

# The grader's loss functions a training job receives (``run_probe``'s ``losses``), by name.
LOSS_FUNCTIONS = ("reconstruct", "kl_divergence", "binary_cross_entropy", "elbo", "creconstruct", "celbo")
