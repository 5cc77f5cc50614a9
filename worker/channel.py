"""The only data that crosses from a worker to the judge: one frame per item.

A frame is ``MAGIC``, an 8-byte length, UTF-8 JSON (facts) and a safetensors
blob (tensors). Nothing in it is unpickled or executed; ``decode`` checks sizes,
names and dtypes before the judge uses anything.
"""
from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import load_file
from safetensors.torch import save as save_tensors

if TYPE_CHECKING:
    import os

MAGIC = b"A4F1"
ALLOWED_DTYPES = {torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32,
                  torch.int16, torch.int8, torch.uint8, torch.bool}
MAX_META_BYTES = 4 * 2**20
MAX_TENSORS = 512


class BadFrame(ValueError):
    """A worker's reply that is not a well-formed frame."""


def encode(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> bytes:
    blob = save_tensors({k: v.contiguous() for k, v in tensors.items()}) if tensors else b""
    text = json.dumps(meta, default=str).encode()
    return MAGIC + struct.pack("<Q", len(text)) + text + blob


def decode(frame: bytes) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(tensors, meta)`` from a frame; raises ``BadFrame`` on anything malformed."""
    if len(frame) < 12 or frame[:4] != MAGIC:
        raise BadFrame("no result came back")
    (size,) = struct.unpack("<Q", frame[4:12])
    if size > MAX_META_BYTES or 12 + size > len(frame):
        raise BadFrame("the result's description is malformed")
    try:
        meta = json.loads(frame[12:12 + size])
        tensors = load_tensors(bytes(frame[12 + size:])) if len(frame) > 12 + size else {}
    except Exception as error:
        raise BadFrame(f"the result is malformed ({type(error).__name__})") from None
    if not isinstance(meta, dict) or len(tensors) > MAX_TENSORS:
        raise BadFrame("the result is malformed")
    for name, tensor in tensors.items():
        if tensor.dtype not in ALLOWED_DTYPES or not isinstance(name, str):
            raise BadFrame(f"unexpected tensor {name!r} of dtype {tensor.dtype}")
    return tensors, meta


def item_inputs(inputs: dict[str, torch.Tensor], item_id: str) -> dict[str, torch.Tensor]:
    """``{name: tensor}`` of one item from a dict keyed ``"<item id>:<name>"``."""
    prefix = item_id + ":"
    return {key[len(prefix):]: value for key, value in inputs.items() if key.startswith(prefix)}


def save_inputs(tensors: dict[str, torch.Tensor], path: str | os.PathLike[str]) -> None:
    from safetensors.torch import save_file
    save_file({k: v.contiguous().clone() for k, v in tensors.items()}, str(path))


def load_inputs(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    return load_file(str(path))
