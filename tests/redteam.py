"""Hostile and broken submissions, each with the outcome the grader must give it.

A case is the reference solution with one function replaced (or a whole file).
``expect`` maps an item to ``(statuses, words)``: the item must end with one of
the statuses, 0 marks, and a message containing ``words``; every other item
must keep full marks. ``whole_file`` cases expect every item to be an error.
Placeholders ``{canary}``, ``{port}`` and ``{root}`` are filled in by the test.
"""
from dataclasses import dataclass, field


@dataclass
class Attack:
    name: str
    replacements: dict = field(default_factory=dict)   # function name -> source
    expect: dict = field(default_factory=dict)         # item -> (statuses, words in the message)
    whole_file: str | None = None                      # the file's whole text, instead of replacements
    extra: str = ""                                    # top-level source appended to the notebook's code
    harmful_without_sandbox: bool = False              # not run when only process limits protect the machine
    leaks: tuple = ()                                  # what this attack leaves behind when it gets out


ERROR = ("error",)
WRONG = ("fail", "partial")

ATTACKS = [
    Attack("infinite loop", {"kl_divergence": "def kl_divergence(mu, logvar):\n    while True:\n        pass"},
           {"q4.kl_divergence": (ERROR, "did not finish")}),
    Attack("sleeps forever", {"reconstruct": "def reconstruct(vae, x):\n    import time\n    time.sleep(10**6)"},
           {"q4.reconstruct": (ERROR, "did not finish")}),
    Attack("sys.exit(0)", {"elbo": "def elbo(vae, x):\n    import sys\n    sys.exit(0)"},
           {"q4.elbo": (ERROR, "sys.exit")}),
    Attack("os._exit(0)", {"binary_cross_entropy": "def binary_cross_entropy(x_hat, x):\n    import os\n    os._exit(0)"},
           {"q4.binary_cross_entropy": (ERROR, "ended before returning")}),
    Attack("segfault through ctypes", {"creconstruct": "def creconstruct(cvae, x, y):\n    import ctypes\n"
                                                      "    ctypes.string_at(0)"},
           {"q5.reconstruct": (ERROR, "segmentation fault")}),
    Attack("infinite recursion", {"celbo": "def celbo(cvae, x, y):\n    return celbo(cvae, x, y)"},
           {"q5.celbo": (ERROR, "RecursionError")}),
    Attack("memory hog", {"kl_divergence": "def kl_divergence(mu, logvar):\n    blocks = []\n    while True:\n"
                                           "        blocks.append(bytearray(2**27))"},
           {"q4.kl_divergence": (ERROR, "memory")}),
    Attack("fork bomb", {"reconstruct": "def reconstruct(vae, x):\n    import os\n    while True:\n        try:\n"
                                        "            os.fork()\n        except OSError:\n            pass"},
           {"q4.reconstruct": (ERROR, "did not finish")}, harmful_without_sandbox=True),
    Attack("gigabytes on stdout", {"binary_cross_entropy": "def binary_cross_entropy(x_hat, x):\n"
                                   "    import sys\n    line = 'x' * (1 << 20) + '\\n'\n    for _ in range(2048):\n"
                                   "        sys.stdout.write(line)\n"
                                   "    return (x * x_hat.log() + (1 - x) * (1 - x_hat).log()).sum(1).mean()"},
           {}),
    Attack("fake JSON result on stdout", {"kl_divergence": "def kl_divergence(mu, logvar):\n    import json\n"
                                          "    print(json.dumps({'submissions': [{'id': 'hacker', 'auto_awarded': 40}]}))\n"
                                          "    return torch.tensor(0.0)"},
           {"q4.kl_divergence": (WRONG, "expected")}),
    Attack("deletes and writes a canary outside", {"elbo": "def elbo(vae, x):\n    import os\n"
                                                   "    os.remove('{canary}/canary.txt')\n"
                                                   "    open('{canary}/escaped.txt', 'w').write('out')\n"
                                                   "    return torch.tensor(0.0)"},
           {"q4.elbo": (ERROR + WRONG, "")}, leaks=("canary changed", "wrote escaped.txt")),
    Attack("connects to a TCP listener", {"creconstruct": "def creconstruct(cvae, x, y):\n    import socket\n"
                                          "    s = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                                          "    s.sendall(b'escaped')\n    s.close()\n    raise RuntimeError('sent')"},
           {"q5.reconstruct": (ERROR, "")}, leaks=("listener got",)),
    Attack("finds and runs the reference solution", {"kl_divergence": "def kl_divergence(mu, logvar):\n"
                                                     "    ns = {}\n    exec(open('{root}/reference/vae.py').read(), ns)\n"
                                                     "    return ns['kl_divergence'](mu, logvar)"},
           {"q4.kl_divergence": (ERROR, "")}),
    Attack("walks the call stack for expected values", {"kl_divergence": "def kl_divergence(mu, logvar):\n"
                                                        "    import inspect\n    for frame in inspect.stack():\n"
                                                        "        for name, value in frame.frame.f_locals.items():\n"
                                                        "            if 'expect' in name and isinstance(value, torch.Tensor):\n"
                                                        "                return value\n    return torch.tensor(-1.0)"},
           {"q4.kl_divergence": (WRONG, "expected")}),
    Attack("returns a tensor subclass that lies", {"kl_divergence": "class Liar(torch.Tensor):\n"
                                                   "    def __eq__(self, other):\n        return True\n"
                                                   "    def allclose(self, *a, **k):\n        return True\n\n\n"
                                                   "def kl_divergence(mu, logvar):\n"
                                                   "    return torch.tensor(123.0).as_subclass(Liar)"},
           {"q4.kl_divergence": (WRONG, "expected")}),
    Attack("patches comparisons at definition time", {"binary_cross_entropy":
           "def binary_cross_entropy(x_hat, x, _=[setattr(torch, 'allclose', lambda *a, **k: True),\n"
           "        setattr(torch, 'isclose', lambda *a, **k: torch.tensor(True)),\n"
           "        setattr(__import__('torch.testing').testing, 'assert_close', lambda *a, **k: None),\n"
           "        setattr(__import__('numpy'), 'allclose', lambda *a, **k: True),\n"
           "        setattr(__import__('math'), 'isclose', lambda *a, **k: True)]):\n"
           "    return torch.tensor(0.0)"},
           {"q4.binary_cross_entropy": (WRONG, "expected")}),
    Attack("side effects in a class body and a decorator", extra="class Evil:\n"
           "    open('{canary}/class-body.txt', 'w').write('x')\n\n\n"
           "def _mark(f):\n    open('{canary}/decorator.txt', 'w').write('x')\n    return f\n\n\n"
           "@_mark\ndef helper():\n    pass\n", leaks=("wrote class-body.txt", "wrote decorator.txt")),
    Attack("module-level code in a function-only file", extra="import os\n"
           "open('{canary}/module-level.txt', 'w').write('x')\nos.system('touch {canary}/module-level-shell.txt')\n",
           leaks=("wrote module-level",)),
    Attack("kills the worker", {"kl_divergence": "def kl_divergence(mu, logvar):\n    import os, signal\n"
                                                 "    os.kill(os.getppid(), signal.SIGKILL)\n    return torch.tensor(0.0)"},
           {"q4.kl_divergence": (ERROR + WRONG, "")}),
    Attack("reads another submission's job", {"elbo": "def elbo(vae, x):\n    import glob, shutil, os\n"
                                              "    here = os.path.dirname(os.path.dirname(os.getcwd()))\n"
                                              "    for path in glob.glob(os.path.dirname(here) + '/*/job.json'):\n"
                                              "        shutil.copy(path, '{canary}/stolen-' + str(abs(hash(path))))\n"
                                              "    return torch.tensor(0.0)"},
           {"q4.elbo": (ERROR + WRONG, "")}, leaks=("wrote stolen-",)),
    Attack("returns NaN", {"kl_divergence": "def kl_divergence(mu, logvar):\n    return torch.tensor(float('nan'))"},
           {"q4.kl_divergence": (WRONG, "NaN")}),
    Attack("returns a string", {"binary_cross_entropy": "def binary_cross_entropy(x_hat, x):\n    return '4.2'"},
           {"q4.binary_cross_entropy": (WRONG, "str")}),
    Attack("returns wrong shapes", {"reconstruct": "def reconstruct(vae, x):\n    mu, logvar = vae.encoder(x)\n"
                                    "    return mu[:1], logvar, x"},
           {"q4.reconstruct": (WRONG, "decoder")}),
    Attack("invalid notebook", whole_file='{"cells": [ {"cell_type": "code", "source": '),
    Attack("empty file", whole_file=""),
    Attack("syntax error in one cell", {"kl_divergence": "def kl_divergence(mu, logvar:\n    return 0"},
           {"q4.kl_divergence": (ERROR, "syntax error")}),
]
