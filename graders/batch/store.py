"""``OUT/results.jsonl``, its one owner: a line per graded submission, appended as it finishes, and
its trained models in ``OUT/models/``. The batch appends and resumes from it; the reports and the
marking app read the latest result per id. Reading imports neither the pipeline nor torch.

A line is ``{"fingerprint": <graders.batch.keys.fingerprint>, "result": SubmissionResult.full_json()}``.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from graders.results import SubmissionResult

if TYPE_CHECKING:
    from collections.abc import Iterator

    import torch


class ResultStore:
    """``results.jsonl`` in the output folder: one line per graded submission, appended as it finishes."""

    def __init__(self, out_dir: str | Path) -> None:
        self.path = Path(out_dir) / "results.jsonl"
        self.models_dir = Path(out_dir) / "models"
        self._lock = threading.Lock()

    def _lines(self) -> Iterator[tuple[str, SubmissionResult]]:
        """``(fingerprint, SubmissionResult)`` of every readable line, in the order written."""
        if not self.path.exists():
            return
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                data = json.loads(line)
                result = SubmissionResult.from_full_json(data["result"])
            except (ValueError, KeyError, TypeError):
                continue
            result.info.fingerprint = result.info.fingerprint or str(data.get("fingerprint") or "")
            yield str(data.get("fingerprint") or ""), result

    def load(self) -> dict[str, SubmissionResult]:
        """``{fingerprint: SubmissionResult}`` of earlier runs (for resuming); unreadable lines are skipped."""
        return {fingerprint: result for fingerprint, result in self._lines() if fingerprint}

    def latest(self) -> list[SubmissionResult]:
        """The latest stored ``SubmissionResult`` per id, in id order (for reports and the marking app)."""
        latest = {result.id: result for _, result in self._lines()}
        return [latest[i] for i in sorted(latest)]

    def append(self, print_: str, result: SubmissionResult) -> None:
        """Record ``result``; its trained models go to ``models/<fingerprint>-<item>.safetensors``."""
        from worker import channel  # safetensors and torch: only where models are written
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            for item_id, state in result.models.items():
                self.models_dir.mkdir(exist_ok=True)
                channel.save_inputs(state, self.models_dir / f"{print_}-{item_id}.safetensors")
            with open(self.path, "a") as handle:
                handle.write(json.dumps({"fingerprint": print_, "result": result.full_json()}) + "\n")

    def models(self, result: SubmissionResult) -> dict[str, dict[str, torch.Tensor]]:
        """``{item id: state dict}`` stored for ``result`` (by its fingerprint)."""
        if result.models:
            return result.models
        from worker import channel
        found = {}
        for path in self.models_dir.glob(f"{result.info.fingerprint or '?'}-*.safetensors"):
            found[path.name[len(result.info.fingerprint) + 1:-len(".safetensors")]] = channel.load_inputs(path)
        return found
