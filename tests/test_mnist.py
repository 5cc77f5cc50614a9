"""MNIST loading: the embedded subset, the torchvision folder path, and clear errors."""
import gzip
import os
import struct

import numpy as np
import pytest
import torch

from reference import scaffold


def test_embedded_split_is_fixed_stratified_and_binary(monkeypatch):
    monkeypatch.delenv(scaffold.MNIST_DIR_VARIABLE, raising=False)
    X, Y = scaffold.get_mnist_data("train")
    Xt, Yt = scaffold.get_mnist_data("test")
    assert X.shape == (4000, 784) and Xt.shape == (1000, 784)
    assert X.dtype == torch.float32 and Y.dtype == torch.int64
    assert set(X.unique().tolist()) == {0.0, 1.0}
    assert Y.bincount().tolist() == [400] * 10 and Yt.bincount().tolist() == [100] * 10
    assert not (X[:, None, :] == Xt[None, :200, :]).all(-1).any()  # no held-out image in train
    X2, _ = scaffold.get_mnist_data("train")
    assert torch.equal(X, X2)


def _write_idx(folder, prefix, images, labels):
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    with open(raw / f"{prefix}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 2051, len(images), 28, 28) + images.tobytes())
    with open(raw / f"{prefix}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 2049, len(labels)) + labels.tobytes())


def test_folder_is_read_through_torchvision(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 30, dtype=np.uint8)
    _write_idx(tmp_path, "train", images, labels)
    _write_idx(tmp_path, "t10k", images[:5], labels[:5])
    monkeypatch.setenv(scaffold.MNIST_DIR_VARIABLE, str(tmp_path))
    X, Y = scaffold.get_mnist_data("train")
    assert X.shape == (30, 784) and torch.equal(Y, torch.from_numpy(labels.astype(np.int64)))
    assert torch.equal(X, torch.from_numpy((images.reshape(30, 784) / 255 > 0.5).astype(np.float32)))
    assert scaffold.get_mnist_data("test")[0].shape == (5, 784)


def test_missing_folder_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv(scaffold.MNIST_DIR_VARIABLE, str(tmp_path / "nowhere"))
    with pytest.raises(scaffold.MNISTNotFound) as error:
        scaffold.get_mnist_data()
    message = str(error.value)
    assert "\n" not in message and str(tmp_path / "nowhere") in message and "train-images-idx3-ubyte" in message


def test_corrupt_folder_is_one_clear_line(tmp_path, monkeypatch):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"garbage")
    monkeypatch.setenv(scaffold.MNIST_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(scaffold.MNISTNotFound) as error:
        scaffold.get_mnist_data()
    assert "\n" not in str(error.value) and str(tmp_path) in str(error.value)


@pytest.mark.slow
def test_cli_reports_a_bad_mnist_folder_in_one_line(tmp_path):
    from tests.conftest import run_grade
    done = run_grade("--mnist", tmp_path / "missing", "grade", "submissions/reference", "--out", tmp_path / "o")
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0 and "missing" in done.stderr and "Traceback" not in done.stderr


FASHION = "/usr/share/datasets/fashion-mnist"  # Debian package dataset-fashion-mnist


@pytest.mark.skipif(not os.path.isdir(FASHION), reason="Debian's dataset-fashion-mnist is not installed")
def test_full_size_idx_files_load(tmp_path, monkeypatch):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in os.listdir(FASHION):
        if name.endswith(".gz"):
            with gzip.open(os.path.join(FASHION, name)) as src:
                (raw / name[:-3]).write_bytes(src.read())
    monkeypatch.setenv(scaffold.MNIST_DIR_VARIABLE, str(tmp_path))
    X, Y = scaffold.get_mnist_data("train")
    assert X.shape == (60000, 784) and Y.bincount().tolist() == [6000] * 10
