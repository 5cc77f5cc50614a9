"""The items of contract section 3: ids, the student function each grades, marks."""
from dataclasses import dataclass


@dataclass(frozen=True)
class AutoItem:
    id: str
    function: str
    marks: float
    trains: bool = False  # judged by training under the grading budget


AUTO_ITEMS = (
    AutoItem("q4.reconstruct", "reconstruct", 5),
    AutoItem("q4.kl_divergence", "kl_divergence", 4),
    AutoItem("q4.binary_cross_entropy", "binary_cross_entropy", 4),
    AutoItem("q4.elbo", "elbo", 2),
    AutoItem("q4.train", "train_mnist_vae", 10, trains=True),
    AutoItem("q5.reconstruct", "creconstruct", 5),
    AutoItem("q5.celbo", "celbo", 5),
    AutoItem("q5.train", "train_mnist_cvae", 5, trains=True),
)
AUTO_BY_ID = {item.id: item for item in AUTO_ITEMS}

WRITTEN_ITEMS = {
    "q1a": 5, "q1b": 3, "q1c": 2, "q2a": 3, "q2b": 7, "q3a": 5,
    "q3b": 5, "q3c": 8, "q3d": 7, "q5a": 8, "q5b": 2, "q5d": 5,
}

AUTO_MAX = sum(item.marks for item in AUTO_ITEMS)      # 40
WRITTEN_MAX = sum(WRITTEN_ITEMS.values())              # 60

# Names the grader supplies itself (contract section 2), whatever a submission defines.
SCAFFOLD_NAMES = ("MNISTArgs", "get_mnist_data", "Encoder", "VAE", "CVAE", "append_class_to_data")
