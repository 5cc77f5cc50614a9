"""The student bundle (``grade.py release``) and the self-check's data, computed from the reference.

``public_data()`` runs the reference on the self-check's public inputs and returns numbers
only: the inputs, the expected values and gradients, the pinned samplers' standard deviation,
the precomputed sample the loss items' stand-in looks up, the values of the grader's known
mistakes with its messages, the item registry's marks and the training budget. The bundle
ships those numbers (``selfcheck/data``), never code that computes a student function:
``write_bundle`` copies an explicit list of files, none from ``graders/`` or the reference.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_SEED = 20240615            # the self-check's own inputs (not the grader's)
ITEM_SECONDS, TRAIN_SECONDS, STATEMENT_SECONDS = 20.0, 60.0, 5.0
TRAIN_ROWS = 1000
# What the bundle holds besides the notebook, the data and the texts: (source in the project, path in the bundle).
SHIPPED = [("reference/__init__.py", "reference/__init__.py"), ("reference/scaffold.py", "reference/scaffold.py"),
           ("worker/__init__.py", "worker/__init__.py"), ("worker/loader.py", "worker/loader.py"),
           ("worker/protocol.py", "worker/protocol.py"), ("worker/magics.py", "worker/magics.py"),
           ("worker/standins.py", "worker/standins.py"),
           ("graders/judge/stats.py", "selfcheck/_stats.py"),
           ("reference/bundle/grade.py", "grade.py"), ("reference/bundle/requirements.txt", "requirements.txt")]
SELFCHECK_MODULES = ("__init__", "__main__", "cli", "deps", "notebook", "child", "probes", "results", "evidence", "verdicts",
                     "sampling", "training", "report")


def _registry() -> list[dict]:
    from graders.items import AUTO_ITEMS
    return [{"id": i.id, "function": i.function, "kind": i.kind, "conditional": i.conditional, "args": list(i.args),
             "marks": i.marks, "checks": [list(c) for c in i.checks],
             "time_limit": TRAIN_SECONDS if i.trains else ITEM_SECONDS} for i in AUTO_ITEMS]


def _known_values(expected: float, rows: int, columns: int, what: str,
                  mistakes: Iterable[tuple[str, Callable[..., torch.Tensor], str]] = (),
                  args: Sequence[torch.Tensor] = ()) -> list:
    """``[[value, message]]``: the grader's diagnoses of wrong values (multiples, catalogued mistakes) on
    these inputs, worded by the grader (``graders.judge``); empty where the judge offers none."""
    from graders.judge import scalar as judge_scalar
    known = []
    factors = {rows, 1 / columns, rows * columns, 1 / rows, columns, 2.0, 0.5}
    for factor in sorted(factors):
        message = judge_scalar.scale_hint(torch.tensor(expected * factor, dtype=torch.float64),
                                          torch.tensor(expected, dtype=torch.float64), rows, columns, what)
        if message:
            known.append([expected * factor, message])
    for name, make, hint in mistakes:
        known.append([float(torch.as_tensor(make(*args, torch.tensor(expected, dtype=torch.float64)))),
                      f"your value {name}: {hint}"])
    return known


def _scalar_data(tensors: dict, expected: dict) -> None:
    from graders.judge import scalar as judge_scalar
    from reference import selfcheck, vae
    mu, logvar, x_hat, x = selfcheck._self_check_inputs()
    for item_id, names, values, reference, mistakes, what in (
            ("q4.kl_divergence", ("mu", "logvar"), (mu, logvar), vae.kl_divergence, "KL_MISTAKES", "latent dimensions"),
            ("q4.binary_cross_entropy", ("x_hat", "x"), (x_hat, x), vae.binary_cross_entropy, "LOGLIK_MISTAKES",
             "pixels")):
        leaves = [v.clone().requires_grad_(True) for v in values]
        value = reference(*leaves)
        for name, leaf, grad in zip(names, values, torch.autograd.grad(value, leaves)):
            tensors[f"{item_id}:{name}"] = leaf
            tensors[f"{item_id}:expected_grad_{name}"] = grad
        doubles = [v.double() for v in values]
        expected[item_id] = {"value": value.item(), "shape": list(values[0].shape),
                             "known": _known_values(value.item(), len(values[0]), values[0].shape[1], what,
                                                    getattr(judge_scalar, mistakes), doubles)}


def _sampler_inputs(tensors: dict, generator: torch.Generator) -> None:
    from graders.grading import cases
    for item_id, condition in (("q4.reconstruct", 0), ("q5.reconstruct", 10)):
        inputs = cases._pinned(generator, cases.SAMPLER_ROWS, condition)
        inputs["G"] = torch.randn(cases.SAMPLER_ROWS, cases.LATENT, generator=generator)
        inputs["std"] = torch.exp(0.5 * inputs["logvar"].double())
        tensors.update({f"{item_id}:{k}": v for k, v in inputs.items()})


def _loss_data(tensors: dict, expected: dict, generator: torch.Generator) -> None:
    """The loss items' inputs, the stand-in's precomputed sample ``z`` and the values of the forms the grader
    accepts at that sample (stand-ins, the reference's terms, and the two mixed)."""
    from graders.grading import cases
    from reference import vae
    for item_id, condition in (("q4.elbo", 0), ("q5.celbo", 10)):
        inputs = cases.loss_inputs(generator, condition)
        eps = inputs.pop("eps")
        mu, logvar, x, y = (inputs[k].double() for k in ("mu", "logvar", "x", "y"))
        inputs["std"] = torch.exp(0.5 * logvar)
        z = mu + inputs["std"] * eps.double()
        inputs["z"] = z.float()
        dec_in = torch.cat([z, torch.nn.functional.one_hot(inputs["y"], 10).double()], 1) if condition else z
        x_hat = torch.sigmoid(dec_in @ inputs["dec_w"].double().T + inputs["dec_b"].double())
        kl = ((mu * inputs["A"].double()).sum() + (logvar * inputs["C"].double()).sum()) / len(mu)
        loglik = (x_hat * inputs["E"].double() * (1 + x)).sum() / len(x)
        ref_kl, ref_loglik = vae.kl_divergence(mu, logvar).double(), vae.binary_cross_entropy(x_hat, x).double()
        lookup = [float(kl - loglik), float(ref_kl - ref_loglik), float(ref_kl - loglik), float(kl - ref_loglik)]
        known = [k for c in lookup for k in _known_values(c, len(mu), 784, "pixels")]
        expected[item_id] = {"lookup": lookup, "reference_kl": float(ref_kl), "known": known}
        tensors.update({f"{item_id}:{k}": v for k, v in inputs.items()})


def _training_data() -> dict:
    from graders.judge import baselines as training
    from reference.scaffold import MNISTArgs
    return {"rows": TRAIN_ROWS, "budget": dict(training.PUBLIC_BUDGET),
            "steps": sorted(training.expected_steps(TRAIN_ROWS, training.PUBLIC_BUDGET)),
            "lr": MNISTArgs().lr,
            "shapes": {"vae": training.expected_shapes(False), "cvae": training.expected_shapes(True)},
            "structure": dict(training.TABLE_STRUCTURE)}


def public_data() -> tuple[dict, dict]:
    """``(tensors, expected)``: the self-check's public inputs and every expected number (see the module)."""
    generator = torch.Generator().manual_seed(PUBLIC_SEED)
    tensors: dict = {}
    scalar: dict = {}
    loss: dict = {}
    _scalar_data(tensors, scalar)
    _sampler_inputs(tensors, generator)
    _loss_data(tensors, loss, generator)
    expected = {"version": 1, "seed": 1, "statement_seconds": STATEMENT_SECONDS, "items": _registry(),
                "scalar": scalar, "loss": loss, "train": _training_data()}
    return tensors, expected


def write_public_data(folder: Path) -> Path:
    """``folder/public.safetensors`` and ``folder/expected.json``; returns ``folder``."""
    from safetensors.torch import save_file
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors, expected = public_data()
    save_file({k: v.contiguous().clone() for k, v in tensors.items()}, str(folder / "public.safetensors"))
    (folder / "expected.json").write_text(json.dumps(expected, indent=1))
    return folder


def _homework_text() -> Path:
    for candidate in (ROOT.parent / "shared" / "assignment" / "HW4.md", ROOT / "reference" / "HW4.md",
                      Path("/work/shared/assignment/HW4.md")):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("HW4.md: not found beside the project (../shared/assignment/HW4.md)")


def write_bundle(out_dir: Path) -> list[Path]:
    """The student bundle in ``out_dir``: ``A4.ipynb``, ``HW4.md``, ``README.md``, ``requirements.txt``,
    ``grade.py`` (``check`` only), ``selfcheck/`` with its data, the loading rule (``worker/loader.py``,
    ``worker/protocol.py``) and the public scaffold. Returns the files written."""
    import nbformat
    from reference.notebook import template_notebook
    out_dir = Path(out_dir)
    for stale in ("selfcheck", "worker", "reference", "graders"):
        shutil.rmtree(out_dir / stale, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(template_notebook(), out_dir / "A4.ipynb")
    copies = SHIPPED + [(f"selfcheck/{m}.py", f"selfcheck/{m}.py") for m in SELFCHECK_MODULES]
    copies += [(str(_homework_text()), "HW4.md"), ("reference/bundle/README.md", "README.md")]
    for source, target in copies:
        (out_dir / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / source, out_dir / target)
    write_public_data(out_dir / "selfcheck" / "data")
    return sorted(p for p in out_dir.rglob("*") if p.is_file())
