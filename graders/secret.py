"""The course secret: a pixel permutation that makes a model trained anywhere else useless.

The grader trains every submission (and the reference) on images whose 784 pixels are
shuffled by a permutation derived from ``A4_SECRET``, and scores them on held-out images
shuffled the same way. The layout's MLPs learn shuffled digits exactly as well as plain
ones, so honest work is unaffected; weights trained at home on real MNIST and returned
from ``train_mnist_*`` reconstruct shuffled digits no better than an untrained model.
For the pictures, a trained model is mapped back to plain pixel order (``to_plain``).
Marks are deterministic for a given secret; the students never get it.
"""
import hashlib
import os
from dataclasses import dataclass

import torch

SECRET_VARIABLE = "A4_SECRET"
DEFAULT_SECRET = "a4-default-secret"
PIXELS = 784


@dataclass(frozen=True)
class PixelPermutation:
    """``order[j]`` is the plain pixel shown at shuffled position ``j``; identity when ``order`` is None."""
    order: tuple | None
    source: str                      # for reports: "course secret", "default secret" or "none"

    @classmethod
    def from_environment(cls, public=False):
        if public:
            return cls(None, "none (self-check)")
        secret = os.environ.get(SECRET_VARIABLE, "")
        seed = int.from_bytes(hashlib.sha256((secret or DEFAULT_SECRET).encode()).digest()[:8], "little")
        order = torch.randperm(PIXELS, generator=torch.Generator().manual_seed(seed))
        return cls(tuple(order.tolist()), "course secret" if secret else
                   f"default secret (set {SECRET_VARIABLE} to your course's own)")

    def shuffle(self, X):
        """``X`` (N, 784) in plain pixel order -> shuffled order."""
        return X if self.order is None else X[:, list(self.order)].contiguous()

    def to_plain(self, state, conditional=False):
        """A state dict of the contract's layout trained on shuffled images, for plain images."""
        if self.order is None:
            return state
        order = torch.tensor(self.order)
        plain = dict(state)
        encoder_in = state.get("encoder.features.0.weight")
        if encoder_in is not None and encoder_in.shape[-1] >= PIXELS:
            weight = encoder_in.clone()
            weight[:, order] = encoder_in[:, :PIXELS]
            plain["encoder.features.0.weight"] = weight
        for name in ("decoder.2.weight", "decoder.2.bias"):
            value = state.get(name)
            if value is not None and value.shape[0] == PIXELS:
                restored = value.clone()
                restored[order] = value
                plain[name] = restored
        return plain
