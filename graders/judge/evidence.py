"""What every item's judge shares: the outcome of a child, the judging context, and safe readers.

Everything a worker sent was produced beside student code: facts are read through
``childdata.View`` and tensors through ``tensor_at`` (type and shape checked) before use.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from graders.judge.childdata import View, clean_text
from graders.results import Check
from worker.protocol import ProbeReply

if TYPE_CHECKING:
    from graders.items import AutoItem

UNVERIFIED = "not verified here; the grader checks it against the reference"


@dataclass
class Outcome:
    """What came back for one item: tensors, facts, and how the child ended."""
    tensors: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    record: object = field(default_factory=dict)   # a dict or a worker.protocol.ItemRecord
    failure: str = ""   # set when nothing usable came back


@dataclass
class Context:
    inputs: dict                     # item id -> {name: tensor}
    public: bool = False
    baselines: object = None         # training.ReferenceBaselines, full mode only
    held_out: tuple | None = None    # (X, Y) held-out images and labels


def probe_facts(outcome: Outcome) -> View:
    """The probe's facts in the child's reply (``worker.protocol.ProbeReply.probe``), as a ``View``."""
    return View(ProbeReply.from_json(outcome.meta).probe)


def record_view(outcome: Outcome) -> View:
    """The child's end record as a ``View`` (a dict or a dataclass with the same fields)."""
    record = outcome.record
    if record is not None and not isinstance(record, dict) and hasattr(record, "__dataclass_fields__"):
        record = {k: getattr(record, k) for k in record.__dataclass_fields__}
    return View(record)


def fmt(value: object) -> str:
    """A number or a tensor in a few characters (a tensor of several values by its shape)."""
    if isinstance(value, torch.Tensor):
        if value.numel() == 1:
            return f"{value.double().item():.6g}"
        return f"tensor of shape {tuple(value.shape)}"
    return f"{value:.6g}" if isinstance(value, float) else clean_text(value)


def tensor_at(tensors: dict, name: str, shape: tuple[int, ...] | None = None) -> torch.Tensor | None:
    """``tensors[name]`` as float64 if it is a numeric tensor (of ``shape`` when given), else None."""
    value = tensors.get(name)
    if not isinstance(value, torch.Tensor) or value.dtype == torch.bool:
        return None
    if shape is not None and tuple(value.shape) != tuple(shape):
        return None
    return value.double()


def scalar_at(tensors: dict, name: str) -> torch.Tensor | None:
    """``tensors[name]`` as a 0-dim float64 tensor when it holds one number, else None."""
    value = tensor_at(tensors, name)
    return value.reshape(()) if value is not None and value.numel() == 1 else None


def close(received: object, expected: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-4) -> bool:
    """``received`` is a numeric tensor of ``expected``'s shape and values (within the tolerances)."""
    if not isinstance(received, torch.Tensor) or received.shape != expected.shape or received.dtype == torch.bool:
        return False
    return bool(torch.allclose(received.double(), expected.double(), rtol=rtol, atol=atol))


def type_text(meta: object) -> str:
    """A validated description of a returned value (``probes.describe``'s facts)."""
    meta = meta if isinstance(meta, View) else View(meta)
    kind = meta.text("type", "nothing", limit=80)
    if kind == "tensor" or kind.startswith("tensor subclass"):
        shape = meta.integers("shape", cap=8)
        return f"{meta.text('dtype', '?', limit=20)} {kind} of shape {tuple(shape) if shape is not None else '?'}"
    text = meta.text("repr", limit=80)
    return kind + (f" {text}" if text else "")


def scaled(item: AutoItem, checks: list) -> list:
    """``checks`` (a subset of the item's, in the public self-check) scaled to the item's marks."""
    total = sum(c.marks for c in checks)
    return [Check(c.name, c.marks * item.marks / total, c.awarded * item.marks / total, c.passed, c.expected,
                  c.received, c.hint) for c in checks]
