"""The red-team corpus: every hostile or broken submission gets its verdict, and nothing gets out.

Run once under bubblewrap (every attack must be stopped) and once with the sandbox
off, which prints which attacks only the process limits still stop.
"""
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from graders import catalogue, sandbox
from graders.catalogue import Case
from graders.items import AUTO_ITEMS
from reference.notebook import solution_notebook
from tests.conftest import ROOT, run_grade
from tests.redteam import ATTACKS

import nbformat

GOOD = "good-student"
LIMITS = ["--time-limit", "15", "--train-time-limit", "60", "--workers", "2"]


class Listener:
    """A TCP listener on 127.0.0.1 that records what reaches it; stops by itself."""

    def __init__(self, seconds=900):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(1)
        self.port = self.server.getsockname()[1]
        self.received = []
        self.until = time.time() + seconds
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while time.time() < self.until:
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    self.received.append(connection.recv(100))
                except OSError:
                    self.received.append(b"(connected)")


def _slug(name):
    return "attack-" + "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def _fill(text, canary, port):
    return text.replace("{canary}", str(canary)).replace("{port}", str(port)).replace("{root}", str(ROOT))


def write_batch(folder, canary, port, include_harmful):
    folder.mkdir(parents=True)
    nbformat.write(solution_notebook(), folder / f"{GOOD}.ipynb")
    used = {}
    for attack in ATTACKS:
        if attack.harmful_without_sandbox and not include_harmful:
            continue
        path = folder / (_slug(attack.name) + (".ipynb" if attack.whole_file is not None and "cells" in
                                               attack.whole_file else ".py"))
        if attack.whole_file is not None:
            path.write_text(attack.whole_file)
        else:
            replacements = {k: _fill(v, canary, port) for k, v in attack.replacements.items()}
            text = catalogue.case_source(Case(attack.name, None, replacements)) if replacements else \
                catalogue.case_source(Case(attack.name, None, {}))
            path.write_text(text + ("\n# %%\n" + _fill(attack.extra, canary, port) if attack.extra else ""))
        used[path.stem] = attack
    return used


def _leaks(canary, listener):
    found = []
    if not (canary / "canary.txt").exists() or (canary / "canary.txt").read_text() != "precious":
        found.append("canary changed")
    found += [f"wrote {p.name}" for p in canary.iterdir() if p.name != "canary.txt"]
    found += [f"listener got {data!r}" for data in listener.received]
    return found


def _verdict(attack, result):
    """Problems with ``result`` against ``attack.expect`` (empty when the attack was stopped)."""
    problems = []
    for item in AUTO_ITEMS:
        got = result["items"][item.id]
        if attack.whole_file is not None:
            if got["status"] != "error":
                problems.append(f"{item.id} is {got['status']}, expected error")
        elif item.id in attack.expect:
            statuses, words = attack.expect[item.id]
            text = " ".join(got["messages"])
            if got["awarded"] != 0 or got["status"] not in statuses or words not in text:
                problems.append(f"{item.id}: {got['status']} {got['awarded']} {text[:160]!r}")
        elif got["awarded"] != got["max"]:
            problems.append(f"{item.id} lost marks: {got['messages'][:1]}")
    return problems


def run_corpus(tmp_path, mode):
    canary = tmp_path / f"canary-{mode}"
    canary.mkdir()
    (canary / "canary.txt").write_text("precious")
    listener = Listener()
    harmful_ok = mode == "bwrap" or os.geteuid() != 0
    used = write_batch(tmp_path / f"batch-{mode}", canary, listener.port, harmful_ok)
    done = run_grade("grade", tmp_path / f"batch-{mode}", "--json", "--sandbox", mode, "--out",
                     tmp_path / f"out-{mode}", *LIMITS, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(done.stdout)
    results = {s["id"]: s for s in document["submissions"]}
    return used, results, _leaks(canary, listener), done


@pytest.mark.skipif(not sandbox.bwrap_available(), reason="bubblewrap cannot start here")
def test_every_attack_is_stopped_under_bubblewrap(tmp_path):
    used, results, leaks, done = run_corpus(tmp_path, "bwrap")
    assert len(used) >= 20
    assert done.stdout.count("\n") == 1 and "hacker" not in done.stdout
    assert results[GOOD]["auto_awarded"] == 40.0
    failures = {name: _verdict(attack, results[name]) for name, attack in used.items()}
    assert {k: v for k, v in failures.items() if v} == {}
    assert leaks == []


def test_without_the_sandbox_prints_what_process_limits_still_stop(tmp_path, capsys):
    used, results, leaks, _ = run_corpus(tmp_path, "none")
    assert results[GOOD]["auto_awarded"] == 40.0  # the batch completes and the good student keeps 40/40
    rows = []
    for attack in ATTACKS:
        name = _slug(attack.name)
        if name not in used:
            rows.append((attack.name, "not run: no process limit for root without the sandbox"))
            continue
        problems = _verdict(attack, results[name])
        problems += [leak for leak in leaks if leak.startswith(attack.leaks)] if attack.leaks else []
        rows.append((attack.name, "stopped" if not problems else "NOT stopped: " + "; ".join(problems)[:90]))
    with capsys.disabled():
        print("\nRed team with the sandbox off (process limits only):")
        for name, verdict in rows:
            print(f"  {name:<46} {verdict}")
        print(f"  side effects that got out: {leaks or 'none'}")
    assert sum(1 for _, verdict in rows if verdict == "stopped") >= 12
