"""Safe readers of what the child sent back, shared by the self-check's verdicts: a tensor of a given
shape (float64) or nothing, a close comparison with the judge's tolerances, a value in words."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from collections.abc import Sequence

UNVERIFIED = "not verified here; the grader checks it against the reference"


def tensor(tensors: dict, name: str, shape: Sequence[int] | None = None) -> torch.Tensor | None:
    """``tensors[name]`` as float64 when numeric (and of ``shape`` when given), else None."""
    value = tensors.get(name)
    if not isinstance(value, torch.Tensor) or value.dtype == torch.bool:
        return None
    if shape is not None and tuple(value.shape) != tuple(shape):
        return None
    return value.double()


def scalar(tensors: dict, name: str) -> torch.Tensor | None:
    value = tensor(tensors, name)
    return value.reshape(()) if value is not None and value.numel() == 1 else None


def close(received: object, expected: torch.Tensor | float, rtol: float = 1e-4, atol: float = 1e-4) -> bool:
    expected = torch.as_tensor(expected, dtype=torch.float64)
    if not isinstance(received, torch.Tensor) or received.shape != expected.shape or received.dtype == torch.bool:
        return False
    return bool(torch.allclose(received.double(), expected, rtol=rtol, atol=atol))


def fmt(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"{value.double().item():.6g}" if value.numel() == 1 else f"tensor of shape {tuple(value.shape)}"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def type_text(meta: dict) -> str:
    """A returned value in words: ``float32 tensor of shape (3,)`` or ``float 7.6``."""
    kind = str(meta.get("type", "nothing"))
    if kind == "tensor":
        return f"{meta.get('dtype', '?')} tensor of shape {tuple(meta.get('shape') or ())}"
    return kind + (f" {meta['repr']}" if meta.get("repr") else "")
