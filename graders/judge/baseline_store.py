"""The reference baselines kept on disk between runs, so that a re-run, a resumed batch or the next
``grade`` on the same data does not train the reference again (about 8 s of CPU per run).

A baseline is kept under a key that names everything it was computed from: the grader's code digest
(which covers the reference, the budget and the scoring), torch's version and CPU kernels, the kind
(VAE or CVAE) and the exact tensors it trained and was scored on (shuffled by the course secret, so a
different secret is a different key). Training is single-threaded from a fixed seed, so a kept baseline
equals a fresh one to the bit on the same machine (``tests/test_baselines.py`` compares them).

One file per key, ``<key>.safetensors``: the trained model's state (plain pixel order) as tensors, the
numbers as its metadata; written atomically (a temporary file renamed over it), mode 0600 in a 0700
folder (the model was trained on images shuffled by the secret). A file that cannot be read as one is
ignored and written again. The folder is outside the sandbox's view.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any, Sequence

import torch

from graders.version import code_digest

FORMAT = 1


def key(conditional: bool, tensors: Sequence[torch.Tensor]) -> str:
    """32 hex digits naming a baseline: code, torch, CPU kernels, kind and the exact training and
    held-out tensors (any dtype and shape)."""
    digest = hashlib.sha256(json.dumps([FORMAT, code_digest(), torch.__version__, platform.machine(),
                                        torch.backends.cpu.get_cpu_capability(), conditional]).encode())
    for tensor in tensors:
        tensor = tensor.detach().contiguous()
        digest.update(f"{tensor.dtype}{list(tensor.shape)}".encode() + tensor.reshape(-1).view(torch.uint8).numpy()
                      .tobytes())
    return digest.hexdigest()[:32]


class BaselineStore:
    """Kept baselines in ``folder``, as plain numbers and a state dict (``baselines.ReferenceBaselines``
    turns them into a ``Baseline``); every failure to read or write is a miss, never an error."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def load(self, name: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
        """``(numbers, state)`` kept under ``name``, or None."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file, safe_open
        path = self.folder / f"{name}.safetensors"
        try:
            with safe_open(str(path), framework="pt") as handle:
                numbers = json.loads((handle.metadata() or {})["numbers"])
            return (numbers, load_file(str(path))) if isinstance(numbers, dict) else None
        except (OSError, ValueError, KeyError, TypeError, SafetensorError):
            return None

    def save(self, name: str, numbers: dict[str, Any], state: dict[str, torch.Tensor]) -> None:
        """Keep ``numbers`` (JSON data) and ``state`` under ``name`` (atomically; a folder that cannot be
        written keeps nothing)."""
        from safetensors.torch import save_file
        state = {k: v.detach().contiguous().clone() for k, v in state.items()}
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            descriptor, temporary = tempfile.mkstemp(prefix=".baseline-", suffix=".tmp", dir=self.folder)
            os.close(descriptor)  # mkstemp: mode 0600
            try:
                save_file(state, temporary, metadata={"numbers": json.dumps(numbers)})
                os.replace(temporary, self.folder / f"{name}.safetensors")
            finally:
                if os.path.exists(temporary):
                    os.unlink(temporary)
        except OSError:
            return
