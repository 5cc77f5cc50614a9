"""Whether a training loop clears the gradients between optimizer steps, read from the gradients themselves.

Not from calls: ``optimizer.zero_grad()``, ``model.zero_grad()``, ``p.grad = None`` and ``p.grad.zero_()`` all
clear, and a loop may call ``backward`` several times per step on purpose (gradient accumulation). What is
measured instead, on one parameter of the first optimizer that steps:

- ``fresh``: the sum of the gradients autograd delivered to it since the last step (a tensor hook sees each
  contribution before it is added to ``p.grad``);
- ``after``: ``p.grad`` as it was right after the last step.

Before the next step, ``p.grad`` equals ``fresh`` when it was cleared in between, and ``after + fresh`` when it
was not; it is empty or zero, though ``fresh`` is not, when it was cleared after ``backward`` and before the
step (counted only when every parameter's gradient is: one layer frozen by zeroing its gradient is not
that). A step with no gradient since the last (a closure passed to ``step`` computes it inside; two steps
per batch) tells nothing. A step where none holds (gradient clipping rescales ``p.grad`` in place) or where they cannot be told
apart (``after`` about zero) counts as none: the judge names a cause only on the steps that show one.
"""
from __future__ import annotations

import math
import weakref
from typing import Any

import torch

# |difference| <= RELATIVE_TOL * max|p.grad| counts as equal: float32 sums in another order differ by
# about 1e-6 of the largest entry, a missing or extra gradient by the size of a whole gradient.
RELATIVE_TOL = 1e-4
# ``after`` must be at least this share of max|p.grad| for the two answers to differ measurably.
DISTINCT_SHARE = 1e-2


class GradientWatch:
    """Counts, over optimizer steps, how often ``p.grad`` was cleared since the step before.

    ``before_step`` and ``after_step`` are called by the caller's optimizer step hooks (once per step, for
    any optimizer); ``close`` removes the tensor hook. ``facts()``: ``{"compared", "cleared", "kept",
    "zeroed"}``, integers: steps compared, steps whose gradient was cleared before the new one, steps whose
    gradient still held the previous one, steps whose new gradient was cleared before the step used it."""

    def __init__(self) -> None:
        self.compared, self.cleared, self.kept, self.zeroed = 0, 0, 0, 0
        self._optimizer: weakref.ref[torch.optim.Optimizer] | None = None
        self._param: torch.Tensor | None = None
        self._handle: Any = None
        self._fresh: torch.Tensor | None = None
        self._after: torch.Tensor | None = None
        self.stopped = False

    def _pick(self, optimizer: torch.optim.Optimizer) -> None:
        """Watch the smallest parameter (at least 8 entries where there is one), one with a gradient first."""
        params = [p for group in optimizer.param_groups for p in group.get("params", [])
                  if isinstance(p, torch.Tensor) and p.requires_grad and p.numel()]
        if not params:
            return
        params.sort(key=lambda p: (p.grad is None, p.numel() < 8, p.numel()))
        self._optimizer, self._param = weakref.ref(optimizer), params[0]
        self._handle = self._param.register_hook(self._on_gradient)

    def _on_gradient(self, grad: torch.Tensor) -> None:
        """Inside the student's backward pass: never raises (a parameter resized in place, a functional
        transform's tensors), it stops watching instead."""
        if self.stopped:
            return
        try:
            grad = grad.detach()
            self._fresh = grad.clone() if self._fresh is None else self._fresh + grad
        except Exception:  # noqa: BLE001 - the watch gives up (its hook is removed by close), training goes on
            self.stopped = True

    def before_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.stopped:
            return
        if self._param is None:
            self._pick(optimizer)
            return
        grad, fresh = self._param.grad, self._fresh
        if not self._watches(optimizer) or fresh is None:
            return   # no gradient since the last step (a closure computes it inside step, or two steps): nothing to tell
        if fresh.abs().max() > 0 and (grad is None or not grad.abs().max() > 0):
            if not _any_gradient(optimizer):   # one frozen layer zeroed by hand is not "no gradient"
                self.zeroed += 1
            self.compared += 1
            return
        if self._after is None or grad is None or grad.shape != self._after.shape:
            return
        grad = grad.detach()
        scale = float(grad.abs().max())
        if not math.isfinite(scale) or not scale or self._after.abs().max() < DISTINCT_SHARE * scale:
            return
        self.compared += 1
        if (grad - fresh).abs().max() <= RELATIVE_TOL * scale:
            self.cleared += 1
        elif (grad - (self._after + fresh)).abs().max() <= RELATIVE_TOL * scale:
            self.kept += 1

    def after_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.stopped or self._param is None or not self._watches(optimizer):
            return
        grad = self._param.grad
        self._after = None if grad is None else grad.detach().clone()
        self._fresh = None

    def _watches(self, optimizer: torch.optim.Optimizer) -> bool:
        return self._optimizer is not None and self._optimizer() is optimizer

    def close(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def facts(self) -> dict[str, int]:
        return {"compared": self.compared, "cleared": self.cleared, "kept": self.kept, "zeroed": self.zeroed}


def _any_gradient(optimizer: torch.optim.Optimizer) -> bool:
    """Whether any parameter of ``optimizer`` holds a non-zero gradient."""
    return any(p.grad is not None and bool(p.grad.any()) for group in optimizer.param_groups
               for p in group.get("params", []) if isinstance(p, torch.Tensor))
