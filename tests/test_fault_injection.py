"""Fault injection: a batch of 30 where every 3rd submission fails in a different way.

Ten failure classes (unreadable zip, a notebook whose JSON is a list, JSON nested
100,000 deep, a lone surrogate in a markdown answer, an endless loop, ``os._exit``
while the definitions load, a segfault, a memory bomb, an output flood, a forged
reply frame) sit between twenty clean copies of the reference, each made distinct by
a comment so that nothing is shared or resumed. The batch must give 30 verdicts in
``--json``, write every report, and leave the clean copies untouched: 40/40, every
item ``pass``, their files unchanged.
"""
import json
import os
import time

import pytest

from graders.items import AUTO_ITEMS
from tests import hostile_files
from tests.conftest import run_grade
from tests.redteam import ATTACKS, ROUND2, Attack
from tests.test_redteam import attack_source, match_results, page_problems, _snapshot

LIMITS = ["--time-limit", "10", "--train-time-limit", "60", "--workers", "2"]
SIZE = 30


def _named(corpus, name):
    return next(a for a in corpus if a.name == name)


# (stem, how the file is made, the item that must not keep its marks, or "*" for all of them, or None)
FAULTS = [
    ("fault-unreadable-zip", (".zip", hostile_files.bad_zip), "*"),
    ("fault-list-json", (".ipynb", hostile_files.list_json_notebook), None),
    ("fault-deep-json", (".ipynb", hostile_files.deep_json_notebook), None),
    ("fault-surrogate-markdown", (".ipynb", hostile_files.surrogate_markdown_notebook), None),
    ("fault-endless-loop", _named(ATTACKS, "infinite loop"), "q4.kl_divergence"),
    ("fault-exit-at-import", Attack("exit while loading", extra="def _quit(code=__import__('os')._exit(3)):\n"
                                                                 "    pass\n"), None),
    ("fault-segfault", _named(ATTACKS, "segfault through ctypes"), "q5.reconstruct"),
    ("fault-memory-bomb", _named(ATTACKS, "memory hog"), "q4.kl_divergence"),
    ("fault-output-flood", _named(ATTACKS, "gigabytes on stdout"), None),
    ("fault-forged-frame", _named(ROUND2, "forges a reply frame with seconds: null"), "q5.train"),
]


def write_batch(folder):
    """30 submissions: a fault at every index divisible by 3, a distinct clean copy elsewhere."""
    folder.mkdir()
    faults, clean = {}, []
    for index in range(SIZE):
        if index % 3 == 0:
            stem, how, item = FAULTS[index // 3]
            stem = f"{index:02d}-{stem}"
            if isinstance(how, Attack):
                (folder / f"{stem}.py").write_text(attack_source(how, folder.parent, 0, "fault"))
            else:
                suffix, build = how
                (folder / f"{stem}{suffix}").write_bytes(build())
            faults[stem] = item
        else:
            stem = f"{index:02d}-clean"
            (folder / f"{stem}.ipynb").write_bytes(hostile_files.solution_with_comment(f"copy {index}"))
            clean.append(stem)
    return faults, clean


@pytest.mark.slow
@pytest.mark.proof
def test_thirty_submissions_ten_faults_every_verdict_and_report(tmp_path):
    batch, out = tmp_path / "batch", tmp_path / "out"
    faults, clean = write_batch(batch)
    assert len(faults) == 10 and len(clean) == 20 and len(os.listdir(batch)) == SIZE
    before = _snapshot(batch)
    started = time.monotonic()
    done = run_grade("grade", batch, "--json", "--out", out, *LIMITS, timeout=2400)
    seconds = time.monotonic() - started
    print(f"\nfault-injection batch of {SIZE}: {seconds:.0f} s, exit {done.returncode}")
    assert done.returncode == 0, done.stderr[-2000:]
    results = {s["id"]: s for s in json.loads(done.stdout)["submissions"]}
    assert len(results) == SIZE
    matched = match_results(list(faults) + clean, results)
    assert sorted(set(faults) | set(clean)) == sorted(matched)
    problems = page_problems(out, SIZE)
    for stem in clean:
        result = matched[stem]
        not_passed = {k: v["status"] for k, v in result["items"].items() if k in {i.id for i in AUTO_ITEMS}
                      and v["status"] != "pass"}
        if result["auto_awarded"] != 40.0 or not_passed:
            problems.append(f"{stem}: {result['auto_awarded']}/40 {not_passed}")
    for stem, item in faults.items():
        result = matched[stem]
        missing = [i.id for i in AUTO_ITEMS if i.id not in result["items"]]
        if missing:
            problems.append(f"{stem}: items missing {missing}")
            continue
        lost = {i.id for i in AUTO_ITEMS if result["items"][i.id]["awarded"] < result["items"][i.id]["max"]}
        if item == "*" and lost != {i.id for i in AUTO_ITEMS}:
            problems.append(f"{stem}: expected every item to lose its marks, lost {sorted(lost)}")
        elif item not in (None, "*") and item not in lost:
            problems.append(f"{stem}: {item} kept its marks")
        if lost and not any(result["items"][i]["messages"] for i in lost):
            problems.append(f"{stem}: marks lost without a reason")
    if _snapshot(batch) != before:
        problems.append("the batch folder changed")
    assert problems == []
