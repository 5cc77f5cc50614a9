"""The course secret: what the sandbox sees of MNIST is not a public set in a recoverable order.

MNIST is public, held-out images included, so a student can train a model at home on exactly the
images the grader scores with. What the secret ``A4_SECRET`` promises (SECURITY.md states it):

- **Pixels**: every image the sandbox sees, and every held-out image the judge scores with, has its
  784 pixels shuffled by a secret permutation. The layout's MLPs learn shuffled digits as well as
  plain ones, so honest work is unaffected; weights trained on plain MNIST reconstruct shuffled
  digits no better than an untrained model.
- **Rows**: the training images are a secret selection of the training split, in a secret order
  (with the embedded 4,000-image subset: all of them, in a secret order; with full MNIST: a secret
  4,000 of the 60,000), so no column of the training data equals a column of a public file.
- **Noise**: each training pixel is flipped with probability ``NOISE`` (drawn from the secret), so
  no exact statistic (column hashes, column counts, pairwise co-occurrence counts) of the public
  images identifies a pixel. The held-out images are scored clean (shuffled only).

Recovering the permutation from inside the sandbox is then a statistical matching problem (pixel
correlations against the public images' correlations) within the training item's time limit, not
a lookup. That is harder, not impossible; the second line is ``graders.judge.suspicious``: a model that
scores far better than the reference under the same budget is flagged for the TA.

The reference is trained on exactly the same images, so relative marks are unaffected (measured:
the reference's held-out loss moves by 0.3-1.4 nats with the noise, while secrets alone move it
by +-7 nats). For the pictures, a trained model is mapped back to plain pixel order (``to_plain``).
Marks are deterministic for a given secret; the students never get it.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch

SECRET_VARIABLE = "A4_SECRET"
DEFAULT_SECRET = "a4-default-secret"
PIXELS = 784
NOISE = 0.01     # probability that a training pixel is flipped


def _seed(secret: str, purpose: str) -> int:
    """A 63-bit seed for one use of the secret (``purpose``): the uses are independent."""
    return int.from_bytes(hashlib.sha256(f"{purpose}\0{secret}".encode()).digest()[:8], "little") >> 1


@dataclass(frozen=True)
class PixelPermutation:
    """``order[j]`` is the plain pixel shown at shuffled position ``j``; identity when ``order`` is None
    (the students' self-check, which has no secret). ``digest`` identifies the secret (for the resume
    key, never the secret itself); ``seeds`` are the secret's seeds for rows and noise."""
    order: tuple | None
    source: str                      # for reports: "course secret", "default secret" or "none"
    digest: str = "none"
    seeds: tuple = ()                # (rows seed, noise seed), empty without a secret

    @classmethod
    def from_environment(cls, public: bool = False) -> PixelPermutation:
        if public:
            return cls(None, "none (self-check)")
        return cls.from_secret(os.environ.get(SECRET_VARIABLE, ""))

    @classmethod
    def from_secret(cls, secret: str) -> PixelPermutation:
        """The transform of ``secret`` (empty: the public default, reported as such)."""
        used = secret or DEFAULT_SECRET
        order = torch.randperm(PIXELS, generator=torch.Generator().manual_seed(_seed(used, "pixels")))
        digest = hashlib.sha256(f"a4-secret-digest\0{used}".encode()).hexdigest()[:16]
        return cls(tuple(order.tolist()), "course secret" if secret else
                   f"default secret (set {SECRET_VARIABLE} to your course's own)", digest,
                   (_seed(used, "rows"), _seed(used, "noise")))

    def shuffle(self, X: torch.Tensor) -> torch.Tensor:
        """``X`` (N, 784) in plain pixel order -> shuffled order (held-out images: no noise)."""
        return X if self.order is None else X[:, list(self.order)].contiguous()

    def training_set(self, X: torch.Tensor, Y: torch.Tensor, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``rows`` training images the sandbox sees, from the plain training split ``(X, Y)``:
        a secret selection in a secret order, each pixel flipped with probability ``NOISE``, shuffled.
        Without a secret: the first ``rows``, unchanged."""
        if self.order is None:
            return X[:rows], Y[:rows]
        rows_seed, noise_seed = self.seeds
        chosen = torch.randperm(len(X), generator=torch.Generator().manual_seed(rows_seed))[:rows]
        X, Y = X[chosen], Y[chosen]
        flips = torch.rand(X.shape, generator=torch.Generator().manual_seed(noise_seed)) < NOISE
        X = torch.where(flips, 1.0 - X, X).to(X.dtype)
        return self.shuffle(X), Y.contiguous()

    def to_plain(self, state: dict[str, torch.Tensor], conditional: bool = False) -> dict[str, torch.Tensor]:
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
