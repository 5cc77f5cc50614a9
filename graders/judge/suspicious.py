"""Flags for the TA on trained models that look trained somewhere else (a reason to look, never marks).

The held-out images are public MNIST, so a student could train at home on exactly them and return
those weights from ``train_mnist_*`` (the pixel shuffle of ``graders.grading.secret`` stands in the way only
while the shuffle is not recovered). Two rules, each on what the grader measures itself, in plain
pixel order (the stored models, ``Run.plain_held_out`` and the training images the sandbox saw,
mapped back):

- **better on held-out than on its own training images**: the model's loss on the training images
  the sandbox gave it minus its held-out loss, beside the same difference for the reference. A model
  fitted to the held-out images does better on them; a model trained anywhere on clean images has
  not learned the training images' 1% pixel noise (``graders.grading.secret``), which then costs it more
  than it costs a model trained on them. Flagged above ``GAP_MARGIN`` nats.
- **far better than the reference** under the same budget: held-out loss more than ``FAR_MARGIN``
  nats below the reference's.

Both thresholds come from ``bench/calibrate_suspicious.py`` (the figures are in SECURITY.md):
honest code of ``tests/real_code`` and every activation the layout allows stays well inside them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import torch

from graders.judge import baselines as training
from graders.items import AUTO_ITEMS

if TYPE_CHECKING:
    from graders.grading.pipeline import Run
    from graders.items import AutoItem
    from graders.results import ItemResult

# Measured (SECURITY.md): honest code's excess gap at most 1.4 nats (tests/real_code), 2.8 (every other
# activation in the table's places); models trained at home on clean images at least 6.3 (they have not
# learned the 1% pixel noise of the training images, so the noisy training images cost them more).
GAP_MARGIN = 5.0      # nats
# Measured: the fastest honest learners (GELU, ELU, SiLU... in place of Tanh) 34-37 nats below the reference.
FAR_MARGIN = 50.0     # nats
SAMPLE_ROWS = 1000    # training images scored for the gap (the first, of the sandbox's secret selection)


@dataclass(frozen=True)
class Evidence:
    """One trained model's measured losses (nats per image) beside the reference's."""
    item: str
    held_out: float
    training: float
    reference_held_out: float
    reference_training: float

    @property
    def excess_gap(self) -> float:
        """How much more the model does better on held-out than on training images than the reference."""
        return (self.training - self.held_out) - (self.reference_training - self.reference_held_out)

    @property
    def below_reference(self) -> float:
        return self.reference_held_out - self.held_out

    def flags(self) -> list:
        """The sentences for the submission's flags (empty when neither rule trips)."""
        found = []
        if self.excess_gap > GAP_MARGIN:
            found.append(f"{self.item}: the model does better on the held-out images ({self.held_out:.1f}) than on "
                         f"the training images it was given ({self.training:.1f}), {self.excess_gap:.1f} nats beyond "
                         f"the reference (flagged above {GAP_MARGIN:g}): trained on the held-out images elsewhere?")
        if self.below_reference > FAR_MARGIN:
            found.append(f"{self.item}: held-out loss {self.held_out:.1f}, {self.below_reference:.1f} nats below the "
                         f"reference's {self.reference_held_out:.1f} under the same budget (flagged above "
                         f"{FAR_MARGIN:g}): weights trained elsewhere?")
        return found


def plain_training_images(run: Run) -> tuple[torch.Tensor, torch.Tensor]:
    """The training images and labels the sandbox saw (secret selection, noise), in plain pixel order."""
    X, Y = run.inputs["q4.train:X"][:SAMPLE_ROWS], run.inputs["q4.train:Y"][:SAMPLE_ROWS]
    order = run.permutation.order
    if order is None:
        return X, Y
    plain = torch.empty_like(X)
    plain[:, list(order)] = X
    return plain, Y


def evidence(run: Run, item: AutoItem, state: dict[str, torch.Tensor] | None, structure: dict[str, Any] | None = None
             ) -> Evidence | None:
    """``Evidence`` for one training item's plain state dict, or None (no model, no baseline, not finite)."""
    baselines = cast("training.ReferenceBaselines | None", run.context.baselines)
    if baselines is None or run.plain_held_out is None or state is None:
        return None
    conditional = item.conditional
    try:
        model = training.load_state(conditional, state, structure)
    except Exception:  # noqa: BLE001 - the judge already said why it could not be scored
        return None
    reference = baselines.get(conditional).model
    (tx, ty), (hx, hy) = plain_training_images(run), run.plain_held_out
    values = [training.held_out_loss(m, conditional, x, y) for m in (model, reference) for x, y in ((hx, hy), (tx, ty))]
    if not all(math.isfinite(v) for v in values):
        return None
    return Evidence(item.id, values[0], values[1], values[2], values[3])


def flags(run: Run, results: dict[str, ItemResult], models: dict[str, dict[str, torch.Tensor]]) -> list[str]:
    """The flags of one graded submission: ``results`` ``{item id: ItemResult}``, ``models`` ``{item id:
    plain state dict}`` as ``pipeline`` assembles them."""
    found = []
    for item in AUTO_ITEMS:
        if not item.trains or item.id not in models:
            continue
        structure = results[item.id].details.get("structure") if item.id in results else None
        shown = structure if structure and training.structure_problems(structure) else None
        try:
            measured = evidence(run, item, models[item.id], shown)
        except Exception as error:  # noqa: BLE001 - a bug here must cost no marks, and must show
            found.append(f"{item.id}: the grader's trained-elsewhere check failed ({type(error).__name__}); "
                         "please report it")
            continue
        found += measured.flags() if measured else []
    return found
