"""The items of contract section 3: the one registry every stage reads.

Each auto item has its probe kind and conditioning (from ``worker.items``, the
part the sandboxed worker may see), its student function, its marks and the
marks of each of its checks (asserted to sum to the item's marks).
"""
from dataclasses import dataclass

from worker.items import KINDS, LOSS_FUNCTIONS, PROBE_BY_ID  # noqa: F401 - re-exported


@dataclass(frozen=True)
class AutoItem:
    id: str
    function: str
    marks: float
    kind: str
    conditional: bool = False
    checks: tuple = ()        # ((check key, marks), ...) in report order; sums to ``marks``
    args: tuple = ()          # scalar items: argument names

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind
        assert abs(sum(m for _, m in self.checks) - self.marks) < 1e-9, (self.id, self.checks)

    @property
    def trains(self) -> bool:
        """Judged by training under the grading budget (its own job and time limit)."""
        return self.kind == "train"

    def check_marks(self, key: str) -> float:
        return dict(self.checks)[key]


def _item(item_id: str, marks: float, checks: tuple[tuple[str, float], ...]) -> AutoItem:
    probe = PROBE_BY_ID[item_id]
    return AutoItem(item_id, probe.function, marks, probe.kind, probe.conditional, checks, probe.args)


# Training: the contract's "seed torch with args.seed when > 0" is one of the four arguments the grader
# varies (lr, batch_size, epochs, seed): a quarter of "follows args" (2 marks, q4), rounded to a half mark
# (q5: a quarter of 1 is 0.25, rounded up to 0.5); the rest of "follows args" keeps the other three.
SCALAR_CHECKS = (("value", 3), ("form", 0.5), ("gradients", 0.5))
AUTO_ITEMS = (
    _item("q4.reconstruct", 5, (("returns", 1), ("noise", 2), ("gradients", 2))),
    _item("q4.kl_divergence", 4, SCALAR_CHECKS),
    _item("q4.binary_cross_entropy", 4, SCALAR_CHECKS),
    _item("q4.elbo", 2, (("value", 1.5), ("form", 0.5))),
    _item("q4.train", 10, (("layout", 2), ("args", 1.5), ("seed", 0.5), ("learns", 6))),
    _item("q5.reconstruct", 5, (("returns", 1), ("conditions", 2), ("noise", 1), ("gradients", 1))),
    _item("q5.celbo", 5, (("value", 3.75), ("form", 1.25))),
    _item("q5.train", 5, (("layout", 1), ("args", 0.5), ("seed", 0.5), ("learns", 2), ("labels", 1))),
)
AUTO_BY_ID = {item.id: item for item in AUTO_ITEMS}
assert set(AUTO_BY_ID) == set(PROBE_BY_ID)

WRITTEN_ITEMS = {
    "q1a": 5, "q1b": 3, "q1c": 2, "q2a": 3, "q2b": 7, "q3a": 5,
    "q3b": 5, "q3c": 8, "q3d": 7, "q5a": 8, "q5b": 2, "q5d": 5,
}

AUTO_MAX = sum(item.marks for item in AUTO_ITEMS)      # 40
WRITTEN_MAX = sum(WRITTEN_ITEMS.values())              # 60

# Names the grader supplies itself (contract section 2), whatever a submission defines.
SCAFFOLD_NAMES = ("MNISTArgs", "get_mnist_data", "Encoder", "VAE", "CVAE", "append_class_to_data")


def training_item(conditional: bool) -> AutoItem:
    """The training item of the VAE (``False``) or the CVAE (``True``)."""
    return next(i for i in AUTO_ITEMS if i.kind == "train" and i.conditional == conditional)
