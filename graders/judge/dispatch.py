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
import signal

from graders.judge.childdata import View, clean_text
from graders.judge.evidence import UNVERIFIED, Context, Outcome, record_view  # noqa: F401 - the judge's interface
from graders.items import AUTO_BY_ID
from graders.judge.loss import judge_loss
from graders.judge.sampler import judge_sampler
from graders.judge.scalar import judge_scalar, scale_hint  # noqa: F401 - re-exported
from graders.judge.training import judge_training
from graders.results import ItemResult
from worker.protocol import Limits


def describe_failure(outcome, function, time_limit):
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


def _error_result(item, outcome, time_limit):
    """The ``error``/``fail`` result of a child that raised or returned nothing usable, or None."""
    if outcome.failure:
        return ItemResult.error(item.marks, clean_text(outcome.failure, 400), cause="malformed")
    meta = View(outcome.meta)
    replied = "probe" in meta or "error" in meta
    record = record_view(outcome)
    if not record.raw or record.flag("timed_out") or not replied:
        cause = "timeout" if record.flag("timed_out") else "crash"
        return ItemResult.error(item.marks, describe_failure(outcome, item.function, time_limit), cause=cause)
    if "error" not in meta:
        return None
    message = meta.text("error", "an unknown error", limit=300)
    exception = meta.text("exception", limit=60)
    if exception == "NotImplementedError":
        return ItemResult(item.marks, "fail", 0.0, [f"{item.function} is not done yet (NotImplementedError)"],
                          cause="not_done")
    cause = "exception"
    if meta.flag("not_defined"):
        cause = "not_defined"
    if exception == "SystemExit":
        message = f"{item.function} called sys.exit() ({message})"
    elif exception == "MemoryError" or "can't allocate memory" in message or "DefaultCPUAllocator" in message:
        message = f"{item.function} ran out of memory (the grader allows {Limits().memory_mb / 1024:g} GB): {message}"
    text = f"{item.function}: {message}" if not message.startswith(item.function) else message
    trace = clean_text(meta.raw.get("traceback", ""), 2000, keep_newlines=True) if isinstance(
        meta.raw.get("traceback"), str) else ""
    if trace.strip() not in ("", message.strip()):
        text += "\n" + trace
    return ItemResult.error(item.marks, text, cause=cause)


def judge(item, outcome, context, time_limit):
    """The item's result; an outcome without usable data becomes an ``error`` with its reason.

    Never raises: a failure inside the judge (a grader bug, or child data that slipped past
    validation) becomes an ``error`` result with cause ``judge_error``."""
    item = AUTO_BY_ID.get(getattr(item, "id", item), item)
    try:
        failed = _error_result(item, outcome, time_limit)
        if failed is not None:
            return failed
        return JUDGES[item.kind](item, outcome, context)
    except Exception as error:  # noqa: BLE001
        return ItemResult.error(item.marks, f"the grader failed to judge this item ({type(error).__name__}: "
                                            f"{clean_text(error, 200)}); please report it", cause="judge_error")
