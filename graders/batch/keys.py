"""The one cache-key rule: what a stored result was graded under, and what identifies a submission.

A result in ``OUT/results.jsonl`` is reused (a re-run resumes) only when its ``fingerprint`` is equal:
the submission's id and bytes and ``resume_key(run)``. A cluster's workers must match the client's
``code_digest``; every task checks ``data_digest`` against the client's.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import TYPE_CHECKING

from graders.version import GRADER_VERSION, code_digest

if TYPE_CHECKING:
    from graders.grading.pipeline import Run
    from graders.intake.discover import Submission

# Settings that cannot change a mark (how many at once, whether job folders are kept, where baselines are kept).
NOT_IN_KEY = ("workers", "keep_jobs", "baseline_cache")


def resume_key(run: Run) -> dict[str, str]:
    """What a stored result was graded under, as plain text fields: the grader's version and code
    digest, the sandbox actually used, every limit and setting that can change a mark, the data and
    a digest of the course secret (never the secret). A result is reused only when all are equal."""
    settings = {k: v for k, v in sorted(asdict(run.settings).items()) if k not in NOT_IN_KEY}
    return {"version": GRADER_VERSION, "code": code_digest(), "sandbox": run.sandbox.description,
            "secret": run.permutation.digest, "data": run.data_source, "settings": json.dumps(settings, default=str)}


def fingerprint(sub: Submission, run: Run) -> str:
    """Identifies a submission (id and content) and ``resume_key(run)``, for resuming: 20 hex digits."""
    digest = hashlib.sha256(json.dumps([resume_key(run), sub.id], sort_keys=True).encode())
    if sub.source is not None and sub.source.exists():
        digest.update(sub.source.read_bytes())
    return digest.hexdigest()[:20]


def data_digest(run: Run) -> str:
    """SHA-256 (16 hex digits) of the tensors a run hands to submissions and judges with."""
    digest = hashlib.sha256()
    for key in sorted(run.inputs):
        digest.update(key.encode() + run.inputs[key].contiguous().numpy().tobytes())
    for tensor in run.context.held_out or ():
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
