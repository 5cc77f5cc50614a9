#!/usr/bin/env python3
"""The figures behind ``graders.judge.suspicious``'s thresholds, measured here (a few minutes on one core).

Prints, for each trained model, its held-out loss, its loss on the training images the sandbox saw,
the excess gap (``Evidence.excess_gap``) and how far below the reference it lands, beside the rules'
thresholds:

- honest learners: the reference loop with every activation the table's places accept instead of
  Tanh (the fastest honest learners), and, with ``--graded OUT``, every model of an earlier
  ``grade.py grade tests/real_code --out OUT`` run (the ports of public code);
- models trained at home on clean, plain MNIST (``--epochs``): on the held-out images, on all public
  images, on the training split only; mapped into the grader's pixel order, as a student who knew
  the shuffle would.

  python bench/calibrate_suspicious.py [--graded OUT] [--epochs 60]
"""
import argparse
import json
import sys
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from graders.grading import pipeline  # noqa: E402
from graders.judge import suspicious  # noqa: E402
from graders.judge import baselines as training  # noqa: E402
from graders.items import AUTO_ITEMS  # noqa: E402
from reference import scaffold, vae  # noqa: E402
from worker import channel  # noqa: E402

ITEMS = {item.conditional: item for item in AUTO_ITEMS if item.trains}


def _row(label, evidence):
    flags = "FLAGGED" if evidence.flags() else "-"
    print(f"{label:44s} held-out {evidence.held_out:6.1f}  training {evidence.training:6.1f}  "
          f"excess gap {evidence.excess_gap:6.2f}  below reference {evidence.below_reference:6.1f}  {flags}",
          flush=True)


def _train(conditional, data, epochs, activation=nn.Tanh):
    build = vae._mlp_vae

    def with_activation(model_class, args, condition_dim):
        model = build(model_class, args, condition_dim)
        model.encoder.features[1], model.decoder[1] = activation(), activation()
        return model
    torch.manual_seed(5)
    with mock.patch.object(vae, "get_mnist_data", lambda split="train": (data[0].clone(), data[1].clone())), \
            mock.patch.object(vae, "_mlp_vae", with_activation):
        return (vae.train_mnist_cvae if conditional else vae.train_mnist_vae)(epochs=epochs, batch_size=100)


def graded(run, out):
    for line in (Path(out) / "results.jsonl").read_text().splitlines():
        data = json.loads(line)
        result = data["result"]
        for conditional, item in ITEMS.items():
            path = Path(out) / "models" / f"{data['fingerprint']}-{item.id}.safetensors"
            if path.exists():
                structure = result["items"][item.id]["details"].get("structure")
                shown = structure if structure and training.structure_problems(structure) else None
                found = suspicious.evidence(run, item, channel.load_inputs(path), shown)
                if found:
                    _row(f"real code {result['id'][:28]} {item.id}", found)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graded", metavar="OUT", help="an output folder of grade.py grade tests/real_code")
    parser.add_argument("--epochs", type=int, default=60, help="epochs of the home training")
    args = parser.parse_args()
    torch.set_num_threads(1)
    run = pipeline.Run.prepare(pipeline.Settings())
    try:
        for conditional in ITEMS:                    # trained before anything else draws random numbers
            run.context.baselines.get(conditional)
        print(f"thresholds: excess gap > {suspicious.GAP_MARGIN:g}, below reference > {suspicious.FAR_MARGIN:g}")
        if args.graded:
            graded(run, args.graded)
        seen = (run.inputs["q4.train:X"], run.inputs["q4.train:Y"])
        for name in ("ReLU", "ELU", "GELU", "SiLU", "LeakyReLU", "Softplus"):
            for conditional, item in ITEMS.items():
                model = _train(conditional, seen, training.BUDGET["epochs"], getattr(nn, name))
                state = run.permutation.to_plain(model.state_dict(), conditional)
                structure = {"features": ["Linear", name], "decoder": ["Linear", name, "Linear", "Sigmoid"]}
                _row(f"honest, {name} {item.id}", suspicious.evidence(run, item, state, structure))
        (tx, ty), (hx, hy) = scaffold.get_mnist_data("train"), scaffold.get_mnist_data("test")
        everything = (torch.cat([tx, hx]), torch.cat([ty, hy]))
        for name, data in (("held-out images", (hx, hy)), ("all public images", everything), ("training split", (tx, ty))):
            for conditional, item in ITEMS.items():
                model = _train(conditional, data, args.epochs)
                _row(f"home, {name}, {args.epochs} ep {item.id}", suspicious.evidence(run, item, model.state_dict()))
    finally:
        run.close()


if __name__ == "__main__":
    main()
