"""The records that cross the sandbox's boundary (``worker.protocol``, ``worker.lossserver.ServerCounts``):
every field is written by the process that produces it and read by the one that consumes it (``Limits``, the
grader's settings for the sandbox, is left out: most of its fields are constants its defaults write).

Read from the code itself (AST): a field is *written* where the producer assigns ``x.<field> = ...``,
passes ``<field>=`` to the record's constructor, or passes it positionally; it is *read* where a consumer
loads ``x.<field>`` or names it as a string key (the judge reads child data through ``childdata.View``
getters such as ``record.flag("timed_out")``). A field nobody reads is data the worker measures for
nothing (``ItemRecord.output`` was, until the judge showed it); a field nobody writes is a reader's
default forever (``LoadReport.finished`` was: always True, read by nobody; removed).
"""
import ast
import dataclasses
from pathlib import Path

import pytest

from worker import lossserver, protocol

ROOT = Path(__file__).resolve().parent.parent

# record: (producers, consumers); the validators in graders/judge/childdata.py copy every field and are
# neither (they are how a consumer reads, not a use).
RECORDS = {
    protocol.ProbeReply: (["worker/__main__.py"], ["graders/judge/dispatch.py", "graders/judge/evidence.py"]),
    protocol.ItemRecord: (["worker/__main__.py"],
                          ["graders/judge/dispatch.py", "graders/grading/pipeline.py", "worker/__main__.py"]),
    protocol.LoadReport: (["worker/loader.py", "worker/supervise.py"],
                          ["graders/grading/pipeline.py", "graders/judge/training.py", "worker/__main__.py"]),
    protocol.Skip: (["worker/loader.py"], ["graders/grading/pipeline.py", "graders/reports/pages.py",
                                           "graders/judge/dispatch.py", "worker/protocol.py"]),
    protocol.ItemSpec: (["graders/grading/pipeline.py"], ["worker/__main__.py", "worker/supervise.py"]),
    lossserver.ServerCounts: (["worker/lossserver.py"], ["graders/judge/crosscheck.py"]),
}


def _uses(paths, record):
    """``(written, read)`` field names of ``record`` in the modules at ``paths``."""
    fields = [f.name for f in dataclasses.fields(record)]
    written, read = set(), set()
    for path in paths:
        tree = ast.parse((ROOT / path).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                (written if isinstance(node.ctx, ast.Store) else read).add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                read.add(node.value)
            elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == \
                    record.__name__:
                written.update(k.arg for k in node.keywords if k.arg)
                written.update(fields[: len(node.args)])
    return written & set(fields), read & set(fields)


@pytest.mark.parametrize("record", list(RECORDS), ids=lambda r: r.__name__)
def test_every_field_is_written_by_its_producer_and_read_by_its_consumer(record):
    producers, consumers = RECORDS[record]
    fields = {f.name for f in dataclasses.fields(record)}
    written, _ = _uses(producers, record)
    _, read = _uses(consumers, record)
    assert fields - written == set(), f"{record.__name__}: fields no producer writes"
    assert fields - read == set(), f"{record.__name__}: fields no consumer reads"


def test_a_probe_reply_takes_what_a_child_sent_by_type_and_nothing_else():
    reply = protocol.ProbeReply(probe={"type": "tensor"}, error="TypeError: x", exception="TypeError",
                                traceback="line 3", not_defined=False)
    assert protocol.ProbeReply.from_json(reply.to_json()) == reply
    hostile = protocol.ProbeReply.from_json({"probe": ["not", "a", "dict"], "error": None, "exception": 7,
                                             "traceback": {"x": 1}, "not_defined": "yes", "extra": 1})
    assert hostile == protocol.ProbeReply(error="an error whose message is not text")
    assert hostile.replied and not protocol.ProbeReply.from_json("junk").replied
    assert protocol.ProbeReply.from_json({"probe": {}}).replied
