"""The judge: turn what a worker sent back for one item into marks, with reasons.

Runs in the grader's process. Expected values come from the reference (full
mode) or from the notebook's public constants (``public=True``, the students'
self-check, which ships without the reference). Everything a worker sent was
produced beside student code: facts are read through ``childdata.View`` and
tensors through ``evidence.tensor_at`` (type and shape checked) before use, and
the expected value of a loss item is computed from the judge's own inputs and
the validated sample, never taken from the child's numbers.

One module per kind of item: ``judge_scalar`` (KL, log-likelihood), ``judge_sampler``
((c)reconstruct), ``judge_loss`` ((c)elbo), ``judge_training`` (train_mnist_*); this
module dispatches and turns a child that failed into an ``error`` result.
"""
from __future__ import annotations

import signal
from typing import TYPE_CHECKING, cast

from graders.judge.childdata import clean_text
from graders.judge.evidence import UNVERIFIED, Context, Outcome, record_view  # noqa: F401 - the judge's interface
from graders.items import AUTO_BY_ID
from graders.judge.loss import judge_loss
from graders.judge.sampler import judge_sampler
from graders.judge.scalar import judge_scalar, scale_hint  # noqa: F401 - re-exported
from graders.judge.training import judge_training
from graders.results import ItemResult
from worker.protocol import Limits, ProbeReply

if TYPE_CHECKING:
    from graders.items import AutoItem
    from graders.judge.childdata import View


def describe_failure(outcome: Outcome, function: str, time_limit: float) -> str:
    """One plain sentence for a child that returned nothing usable."""
    record = record_view(outcome)
    if record.flag("timed_out"):
        return f"{function} did not finish within {time_limit:g} s (an endless loop, or far too slow)"
    if record.flag("disk_exceeded"):
        return f"the process running {function} was stopped: it wrote more files than the grader allows"
    code = record.integer("exit_code", default=None)
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = {"SIGXCPU": "it used up its CPU time", "SIGKILL": "it was killed (memory or process limits)",
               "SIGSEGV": "a segmentation fault"}.get(name, name)
        return f"the process running {function} crashed: {why}"
    return f"the process running {function} ended before returning a result (exit code {code}; sys.exit or os._exit?)"



JUDGES = {"scalar": judge_scalar, "sampler": judge_sampler, "loss": judge_loss, "train": judge_training}


def _error_result(item: AutoItem, outcome: Outcome, time_limit: float) -> ItemResult | None:
    """The ``error``/``fail`` result of a child that raised or returned nothing usable, or None."""
    if outcome.failure:
        return ItemResult.error(item.marks, clean_text(outcome.failure, 400), cause="malformed")
    reply = ProbeReply.from_json(outcome.meta)
    record = record_view(outcome)
    if not record.raw or record.flag("timed_out") or not reply.replied:
        cause = "timeout" if record.flag("timed_out") else "crash"
        return ItemResult.error(item.marks, describe_failure(outcome, item.function, time_limit), cause=cause)
    if not reply.error:
        return None
    message = clean_text(reply.error, 300)
    exception = clean_text(reply.exception, 60)
    if exception == "NotImplementedError":
        return ItemResult(item.marks, "fail", 0.0, [f"{item.function} is not done yet (NotImplementedError)"],
                          cause="not_done")
    cause = "not_defined" if reply.not_defined else "exception"
    if exception == "SystemExit":
        message = f"{item.function} called sys.exit() ({message})"
    elif exception == "MemoryError" or "can't allocate memory" in message or "DefaultCPUAllocator" in message:
        message = f"{item.function} ran out of memory (the grader allows {Limits().memory_mb / 1024:g} GB): {message}"
    text = f"{item.function}: {message}" if not message.startswith(item.function) else message
    trace = clean_text(reply.traceback, 2000, keep_newlines=True)
    if trace.strip() not in ("", message.strip()):
        text += "\n" + trace
    return ItemResult.error(item.marks, text, cause=cause)


OUTPUT_LINES = 12   # of what a failed item's process printed, the last lines shown as a note


def printed_note(record: View) -> str:
    """The last ``OUTPUT_LINES`` lines the item's process printed (``ItemRecord.output``, cleaned), with
    how much it printed in all (``output_bytes``); ``""`` when it printed nothing."""
    output = record.raw.get("output")
    text = clean_text(output, 64 * 1024, keep_newlines=True).rstrip() if isinstance(output, str) else ""
    if not text:
        return ""
    lines = text.splitlines()
    shown = "\n".join(lines[-OUTPUT_LINES:])[-1500:]
    total = record.integer("output_bytes", default=len(text.encode()), low=0)
    return (f"it printed ({total:,} bytes" + (f"; the last {OUTPUT_LINES} lines" if len(lines) > OUTPUT_LINES else "")
            + f"):\n{shown}")


def judge(item: AutoItem, outcome: Outcome, context: Context, time_limit: float) -> ItemResult:
    """The item's result; an outcome without usable data becomes an ``error`` with its reason.

    Never raises: a failure inside the judge (a grader bug, or child data that slipped past
    validation) becomes an ``error`` result with cause ``judge_error``."""
    item = AUTO_BY_ID.get(cast(str, getattr(item, "id", item)), item)
    try:
        failed = _error_result(item, outcome, time_limit)
        if failed is not None:
            note = printed_note(record_view(outcome)) if failed.cause in ("exception", "crash", "timeout") else ""
            failed.notes += [note] if note else []
            return failed
        return JUDGES[item.kind](item, outcome, context)
    except Exception as error:  # noqa: BLE001
        return ItemResult.error(item.marks, f"the grader failed to judge this item ({type(error).__name__}: "
                                            f"{clean_text(error, 200)}); please report it", cause="judge_error")
